package ui

// Keys and the mouse: what the root handles itself (quit, help, refresh,
// moving between panes) and how it hands the rest to the focused pane.

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/ui/common"
	"virtchain/ui/pages/domain"
)

// input sends keys and the mouse to the open dialog, else to the panes.
func (m *Model) input(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		m.status.Update(msg)
		if m.dialog != nil {
			if msg.String() == "ctrl+c" {
				return tea.Quit
			}
			return m.dialog.Update(msg)
		}
		return m.handleKey(msg)
	case tea.MouseClickMsg:
		m.status.Update(msg)
		if m.dialog != nil {
			return m.dialog.Update(msg)
		}
		if !m.jobsClick(msg.Mouse()) {
			m.handleClick(msg.Mouse())
		}
	case tea.MouseWheelMsg:
		if m.dialog != nil {
			return m.dialog.Update(msg)
		}
		m.handleWheel(msg)
	}
	return nil
}

func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	km := m.common.KeyMap
	if m.list.Filtering() {
		if msg.String() == "ctrl+c" {
			return tea.Quit
		}
		cmd := m.list.Update(msg)
		m.layout() // the filter line comes and goes
		m.syncDetail()
		return cmd
	}
	if cmd, ok := m.jobsKey(msg); ok {
		return cmd
	}
	if cmd, ok := m.globalKey(msg); ok {
		return cmd
	}

	if m.focus == focusList {
		if key.Matches(msg, km.Orphans) {
			return m.openOrphans()
		}
		if key.Matches(msg, km.Right) && m.list.Selected() != nil {
			m.setFocus(focusDetail)
			return nil
		}
		cmd := m.list.Update(msg)
		m.layout()
		m.syncDetail()
		return cmd
	}
	if key.Matches(msg, km.Left) || msg.String() == "esc" {
		m.setFocus(focusList)
		return nil
	}
	return m.detail.Update(msg)
}

// globalKey handles the keys that work in every pane: quit, help,
// refresh, and moving between panes and tabs. ok is false for the rest.
func (m *Model) globalKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	km := m.common.KeyMap
	switch {
	case key.Matches(msg, km.Quit):
		return tea.Quit, true
	case m.showHelp:
		// The help screen covers the panes; only closing it makes sense.
		if key.Matches(msg, km.Help) || msg.String() == "esc" {
			m.showHelp = false
		}
	case key.Matches(msg, km.Help):
		m.showHelp = true
	case key.Matches(msg, km.Refresh):
		return m.refresh(), true // the domains read again read the journal again
	case key.Matches(msg, km.NextFocus):
		return m.cycleFocus(1), true
	case key.Matches(msg, km.PrevFocus):
		return m.cycleFocus(-1), true
	case key.Matches(msg, km.Chains):
		m.detail.SetTab(domain.TabChains)
		m.setFocus(focusDetail)
	case key.Matches(msg, km.Snapshots):
		m.detail.SetTab(domain.TabSnapshots)
		m.setFocus(focusDetail)
	case key.Matches(msg, km.History):
		m.detail.SetTab(domain.TabHistory)
		m.setFocus(focusDetail)
	case key.Matches(msg, km.Health):
		m.detail.SetTab(domain.TabHealth)
		m.setFocus(focusDetail)
		return m.detail.CheckCmd(), true
	default:
		return nil, false
	}
	return nil, true
}

// refresh reads every domain and looks for block jobs again.
func (m *Model) refresh() tea.Cmd {
	if !m.multi() && m.hosts[0].conn.lost {
		return common.NotConnected(m.common)
	}
	if m.loading {
		return nil
	}
	var cmds []tea.Cmd
	for h, hs := range m.hosts {
		if hs.b == nil || hs.conn.lost {
			continue // its dial or its reconnect reads everything
		}
		hs.loading = true
		cmds = append(cmds, m.discover(h))
	}
	m.syncLoading()
	// libvirt sends no event when virsh starts a block job: look now.
	return tea.Batch(append(cmds, m.spinner.Tick, m.jobs.Rescan())...)
}

// cycleFocus walks list -> Chains -> Snapshots -> History -> Health ->
// list. Arriving at Health runs the check, as 4 does.
func (m *Model) cycleFocus(d int) tea.Cmd {
	stops := []struct {
		f focus
		t domain.Tab
	}{{focusList, 0}, {focusDetail, domain.TabChains}, {focusDetail, domain.TabSnapshots}, {focusDetail, domain.TabHistory}, {focusDetail, domain.TabHealth}}
	cur := 0
	if m.focus == focusDetail {
		cur = 1 + int(m.detail.Active())
	}
	next := (cur + d + len(stops)) % len(stops)
	if stops[next].f == focusDetail {
		m.detail.SetTab(stops[next].t)
	}
	m.setFocus(stops[next].f)
	if stops[next].f == focusDetail && stops[next].t == domain.TabHealth {
		return m.detail.CheckCmd()
	}
	return nil
}

func (m *Model) setFocus(f focus) {
	m.focus = f
	m.list.SetFocus(f == focusList)
	m.detail.SetFocus(f == focusDetail)
}

// Pane geometry: the header is one line, then the body.
func (m *Model) inList(x, y int) bool {
	if m.wide {
		return x < m.listW && y >= 1
	}
	return y >= 1 && y < 1+m.listH
}

// detailOrigin is the detail pane's top-left corner on screen.
func (m *Model) detailOrigin() (int, int) {
	if m.wide {
		return m.listW + 2, 1
	}
	return 0, 1 + m.listH + 1
}

func (m *Model) handleClick(mo tea.Mouse) {
	if mo.Button != tea.MouseLeft || m.showHelp {
		return
	}
	if m.inList(mo.X, mo.Y) {
		if row, ok := m.list.RowAt(mo.Y - 1); ok {
			m.list.MoveTo(row)
			m.syncDetail()
		}
		m.setFocus(focusList)
		return
	}
	x0, y0 := m.detailOrigin()
	if mo.X >= x0 && mo.Y >= y0 && m.list.Selected() != nil {
		m.detail.Click(mo.X-x0, mo.Y-y0)
		m.setFocus(focusDetail)
	}
}

func (m *Model) handleWheel(msg tea.MouseWheelMsg) {
	mo := msg.Mouse()
	if m.inList(mo.X, mo.Y) {
		m.list.Update(msg)
		m.syncDetail()
		return
	}
	m.detail.Update(msg)
}
