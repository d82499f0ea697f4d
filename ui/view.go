package ui

// The root's drawing: header, body layout, footer and the full help.

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/pages/domain"
)

// fullHelp renders every key group, wrapping groups onto further rows
// when they do not fit side by side (bubbles/help drops what does not fit).
func (m *Model) fullHelp() []string {
	st := m.common.Styles
	lines := []string{st.Bold.Render("Keys") + st.Dim.Render("  (? or esc closes)"), ""}
	h := m.help
	h.SetWidth(0)
	// Each section is titled, so s (save here, shallow there) is never
	// ambiguous. Sections flow down a column until the body is full, then
	// into the next column; columns too wide for the screen start a new row.
	avail := max(m.height-2-len(lines), 4)
	var cols []string
	col, colH := "", 0
	for _, sec := range m.helpSections() {
		block := st.Bold.Render(sec.title) + "\n" + h.FullHelpView([][]key.Binding{sec.keys})
		bh := lipgloss.Height(block)
		switch {
		case col == "":
			col, colH = block, bh
		case colH+1+bh <= avail:
			col, colH = col+"\n\n"+block, colH+1+bh
		default:
			cols = append(cols, col)
			col, colH = block, bh
		}
	}
	cols = append(cols, col)
	const gap = "  "
	for len(cols) > 0 {
		n, row := 1, cols[0]
		for n < len(cols) {
			next := lipgloss.JoinHorizontal(lipgloss.Top, row, gap, cols[n])
			if lipgloss.Width(next) > m.width {
				break
			}
			row, n = next, n+1
		}
		lines = append(lines, strings.Split(row, "\n")...)
		lines = append(lines, "")
		cols = cols[n:]
	}
	return lines
}

// helpSection is one titled group of the full help.
type helpSection struct {
	title string
	keys  []key.Binding
}

// helpSections lists every key by where it works.
func (m *Model) helpSections() []helpSection {
	km := m.common.KeyMap
	rk := m.detail.Chains().Keys()
	jk := m.jobs.Keys()
	return []helpSection{
		{"Move", []key.Binding{km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End}},
		{"Panes", []key.Binding{km.Right, km.Left, km.NextFocus, km.PrevFocus, km.Chains, km.Snapshots, km.History}},
		{"Domain list", []key.Binding{km.Filter, km.AcceptFilter, km.ClearFilter, km.Save, km.Restore,
			km.ManagedSave, km.ManagedSaveRemove, km.Start, km.Orphans}},
		{"Chain view", []key.Binding{rk.Top, rk.Base, rk.Clear, rk.Commit, rk.Pull, rk.Shallow, rk.AfterReady, rk.Faster}},
		{"Snapshot tab", []key.Binding{km.SnapNew, km.SnapRevert, km.SnapDelete, km.SnapDeleteMetadata}},
		{"Jobs panel", []key.Binding{jk.Toggle, jk.Abort, jk.Pivot, jk.Faster, jk.Clear, jk.Cleanup, jk.Close}},
		{"Anywhere", []key.Binding{km.Refresh, km.Help, km.Quit}},
	}
}

// ShortHelp is the footer's key list: the focused pane's keys.
func (m *Model) ShortHelp() []key.Binding {
	if m.jobs.Visible() {
		return m.jobs.ShortHelp()
	}
	km := m.common.KeyMap
	switch {
	case m.focus == focusList && !m.list.Filtering():
		// The main operations in short words; the rest is in ? help.
		return []key.Binding{km.Right, km.Filter, common.Short(km.Save, "save"), common.Short(km.Restore, "restore"),
			km.Start, km.Help, km.Quit}
	case m.focus == focusList:
		return m.list.ShortHelp()
	case m.detail.Active() == domain.TabSnapshots:
		return []key.Binding{km.Move, common.Short(km.SnapNew, "new"), km.SnapRevert, km.SnapDelete,
			common.Short(km.Left, "back"), km.Help, km.Quit}
	}
	return m.detail.ShortHelp()
}

// FullHelp is every key, grouped.
func (m *Model) FullHelp() [][]key.Binding {
	km := m.common.KeyMap
	groups := m.list.FullHelp()
	groups = append(groups, m.detail.FullHelp()[1:]...)
	groups = append(groups, m.opHelp()...)
	groups = append(groups, m.jobs.FullHelp()...)
	return append(groups, []key.Binding{km.Refresh, km.Help, km.Quit})
}

// View draws the frame. It reads state only.
func (m *Model) View() (v tea.View) {
	if m.crashed != nil {
		return v
	}
	defer func() {
		if r := recover(); r != nil {
			m.crashed = fmt.Errorf("internal error drawing the terminal UI: %v (please report it)", r)
			v.SetContent("virtchain: " + m.crashed.Error())
		}
	}()
	v.AltScreen = !m.opts.NoAltScreen
	// Focus-in re-reads the selected domain (focus.go).
	v.ReportFocus = true
	if !m.opts.NoMouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "virtchain " + model.Escape(m.common.Backend.URI())
	if m.multi() {
		v.WindowTitle = "virtchain " + strconv.Itoa(len(m.hosts)) + " hosts"
	}
	if m.width <= 0 || m.height <= 0 {
		v.SetContent("")
		return v
	}
	v.SetContent(m.render())
	return v
}

func (m *Model) render() string {
	st := m.common.Styles
	var b strings.Builder
	b.WriteString(m.header())
	b.WriteByte('\n')

	bodyH := max(m.height-2, 3)
	switch {
	case m.dialog != nil:
		b.WriteString(m.dialog.View())
	case m.showHelp:
		b.WriteString(common.Block(m.fullHelp(), m.width, bodyH))
	case m.jobs.Visible():
		b.WriteString(m.jobs.View())
	case m.wide:
		left := strings.Split(m.list.View(), "\n")
		right := strings.Split(m.detail.View(), "\n")
		sep := st.Separator.Render("│") + " "
		for i := 0; i < m.listH; i++ {
			if i > 0 {
				b.WriteByte('\n')
			}
			if i < len(left) {
				b.WriteString(left[i])
			}
			b.WriteString(sep)
			if i < len(right) {
				b.WriteString(right[i])
			}
		}
	default:
		b.WriteString(m.list.View())
		b.WriteByte('\n')
		b.WriteString(st.Separator.Render(strings.Repeat("─", m.width)))
		b.WriteByte('\n')
		b.WriteString(m.detail.View())
	}
	b.WriteByte('\n')
	b.WriteString(m.footer())
	return b.String()
}

func (m *Model) header() string {
	right := ""
	switch {
	case m.loading:
		right = m.spinner.View() + " reading libvirt…"
	case m.loaded:
		right = strconv.Itoa(len(m.domains)) + " domains"
		if len(m.domains) == 1 {
			right = "1 domain"
		}
	}
	if s := m.jobs.Summary(); s != "" && !m.jobs.Visible() {
		right = s
	}
	return m.status.Header(right)
}

func (m *Model) footer() string {
	if m.dialog != nil {
		return m.status.Footer(m.dialog.ShortHelp(), true)
	}
	return m.status.Footer(m.ShortHelp(), false)
}

// opHelp is the key groups of the operations, for the full help.
func (m *Model) opHelp() [][]key.Binding {
	km := m.common.KeyMap
	return [][]key.Binding{
		{km.Save, km.Restore, km.ManagedSave, km.ManagedSaveRemove, km.Start, km.Orphans},
		{km.SnapNew, km.SnapRevert, km.SnapDelete, km.SnapDeleteMetadata},
	}
}
