package ui

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/jobs"
)

// jobFake adds the block-job side to the fake backend. Job changes are
// sent by the tests as messages, the way waitJobCmd would deliver them.
type jobFake struct {
	*fakeBackend
	jmu      sync.Mutex
	ch       chan model.Job
	running  []model.Job // what ListJobs and WatchBlockJobs report
	started  []*model.BlockPlan
	aborted  []string // "domain/disk pivot=false"
	pivoted  []string
	bw       map[string]int64
	cleaned  []*model.CleanupPlan
	calls    int
	rescans  int
	startErr error
}

func newJobFake(ds ...model.Domain) *jobFake {
	return &jobFake{fakeBackend: newFake(ds...), ch: make(chan model.Job, 16), bw: map[string]int64{}}
}

func (f *jobFake) count() int {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	return f.calls
}

func (f *jobFake) WatchBlockJobs(context.Context) (<-chan model.Job, []model.Job, error) {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	return f.ch, append([]model.Job(nil), f.running...), nil
}

func (f *jobFake) RescanBlockJobs(context.Context) error {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	f.rescans++
	return nil
}

func (f *jobFake) ListJobs(context.Context) ([]model.Job, error) {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	return append([]model.Job(nil), f.running...), nil
}

func (f *jobFake) PlanCommit(ctx context.Context, req model.CommitRequest) (*model.BlockPlan, error) {
	return planBlock(ctx, f.fakeBackend, f.ListJobs, model.SpaceFacts{}, func(ds []model.Domain, js []model.Job) (*model.BlockPlan, error) {
		return model.PlanCommit(ds, req, js)
	})
}

func (f *jobFake) PlanPull(ctx context.Context, req model.PullRequest) (*model.BlockPlan, error) {
	return planBlock(ctx, f.fakeBackend, f.ListJobs, model.SpaceFacts{}, func(ds []model.Domain, js []model.Job) (*model.BlockPlan, error) {
		return model.PlanPull(ds, req, js)
	})
}

func (f *jobFake) StartBlockJob(_ context.Context, bp *model.BlockPlan) (model.Job, error) {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	if f.startErr != nil {
		return model.Job{}, f.startErr
	}
	f.started = append(f.started, bp)
	return bp.Job(), nil
}

func (f *jobFake) AbortBlockJob(_ context.Context, domain, disk string, pivot bool) error {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	f.aborted = append(f.aborted, domain+"/"+disk+" pivot="+strconv.FormatBool(pivot))
	return nil
}

func (f *jobFake) PivotBlockJob(_ context.Context, domain, disk string) error {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	f.pivoted = append(f.pivoted, domain+"/"+disk)
	return nil
}

func (f *jobFake) SetBlockJobBandwidth(_ context.Context, domain, disk string, bps int64) error {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	f.bw[domain+"/"+disk] = bps
	return nil
}

func (f *jobFake) CleanupStale(_ context.Context, cp *model.CleanupPlan) ([]string, []string, error) {
	f.jmu.Lock()
	defer f.jmu.Unlock()
	f.calls++
	f.cleaned = append(f.cleaned, cp)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.domains {
		if f.domains[i].Name != cp.Domain {
			continue
		}
		var kept []model.Snapshot
		for _, sn := range f.domains[i].Snapshots {
			if !strings.Contains(","+strings.Join(cp.Snapshots, ",")+",", ","+sn.Name+",") {
				kept = append(kept, sn)
			}
		}
		f.domains[i].Snapshots = kept
	}
	return cp.Snapshots, nil, nil
}

// jobHarness is a harness on a jobFake; jsend also fails when Update
// reached the job side of the backend.
type jobHarness struct {
	*harness
	jf *jobFake
}

func newJobHarness(t *testing.T, jf *jobFake, w, h int) *jobHarness {
	t.Helper()
	return newJobHarnessOn(t, jf, jf, w, h)
}

// newJobHarnessOn runs the UI on b, a backend that wraps jf.
func newJobHarnessOn(t *testing.T, b Backend, jf *jobFake, w, h int) *jobHarness {
	t.Helper()
	m := New(context.Background(), b, Options{NoColor: true})
	hs := &harness{t: t, m: m, f: jf.fakeBackend}
	jh := &jobHarness{harness: hs, jf: jf}
	jh.jsend(tea.WindowSizeMsg{Width: w, Height: h})
	hs.run(m.discover(0))
	// Start the job stream the way Init does, without waiting on it.
	msg := m.initJobs()()
	jh.jsend(msg)
	return jh
}

