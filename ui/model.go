package ui

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/domainlist"
	"virtchain/ui/components/jobs"
)

// Messages carrying backend results into Update. Each is produced by a
// tea.Cmd; Update and View never call the backend.
type (
	// discoveredMsg is the result of a full Discover.
	discoveredMsg struct {
		domains []model.Domain
		err     error
	}
	// domainMsg is the result of re-reading one domain after an event.
	domainMsg struct {
		name string
		dom  model.Domain
		err  error
	}
	// eventMsg is one libvirt event from Backend.Events of the connection
	// of generation gen (connState).
	eventMsg struct {
		ev  model.Event
		gen int
	}
	// eventsClosedMsg says the event stream ended (connection closed).
	eventsClosedMsg struct{ gen int }
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
	detail *detail
	focus  focus

	help     help.Model
	showHelp bool
	// dialog, when set, covers the body and gets every key (package
	// dialog); opener holds the one the root itself asks for.
	dialog  dialog.Dialog
	opener  dialog.Opener
	spinner spinner.Model

	err      string // footer error, cleared on the next key
	info     string // footer result of a hidden op, cleared on the next key
	notice   string // footer notice, e.g. events stopped
	inflight map[string]bool
	dirty    map[string]bool

	// saveFiles remembers the save file typed for each domain, so restore
	// offers it.
	saveFiles map[string]string

	jobs *jobs.Model // the block-jobs panel

	conn connState // lost and reconnected (conn.go)

}

// New builds the root model. Run uses it; tests drive it directly.
func New(ctx context.Context, b Backend, opts Options) *Model {
	if ctx == nil {
		ctx = context.Background()
	}
	st := common.NewStyles(opts.noColor())
	c := &common.Common{Ctx: ctx, Backend: b, Styles: st, KeyMap: common.DefaultKeyMap()}
	h := help.New()
	h.Styles = st.Help
	m := &Model{
		common:   c,
		opts:     opts,
		list:     domainlist.New(c),
		detail:   newDetail(c),
		jobs:     jobs.New(c),
		help:     h,
		spinner:  spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		inflight: map[string]bool{},
		dirty:    map[string]bool{},
		loading:  true,

		saveFiles: map[string]string{},
	}
	m.setFocus(focusList)
	return m
}

// Init starts discovery, the event stream and the loading spinner.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.discover(), m.waitEvent(), m.spinner.Tick, m.initJobs(), m.waitLost())
}

// discover reads every domain.
func (m *Model) discover() tea.Cmd {
	b, ctx := m.common.Backend, m.common.Ctx
	return func() tea.Msg {
		ds, err := b.Discover(ctx)
		return discoveredMsg{domains: ds, err: err}
	}
}

// rediscover re-reads one domain after an event.
func (m *Model) rediscover(name string) tea.Cmd {
	b, ctx := m.common.Backend, m.common.Ctx
	return func() tea.Msg {
		d, err := b.DiscoverDomain(ctx, name)
		return domainMsg{name: name, dom: d, err: err}
	}
}

// waitEvent blocks on the event channel in a Cmd and is issued again after
// each event, so nothing polls while nothing happens.
func (m *Model) waitEvent() tea.Cmd {
	ch := m.common.Backend.Events()
	if ch == nil {
		return nil
	}
	ctx, gen := m.common.Ctx, m.conn.gen
	return func() tea.Msg {
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsClosedMsg{gen: gen}
			}
			return eventMsg{ev: ev, gen: gen}
		case <-ctx.Done():
			return nil
		}
	}
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
	return m, cmd
}

