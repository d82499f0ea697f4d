package cli

import (
	"context"
	"errors"
	"os"

	"virtchain/model"
	"virtchain/ui"
)

// tuiFlags are the flags of `virtchain` without a command. They are parsed
// before any command name, and refused together with one.
type tuiFlags struct {
	domain      string
	noColor     bool
	noAltScreen bool
	noMouse     bool
}

func (t *tuiFlags) define(f *FlagSet) {
	f.StringVar(&t.domain, "domain", "NAME", "terminal UI: open this domain first")
	f.BoolVar(&t.noColor, "no-color", "terminal UI: no colours (also when NO_COLOR is set)")
	f.BoolVar(&t.noAltScreen, "inline", "terminal UI: draw inline, not on the alternate screen")
	f.BoolVar(&t.noMouse, "no-mouse", "terminal UI: leave the mouse to the terminal")
}

func (t *tuiFlags) set() bool { return *t != tuiFlags{} }

// runTUI opens the terminal UI on env's hosts. With one host its
// connection is opened before the screen is taken, so a failure is one
// plain line; with several, each is opened in the UI, so one slow or
// unreachable host shows as such while the others work.
func runTUI(env *Env, t tuiFlags) error {
	if !isTerminal(env.Stdout) || !isTerminal(os.Stdin) {
		return errors.New("the terminal UI needs a terminal on stdin and stdout; for scripts use 'virtchain list --json'")
	}
	specs, err := env.hostSpecs()
	if err != nil {
		return err
	}
	var hosts []ui.Host
	var peers []model.Peer
	if len(specs) > 1 {
		hosts = dialHosts(specs, env.ReadOnly)
		peers = env.unshownPeers(specs)
	} else {
		conn, err := env.Conn()
		if err != nil {
			return err
		}
		if t.domain != "" {
			// Name a wrong domain now, in one line, rather than inside the UI.
			if _, err := discoverDomain(env, t.domain); err != nil {
				return err
			}
		}
		hosts = []ui.Host{{Name: specs[0].Name, URI: conn.URI(), Backend: tuiConn{conn}}}
	}
	if env.signals != nil {
		// A signal that must end virtchain mid-call gives the terminal back.
		defer env.signals.holdTerminal(int(os.Stdin.Fd()))()
	}
	err = ui.Run(env.Ctx, hosts, ui.Options{
		Domain:      t.domain,
		NoColor:     t.noColor,
		NoAltScreen: t.noAltScreen,
		NoMouse:     t.noMouse,
		Peers:       peers,
	})
	if err == nil && env.Ctx.Err() != nil {
		return env.Ctx.Err() // SIGTERM or SIGINT ended it: say so
	}
	return err
}

// dialHosts gives the UI one Host per spec, each opened in the UI with
// openConn and reconnecting by itself once lost (tuiConn); the UI closes
// them.
func dialHosts(specs []hostSpec, readonly bool) []ui.Host {
	hosts := make([]ui.Host, 0, len(specs))
	for _, s := range specs {
		uri := s.URI
		hosts = append(hosts, ui.Host{Name: s.Name, URI: uri, Dial: func(context.Context) (ui.Backend, error) {
			conn, err := openConn(uri, readonly)
			if err != nil {
				return nil, err
			}
			conn.Follow() // here, so that Update's Events() waits for nothing
			return tuiConn{conn}, nil
		}})
	}
	return hosts
}