func (h *jobHarness) jsend(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	before := h.jf.count()
	cmd := h.send(msg)
	if h.jf.count() != before {
		h.t.Fatalf("Update(%T) called the job backend", msg)
	}
	return cmd
}

// update delivers a job change and then its redraw tick.
func (h *jobHarness) update(j model.Job) {
	h.t.Helper()
	h.jsend(jobs.UpdateMsg{Job: j, Ch: h.jf.ch})
	h.tick()
}

// tick delivers the pending redraw tick, running what it starts.
func (h *jobHarness) tick() {
	h.t.Helper()
	if pending, gen, _ := h.m.jobs.Tick(); pending {
		h.run(h.jsend(jobs.TickMsg{Gen: gen}))
	}
}

func (h *jobHarness) view() string {
	return ansiRE.ReplaceAllString(h.m.render(), "")
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// openChain selects lab-test2 and puts the cursor on the layer named.
func (h *jobHarness) openChain(name string) {
	h.t.Helper()
	h.press("1")
	if !h.m.detail.Chains().SelectLayer(name) {
		h.t.Fatalf("no layer %s", name)
	}
}

func TestRangeMarksDrawnOnTree(t *testing.T) {
	h := newJobHarness(t, newJobFake(classicDomain()), 100, 30)
	h.openChain("test2_net-tools.qcow2")
	h.press("t")
	h.openChain("test2.qcow2")
	h.press("b")
	v := h.m.detail.Chains()
	if disk, top, base := v.Marks(); top == "" || base == "" || disk != "vda" {
		t.Fatalf("marks = %s %s %s", disk, top, base)
	}
	out := h.view()
	for _, want := range []string{"▲TOP", "▼BASE", "↓moves", "top test2_net-tools.qcow2 → base test2.qcow2"} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
	// Two layers move (net-tools, nmap, test), drawn with heavy lines.
	if n := strings.Count(out, "┣━"); n != 4 {
		t.Errorf("%d heavy rows, want 4 (top, two between, base)\n%s", n, out)
	}
	// Marking the same layer again unmarks it; x clears all.
	h.press("b")
	if _, _, base := v.Marks(); base != "" {
		t.Errorf("b twice kept the base")
	}
	h.press("x")
	if v.Marked() || strings.Contains(h.view(), "▲TOP") {
		t.Errorf("x left marks")
	}
}

func TestMouseMarksTopThenBase(t *testing.T) {
	h := newJobHarness(t, newJobFake(classicDomain()), 100, 30)
	h.press("1")
	v := h.m.detail.Chains()
	x0, y0 := h.m.detailOrigin()
	click := func(row int) {
		y := y0 + h.m.detail.HeadH() + row - v.Offset()
		h.jsend(tea.MouseClickMsg{X: x0 + 5, Y: y, Button: tea.MouseRight})
	}
	click(2) // test2_net-tools
	click(5) // test2
	if _, top, base := v.Marks(); filepath.Base(top) != "test2_net-tools.qcow2" || filepath.Base(base) != "test2.qcow2" {
		t.Fatalf("marks after two right clicks: %s %s", top, base)
	}
}

func TestCommitPlanDialogThenStart(t *testing.T) {
	jf := newJobFake(classicDomain())
	// Tall enough for the whole plan, its file list included.
	h := newJobHarness(t, jf, 100, 50)
	h.openChain("test2_net-tools.qcow2")
	h.press("t")
	h.openChain("test2.qcow2")
	h.press("b", "+", "+", "c")
	out := h.view()
	for _, want := range []string{
		"commit test2_net-tools.qcow2, test2_nmap.qcow2, test2_test.qcow2 into test2.qcow2",
		"Leaving the chain", "Data to copy", "Snapshot metadata that becomes stale", "net-tools",
		"virsh blockcommit --domain lab-test2 --path vda", "--bandwidth 2",
		"chain afterwards (active first): test2_lsof.qcow2 → test2.qcow2 → centos.qcow2",
		"Carry out this plan?",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("plan dialog lacks %q:\n%s", want, out)
		}
	}
	if len(jf.started) != 0 {
		t.Fatal("started before confirmation")
	}
	h.press("y")
	if len(jf.started) != 1 {
		t.Fatalf("started %d jobs, want 1", len(jf.started))
	}
	bp := jf.started[0]
	if bp.Kind != model.JobCommit || filepath.Base(bp.TopPath) != "test2_net-tools.qcow2" ||
		filepath.Base(bp.BasePath) != "test2.qcow2" || bp.Bandwidth != 2<<20 {
		t.Errorf("started %+v", bp)
	}
}

