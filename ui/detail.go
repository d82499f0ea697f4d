package ui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/chainview"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/snaptree"
)

// tab names the detail pane's tabs.
type tab int

const (
	tabChains tab = iota
	tabSnapshots
	tabCount
)

func (t tab) String() string {
	switch t {
	case tabChains:
		return "Chains"
	case tabSnapshots:
		return "Snapshots"
	}
	return "?"
}

// detail is the right pane: a tab bar over the selected domain's chains or
// snapshot tree. Later tabs (jobs) and tab-local actions plug in here.
type detail struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	dom    *model.Domain
	active tab
	chains *chainview.Model
	snaps  *snaptree.Model
}

func newDetail(c *common.Common) *detail {
	return &detail{common: c, chains: chainview.New(c), snaps: snaptree.New(c)}
}

// SetDomain shows d (nil for none). The pointer must stay valid until the
// next SetDomain; the root owns the slice it points into.
func (p *detail) SetDomain(d *model.Domain) {
	if p.dom == nil || d == nil || p.dom.Name != d.Name {
		// A different domain: start its views from the top.
		p.chains.SetDomain(nil)
		p.snaps.SetDomain(nil)
	}
	p.dom = d
	p.chains.SetDomain(d)
	p.snaps.SetDomain(d)
}

func (p *detail) SetFocus(f bool) {
	p.focused = f
	p.chains.SetFocus(f && p.active == tabChains)
	p.snaps.SetFocus(f && p.active == tabSnapshots)
}

// SetTab switches the tab.
func (p *detail) SetTab(t tab) {
	p.active = t
	p.SetFocus(p.focused)
}

func (p *detail) current() common.Component {
	if p.active == tabSnapshots {
		return p.snaps
	}
	return p.chains
}

func (p *detail) SetSize(w, h int) {
	p.width, p.height = w, h
	bodyH := max(h-p.headH(), 1)
	p.chains.SetSize(w, bodyH)
	p.snaps.SetSize(w, bodyH)
}

// headH is the tab bar, plus a warning line when discovery of the domain
// went wrong partway.
func (p *detail) headH() int {
	if p.dom != nil && p.dom.Problem != "" {
		return 2
	}
	return 1
}

func (p *detail) Update(msg tea.Msg) tea.Cmd {
	if _, ok := msg.(chainview.JobEndedMsg); ok {
		return p.chains.Update(msg) // whichever tab shows
	}
	return p.current().Update(msg)
}

// SetJobs tells the chain view which block jobs run now.
func (p *detail) SetJobs(jobs []model.Job) { p.chains.SetJobs(jobs) }

// markAt marks the chain layer at y below the tab bar, as a right click
// does; it reports whether there was a layer.
func (p *detail) markAt(y int) bool {
	row, ok := p.chains.RowAt(y)
	if ok {
		p.chains.MarkAt(row)
	}
	return ok
}

// Take hands the root the dialog a tab asked for: a snapshot form or
// plan, or a commit or pull plan.
func (p *detail) Take() (dialog.Dialog, bool) {
	if d, ok := p.snaps.Take(); ok {
		return d, ok
	}
	return p.chains.Take()
}

// click handles a left click at (x, y) inside the pane.
func (p *detail) click(x, y int) {
	if y == 0 {
		for t, span := range p.tabSpans() {
			if x >= span[0] && x < span[1] {
				p.SetTab(tab(t))
			}
		}
		return
	}
	y -= p.headH()
	switch p.active {
	case tabChains:
		if row, ok := p.chains.RowAt(y); ok {
			p.chains.MoveTo(row)
		}
	case tabSnapshots:
		if row, ok := p.snaps.RowAt(y); ok {
			p.snaps.MoveTo(row)
		}
	}
}

func (p *detail) tabLabel(t tab) string {
	label := t.String()
	if p.dom != nil && t == tabSnapshots {
		label += " " + strconv.Itoa(len(p.dom.Snapshots))
	}
	return label
}

// tabSpans are the x ranges of the tab labels in the tab bar, for clicks.
func (p *detail) tabSpans() [tabCount][2]int {
	var spans [tabCount][2]int
	x := common.TextWidth(p.titleText()) + 1
	for t := tab(0); t < tabCount; t++ {
		w := common.TextWidth(p.tabLabel(t)) + 2 // padding
		spans[t] = [2]int{x, x + w}
		x += w + 1
	}
	return spans
}

func (p *detail) titleText() string {
	if p.dom == nil {
		return ""
	}
	return common.Truncate(p.dom.Name, max(p.width/3, 8))
}

func (p *detail) ShortHelp() []key.Binding { return p.current().ShortHelp() }

func (p *detail) FullHelp() [][]key.Binding {
	km := p.common.KeyMap
	return append(p.current().FullHelp(), []key.Binding{km.Left, km.NextFocus, km.PrevFocus, km.Chains, km.Snapshots})
}

func (p *detail) View() string {
	st := p.common.Styles
	var b strings.Builder
	title := p.titleText()
	if p.focused {
		b.WriteString(st.PaneTitle.Render(title))
	} else {
		b.WriteString(st.Dim.Render(title))
	}
	b.WriteString(" ")
	used := common.TextWidth(title) + 1
	for t := tab(0); t < tabCount; t++ {
		label := p.tabLabel(t)
		if t == p.active {
			b.WriteString(st.TabActive.Render(label))
		} else {
			b.WriteString(st.TabInactive.Render(label))
		}
		b.WriteString(" ")
		used += common.TextWidth(label) + 3
	}
	if p.dom != nil {
		summary := domainSummary(p.dom)
		if room := p.width - used - 1; room >= 8 {
			s := common.Truncate(summary, room)
			b.WriteString(common.Spaces(room - common.TextWidth(s) + 1))
			b.WriteString(st.Dim.Render(s))
		}
	}
	head := common.FitLine(b.String(), p.width)
	if p.dom != nil && p.dom.Problem != "" {
		head += "\n" + common.FitLine(st.Warning.Render(common.Truncate("⚠ "+p.dom.Problem, p.width)), p.width)
	}
	return head + "\n" + p.current().View()
}

// domainSummary is the one-line state of a domain for the tab bar.
func domainSummary(d *model.Domain) string {
	parts := []string{string(d.State)}
	if !d.Persistent {
		parts = append(parts, "transient")
	}
	if d.Autostart {
		parts = append(parts, "autostart")
	}
	if d.ManagedSave {
		parts = append(parts, "managed save")
	}
	if d.CurrentSnapshot != "" {
		parts = append(parts, "current "+d.CurrentSnapshot)
	}
	return strings.Join(parts, " · ")
}
