// Package dialog is the modal layer. A Dialog covers the whole body (everything between the
// header and the footer) and gets every key while it is open; the footer
// shows its ShortHelp. Libvirt events and re-reads keep flowing underneath,
// so the panes are current when it closes.
//
// Opening a dialog: a component keeps an Opener and calls its Open(d) in
// any Update; the root takes it (Take) as soon as that Update returns, so
// the very next key already reaches the new dialog. Close closes it the
// same way. (The Cmds Open(d) and Close do the same one round trip later:
// keys typed in between still reach the old dialog.)
// Messages the root does not know (results of a dialog's own Cmds, spinner
// ticks of other spinners) go to the open dialog.
//
// Changing something goes through an Op, which is always: plan (a Cmd that
// reads the host) -> the plan on screen (steps, kept files, files leaving
// the chain, bytes, stale snapshots, users, warnings, equivalent virsh
// command) -> y/enter runs it, n/esc cancels -> spinner -> the result, or
// the error in full with its one-line hint. Afterwards the domains in
// Op.Reread (default: the plan's Domain) are re-read. For example:
//
//	return dialog.Start(o, c, dialog.Planned("Delete snapshot fresh of vm1",
//		func(ctx context.Context) (*model.SnapshotDeletePlan, error) { return b.PlanSnapshotDelete(ctx, req) },
//		func(p *model.SnapshotDeletePlan) model.Plan { return p.Plan },
//		func(ctx context.Context, p *model.SnapshotDeletePlan) error { return b.DeleteSnapshot(ctx, p) },
//		func(*model.SnapshotDeletePlan) string { return "Deleted snapshot fresh of vm1." }))
//
// Start refuses on a read-only or lost connection (footer error, nothing
// runs). Other entry points: Confirm (a plan already in hand -> confirm ->
// run, e.g. an abort or a pivot) and PlanLines (the plan rendered as
// lines, for a dialog of one's own).
// A running op can be hidden with esc; its result then lands in the footer.
package dialog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
)

// Dialog is a modal layer over the body. View renders exactly the size
// given by SetSize; Take hands the root the dialog it asked to open in
// its last Update (itself replaced, or closed).
type Dialog interface {
	common.Component
	Taker
}

// Taker is a component that may ask for a dialog in its Update.
type Taker interface {
	// Take returns the dialog change asked for, if any (nil closes), and
	// forgets it.
	Take() (Dialog, bool)
}

// Opener is a component's dialog change waiting for the root, which takes
// it at the end of the Update that asked for it. Components embed it.
type Opener struct {
	set  bool
	next Dialog // nil closes
}

// Open opens d over the body when the current Update returns.
func (o *Opener) Open(d Dialog) { *o = Opener{set: true, next: d} }

// Close closes the open dialog when the current Update returns.
func (o *Opener) Close() { *o = Opener{set: true} }

// Take returns the pending dialog change, if any, and clears it.
func (o *Opener) Take() (Dialog, bool) {
	s := *o
	*o = Opener{}
	return s.next, s.set
}

// OpenMsg opens D over the body, replacing any open dialog.
type OpenMsg struct{ D Dialog }

// CloseMsg closes the open dialog.
type CloseMsg struct{}

// Open is a Cmd that opens d.
func Open(d Dialog) tea.Cmd {
	return func() tea.Msg { return OpenMsg{D: d} }
}

// Close is a Cmd that closes the open dialog.
func Close() tea.Msg { return CloseMsg{} }

// RunFunc carries out what was planned and returns the line that says
// what happened ("Deleted snapshot fresh of vm1.").
type RunFunc func(ctx context.Context) (string, error)

// Op is one change the user asked for.
type Op struct {
	// Title names the change: "Revert lab-test2 to fresh".
	Title string
	// Plan reads the host (inside a Cmd) and returns the plan to show and
	// the function that runs exactly that plan. A refusal is an error.
	Plan func(ctx context.Context) (model.Plan, RunFunc, error)
	// Reread names the domains to read again after the op ran; empty means
	// the plan's Domain, or every domain when that is empty too.
	Reread []string
	// Back, when set, is the dialog (a form) that cancel and a failed plan
	// return to, with what the user typed still there.
	Back Dialog
}