func TestCancelPlanStartsNothing(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 40)
	h.openChain("test2_nmap.qcow2")
	h.press("p", "n")
	if len(jf.started) != 0 || h.m.dialog != nil {
		t.Fatalf("cancel: started %d, dialog %v", len(jf.started), h.m.dialog)
	}
}

func TestPlannerRefusalShown(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	// Base above top.
	h.openChain("test2.qcow2")
	h.press("t")
	h.openChain("test2_nmap.qcow2")
	h.press("b", "c")
	out := strings.Join(strings.Fields(h.view()), " ")
	if !strings.Contains(out, "base test2_nmap.qcow2 is above top test2.qcow2") || !strings.Contains(out, "swap them") {
		t.Errorf("refusal not shown:\n%s", h.view())
	}
	h.press("esc")
	if len(jf.started) != 0 {
		t.Fatal("a refused plan started")
	}
	// No marks: commit asks for them in one footer line.
	h.press("x", "c")
	if !strings.Contains(h.m.status.Err(), "mark a top (t)") {
		t.Errorf("footer = %q", h.m.status.Err())
	}
	// A disk that already has a job.
	jf.running = []model.Job{{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}}
	h.press("p")
	if out := strings.Join(strings.Fields(h.view()), " "); !strings.Contains(out, "already has a block job: pull") {
		t.Errorf("busy disk not refused:\n%s", h.view())
	}
}

// progressJob is an active commit observed at cur/end.
func progressJob(j *model.Job, cur, end int64, at time.Time) model.Job {
	j.Observe(cur, end, at)
	return *j
}

var pctRE = regexp.MustCompile(`(\d+)%`)

// shownPercent is the percentage on the panel's first job.
func shownPercent(t *testing.T, h *jobHarness) int {
	t.Helper()
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "░") || strings.Contains(l, "█") {
			if m := pctRE.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n
			}
		}
	}
	t.Fatalf("no bar on screen:\n%s", h.view())
	return 0
}

func TestProgressNeverGoesBackwards(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	t0 := time.Now()
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseRunning}
	// The guest writes: End grows faster than Cur for a while.
	steps := [][2]int64{{10, 100}, {40, 100}, {50, 200}, {60, 400}, {300, 400}, {350, 420}}
	last := -1
	for i, s := range steps {
		h.update(progressJob(&j, s[0]*mib, s[1]*mib, t0.Add(time.Duration(i)*time.Second)))
		got := shownPercent(t, h)
		if got < last {
			t.Fatalf("step %d: bar went back from %d%% to %d%%", i, last, got)
		}
		last = got
	}
	if last != 83 {
		t.Errorf("final %d%%, want 83%%", last)
	}
	if !h.m.jobs.Visible() {
		t.Error("a new job did not open the panel")
	}
	out := h.view()
	for _, want := range []string{"lab-test2 vda active-commit", "running", "350M/420M", "/s", "ETA"} {
		if !strings.Contains(out, want) {
			t.Errorf("panel lacks %q:\n%s", want, out)
		}
	}
}

