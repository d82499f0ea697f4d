package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"virtchain/libvirtx"
	"virtchain/model"
)

type checkOptions struct {
	Env     *Env
	Domains []string
}

// NewCmdCheck builds `virtchain check [DOMAIN]...`.
func NewCmdCheck(env *Env) *cobra.Command {
	opts := &checkOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "check [DOMAIN]...",
		Short: "check the health of every layer, snapshot and managed-save image (exit 1 when anything is wrong)",
		Long: "For every layer of every disk: the qcow2 header (dirty and corrupt bits, unknown\n" +
			"features, the backing format, relative backing names), qemu-img check on images\n" +
			"no running QEMU writes (with -U beside a QEMU that reads them), missing,\n" +
			"unreadable or special files, loops, chains over 1000 layers, and folders QEMU's\n" +
			"user cannot enter. Then snapshot metadata that is stale or names files that are\n" +
			"gone, and a managed-save image whose definition changed since. Each finding names\n" +
			"its fix. Without DOMAIN every domain is checked, on every host named.",
		JSON:     true,
		Complete: []completer{completeDomain},
	}, nil, func(args []string) error {
		opts.Domains = args
		return runCheck(opts)
	})
}

// checkJSON is the contract of `virtchain check --json` with one host.
type checkJSON struct {
	URI     string               `json:"uri"`
	Healthy bool                 `json:"healthy"`
	Domains []model.DomainHealth `json:"domains"`
}

// checkHostsJSON is the contract with several hosts.
type checkHostsJSON struct {
	Healthy bool            `json:"healthy"`
	Hosts   []checkHostJSON `json:"hosts"`
}

type checkHostJSON struct {
	Name    string               `json:"name"`
	URI     string               `json:"uri"`
	Error   string               `json:"error"`
	Domains []model.DomainHealth `json:"domains"`
}

func runCheck(opts *checkOptions) error {
	env := opts.Env
	env.readOnce()
	if len(env.multi) > 1 {
		return runCheckHosts(opts)
	}
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	hs, err := conn.Check(env.Ctx, opts.Domains)
	if err != nil {
		return err
	}
	out := checkJSON{URI: conn.URI(), Healthy: true, Domains: hs}
	for _, h := range hs {
		out.Healthy = out.Healthy && !h.Verdict.Wrong()
	}
	if err := env.Emit(out, func(w io.Writer) error { return writeCheck(w, hs) }); err != nil {
		return err
	}
	return unhealthy(hs)
}

// runCheckHosts checks every host at once. A bare DOMAIN is checked on
// each host that has it, HOST:DOMAIN on that host; a name no host has is
// an error.
func runCheckHosts(opts *checkOptions) error {
	env := opts.Env
	perHost, err := hostsAsked(env.multi, opts.Domains)
	if err != nil {
		return err
	}
	names := map[string][]string{}
	for i, s := range env.multi {
		names[s.URI] = perHost[i]
	}
	type found struct {
		hs      []model.DomainHealth
		missing []string
	}
	res, err := eachHost(env, env.multi, env.ReadOnly, func(c *libvirtx.Conn) (found, error) {
		asked := names[c.URI()]
		if len(opts.Domains) > 0 && len(asked) == 0 {
			return found{}, nil
		}
		hs, missing, err := c.CheckSome(env.Ctx, asked)
		return found{hs, missing}, err
	})
	if err != nil {
		return err
	}
	out := checkHostsJSON{Healthy: true, Hosts: make([]checkHostJSON, len(env.multi))}
	missingOn := map[string]int{}
	var failed []string
	for i, s := range env.multi {
		h := checkHostJSON{Name: s.Name, URI: s.URI, Domains: []model.DomainHealth{}}
		if err := res[i].err; err != nil {
			h.Error = model.OneLine(err.Error())
			failed = append(failed, s.Name)
			out.Healthy = false
		} else {
			h.Domains = append(h.Domains, res[i].val.hs...)
			for _, m := range res[i].val.missing {
				missingOn[m]++
			}
		}
		for _, d := range h.Domains {
			out.Healthy = out.Healthy && !d.Verdict.Wrong()
		}
		out.Hosts[i] = h
	}
	for name, n := range missingOn {
		if n == countAsked(perHost, name) && len(failed) == 0 {
			return fmt.Errorf("no domain %s on hosts %s; list them with 'virtchain list'", model.Escape(name), specNames(env.multi))
		}
	}
	if err := env.Emit(out, func(w io.Writer) error { return writeCheckHosts(w, out) }); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d hosts could not be checked: %s", len(failed), len(out.Hosts), strings.Join(failed, ", "))
	}
	var all []model.DomainHealth
	for _, h := range out.Hosts {
		all = append(all, h.Domains...)
	}
	return unhealthy(all)
}

