package ui

// Reading the host: discovery, the event stream, and the re-reads an
// event or an op asks for. Each read runs in a Cmd; its result comes back
// as a message.

import (
	"errors"
	"sort"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/components/dialog"
)

// Messages carrying backend results into Update. Each is produced by a
// tea.Cmd; Update and View never call the backend.
type (
	// discoveredMsg is the result of a full Discover.
	discoveredMsg struct {
		domains []model.Domain
		err     error
	}
	// domainMsg is the result of re-reading one domain after an event.
	domainMsg struct {
		name string
		dom  model.Domain
		err  error
	}
	// eventMsg is one libvirt event from Backend.Events of the connection
	// of generation gen (connState).
	eventMsg struct {
		ev  model.Event
		gen int
	}
	// eventsClosedMsg says the event stream ended (connection closed).
	eventsClosedMsg struct{ gen int }
)

// discover reads every domain.
func (m *Model) discover() tea.Cmd {
	b, ctx := m.common.Backend, m.common.Ctx
	return func() tea.Msg {
		ds, err := b.Discover(ctx)
		return discoveredMsg{domains: ds, err: err}
	}
}

// rediscover re-reads one domain after an event.
func (m *Model) rediscover(name string) tea.Cmd {
	b, ctx := m.common.Backend, m.common.Ctx
	return func() tea.Msg {
		d, err := b.DiscoverDomain(ctx, name)
		return domainMsg{name: name, dom: d, err: err}
	}
}

// waitEvent blocks on the event channel in a Cmd and is issued again after
// each event, so nothing polls while nothing happens.
func (m *Model) waitEvent() tea.Cmd {
	ch := m.common.Backend.Events()
	if ch == nil {
		return nil
	}
	ctx, gen := m.common.Ctx, m.conn.gen
	return func() tea.Msg {
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsClosedMsg{gen: gen}
			}
			return eventMsg{ev: ev, gen: gen}
		case <-ctx.Done():
			return nil
		}
	}
}

// discovered installs a full discovery, or says why it failed.
func (m *Model) discovered(msg discoveredMsg) tea.Cmd {
	m.loading = false
	if msg.err != nil {
		if m.conn.lost || errors.Is(msg.err, model.ErrConnectionLost) {
			m.status.SetErr(m.hostErrText(msg.err)) // the reconnect reads again
			return nil
		}
		m.status.SetErr("discovery on " + m.common.Backend.URI() + " failed: " + model.OneLine(msg.err.Error()) + " (ctrl+r to retry)")
		return nil
	}
	first := !m.loaded
	m.loaded = true
	m.setDomains(msg.domains)
	if first && m.opts.Domain != "" {
		if m.list.SelectName(m.opts.Domain) {
			m.syncDetail()
			m.setFocus(focusDetail)
		} else {
			m.status.SetErr(model.NoDomain(m.opts.Domain).Error())
		}
	}
	return nil
}

// domainRead installs one re-read domain, and reads it again when events
// came in meanwhile.
func (m *Model) domainRead(msg domainMsg) tea.Cmd {
	delete(m.inflight, msg.name)
	if msg.err != nil {
		delete(m.dirty, msg.name)
		// The domain may be gone (undefined, or a transient one that
		// stopped): a full read settles which domains exist. Not while
		// the connection is lost: the reconnect reads everything.
		if !m.loading && !m.conn.lost {
			m.loading = true
			return tea.Batch(m.discover(), m.spinner.Tick)
		}
		return nil
	}
	m.putDomain(msg.dom)
	if m.dirty[msg.name] {
		delete(m.dirty, msg.name)
		m.inflight[msg.name] = true
		return m.rediscover(msg.name)
	}
	return nil
}

// event re-reads the domain an event is about, coalescing bursts.
func (m *Model) event(msg eventMsg) tea.Cmd {
	if msg.gen != m.conn.gen {
		return nil // a lost connection's stream: the new one is waited on
	}
	cmds := []tea.Cmd{m.waitEvent()}
	if msg.ev.Detail != "" { // a full filesystem: say it at once
		m.status.SetErr(model.OneLine(msg.ev.Detail))
	}
	name := msg.ev.Domain
	switch {
	case name == "":
	case m.inflight[name]:
		// Coalesce a burst of events into one more read.
		m.dirty[name] = true
	default:
		m.inflight[name] = true
		cmds = append(cmds, m.rediscover(name))
	}
	return tea.Batch(cmds...)
}

// opDone re-reads what an op changed and shows its result: in the dialog
// that ran it, or in the footer when that dialog was hidden.
func (m *Model) opDone(msg dialog.DoneMsg) tea.Cmd {
	var cmds []tea.Cmd
	for _, name := range msg.Reread {
		if name == "" {
			if !m.loading {
				m.loading = true
				cmds = append(cmds, m.discover(), m.spinner.Tick)
			}
			continue
		}
		if m.inflight[name] {
			m.dirty[name] = true
			continue
		}
		m.inflight[name] = true
		cmds = append(cmds, m.rediscover(name))
	}
	if d, ok := m.dialog.(*dialog.OpDialog); ok && d.ID() == msg.ID {
		cmds = append(cmds, d.Update(msg))
		return tea.Batch(cmds...)
	}
	if msg.Err != nil {
		m.status.SetErr(msg.Title + ": " + m.hostErrText(msg.Err))
	} else if msg.Result != "" {
		m.status.SetInfo("✔ " + msg.Result)
	}
	return tea.Batch(cmds...)
}

// setDomains installs a full discovery result.
func (m *Model) setDomains(ds []model.Domain) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	m.domains = ds
	m.list.SetDomains(m.domains)
	m.jobs.SetDomains(m.domains)
	m.layout()
	m.syncDetail()
}

// putDomain replaces or adds one re-read domain.
func (m *Model) putDomain(d model.Domain) {
	ds := make([]model.Domain, 0, len(m.domains)+1)
	found := false
	for _, old := range m.domains {
		if old.Name == d.Name {
			ds = append(ds, d)
			found = true
		} else {
			ds = append(ds, old)
		}
	}
	if !found {
		ds = append(ds, d)
	}
	m.setDomains(ds)
}
