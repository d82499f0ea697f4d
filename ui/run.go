package ui

import (
	"virtchain/model"

	"context"
	"errors"
	"os"

	tea "charm.land/bubbletea/v2"
)

// Options tune the TUI. The zero value is the normal interactive program.
type Options struct {
	// Domain, when set, is selected and opened once discovery finishes.
	Domain string
	// NoColor drops every colour; the NO_COLOR environment variable (any
	// non-empty value, per no-color.org) does the same.
	NoColor bool
	// NoAltScreen draws inline instead of on the alternate screen.
	NoAltScreen bool
	// NoMouse leaves mouse reporting off, so the terminal's own selection
	// works (useful over some SSH clients and multiplexers).
	NoMouse bool
	// Peers are hosts not shown whose domains the guards of every shown
	// host consult too (a hosts file's other hosts), beside the other
	// shown hosts.
	Peers []model.Peer
}

func (o Options) noColor() bool {
	return o.NoColor || os.Getenv("NO_COLOR") != ""
}

// Run opens the TUI on hosts and returns when the user quits or ctx ends.
// The caller owns each Host's open Backend and closes it afterwards; what
// a Host's Dial returned, Run closes.
func Run(ctx context.Context, hosts []Host, opts Options) error {
	if len(hosts) == 0 {
		return errors.New("virtchain: no libvirt connection to show")
	}
	for _, h := range hosts {
		if h.Backend == nil && h.Dial == nil {
			return errors.New("virtchain: no libvirt connection to show")
		}
		if h.Backend != nil {
			// The UI started following block jobs; the jobs themselves go on.
			defer h.Backend.CloseBlockJobs()
		}
	}
	// Cmds still running at the end (a plan reading every host) see
	// their context end, so closing the connections waits for little.
	cmdCtx, cancel := context.WithCancel(ctx)
	m := NewHosts(cmdCtx, hosts, opts)
	p := tea.NewProgram(m, tea.WithContext(ctx))
	_, err := p.Run()
	cancel()
	m.closeOpened()
	if m.crashed != nil {
		return m.crashed
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		// Cancelled from outside (a signal in the caller): not a failure.
		return nil
	}
	return err
}
