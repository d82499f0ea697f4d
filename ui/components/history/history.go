// Package history is the History tab: what virtchain changed on the
// selected domain, from the journal, oldest first, with the equivalent
// commands of the operation under the cursor.
package history

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/scroll"
)

// LoadedMsg is a read of the journal for Domain.
type LoadedMsg struct {
	Domain string
	Ops    []model.HistoryOp
	Err    error
	seq    int
}

// Model is the History tab.
type Model struct {
	common  *common.Common
	width   int
	height  int
	focused bool

	dom    *model.Domain // the one last shown: a new pointer is a new read
	domain string
	ops    []model.HistoryOp
	err    string
	// stale says the journal must be read again (another domain, or the
	// domain re-read after a change); loading that a read is under way,
	// seq which one counts.
	stale, loading bool
	seq            int
	scroll         scroll.Scroller
}

// detailH is the separator plus the lines about the operation under the
// cursor: who and where, what, the commands, what to look at.
const detailH = 7

const (
	colTime   = 19 // 2006-01-02 15:04:05
	colOp     = 18
	colResult = 12
)

// New builds an empty tab.
func New(c *common.Common) *Model { return &Model{common: c} }

// SetDomain shows d's history. A domain other than the one shown, or the
// same one read again (the root hands a new pointer after each read, as
// after an operation), makes the journal due for a read.
func (v *Model) SetDomain(d *model.Domain) {
	if d == v.dom {
		return
	}
	name := ""
	if d != nil {
		name = d.Name
	}
	if name != v.domain {
		v.ops, v.err = nil, ""
		v.scroll.SetCount(0)
	}
	v.dom, v.domain, v.stale = d, name, d != nil
}

// Load reads the journal in a Cmd if it is due; nil otherwise.
func (v *Model) Load() tea.Cmd {
	if !v.stale || v.domain == "" {
		return nil
	}
	v.stale, v.loading = false, true
	v.seq++
	b, ctx, domain, seq := v.common.Backend, v.common.Ctx, v.domain, v.seq
	return func() tea.Msg {
		ops, err := b.History(ctx, domain)
		return LoadedMsg{Domain: domain, Ops: ops, Err: err, seq: seq}
	}
}

// Reload makes the journal due again (the refresh key).
func (v *Model) Reload() { v.stale = v.domain != "" }

// Ops is what the tab shows.
func (v *Model) Ops() []model.HistoryOp { return v.ops }

// Selected is the operation under the cursor, or nil.
func (v *Model) Selected() *model.HistoryOp {
	if len(v.ops) == 0 {
		return nil
	}
	return &v.ops[v.scroll.Cursor]
}

func (v *Model) SetFocus(f bool) { v.focused = f }

func (v *Model) SetSize(w, h int) {
	v.width, v.height = w, h
	v.scroll.SetHeight(v.listH())
}

func (v *Model) listH() int { return max(v.height-1-v.infoH(), 1) }

func (v *Model) infoH() int {
	if v.height >= detailH+4 {
		return detailH
	}
	return 0
}

func (v *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case LoadedMsg:
		if msg.Domain != v.domain || msg.seq != v.seq {
			return nil // an older read, or another domain's
		}
		v.loading = false
		if msg.Err != nil {
			v.err = msg.Err.Error()
			return nil
		}
		v.err, v.ops = "", msg.Ops
		v.scroll.SetCount(len(v.ops))
		v.scroll.MoveTo(len(v.ops) - 1) // the newest, as a log reads
	case tea.KeyPressMsg:
		v.scroll.Navigate(v.common.KeyMap, msg)
	case tea.MouseWheelMsg:
		v.scroll.Wheel(msg)
	}
	return nil
}

func (v *Model) ShortHelp() []key.Binding {
	km := v.common.KeyMap
	return []key.Binding{km.Move, km.Refresh, km.Left, km.Help, km.Quit}
}

func (v *Model) FullHelp() [][]key.Binding {
	km := v.common.KeyMap
	return [][]key.Binding{{km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End}}
}

func (v *Model) View() string {
	st := v.common.Styles
	if v.domain == "" {
		return common.Block([]string{st.Dim.Render("  no domain selected")}, v.width, v.height)
	}
	whatW := max(v.width-2-colTime-1-colOp-1-colResult-1, 0)
	head := "  " + common.PadRight("TIME", colTime) + " " + common.PadRight("OPERATION", colOp) + " " +
		common.PadRight("RESULT", colResult) + " WHAT"
	lines := []string{st.ColumnHead.Render(common.Truncate(head, v.width))}
	switch {
	case v.err != "":
		lines = append(lines, st.Error.Render(common.Truncate("  cannot read the journal: "+v.err, v.width)))
	case len(v.ops) == 0 && v.loading:
		lines = append(lines, st.Dim.Render("  reading the journal…"))
	case len(v.ops) == 0:
		lines = append(lines, st.Dim.Render(common.Truncate("  virtchain has changed nothing on "+v.domain+" yet", v.width)))
	}
	from, to := v.scroll.Visible()
	for i := from; i < to && len(v.ops) > 0; i++ {
		lines = append(lines, v.row(&v.ops[i], i == v.scroll.Cursor, whatW))
	}
	for len(lines) < v.height-v.infoH() {
		lines = append(lines, "")
	}
	if v.infoH() > 0 {
		lines = append(lines, v.info()...)
	}
	return common.Block(lines, v.width, v.height)
}

func (v *Model) row(o *model.HistoryOp, sel bool, whatW int) string {
	st := v.common.Styles
	result := string(o.State)
	text := common.PadRight(o.Time.Local().Format("2006-01-02 15:04:05"), colTime) + " " +
		common.PadRight(common.Truncate(o.Op, colOp), colOp) + " " + common.PadRight(result, colResult) + " " +
		common.Truncate(model.OneLine(o.Summary), whatW)
	if sel && v.focused {
		return "▸" + st.Selected.Render(" "+text)
	}
	mark := "  "
	if sel {
		mark = "▸ "
	}
	switch o.State {
	case model.StateError, model.StateInterrupted:
		return mark + st.Error.Render(text)
	case model.StateStarted, model.StateInProgress, model.StateCancelled:
		return mark + st.Warning.Render(text)
	}
	return mark + text
}

// info is the operation under the cursor: outcome, who and where, then
// what to look at (an unended one) or its equivalent commands.
func (v *Model) info() []string {
	st := v.common.Styles
	w := v.width
	out := []string{st.Separator.Render(strings.Repeat("─", w))}
	o := v.Selected()
	if o == nil {
		return out
	}
	out = append(out, common.Truncate(o.Outcome(), w),
		st.Dim.Render(common.Truncate("by "+o.User+" on "+o.Host+" · "+model.OneLine(o.Summary), w)))
	var more []string
	if !o.Finished() && len(o.Check) > 0 {
		for _, c := range o.Check {
			more = append(more, "look at: "+c)
		}
	}
	for _, c := range o.Virsh {
		more = append(more, "$ "+c)
	}
	for i, m := range more {
		if len(out) == detailH-1 && i < len(more)-1 {
			out = append(out, st.Dim.Render(common.Truncate("… 'virtchain history --virsh "+o.Domain+"' has the rest", w)))
			break
		}
		out = append(out, st.Dim.Render(common.Truncate(m, w)))
	}
	return out
}

var _ common.Component = (*Model)(nil)
