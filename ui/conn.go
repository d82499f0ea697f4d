package ui

import (
	"context"
	"errors"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
)

// connMsg marks the connection-state messages, routed with one case.
type connMsg interface{ isConnMsg() }

type (
	// connLostMsg says the connection of generation gen of host h was lost.
	connLostMsg struct{ h, gen int }
	// connTryMsg is one failed reconnect try; ch brings the next.
	connTryMsg struct {
		h       int
		gen     int
		attempt int
		wait    time.Duration
		err     string // why the try failed, one line
		ch      <-chan connTryMsg
	}
	// connBackMsg is the end of the reconnect: a new backend.
	connBackMsg struct {
		h   int
		gen int
		b   Backend
		err error
	}
)

func (connLostMsg) isConnMsg() {}
func (connTryMsg) isConnMsg()  {}
func (connBackMsg) isConnMsg() {}

// connState is the root's view of one host's connection.
type connState struct {
	// gen counts reconnects; messages of an older connection's streams
	// (events, jobs, loss) are dropped.
	gen  int
	lost bool
	// tryErr is why the last reconnect try failed, for the host's row.
	tryErr string
	// opened are the backends reconnects made; Run closes them.
	opened []Backend
}

// waitLost waits in a Cmd for host h's current connection to be lost.
func (m *Model) waitLost(h int) tea.Cmd {
	r, ok := m.hosts[h].b.(Reconnector)
	if !ok {
		return nil
	}
	gen, ctx, lost := m.hosts[h].conn.gen, m.common.Ctx, r.Lost()
	return func() tea.Msg {
		select {
		case <-lost:
			return connLostMsg{h: h, gen: gen}
		case <-ctx.Done():
			return nil
		}
	}
}

// reconnectCmd runs the reconnect; its failed tries arrive on ch.
func reconnectCmd(ctx context.Context, h, gen int, r Reconnector, ch chan connTryMsg) tea.Cmd {
	return func() tea.Msg {
		defer close(ch)
		b, err := r.Reconnect(ctx, func(n int, wait time.Duration, err error) {
			why := ""
			if err != nil {
				why = model.OneLine(err.Error())
			}
			select {
			case ch <- connTryMsg{h: h, gen: gen, attempt: n, wait: wait, err: why, ch: ch}:
			default: // the next try says the same
			}
		})
		return connBackMsg{h: h, gen: gen, b: b, err: err}
	}
}

func waitTryCmd(ch <-chan connTryMsg) tea.Cmd {
	return func() tea.Msg {
		if msg, ok := <-ch; ok {
			return msg
		}
		return nil
	}
}

func (m *Model) updateConn(msg connMsg) tea.Cmd {
	switch msg := msg.(type) {
	case connLostMsg:
		hs := m.hosts[msg.h]
		if msg.gen != hs.conn.gen || hs.conn.lost {
			return nil
		}
		r, ok := hs.b.(Reconnector)
		if !ok {
			return nil
		}
		hs.conn.lost = true
		// "lost" comes first: a long URI is cut at the screen's edge, and
		// the title bar names it already.
		m.status.SetConn("connection lost; reconnecting to " + hs.b.URI() + "…")
		hs.loading = false // a read in flight fails; the reconnect reads again
		m.syncLoading()
		m.hostsChanged()
		ch := make(chan connTryMsg, 1)
		return tea.Batch(reconnectCmd(m.common.Ctx, msg.h, hs.conn.gen, r, ch), waitTryCmd(ch))

	case connTryMsg:
		hs := m.hosts[msg.h]
		if msg.gen != hs.conn.gen || !hs.conn.lost {
			return nil
		}
		m.status.SetConn("connection lost; try " + strconv.Itoa(msg.attempt) + " failed, next in " +
			strconv.FormatFloat(msg.wait.Seconds(), 'g', 2, 64) + "s; reconnecting to " + hs.b.URI() + "…")
		if m.multi() {
			hs.conn.tryErr = msg.err
			m.hostsChanged()
		}
		return waitTryCmd(msg.ch)

	case connBackMsg:
		hs := m.hosts[msg.h]
		if msg.gen != hs.conn.gen || msg.err != nil || msg.b == nil {
			return nil // ctx ended: the program is quitting
		}
		old := hs.b
		uri := old.URI()
		hs.conn.gen++
		hs.conn.lost, hs.conn.tryErr = false, ""
		if !m.anyLost() {
			m.status.SetConn("")
		}
		hs.conn.opened = append(hs.conn.opened, msg.b)
		hs.b = msg.b
		if !m.multi() {
			m.common.Backend = msg.b
		}
		if m.status.Err() == common.NotConnectedText(uri) {
			m.status.SetErr("")
		}
		m.status.SetInfo("reconnected to " + uri)
		hs.loading = true
		m.syncLoading()
		m.hostsChanged()
		// Everything the old connection fed is read again from the new
		// one: domains, events, block jobs (re-attached with their intents).
		cmds := []tea.Cmd{m.discover(msg.h), m.spinner.Tick, m.waitEvent(msg.h), m.waitLost(msg.h)}
		if m.multi() {
			cmds = append(cmds, m.versions(msg.h), m.mux.add(hs.Name, hs.b))
		} else {
			cmds = append(cmds, m.jobs.Reattach())
		}
		return tea.Batch(append(cmds, closeJobsCmd(old))...)
	}
	return nil
}

// anyLost reports whether some host's connection is lost.
func (m *Model) anyLost() bool {
	for _, hs := range m.hosts {
		if hs.conn.lost {
			return true
		}
	}
	return false
}

// closeJobsCmd stops the lost connection's job watcher (which calls
// libvirt, so in a Cmd); the connection itself is closed by Run, once no
// Cmd can still be using it.
func closeJobsCmd(b Backend) tea.Cmd {
	return func() tea.Msg {
		b.CloseBlockJobs()
		return nil
	}
}

// hostErrText words an error from the host for the footer: a lost
// connection as such, not as the operation's failure.
func (m *Model) hostErrText(h int, err error) string {
	if hs := m.hosts[h]; hs.conn.lost || errors.Is(err, model.ErrConnectionLost) {
		return common.NotConnectedText(hs.uri())
	}
	return model.OneLine(err.Error())
}

// closeOpened releases the backends reconnects opened (Run, at the end).
func (m *Model) closeOpened() {
	for _, hs := range m.hosts {
		for _, b := range hs.conn.opened {
			b.CloseBlockJobs()
			if r, ok := b.(Reconnector); ok {
				_ = r.Close()
			} else if c, ok := b.(interface{ Close() error }); ok {
				_ = c.Close()
			}
		}
	}
}