// Planned builds an Op from a typed planner, the part of its plan a
// person reads, the runner, and the success line.
func Planned[P any](title string, plan func(context.Context) (P, error), view func(P) model.Plan,
	run func(context.Context, P) error, done func(P) string) Op {
	return Op{Title: title, Plan: func(ctx context.Context) (model.Plan, RunFunc, error) {
		p, err := plan(ctx)
		if err != nil {
			return model.Plan{}, nil, err
		}
		return view(p), func(ctx context.Context) (string, error) {
			if err := run(ctx, p); err != nil {
				return "", err
			}
			return done(p), nil
		}, nil
	}}
}

// opPlannedMsg is the result of an Op's Plan.
type opPlannedMsg struct {
	id   int64
	plan model.Plan
	run  RunFunc
	err  error
}

// DoneMsg is the end of a run: Result on success, else Err. The root
// re-reads Reread (every domain when it holds "") and shows the result in
// the dialog that ran it, or in the footer when that dialog was hidden.
type DoneMsg struct {
	ID     int64
	Title  string
	Result string
	Err    error
	Reread []string
}

var opSeq atomic.Int64

type opPhase int

const (
	phasePlanning opPhase = iota
	phaseConfirm
	phaseRunning
	phaseDone
	phaseFailed
)

// OpDialog walks one Op through its phases.
type OpDialog struct {
	Opener
	common        *common.Common
	width, height int
	id            int64
	op            Op
	phase         opPhase
	plan          model.Plan
	run           RunFunc
	ran           bool // the run started (a failure is then the run's)
	result        string
	err           error
	spin          spinner.Model
	offset        int // scroll of the content lines
	keys          dialogKeys
}

type dialogKeys struct {
	Confirm, Cancel, Close, Hide, Replan, Scroll key.Binding
}

func newDialogKeys() dialogKeys {
	return dialogKeys{
		Confirm: common.Bind([]string{"y", "enter"}, "y/enter", "confirm"),
		Cancel:  common.Bind([]string{"n", "esc"}, "n/esc", "cancel"),
		Close:   common.Bind([]string{"enter", "esc", "q"}, "enter/esc", "close"),
		Hide:    common.Bind([]string{"esc"}, "esc", "hide (keeps running)"),
		Replan:  common.Bind([]string{"r"}, "r", "plan again"),
		Scroll:  common.Bind([]string{"up", "down", "k", "j", "pgup", "pgdown"}, "↑↓/jk", "scroll"),
	}
}

func newOpDialog(c *common.Common, op Op, phase opPhase) *OpDialog {
	return &OpDialog{
		common: c, op: op, phase: phase, id: opSeq.Add(1),
		spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		keys: newDialogKeys(),
	}
}

// ReadOnly is the footer error for a change asked on a read-only
// connection.
func ReadOnly(c *common.Common, what string) tea.Cmd {
	// Short enough for an 80-column footer; the header names the URI.
	var r *model.Refusal
	errors.As(model.RefuseReadOnly(what), &r)
	return common.ErrCmd(r.Render(c.KeyMap.RemedyWords))
}

// Start plans op in a Cmd behind a spinner, then asks for confirmation;
// o opens the dialog.
func Start(o *Opener, c *common.Common, op Op) tea.Cmd {
	if c.Lost() {
		return common.NotConnected(c)
	}
	if c.Backend.ReadOnly() {
		return ReadOnly(c, strings.ToLower(op.Title))
	}
	d := newOpDialog(c, op, phasePlanning)
	o.Open(d)
	return tea.Batch(d.planCmd(), d.spin.Tick)
}

// Confirm shows a plan already in hand; y runs run.
func Confirm(o *Opener, c *common.Common, title string, plan model.Plan, run RunFunc, reread ...string) tea.Cmd {
	if c.Lost() {
		return common.NotConnected(c)
	}
	if c.Backend.ReadOnly() {
		return ReadOnly(c, strings.ToLower(title))
	}
	d := newOpDialog(c, Op{Title: title, Reread: reread}, phaseConfirm)
	d.plan, d.run = plan, run
	o.Open(d)
	return nil
}

