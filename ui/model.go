package ui

import (
	"context"
	"fmt"
	"strconv"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/domainlist"
	"virtchain/ui/components/history"
	"virtchain/ui/components/jobs"
	"virtchain/ui/components/status"
	"virtchain/ui/pages/domain"
)

// focus says which pane has the keyboard.
type focus int

const (
	focusList focus = iota
	focusDetail
)

// wideMin is the width from which the list sits beside the detail pane;
// below it the list sits above, so both keep readable columns at 80x24.
const wideMin = 120

// Model is the root of the Bubble Tea program.
type Model struct {
	common *common.Common
	opts   Options
	// crashed holds a panic caught in Update or View: the program quits and
	// Run returns it as one line instead of Bubble Tea's stack trace.
	crashed error

	width, height int
	wide          bool
	listW, listH  int // list pane size in the current layout

	domains []model.Domain
	loaded  bool
	loading bool

	list   *domainlist.Model
	detail *domain.Model
	focus  focus

	help     help.Model
	showHelp bool
	// dialog, when set, covers the body and gets every key (package
	// dialog); opener holds the one the root itself asks for.
	dialog  dialog.Dialog
	opener  dialog.Opener
	spinner spinner.Model

	status *status.Model // the title bar and the footer

	jobs *jobs.Model // the block-jobs panel
	// jobsCommon is the panel's Common: with several hosts its Backend is
	// mux, which sends each job's actions to the job's host.
	jobsCommon *common.Common

	// hosts are the connections shown, each read, followed and
	// reconnected on its own (hosts.go, conn.go); domains is all of
	// theirs, host by host.
	hosts []*host
	// mux merges the hosts' block jobs for the panel (several hosts).
	mux *jobMux
	// openedDomain says Options.Domain was found and opened.
	openedDomain bool
	// sel is the selection the settle timer last saw (focus.go).
	sel selection
}

// New builds the root model on one open connection. Run uses it; tests
// drive it directly.
func New(ctx context.Context, b Backend, opts Options) *Model {
	return NewHosts(ctx, []Host{{Backend: b}}, opts)
}

// NewHosts builds the root model on several hosts. Hosts without a
// Backend are dialed in Init, each in its own Cmd. With one host the
// screen is the single-host one.
func NewHosts(ctx context.Context, hosts []Host, opts Options) *Model {
	if ctx == nil {
		ctx = context.Background()
	}
	st := common.NewStyles(opts.noColor())
	c := &common.Common{Ctx: ctx, Styles: st, KeyMap: common.DefaultKeyMap()}
	h := help.New()
	h.Styles = st.Help
	m := &Model{
		common:  c,
		opts:    opts,
		list:    domainlist.New(c),
		detail:  domain.New(c),
		status:  status.New(c),
		help:    h,
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		loading: true,
	}
	var names []string
	for _, hd := range hosts {
		m.hosts = append(m.hosts, newHost(hd))
		names = append(names, hd.Name)
	}
	jc := c
	if m.multi() {
		// The panel follows every host's jobs; its actions go to the
		// host each job's name says.
		m.mux = newJobMux(ctx, names)
		jcc := *c
		jcc.Backend = m.mux
		jc = &jcc
		m.status.SetTitle(strconv.Itoa(len(hosts)) + " hosts")
	}
	m.jobs, m.jobsCommon = jobs.New(jc), jc
	c.Backend = m.hosts[0].b
	m.routeBackend()
	for _, hs := range m.hosts {
		hs.loading = hs.b != nil
	}
	m.setFocus(focusList)
	return m
}

// Init starts, for each host, its dial or its discovery, event stream and
// loss watch; the loading spinner; and the job stream.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.spinner.Tick, m.initJobs()}
	for h, hs := range m.hosts {
		if hs.b == nil {
			cmds = append(cmds, m.dial(h))
			continue
		}
		cmds = append(cmds, m.hostUp(h))
	}
	if m.multi() {
		m.hostsChanged() // the header rows show before any host answers
	}
	return tea.Batch(cmds...)
}

// Update handles one message, then applies a dialog change it asked for.
func (m *Model) Update(msg tea.Msg) (_ tea.Model, cmd tea.Cmd) {
	if m.crashed != nil {
		return m, tea.Quit
	}
	defer func() {
		if r := recover(); r != nil {
			m.crashed = fmt.Errorf("internal error in the terminal UI: %v (please report it)", r)
			cmd = tea.Quit
		}
	}()
	cmd = m.update(msg)
	m.takeDialogs()
	// The History tab's journal read, when this Update made one due.
	if hc := m.detail.HistoryCmd(); hc != nil {
		cmd = tea.Batch(cmd, hc)
	}
	return m, cmd
}

// takeDialogs applies the dialog changes asked for in this Update: by
// the open dialog, by the detail pane, by the jobs panel, or by the root
// itself.
func (m *Model) takeDialogs() {
	takers := []dialog.Taker{m.list, m.detail, m.jobs, &m.opener}
	if m.dialog != nil {
		takers = append([]dialog.Taker{m.dialog}, takers...)
	}
	for _, t := range takers {
		if d, ok := t.Take(); ok {
			m.setDialog(d)
		}
	}
}

func (m *Model) setDialog(d dialog.Dialog) {
	m.dialog = d
	if d != nil {
		m.showHelp = false
		m.layout()
	}
}

