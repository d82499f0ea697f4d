package soak

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"virtchain/libvirtx/testhost"
)

// Step is one operation of a sequence. N is a random number the operation
// turns into its choices (which snapshot, which layers, which variant)
// against the state it meets, so a shortened sequence still replays.
type Step struct {
	Op string
	N  int
}

func (s Step) String() string { return fmt.Sprintf("{%q, %d}", s.Op, s.N) }

func goLiteral(steps []Step) string {
	var b strings.Builder
	b.WriteString("[]Step{")
	for i, s := range steps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.String())
	}
	b.WriteString("}")
	return b.String()
}

const (
	quick = 20 * time.Second  // an operation without a job
	slow  = 120 * time.Second // one that follows a (throttled) job
	fifoT = 10 * time.Second  // anything near the FIFO or the loop: refused at once
)

// op is one kind of step: when it applies, and what it does and expects.
type op struct {
	name   string
	weight int
	fault  bool
	can    func(w *world) bool
	run    func(w *world, n int) *failure
}

func running(w *world) bool  { return w.state == "running" }
func shutoff(w *world) bool  { return w.state == "shutoff" }
func live(w *world) bool     { return w.state == "running" || w.state == "shutoff" }
func hasSnaps(w *world) bool { return live(w) && len(w.snaps) > 0 }
func layers(k int) func(w *world) bool {
	return func(w *world) bool { return live(w) && len(w.cur) >= k }
}
func runningLayers(k int) func(w *world) bool {
	return func(w *world) bool { return running(w) && len(w.cur) >= k }
}

var ops []op

func init() {
	ops = []op{
		{"write", 6, false, live, opWrite},
		{"isnap", 2, false, live, opInternal},
		{"esnap", 3, false, live, opExternal},
		{"echeck", 2, false, running, opCheckpoint},
		{"revert", 3, false, hasSnaps, opRevert},
		{"delete", 1, false, hasSnaps, opDelete},
		{"mdelete", 1, false, hasSnaps, opMetaDelete},
		{"cleanup", 1, false, live, opCleanup},
		{"cleanup-files", 2, false, live, opCleanupFiles},
		{"cleanup-bad", 1, false, live, opCleanupBad},
		{"save", 1, false, running, opSave},
		{"restore", 4, false, func(w *world) bool { return w.state == "saved" }, opRestore},
		{"managedsave", 1, false, running, opManagedSave},
		{"start", 4, false, func(w *world) bool { return w.state == "msaved" || shutoff(w) }, opStart},
		{"destroy", 1, false, running, opDestroy},
		{"commit", 2, false, layers(3), opCommit},
		{"commit-shallow", 1, false, layers(3), opCommitShallow},
		{"commit-active", 3, false, layers(2), opCommitActive},
		{"pull", 2, false, layers(2), opPull},
		{"abort", 1, false, runningLayers(2), opAbort},
		{"bandwidth", 1, false, runningLayers(2), opBandwidth},
		{"kill9", 1, true, runningLayers(2), opKill},
		{"enospc", 1, true, running, opENOSPC},
		{"race", 1, true, runningLayers(2), opRace},
		{"fifo", 2, true, live, opFIFO},
		{"restart", 1, true, func(w *world) bool { return restartOK() && running(w) && len(w.cur) >= 2 }, opRestart},
	}
}

// restartOK: restarting the shared libvirtd is opt-in (SOAK_LIBVIRTD=1):
// other users of the daemon see it go away for a second.
func restartOK() bool { return os.Getenv("SOAK_LIBVIRTD") == "1" }

func findOp(name string) *op {
	for i := range ops {
		if ops[i].name == name {
			return &ops[i]
		}
	}
	return nil
}

