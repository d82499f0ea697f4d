package jobs

import (
	"errors"
	"strconv"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// Messages the panel hands the root (TakeMsgs), for what only the root
// owns: the footer and the domains.
type (
	// AttachedMsg says what a new stream found: jobs re-attached, or jobs
	// that ended while the connection was lost. It joins a "reconnected"
	// note in the footer rather than replacing it.
	AttachedMsg struct{ Note string }
	// EndedMsg says Job just ended: its domain's chain changed (or, for a
	// failure, must be shown as it is). The root reads the domain again
	// and calls Settle.
	EndedMsg struct{ Job model.Job }
)

// Init starts the job stream, which re-attaches to jobs already running
// (started by an earlier virtchain or by virsh). It starts it once.
func (p *Model) Init() tea.Cmd {
	if p.started {
		return nil
	}
	p.started = true
	return watchJobsCmd(p.common)
}

// Reattach follows the jobs of a new connection (after a reconnect): its
// stream replaces what the lost connection's stream showed.
func (p *Model) Reattach() tea.Cmd {
	p.ch, p.started, p.reattach = nil, false, true
	return p.Init()
}

// TakeMsgs returns the messages for the root from the last Update, and
// forgets them. The root handles them in that same Update.
func (p *Model) TakeMsgs() []tea.Msg {
	out := p.out
	p.out = nil
	return out
}

func (p *Model) post(msg tea.Msg) { p.out = append(p.out, msg) }

func (p *Model) postErr(text string) { p.post(common.ErrorMsg{Err: errors.New(text)}) }

// SetDomains gives the panel the domains as they are now, to tell which
// finished jobs left stale snapshot metadata.
func (p *Model) SetDomains(ds []model.Domain) { p.domains = ds }

// staleOf names domain's snapshots whose files left its chains, reading
// the domains as they are now (without touching their Stale).
func (p *Model) staleOf(domain string) []string {
	for i := range p.domains {
		if p.domains[i].Name == domain {
			dc := p.domains[i]
			dc.Snapshots = append([]model.Snapshot(nil), dc.Snapshots...)
			return model.Reconcile(&dc)
		}
	}
	return nil
}

// Settle records that the successful job j was read back: its row now
// offers the metadata cleanup. It reports whether the user steered j here.
func (p *Model) Settle(j model.Job) (steered bool) {
	p.after[j.Key()] = true
	steered = p.steered[j.Key()]
	delete(p.steered, j.Key())
	return steered
}

// Rescan looks for jobs started elsewhere (libvirt says nothing when
// virsh starts one).
func (p *Model) Rescan() tea.Cmd { return rescanCmd(p.common) }

// Visible reports whether the panel covers the body.
func (p *Model) Visible() bool { return p.visible }

// Jobs are the rows, live first.
func (p *Model) Jobs() []model.Job { return p.jobs }

// Keys are the panel's keys, for the full help.
func (p *Model) Keys() Keys { return p.keys }

// SetSize sets the panel's size.
func (p *Model) SetSize(w, h int) { p.width, p.height = w, h }

// SetClock replaces the clock redraws are timed by (tests).
func (p *Model) SetClock(now func() time.Time) { p.now = now }

// Tick says whether a redraw is held back, its generation and when it is
// due (tests).
func (p *Model) Tick() (pending bool, gen int, due time.Time) {
	return p.ticking, p.tickGen, p.tickDue
}

// Update handles the job stream's messages, the panel's keys (the root
// sends them while the panel shows, and J always), clicks on its rows
// (y from the top of the panel), and common.SteerMsg.
func (p *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case Msg:
		return p.stream(msg)
	case common.SteerMsg:
		p.steered[model.JobKey(msg.Domain, msg.Disk)] = true
	case tea.KeyPressMsg:
		return p.key(msg)
	case tea.MouseClickMsg:
		p.click(msg.Mouse())
	}
	return nil
}

