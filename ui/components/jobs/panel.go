// Package jobs is the block-jobs panel: every block job on the connection
// (this virtchain's, re-attached ones, virsh's), their progress from the
// backend's job stream, and the keys that abort, pivot, limit and clean up
// after them.
package jobs

import (
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
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// Keys are the jobs panel's own keys.
type Keys struct {
	Toggle, Abort, Pivot, Faster, Slower, Clear, Cleanup, Close key.Binding
}

func newJobKeys() Keys {
	return Keys{
		Toggle:  common.Bind([]string{"J"}, "J", "jobs panel"),
		Abort:   common.Bind([]string{"a"}, "a", "abort"),
		Pivot:   common.Bind([]string{"P"}, "P", "pivot, now or at READY"),
		Faster:  common.Bind([]string{"+", "="}, "+/-", "bandwidth"),
		Slower:  common.Bind([]string{"-"}, "-", "less bandwidth"),
		Clear:   common.Bind([]string{"x"}, "x", "clear finished"),
		Cleanup: common.Bind([]string{"m"}, "m", "clean stale metadata"),
		Close:   common.Bind([]string{"esc"}, "esc/J", "close"),
	}
}

// jobRowH is the height of one job in the panel.
const jobRowH = 3

// Model lists every block job on the connection: the ones this
// virtchain started, the ones it found running at start (re-attach), and
// the ones virsh started. Progress arrives on the backend's job stream and
// is applied at most every redrawEvery, so the screen changes at most 10
// times a second while jobs run and not at all while none does.
type Model struct {
	dialog.Opener
	common  *common.Common
	keys    Keys
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
	// now (SetDomains), so a cleanup done since shows at once.
	after   map[string]bool
	domains []model.Domain

	// steered holds the keys (model.JobKey) of jobs started, aborted or
	// pivoted here (common.SteerMsg). Only their endings open a dialog: a
	// job someone else runs on the host only earns a footer line.
	steered map[string]bool

	width, height int
	// out are the messages for the root from the last Update (TakeMsgs).
	out []tea.Msg
}

// New builds the panel, hidden, with no stream yet (Init starts it).
func New(c *common.Common) *Model {
	full, empty := lipgloss.Color("4"), lipgloss.Color("8")
	if c.Styles.NoColor {
		full, empty = lipgloss.NoColor{}, lipgloss.NoColor{}
	}
	bar := progress.New(progress.WithColors(full), progress.WithFillCharacters('█', '░'), progress.WithoutPercentage())
	bar.EmptyColor = empty
	return &Model{
		common: c, keys: newJobKeys(), pending: map[string]model.Job{},
		now: time.Now, bar: bar, after: map[string]bool{}, steered: map[string]bool{},
	}
}

// live counts the jobs still running or at READY.
func (p *Model) live() int {
	n := 0
	for _, j := range p.jobs {
		if j.Phase.Live() {
			n++
		}
	}
	return n
}

func (p *Model) selected() (model.Job, bool) {
	if p.cursor < 0 || p.cursor >= len(p.jobs) {
		return model.Job{}, false
	}
	return p.jobs[p.cursor], true
}

// hold records a change for the next redraw. It returns the Cmd that
// brings it to the screen: none when a redraw is already due, else a
// tick timed so two redraws are at least redrawEvery apart.
func (p *Model) hold(j model.Job) tea.Cmd {
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
func (p *Model) flush() []model.Job {
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

func (p *Model) index(key string) int {
	for i := range p.jobs {
		if p.jobs[i].Key() == key {
			return i
		}
	}
	return -1
}

// sort keeps live jobs first, each group by domain and disk, and the
// cursor on the same job.
func (p *Model) sort() {
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
	p.cursor = common.Clamp(p.cursor, 0, len(p.jobs)-1)
}

// dropUnseen removes the live rows a re-attach did not find: those jobs
// ended while the connection was lost, and no event will say how. It
// returns how many.
func (p *Model) dropUnseen(found []model.Job) int { return p.DropUnseen("", found) }

// DropUnseen is dropUnseen for the rows whose domain starts with prefix:
// with several hosts, "HOST:" after that host's reconnect (its jobs were
// found again). It returns how many rows went.
func (p *Model) DropUnseen(prefix string, found []model.Job) int {
	seen := map[string]bool{}
	for _, j := range found {
		seen[j.Key()] = true
	}
	kept, n := p.jobs[:0], 0
	for _, j := range p.jobs {
		if j.Phase.Live() && !seen[j.Key()] && strings.HasPrefix(j.Domain, prefix) {
			n++
			continue
		}
		kept = append(kept, j)
	}
	p.jobs = kept
	p.cursor = common.Clamp(p.cursor, 0, len(p.jobs)-1)
	return n
}

// clearFinished drops the rows of jobs that ended.
func (p *Model) clearFinished() {
	kept := p.jobs[:0]
	for _, j := range p.jobs {
		if j.Phase.Live() {
			kept = append(kept, j)
		} else {
			delete(p.after, j.Key())
		}
	}
	p.jobs = kept
	p.cursor = common.Clamp(p.cursor, 0, len(p.jobs)-1)
}

func (p *Model) ShortHelp() []key.Binding {
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

func (p *Model) FullHelp() [][]key.Binding {
	k := p.keys
	return [][]key.Binding{{k.Toggle, k.Abort, k.Pivot, k.Faster, k.Clear, k.Cleanup, k.Close}}
}

// View draws the panel in its size.
func (p *Model) View() string {
	w, h := p.width, p.height
	st := p.common.Styles
	lines := make([]string, 0, h)
	title := "Block jobs"
	if n := p.live(); n > 0 {
		title += " · " + strconv.Itoa(n) + " running"
	}
	sub := "every job on " + p.common.Backend.URI() + ", virsh's too"
	if p.common.Lost() {
		sub = "connection lost: the jobs go on in QEMU, shown as last seen"
	}
	lines = append(lines, st.TabActive.Render(title)+" "+st.Dim.Render(common.Truncate(sub, max(w-common.TextWidth(title)-3, 0))))
	switch {
	case p.err != "":
		lines = append(lines, st.Error.Render(common.Truncate("✖ "+p.err, w)))
	case len(p.jobs) == 0:
		lines = append(lines, "", st.Dim.Render(common.Truncate("  no block jobs. In the Chains tab mark a range (t top, b base), then c commits or p pulls.", w)))
	}
	room := max((h-1)/jobRowH, 1)
	off := 0
	if p.cursor >= room {
		off = p.cursor - room + 1
	}
	for i := off; i < len(p.jobs) && i < off+room; i++ {
		lines = append(lines, p.renderJob(p.jobs[i], i == p.cursor, w)...)
	}
	return common.Block(lines, w, h)
}

// renderJob is three lines: who and what phase; the bar with bytes, rate,
// ETA and limit; the range or the error.
func (p *Model) renderJob(j model.Job, sel bool, w int) []string {
	return []string{p.jobHead(j, sel, w), p.jobBar(j, w), p.jobNote(j, w)}
}

// jobHead is who the job is and its phase.
func (p *Model) jobHead(j model.Job, sel bool, w int) string {
	st := p.common.Styles
	mark := "  "
	if sel {
		mark = "▸ "
	}
	head := j.Domain + " " + j.Disk + " " + string(j.Kind)
	switch {
	case j.Offline && j.StartPaused:
		head += " (offline, started paused)"
	case j.Offline:
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
	headW := max(w-2-common.CellWidth(phase)-2, 4)
	headText := common.PadRight(head, headW)
	if sel {
		headText = st.Selected.Render(headText)
	} else {
		headText = st.Bold.Render(headText)
	}
	return mark + headText + "  " + phase
}

// jobBar is the progress bar with bytes, rate, ETA and limit.
func (p *Model) jobBar(j model.Job, w int) string {
	st := p.common.Styles
	frac := j.Fraction()
	if j.Phase == model.PhaseCompleted {
		frac = 1
	}
	pct := common.PadLeft(strconv.Itoa(int(frac*100))+"%", 4)
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
	barW := common.Clamp(w-4-5-common.TextWidth(nums)-2, 10, 40)
	b := p.bar
	b.SetWidth(barW)
	return "    " + b.ViewAs(frac) + " " + pct + "  " + st.Dim.Render(common.Truncate(nums, max(w-4-barW-5-2, 0)))
}

// jobNote is the job's error, the stale metadata it left, or its range.
func (p *Model) jobNote(j model.Job, w int) string {
	st := p.common.Styles
	switch {
	case j.Error != "":
		return "    " + st.Error.Render(common.Truncate(model.OneLine(j.Error), w-4))
	case !j.Phase.Live() && p.after[j.Key()] && len(p.staleOf(j.Domain)) > 0:
		return "    " + st.Warning.Render(common.Truncate("stale snapshot metadata: "+strings.Join(p.staleOf(j.Domain), ", ")+" (m cleans)", w-4))
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
		return "    " + st.Dim.Render(common.Truncate(r, w-4))
	}
	return "    " + st.Dim.Render(common.Truncate("started outside this virtchain", w-4))
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

// Summary is the header's word on live jobs while the panel is closed:
// "⟳ 2 jobs 45%" (the least advanced).
func (p *Model) Summary() string {
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

var _ common.Component = (*Model)(nil)
