package ui

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"virtchain/model"
)

// jobKeys are the jobs panel's own keys.
type jobKeys struct {
	Toggle, Abort, Pivot, Faster, Slower, Clear, Cleanup, Close key.Binding
}

func newJobKeys() jobKeys {
	return jobKeys{
		Toggle:  bind([]string{"J"}, "J", "jobs panel"),
		Abort:   bind([]string{"a"}, "a", "abort"),
		Pivot:   bind([]string{"P"}, "P", "pivot, now or at READY"),
		Faster:  bind([]string{"+", "="}, "+/-", "bandwidth"),
		Slower:  bind([]string{"-"}, "-", "less bandwidth"),
		Clear:   bind([]string{"x"}, "x", "clear finished"),
		Cleanup: bind([]string{"m"}, "m", "clean stale metadata"),
		Close:   bind([]string{"esc"}, "esc/J", "close"),
	}
}

// jobRowH is the height of one job in the panel.
const jobRowH = 3

// jobsPanel lists every block job on the connection: the ones this
// virtchain started, the ones it found running at start (re-attach), and
// the ones virsh started. Progress arrives on the backend's job stream and
// is applied at most every redrawEvery, so the screen changes at most 10
// times a second while jobs run and not at all while none does.
type jobsPanel struct {
	common  *Common
	keys    jobKeys
	visible bool

	ch      <-chan model.Job
	started bool   // the stream was asked for
	err     string // why there is no stream
	// reattach is set after a reconnect: the next stream replaces what
	// the lost connection's stream showed.
	reattach bool

	jobs    []model.Job          // shown, live first
	pending map[string]model.Job // held back until the next redraw
	ticking bool
	tickGen int
	tickDue time.Time // when the pending tick fires
	applied time.Time // last time pending changes reached the screen
	now     func() time.Time

	cursor int
	bar    progress.Model
	// after marks finished commits and pulls whose domain may have stale
	// snapshot metadata; staleOf says which, from the domains as they are
	// now, so a cleanup done since shows at once.
	after   map[string]bool
	staleOf func(domain string) []string
}

func newJobsPanel(c *Common) *jobsPanel {
	full, empty := lipgloss.Color("4"), lipgloss.Color("8")
	if c.Styles.NoColor {
		full, empty = lipgloss.NoColor{}, lipgloss.NoColor{}
	}
	bar := progress.New(progress.WithColors(full), progress.WithFillCharacters('█', '░'), progress.WithoutPercentage())
	bar.EmptyColor = empty
	return &jobsPanel{
		common: c, keys: newJobKeys(), pending: map[string]model.Job{},
		now: time.Now, bar: bar, after: map[string]bool{},
		staleOf: func(string) []string { return nil },
	}
}

// live counts the jobs still running or at READY.
func (p *jobsPanel) live() int {
	n := 0
	for _, j := range p.jobs {
		if j.Phase.Live() {
			n++
		}
	}
	return n
}

// liveOn finds the running job of domain's disk, for the chain view's
// disk header.
func (p *jobsPanel) liveOn(domain, disk string) (model.Job, bool) {
	for _, j := range p.jobs {
		if j.Domain == domain && j.Disk == disk && j.Phase.Live() {
			return j, true
		}
	}
	return model.Job{}, false
}

func (p *jobsPanel) selected() (model.Job, bool) {
	if p.cursor < 0 || p.cursor >= len(p.jobs) {
		return model.Job{}, false
	}
	return p.jobs[p.cursor], true
}

// hold records a change for the next redraw. It returns the Cmd that
// brings it to the screen: none when a redraw is already due, else a
// tick timed so two redraws are at least redrawEvery apart.
func (p *jobsPanel) hold(j model.Job) tea.Cmd {
	p.pending[j.Key()] = j
	if p.ticking {
		return nil
	}
	p.ticking = true
	p.tickGen++
	wait := max(redrawEvery-p.now().Sub(p.applied), 0)
	p.tickDue = p.now().Add(wait)
	return jobTickCmd(p.tickGen, wait)
}