func TestReadyThenPivotAndCleanup(t *testing.T) {
	d := classicDomain()
	jf := newJobFake(d)
	h := newJobHarness(t, jf, 100, 40)
	t0 := time.Now()
	lay := d.Disks[0].Layers
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseRunning,
		Top: lay[0].Path, Base: lay[1].Path, AfterReady: model.AfterReadyWait}
	// The range the job came from: the base stays in the chain.
	h.m.detail.Chains().Mark("lab-test2", "vda", lay[1].Path, true)
	h.update(progressJob(&j, 5*mib, 10*mib, t0))
	j.SetPhase(model.PhaseReady, t0.Add(time.Second))
	h.update(j)
	if !strings.Contains(h.view(), "READY: P pivots") {
		t.Fatalf("READY not shown:\n%s", h.view())
	}
	h.press("P")
	if !strings.Contains(h.view(), "test2_net-tools.qcow2 becomes the active layer now") {
		t.Errorf("pivot plan:\n%s", h.view())
	}
	h.press("y")
	if len(jf.pivoted) != 1 {
		t.Fatalf("pivots: %v", jf.pivoted)
	}
	h.press("esc")

	// The pivot completes: the active layer leaves the chain and the
	// snapshot that created it goes stale.
	after := classicDomain()
	after.Disks[0].Layers = after.Disks[0].Layers[1:]
	jf.set(after)
	j.SetPhase(model.PhaseCompleted, t0.Add(2*time.Second))
	h.update(j)
	if h.m.detail.Chains().Marked() {
		disk, top, base := h.m.detail.Chains().Marks()
		t.Errorf("marks outlived the job that used them: %s %s %s", disk, top, base)
	}
	out := h.view()
	for _, want := range []string{"completed", "Left the chain", "test2_lsof.qcow2", "Snapshot metadata now stale", "lsof"} {
		if !strings.Contains(out, want) {
			t.Errorf("after-job dialog lacks %q:\n%s", want, out)
		}
	}
	h.press("m")
	if !strings.Contains(h.view(), "virsh snapshot-delete --domain lab-test2 lsof --metadata") {
		t.Errorf("cleanup plan:\n%s", h.view())
	}
	// Nothing is removed before y: the plan says what it will remove.
	if out := h.view(); !strings.Contains(out, "Stale metadata to remove") || strings.Contains(out, "metadata removed") {
		t.Errorf("cleanup plan heading:\n%s", out)
	}
	h.press("y")
	if len(jf.cleaned) != 1 || len(jf.cleaned[0].Files) != 0 || strings.Join(jf.cleaned[0].Snapshots, ",") != "lsof" {
		t.Errorf("cleanup = %+v", jf.cleaned)
	}
	// Closing the result shows the panel, which no longer offers a cleanup.
	h.press("esc")
	if out := h.view(); !strings.Contains(out, "✔ completed") || strings.Contains(out, "m cleans") {
		t.Errorf("panel after the cleanup:\n%s", out)
	}
}

func TestAbortAndBandwidth(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning, Bandwidth: 10 << 20}
	h.update(progressJob(&j, mib, 10*mib, time.Now()))
	h.press("-")
	if jf.bw["lab-test2/vda"] != 5<<20 {
		t.Errorf("bandwidth after -: %d", jf.bw["lab-test2/vda"])
	}
	h.press("a")
	if !strings.Contains(h.view(), "stop the job; the chain stays as it is") {
		t.Errorf("abort plan:\n%s", h.view())
	}
	h.press("y")
	if strings.Join(jf.aborted, ",") != "lab-test2/vda pivot=false" {
		t.Errorf("aborted = %v", jf.aborted)
	}
	h.press("esc")
	j.SetPhase(model.PhaseCancelled, time.Now())
	h.update(j)
	if !strings.Contains(h.view(), "cancelled, chain unchanged") {
		t.Errorf("cancel not shown:\n%s", h.view())
	}
	h.press("x")
	if len(h.m.jobs.Jobs()) != 0 {
		t.Errorf("x kept %d finished jobs", len(h.m.jobs.Jobs()))
	}
}

func TestReattachShowsRunningJobs(t *testing.T) {
	jf := newJobFake(classicDomain())
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseReady}
	j.Observe(10*mib, 10*mib, time.Now())
	j.SetPhase(model.PhaseReady, time.Now())
	jf.running = []model.Job{j}
	h := newJobHarness(t, jf, 100, 30)
	if !h.m.jobs.Visible() || !strings.Contains(h.view(), "READY: P pivots") || !strings.Contains(h.view(), "started outside this virtchain") {
		t.Errorf("re-attached job not shown:\n%s", h.view())
	}
	// J closes the panel; the header keeps a word on the live job.
	h.press("J")
	if !strings.Contains(h.view(), "⟳ 1 job 100% READY (J)") {
		t.Errorf("header summary:\n%s", h.view())
	}
}

// TestRefreshRescansJobs: libvirt sends no event when virsh starts a job,
// so a refresh must look for new jobs as well as re-read the domains.
func TestRefreshRescansJobs(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	cmd := h.jsend(tea.KeyPressMsg{Code: 'r', Mod: tea.ModCtrl})
	h.run(cmd)
	jf.jmu.Lock()
	n := jf.rescans
	jf.jmu.Unlock()
	if n != 1 {
		t.Errorf("ctrl+r rescanned block jobs %d times, want 1", n)
	}
}

