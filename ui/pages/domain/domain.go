// Package domain is the page of the selected domain: a tab bar over its
// chains (chainview) or its snapshot tree (snaptree).
package domain

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/chainview"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/history"
	"virtchain/ui/components/snaptree"
)

// Tab names the page's tabs.
type Tab int

// The tabs, in the tab bar's order.
const (
	TabChains Tab = iota
	TabSnapshots
	TabHistory
	TabHealth
	tabCount
)

// String is the tab's label.
func (t Tab) String() string {
	switch t {
	case TabChains:
		return "Chains"
	case TabSnapshots:
		return "Snapshots"
	case TabHistory:
		return "History"
	case TabHealth:
		return "Health"
	}
	return "?"
}

// Model is the detail pane: a tab bar over the selected domain's chains
// or snapshot tree.
type Model struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	dom    *model.Domain
	active Tab
	chains *chainview.Model
	snaps  *snaptree.Model
	hist   *history.Model

	// health is the last full check of dom (health.go); checking names
	// the domain a check runs for.
	health    *model.DomainHealth
	healthErr string
	checking  string
}

// New builds the page with no domain.
func New(c *common.Common) *Model {
	return &Model{common: c, chains: chainview.New(c), snaps: snaptree.New(c), hist: history.New(c)}
}

// SetDomain shows d (nil for none). The pointer must stay valid until the
// next SetDomain; the root owns the slice it points into.
func (p *Model) SetDomain(d *model.Domain) {
	if p.dom == nil || d == nil || p.dom.Name != d.Name {
		// A different domain: start its views from the top.
		p.chains.SetDomain(nil)
		p.snaps.SetDomain(nil)
		p.health, p.healthErr = nil, ""
		p.chains.SetHealth(nil)
	}
	p.dom = d
	p.chains.SetDomain(d)
	p.snaps.SetDomain(d)
	p.hist.SetDomain(d)
}

// HistoryCmd reads the journal for the History tab when it shows and its
// read is due (another domain, or the domain read again); nil otherwise.
func (p *Model) HistoryCmd() tea.Cmd {
	if p.active != TabHistory {
		return nil
	}
	return p.hist.Load()
}

// ReloadHistory makes the History tab read the journal again.
func (p *Model) ReloadHistory() { p.hist.Reload() }

func (p *Model) SetFocus(f bool) {
	p.focused = f
	p.chains.SetFocus(f && p.active == TabChains)
	p.snaps.SetFocus(f && p.active == TabSnapshots)
	p.hist.SetFocus(f && p.active == TabHistory)
}

// SetTab switches the tab.
func (p *Model) SetTab(t Tab) {
	p.active = t
	p.SetFocus(p.focused)
}

func (p *Model) current() common.Component {
	switch p.active {
	case TabSnapshots:
		return p.snaps
	case TabHistory:
		return p.hist
	}
	return p.chains
}

func (p *Model) SetSize(w, h int) {
	p.width, p.height = w, h
	bodyH := max(h-p.HeadH(), 1)
	p.chains.SetSize(w, bodyH)
	p.snaps.SetSize(w, bodyH)
	p.hist.SetSize(w, bodyH)
}

// HeadH is the tab bar, plus a warning line when discovery of the domain
// went wrong partway.
func (p *Model) HeadH() int {
	if p.dom != nil && p.dom.Problem != "" {
		return 2
	}
	return 1
}

func (p *Model) Update(msg tea.Msg) tea.Cmd {
	if h, ok := msg.(HealthMsg); ok {
		p.setHealth(h)
		return nil
	}
	switch msg.(type) {
	case chainview.JobEndedMsg:
		return p.chains.Update(msg) // whichever tab shows
	case history.LoadedMsg:
		return p.hist.Update(msg)
	}
	if p.active == TabHealth {
		return nil // the findings are read, not acted on
	}
	return p.current().Update(msg)
}

// SetJobs tells the chain view which block jobs run now.
func (p *Model) SetJobs(jobs []model.Job) { p.chains.SetJobs(jobs) }

// MarkAt marks the chain layer at y below the tab bar, as a right click
// does; it reports whether there was a layer.
func (p *Model) MarkAt(y int) bool {
	row, ok := p.chains.RowAt(y)
	if ok {
		p.chains.MarkAt(row)
	}
	return ok
}

// Take hands the root the dialog a tab asked for: a snapshot form or
// plan, or a commit or pull plan.
func (p *Model) Take() (dialog.Dialog, bool) {
	if d, ok := p.snaps.Take(); ok {
		return d, ok
	}
	return p.chains.Take()
}

// Click handles a left click at (x, y) inside the pane.
func (p *Model) Click(x, y int) {
	if y == 0 {
		for t, span := range p.TabSpans() {
			if x >= span[0] && x < span[1] {
				p.SetTab(Tab(t))
			}
		}
		return
	}
	y -= p.HeadH()
	switch p.active {
	case TabChains:
		if row, ok := p.chains.RowAt(y); ok {
			p.chains.MoveTo(row)
		}
	case TabSnapshots:
		if row, ok := p.snaps.RowAt(y); ok {
			p.snaps.MoveTo(row)
		}
	}
}

func (p *Model) tabLabel(t Tab) string {
	label := t.String()
	if p.dom != nil && t == TabSnapshots {
		label += " " + strconv.Itoa(len(p.dom.Snapshots))
	}
	return label
}

// TabSpans are the x ranges of the tab labels in the tab bar, for clicks.
func (p *Model) TabSpans() [tabCount][2]int {
	var spans [tabCount][2]int
	x := common.TextWidth(p.titleText()) + 1
	for t := Tab(0); t < tabCount; t++ {
		w := common.TextWidth(p.tabLabel(t)) + 2 // padding
		spans[t] = [2]int{x, x + w}
		x += w + 1
	}
	return spans
}

func (p *Model) titleText() string {
	if p.dom == nil {
		return ""
	}
	return common.Truncate(p.dom.Name, max(p.width/3, 8))
}

func (p *Model) ShortHelp() []key.Binding {
	if p.active == TabHealth {
		km := p.common.KeyMap
		return []key.Binding{km.Health, km.Chains, km.Snapshots, km.Left, km.Help, km.Quit}
	}
	return p.current().ShortHelp()
}

func (p *Model) FullHelp() [][]key.Binding {
	km := p.common.KeyMap
	return append(p.current().FullHelp(), []key.Binding{km.Left, km.NextFocus, km.PrevFocus, km.Chains, km.Snapshots, km.History, km.Health})
}

func (p *Model) View() string {
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
	for t := Tab(0); t < tabCount; t++ {
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
	if p.active == TabHealth {
		return head + "\n" + p.healthView(max(p.height-p.HeadH(), 1))
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

// Active is the tab shown.
func (p *Model) Active() Tab { return p.active }

// Domain is the domain shown, or nil.
func (p *Model) Domain() *model.Domain { return p.dom }

// Chains is the Chains tab.
func (p *Model) Chains() *chainview.Model { return p.chains }

// Snaps is the Snapshots tab.
func (p *Model) Snaps() *snaptree.Model { return p.snaps }

// History is the History tab.
func (p *Model) History() *history.Model { return p.hist }

var _ common.Component = (*Model)(nil)