// flush applies the held changes; it returns the jobs that just ended.
func (p *jobsPanel) flush() []model.Job {
	p.ticking = false
	if len(p.pending) == 0 {
		return nil
	}
	p.applied = p.now()
	var ended []model.Job
	for k, j := range p.pending {
		delete(p.pending, k)
		i := p.index(k)
		switch {
		case i < 0:
			p.jobs = append(p.jobs, j)
		case p.jobs[i].Phase.Live() || j.Phase.Live():
			// A live update replaces the row; an old finished row gives way
			// to a new job on the same disk.
			p.jobs[i] = j
		default:
			continue // a late duplicate of a final state
		}
		if !j.Phase.Live() {
			ended = append(ended, j)
		}
	}
	p.sort()
	return ended
}

func (p *jobsPanel) index(key string) int {
	for i := range p.jobs {
		if p.jobs[i].Key() == key {
			return i
		}
	}
	return -1
}

// sort keeps live jobs first, each group by domain and disk, and the
// cursor on the same job.
func (p *jobsPanel) sort() {
	cur := ""
	if j, ok := p.selected(); ok {
		cur = j.Key()
	}
	sort.SliceStable(p.jobs, func(a, b int) bool {
		la, lb := p.jobs[a].Phase.Live(), p.jobs[b].Phase.Live()
		if la != lb {
			return la
		}
		return p.jobs[a].Key() < p.jobs[b].Key()
	})
	if i := p.index(cur); i >= 0 {
		p.cursor = i
	}
	p.cursor = clamp(p.cursor, 0, len(p.jobs)-1)
}

// dropUnseen removes the live rows a re-attach did not find: those jobs
// ended while the connection was lost, and no event will say how. It
// returns how many.
func (p *jobsPanel) dropUnseen(found []model.Job) int {
	seen := map[string]bool{}
	for _, j := range found {
		seen[j.Key()] = true
	}
	kept, n := p.jobs[:0], 0
	for _, j := range p.jobs {
		if j.Phase.Live() && !seen[j.Key()] {
			n++
			continue
		}
		kept = append(kept, j)
	}
	p.jobs = kept
	p.cursor = clamp(p.cursor, 0, len(p.jobs)-1)
	return n
}

// clearFinished drops the rows of jobs that ended.
func (p *jobsPanel) clearFinished() {
	kept := p.jobs[:0]
	for _, j := range p.jobs {
		if j.Phase.Live() {
			kept = append(kept, j)
		} else {
			delete(p.after, j.Key())
		}
	}
	p.jobs = kept
	p.cursor = clamp(p.cursor, 0, len(p.jobs)-1)
}

func (p *jobsPanel) ShortHelp() []key.Binding {
	k := p.keys
	out := []key.Binding{p.common.KeyMap.Move}
	if j, ok := p.selected(); ok {
		if j.Phase.Live() {
			out = append(out, k.Abort)
			if j.Kind == model.JobActiveCommit || j.Kind == model.JobCopy {
				out = append(out, k.Pivot)
			}
			if !j.Offline {
				out = append(out, k.Faster)
			}
		} else if p.after[j.Key()] && len(p.staleOf(j.Domain)) > 0 {
			out = append(out, k.Cleanup)
		}
	}
	return append(out, k.Clear, k.Close, p.common.KeyMap.Quit)
}

func (p *jobsPanel) FullHelp() [][]key.Binding {
	k := p.keys
	return [][]key.Binding{{k.Toggle, k.Abort, k.Pivot, k.Faster, k.Clear, k.Cleanup, k.Close}}
}

// render draws the panel in w x h cells.
func (p *jobsPanel) render(w, h int) string {
	st := p.common.Styles
	lines := make([]string, 0, h)
	title := "Block jobs"
	if n := p.live(); n > 0 {
		title += " · " + strconv.Itoa(n) + " running"
	}
	sub := "every job on " + p.common.Backend.URI() + ", virsh's too"
	if p.common.lost {
		sub = "connection lost: the jobs go on in QEMU, shown as last seen"
	}
	lines = append(lines, st.TabActive.Render(title)+" "+st.Dim.Render(truncate(sub, max(w-textWidth(title)-3, 0))))
	switch {
	case p.err != "":
		lines = append(lines, st.Error.Render(truncate("✖ "+p.err, w)))
	case len(p.jobs) == 0:
		lines = append(lines, "", st.Dim.Render(truncate("  no block jobs. In the Chains tab mark a range (t top, b base), then c commits or p pulls.", w)))
	}
	room := max((h-1)/jobRowH, 1)
	off := 0
	if p.cursor >= room {
		off = p.cursor - room + 1
	}
	for i := off; i < len(p.jobs) && i < off+room; i++ {
		lines = append(lines, p.renderJob(p.jobs[i], i == p.cursor, w)...)
	}
	return block(lines, w, h)
}