// TestRedrawCoalescing feeds progress far faster than 10 a second and
// counts how often what the panel shows changes, on a virtual clock.
func TestRedrawCoalescing(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	p := h.m.jobs
	clock := time.Unix(1_700_000_000, 0)
	p.SetClock(func() time.Time { return clock })
	ticking := func() bool { pending, _, _ := p.Tick(); return pending }
	tickGen := func() int { _, gen, _ := p.Tick(); return gen }
	var due time.Time
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}
	frames, prev := 0, h.view()
	const dur = 3 * time.Second
	for step := time.Duration(0); step < dur; step += 5 * time.Millisecond {
		clock = time.Unix(1_700_000_000, 0).Add(step)
		if ticking() && !clock.Before(due) {
			h.jsend(jobs.TickMsg{Gen: tickGen()})
		}
		was := ticking()
		h.jsend(jobs.UpdateMsg{Job: progressJob(&j, int64(step/time.Millisecond)*mib, int64(dur/time.Millisecond)*mib, clock), Ch: h.jf.ch})
		if !was && ticking() {
			_, _, due = p.Tick()
		}
		if v := h.view(); v != prev {
			frames++
			prev = v
		}
	}
	if max := int(dur/time.Second)*10 + 1; frames > max || frames < 20 {
		t.Errorf("%d frames in %v of updates every 5 ms; want 20..%d", frames, dur, max)
	}
	// Idle: once the last change is shown, no tick is pending.
	clock = clock.Add(time.Second)
	h.jsend(jobs.TickMsg{Gen: tickGen()})
	if ticking() {
		t.Error("still ticking while idle")
	}
	if cmd := h.jsend(jobs.TickMsg{Gen: tickGen()}); cmd != nil {
		t.Error("an idle tick scheduled more work")
	}
}

func TestReadOnlyRefusesJobs(t *testing.T) {
	jf := newJobFake(classicDomain())
	jf.readOnly = true
	h := newJobHarness(t, jf, 100, 30)
	h.openChain("test2_nmap.qcow2")
	h.press("p")
	if !strings.Contains(h.m.status.Err(), "read-only") || len(jf.started) != 0 {
		t.Errorf("read-only pull: err %q, started %d", h.m.status.Err(), len(jf.started))
	}
}

// A job that ends while the "Started ..." result of its own commit is on
// screen opens the completion dialog in its place; a plan the user is
// reading stays, and the completion goes to the footer.
func TestJobDoneReplacesItsStartedResult(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 40)
	h.openChain("test2_net-tools.qcow2")
	h.press("t")
	h.openChain("test2.qcow2")
	h.press("b", "c", "y")
	if !strings.Contains(h.view(), "Started commit on lab-test2 vda") {
		t.Fatalf("no started result:\n%s", h.view())
	}
	after := classicDomain()
	lay := after.Disks[0].Layers
	after.Disks[0].Layers = append([]model.Layer{lay[0]}, lay[4:]...)
	jf.set(after)
	j := jf.started[0].Job()
	j.SetPhase(model.PhaseCompleted, time.Now())
	h.update(j)
	out := h.view()
	if strings.Contains(out, "Started commit") || !strings.Contains(out, "commit on lab-test2 vda completed") ||
		!strings.Contains(out, "Left the chain") || !strings.Contains(out, "test2_nmap.qcow2") {
		t.Fatalf("completion did not replace the started result:\n%s", out)
	}

	// A pivot plan waiting for y is not replaced.
	d := classicDomain()
	jf2 := newJobFake(d)
	h2 := newJobHarness(t, jf2, 100, 40)
	a := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseRunning,
		Top: d.Disks[0].Layers[0].Path, Base: d.Disks[0].Layers[1].Path}
	h2.update(a)
	h2.press("P")
	after2 := classicDomain()
	after2.Disks[0].Layers = after2.Disks[0].Layers[1:]
	jf2.set(after2)
	a.SetPhase(model.PhaseCompleted, time.Now())
	h2.update(a)
	if out := h2.view(); !strings.Contains(out, "Carry out this plan?") || !strings.Contains(h2.m.status.Info(), "completed; J then m cleans") {
		t.Fatalf("a plan being read was replaced:\n%s", out)
	}
}

