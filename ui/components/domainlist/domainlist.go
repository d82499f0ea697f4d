// Package domainlist is the pane of every domain with its state and
// chain counts, filterable with /.
package domainlist

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/forms"
	"virtchain/ui/components/scroll"
)

// Model is the left pane: every domain with its state and chain counts,
// filterable with `/`.
type Model struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	domains []model.Domain
	// shown are the rows on screen: an index into domains for a domain
	// that passes the filter, or -(h+1) for the header row of hosts[h].
	shown []int
	// hosts, when set (SetHosts), group the domains under a header row
	// per host; hostOf[i] is the host of domains[i].
	hosts  []Host
	hostOf []int
	nameW  int // longest domain name, so columns sit next to the names
	scroll scroll.Scroller

	filter    textinput.Model
	filtering bool // the filter input has the keyboard

	// opener holds the form or plan a key opened, for the root.
	opener dialog.Opener
	// saveFiles remembers the save file typed for each domain, so restore
	// offers it.
	saveFiles map[string]string
	// health[i] is domains[i]'s verdict from what discovery shows
	// (model.CheckDomain without extra facts); checked holds the last full
	// check of a domain (SetHealth), by host: two hosts may each have a
	// domain of that name.
	health  []model.Verdict
	checked map[hostDomain]model.Verdict
}

// hostDomain is a domain of host h (0 with one host).
type hostDomain struct {
	h    int
	name string
}

// Fixed list columns; the name gets what is left. FixedWidth is their sum.
const (
	colState   = 8
	colDisks   = 3
	colChain   = 5
	colSnaps   = 4
	colSaved   = 5
	colHealth  = 1
	FixedWidth = 3 + colState + 1 + colDisks + 1 + colChain + 1 + colSnaps + 1 + colSaved + 1 + colHealth + 1
)

// New builds the list; it starts focused.
func New(c *common.Common) *Model {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "filter by name"
	ti.CharLimit = 128
	ti.SetStyles(c.Styles.Input)
	return &Model{common: c, filter: ti, focused: true, saveFiles: map[string]string{}}
}

// SetDomains replaces the data and keeps the cursor on the same domain by
// name, so a refresh never makes the selection jump.
func (l *Model) SetDomains(ds []model.Domain) {
	name := l.SelectedName()
	l.hosts, l.hostOf = nil, nil
	l.setDomains(ds)
	l.SelectName(name)
}

func (l *Model) setDomains(ds []model.Domain) {
	l.domains = ds
	l.nameW = 0
	l.health = make([]model.Verdict, len(ds))
	for i := range ds {
		l.nameW = max(l.nameW, common.TextWidth(ds[i].Name))
		l.health[i] = model.CheckDomain(ds[i], model.CheckFacts{}).Verdict
	}
	l.applyFilter()
}

func (l *Model) applyFilter() {
	q := strings.ToLower(strings.TrimSpace(l.filter.Value()))
	l.shown = l.shown[:0]
	header := -1
	for i, d := range l.domains {
		if l.hosts != nil {
			for header < l.hostOf[i] {
				// Hosts without domains (connecting, unreachable) keep
				// their header row: it says why.
				header++
				l.shown = append(l.shown, -(header + 1))
			}
		}
		if q == "" || strings.Contains(strings.ToLower(d.Name), q) || l.hostMatches(i, q) {
			l.shown = append(l.shown, i)
		}
	}
	for l.hosts != nil && header < len(l.hosts)-1 {
		header++
		l.shown = append(l.shown, -(header + 1))
	}
	l.scroll.SetCount(len(l.shown))
}

// hostMatches reports whether q is in domain i's HOST:DOMAIN, with
// several hosts: typing a host's name keeps its domains, HOST:DOM one.
func (l *Model) hostMatches(i int, q string) bool {
	if l.hosts == nil {
		return false
	}
	return strings.Contains(strings.ToLower(l.hosts[l.hostOf[i]].Name+":"+l.domains[i].Name), q)
}

