package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"virtchain/libvirtx"
	"virtchain/model"
)

// Shell completion is live: `virtchain completion bash|zsh|fish` prints a
// script that asks `virtchain __complete ...` for candidates, and those
// come from the connection (-c, or the default URI). It is always opened
// read-only, whatever the command line says, so completing can never
// change anything; when it cannot be opened there are simply no
// candidates.

// completer offers candidates for one argument. args are the positional
// arguments before it; toComplete is what has been typed of it.
type completer func(e *Env, args []string, toComplete string) []cobra.Completion

// completeArgs completes positional arguments with one completer each;
// the last one repeats for a variadic ARGS spec ("DOMAIN [FILE]...").
func (e *Env) completeArgs(s cmdSpec) cobra.CompletionFunc {
	list := s.Complete
	_, hi := argBounds(argSpec(s.Use))
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		i := len(args)
		if i >= len(list) {
			if hi >= 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			i = len(list) - 1
		}
		return e.completeWith(list[i])(c, args, toComplete)
	}
}

// completeWith turns a completer into cobra's form. A nil completer
// offers the shell's own file names.
func (e *Env) completeWith(f completer) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if f == nil {
			return nil, cobra.ShellCompDirectiveDefault
		}
		var out []cobra.Completion
		for _, c := range f(e, args, toComplete) {
			// A name a terminal would act on, or that breaks cobra's
			// one-candidate-a-line protocol, is not offered.
			name, _, _ := strings.Cut(c, "\t")
			if strings.HasPrefix(name, toComplete) && model.CheckInput("name", name) == nil {
				out = append(out, c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFile leaves FILE arguments to the shell.
var completeFile completer

// readOnly opens the completion's connection to the domain named domArg
// (HOST:DOMAIN, or a DOMAIN on one of several hosts: see resolveDomain;
// "" for the one host): read-only, always. It returns the bare name too.
func (e *Env) readOnly(domArg string) (*libvirtx.Conn, string) {
	specs, err := e.hostSpecs()
	if err != nil {
		cobra.CompDebugln("virtchain: "+model.OneLine(err.Error()), false)
		return nil, ""
	}
	uri, name := specs[0].URI, domArg
	if len(specs) > 1 {
		e.multi = specs
		h, n, err := e.resolveDomain(domArg, true)
		e.multi = nil
		if err != nil {
			cobra.CompDebugln("virtchain: "+model.OneLine(err.Error()), false)
			return nil, ""
		}
		uri, name = h.URI, n
	}
	conn, err := openConn(uri, true)
	if err != nil {
		cobra.CompDebugln("virtchain: "+model.OneLine(err.Error()), false)
		return nil, ""
	}
	return conn, name
}

// completeDomain offers every domain's name; with several hosts, every
// HOST:DOMAIN, and the plain name of a domain that only one host has.
func completeDomain(e *Env, _ []string, _ string) []cobra.Completion {
	if specs, err := e.hostSpecs(); err == nil && len(specs) > 1 {
		return completeHostDomains(e, specs)
	}
	conn, _ := e.readOnly("")
	if conn == nil {
		return nil
	}
	defer conn.Close()
	doms, err := conn.Discover(e.Ctx)
	if err != nil {
		return nil
	}
	out := make([]cobra.Completion, 0, len(doms))
	for _, d := range doms {
		out = append(out, cobra.CompletionWithDesc(d.Name, string(d.State)))
	}
	return out
}

// fromDomain is a completer of what f reads from the domain named by the
// first argument.
func fromDomain(f func(d model.Domain, args []string) []cobra.Completion) completer {
	return func(e *Env, args []string, _ string) []cobra.Completion {
		if len(args) == 0 {
			return nil
		}
		conn, name := e.readOnly(args[0])
		if conn == nil {
			return nil
		}
		defer conn.Close()
		d, err := conn.DiscoverDomain(e.Ctx, name)
		if err != nil {
			return nil
		}
		return f(d, args)
	}
}

// completeDisk offers the disk targets of the domain.
var completeDisk = fromDomain(func(d model.Domain, _ []string) []cobra.Completion {
	var out []cobra.Completion
	for _, disk := range d.Disks {
		out = append(out, cobra.CompletionWithDesc(disk.Target, orDash(disk.Source)))
	}
	return out
})

// completeSnapshot offers the snapshot names of the domain.
var completeSnapshot = fromDomain(func(d model.Domain, _ []string) []cobra.Completion {
	var out []cobra.Completion
	for _, s := range d.Snapshots {
		out = append(out, cobra.CompletionWithDesc(s.Name, string(s.Kind)))
	}
	return out
})

// completeLayer offers the ways to name a layer of the disk in the second
// argument (for --top and --base): its index (vda[3], running domains
// only), its path, and the name of the external snapshot that created it.
var completeLayer = fromDomain(func(d model.Domain, args []string) []cobra.Completion {
	if len(args) < 2 {
		return nil
	}
	disk := d.Disk(args[1])
	if disk == nil {
		return nil
	}
	var out []cobra.Completion
	for _, l := range disk.Layers {
		if idx := l.IndexString(disk.Target); idx != "" {
			out = append(out, cobra.CompletionWithDesc(idx, l.Path))
		}
		out = append(out, l.Path)
		if l.CreatedBySnapshot != "" {
			out = append(out, cobra.CompletionWithDesc(l.CreatedBySnapshot, "snapshot that created "+l.Path))
		}
	}
	return out
})

func completeHostDomains(e *Env, specs []hostSpec) []cobra.Completion {
	res, err := eachHost(e, specs, true, func(c *libvirtx.Conn) ([]model.Domain, error) { return c.Discover(e.Ctx) })
	if err != nil {
		return nil
	}
	count := map[string]int{}
	for _, r := range res {
		for _, d := range r.val {
			count[d.Name]++
		}
	}
	var out []cobra.Completion
	for i, r := range res {
		for _, d := range r.val {
			desc := string(d.State) + " on " + specs[i].Name
			out = append(out, cobra.CompletionWithDesc(specs[i].Name+":"+d.Name, desc))
			if count[d.Name] == 1 {
				out = append(out, cobra.CompletionWithDesc(d.Name, desc))
			}
		}
	}
	return out
}
