package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"virtchain/libvirtx"
	"virtchain/model"
)

// pickHosts runs before every command's run function: it resolves the
// hosts, and with one host makes it the connection (Env.URI), as it has
// always been. With several it keeps them for list, and for a command
// whose first argument is a domain finds that domain's host (HOST:DOMAIN,
// or the one host that has DOMAIN) and rewrites pos[0] to the bare name,
// so the command runs on that one host exactly as with -c.
func (e *Env) pickHosts(s cmdSpec, pos []string) error {
	specs, err := e.hostSpecs()
	if err != nil {
		return err
	}
	e.fleet = specs
	if len(specs) == 1 {
		e.URI = specs[0].URI
		return nil
	}
	e.multi = specs
	if !s.OnDomain || len(pos) == 0 {
		return nil
	}
	h, name, err := e.resolveDomain(pos[0], e.ReadOnly)
	if err != nil {
		return err
	}
	e.multi = nil
	e.URI = h.URI
	pos[0] = name
	return nil
}

// severalHosts is the refusal for a command that works on one host when
// several are named and it has no domain to pick one with.
func (e *Env) severalHosts() error {
	return Usagef("this command works on one host, and %d are named (%s); pick one with -c URI or --host NAME",
		len(e.multi), specNames(e.multi))
}

func specNames(specs []hostSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// hostResult is one host's answer in a parallel call.
type hostResult[T any] struct {
	val T
	err error
}

// eachHost runs fn on every host at once, each on its own connection
// (opened here, read-only if asked, closed when fn returns), and returns the results in the
// hosts' order: the slowest host alone sets the time it takes. When Env.Ctx
// ends first (Ctrl-C) it returns that error, without waiting for a libvirt
// call that cannot be cancelled.
func eachHost[T any](e *Env, specs []hostSpec, readonly bool, fn func(*libvirtx.Conn) (T, error)) ([]hostResult[T], error) {
	out := make([]hostResult[T], len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := e.open(s.URI, readonly)
			if err != nil {
				out[i].err = err
				return
			}
			defer func() { _ = conn.Close() }()
			out[i].val, out[i].err = fn(conn)
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	ctx := e.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-all:
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// resolveDomain finds the host of arg among e.multi: "HOST:DOMAIN" where
// HOST is one of them, else the one host that has a domain of that name
// (asking them all at once, over read-only connections if asked).
func (e *Env) resolveDomain(arg string, readonly bool) (hostSpec, string, error) {
	if host, name, ok := strings.Cut(arg, ":"); ok {
		for _, s := range e.multi {
			if s.Name == host {
				if name == "" {
					return hostSpec{}, "", Usagef("%q names host %s but no domain; write %s:DOMAIN", arg, host, host)
				}
				return s, name, nil
			}
		}
	}
	found, err := eachHost(e, e.multi, readonly, func(c *libvirtx.Conn) (bool, error) { return c.HasDomain(arg) })
	if err != nil {
		return hostSpec{}, "", err
	}
	var on, failed []string
	var pick hostSpec
	for i, r := range found {
		switch {
		case r.err != nil:
			failed = append(failed, e.multi[i].Name+" ("+model.OneLine(r.err.Error())+")")
		case r.val:
			on = append(on, e.multi[i].Name)
			pick = e.multi[i]
		}
	}
	q := model.Escape(arg)
	switch {
	case len(on) > 1:
		return hostSpec{}, "", Usagef("domain %s is on hosts %s; name one as HOST:DOMAIN, such as %s:%s",
			q, strings.Join(on, ", "), on[0], q)
	case len(failed) > 0 && len(on) == 1:
		return hostSpec{}, "", fmt.Errorf("domain %s is on host %s, but %s could not be asked whether it has one too; name it as %s:%s to go ahead",
			q, on[0], strings.Join(failed, ", "), on[0], q)
	case len(failed) > 0:
		return hostSpec{}, "", fmt.Errorf("no domain %s on hosts %s, and %s could not be asked; name it as HOST:DOMAIN",
			q, specNames(e.multi), strings.Join(failed, ", "))
	case len(on) == 0:
		return hostSpec{}, "", fmt.Errorf("no domain %s on hosts %s; list them with 'virtchain list'", q, specNames(e.multi))
	}
	return pick, arg, nil
}
