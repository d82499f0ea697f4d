package ui

// Reading the host: discovery, the event stream, and the re-reads an
// event or an op asks for. Each read runs in a Cmd; its result comes back
// as a message.

import (
	"errors"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/components/dialog"
)

// Messages carrying backend results into Update. Each is produced by a
// tea.Cmd; Update and View never call the backend. h is the host (index
// into Model.hosts; 0 with one host).
type (
	// discoveredMsg is the result of a full Discover.
	discoveredMsg struct {
		h       int
		domains []model.Domain
		err     error
	}
	// domainMsg is the result of re-reading one domain after an event.
	domainMsg struct {
		h    int
		name string
		dom  model.Domain
		err  error
	}
	// eventMsg is one libvirt event from Backend.Events of the connection
	// of generation gen (connState).
	eventMsg struct {
		h   int
		ev  model.Event
		gen int
	}
	// eventsClosedMsg says the event stream ended (connection closed).
	eventsClosedMsg struct{ h, gen int }
)

// discover reads every domain of host h.
func (m *Model) discover(h int) tea.Cmd {
	b, ctx := m.hosts[h].b, m.common.Ctx
	return func() tea.Msg {
		ds, err := b.Discover(ctx)
		return discoveredMsg{h: h, domains: ds, err: err}
	}
}

// rediscover re-reads one domain of host h after an event.
func (m *Model) rediscover(h int, name string) tea.Cmd {
	b, ctx := m.hosts[h].b, m.common.Ctx
	return func() tea.Msg {
		d, err := b.DiscoverDomain(ctx, name)
		return domainMsg{h: h, name: name, dom: d, err: err}
	}
}

// waitEvent blocks on host h's event channel in a Cmd and is issued again
// after each event, so nothing polls while nothing happens.
func (m *Model) waitEvent(h int) tea.Cmd {
	hs := m.hosts[h]
	if hs.b == nil {
		return nil
	}
	ch := hs.b.Events()
	if ch == nil {
		return nil
	}
	ctx, gen := m.common.Ctx, hs.conn.gen
	return func() tea.Msg {
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsClosedMsg{h: h, gen: gen}
			}
			return eventMsg{h: h, ev: ev, gen: gen}
		case <-ctx.Done():
			return nil
		}
	}
}

// discovered installs a full discovery, or says why it failed.
func (m *Model) discovered(msg discoveredMsg) tea.Cmd {
	hs := m.hosts[msg.h]
	hs.loading = false
	m.syncLoading()
	if msg.err != nil {
		if hs.conn.lost || errors.Is(msg.err, model.ErrConnectionLost) {
			m.status.SetErr(m.hostErrText(msg.h, msg.err)) // the reconnect reads again
			m.hostsChanged()
			return nil
		}
		hs.readErr = model.OneLine(msg.err.Error())
		m.status.SetErr("discovery on " + hs.b.URI() + " failed: " + hs.readErr + " (ctrl+r to retry)")
		m.hostsChanged()
		return nil
	}
	hs.readErr = ""
	first := !hs.loaded
	hs.loaded, m.loaded = true, true
	hs.domains = msg.domains
	m.hostsChanged()
	if first && m.opts.Domain != "" && !m.openedDomain {
		// With several hosts --domain may say HOST:DOMAIN.
		want, on := m.opts.Domain, msg.h
		if h, name := m.unqualify(want); m.multi() && h >= 0 {
			want = name
			if h != msg.h {
				on = -2 // another host's domain: not here
			}
		}
		switch {
		case on >= 0 && m.list.SelectIn(on, want):
			m.openedDomain = true
			m.syncDetail()
			m.noteSelection()
			m.setFocus(focusDetail)
		case !m.multi() || m.allRead():
			m.status.SetErr(model.NoDomain(m.opts.Domain).Error())
		}
	}
	return nil
}

// domainRead installs one re-read domain, and reads it again when events
// came in meanwhile.
func (m *Model) domainRead(msg domainMsg) tea.Cmd {
	hs := m.hosts[msg.h]
	delete(hs.inflight, msg.name)
	if msg.err != nil {
		delete(hs.dirty, msg.name)
		// The domain may be gone (undefined, or a transient one that
		// stopped): a full read settles which domains exist. Not while
		// the connection is lost: the reconnect reads everything.
		if !hs.loading && !hs.conn.lost {
			hs.loading = true
			m.syncLoading()
			return tea.Batch(m.discover(msg.h), m.spinner.Tick)
		}
		return nil
	}
	if !hs.same(msg.dom) {
		// A read that found nothing new (a focus-in, the cursor resting
		// on a domain) changes nothing: no redraw, no journal read.
		m.putDomain(msg.h, msg.dom)
	}
	if hs.dirty[msg.name] {
		delete(hs.dirty, msg.name)
		hs.inflight[msg.name] = true
		return m.rediscover(msg.h, msg.name)
	}
	return nil
}

// event re-reads the domain an event is about, coalescing bursts.
func (m *Model) event(msg eventMsg) tea.Cmd {
	hs := m.hosts[msg.h]
	if msg.gen != hs.conn.gen {
		return nil // a lost connection's stream: the new one is waited on
	}
	cmds := []tea.Cmd{m.waitEvent(msg.h)}
	if msg.ev.Detail != "" { // a full filesystem: say it at once
		m.status.SetErr(model.OneLine(msg.ev.Detail))
	}
	name := msg.ev.Domain
	switch {
	case name == "":
	case hs.inflight[name]:
		// Coalesce a burst of events into one more read.
		hs.dirty[name] = true
	default:
		hs.inflight[name] = true
		cmds = append(cmds, m.rediscover(msg.h, name))
	}
	return tea.Batch(cmds...)
}

// opDone re-reads what an op changed and shows its result: in the dialog
// that ran it, or in the footer when that dialog was hidden. The op ran
// on the selected domain's host: a dialog covers the list while it runs.
func (m *Model) opDone(msg dialog.DoneMsg) tea.Cmd {
	m.detail.ReloadHistory() // the operation is in the journal now
	var cmds []tea.Cmd
	h := m.selHost()
	hs := m.hosts[h]
	for _, name := range msg.Reread {
		if hs.b == nil {
			break
		}
		if name == "" {
			if !hs.loading {
				hs.loading = true
				m.syncLoading()
				cmds = append(cmds, m.discover(h), m.spinner.Tick)
			}
			continue
		}
		if hs.inflight[name] {
			hs.dirty[name] = true
			continue
		}
		hs.inflight[name] = true
		cmds = append(cmds, m.rediscover(h, name))
	}
	if d, ok := m.dialog.(*dialog.OpDialog); ok && d.ID() == msg.ID {
		cmds = append(cmds, d.Update(msg))
		return tea.Batch(cmds...)
	}
	if msg.Err != nil {
		m.status.SetErr(msg.Title + ": " + m.hostErrText(h, msg.Err))
	} else if msg.Result != "" {
		m.status.SetInfo("✔ " + msg.Result)
	}
	return tea.Batch(cmds...)
}

// putDomain replaces or adds one re-read domain of host h.
func (m *Model) putDomain(h int, d model.Domain) {
	hs := m.hosts[h]
	ds := make([]model.Domain, 0, len(hs.domains)+1)
	found := false
	for _, old := range hs.domains {
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
	hs.domains = ds
	m.hostsChanged()
}
