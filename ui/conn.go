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
	// connLostMsg says the connection of generation gen was lost.
	connLostMsg struct{ gen int }
	// connTryMsg is one failed reconnect try; ch brings the next.
	connTryMsg struct {
		gen     int
		attempt int
		wait    time.Duration
		ch      <-chan connTryMsg
	}
	// connBackMsg is the end of the reconnect: a new backend.
	connBackMsg struct {
		gen int
		b   Backend
		err error
	}
)

func (connLostMsg) isConnMsg() {}
func (connTryMsg) isConnMsg()  {}
func (connBackMsg) isConnMsg() {}

// connState is the root's view of the connection.
type connState struct {
	// gen counts reconnects; messages of an older connection's streams
	// (events, jobs, loss) are dropped.
	gen  int
	lost bool
	// opened are the backends reconnects made; Run closes them.
	opened []Backend
}

// waitLost waits in a Cmd for the current connection to be lost.
func (m *Model) waitLost() tea.Cmd {
	r, ok := m.common.Backend.(Reconnector)
	if !ok {
		return nil
	}
	gen, ctx, lost := m.conn.gen, m.common.Ctx, r.Lost()
	return func() tea.Msg {
		select {
		case <-lost:
			return connLostMsg{gen: gen}
		case <-ctx.Done():
			return nil
		}
	}
}

// reconnectCmd runs the reconnect; its failed tries arrive on ch.
func reconnectCmd(ctx context.Context, gen int, r Reconnector, ch chan connTryMsg) tea.Cmd {
	return func() tea.Msg {
		defer close(ch)
		b, err := r.Reconnect(ctx, func(n int, wait time.Duration, _ error) {
			select {
			case ch <- connTryMsg{gen: gen, attempt: n, wait: wait, ch: ch}:
			default: // the next try says the same
			}
		})
		return connBackMsg{gen: gen, b: b, err: err}
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
	uri := m.common.Backend.URI()
	switch msg := msg.(type) {
	case connLostMsg:
		if msg.gen != m.conn.gen || m.conn.lost {
			return nil
		}
		r, ok := m.common.Backend.(Reconnector)
		if !ok {
			return nil
		}
		m.conn.lost = true
		// "lost" comes first: a long URI is cut at the screen's edge, and
		// the title bar names it already.
		m.status.SetConn("connection lost; reconnecting to " + uri + "…")
		m.loading = false // a read in flight fails; the reconnect reads again
		ch := make(chan connTryMsg, 1)
		return tea.Batch(reconnectCmd(m.common.Ctx, m.conn.gen, r, ch), waitTryCmd(ch))

	case connTryMsg:
		if msg.gen != m.conn.gen || !m.conn.lost {
			return nil
		}
		m.status.SetConn("connection lost; try " + strconv.Itoa(msg.attempt) + " failed, next in " +
			strconv.FormatFloat(msg.wait.Seconds(), 'g', 2, 64) + "s; reconnecting to " + uri + "…")
		return waitTryCmd(msg.ch)

	case connBackMsg:
		if msg.gen != m.conn.gen || msg.err != nil || msg.b == nil {
			return nil // ctx ended: the program is quitting
		}
		old := m.common.Backend
		m.conn.gen++
		m.conn.lost = false
		m.status.SetConn("")
		m.conn.opened = append(m.conn.opened, msg.b)
		m.common.Backend = msg.b
		if m.status.Err() == common.NotConnectedText(uri) {
			m.status.SetErr("")
		}
		m.status.SetInfo("reconnected to " + uri)
		m.loading = true
		// Everything the old connection fed is read again from the new
		// one: domains, events, block jobs (re-attached with their intents).
		return tea.Batch(m.discover(), m.spinner.Tick, m.waitEvent(), m.waitLost(), m.jobs.Reattach(), closeJobsCmd(old))
	}
	return nil
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
func (m *Model) hostErrText(err error) string {
	if m.conn.lost || errors.Is(err, model.ErrConnectionLost) {
		return common.NotConnectedText(m.common.Backend.URI())
	}
	return model.OneLine(err.Error())
}

// closeOpened releases the backends reconnects opened (Run, at the end).
func (m *Model) closeOpened() {
	for _, b := range m.conn.opened {
		b.CloseBlockJobs()
		if r, ok := b.(Reconnector); ok {
			_ = r.Close()
		}
	}
}
