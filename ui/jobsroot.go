package ui

// The root's side of the block-job features: the job stream, what a
// finished job changes, and the keys and clicks of the jobs panel.

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/chainview"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/jobs"
	"virtchain/ui/pages/domain"
)

// initJobs starts the job stream (the panel starts it once).
func (m *Model) initJobs() tea.Cmd { return m.jobs.Init() }

// updateJobs routes a block-job message to the panel, then handles what
// the panel asked of the root.
func (m *Model) updateJobs(msg tea.Msg) tea.Cmd {
	if s, ok := msg.(common.SteerMsg); ok && m.multi() {
		// The panel names jobs HOST:DOMAIN; the steer came from the
		// selected domain's page.
		s.Domain = m.qualify(m.selHost(), s.Domain)
		msg = s
	}
	cmds := []tea.Cmd{m.jobs.Update(msg)}
	for _, out := range m.jobs.TakeMsgs() {
		cmds = append(cmds, m.fromJobs(out))
	}
	m.detail.SetJobs(m.detailJobs())
	return tea.Batch(cmds...)
}

// fromJobs handles one message of the jobs panel.
func (m *Model) fromJobs(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case jobs.AttachedMsg:
		m.status.AddInfo("reconnected", msg.Note) // keep saying the connection is back
	case jobs.EndedMsg:
		return m.jobEnded(msg.Job)
	case common.InfoMsg, common.NoticeMsg, common.ErrorMsg:
		m.status.Update(msg)
	}
	return nil
}

// afterJobMsg is a domain re-read after one of its jobs ended; job is
// named as the panel names it, the domain as host h does.
type afterJobMsg struct {
	h   int
	job model.Job
	dom model.Domain
	err error
}

// jobEnded re-reads the domain of a job that just ended: its chain
// changed (or, for a failure, must be shown as it is).
func (m *Model) jobEnded(j model.Job) tea.Cmd {
	h, name := m.unqualify(j.Domain)
	if h < 0 || m.hosts[h].b == nil {
		return nil
	}
	b, ctx := m.hosts[h].b, m.common.Ctx
	return func() tea.Msg {
		d, err := b.DiscoverDomain(ctx, name)
		return afterJobMsg{h: h, job: j, dom: d, err: err}
	}
}

// afterJob installs the re-read domain, works out which files left the
// chain and which snapshots went stale, and offers the metadata cleanup.
func (m *Model) afterJob(msg afterJobMsg) tea.Cmd {
	if msg.err != nil {
		return nil // the domain went away; a full discovery will settle it
	}
	j := msg.job
	// local is the job as its host names it, for the chain view.
	local := j
	_, local.Domain = m.unqualify(j.Domain)
	ds := m.hosts[msg.h].domains
	var before []string
	for i := range ds {
		if ds[i].Name == local.Domain {
			if disk := ds[i].Disk(j.Disk); disk != nil {
				for _, l := range disk.Layers {
					before = append(before, l.Path)
				}
			}
		}
	}
	d := msg.dom
	stale := model.Reconcile(&d)
	m.putDomain(msg.h, d)
	m.detail.Update(chainview.JobEndedMsg{Job: local, Domain: &d})
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
	if !m.jobs.Settle(j) {
		// Someone else's job (virsh, a script, another virtchain): the
		// panel row offers the cleanup; a modal would interrupt the user.
		m.status.SetInfo("✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed (J shows it)")
		return nil
	}
	if len(left) == 0 && len(stale) == 0 {
		m.status.SetInfo("✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed")
		return nil
	}
	// The result page of the op that started (or pivoted) this very job
	// says nothing the completion does not: the completion replaces it.
	// Any other dialog is the user's, and stays.
	if od, ok := m.dialog.(*dialog.OpDialog); m.dialog != nil && !(ok && od.DoneFor(local.Domain, j.Disk)) {
		m.status.SetInfo("✔ " + string(j.Kind) + " on " + j.Domain + " " + j.Disk + " completed; J then m cleans stale metadata")
		return nil
	}
	// Opened in this Update, so a form the user opens at the same moment
	// is never silently replaced by a Cmd arriving later.
	m.opener.Open(jobs.NewDoneDialog(m.jobsCommon, j, left, stale))
	return nil
}

// jobsKey hands the panel J everywhere and every key while it shows,
// except the ones the root handles itself (quit, help, refresh). ok is
// false for those.
func (m *Model) jobsKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	km := m.common.KeyMap
	switch {
	case m.showHelp || key.Matches(msg, km.Quit) || key.Matches(msg, km.Help):
		return nil, false
	case key.Matches(msg, m.jobs.Keys().Toggle):
	case !m.jobs.Visible() || key.Matches(msg, km.Refresh):
		return nil, false
	}
	return m.updateJobs(msg), true
}

// jobsClick handles the clicks that belong to the block-job features: a
// click on a job row in the panel selects it, and a right click (or an
// alt+click) on a layer in the chain view marks it, top first, then base.
// It reports whether it used the click.
func (m *Model) jobsClick(mo tea.Mouse) bool {
	if m.showHelp {
		return false
	}
	if m.jobs.Visible() {
		m.jobs.Update(tea.MouseClickMsg{X: mo.X, Y: mo.Y - 1, Button: mo.Button, Mod: mo.Mod})
		return true
	}
	mark := mo.Button == tea.MouseRight || (mo.Button == tea.MouseLeft && mo.Mod&tea.ModAlt != 0)
	if !mark || m.list.Selected() == nil || m.detail.Active() != domain.TabChains {
		return false
	}
	x0, y0 := m.detailOrigin()
	if mo.X < x0 || mo.Y < y0+m.detail.HeadH() {
		return false
	}
	if !m.detail.MarkAt(mo.Y - y0 - m.detail.HeadH()) {
		return false
	}
	m.setFocus(focusDetail)
	return true
}
