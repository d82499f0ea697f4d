// Package snaptree is the Snapshots tab: a domain's snapshot tree with
// what each snapshot holds.
package snaptree

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/forms"
	"virtchain/ui/components/scroll"
)

// snapRow is one snapshot in tree order with its drawn tree prefix.
type snapRow struct {
	snap   int    // index into Domain.Snapshots
	prefix string // tree glyphs before the bullet
}

// Model draws the domain's snapshot tree. A node with one child keeps
// the child at its own indentation, so the usual long line of snapshots
// reads top-down like a log and only real branches indent.
type Model struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	dom    *model.Domain
	rows   []snapRow
	scroll scroll.Scroller
	nameW  int // widest prefix + bullet + name
	// opener holds the form or plan a key opened, for the root.
	opener dialog.Opener
	// detailN is the most detail lines any of the domain's snapshots has,
	// so the info area keeps one height while the cursor moves.
	detailN int
}

const (
	colKind    = 8
	colMemory  = 8
	colSState  = 9
	colCreated = 16
	snapFixed  = 1 + 1 + colKind + 1 + colMemory + 1 + colSState + 1 + colCreated + 1
)

// New builds an empty tree.
func New(c *common.Common) *Model { return &Model{common: c} }

// SetDomain shows a domain's snapshots, keeping the cursor on the same
// snapshot by name.
func (v *Model) SetDomain(d *model.Domain) {
	keep := ""
	if s := v.Selected(); s != nil {
		keep = s.Name
	}
	v.dom = d
	v.rows = v.rows[:0]
	v.nameW = 0
	if d != nil {
		v.rows = snapshotRows(d.Snapshots, v.rows)
		for _, r := range v.rows {
			s := &d.Snapshots[r.snap]
			v.nameW = max(v.nameW, common.TextWidth(r.prefix)+2+common.TextWidth(s.Name)+tagWidth(snapTag(s)))
		}
	}
	v.detailN = 1
	if d != nil {
		for i := range d.Snapshots {
			first, files := snapDetail(&d.Snapshots[i])
			v.detailN = max(v.detailN, len(files)+min(len(first), 1))
		}
	}
	v.scroll.SetCount(len(v.rows))
	if v.height > 0 {
		v.scroll.SetHeight(v.height - v.headH() - v.infoH())
	}
	target := keep
	if target == "" && d != nil {
		target = d.CurrentSnapshot
	}
	v.scroll.MoveTo(0)
	for i, r := range v.rows {
		if d.Snapshots[r.snap].Name == target {
			v.scroll.MoveTo(i)
			break
		}
	}
}

// snapshotRows orders snapshots depth first, parents before children, and
// draws the branch glyphs. Snapshots whose parent is unknown are roots. It
// walks with an explicit stack: a chain of a thousand snapshots is normal.
func snapshotRows(snaps []model.Snapshot, rows []snapRow) []snapRow {
	byName := make(map[string]int, len(snaps))
	for i, s := range snaps {
		byName[s.Name] = i
	}
	children := make(map[int][]int, len(snaps))
	var roots []int
	for i, s := range snaps {
		p, ok := byName[s.Parent]
		if s.Parent == "" || !ok || p == i {
			roots = append(roots, i)
			continue
		}
		children[p] = append(children[p], i)
	}
	type item struct {
		snap       int
		line, cont string
	}
	seen := make([]bool, len(snaps))
	var stack []item
	push := func(kids []int, cont string) {
		// Pushed in reverse so the first child is drawn first.
		if len(kids) == 1 {
			stack = append(stack, item{kids[0], cont, cont})
			return
		}
		for i := len(kids) - 1; i >= 0; i-- {
			if i == len(kids)-1 {
				stack = append(stack, item{kids[i], cont + "└─", cont + "  "})
			} else {
				stack = append(stack, item{kids[i], cont + "├─", cont + "│ "})
			}
		}
	}
	emit := func(start []int) {
		push(start, "")
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[it.snap] {
				continue // a parent loop in bad metadata must not hang us
			}
			seen[it.snap] = true
			rows = append(rows, snapRow{snap: it.snap, prefix: it.line})
			push(children[it.snap], it.cont)
		}
	}
	emit(roots)
	// Anything unseen sits in a parent loop; list it flat rather than hide it.
	for i := range snaps {
		if !seen[i] {
			emit([]int{i})
		}
	}
	return rows
}