// renderJob is three lines: who and what phase; the bar with bytes, rate,
// ETA and limit; the range or the error.
func (p *jobsPanel) renderJob(j model.Job, sel bool, w int) []string {
	st := p.common.Styles
	mark := "  "
	if sel {
		mark = "▸ "
	}
	head := j.Domain + " " + j.Disk + " " + string(j.Kind)
	if j.Offline {
		head += " (offline, qemu-img)"
	}
	phase, phaseStyle := phaseText(j)
	switch phaseStyle {
	case "ok":
		phase = st.Running.Render(phase)
	case "warn":
		phase = st.Warning.Render(phase)
	case "err":
		phase = st.Error.Render(phase)
	case "dim":
		phase = st.Dim.Render(phase)
	}
	headW := max(w-2-cellWidth(phase)-2, 4)
	headText := padRight(head, headW)
	if sel {
		headText = st.Selected.Render(headText)
	} else {
		headText = st.Bold.Render(headText)
	}
	l1 := mark + headText + "  " + phase

	frac := j.Fraction()
	if j.Phase == model.PhaseCompleted {
		frac = 1
	}
	pct := padLeft(strconv.Itoa(int(frac*100))+"%", 4)
	// A job seen only at its end (started elsewhere, over before a rescan)
	// has no sizes: "0B/0B" would read as nothing copied.
	nums := ""
	if j.End > 0 || j.Cur > 0 {
		nums = model.FormatBytesShort(j.Cur) + "/" + model.FormatBytesShort(j.End)
	}
	if r := j.Rate(); r > 0 && j.Phase == model.PhaseRunning {
		nums += "  " + model.FormatBytesShort(int64(r)) + "/s"
	}
	if eta, ok := j.ETA(); ok {
		nums += "  ETA " + shortDuration(eta)
	}
	if j.Bandwidth > 0 {
		nums += "  ≤" + model.FormatBytesShort(j.Bandwidth) + "/s"
	}
	nums = strings.TrimPrefix(nums, "  ")
	barW := clamp(w-4-5-textWidth(nums)-2, 10, 40)
	b := p.bar
	b.SetWidth(barW)
	l2 := "    " + b.ViewAs(frac) + " " + pct + "  " + st.Dim.Render(truncate(nums, max(w-4-barW-5-2, 0)))

	var l3 string
	switch {
	case j.Error != "":
		l3 = "    " + st.Error.Render(truncate(oneLine(j.Error), w-4))
	case !j.Phase.Live() && p.after[j.Key()] && len(p.staleOf(j.Domain)) > 0:
		l3 = "    " + st.Warning.Render(truncate("stale snapshot metadata: "+strings.Join(p.staleOf(j.Domain), ", ")+" (m cleans)", w-4))
	case j.Top != "" || j.Base != "":
		r := filepath.Base(j.Top)
		if j.Kind == model.JobPull {
			r = "into " + r
			if j.Base != "" {
				r += ", keeping " + filepath.Base(j.Base)
			} else {
				r += ", no backing image left"
			}
		} else if j.Base != "" {
			r += " → " + filepath.Base(j.Base)
		}
		l3 = "    " + st.Dim.Render(truncate(r, w-4))
	default:
		l3 = "    " + st.Dim.Render(truncate("started outside this virtchain", w-4))
	}
	return []string{l1, l2, l3}
}

// phaseText words a job's phase and says how to colour it.
func phaseText(j model.Job) (string, string) {
	switch j.Phase {
	case model.PhaseRunning:
		if j.AfterReady == model.AfterReadyPivot {
			return "running, pivots at READY", "ok"
		}
		return "running", "ok"
	case model.PhaseReady:
		switch j.AfterReady {
		case model.AfterReadyPivot:
			return "READY, pivoting", "warn"
		case model.AfterReadyKeepOverlay:
			return "READY, keeping overlay", "warn"
		}
		return "READY: P pivots, a keeps overlay", "warn"
	case model.PhaseCompleted:
		return "✔ completed", "ok"
	case model.PhaseFailed:
		return "✖ failed", "err"
	case model.PhaseCancelled:
		if j.Succeeded() {
			return "✔ overlay kept", "ok"
		}
		return "cancelled, chain unchanged", "dim"
	}
	return string(j.Phase), ""
}