// takeDialogs applies the dialog changes asked for in this Update: by
// the open dialog, by the detail pane, by the jobs panel, or by the root
// itself.
func (m *Model) takeDialogs() {
	takers := []dialog.Taker{m.detail, m.jobs, &m.opener}
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
		return m.discovered(msg)
	case domainMsg:
		return m.domainRead(msg)
	case eventMsg:
		return m.event(msg)
	case eventsClosedMsg:
		if msg.gen == m.conn.gen {
			m.notice = "libvirt events stopped: ctrl+r refreshes by hand"
		}
		return nil
	case common.ErrorMsg:
		if msg.Err != nil {
			m.err = model.OneLine(msg.Err.Error())
		}
		return nil
	case jobs.Msg, common.SteerMsg:
		return m.updateJobs(msg)
	case afterJobMsg:
		return m.afterJob(msg)
	case connMsg:
		return m.updateConn(msg)
	case dialog.OpenMsg:
		m.setDialog(msg.D)
		return nil
	case dialog.CloseMsg:
		m.setDialog(nil)
		return nil
	case dialog.DoneMsg:
		return m.opDone(msg)
	case spinner.TickMsg:
		return m.tick(msg)
	case tea.KeyPressMsg, tea.MouseClickMsg, tea.MouseWheelMsg:
		return m.input(msg)
	}
	// Anything else goes to the open dialog (its Cmds' results), or to
	// the list (cursor blink of the filter input).
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	return m.list.Update(msg)
}

// discovered installs a full discovery, or says why it failed.
func (m *Model) discovered(msg discoveredMsg) tea.Cmd {
	m.loading = false
	if msg.err != nil {
		if m.conn.lost || errors.Is(msg.err, model.ErrConnectionLost) {
			m.err = m.hostErrText(msg.err) // the reconnect reads again
			return nil
		}
		m.err = "discovery on " + m.common.Backend.URI() + " failed: " + model.OneLine(msg.err.Error()) + " (ctrl+r to retry)"
		return nil
	}
	first := !m.loaded
	m.loaded = true
	m.setDomains(msg.domains)
	if first && m.opts.Domain != "" {
		if m.list.SelectName(m.opts.Domain) {
			m.syncDetail()
			m.setFocus(focusDetail)
		} else {
			m.err = model.NoDomain(m.opts.Domain).Error()
		}
	}
	return nil
}

// domainRead installs one re-read domain, and reads it again when events
// came in meanwhile.
func (m *Model) domainRead(msg domainMsg) tea.Cmd {
	delete(m.inflight, msg.name)
	if msg.err != nil {
		delete(m.dirty, msg.name)
		// The domain may be gone (undefined, or a transient one that
		// stopped): a full read settles which domains exist. Not while
		// the connection is lost: the reconnect reads everything.
		if !m.loading && !m.conn.lost {
			m.loading = true
			return tea.Batch(m.discover(), m.spinner.Tick)
		}
		return nil
	}
	m.putDomain(msg.dom)
	if m.dirty[msg.name] {
		delete(m.dirty, msg.name)
		m.inflight[msg.name] = true
		return m.rediscover(msg.name)
	}
	return nil
}