// Selected is the snapshot under the cursor, or nil.
func (v *Model) Selected() *model.Snapshot {
	if v.dom == nil || len(v.rows) == 0 {
		return nil
	}
	return &v.dom.Snapshots[v.rows[v.scroll.Cursor].snap]
}

func (v *Model) SetFocus(f bool) { v.focused = f }

func (v *Model) SetSize(w, h int) {
	v.width, v.height = w, h
	v.scroll.SetHeight(h - v.headH() - v.infoH())
}

func (v *Model) headH() int { return 1 }

// infoH is the separator, the title and one line per detail (the memory
// file and each disk's file on lines of their own, so a two-disk checkpoint
// shows every path), leaving the tree at least 3 rows.
func (v *Model) infoH() int {
	if v.height >= 12 {
		return 2 + common.Clamp(v.detailN, 1, v.height-v.headH()-2-3)
	}
	return 2
}

func (v *Model) RowAt(y int) (int, bool) {
	row := v.scroll.Offset + y - v.headH()
	if y < v.headH() || y >= v.height-v.infoH() || row >= len(v.rows) {
		return 0, false
	}
	return row, true
}

func (v *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if v.dom != nil {
			acts := forms.SnapshotActions(&v.opener, v.common, v.dom, v.Selected())
			if cmd, ok := forms.RunAction(v.common, msg, acts); ok {
				return cmd
			}
		}
		v.scroll.Navigate(v.common.KeyMap, msg)
	case tea.MouseWheelMsg:
		v.scroll.Wheel(msg)
	}
	return nil
}

func (v *Model) ShortHelp() []key.Binding {
	km := v.common.KeyMap
	return []key.Binding{km.Move, km.Left, km.NextFocus, km.Help, km.Quit}
}

func (v *Model) FullHelp() [][]key.Binding {
	km := v.common.KeyMap
	return [][]key.Binding{{km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End}}
}

// columns fits the name and created columns to the width; the description
// takes the rest.
func (v *Model) columns() (nameW, createdW, descW int) {
	createdW = colCreated
	if v.width < 90 {
		createdW = 11 // "01-02 15:04"
	}
	fixed := snapFixed - colCreated + createdW
	nameW = min(max(v.nameW, 10), max(10, v.width-fixed-12))
	descW = max(v.width-fixed-nameW, 0)
	return nameW, createdW, descW
}

func (v *Model) View() string {
	st := v.common.Styles
	if v.dom == nil {
		return common.Block([]string{st.Dim.Render("  no domain selected")}, v.width, v.height)
	}
	nameW, createdW, descW := v.columns()
	lines := make([]string, 0, v.height)
	head := "  " + common.PadRight("SNAPSHOT", nameW) + " " + common.PadRight("KIND", colKind) + " " + common.PadRight("MEMORY", colMemory) + " " +
		common.PadRight("STATE", colSState) + " " + common.PadRight("CREATED", createdW) + " " + "DESCRIPTION"
	lines = append(lines, st.ColumnHead.Render(common.Truncate(head, v.width)))
	if len(v.rows) == 0 {
		lines = append(lines, st.Dim.Render("  no snapshots"))
	}
	from, to := v.scroll.Visible()
	for i := from; i < to; i++ {
		lines = append(lines, v.renderRow(v.rows[i], i == v.scroll.Cursor, nameW, createdW, descW))
	}
	for len(lines) < v.height-v.infoH() {
		lines = append(lines, "")
	}
	lines = append(lines, v.info()...)
	return common.Block(lines, v.width, v.height)
}

func (v *Model) renderRow(r snapRow, sel bool, nameW, createdW, descW int) string {
	st := v.common.Styles
	s := &v.dom.Snapshots[r.snap]
	current := s.Current || s.Name == v.dom.CurrentSnapshot
	bullet := "○"
	if current {
		bullet = "●"
	}
	tag := snapTag(s)
	tagW := tagWidth(tag)
	name := common.Truncate(s.Name, max(nameW-common.TextWidth(r.prefix)-2-tagW, 1))
	namePad := common.Spaces(nameW - common.TextWidth(r.prefix) - 2 - common.TextWidth(name) - tagW)
	if tag != "" {
		tag = " " + tag
	}
	created := ""
	if !s.Created.IsZero() {
		if createdW >= colCreated {
			created = s.Created.Format("2006-01-02 15:04")
		} else {
			created = s.Created.Format("01-02 15:04")
		}
	}
	state := s.State
	if state == "disk-snapshot" {
		state = "disk-snap"
	}
	cols := " " + common.PadRight(string(s.Kind), colKind) + " " + common.PadRight(string(s.Memory), colMemory) + " " +
		common.PadRight(state, colSState) + " " + common.PadRight(created, createdW) + " " + common.Truncate(model.OneLine(s.Description), descW)

	mark := " "
	if sel {
		mark = "▸"
	}
	if sel && v.focused {
		return mark + st.Selected.Render(r.prefix+bullet+" "+name+tag+namePad+cols)
	}
	nameStyle := st.Plain
	bulletStyle := st.Tree
	if current {
		nameStyle, bulletStyle = st.Current, st.Current
	}
	tagStyle := st.Dim
	if len(s.Stale) > 0 {
		nameStyle, tagStyle = st.Warning, st.Warning
	}
	return mark + st.Tree.Render(r.prefix) + bulletStyle.Render(bullet) + " " + nameStyle.Render(name) + tagStyle.Render(tag) + namePad + st.Dim.Render(cols)
}