// shortDuration is "42s", "3m05s", "1h02m".
func shortDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return strconv.Itoa(s) + "s"
	case s < 3600:
		return strconv.Itoa(s/60) + "m" + pad2(s%60) + "s"
	}
	return strconv.Itoa(s/3600) + "h" + pad2(s/60%60) + "m"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// summary is the header's word on live jobs while the panel is closed:
// "⟳ 2 jobs 45%" (the least advanced).
func (p *jobsPanel) summary() string {
	n, low := 0, 1.0
	ready := false
	for _, j := range p.jobs {
		if !j.Phase.Live() {
			continue
		}
		n++
		low = min(low, j.Fraction())
		ready = ready || j.Phase == model.PhaseReady
	}
	if n == 0 {
		return ""
	}
	s := "⟳ " + strconv.Itoa(n) + " job"
	if n > 1 {
		s += "s"
	}
	s += " " + strconv.Itoa(int(low*100)) + "%"
	if ready {
		s += " READY"
	}
	return s + " (J)"
}

// ---- root glue: the Model's side of the block-job features ----

// jobsPanel returns the panel, made on first use.
func (m *Model) jobsPanel() *jobsPanel {
	if m.jobs == nil {
		m.jobs = newJobsPanel(m.common)
		m.jobs.staleOf = m.staleSnapshots
		m.common.liveJob = m.jobs.liveOn
	}
	return m.jobs
}

// initJobs starts the job stream, which re-attaches to jobs already
// running (started by an earlier virtchain or by virsh).
func (m *Model) initJobs() tea.Cmd {
	p := m.jobsPanel()
	if p.started {
		return nil
	}
	p.started = true
	return watchJobsCmd(m.common)
}

// updateJobs handles the block-job messages.
func (m *Model) updateJobs(msg jobMsg) tea.Cmd {
	p := m.jobsPanel()
	switch msg := msg.(type) {
	case jobsWatchMsg:
		if msg.err != nil {
			p.err = "block jobs are not followed: " + oneLine(msg.err.Error())
			return nil
		}
		p.ch, p.err = msg.ch, ""
		gone := 0
		if p.reattach {
			gone = p.dropUnseen(msg.jobs)
			p.reattach = false
		}
		for _, j := range msg.jobs {
			p.pending[j.Key()] = j
		}
		p.flush()
		var note string
		if len(msg.jobs) > 0 {
			// Re-attached: show what was left running.
			p.visible = true
			note = "re-attached to " + strconv.Itoa(len(msg.jobs)) + " running block job(s): J shows them"
		}
		if gone > 0 {
			note = strconv.Itoa(gone) + " block job(s) ended while the connection was lost: check their chains"
		}
		switch {
		case note == "":
		case strings.HasPrefix(m.info, "reconnected"):
			m.info += "; " + note // keep saying the connection is back
		default:
			m.info = note
		}
		return waitJobCmd(m.common.Ctx, p.ch)

	case jobUpdateMsg:
		if msg.ch != p.ch {
			return nil // the lost connection's stream
		}
		cmds := []tea.Cmd{waitJobCmd(m.common.Ctx, p.ch)}
		if p.index(msg.job.Key()) < 0 && msg.job.Phase.Live() {
			p.visible = true // a new job: show it
		}
		cmds = append(cmds, p.hold(msg.job))
		return tea.Batch(cmds...)

	case jobTickMsg:
		if msg.gen != p.tickGen {
			return nil
		}
		var cmds []tea.Cmd
		for _, j := range p.flush() {
			cmds = append(cmds, m.jobEnded(j))
		}
		return tea.Batch(cmds...)

	case jobsClosedMsg:
		if msg.ch != p.ch {
			return nil
		}
		p.ch = nil
		m.notice = "block-job updates stopped: restart virtchain to follow jobs"
		return nil

	case rescanMsg:
		if msg.err != nil {
			m.err = "looking for block jobs: " + m.hostErrText(msg.err)
		}
		return nil

	case jobActionMsg:
		if msg.err != nil {
			m.err = msg.what + ": " + m.hostErrText(msg.err)
		}
		return nil

	case afterJobMsg:
		return m.afterJob(msg)
	}
	return nil
}

