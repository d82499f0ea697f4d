package cli

import (
	"errors"
	"os"

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

// runTUI opens the terminal UI on env's connection. The connection is
// opened before the screen is taken, so a failure is one plain line.
func runTUI(env *Env, t tuiFlags) error {
	if !isTerminal(env.Stdout) || !isTerminal(os.Stdin) {
		return errors.New("the terminal UI needs a terminal on stdin and stdout; for scripts use 'virtchain list --json'")
	}
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
	if env.signals != nil {
		// A signal that must end virtchain mid-call gives the terminal back.
		defer env.signals.holdTerminal(int(os.Stdin.Fd()))()
	}
	err = ui.Run(env.Ctx, []ui.Host{{URI: conn.URI(), Backend: tuiConn{conn}}}, ui.Options{
		Domain:      t.domain,
		NoColor:     t.noColor,
		NoAltScreen: t.noAltScreen,
		NoMouse:     t.noMouse,
	})
	if err == nil && env.Ctx.Err() != nil {
		return env.Ctx.Err() // SIGTERM or SIGINT ended it: say so
	}
	return err
}