// SelectName puts the cursor on the first domain called name (on any
// host); SelectIn picks the host too.
func (l *Model) SelectName(name string) bool { return l.SelectIn(-1, name) }

// SelectIn puts the cursor on domain name of host h (-1: any host).
func (l *Model) SelectIn(h int, name string) bool {
	for row, i := range l.shown {
		if i >= 0 && l.domains[i].Name == name && (h < 0 || l.host(i) == h) {
			l.scroll.MoveTo(row)
			if l.hosts != nil {
				l.showHeader()
			}
			return true
		}
	}
	return false
}

func (l *Model) host(i int) int {
	if l.hostOf == nil {
		return 0
	}
	return l.hostOf[i]
}

// Selected is the domain under the cursor, or nil when none is shown.
func (l *Model) Selected() *model.Domain {
	if len(l.shown) == 0 || l.shown[l.scroll.Cursor] < 0 {
		return nil
	}
	return &l.domains[l.shown[l.scroll.Cursor]]
}

// SelectedHost is the host of the domain under the cursor (0 with one
// host), or -1 when no domain is selected.
func (l *Model) SelectedHost() int {
	if len(l.shown) == 0 || l.shown[l.scroll.Cursor] < 0 {
		return -1
	}
	return l.host(l.shown[l.scroll.Cursor])
}

// SelectedName is the name under the cursor, or "".
func (l *Model) SelectedName() string {
	if d := l.Selected(); d != nil {
		return d.Name
	}
	return ""
}

// Filtering reports whether the filter input has the keyboard; the root
// then sends it every key, including q.
func (l *Model) Filtering() bool { return l.filtering }

func (l *Model) SetFocus(f bool) { l.focused = f }

func (l *Model) SetSize(w, h int) {
	l.width, l.height = w, h
	l.filter.SetWidth(max(w-3, 1))
	l.scroll.SetHeight(l.rowsHeight())
}

// rowsHeight is the space left for domain rows under the title and column
// header (and the filter line when it shows).
func (l *Model) rowsHeight() int {
	h := l.height - 2
	if l.ShowFilterLine() {
		h--
	}
	return max(h, 1)
}

func (l *Model) ShowFilterLine() bool {
	return l.filtering || l.filter.Value() != ""
}

// RowAt maps a y offset inside the pane to a shown row, for mouse clicks.
func (l *Model) RowAt(y int) (int, bool) {
	top := 2
	if l.ShowFilterLine() {
		top++
	}
	row := l.scroll.Offset + y - top
	if y < top || row >= len(l.shown) {
		return 0, false
	}
	return row, true
}

func (l *Model) Update(msg tea.Msg) tea.Cmd {
	km := l.common.KeyMap
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if l.filtering {
			switch {
			case key.Matches(msg, km.ClearFilter):
				l.filtering = false
				l.filter.Blur()
				l.filter.SetValue("")
				l.refilter()
				return nil
			case key.Matches(msg, km.AcceptFilter), msg.String() == "down", msg.String() == "up":
				l.filtering = false
				l.filter.Blur()
				l.scroll.SetHeight(l.rowsHeight())
				return nil
			}
			var cmd tea.Cmd
			l.filter, cmd = l.filter.Update(msg)
			l.refilter()
			return cmd
		}
		if cmd, ok := forms.RunAction(l.common, msg, forms.DomainActions(&l.opener, l.common, l.Selected(), l.saveFiles)); ok {
			return cmd
		}
		switch {
		case key.Matches(msg, km.Filter):
			l.filtering = true
			l.scroll.SetHeight(l.rowsHeight())
			return l.filter.Focus()
		case key.Matches(msg, km.ClearFilter) && l.filter.Value() != "":
			l.filter.SetValue("")
			l.refilter()
			return nil
		}
		from := l.scroll.Cursor
		if l.scroll.Navigate(km, msg) {
			l.skipHeader(l.scroll.Cursor - from)
		}
	case tea.MouseWheelMsg:
		l.scroll.Wheel(msg)
		l.skipHeader(1)
	default:
		if l.filtering {
			var cmd tea.Cmd
			l.filter, cmd = l.filter.Update(msg)
			return cmd
		}
	}
	return nil
}