// skipped names operations SOAK_SKIP leaves out of drawing ("fifo,enospc").
func skipped(name string) bool {
	for _, s := range strings.Split(os.Getenv("SOAK_SKIP"), ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// draw picks an operation that applies in the world's state.
func draw(r *rand.Rand, w *world) Step {
	total := 0
	for _, o := range ops {
		if o.can(w) && !skipped(o.name) {
			total += o.weight
		}
	}
	k := r.Intn(total)
	for _, o := range ops {
		if !o.can(w) || skipped(o.name) {
			continue
		}
		if k < o.weight {
			return Step{o.name, r.Intn(1000)}
		}
		k -= o.weight
	}
	panic("unreachable")
}

// segment runs steps in a fresh world: the given ones (a replay; a step
// that does not apply is skipped), or count drawn from seed. It returns the
// steps it ran and the first failure.
func segment(bin string, seed int64, given []Step, count int, st *stats, log func(string)) ([]Step, *failure) {
	w, err := newWorld(bin, seed, st)
	if w != nil {
		defer w.remove()
	}
	if err != nil {
		return nil, fail(fHarness, "world: %v", err)
	}
	st.add(func(s *stats) { s.worlds++ })
	if f := w.check("setup"); f != nil {
		return nil, f
	}
	r := rand.New(rand.NewSource(seed))
	var done []Step
	if given != nil {
		count = len(given)
	}
	for i := 0; i < count; i++ {
		var s Step
		if given != nil {
			s = given[i]
			if o := findOp(s.Op); o == nil || !o.can(w) {
				st.add(func(st *stats) { st.skipped++ })
				continue
			}
		} else {
			s = draw(r, w)
		}
		done = append(done, s)
		o := findOp(s.Op)
		t0 := time.Now()
		w.note = ""
		f := o.run(w, s.N)
		if err := dog.dead(); err != nil {
			f = fail(fHarness, "%v", err) // not the step's doing: say so, not what it then saw
		} else if f == nil {
			f = w.check(s.Op)
		}
		st.add(func(st *stats) {
			st.steps[s.Op]++
			if o.fault {
				st.faults[s.Op]++
			}
		})
		if log != nil {
			log(fmt.Sprintf("seed %d step %d %v %s (%s) %s", seed, len(done), s, w.state, time.Since(t0).Round(10*time.Millisecond), w.note))
		}
		if f != nil {
			f.msg = fmt.Sprintf("step %d %v: %s", len(done), s, f.msg)
			return done, f
		}
	}
	return done, nil
}

// shrink looks for a shorter step list that fails the same way (delta
// debugging; every try in a fresh world), within budget tries.
func shrink(bin string, seed int64, steps []Step, kind string, budget int, log func(string)) []Step {
	fails := func(c []Step) bool {
		if budget <= 0 {
			return false
		}
		budget--
		_, f := segment(bin, seed, c, 0, newStats(), nil)
		ok := f != nil && f.kind == kind
		if log != nil {
			log(fmt.Sprintf("shrink: %d steps: still fails: %v", len(c), ok))
		}
		return ok
	}
	// A failure the same steps do not bring back came from outside (the
	// shared daemon restarted, the machine stalled): nothing to shrink.
	if !fails(steps) {
		if log != nil {
			log("shrink: the full step list passes on replay: not reproducible")
		}
		return steps
	}
	n := 2
	for len(steps) >= 2 && budget > 0 {
		chunk := (len(steps) + n - 1) / n
		reduced := false
		for i := 0; i < len(steps); i += chunk {
			end := min(i+chunk, len(steps))
			c := append(append([]Step{}, steps[:i]...), steps[end:]...)
			if len(c) > 0 && fails(c) {
				steps, n, reduced = c, max(n-1, 2), true
				break
			}
		}
		if !reduced {
			if n >= len(steps) {
				break
			}
			n = min(n*2, len(steps))
		}
	}
	return steps
}

// --- the operations ---

func (w *world) nextPattern() byte {
	w.pat++
	if w.pat < 0x10 {
		w.pat = 0x10
	}
	return w.pat
}

func opWrite(w *world, n int) *failure {
	off, ln := n%blocks, 1+(n/blocks)%2
	if off+ln > blocks {
		ln = blocks - off
	}
	p := w.nextPattern()
	cmd := fmt.Sprintf("write -P 0x%02x %dM %dM", p, off, ln)
	var r result
	if w.state == "running" {
		r = virsh("qemu-monitor-command", w.dom, "--hmp", fmt.Sprintf("qemu-io -d %s %q", qdev, cmd))
		if r.code == 0 && strings.Contains(r.out, "fail") {
			r.code = 1
		}
	} else {
		r = run(quick, "qemu-io", "-f", "qcow2", "-c", cmd, w.cur[0])
	}
	if r.code != 0 {
		return fail(fHarness, "guest write %s: %v", cmd, r)
	}
	for i := off; i < off+ln; i++ {
		w.content[i] = p
	}
	return nil
}

func (w *world) newSnap(kind string, n int) string {
	w.n++
	return fmt.Sprintf("%s%d", kind, w.n)
}

func opInternal(w *world, n int) *failure {
	name := w.newSnap("i", n)
	r, f := w.do(must, quick, "snapshot", "create", w.dom, name)
	if f == nil && r.code == 0 {
		w.snaps = append(w.snaps, &snap{name: name, kind: "internal", content: w.content, layer: w.cur[0]})
	}
	return f
}

func opExternal(w *world, n int) *failure {
	name := w.newSnap("e", n)
	ov := w.name("ov", ".qcow2")
	r, f := w.do(must, quick, "snapshot", "create", w.dom, name, "--external", "--disk-only", "--file", "vda="+ov)
	if f == nil && r.code == 0 {
		w.snaps = append(w.snaps, &snap{name: name, kind: "external", content: w.content, layer: w.cur[0], overlay: ov})
	}
	return f
}

func opCheckpoint(w *world, n int) *failure {
	name := w.newSnap("c", n)
	ov, mem := w.name("ov", ".qcow2"), w.name("mem", ".mem")
	r, f := w.do(must, quick, "snapshot", "create", w.dom, name, "--external", "--memory-file", mem, "--file", "vda="+ov)
	if f == nil && r.code == 0 {
		w.snaps = append(w.snaps, &snap{name: name, kind: "checkpoint", content: w.content, layer: w.cur[0], overlay: ov, memfile: mem})
	}
	return f
}

// intact says whether a snapshot's point still holds what the guest saw
// when it was taken; a revert to it must be refused when it does not.
// An external snapshot's point is the one its metadata names now (a
// delete of its parent may merge the old point away and name the image it
// went into): a revert goes there, so that image must hold the state.
func (w *world) intact(s *snap) (bool, *failure) {
	layer, internal := s.layer, ""
	if s.kind == "internal" {
		internal = s.name
	} else if p := w.point(s.name); p != "" {
		layer = p
	}
	if _, err := os.Stat(layer); err != nil {
		return false, nil
	}
	ok, err := w.same(layer, s.content, internal)
	if err != nil {
		return false, fail(fHarness, "%v", err)
	}
	return ok, nil
}

func opRevert(w *world, n int) *failure {
	s := w.snaps[n%len(w.snaps)]
	ok, f := w.intact(s)
	if f != nil {
		return f
	}
	e := must
	switch {
	case !ok:
		e = refuse // its point was destroyed (or deleted): no such state exists any more
	case s.kind == "internal" && s.layer != w.cur[0]:
		e = either // libvirt loads internal snapshots from the active layer only
	case w.markedStale(s.name):
		e = either // marked stale by virtchain: refusing it is safe
	}
	args := []string{"snapshot", "revert", w.dom, s.name, "--running"}
	if n%2 == 1 {
		args = append(args, "--force")
	}
	if (n/2)%3 == 1 {
		args = append(args, "--discard-current")
	}
	before, top := w.content, w.cur[0]
	r, f := w.do(e, quick, args...)
	if f == nil && r.code == 0 {
		f = w.adoptKeep(before, top)
	}
	if f != nil {
		if f.kind == fNotRefused {
			f.kind = fWrongRevert
			f.msg += fmt.Sprintf(" (the point of %s no longer holds its state)", s.name)
		}
		return f
	}
	if r.code == 0 {
		w.content, w.state = s.content, "running"
	}
	return nil
}

// adoptKeep adds to the oracle the snapshot a revert took of the state
// before it (before-revert-to-NAME): content before, in the old top.
func (w *world) adoptKeep(before [blocks]byte, top string) *failure {
	var sj snapsJSON
	if err := w.vcJSON(&sj, "snapshots", w.dom); err != nil {
		return fail(fHarness, "%v", err)
	}
	for _, s := range sj.Snapshots {
		if w.snap(s.Name) != nil {
			continue
		}
		if !strings.HasPrefix(s.Name, "before-revert-to-") {
			return fail(fHarness, "a revert made snapshot %s, which is no keep snapshot", s.Name)
		}
		k := &snap{name: s.Name, kind: "internal", content: before, layer: top, memfile: s.MemoryFile}
		if s.Kind == "external" {
			k.kind = "external"
			if s.MemoryFile != "" {
				k.kind = "checkpoint"
			}
			for _, d := range s.Disks {
				if d.Target == "vda" {
					k.layer, k.overlay = d.Point, d.File
				}
			}
		}
		w.snaps = append(w.snaps, k)
	}
	return nil
}

// point is the vda point virtchain reads in a snapshot's metadata now.
func (w *world) point(name string) string {
	var sj snapsJSON
	if w.vcJSON(&sj, "snapshots", w.dom) != nil {
		return ""
	}
	for _, s := range sj.Snapshots {
		for _, d := range s.Disks {
			if s.Name == name && d.Target == "vda" {
				return d.Point
			}
		}
	}
	return ""
}

// markedStale says whether virtchain marks the snapshot stale now.
func (w *world) markedStale(name string) bool {
	var sj snapsJSON
	if w.vcJSON(&sj, "snapshots", w.dom) != nil {
		return false
	}
	for _, s := range sj.Snapshots {
		if s.Name == name {
			return len(s.Stale) > 0
		}
	}
	return false
}

func opDelete(w *world, n int) *failure {
	s := w.snaps[n%len(w.snaps)]
	r, f := w.do(either, slow, "snapshot", "delete", w.dom, s.name)
	if f == nil && r.code == 0 {
		w.dropSnap(s.name)
	}
	return f
}

func opMetaDelete(w *world, n int) *failure {
	s := w.snaps[n%len(w.snaps)]
	r, f := w.do(must, quick, "snapshot", "delete", w.dom, s.name, "--metadata-only")
	if f == nil && r.code == 0 {
		w.dropSnap(s.name)
	}
	return f
}

// cleanup runs a cleanup and drops from the oracle the snapshots its plan
// said it would forget, which must all have been marked stale.
func (w *world) cleanup(e expect, args ...string) *failure {
	var plan struct {
		StaleRemoved []string `json:"stale_removed"`
		Files        []string `json:"files"`
	}
	_ = w.vcJSON(&plan, append([]string{"--dry-run"}, args...)...)
	stale := map[string]bool{}
	for _, s := range plan.StaleRemoved {
		stale[s] = w.markedStale(s)
	}
	r, f := w.do(e, quick, args...)
	if f == nil && r.code == 0 {
		for _, p := range plan.Files {
			if _, err := os.Lstat(p); err == nil {
				return fail(fUnplanned, "cleanup planned to delete %s, which is still there", p)
			}
		}
		for _, s := range plan.StaleRemoved {
			if !stale[s] {
				return fail(fDeleted, "cleanup removed snapshot %s, which was not stale", s)
			}
			w.dropSnap(s)
		}
	}
	return f
}

func opCleanup(w *world, n int) *failure {
	return w.cleanup(either, "cleanup", w.dom)
}

// leftFiles are the images in the folder no chain uses now: files a commit
// or pull took out of the chain (or that a revert left behind).
func (w *world) leftFiles() []string {
	inChain := map[string]bool{}
	for _, p := range w.cur {
		inChain[p] = true
	}
	var out []string
	m, _ := filepath.Glob(w.path("*.qcow2"))
	for _, p := range m {
		if !inChain[p] && p != w.fifoTop && !strings.HasPrefix(filepath.Base(p), "loop-") {
			out = append(out, p)
		}
	}
	return out
}

func opCleanupFiles(w *world, n int) *failure {
	left := w.leftFiles()
	args := []string{"cleanup", w.dom, "--delete-files"}
	for i, p := range left {
		if (n>>i)&1 == 1 {
			args = append(args, p)
		}
	}
	return w.cleanup(either, args...)
}

// opCleanupBad names a file cleanup must never delete.
func opCleanupBad(w *world, n int) *failure {
	bad := []string{w.path("notes.txt"), w.outside, w.cur[0], w.cur[len(w.cur)-1], w.fifo, w.fifoTop, "/etc/hostname"}
	// A stale snapshot's files are what a cleanup removes along with its
	// metadata (a revert to it is refused), even where its point is intact.
	var sj snapsJSON
	if err := w.vcJSON(&sj, "snapshots", w.dom); err != nil {
		return fail(fHarness, "%v", err)
	}
	stale := map[string]bool{}
	for _, s := range sj.Snapshots {
		stale[s.Name] = len(s.Stale) > 0
	}
	for _, s := range w.snaps {
		if stale[s.name] {
			continue
		}
		if s.memfile != "" {
			bad = append(bad, s.memfile)
		}
		if s.kind != "internal" {
			if ok, _ := w.intact(s); ok {
				bad = append(bad, s.layer) // a live snapshot point
			}
		}
	}
	if w.saveFile != "" {
		bad = append(bad, w.saveFile) // restored from, can be restored again
	}
	file := bad[n%len(bad)]
	if file == "/etc/hostname" {
		// Never risk a file outside the folder: the plan alone must refuse.
		r := w.vc(quick, "--dry-run", "cleanup", w.dom, "--delete-files", file)
		if r.hang {
			return fail(fHang, "cleanup --dry-run %s", file)
		}
		if r.code != 1 || !oneLine(r.errs) {
			return fail(fNotRefused, "cleanup --delete-files %s: the plan accepts it: %v", file, r)
		}
		w.stats.add(func(s *stats) { s.refusedOK++ })
		return nil
	}
	return w.cleanup(refuse, "cleanup", w.dom, "--delete-files", file)
}

// moveTo runs an operation that must succeed and leaves the domain in state.
func (w *world) moveTo(state string, args ...string) *failure {
	r, f := w.do(must, slow, args...)
	if f == nil && r.code == 0 {
		w.state = state
	}
	return f
}

func opSave(w *world, n int) *failure {
	file := w.name("save", ".sav")
	f := w.moveTo("saved", "save", w.dom, file)
	if w.state == "saved" {
		w.saveFile = file
	}
	return f
}

func opRestore(w *world, n int) *failure { return w.moveTo("running", "restore", w.saveFile) }

func opManagedSave(w *world, n int) *failure { return w.moveTo("msaved", "managedsave", w.dom) }

func opStart(w *world, n int) *failure { return w.moveTo("running", "start", w.dom) }

func opDestroy(w *world, n int) *failure {
	if r := virsh("destroy", w.dom); r.code != 0 {
		return fail(fHarness, "destroy: %v", r)
	}
	w.state = "shutoff"
	return nil
}

// wait adds --wait for a running domain (a shut-off one is merged by
// qemu-img, synchronously).
func (w *world) wait(args []string) []string {
	if w.state == "running" {
		return append(args, "--wait")
	}
	return args
}

func opCommit(w *world, n int) *failure {
	c := w.cur
	i := 1 + n%(len(c)-2)
	j := i + 1 + (n/7)%(len(c)-1-i)
	_, f := w.do(either, slow, w.wait([]string{"commit", w.dom, "vda", "--top", c[i], "--base", c[j]})...)
	return f
}

func opCommitShallow(w *world, n int) *failure {
	c := w.cur
	i := 1 + n%(len(c)-2)
	_, f := w.do(either, slow, w.wait([]string{"commit", w.dom, "vda", "--top", c[i], "--shallow"})...)
	return f
}

func opCommitActive(w *world, n int) *failure {
	args := []string{"commit", w.dom, "vda", "--active"}
	switch {
	case w.state != "running":
		// Offline, the active layer is merged by qemu-img: no mirror.
		args = []string{"commit", w.dom, "vda", "--top", w.cur[0]}
	case n%2 == 0:
		args = append(args, "--pivot")
	default:
		args = append(args, "--keep-overlay")
	}
	if (n/2)%2 == 1 {
		args = append(args, "--shallow")
	} else if k := (n / 4) % len(w.cur); k > 0 {
		args = append(args, "--base", w.cur[k])
	}
	_, f := w.do(either, slow, w.wait(args)...)
	return f
}

func opPull(w *world, n int) *failure {
	args := []string{"pull", w.dom, "vda"}
	if k := n % len(w.cur); k > 1 { // not cur[1]: nothing to pull
		args = append(args, "--base", w.cur[k])
	}
	_, f := w.do(either, slow, w.wait(args)...)
	return f
}

// startJob starts a throttled pull without --wait, so a job runs.
func (w *world) startJob() (bool, *failure) {
	r, f := w.do(either, quick, "pull", w.dom, "vda", "--bandwidth", "1")
	return f == nil && r.code == 0, f
}

// waitJobs waits until no block job runs on the domain ('jobs --wait'
// follows every domain's jobs, other users' too).
func (w *world) waitJobs() *failure {
	end := time.Now().Add(slow)
	for time.Now().Before(end) {
		var jobs []struct {
			Domain string `json:"domain"`
			Phase  string `json:"phase"`
		}
		if err := w.vcJSON(&jobs, "jobs"); err != nil {
			return fail(fHarness, "%v", err)
		}
		mine := false
		for _, j := range jobs {
			mine = mine || j.Domain == w.dom
		}
		if !mine {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fail(fHang, "a block job of %s still runs after %s", w.dom, slow)
}

func opAbort(w *world, n int) *failure {
	started, f := w.startJob()
	if f != nil || !started {
		return f
	}
	if _, f := w.do(either, slow, "abort", w.dom, "vda", "--wait"); f != nil {
		return f
	}
	return w.waitJobs()
}

func opBandwidth(w *world, n int) *failure {
	started, f := w.startJob()
	if f != nil || !started {
		return f
	}
	if _, f := w.do(either, quick, "bandwidth", w.dom, "vda", strconv.Itoa(n%3*50)); f != nil {
		return f
	}
	if _, f := w.do(either, quick, "bandwidth", w.dom, "vda", "0"); f != nil {
		return f
	}
	return w.waitJobs()
}

// opKill: virtchain is killed with SIGKILL while it follows a throttled
// active commit that must pivot; 'jobs --wait' must finish the pivot.
func opKill(w *world, n int) *failure {
	base := w.cur[len(w.cur)-1]
	if !w.vcKill(w.dom+" vda active-commit ", quick, "commit", w.dom, "vda", "--active", "--pivot", "--bandwidth", "1", "--wait") {
		return w.waitJobs() // refused, or done before it printed progress: nothing to kill
	}
	w.stats.add(func(s *stats) { s.faults["kill9 (killed)"]++ })
	w.vc(quick, "bandwidth", w.dom, "vda", "0")
	// 'jobs --wait' follows every domain's jobs (other users' too, whose
	// failures are theirs): what counts is that ours ends pivoted.
	if r := w.vc(slow, "jobs", "--wait"); r.hang {
		return fail(fHang, "jobs --wait after kill -9")
	}
	if f := w.waitJobs(); f != nil {
		return f
	}
	if c, err := w.chain(); err != nil || len(c) != 1 || c[0] != base {
		return fail(fLostPivot, "after kill -9 and 'jobs --wait' the chain is %v, want [%s]", c, base)
	}
	return nil
}

// opRestart restarts libvirtd while virtchain follows an active commit
// that must pivot: virtchain must reconnect and pivot, exit 0.
func opRestart(w *world, n int) *failure {
	base := w.cur[len(w.cur)-1]
	// 4 MiB above the base: the throttled mirror takes seconds.
	for _, off := range []int{8, 12} {
		if f := opWrite(w, blocks+off); f != nil {
			return f
		}
	}
	if f := w.flush(); f != nil {
		return f
	}
	// A guard may refuse this commit (a kept branch reads the base): then
	// there is no job to restart libvirtd under, and the refusal is right.
	if r := w.vc(quick, "--dry-run", "commit", w.dom, "vda", "--active", "--pivot", "--bandwidth", "1"); r.code != 0 {
		if r.hang || r.code != 1 || !oneLine(r.errs) {
			return fail(fBadRefusal, "commit --dry-run before a libvirtd restart: %v", r)
		}
		w.stats.add(func(s *stats) { s.refusedOK++ })
		return nil
	}
	done := make(chan result, 1)
	go func() {
		done <- w.vc(slow, "commit", w.dom, "vda", "--active", "--pivot", "--bandwidth", "1", "--wait")
	}()
	time.Sleep(1500 * time.Millisecond)
	if f := restartLibvirtd(); f != nil {
		return f
	}
	r := <-done
	if r.hang {
		return fail(fHang, "commit --wait across a libvirtd restart")
	}
	if r.code != 0 {
		_ = w.waitJobs()
		return fail(fLostPivot, "commit --active --pivot --wait across a libvirtd restart: %v", r)
	}
	if c, err := w.chain(); err != nil || len(c) != 1 || c[0] != base {
		return fail(fLostPivot, "after a libvirtd restart the chain is %v, want [%s]", c, base)
	}
	return nil
}

// restartLibvirtd stops the libvirtd of the host under test (only that
// one: several run on the machine) and starts it again, waiting until it
// answers.
func restartLibvirtd() *failure {
	if err := testhost.StopLibvirtd(); err != nil {
		return fail(fHarness, "stop libvirtd: %v", err)
	}
	return startLibvirtd()
}

func startLibvirtd() *failure {
	if err := testhost.StartLibvirtd(); err != nil {
		return fail(fHarness, "%v", err)
	}
	return nil
}

// opENOSPC: a small loop-mounted filesystem. A checkpoint whose memory
// does not fit there, and a full pull into an overlay there, must be
// refused by their plans, saying so.
func opENOSPC(w *world, n int) *failure {
	small := func(f string) string { return filepath.Join(w.mnt, f) }
	w.n++
	if n%2 == 0 {
		name := fmt.Sprintf("s%d", w.n)
		// The memory of an idle 64 MiB guest may fit (zero pages are
		// small): the plan may accept it, but a refusal or a failure must
		// name the lack of space.
		ov := w.name("ov", ".qcow2")
		r, f := w.do(either, quick, "snapshot", "create", w.dom, name, "--external",
			"--memory-file", small(name+".mem"), "--file", "vda="+ov)
		if f == nil && r.code == 0 {
			w.snaps = append(w.snaps, &snap{name: name, kind: "checkpoint", content: w.content, layer: w.cur[0], overlay: ov, memfile: small(name + ".mem")})
			return nil
		}
		return spaceWords(r, f)
	}
	// An overlay on the small filesystem, then a full pull into it.
	name := fmt.Sprintf("s%d", w.n)
	ov := small(name + ".qcow2")
	r, f := w.do(must, quick, "snapshot", "create", w.dom, name, "--external", "--disk-only", "--file", "vda="+ov)
	if f != nil || r.code != 0 {
		return f
	}
	w.snaps = append(w.snaps, &snap{name: name, kind: "external", content: w.content, layer: w.cur[0], overlay: ov})
	if f := w.check("enospc"); f != nil {
		return f
	}
	r, f = w.do(refuse, slow, "pull", w.dom, "vda", "--wait")
	if f = spaceWords(r, f); f != nil {
		return f
	}
	// Move the active layer off the small filesystem again, so later
	// writes cannot fill it.
	if _, f := w.do(either, slow, "commit", w.dom, "vda", "--active", "--shallow", "--pivot", "--wait"); f != nil {
		return f
	}
	if c, _ := w.chain(); len(c) > 0 && c[0] == ov {
		if r := virsh("blockcommit", w.dom, "vda", "--active", "--shallow", "--pivot", "--wait"); r.code != 0 {
			return fail(fHarness, "blockcommit off the small filesystem: %v", r)
		}
	}
	return nil
}

func spaceWords(r result, f *failure) *failure {
	if f != nil {
		return f
	}
	if l := strings.ToLower(r.errs); !strings.Contains(l, "space") && !strings.Contains(l, "free") {
		return fail(fBadRefusal, "a refusal for lack of space must say so: %q", r.errs)
	}
	return nil
}

// opRace: two virtchains start a job on the same disk at once; exactly one
// wins, the other is refused with one line.
func opRace(w *world, n int) *failure {
	var wg sync.WaitGroup
	rs := make([]result, 2)
	for i := range rs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rs[i] = w.vc(quick, "pull", w.dom, "vda", "--bandwidth", "1")
		}(i)
	}
	wg.Wait()
	w.vc(quick, "bandwidth", w.dom, "vda", "0")
	if f := w.waitJobs(); f != nil {
		return f
	}
	won := 0
	for _, r := range rs {
		switch {
		case r.hang:
			return fail(fHang, "racing pull")
		case r.code == 0:
			won++
		case r.code != 1 || !oneLine(r.errs):
			return fail(fBadRefusal, "racing pull: %v", r)
		}
	}
	if won != 1 {
		return fail(fRace, "%d of 2 racing pulls started a job: %v / %v", won, rs[0], rs[1])
	}
	return nil
}

// opFIFO hands virtchain a FIFO or a looping chain; it must refuse at once,
// before libvirt opens the FIFO (which would block the daemon).
func opFIFO(w *world, n int) *failure {
	ov := w.name("ov", ".qcow2")
	var args []string
	switch k := n % 9; {
	case k == 0:
		args = []string{"snapshot", "create", w.fdom, "fx"}
	case k == 1:
		args = []string{"snapshot", "create", w.fdom, "fx", "--external", "--disk-only", "--file", "vda=" + ov, "--file", "vdb=" + w.name("ov", ".qcow2")}
	case k == 2:
		args = []string{"start", w.fdom}
	case k == 3:
		args = []string{"pull", w.fdom, "vda"}
	case k == 4:
		args = []string{"commit", w.fdom, "vdb", "--active", "--pivot"}
	case k == 5 && running(w):
		args = []string{"save", w.dom, w.fifo}
	case k == 6 && running(w):
		args = []string{"snapshot", "create", w.dom, "fx", "--external", "--disk-only", "--file", "vda=" + w.fifo}
	case k == 7 && running(w):
		args = []string{"snapshot", "create", w.dom, "fx", "--external", "--memory-file", w.fifo, "--file", "vda=" + ov}
	case k == 8:
		args = []string{"restore", w.fifo}
	default:
		args = []string{"pull", w.fdom, "vdb"}
	}
	_, f := w.do(refuse, fifoT, args...)
	if r := w.vc(fifoT, "chain", w.fdom); r.hang || r.code != 0 {
		w.openFIFO(5 * time.Second)
		return fail(fHang, "chain of the FIFO/loop domain: %v", r)
	}
	return f
}