// stream handles the messages of the job stream and of the job actions.
func (p *Model) stream(msg Msg) tea.Cmd {
	switch msg := msg.(type) {
	case jobsWatchMsg:
		return p.watched(msg)
	case UpdateMsg:
		if msg.Ch != p.ch {
			return nil // the lost connection's stream
		}
		cmds := []tea.Cmd{waitJobCmd(p.common.Ctx, p.ch)}
		if msg.Job.Phase.Live() {
			// A new job: show it. A disk's finished job keeps its row, so
			// the next job on that disk is new too.
			if i := p.index(msg.Job.Key()); i < 0 || !p.jobs[i].Phase.Live() {
				p.visible = true
			}
		}
		return tea.Batch(append(cmds, p.hold(msg.Job))...)
	case TickMsg:
		if msg.Gen != p.tickGen {
			return nil
		}
		for _, j := range p.flush() {
			if j.Phase == model.PhaseFailed {
				p.postErr(j.Domain + " " + j.Disk + " " + string(j.Kind) + " failed: " + model.OneLine(j.Error))
			}
			p.post(EndedMsg{Job: j})
		}
	case jobsClosedMsg:
		if msg.ch == p.ch {
			p.ch = nil
			p.post(common.NoticeMsg{Text: "block-job updates stopped: restart virtchain to follow jobs"})
		}
	case rescanMsg:
		if msg.err != nil {
			p.postErr("looking for block jobs: " + common.HostErrText(p.common, msg.err))
		}
	case jobActionMsg:
		if msg.err != nil {
			p.postErr(msg.what + ": " + common.HostErrText(p.common, msg.err))
		}
	}
	return nil
}

// watched starts following the stream: re-attached jobs show at once,
// and after a reconnect the rows of jobs that ended meanwhile go.
func (p *Model) watched(msg jobsWatchMsg) tea.Cmd {
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
	if note != "" {
		p.post(AttachedMsg{Note: note})
	}
	return waitJobCmd(p.common.Ctx, p.ch)
}

// key handles J (open or close) and, while the panel shows, its keys.
func (p *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	km := p.common.KeyMap
	if key.Matches(msg, p.keys.Toggle) {
		p.visible = !p.visible
		if p.visible && !p.common.Lost() {
			// libvirt says nothing when virsh starts a job: look now.
			return rescanCmd(p.common)
		}
		return nil
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
			return p.actionKey(msg, j)
		}
	}
	return nil
}

// actionKey handles the keys that act on the selected job.
func (p *Model) actionKey(msg tea.KeyPressMsg, j model.Job) tea.Cmd {
	c, k := p.common, p.keys
	live := j.Phase.Live()
	switch {
	case key.Matches(msg, k.Abort) && live:
		p.steered[j.Key()] = true
		return abortOp(&p.Opener, c, j)
	case key.Matches(msg, k.Pivot) && live:
		p.steered[j.Key()] = true
		return pivotOp(&p.Opener, c, j)
	case (key.Matches(msg, k.Faster) || key.Matches(msg, k.Slower)) && live:
		if c.Lost() {
			return common.NotConnected(c)
		}
		if c.Backend.ReadOnly() {
			return dialog.ReadOnly(c, "change the bandwidth")
		}
		bps := stepBandwidth(j.Bandwidth, key.Matches(msg, k.Faster))
		p.post(common.InfoMsg{Text: j.Domain + " " + j.Disk + ": bandwidth " + model.BandwidthTextShort(bps)})
		return bandwidthCmd(c, j, bps)
	case key.Matches(msg, k.Cleanup) && !live:
		return cleanupOp(&p.Opener, c, j.Domain)
	}
	return nil
}

// click selects the job row at y (from the panel's top).
func (p *Model) click(mo tea.Mouse) {
	if mo.Button != tea.MouseLeft || mo.Y < 1 {
		return
	}
	room := max((p.height-1)/jobRowH, 1)
	off := 0
	if p.cursor >= room {
		off = p.cursor - room + 1
	}
	if i := off + (mo.Y-1)/jobRowH; i < len(p.jobs) {
		p.cursor = i
	}
}

// stepBandwidth moves a limit to the next step up or down.
func stepBandwidth(bps int64, up bool) int64 {
	steps := common.BandwidthSteps
	cur := bps >> 20
	if up {
		if bps == 0 {
			return 0 // already unlimited
		}
		for _, s := range steps[1:] {
			if s > cur {
				return s << 20
			}
		}
		return 0 // past the top: no limit
	}
	if bps == 0 {
		return steps[len(steps)-1] << 20
	}
	for i := len(steps) - 1; i >= 1; i-- {
		if s := steps[i]; s < cur || (s == cur && bps%(1<<20) != 0) {
			return s << 20
		}
	}
	return steps[1] << 20
}