// hostsAsked is the names to check on each host: HOST:DOMAIN on that
// host, a bare DOMAIN on every host.
func hostsAsked(specs []hostSpec, domains []string) ([][]string, error) {
	perHost := make([][]string, len(specs))
	for _, a := range domains {
		host, name, ok := strings.Cut(a, ":")
		if i := hostIndex(specs, host); ok && i >= 0 {
			if name == "" {
				return nil, Usagef("%q names host %s but no domain; write %s:DOMAIN", a, host, host)
			}
			perHost[i] = append(perHost[i], name)
			continue
		}
		for i := range perHost {
			perHost[i] = append(perHost[i], a)
		}
	}
	return perHost, nil
}

// hostIndex is the position of the host named name, or -1.
func hostIndex(specs []hostSpec, name string) int {
	for i, s := range specs {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// countAsked is how many hosts were asked for name.
func countAsked(perHost [][]string, name string) int {
	n := 0
	for _, names := range perHost {
		if slices.Contains(names, name) {
			n++
		}
	}
	return n
}

// unhealthy is the error that makes the exit status 1 when any domain has
// a finding: one line naming them.
func unhealthy(hs []model.DomainHealth) error {
	var bad []string
	n := 0
	for _, h := range hs {
		if h.Verdict.Wrong() {
			bad = append(bad, h.Domain)
			n += len(h.All())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d findings on %d of %d domains: %s", n, len(bad), len(hs), strings.Join(bad, ", "))
}

func writeCheckHosts(w io.Writer, out checkHostsJSON) error {
	for i, h := range out.Hosts {
		if i > 0 {
			printf(w, "\n")
		}
		if h.Error != "" {
			printf(w, "%s  %s: %s\n", h.Name, h.URI, h.Error)
			continue
		}
		printf(w, "%s  %s\n", h.Name, h.URI)
		if err := writeCheck(w, h.Domains); err != nil {
			return err
		}
	}
	return nil
}

// writeCheck prints each domain: its verdict, each disk's layers with
// theirs, every finding with its fix, and what was not checked.
func writeCheck(w io.Writer, hs []model.DomainHealth) error {
	var b strings.Builder
	if len(hs) == 0 {
		b.WriteString("No domains.\n")
	}
	for i, h := range hs {
		if i > 0 {
			b.WriteString("\n")
		}
		printf(&b, "%s (%s): %s\n", h.Domain, string(h.State), string(h.Verdict))
		for _, d := range h.Disks {
			printf(&b, "  %s\n", d.Target)
			for _, l := range d.Layers {
				checked := ""
				if len(l.Checked) > 0 {
					checked = "  (" + strings.Join(l.Checked, ", ") + ")"
				}
				printf(&b, "    %-7s %s%s\n", string(l.Verdict), l.Path, checked)
				writeFindings(&b, "            ", l.Findings)
				for _, n := range l.Notes {
					printf(&b, "            note: %s\n", n)
				}
			}
		}
		writeFindings(&b, "  ", h.Findings)
		for _, n := range h.Notes {
			printf(&b, "  note: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindings(b *strings.Builder, indent string, fs []model.Finding) {
	for _, f := range fs {
		printf(b, "%s! %s: %s\n", indent, string(f.Verdict), f.Text)
		if !f.Fix.Empty() {
			printf(b, "%s  fix: %s\n", indent, f.Fix.String())
		}
	}
}