// skipHeader moves the cursor off a host's header row, on in the
// direction it went (d), else back: headers are never selected.
func (l *Model) skipHeader(d int) {
	if l.hosts == nil {
		return
	}
	step := 1
	if d < 0 {
		step = -1
	}
	for _, s := range []int{step, -step} {
		for r := l.scroll.Cursor; r >= 0 && r < len(l.shown); r += s {
			if l.shown[r] >= 0 {
				l.scroll.MoveTo(r)
				l.showHeader()
				return
			}
		}
	}
}

// showHeader scrolls up one row when the cursor is on its host's first
// domain and that host's header is just above the window, so the host of
// the selection is in sight.
func (l *Model) showHeader() {
	c := l.scroll.Cursor
	if c > 0 && c == l.scroll.Offset && l.shown[c-1] < 0 && l.rowsHeight() > 1 {
		l.scroll.Scroll(-1)
	}
}

// refilter re-applies the filter, staying on the same domain if it still
// matches.
func (l *Model) refilter() {
	name := l.SelectedName()
	l.applyFilter()
	l.scroll.SetHeight(l.rowsHeight())
	if !l.SelectName(name) {
		l.scroll.MoveTo(0)
		l.skipHeader(1)
	}
}

func (l *Model) ShortHelp() []key.Binding {
	km := l.common.KeyMap
	if l.filtering {
		return []key.Binding{km.AcceptFilter, km.ClearFilter}
	}
	return []key.Binding{km.Move, km.Right, km.Filter, km.NextFocus, km.Help, km.Quit}
}

func (l *Model) FullHelp() [][]key.Binding {
	km := l.common.KeyMap
	return [][]key.Binding{
		{km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End},
		{km.Right, km.Filter, km.AcceptFilter, km.ClearFilter},
	}
}

func (l *Model) View() string {
	st := l.common.Styles
	w := l.width
	lines := make([]string, 0, l.height)

	title := "Domains"
	count := strconv.Itoa(len(l.domains))
	if n := l.Matches(); n != len(l.domains) {
		count = strconv.Itoa(n) + "/" + count
	}
	if len(l.hosts) > 1 {
		title += " on " + strconv.Itoa(len(l.hosts)) + " hosts"
	}
	titleStyle := st.Dim
	if l.focused {
		titleStyle = st.PaneTitle
	}
	lines = append(lines, titleStyle.Render(common.Truncate(title+" ("+count+")", w)))
	if l.ShowFilterLine() {
		lines = append(lines, l.filter.View())
	}

	nameW := common.Clamp(l.nameW, 8, max(w-FixedWidth, 4))
	head := "   " + common.PadRight("DOMAIN", nameW) + " " + common.PadRight("STATE", colState) + " " +
		common.PadLeft("DSK", colDisks) + " " + common.PadLeft("CHAIN", colChain) + " " + common.PadLeft("SNAP", colSnaps) + " " + common.PadRight("SAVED", colSaved) + " " + common.PadRight("H", colHealth)
	lines = append(lines, st.ColumnHead.Render(common.Truncate(head, w)))

	if l.Matches() == 0 && l.hosts == nil {
		msg := "no domains"
		if len(l.domains) > 0 {
			msg = "no domain matches the filter"
		}
		lines = append(lines, st.Dim.Render(common.Truncate("  "+msg, w)))
	}
	from, to := l.scroll.Visible()
	for row := from; row < to; row++ {
		if i := l.shown[row]; i < 0 {
			lines = append(lines, l.renderHost(-i-1))
			continue
		}
		lines = append(lines, l.renderRow(l.shown[row], row == l.scroll.Cursor, nameW))
	}
	return common.Block(lines, w, l.height)
}