// event re-reads the domain an event is about, coalescing bursts.
func (m *Model) event(msg eventMsg) tea.Cmd {
	if msg.gen != m.conn.gen {
		return nil // a lost connection's stream: the new one is waited on
	}
	cmds := []tea.Cmd{m.waitEvent()}
	if msg.ev.Detail != "" { // a full filesystem: say it at once
		m.err = model.OneLine(msg.ev.Detail)
	}
	name := msg.ev.Domain
	switch {
	case name == "":
	case m.inflight[name]:
		// Coalesce a burst of events into one more read.
		m.dirty[name] = true
	default:
		m.inflight[name] = true
		cmds = append(cmds, m.rediscover(name))
	}
	return tea.Batch(cmds...)
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

// input sends keys and the mouse to the open dialog, else to the panes.
func (m *Model) input(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		m.err, m.info = "", ""
		if m.dialog != nil {
			if msg.String() == "ctrl+c" {
				return tea.Quit
			}
			return m.dialog.Update(msg)
		}
		return m.handleKey(msg)
	case tea.MouseClickMsg:
		m.err = ""
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

func (m *Model) toDialog(msg tea.Msg) tea.Cmd {
	if m.dialog == nil {
		return nil
	}
	return m.dialog.Update(msg)
}

// opDone re-reads what an op changed and shows its result: in the dialog
// that ran it, or in the footer when that dialog was hidden.
func (m *Model) opDone(msg dialog.DoneMsg) tea.Cmd {
	var cmds []tea.Cmd
	for _, name := range msg.Reread {
		if name == "" {
			if !m.loading {
				m.loading = true
				cmds = append(cmds, m.discover(), m.spinner.Tick)
			}
			continue
		}
		if m.inflight[name] {
			m.dirty[name] = true
			continue
		}
		m.inflight[name] = true
		cmds = append(cmds, m.rediscover(name))
	}
	if d, ok := m.dialog.(*dialog.OpDialog); ok && d.ID() == msg.ID {
		cmds = append(cmds, d.Update(msg))
		return tea.Batch(cmds...)
	}
	if msg.Err != nil {
		m.err = msg.Title + ": " + m.hostErrText(msg.Err)
	} else if msg.Result != "" {
		m.info = "✔ " + msg.Result
	}
	return tea.Batch(cmds...)
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
	if cmd, ok := m.opKey(msg); ok {
		return cmd
	}

	if m.focus == focusList {
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
		return m.refresh(), true
	case key.Matches(msg, km.NextFocus):
		m.cycleFocus(1)
	case key.Matches(msg, km.PrevFocus):
		m.cycleFocus(-1)
	case key.Matches(msg, km.Chains):
		m.detail.SetTab(tabChains)
		m.setFocus(focusDetail)
	case key.Matches(msg, km.Snapshots):
		m.detail.SetTab(tabSnapshots)
		m.setFocus(focusDetail)
	default:
		return nil, false
	}
	return nil, true
}

// refresh reads every domain and looks for block jobs again.
func (m *Model) refresh() tea.Cmd {
	if m.conn.lost {
		return common.NotConnected(m.common)
	}
	if m.loading {
		return nil
	}
	m.loading = true
	// libvirt sends no event when virsh starts a block job: look now.
	return tea.Batch(m.discover(), m.spinner.Tick, m.jobs.Rescan())
}

// cycleFocus walks list -> Chains -> Snapshots -> list.
func (m *Model) cycleFocus(d int) {
	stops := []struct {
		f focus
		t tab
	}{{focusList, 0}, {focusDetail, tabChains}, {focusDetail, tabSnapshots}}
	cur := 0
	if m.focus == focusDetail {
		cur = 1 + int(m.detail.active)
	}
	next := (cur + d + len(stops)) % len(stops)
	if stops[next].f == focusDetail {
		m.detail.SetTab(stops[next].t)
	}
	m.setFocus(stops[next].f)
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
		m.detail.click(mo.X-x0, mo.Y-y0)
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

// setDomains installs a full discovery result.
func (m *Model) setDomains(ds []model.Domain) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	m.domains = ds
	m.list.SetDomains(m.domains)
	m.jobs.SetDomains(m.domains)
	m.layout()
	m.syncDetail()
}

// putDomain replaces or adds one re-read domain.
func (m *Model) putDomain(d model.Domain) {
	ds := make([]model.Domain, 0, len(m.domains)+1)
	found := false
	for _, old := range m.domains {
		if old.Name == d.Name {
			ds = append(ds, d)
			found = true
		} else {
			ds = append(ds, old)
		}
	}
	if !found {
		ds = append(ds, d)
	}
	m.setDomains(ds)
}

// syncDetail points the detail pane at the list's selection.
func (m *Model) syncDetail() {
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
	bodyH := max(m.height-2, 3) // header and footer
	m.wide = m.width >= wideMin
	if m.wide {
		m.listW = common.Clamp(m.list.NameWidth()+domainlist.FixedWidth+1, 36, m.width*2/5)
		m.listH = bodyH
	} else {
		m.listW = m.width
		extra := 2
		if m.list.ShowFilterLine() {
			extra++
		}
		m.listH = common.Clamp(m.list.Shown()+extra, 4, max(bodyH/3+1, 4))
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