// afterJobMsg is a domain re-read after one of its jobs ended.
type afterJobMsg struct {
	job model.Job
	dom model.Domain
	err error
}

func (afterJobMsg) isJobMsg() {}

// jobEnded re-reads the domain of a job that just ended: its chain
// changed (or, for a failure, must be shown as it is).
func (m *Model) jobEnded(j model.Job) tea.Cmd {
	if j.Phase == model.PhaseFailed {
		m.err = j.Domain + " " + j.Disk + " " + string(j.Kind) + " failed: " + oneLine(j.Error)
	}
	b, ctx := m.common.Backend, m.common.Ctx
	return func() tea.Msg {
		d, err := b.DiscoverDomain(ctx, j.Domain)
		return afterJobMsg{job: j, dom: d, err: err}
	}
}

// afterJob installs the re-read domain, works out which files left the
// chain and which snapshots went stale, and offers the metadata cleanup.
func (m *Model) afterJob(msg afterJobMsg) tea.Cmd {
	if msg.err != nil {
		return nil // the domain went away; a full discovery will settle it
	}
	j := msg.job
	var before []string
	for i := range m.domains {
		if m.domains[i].Name == j.Domain {
			if disk := m.domains[i].Disk(j.Disk); disk != nil {
				for _, l := range disk.Layers {
					before = append(before, l.Path)
				}
			}
		}
	}
	d := msg.dom
	stale := model.Reconcile(&d)
	m.putDomain(d)
	// A finished job used up the range on its disk; a half-kept range
	// would silently aim the next c or p somewhere new.
	if marks := &m.detail.chains.marks; marks.on(j.Domain, j.Disk) {
		marks.clear()
	} else {
		marks.forget(&d)
	}
	var left []string
	if disk := d.Disk(j.Disk); disk != nil {
		for _, p := range before {
			if layerPos(disk, p) < 0 {
				left = append(left, p)
			}
		}
	}
	if !j.Succeeded() {
		return nil
	}
	p := m.jobsPanel()
	p.after[j.Key()] = true
	steered := m.common.steered[j.Key()]
	delete(m.common.steered, j.Key())
	if !steered {
		// Someone else's job (virsh, a script, another virtchain): the
		// panel row offers the cleanup; a modal would interrupt the user.
		m.info = "✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed (J shows it)"
		return nil
	}
	if len(left) == 0 && len(stale) == 0 {
		m.info = "✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed"
		return nil
	}
	// The result page of the op that started (or pivoted) this very job
	// says nothing the completion does not: the completion replaces it.
	// Any other dialog is the user's, and stays.
	if od, ok := m.dialog.(*opDialog); m.dialog != nil && !(ok && od.doneFor(j.Domain, j.Disk)) {
		m.info = "✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed; J then m cleans stale metadata"
		return nil
	}
	// Opened in this Update, so a form the user opens at the same moment
	// is never silently replaced by a Cmd arriving later.
	m.common.showDialog(newJobDoneDialog(m.common, j, left, stale))
	return nil
}

// staleSnapshots names domain's snapshots whose files left its chains,
// reading the domains as they are now (without touching their Stale).
func (m *Model) staleSnapshots(domain string) []string {
	for i := range m.domains {
		if m.domains[i].Name == domain {
			dc := m.domains[i]
			dc.Snapshots = append([]model.Snapshot(nil), dc.Snapshots...)
			return model.Reconcile(&dc)
		}
	}
	return nil
}

