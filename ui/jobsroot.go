package ui

// The root's side of the block-job features: the job stream, what a
// finished job changes, and the keys and clicks of the jobs panel.

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/chainview"
	"virtchain/ui/components/dialog"
)

// jobsPanel returns the panel, made on first use.
func (m *Model) jobsPanel() *jobsPanel {
	if m.jobs == nil {
		m.jobs = newJobsPanel(m.common)
		m.jobs.staleOf = m.staleSnapshots
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
		return m.jobsWatched(msg)

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

// jobsWatched starts following the stream: re-attached jobs show at once,
// and after a reconnect the rows of jobs that ended meanwhile go.
func (m *Model) jobsWatched(msg jobsWatchMsg) tea.Cmd {
	p := m.jobsPanel()
	if msg.err != nil {
		p.err = "block jobs are not followed: " + model.OneLine(msg.err.Error())
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
		m.err = j.Domain + " " + j.Disk + " " + string(j.Kind) + " failed: " + model.OneLine(j.Error)
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
	m.detail.Update(chainview.JobEndedMsg{Job: j, Domain: &d})
	var left []string
	if disk := d.Disk(j.Disk); disk != nil {
		for _, p := range before {
			if disk.Pos(p) < 0 {
				left = append(left, p)
			}
		}
	}
	if !j.Succeeded() {
		return nil
	}
	p := m.jobsPanel()
	p.after[j.Key()] = true
	steered := m.steered[j.Key()]
	delete(m.steered, j.Key())
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
	if od, ok := m.dialog.(*dialog.OpDialog); m.dialog != nil && !(ok && od.DoneFor(j.Domain, j.Disk)) {
		m.info = "✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed; J then m cleans stale metadata"
		return nil
	}
	// Opened in this Update, so a form the user opens at the same moment
	// is never silently replaced by a Cmd arriving later.
	m.opener.Open(newJobDoneDialog(m.common, j, left, stale))
	return nil
}

// steer records that the user acted on the job of domain's disk here
// (common.SteerMsg).
func (m *Model) steer(domain, disk string) {
	if m.steered == nil {
		m.steered = map[string]bool{}
	}
	m.steered[model.JobKey(domain, disk)] = true
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
	switch {
	case msg.String() == "esc":
		p.visible = false
	case key.Matches(msg, km.Up):
		p.cursor = common.Clamp(p.cursor-1, 0, len(p.jobs)-1)
	case key.Matches(msg, km.Down):
		p.cursor = common.Clamp(p.cursor+1, 0, len(p.jobs)-1)
	case key.Matches(msg, p.keys.Clear):
		p.clearFinished()
	default:
		if j, ok := p.selected(); ok {
			return m.jobActionKey(msg, j), true
		}
	}
	return nil, true
}

// jobActionKey handles the panel's keys that act on the selected job.
func (m *Model) jobActionKey(msg tea.KeyPressMsg, j model.Job) tea.Cmd {
	c, k := m.common, m.jobsPanel().keys
	live := j.Phase.Live()
	switch {
	case key.Matches(msg, k.Abort) && live:
		m.steer(j.Domain, j.Disk)
		return abortOp(&m.opener, c, j)
	case key.Matches(msg, k.Pivot) && live:
		m.steer(j.Domain, j.Disk)
		return pivotOp(&m.opener, c, j)
	case (key.Matches(msg, k.Faster) || key.Matches(msg, k.Slower)) && live:
		if c.Lost() {
			return common.NotConnected(c)
		}
		if c.Backend.ReadOnly() {
			return dialog.ReadOnly(c, "change the bandwidth")
		}
		bps := stepBandwidth(j.Bandwidth, key.Matches(msg, k.Faster))
		m.info = j.Domain + " " + j.Disk + ": bandwidth " + model.BandwidthTextShort(bps)
		return bandwidthCmd(c, j, bps)
	case key.Matches(msg, k.Cleanup) && !live:
		return cleanupOp(&m.opener, c, j.Domain)
	}
	return nil
}

// stepBandwidth moves a limit to the next step up or down.
func stepBandwidth(bps int64, up bool) int64 {
	cur := bps >> 20
	if up {
		if bps == 0 {
			return 0 // already unlimited
		}
		for _, s := range common.BandwidthSteps[1:] {
			if s > cur {
				return s << 20
			}
		}
		return 0 // past the top: no limit
	}
	if bps == 0 {
		return common.BandwidthSteps[len(common.BandwidthSteps)-1] << 20
	}
	for i := len(common.BandwidthSteps) - 1; i >= 1; i-- {
		if s := common.BandwidthSteps[i]; s < cur || (s == cur && bps%(1<<20) != 0) {
			return s << 20
		}
	}
	return common.BandwidthSteps[1] << 20
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
	if !m.detail.markAt(mo.Y - y0 - m.detail.headH()) {
		return false
	}
	m.setFocus(focusDetail)
	return true
}
