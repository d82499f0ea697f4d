// Package chainview is the Chains tab: every disk's backing chain, active
// layer first, with the range picking (top and base marks) that a commit
// or a pull starts from.
package chainview

import (
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/scroll"
)

// chainRow is one line of the chain view: a disk header (layer < 0) or a
// layer of that disk's chain.
type chainRow struct {
	disk, layer int
}

// Model draws every disk's backing chain, active layer first, base
// last. Its cursor sits on a layer, which is where issue 4's range marks
// (top and base) will attach.
type Model struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	dom    *model.Domain
	rows   []chainRow
	scroll scroll.Scroller

	// Column widths computed once per domain, not per frame.
	idxW  int
	nameW int // longest file name in the domain
	tagsW int // longest tag text in the domain

	// opener holds the plan dialog of a commit or pull, for the root.
	opener dialog.Opener
	// live are the block jobs running now (SetJobs): a disk with one says
	// so in its header.
	live []model.Job

	// marks is the range picked for a commit or pull (rangepick.go).
	marks rangeMarks
	rkeys RangeKeys

	// quick is what discovery alone tells of the domain's health; health
	// is its last full check (SetHealth), which wins when it is of dom.
	quick  model.DomainHealth
	health *model.DomainHealth
}

const (
	barW    = 8
	sizeW   = 11 // "12.3M/64.0M"
	fmtW    = 5
	treeW   = 3
	minName = 12
)

// New builds an empty chain view.
func New(c *common.Common) *Model {
	return &Model{common: c, marks: newRangeMarks(), rkeys: newRangeKeys()}
}

// SetDomain shows a domain (nil for none), keeping the cursor on the same
// disk and layer path when the domain is re-read.
func (v *Model) SetDomain(d *model.Domain) {
	keepDisk, keepPath := v.cursorKey()
	v.dom = d
	v.rows = v.rows[:0]
	v.idxW, v.nameW, v.tagsW = 0, 0, 0
	if d != nil {
		v.quick = model.CheckDomain(*d, model.CheckFacts{})
		for di := range d.Disks {
			disk := &d.Disks[di]
			v.rows = append(v.rows, chainRow{disk: di, layer: -1})
			for li := range disk.Layers {
				v.rows = append(v.rows, chainRow{disk: di, layer: li})
				l := &disk.Layers[li]
				v.idxW = max(v.idxW, common.TextWidth(l.IndexString(disk.Target)))
				v.nameW = max(v.nameW, common.TextWidth(filepath.Base(l.Path)))
				v.tagsW = max(v.tagsW, common.TextWidth(v.layerTags(disk, li)))
			}
		}
	}
	v.marks.forget(d)
	v.scroll.SetCount(len(v.rows))
	if !v.restoreCursor(keepDisk, keepPath) {
		// A fresh domain opens on its first active layer, the one the
		// guest writes.
		v.scroll.MoveTo(min(1, len(v.rows)-1))
	}
}

func (v *Model) cursorKey() (disk, path string) {
	if v.dom == nil || len(v.rows) == 0 {
		return "", ""
	}
	r := v.rows[v.scroll.Cursor]
	d := &v.dom.Disks[r.disk]
	if r.layer >= 0 {
		return d.Target, d.Layers[r.layer].Path
	}
	return d.Target, ""
}

func (v *Model) restoreCursor(disk, path string) bool {
	if disk == "" {
		return false
	}
	for i, r := range v.rows {
		d := &v.dom.Disks[r.disk]
		if d.Target != disk {
			continue
		}
		if (r.layer < 0 && path == "") || (r.layer >= 0 && d.Layers[r.layer].Path == path) {
			v.scroll.MoveTo(i)
			return true
		}
	}
	return false
}

// Cursor returns the disk and layer under the cursor; layer is nil on a
// disk header.
func (v *Model) Cursor() (*model.Disk, *model.Layer) {
	if v.dom == nil || len(v.rows) == 0 {
		return nil, nil
	}
	r := v.rows[v.scroll.Cursor]
	d := &v.dom.Disks[r.disk]
	if r.layer < 0 {
		return d, nil
	}
	return d, &d.Layers[r.layer]
}