// update routes one message: results of the host to the data handlers,
// input to the dialog or the panes, the rest to the open dialog.
func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return nil
	case discoveredMsg:
		return tea.Batch(m.discovered(msg), m.readAfterLoad(msg.h))
	case domainMsg:
		return m.domainRead(msg)
	case eventMsg:
		return m.event(msg)
	case eventsClosedMsg, dialedMsg, redialMsg, muxAttachedMsg, versionsMsg:
		return m.updateHost(msg)
	case common.ErrorMsg:
		m.status.Update(msg)
		return nil
	case domain.HealthMsg:
		if msg.Err == nil {
			m.list.SetHealth(msg.Host, msg.Domain, msg.Health.Verdict)
		}
		return m.detail.Update(msg)
	case jobs.Msg, common.SteerMsg:
		return m.updateJobs(msg)
	case afterJobMsg:
		return m.afterJob(msg)
	case connMsg:
		return m.updateConn(msg)
	case dialog.OpenMsg, dialog.CloseMsg:
		return m.openOrClose(msg)
	case dialog.DoneMsg:
		return m.opDone(msg)
	case history.LoadedMsg:
		return m.detail.Update(msg)
	case spinner.TickMsg:
		return m.tick(msg)
	case tea.KeyPressMsg, tea.MouseClickMsg, tea.MouseWheelMsg:
		cmd := m.input(msg)
		return tea.Batch(cmd, m.selectionMoved())
	case tea.FocusMsg, tea.BlurMsg, selectedMsg:
		return m.updateFocus(msg)
	}
	// Anything else goes to the open dialog (its Cmds' results), or to
	// the list (cursor blink of the filter input).
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	return m.list.Update(msg)
}

// openOrClose opens the dialog a component asked for, or closes it.
func (m *Model) openOrClose(msg tea.Msg) tea.Cmd {
	if o, ok := msg.(dialog.OpenMsg); ok {
		m.setDialog(o.D)
		return nil
	}
	m.setDialog(nil)
	return nil
}

// updateFocus re-reads the selected domain when the terminal regains
// focus or the cursor settles on a domain; losing focus changes nothing.
func (m *Model) updateFocus(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.FocusMsg:
		return m.focused()
	case selectedMsg:
		return m.settled(msg)
	}
	return nil
}

// updateHost handles what one host's connection reports: its dial, its
// events ending, its job stream re-attaching, its versions.
func (m *Model) updateHost(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case eventsClosedMsg:
		if msg.gen == m.hosts[msg.h].conn.gen {
			m.status.Update(common.NoticeMsg{Text: "libvirt events stopped: ctrl+r refreshes by hand"})
		}
		return nil
	case dialedMsg:
		return m.dialed(msg)
	case redialMsg:
		return m.dial(msg.h)
	case muxAttachedMsg:
		// Live rows of this host's jobs that its new connection did not
		// find ended while it was lost; no event will say how.
		if n := m.jobs.DropUnseen(msg.host+":", msg.found); n > 0 {
			m.status.AddInfo("reconnected", strconv.Itoa(n)+" block job(s) on "+msg.host+" ended while the connection was lost: check their chains")
		}
		m.detail.SetJobs(m.detailJobs())
		return nil
	case versionsMsg:
		if hs := m.hosts[msg.h]; msg.gen == hs.conn.gen {
			hs.libvirtV, hs.qemuV = msg.libvirt, msg.hyperv
			m.hostsChanged()
		}
		return nil
	}
	return nil
}

// tick turns the header's spinner while something loads; other spinners'
// ticks belong to the open dialog.
func (m *Model) tick(msg spinner.TickMsg) tea.Cmd {
	if msg.ID != m.spinner.ID() {
		return m.toDialog(msg)
	}
	if !m.loading {
		return nil // stop ticking once idle
	}
	var cmd tea.Cmd
	m.spinner, cmd = m.spinner.Update(msg)
	return cmd
}

func (m *Model) toDialog(msg tea.Msg) tea.Cmd {
	if m.dialog == nil {
		return nil
	}
	return m.dialog.Update(msg)
}

// syncDetail points the detail pane at the list's selection.
func (m *Model) syncDetail() {
	m.routeBackend()
	if m.multi() {
		m.detail.SetJobs(m.detailJobs()) // the jobs of the selected domain's host
	}
	m.detail.SetDomain(m.list.Selected())
	m.layoutDetail()
}

// layout splits the screen. Wide: list | detail. Narrow: list above the
// detail, sized to the domain count but never more than a third.
func (m *Model) layout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	m.help.SetWidth(m.width)
	m.status.SetSize(m.width, 1)
	bodyH := max(m.height-2, 3) // header and footer
	m.wide = m.width >= wideMin
	if m.wide {
		want := max(m.list.NameWidth()+domainlist.FixedWidth+1, m.list.HeaderWidth())
		m.listW = common.Clamp(want, 36, m.width*2/5)
		m.listH = bodyH
	} else {
		m.listW = m.width
		extra := 2
		if m.list.ShowFilterLine() {
			extra++
		}
		most := bodyH/3 + 1
		if m.multi() {
			most = bodyH / 2 // a header row per host takes room too
		}
		m.listH = common.Clamp(m.list.Shown()+extra, 4, max(most, 4))
	}
	m.list.SetSize(m.listW, m.listH)
	m.jobs.SetSize(m.width, bodyH)
	m.layoutDetail()
	if m.dialog != nil {
		m.dialog.SetSize(m.width, bodyH)
	}
}

func (m *Model) layoutDetail() {
	if m.width <= 0 {
		return
	}
	bodyH := max(m.height-2, 3)
	if m.wide {
		m.detail.SetSize(m.width-m.listW-2, bodyH)
	} else {
		m.detail.SetSize(m.width, max(bodyH-m.listH-1, 2))
	}
}
