package cli

import (
	"fmt"
	"io"
	"strings"

	"virtchain/libvirtx"
	"virtchain/model"
)

// hostsListJSON is the contract of `virtchain list --json` with several
// hosts. With one host list prints listJSON, as it always has.
type hostsListJSON struct {
	Hosts []hostListJSON `json:"hosts"`
}

// hostListJSON is one host of hostsListJSON. Error is "" when the host
// answered; otherwise one line, with LibvirtVersion "" and no domains.
type hostListJSON struct {
	Name           string         `json:"name"`
	URI            string         `json:"uri"`
	LibvirtVersion string         `json:"libvirt_version"`
	Error          string         `json:"error"`
	Domains        []model.Domain `json:"domains"`
}

// runListHosts lists every host at once, each on its own connection. A
// host that cannot be reached shows its error while the others are
// listed, and makes the exit status 1.
func runListHosts(env *Env) error {
	type found struct {
		version string
		doms    []model.Domain
	}
	res, err := eachHost(env, env.multi, env.ReadOnly, func(c *libvirtx.Conn) (found, error) {
		v, err := c.LibvirtVersion()
		if err != nil {
			return found{}, err
		}
		doms, err := c.Discover(env.Ctx)
		return found{v, doms}, err
	})
	if err != nil {
		return err
	}
	out := hostsListJSON{Hosts: make([]hostListJSON, len(env.multi))}
	var failed []string
	for i, s := range env.multi {
		h := hostListJSON{Name: s.Name, URI: s.URI, Domains: []model.Domain{}}
		if err := res[i].err; err != nil {
			h.Error = model.OneLine(err.Error())
			failed = append(failed, s.Name)
		} else {
			h.LibvirtVersion = res[i].val.version
			for _, d := range res[i].val.doms {
				h.Domains = append(h.Domains, normalizeDomain(d))
			}
		}
		out.Hosts[i] = h
	}
	if err := env.Emit(out, func(w io.Writer) error { return writeListHosts(w, out) }); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d hosts could not be listed: %s", len(failed), len(out.Hosts), strings.Join(failed, ", "))
	}
	return nil
}

// writeListHosts prints one block per host: a header line (name, URI,
// libvirt version, domain count, or the error) and its domains' table.
func writeListHosts(w io.Writer, l hostsListJSON) error {
	for i, h := range l.Hosts {
		if i > 0 {
			printf(w, "\n")
		}
		head := h.Name + "  " + model.Escape(h.URI)
		switch {
		case h.Error != "":
			printf(w, "%s  unreachable: %s\n", head, model.Escape(h.Error))
			continue
		case len(h.Domains) == 1:
			printf(w, "%s  libvirt %s  1 domain\n", head, h.LibvirtVersion)
		default:
			printf(w, "%s  libvirt %s  %d domains\n", head, h.LibvirtVersion, len(h.Domains))
		}
		if len(h.Domains) == 0 {
			continue
		}
		if err := writeList(w, listJSON{URI: h.URI, Domains: h.Domains}); err != nil {
			return err
		}
	}
	return nil
}