// TestForeignJobEndIsAFooterLine: a job this session neither started nor
// steered (virsh, a script, another virtchain) ends without a modal, which
// would steal the keys of someone browsing another domain.
func TestForeignJobEndIsAFooterLine(t *testing.T) {
	d := classicDomain()
	jf := newJobFake(d)
	h := newJobHarness(t, jf, 100, 40)
	h.press("J") // close the panel the running job may have opened
	lay := d.Disks[0].Layers
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobCommit, Phase: model.PhaseRunning,
		Top: lay[1].Path, Base: lay[3].Path}
	h.update(progressJob(&j, mib, 10*mib, time.Now()))
	after := classicDomain()
	after.Disks[0].Layers = append([]model.Layer{lay[0]}, lay[3:]...)
	jf.set(after)
	j.SetPhase(model.PhaseCompleted, time.Now())
	h.update(j)
	if h.m.dialog != nil {
		t.Fatalf("a foreign job's end opened a dialog:\n%s", h.view())
	}
	if !strings.Contains(h.m.status.Info(), "commit on lab-test2 vda completed") {
		t.Errorf("footer note = %q", h.m.status.Info())
	}
}

// At 80 columns the after-job dialog's cleanup command is shown whole,
// wrapped rather than cut, even for a long domain name.
func TestJobDoneDialogWrapsTheCleanupHint(t *testing.T) {
	c := &common.Common{Ctx: context.Background(), Styles: common.NewStyles(true), KeyMap: common.DefaultKeyMap()}
	j := model.Job{Domain: "vct-qa-a-rather-long-domain-name", Disk: "vda", Kind: model.JobCommit, Phase: model.PhaseCompleted}
	d := jobs.NewDoneDialog(c, j, []string{"/var/tmp/x/deep_2.qcow2"}, []string{"step2"})
	d.SetSize(80, 22)
	view := sgr.ReplaceAllString(d.View(), "")
	flat := strings.Join(strings.Fields(view), " ")
	for _, want := range []string{
		"'virtchain cleanup vct-qa-a-rather-long-domain-name --delete-files' (checks no one uses them)",
		"libvirt 9.0 refuses a normal delete of these; m removes their metadata only",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("dialog lacks %q:\n%s", want, view)
		}
	}
	for _, l := range strings.Split(view, "\n") {
		if common.TextWidth(l) > 80 {
			t.Errorf("line wider than 80: %q", l)
		}
	}
}

// A job that ran elsewhere and ended before virtchain saw it running has
// no sizes: its row must not claim "0B/0B" were copied.
func TestJobSeenOnlyAtItsEndShowsNoSizes(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 80, 24)
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull}
	j.SetPhase(model.PhaseCompleted, time.Now())
	h.update(j)
	h.press("J")
	out := h.view()
	if !strings.Contains(out, "lab-test2 vda pull") || !strings.Contains(out, "100%") {
		t.Fatalf("finished job not shown:\n%s", out)
	}
	if strings.Contains(out, "0B/0B") {
		t.Errorf("sizes of an unseen job shown as 0B/0B:\n%s", out)
	}
}

// TestChainViewShowsTheDisksJob: the chain the user is looking at is about
// to change; its disk header says so, not only the screen's header.
func TestChainViewShowsTheDisksJob(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	h.openChain("test2_lsof.qcow2")
	h.lacks("⟳ pull")
	j := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}
	h.update(progressJob(&j, 25*mib, 100*mib, time.Now()))
	if h.m.jobs.Visible() {
		h.press("J") // back to the chain view
	}
	if out := h.view(); !strings.Contains(out, "vda · ⟳ pull 25% · virtio disk") {
		t.Errorf("disk header lacks the job:\n%s", out)
	}
	j.SetPhase(model.PhaseCompleted, time.Now())
	h.update(j)
	if out := h.view(); strings.Contains(out, "⟳ pull") {
		t.Errorf("a finished job still shows on the disk:\n%s", out)
	}
}

// TestNextJobOnADiskOpensThePanel: after a commit finished on vda (its
// row stays), a pull on vda opens the panel like the first job did.
func TestNextJobOnADiskOpensThePanel(t *testing.T) {
	jf := newJobFake(classicDomain())
	h := newJobHarness(t, jf, 100, 30)
	c := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobCommit, Phase: model.PhaseRunning}
	h.update(progressJob(&c, 1*mib, 10*mib, time.Now()))
	c.SetPhase(model.PhaseCompleted, time.Now())
	h.update(c)
	h.press("J")
	if h.m.jobs.Visible() {
		t.Fatal("J did not close the panel")
	}
	pl := model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}
	h.update(progressJob(&pl, 1*mib, 10*mib, time.Now()))
	if !h.m.jobs.Visible() {
		t.Errorf("a new pull on a disk with a finished commit did not open the panel:\n%s", h.view())
	}
}