func (d *OpDialog) planCmd() tea.Cmd {
	ctx, id, plan := d.common.Ctx, d.id, d.op.Plan
	return func() tea.Msg {
		p, run, err := plan(ctx)
		return opPlannedMsg{id: id, plan: p, run: run, err: err}
	}
}

func (d *OpDialog) runCmd() tea.Cmd {
	ctx, id, run, title := d.common.Ctx, d.id, d.run, d.op.Title
	reread := d.op.Reread
	if len(reread) == 0 {
		reread = []string{d.plan.Domain} // "" means every domain
	}
	return func() tea.Msg {
		res, err := run(ctx)
		return DoneMsg{ID: id, Title: title, Result: res, Err: err, Reread: reread}
	}
}

func (d *OpDialog) SetSize(w, h int) { d.width, d.height = w, h }

func (d *OpDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case opPlannedMsg:
		if msg.id != d.id || d.phase != phasePlanning {
			return nil
		}
		d.offset = 0
		if msg.err != nil {
			d.phase, d.err = phaseFailed, msg.err
			return nil
		}
		d.phase, d.plan, d.run = phaseConfirm, msg.plan, msg.run
		return nil
	case DoneMsg:
		if msg.ID != d.id {
			return nil
		}
		d.offset = 0
		if msg.Err != nil {
			d.phase, d.err = phaseFailed, msg.Err
		} else {
			d.phase, d.result = phaseDone, msg.Result
		}
		return nil
	case spinner.TickMsg:
		if d.phase != phasePlanning && d.phase != phaseRunning {
			return nil // stop ticking once nothing runs
		}
		var cmd tea.Cmd
		d.spin, cmd = d.spin.Update(msg)
		return cmd
	case tea.MouseWheelMsg:
		if msg.Mouse().Button == tea.MouseWheelUp {
			d.scroll(-3)
		} else {
			d.scroll(3)
		}
		return nil
	case tea.KeyPressMsg:
		return d.key(msg)
	}
	return nil
}

func (d *OpDialog) key(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "up", "k":
		d.scroll(-1)
		return nil
	case "down", "j":
		d.scroll(1)
		return nil
	case "pgup":
		d.scroll(-d.contentH())
		return nil
	case "pgdown", " ":
		d.scroll(d.contentH())
		return nil
	}
	switch d.phase {
	case phasePlanning:
		if key.Matches(msg, d.keys.Cancel) {
			return d.leave() // the plan's answer is dropped: its id is gone
		}
	case phaseConfirm:
		switch {
		case key.Matches(msg, d.keys.Confirm):
			d.phase, d.ran = phaseRunning, true
			return tea.Batch(d.runCmd(), d.spin.Tick)
		case key.Matches(msg, d.keys.Cancel):
			return d.leave()
		}
	case phaseRunning:
		if key.Matches(msg, d.keys.Hide) {
			d.Close()
		}
	case phaseFailed:
		if d.op.Plan != nil && key.Matches(msg, d.keys.Replan) {
			d.phase, d.err, d.offset, d.ran = phasePlanning, nil, 0, false
			return tea.Batch(d.planCmd(), d.spin.Tick)
		}
		if key.Matches(msg, d.keys.Close) {
			if d.ran {
				d.Close() // it ran and failed: the form is done with
				return nil
			}
			return d.leave()
		}
	case phaseDone:
		d.Close() // any key
	}
	return nil
}

// DoneFor reports a dialog showing the result of an op on domain's disk.
func (d *OpDialog) DoneFor(domain, disk string) bool {
	return d.phase == phaseDone && d.plan.Domain == domain && d.plan.Target == disk
}

// leave goes back to the form the op came from, or closes.
func (d *OpDialog) leave() tea.Cmd {
	if d.op.Back != nil {
		d.Open(d.op.Back)
	} else {
		d.Close()
	}
	return nil
}

func (d *OpDialog) scroll(n int) {
	d.offset = common.Clamp(d.offset+n, 0, max(len(d.content())-d.contentH(), 0))
}