// snapTag is the short marker after a snapshot's name: stale metadata
// (its files left the chain) or a branch a revert kept.
func snapTag(s *model.Snapshot) string {
	switch {
	case len(s.Stale) > 0:
		return "stale"
	case s.Branch:
		return "branch"
	}
	return ""
}

func tagWidth(tag string) int {
	if tag == "" {
		return 0
	}
	return 1 + common.TextWidth(tag)
}

// info describes the snapshot under the cursor in full.
func (v *Model) info() []string {
	st := v.common.Styles
	w := v.width
	var out []string
	if v.infoH() == 3 {
		out = append(out, st.Separator.Render(strings.Repeat("─", w)))
	}
	s := v.Selected()
	if s == nil {
		return out
	}
	title := s.Name
	if s.Current || s.Name == v.dom.CurrentSnapshot {
		title += " (current)"
	}
	if s.Parent != "" {
		title += " ← " + s.Parent
	}
	if s.Description != "" {
		title += ": " + model.OneLine(s.Description)
	}
	// A path loses its folder before its file name when it is too wide.
	first, files := snapDetail(s)
	var lines, plain []string
	if first != "" {
		lines, plain = append(lines, first), append(plain, first)
	}
	for _, f := range files {
		lines = append(lines, f.label+" "+common.TruncateLeft(f.path, max(w-common.TextWidth(f.label)-1, 1)))
		plain = append(plain, f.label+" "+f.path)
	}
	if room := v.infoH() - len(out) - 1; len(lines) > room {
		lines = append(lines[:room-1:room-1], strings.Join(plain[room-1:], " · "))
	}
	out = append(out, st.Bold.Render(common.Truncate(title, w)))
	for _, l := range lines {
		if len(s.Stale) > 0 {
			out = append(out, st.Warning.Render(common.Truncate(l, w)))
		} else {
			out = append(out, st.Dim.Render(common.Truncate(l, w)))
		}
	}
	return out
}

// snapFile is a file a snapshot names: its memory state or a disk's overlay.
type snapFile struct{ label, path string }

// snapDetail is what the info area says about s: marks, time and disks
// without a file of their own on one line, then the memory file and each
// disk's file, one a line.
func snapDetail(s *model.Snapshot) (string, []snapFile) {
	var first []string
	var files []snapFile
	switch {
	case len(s.Destroyed) > 0: // a merge wrote over its point
		first = append(first, "⚠ stale: "+s.Destroyed[0].Cause())
	case len(s.Stale) > 0:
		first = append(first, "⚠ stale: "+strings.Join(s.Stale, ",")+" left the chain")
	}
	if s.Branch {
		first = append(first, "branch kept by a revert: its files stay")
	}
	if !s.Created.IsZero() {
		first = append(first, s.Created.Format("2006-01-02 15:04:05"))
	}
	if s.MemoryFile != "" {
		files = append(files, snapFile{"memory", s.MemoryFile})
	}
	for _, d := range s.Disks {
		if d.File != "" {
			files = append(files, snapFile{d.Target, d.File})
		} else if d.Kind != "" {
			first = append(first, d.Target+" "+d.Kind)
		}
	}
	return strings.Join(first, " · "), files
}

// MoveTo puts the cursor on row i.
func (v *Model) MoveTo(i int) { v.scroll.MoveTo(i) }

// Take hands the root the form or plan a key opened.
func (v *Model) Take() (dialog.Dialog, bool) { return v.opener.Take() }

var _ common.Component = (*Model)(nil)