// jobsKey handles J everywhere and every key while the panel is shown.
// ok is false for keys the root handles itself (quit, help).
func (m *Model) jobsKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	p := m.jobsPanel()
	km := m.common.KeyMap
	if m.showHelp || key.Matches(msg, km.Quit) || key.Matches(msg, km.Help) {
		return nil, false
	}
	if key.Matches(msg, p.keys.Toggle) {
		p.visible = !p.visible
		if p.visible && !m.conn.lost {
			// libvirt says nothing when virsh starts a job: look now.
			return rescanCmd(m.common), true
		}
		return nil, true
	}
	if !p.visible {
		return nil, false
	}
	if key.Matches(msg, km.Refresh) {
		return nil, false
	}
	c := m.common
	j, ok := p.selected()
	switch {
	case msg.String() == "esc":
		p.visible = false
	case key.Matches(msg, km.Up):
		p.cursor = clamp(p.cursor-1, 0, len(p.jobs)-1)
	case key.Matches(msg, km.Down):
		p.cursor = clamp(p.cursor+1, 0, len(p.jobs)-1)
	case key.Matches(msg, p.keys.Clear):
		p.clearFinished()
	case !ok:
	case key.Matches(msg, p.keys.Abort) && j.Phase.Live():
		c.steer(j.Domain, j.Disk)
		return abortOp(c, j), true
	case key.Matches(msg, p.keys.Pivot) && j.Phase.Live():
		c.steer(j.Domain, j.Disk)
		return pivotOp(c, j), true
	case (key.Matches(msg, p.keys.Faster) || key.Matches(msg, p.keys.Slower)) && j.Phase.Live():
		if c.lost {
			return notConnected(c), true
		}
		if c.Backend.ReadOnly() {
			return readOnlyCmd(c, "change the bandwidth"), true
		}
		bps := stepBandwidth(j.Bandwidth, key.Matches(msg, p.keys.Faster))
		m.info = j.Domain + " " + j.Disk + ": bandwidth " + bandwidthText(bps)
		return bandwidthCmd(c, j, bps), true
	case key.Matches(msg, p.keys.Cleanup) && !j.Phase.Live():
		return cleanupOp(c, j.Domain), true
	}
	return nil, true
}

// stepBandwidth moves a limit to the next step up or down.
func stepBandwidth(bps int64, up bool) int64 {
	cur := bps >> 20
	if up {
		if bps == 0 {
			return 0 // already unlimited
		}
		for _, s := range bandwidthSteps[1:] {
			if s > cur {
				return s << 20
			}
		}
		return 0 // past the top: no limit
	}
	if bps == 0 {
		return bandwidthSteps[len(bandwidthSteps)-1] << 20
	}
	for i := len(bandwidthSteps) - 1; i >= 1; i-- {
		if s := bandwidthSteps[i]; s < cur || (s == cur && bps%(1<<20) != 0) {
			return s << 20
		}
	}
	return bandwidthSteps[1] << 20
}

func bandwidthText(bps int64) string {
	if bps <= 0 {
		return "unlimited"
	}
	return model.FormatBytesShort(bps) + "/s"
}

// jobsShortHelp is the footer while the panel is shown.
func (m *Model) jobsShortHelp() ([]key.Binding, bool) {
	if m.jobs == nil || !m.jobs.visible {
		return nil, false
	}
	return m.jobs.ShortHelp(), true
}

// jobsSummary is the header's note about live jobs, when the panel is closed.
func (m *Model) jobsSummary() string {
	if m.jobs == nil || m.jobs.visible {
		return ""
	}
	return m.jobs.summary()
}

// ---- ops: the plan dialogs of block jobs ----

// blockOp is a commit or pull from the chain view: plan from a fresh read
// of every domain and the live jobs, confirm, start.
func blockOp(c *Common, req blockRequest) Op {
	b := c.Backend
	title := "Pull"
	if req.commit != nil {
		title = "Commit"
	}
	return plannedOp(title,
		func(ctx context.Context) (*model.BlockPlan, error) {
			doms, err := b.Discover(ctx)
			if err != nil {
				return nil, err
			}
			jobs, err := b.ListJobs(ctx)
			if err != nil {
				return nil, err
			}
			var bp *model.BlockPlan
			if req.commit != nil {
				bp, err = model.PlanCommit(doms, *req.commit, jobs)
			} else {
				bp, err = model.PlanPull(doms, *req.pull, jobs)
			}
			if err == nil {
				err = checkSpace(b, &bp.Plan)
			}
			if err != nil {
				return nil, err
			}
			return bp, nil
		},
		blockPlanView,
		func(ctx context.Context, bp *model.BlockPlan) error {
			_, err := b.StartBlockJob(ctx, bp)
			return err
		},
		func(bp *model.BlockPlan) string {
			return "Started " + string(bp.Kind) + " on " + bp.Domain + " " + bp.Target + "; the jobs panel (J) follows it."
		})
}