// contentH is the room under the title line and above the prompt line.
func (d *OpDialog) contentH() int { return max(d.height-3, 1) }

func (d *OpDialog) ShortHelp() []key.Binding {
	k := d.keys
	switch d.phase {
	case phasePlanning:
		return []key.Binding{k.Cancel}
	case phaseConfirm:
		return []key.Binding{k.Confirm, k.Cancel, k.Scroll}
	case phaseRunning:
		return []key.Binding{k.Hide}
	case phaseFailed:
		closeKey := k.Close
		if !d.ran && d.op.Back != nil {
			closeKey = common.Short(k.Close, "back to the form")
		}
		if d.op.Plan != nil {
			return []key.Binding{closeKey, k.Replan, k.Scroll}
		}
		return []key.Binding{closeKey, k.Scroll}
	}
	return []key.Binding{common.Bind([]string{"enter"}, "any key", "closes")}
}

func (d *OpDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// content is the scrollable part of the dialog.
func (d *OpDialog) content() []string {
	st := d.common.Styles
	w := max(d.width-2, 10)
	switch d.phase {
	case phasePlanning:
		return []string{d.spin.View() + " planning: reading the domain and its files…"}
	case phaseConfirm:
		return PlanLines(st, d.tuiPlan(), w)
	case phaseRunning:
		return append([]string{d.spin.View() + " running…", ""}, PlanLines(st, d.tuiPlan(), w)...)
	case phaseDone:
		res := d.result
		if res == "" {
			res = "Done."
		}
		return common.Indent(common.WrapText("✔ "+res, w), st.Running)
	}
	return ErrorLines(st, d.err, w, d.common.KeyMap)
}

// tuiPlan is the plan with the remedies in its warnings worded for the
// TUI; the equivalent commands stay as they are.
func (d *OpDialog) tuiPlan() model.Plan {
	p := d.plan
	p.Warnings = d.plan.WarningsIn(d.common.KeyMap.RemedyWords)
	return p
}

// prompt is the pinned last line: what the keys do now.
func (d *OpDialog) prompt() string {
	st := d.common.Styles
	switch d.phase {
	case phaseConfirm:
		return st.Bold.Render("Carry out this plan?") + " " + st.Dim.Render("y/enter yes · n/esc no")
	case phaseRunning:
		return st.Dim.Render("esc hides this; the result then shows in the footer")
	case phaseDone:
		return st.Dim.Render("any key closes")
	case phaseFailed:
		switch {
		case !d.ran && d.op.Back != nil:
			return st.Dim.Render("nothing was changed · enter/esc back to the form · r plans again")
		case !d.ran:
			return st.Dim.Render("nothing was changed · enter/esc closes · r plans again")
		case d.op.Plan != nil:
			return st.Dim.Render("the domain is read again · enter/esc closes · r plans again")
		}
		return st.Dim.Render("the domain is read again · enter/esc closes")
	}
	return ""
}

func (d *OpDialog) View() string {
	st := d.common.Styles
	lines := make([]string, 0, d.height)
	lines = append(lines, st.TabActive.Render(common.Truncate(d.op.Title, max(d.width-2, 1))))
	content := d.content()
	h := d.contentH()
	off := common.Clamp(d.offset, 0, max(len(content)-h, 0))
	end := min(off+h, len(content))
	for _, l := range content[off:end] {
		lines = append(lines, " "+l)
	}
	for len(lines) < 1+h {
		lines = append(lines, "")
	}
	more := ""
	if end < len(content) {
		more = st.Dim.Render("  ↓ " + strconv.Itoa(len(content)-end) + " more lines")
	} else if off > 0 {
		more = st.Dim.Render("  ↑ scrolled")
	}
	lines = append(lines, more, " "+d.prompt())
	return common.Block(lines, d.width, d.height)
}

// ID tells the DoneMsg of this dialog's run from others.
func (d *OpDialog) ID() int64 { return d.id }

// Title names the op.
func (d *OpDialog) Title() string { return d.op.Title }

var _ Dialog = (*OpDialog)(nil)