func (v *Model) SetFocus(f bool) { v.focused = f }

func (v *Model) SetSize(w, h int) {
	v.width, v.height = w, h
	v.scroll.SetHeight(h - v.infoH())
}

// infoH is the height of the description of the cursor row: two lines,
// plus a rule above them when the pane is tall enough to spare one.
func (v *Model) infoH() int {
	if v.height >= 12 {
		return 3
	}
	return 2
}

// RowAt maps a y offset inside the view to a row, for mouse clicks.
func (v *Model) RowAt(y int) (int, bool) {
	row := v.scroll.Offset + y
	if y < 0 || y >= v.height-v.infoH() || row >= len(v.rows) {
		return 0, false
	}
	return row, true
}

func (v *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case JobEndedMsg:
		v.jobEnded(msg)
	case tea.KeyPressMsg:
		if v.dom != nil {
			if cmd, ok := v.rangeKey(msg); ok {
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
	k := v.rkeys
	return []key.Binding{km.Move, k.Top, k.Base, k.Commit, k.Pull, km.Left, km.Help, km.Quit}
}

func (v *Model) FullHelp() [][]key.Binding {
	km := v.common.KeyMap
	k := v.rkeys
	return [][]key.Binding{{km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End},
		{k.Top, k.Base, k.Clear, k.Commit, k.Pull, k.Shallow, k.AfterReady, k.Faster}}
}

// columns decides the name and tag widths for the current pane width.
func (v *Model) columns() (idxW, nameW, tagW int) {
	idxW = v.idxW
	if idxW > 0 {
		idxW++ // separating space
	}
	fixed := 1 + treeW + idxW + 1 + barW + 1 + sizeW + 1 + fmtW + 1
	// Names get the room, minus what the tags need (up to 20 cells).
	nameW = min(max(v.nameW, minName), max(minName, v.width-fixed-min(v.tagsW, 20)))
	tagW = max(v.width-fixed-nameW, 0)
	return idxW, nameW, tagW
}

func (v *Model) View() string {
	st := v.common.Styles
	if v.dom == nil {
		return common.Block([]string{st.Dim.Render("  no domain selected")}, v.width, v.height)
	}
	lines := make([]string, 0, v.height)
	if len(v.rows) == 0 {
		lines = append(lines, st.Dim.Render("  this domain has no disks"))
	}
	idxW, nameW, tagW := v.columns()
	from, to := v.scroll.Visible()
	for i := from; i < to; i++ {
		r := v.rows[i]
		disk := &v.dom.Disks[r.disk]
		sel := i == v.scroll.Cursor
		if r.layer < 0 {
			lines = append(lines, v.renderDisk(disk, sel))
		} else {
			lines = append(lines, v.renderLayer(disk, r.layer, sel, idxW, nameW, tagW))
		}
	}
	for len(lines) < v.height-v.infoH() {
		lines = append(lines, "")
	}
	lines = append(lines, v.info()...)
	return common.Block(lines, v.width, v.height)
}

func (v *Model) renderDisk(d *model.Disk, sel bool) string {
	st := v.common.Styles
	parts := []string{d.Target}
	if d.Bus != "" || d.Device != "" {
		parts = append(parts, strings.TrimSpace(d.Bus+" "+d.Device))
	}
	if d.Format != "" {
		parts = append(parts, d.Format)
	}
	switch n := d.Depth(); n {
	case 0:
		parts = append(parts, "no image")
	case 1:
		parts = append(parts, "1 layer")
	default:
		parts = append(parts, strconv.Itoa(n)+" layers")
	}
	var alloc int64
	for _, l := range d.Layers {
		alloc += l.Allocation
	}
	if alloc > 0 {
		parts = append(parts, model.FormatBytesShort(alloc)+" on disk")
	}
	if d.ReadOnly {
		parts = append(parts, "readonly")
	}
	if d.Shareable {
		parts = append(parts, "shareable")
	}
	parts = append(parts, diskCheckpoints(v.dom, d.Target)...)
	// A job on this disk is why the chain is about to change: say so where
	// the user is looking, not only in the header.
	if j, ok := v.liveJob(d.Target); ok {
		job := "⟳ " + string(j.Kind) + " " + strconv.Itoa(int(j.Fraction()*100)) + "%"
		if j.Phase == model.PhaseReady {
			job += " READY"
		}
		parts = append([]string{parts[0], job}, parts[1:]...)
	}
	text := common.Truncate(strings.Join(parts, " · "), v.width-2)
	warn := ""
	if d.Broken() && common.TextWidth(text)+16 <= v.width-2 {
		warn = "  " + st.Warning.Render("⚠ broken chain")
	}
	mark := " "
	if sel {
		mark = "▸"
	}
	if sel && v.focused {
		return mark + st.Selected.Render(" "+text) + warn
	}
	return mark + " " + st.DiskHeader.Render(text) + warn
}

func (v *Model) renderLayer(d *model.Disk, li int, sel bool, idxW, nameW, tagW int) string {
	st := v.common.Styles
	l := &d.Layers[li]
	last := li == len(d.Layers)-1

	var b strings.Builder
	if sel {
		b.WriteString("▸")
	} else {
		b.WriteString(" ")
	}
	tree := "├─ "
	if last {
		tree = "└─ "
	}
	role := v.marks.role(v.dom.Name, d, li)
	if role != "" {
		// The marked range is drawn with heavy lines, so it shows without
		// colour too.
		tree = "┣━ "
		if last {
			tree = "┗━ "
		}
		b.WriteString(st.Warning.Render(tree))
	} else {
		b.WriteString(st.Tree.Render(tree))
	}

	// The row body is built as plain text first when selected so that the
	// reverse-video highlight covers it evenly.
	idx := ""
	if idxW > 0 {
		idx = common.PadRight(l.IndexString(d.Target), idxW)
	}
	name := common.PadRight(filepath.Base(l.Path), nameW)

	if l.Problem != "" {
		rest := common.Truncate("⚠ "+l.Problem, max(v.width-1-treeW-idxW-nameW-1, 0))
		if sel && v.focused {
			b.WriteString(st.Selected.Render(idx + name + " " + rest))
		} else {
			b.WriteString(st.Index.Render(idx) + st.Warning.Render(name) + " " + st.Warning.Render(rest))
		}
		return b.String()
	}

	var frac float64
	if l.VirtualSize > 0 {
		frac = float64(l.Allocation) / float64(l.VirtualSize)
	}
	full, empty := common.BarCells(frac, barW)
	size := common.PadLeft(model.FormatBytesShort(l.Allocation)+"/"+model.FormatBytesShort(l.VirtualSize), sizeW)
	if l.VirtualSize == 0 {
		size = common.PadLeft(model.FormatBytesShort(l.Allocation), sizeW)
	}
	format := common.PadRight(l.Format, fmtW)
	tags := common.Truncate(markTag(role)+v.layerTags(d, li), tagW)

	if sel && v.focused {
		b.WriteString(st.Selected.Render(idx + name + " " + full + empty + " " + size + " " + format + " " + tags))
		return b.String()
	}
	nameStyle := st.Bold
	if !sel {
		nameStyle = st.Plain
		if li == 0 {
			nameStyle = st.Bold
		}
	}
	b.WriteString(st.Index.Render(idx))
	b.WriteString(nameStyle.Render(name))
	b.WriteString(" ")
	b.WriteString(st.BarFull.Render(full))
	b.WriteString(st.BarEmpty.Render(empty))
	b.WriteString(" ")
	b.WriteString(size)
	b.WriteString(" ")
	b.WriteString(st.Format.Render(format))
	b.WriteString(" ")
	b.WriteString(v.styleTags(tags, d, li))
	return b.String()
}

// SetHealth shows a full check's verdicts (nil: discovery's only).
func (v *Model) SetHealth(h *model.DomainHealth) { v.health = h }

// LayerHealth is the verdict of the layer at li of d: from the last full
// check of this domain, else from what discovery read.
func (v *Model) LayerHealth(d *model.Disk, li int) *model.LayerHealth {
	h := &v.quick
	if v.health != nil && v.dom != nil && v.health.Domain == v.dom.Name {
		h = v.health
	}
	return h.LayerAt(d.Target, li, d.Layers[li].Path)
}

// healthMark is a layer's verdict as one glyph, so it reads without colour.
func healthMark(lh *model.LayerHealth) string {
	if lh == nil {
		return "?"
	}
	switch lh.Verdict {
	case model.VerdictBad:
		return "✗"
	case model.VerdictWarning:
		return "!"
	}
	return "✓"
}

// layerTags is the plain text after the format column: role, the snapshot
// that created the layer, internal snapshots, and header flags.
func (v *Model) layerTags(d *model.Disk, li int) string {
	l := &d.Layers[li]
	parts := []string{healthMark(v.LayerHealth(d, li))}
	if li == 0 {
		parts = append(parts, "active")
	} else if li == len(d.Layers)-1 {
		parts = append(parts, "base")
	}
	if l.Dirty {
		parts = append(parts, "dirty")
	}
	if l.Corrupt {
		parts = append(parts, "corrupt")
	}
	if l.CreatedBySnapshot != "" {
		parts = append(parts, "◆"+l.CreatedBySnapshot)
	}
	if len(l.InternalSnapshots) > 0 {
		parts = append(parts, "⊙"+strings.Join(l.InternalSnapshots, ","))
	}
	parts = append(parts, bitmapTag(l)...)
	return strings.Join(parts, " ")
}

func isHealthMark(t string) bool { return t == "✗" || t == "!" || t == "✓" || t == "?" }

// styleMark colours a health mark: a fault stands out, health does not.
func styleMark(st *common.Styles, t string) string {
	if t == "✗" || t == "!" {
		return st.Warning.Render(t)
	}
	return st.Dim.Render(t)
}

// styleTags colours the already truncated tag text by its leading words.
func (v *Model) styleTags(tags string, d *model.Disk, li int) string {
	st := v.common.Styles
	if tags == "" {
		return ""
	}
	var b strings.Builder
	for i, t := range strings.Split(tags, " ") {
		if i > 0 {
			b.WriteString(" ")
		}
		switch {
		case t == "▲TOP" || t == "▼BASE" || t == "↓moves" || t == "▲TOP▼BASE":
			b.WriteString(st.Warning.Render(t))
		case i == 0 && isHealthMark(t):
			b.WriteString(styleMark(st, t))
		case t == "active" && i == 1 && li == 0:
			b.WriteString(st.ActiveTag.Render(t))
		case t == "base" && i == 1:
			b.WriteString(st.BaseTag.Render(t))
		case t == "dirty", t == "corrupt":
			b.WriteString(st.Warning.Render(t))
		case strings.HasPrefix(t, "◆"):
			b.WriteString(st.SnapTag.Render(t))
		case strings.HasPrefix(t, "⊙"), strings.HasPrefix(t, bitmapMark):
			b.WriteString(st.InternTag.Render(t))
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}

// info is the two lines under the chain describing the cursor row in full,
// since the rows themselves truncate.
func (v *Model) info() []string {
	st := v.common.Styles
	w := v.width
	var out []string
	d, l := v.Cursor()
	if v.infoH() == 3 {
		if d != nil && (v.marks.on(v.dom.Name, d.Target) || v.marks.shallow || v.marks.bwStep > 0) {
			out = append(out, st.Warning.Render(common.Truncate("── "+v.marks.status(v.dom.Name, d)+" ── c commit · p pull · x clear", w)))
		} else {
			out = append(out, st.Separator.Render(strings.Repeat("─", w)))
		}
	}
	if d == nil {
		return out
	}
	if l == nil {
		src := d.Source
		if src == "" {
			src = "(no source)"
		}
		parts := []string{d.Target}
		if d.SourceType != "" {
			parts = append(parts, d.SourceType)
		}
		parts = append(parts, src)
		return append(out, st.Bold.Render(common.Truncate("disk "+d.Target+checkpointInfo(v.dom, d.Target), w)), st.Dim.Render(common.TruncateLeft(strings.Join(parts, " "), w)))
	}
	// Most telling first: the row above already shows sizes, and the next
	// row is the backing image.
	// Position first: in a long chain the disk header has scrolled away.
	li := v.rows[v.scroll.Cursor].layer
	parts := []string{d.Target + " layer " + strconv.Itoa(li+1) + "/" + strconv.Itoa(len(d.Layers))}
	if l.Problem != "" {
		parts = append(parts, "⚠ "+l.Problem)
	}
	if l.CreatedBySnapshot != "" {
		parts = append(parts, "created by snapshot "+l.CreatedBySnapshot)
	}
	if len(l.InternalSnapshots) > 0 {
		parts = append(parts, "internal snapshots "+strings.Join(l.InternalSnapshots, ", "))
	}
	parts = append(parts, bitmapInfo(l)...)
	parts = append(parts, "virtual "+model.FormatBytesShort(l.VirtualSize), "allocated "+model.FormatBytesShort(l.Allocation))
	if l.ClusterSize > 0 {
		parts = append(parts, "cluster "+model.FormatBytesShort(l.ClusterSize))
	}
	if l.DataFile != "" {
		parts = append(parts, "data file "+l.DataFile)
	}
	if l.BackingFile != "" {
		bf := "backing " + l.BackingFile
		if l.BackingFormat != "" {
			bf += " (" + l.BackingFormat + ")"
		}
		parts = append(parts, bf)
	}
	line := common.Truncate(strings.Join(parts, " · "), w)
	if l.Problem != "" {
		line = st.Warning.Render(line)
	} else {
		line = st.Dim.Render(line)
	}
	return append(out, st.Bold.Render(common.TruncateLeft(l.Path, w)), line)
}

// SetJobs tells the view which block jobs run now.
func (v *Model) SetJobs(jobs []model.Job) { v.live = jobs }

// liveJob finds the running job of the shown domain's disk.
func (v *Model) liveJob(disk string) (model.Job, bool) {
	for _, j := range v.live {
		if j.Domain == v.dom.Name && j.Disk == disk && j.Phase.Live() {
			return j, true
		}
	}
	return model.Job{}, false
}

// JobEndedMsg says a block job ended; Domain is its domain as re-read
// afterwards. A finished job used up the range on its disk: a half-kept
// range would silently aim the next c or p somewhere new.
type JobEndedMsg struct {
	Job    model.Job
	Domain *model.Domain
}

func (v *Model) jobEnded(msg JobEndedMsg) {
	if v.marks.on(msg.Job.Domain, msg.Job.Disk) {
		v.marks.clear()
	} else {
		v.marks.forget(msg.Domain)
	}
}

// Take hands the root the plan dialog a commit or pull asked for.
func (v *Model) Take() (dialog.Dialog, bool) { return v.opener.Take() }

// MoveTo puts the cursor on row i.
func (v *Model) MoveTo(i int) { v.scroll.MoveTo(i) }

// Offset is the first row on screen.
func (v *Model) Offset() int { return v.scroll.Offset }

// MarkAt moves the cursor to row i and marks its layer, the top first,
// then the base (the mouse's way to mark).
func (v *Model) MarkAt(i int) {
	v.scroll.MoveTo(i)
	if d, l := v.Cursor(); l != nil {
		v.marks.markNext(v.dom.Name, d.Target, l.Path)
	}
}

// SelectLayer puts the cursor on the first layer whose file is named
// name; it reports whether there is one.
func (v *Model) SelectLayer(name string) bool {
	for i, r := range v.rows {
		if r.layer >= 0 && filepath.Base(v.dom.Disks[r.disk].Layers[r.layer].Path) == name {
			v.scroll.MoveTo(i)
			return true
		}
	}
	return false
}

// Keys are the view's range keys, for the full help.
func (v *Model) Keys() RangeKeys { return v.rkeys }

// Marks is the marked range: its disk and the paths of its top and base
// (empty when not marked).
func (v *Model) Marks() (disk, top, base string) { return v.marks.disk, v.marks.top, v.marks.base }

// Marked reports whether a top or a base is marked.
func (v *Model) Marked() bool { return v.marks.any() }

// Mark marks path on domain's disk as the top (or the base), as t and b
// do on the cursor's layer.
func (v *Model) Mark(domain, disk, path string, base bool) { v.marks.mark(domain, disk, path, base) }

var _ common.Component = (*Model)(nil)
