package ui

// Re-reads without polling: libvirt sends no event for a snapshot or a
// block job that virsh starts, so the selected domain is read again when
// the terminal regains focus (the admin comes back from the shell where
// virsh ran) and when the cursor settles on a domain. Nothing runs while
// nothing happens.

import (
	"reflect"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

// selectSettle is how long the cursor must rest on a domain before it is
// read again: scrolling through 500 domains reads only the last one.
const selectSettle = 250 * time.Millisecond

// selectedMsg says the cursor rested on a domain; seq tells a stale
// timer (the cursor moved on) from the last one.
type selectedMsg struct {
	seq  int
	h    int
	name string
}

// selection is what the debounce compares: the host and name under the
// cursor, and the timer generation.
type selection struct {
	h    int
	name string
	seq  int
}

// focused re-reads the selected domain and looks for block jobs started
// elsewhere, once per focus-in.
func (m *Model) focused() tea.Cmd {
	h, name := m.list.SelectedHost(), m.list.SelectedName()
	if h < 0 || name == "" {
		return nil
	}
	read := m.reread(h, name)
	if read == nil {
		return nil
	}
	return tea.Batch(read, m.jobs.Rescan())
}

// selectionMoved starts the settle timer when the cursor is on another
// domain than at the last look; callers batch it with their own Cmd.
func (m *Model) selectionMoved() tea.Cmd {
	h, name := m.list.SelectedHost(), m.list.SelectedName()
	if h == m.sel.h && name == m.sel.name {
		return nil
	}
	m.sel.h, m.sel.name = h, name
	m.sel.seq++
	if name == "" {
		return nil
	}
	seq := m.sel.seq
	return tea.Tick(selectSettle, func(time.Time) tea.Msg {
		return selectedMsg{seq: seq, h: h, name: name}
	})
}

// noteSelection takes the selection as it is after a read (the cursor
// kept its domain, or the one it was on went away): the host just said
// what it holds, so nothing is read again for that.
func (m *Model) noteSelection() {
	m.sel.h, m.sel.name = m.list.SelectedHost(), m.list.SelectedName()
}

// settled re-reads the domain the cursor rested on, unless it moved on.
func (m *Model) settled(msg selectedMsg) tea.Cmd {
	if msg.seq != m.sel.seq || msg.h != m.list.SelectedHost() || msg.name != m.list.SelectedName() {
		return nil
	}
	return m.reread(msg.h, msg.name)
}

// reread reads one domain of host h again, coalesced with a read already
// under way; nil while the host is not connected (its reconnect reads
// everything). During a full read it waits for that read to end: the full
// read may have read the domain before the change, and its result would
// overwrite a fresher one.
func (m *Model) reread(h int, name string) tea.Cmd {
	if h < 0 || h >= len(m.hosts) {
		return nil
	}
	hs := m.hosts[h]
	if hs.b == nil || hs.conn.lost {
		return nil
	}
	if hs.loading {
		hs.afterLoad[name] = true
		return nil
	}
	if hs.inflight[name] {
		hs.dirty[name] = true
		return nil
	}
	hs.inflight[name] = true
	return m.rediscover(h, name)
}

// readAfterLoad issues the re-reads asked for while host h's full read
// ran (reread), once it has ended.
func (m *Model) readAfterLoad(h int) tea.Cmd {
	hs := m.hosts[h]
	var cmds []tea.Cmd
	for name := range hs.afterLoad {
		delete(hs.afterLoad, name)
		cmds = append(cmds, m.reread(h, name))
	}
	return tea.Batch(cmds...)
}

// same reports whether host hs already holds d exactly as read.
func (hs *host) same(d model.Domain) bool {
	for i := range hs.domains {
		if hs.domains[i].Name == d.Name {
			return reflect.DeepEqual(hs.domains[i], d)
		}
	}
	return false
}