// blockPlanView is the plan as a person reads it, with the chain
// afterwards and the limit added to the steps.
func blockPlanView(bp *model.BlockPlan) model.Plan {
	p := bp.Plan
	p.Steps = append([]string(nil), p.Steps...)
	var names []string
	for _, n := range bp.NewChain {
		names = append(names, filepath.Base(n))
	}
	p.Steps = append(p.Steps, "chain afterwards (active first): "+strings.Join(names, " → "))
	if bp.Bandwidth > 0 {
		p.Steps = append(p.Steps, "copy at most "+bandwidthText(bp.Bandwidth))
	}
	if bp.Offline {
		p.Steps = append(p.Steps, "the domain is shut off: qemu-img does the work")
	}
	return p
}

// abortOp confirms and sends an abort: the chain stays as it was.
func abortOp(c *Common, j model.Job) tea.Cmd {
	jb := c.Backend
	p := model.Plan{Op: "abort", Domain: j.Domain, Target: j.Disk,
		Summary: "Abort the " + string(j.Kind) + " on " + j.Domain + " " + j.Disk,
		Virsh:   []string{model.ShellJoin([]string{"virsh", "blockjob", "--domain", j.Domain, "--path", j.Disk, "--abort"})}}
	switch {
	case j.Phase == model.PhaseReady && j.Kind == model.JobActiveCommit:
		p.Steps = []string{"stop the mirror and keep the overlay: the chain stays as it is",
			"the base keeps a copy of the data committed so far"}
	case j.Offline:
		p.Steps = []string{"stop qemu-img; the chain stays as it is"}
		p.Virsh = nil
	default:
		p.Steps = []string{"stop the job; the chain stays as it is"}
		if j.Kind == model.JobCommit || j.Kind == model.JobActiveCommit {
			p.Warnings = []string{"the base keeps the part of the data already written into it"}
		}
	}
	return confirmOp(c, "Abort "+string(j.Kind)+" on "+j.Domain+" "+j.Disk, p, func(ctx context.Context) (string, error) {
		if err := jb.AbortBlockJob(ctx, j.Domain, j.Disk, false); err != nil {
			return "", err
		}
		return "Abort requested on " + j.Domain + " " + j.Disk + "; the jobs panel shows when it is done.", nil
	}, j.Domain)
}

// pivotOp confirms and pivots an active commit now (READY) or at READY.
func pivotOp(c *Common, j model.Job) tea.Cmd {
	jb := c.Backend
	if j.Kind != model.JobActiveCommit && j.Kind != model.JobCopy {
		return errCmd("a " + string(j.Kind) + " job has no pivot: it completes by itself")
	}
	p := model.Plan{Op: "pivot", Domain: j.Domain, Target: j.Disk,
		Summary: "Pivot the " + string(j.Kind) + " on " + j.Domain + " " + j.Disk,
		Virsh:   []string{model.ShellJoin([]string{"virsh", "blockjob", "--domain", j.Domain, "--path", j.Disk, "--pivot"})}}
	into := "the base"
	if j.Base != "" {
		into = filepath.Base(j.Base)
	}
	if j.Phase == model.PhaseReady {
		p.Steps = []string{into + " becomes the active layer now; the layers above it leave the chain"}
	} else {
		p.Steps = []string{"wait for READY, then " + into + " becomes the active layer; the layers above it leave the chain"}
	}
	return confirmOp(c, "Pivot "+j.Domain+" "+j.Disk, p, func(ctx context.Context) (string, error) {
		if err := jb.PivotBlockJob(ctx, j.Domain, j.Disk); err != nil {
			return "", err
		}
		return "Pivot requested on " + j.Domain + " " + j.Disk + ".", nil
	}, j.Domain)
}

// cleanupOp removes the stale snapshot metadata of domain (metadata only:
// the TUI never deletes image files).
func cleanupOp(c *Common, domain string) tea.Cmd {
	b := c.Backend
	return startOp(c, plannedOp("Clean stale snapshot metadata of "+domain,
		func(ctx context.Context) (*model.CleanupPlan, error) {
			doms, err := b.Discover(ctx)
			if err != nil {
				return nil, err
			}
			// Metadata only: no file arguments, so no host facts needed.
			return model.PlanCleanup(doms, model.CleanupRequest{Domain: domain}, model.CleanupFacts{})
		},
		func(cp *model.CleanupPlan) model.Plan { return cp.Plan },
		func(ctx context.Context, cp *model.CleanupPlan) error {
			if len(cp.Snapshots) == 0 {
				return nil
			}
			_, _, err := b.CleanupStale(ctx, cp)
			return err
		},
		func(cp *model.CleanupPlan) string {
			if len(cp.Snapshots) == 0 {
				return "Nothing to clean on " + domain + "."
			}
			return "Removed the metadata of " + strings.Join(cp.Snapshots, ", ") + "."
		}))
}