func (l *Model) renderRow(i int, selected bool, nameW int) string {
	d := &l.domains[i]
	st := l.common.Styles
	glyph, stStyle := stateGlyph(st, d.State)
	if d.Problem != "" {
		glyph, stStyle = "⚠", st.Warning
	}
	saved := ""
	if d.ManagedSave {
		saved = "saved"
	}
	snaps := strconv.Itoa(len(d.Snapshots))
	text := common.PadRight(common.TruncateMiddle(d.Name, nameW), nameW) + " " + common.PadRight(string(d.State), colState) + " " +
		common.PadLeft(strconv.Itoa(len(d.Disks)), colDisks) + " " + common.PadLeft(strconv.Itoa(d.DeepestChain()), colChain) + " " +
		common.PadLeft(snaps, colSnaps) + " " + common.PadRight(saved, colSaved) + " " + common.PadRight(HealthWord(l.Health(i)), colHealth)
	text = common.Truncate(text, l.width-3)
	mark := " "
	if selected {
		mark = "▸"
	}
	switch {
	case selected && l.focused:
		return mark + st.Selected.Render(glyph+" "+text)
	case selected:
		return mark + stStyle.Render(glyph) + " " + st.Bold.Render(text)
	default:
		return mark + stStyle.Render(glyph) + " " + text
	}
}

// SetHealth records the verdict of a full check of host h's domain name
// (h is 0 with one host); it stands until the next one.
func (l *Model) SetHealth(h int, name string, v model.Verdict) {
	if l.checked == nil {
		l.checked = map[hostDomain]model.Verdict{}
	}
	l.checked[hostDomain{h, name}] = v
}

// Health is domains[i]'s verdict: its last full check, else what
// discovery shows.
func (l *Model) Health(i int) model.Verdict {
	if v, ok := l.checked[hostDomain{l.host(i), l.domains[i].Name}]; ok {
		return v
	}
	return l.health[i]
}

// HealthWord is a verdict in the list's one-cell H column, the glyphs
// the chain view marks layers with.
func HealthWord(v model.Verdict) string {
	switch v {
	case model.VerdictBad:
		return "✗"
	case model.VerdictWarning:
		return "!"
	case model.VerdictOK:
		return "✓"
	}
	return "-"
}

// stateGlyph gives each state a distinct shape, so state reads without
// colour too.
func stateGlyph(st *common.Styles, s model.DomainState) (string, common.Style) {
	switch s {
	case model.StateRunning, model.StateBlocked:
		return "●", st.Running
	case model.StatePaused, model.StatePMSuspended, model.StateShutdown:
		return "◐", st.Paused
	case model.StateCrashed:
		return "✖", st.Crashed
	default:
		return "○", st.Shutoff
	}
}

// MoveTo puts the cursor on row i of the shown domains.
func (l *Model) MoveTo(i int) {
	l.scroll.MoveTo(i)
	l.skipHeader(1)
}

// Shown is how many rows the list has: the domains that pass the filter,
// and with several hosts their header rows.
func (l *Model) Shown() int { return len(l.shown) }

// Matches is how many domains pass the filter.
func (l *Model) Matches() int {
	n := 0
	for _, i := range l.shown {
		if i >= 0 {
			n++
		}
	}
	return n
}

// NameWidth is the width of the longest domain name.
func (l *Model) NameWidth() int { return l.nameW }

// FilterValue is the text of the filter.
func (l *Model) FilterValue() string { return l.filter.Value() }

// Take hands the root the form or plan a key opened.
func (l *Model) Take() (dialog.Dialog, bool) { return l.opener.Take() }

var _ common.Component = (*Model)(nil)