// jobDoneDialog says what a finished commit or pull left behind and
// offers the metadata cleanup.
type jobDoneDialog struct {
	common        *Common
	width, height int
	job           model.Job
	left, stale   []string
	keys          struct{ Clean, Close key.Binding }
}

func newJobDoneDialog(c *Common, j model.Job, left, stale []string) *jobDoneDialog {
	d := &jobDoneDialog{common: c, job: j, left: left, stale: stale}
	d.keys.Clean = bind([]string{"m"}, "m", "remove stale metadata")
	d.keys.Close = bind([]string{"esc", "enter", "q"}, "esc/enter", "close")
	return d
}

func (d *jobDoneDialog) SetSize(w, h int) { d.width, d.height = w, h }

func (d *jobDoneDialog) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, d.keys.Clean) && len(d.stale) > 0:
		return cleanupOp(d.common, d.job.Domain) // replaces this dialog
	case key.Matches(k, d.keys.Close):
		return CloseDialog
	}
	return nil
}

func (d *jobDoneDialog) ShortHelp() []key.Binding {
	if len(d.stale) > 0 {
		return []key.Binding{d.keys.Clean, d.keys.Close}
	}
	return []key.Binding{d.keys.Close}
}

func (d *jobDoneDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *jobDoneDialog) View() string {
	st := d.common.Styles
	j := d.job
	w := max(d.width-2, 10)
	lines := []string{st.TabActive.Render(truncate(string(j.Kind)+" on "+j.Domain+" "+j.Disk+" completed", max(d.width-2, 1)))}
	add := func(ls ...string) {
		for _, l := range ls {
			lines = append(lines, " "+l)
		}
	}
	if len(d.left) > 0 {
		add("", st.ColumnHead.Render("Left the chain (the files stay on disk)"))
		for _, f := range d.left {
			add(hanging("•", f, w, st.Plain)...)
		}
	}
	if len(d.stale) > 0 {
		add("", st.ColumnHead.Render("Snapshot metadata now stale"))
		for _, s := range d.stale {
			add(hanging("•", s, w, st.Warning)...)
		}
		add("")
		add(indent(wrapText("libvirt 9.0 refuses a normal delete of these; m removes their metadata only", w), st.Dim)...)
	}
	if len(d.left) > 0 {
		// Wrapped, not cut: the command is the part an admin copies.
		add(indent(wrapText("delete files with 'virtchain cleanup "+j.Domain+" --delete-files' (checks no one uses them)", w), st.Dim)...)
	}
	return block(lines, d.width, d.height)
}

// jobsClick handles the clicks that belong to the block-job features: a
// click on a job row in the panel selects it, and a right click (or an
// alt+click) on a layer in the chain view marks it, top first, then base.
// It reports whether it used the click.
func (m *Model) jobsClick(mo tea.Mouse) bool {
	if m.showHelp {
		return false
	}
	if p := m.jobs; p != nil && p.visible {
		if mo.Button == tea.MouseLeft && mo.Y >= 2 {
			room := max((max(m.height-2, 3)-1)/jobRowH, 1)
			off := 0
			if p.cursor >= room {
				off = p.cursor - room + 1
			}
			if i := off + (mo.Y-2)/jobRowH; i < len(p.jobs) {
				p.cursor = i
			}
		}
		return true
	}
	mark := mo.Button == tea.MouseRight || (mo.Button == tea.MouseLeft && mo.Mod&tea.ModAlt != 0)
	if !mark || m.list.Selected() == nil || m.detail.active != tabChains {
		return false
	}
	x0, y0 := m.detailOrigin()
	if mo.X < x0 || mo.Y < y0+m.detail.headH() {
		return false
	}
	v := m.detail.chains
	row, ok := v.rowAt(mo.Y - y0 - m.detail.headH())
	if !ok {
		return false
	}
	v.scroll.moveTo(row)
	m.setFocus(focusDetail)
	if d, l := v.Cursor(); l != nil {
		v.marks.markNext(v.dom.Name, d.Target, l.Path)
	}
	return true
}
