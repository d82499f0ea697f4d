package libvirtx

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Block-job integration tests against the real libvirtd and QEMU. Each
// builds its own vct-job-* domain (with the discovery tests' discLab, which
// removes domain and folder in t.Cleanup) whose vda chain is shaped like the
// design card's: base <- test2 <- s1 <- s2 <- s3 <- active, where snapshot
// sN created sN.qcow2 and s4 created active.qcow2. Layer i holds pattern
// 0x11*(i+1) at i*2M, 3M long, so every layer overlaps the one below and
// the order of merging matters.

var jobLayerFiles = []string{"base.qcow2", "test2.qcow2", "s1.qcow2", "s2.qcow2", "s3.qcow2", "active.qcow2"}

type jobLab struct {
	*discLab
	dom *libvirt.Domain
}

func jobLayerWrite(i int) string {
	return fmt.Sprintf("write -P 0x%02x %dM 3M", 0x11*(i+1), 2*i)
}

func newJobLab(t *testing.T, name string, running bool) *jobLab {
	t.Helper()
	l := &jobLab{discLab: newDiscLab(t, name)}
	l.run("qemu-img", "create", "-q", "-f", "qcow2", l.path("base.qcow2"), "64M")
	l.run("qemu-io", "-f", "qcow2", "-c", jobLayerWrite(0), l.path("base.qcow2"))
	l.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", l.path("base.qcow2"), "-F", "qcow2", l.path("test2.qcow2"))
	l.run("qemu-io", "-f", "qcow2", "-c", jobLayerWrite(1), l.path("test2.qcow2"))
	l.dom = l.define(discFileDisk("vda", l.path("test2.qcow2"), "qcow2"))
	// External snapshots of the shut-off domain: libvirt makes each
	// overlay and points the definition at it.
	for i, f := range jobLayerFiles[2:] {
		l.snapshot(l.dom, libvirtxml.DomainSnapshot{
			Name: fmt.Sprintf("s%d", i+1),
			Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{
				Name: "vda", Snapshot: "external",
				Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: l.path(f)}},
			}}},
		}, libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)
		l.run("qemu-io", "-f", "qcow2", "-c", jobLayerWrite(i+2), l.path(f))
	}
	if running {
		if err := l.dom.Create(); err != nil {
			t.Fatalf("start %s: %v", l.name, err)
		}
	}
	return l
}

// hmp sends a qemu-io command to the guest's first virtio disk through
// the QEMU monitor, as the guest would write.
func (l *jobLab) hmp(cmd string) {
	l.t.Helper()
	out := l.run("virsh", "-c", testhost.DirectURI(), "qemu-monitor-command", l.name, "--hmp",
		`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "`+cmd+`"`)
	if strings.Contains(out, "rror") || strings.Contains(out, "failed") {
		l.t.Fatalf("monitor %q: %s", cmd, out)
	}
}

// flush makes a running QEMU write its qcow2 metadata so outside readers
// see the current data.
func (l *jobLab) flush() {
	if active, _ := l.dom.IsActive(); active {
		l.hmp("flush")
	}
}

func (l *jobLab) domain() model.Domain {
	l.t.Helper()
	d, err := l.c.DiscoverDomain(context.Background(), l.name)
	if err != nil {
		l.t.Fatal(err)
	}
	return d
}

func (l *jobLab) chain() []string {
	l.t.Helper()
	d := l.domain()
	var out []string
	for _, ly := range d.Disks[0].Layers {
		if ly.Problem != "" {
			l.t.Fatalf("layer %s: %s", ly.Path, ly.Problem)
		}
		out = append(out, filepath.Base(ly.Path))
	}
	return out
}

// view copies what the guest sees now into a standalone image.
func (l *jobLab) view(name string) string {
	l.t.Helper()
	l.flush()
	top := l.domain().Disks[0].Layers[0].Path
	ref := l.path(name)
	l.run("qemu-img", "convert", "-U", "-O", "qcow2", top, ref)
	return ref
}

// sameView checks that the guest sees exactly what ref holds.
func (l *jobLab) sameView(ref string) {
	l.t.Helper()
	l.flush()
	top := l.domain().Disks[0].Layers[0].Path
	out, err := exec.Command("qemu-img", "compare", "-U", ref, top).CombinedOutput()
	if err != nil {
		l.t.Fatalf("guest view changed: qemu-img compare %s %s: %v: %s", ref, top, err, out)
	}
}

func (l *jobLab) plan(f func([]model.Domain) (*model.BlockPlan, error)) *model.BlockPlan {
	l.t.Helper()
	doms, err := l.c.Discover(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	bp, err := f(doms)
	if err != nil {
		l.t.Fatal(err)
	}
	return bp
}

// follow collects the updates of one job until its final phase, and
// checks that its progress never went backwards.
func follow(t *testing.T, w *JobWatcher, key string, timeout time.Duration) (model.Job, []model.Job) {
	t.Helper()
	var seen []model.Job
	deadline := time.After(timeout)
	for {
		select {
		case j, ok := <-w.Updates():
			if !ok {
				t.Fatal("updates closed")
			}
			if j.Key() != key {
				continue
			}
			if n := len(seen); n > 0 && j.Fraction() < seen[n-1].Fraction() {
				t.Errorf("progress went back: %v -> %v", seen[n-1].Fraction(), j.Fraction())
			}
			if testing.Verbose() && os.Getenv("VCT_JOB_DEBUG") != "" {
				t.Logf("%s update %s %d/%d %.2f", time.Now().Format("15:04:05.000"), j.Phase, j.Cur, j.End, j.Fraction())
			}
			seen = append(seen, j)
			if !j.Phase.Live() {
				return j, seen
			}
		case <-deadline:
			t.Fatalf("job %s did not finish in %v (seen %d updates)", key, timeout, len(seen))
		}
	}
}

func (l *jobLab) watch() *JobWatcher {
	l.t.Helper()
	w, err := l.c.WatchJobs(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(w.Close)
	return w
}

func (l *jobLab) runJob(w *JobWatcher, bp *model.BlockPlan) (model.Job, []model.Job) {
	l.t.Helper()
	if _, err := w.Start(context.Background(), bp); err != nil {
		l.t.Fatal(err)
	}
	final, seen := follow(l.t, w, model.JobKey(l.name, "vda"), 2*time.Minute)
	if !final.Succeeded() {
		l.t.Fatalf("job ended %s: %s", final.Phase, final.Error)
	}
	return final, seen
}

func (l *jobLab) stale() []string {
	d := l.domain()
	return model.Reconcile(&d)
}

func wantChain(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chain %v, want %v", got, want)
	}
}

// The design card's workflow: commit 2-3 into 1, pull with a base, a full
// pull, then clean up the stale metadata and the files left behind.
func TestJobSeedWorkflow(t *testing.T) {
	l := newJobLab(t, "vct-job-seed", true)
	ctx := context.Background()
	w := l.watch()
	wantChain(t, l.chain(), "active.qcow2", "s3.qcow2", "s2.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	ref := l.view("ref.qcow2")

	bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Top: "s3", Base: "s1"}, w.Jobs())
	})
	if bp.Kind != model.JobCommit || !reflect.DeepEqual(bp.StaleSnapshots, []string{"s2", "s3"}) || !strings.HasPrefix(bp.TopArg, "vda[") {
		t.Fatalf("plan %+v", bp)
	}
	_, seen := l.runJob(w, bp)
	if len(seen) == 0 || seen[len(seen)-1].Fraction() != 1 {
		t.Fatalf("updates %v", seen)
	}
	wantChain(t, l.chain(), "active.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	l.sameView(ref)
	if got := l.stale(); !reflect.DeepEqual(got, []string{"s2", "s3"}) {
		t.Fatalf("stale %v", got)
	}

	bp = l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: l.name, Target: "vda", Base: "test2.qcow2"}, w.Jobs())
	})
	l.runJob(w, bp)
	wantChain(t, l.chain(), "active.qcow2", "test2.qcow2", "base.qcow2")
	l.sameView(ref)

	bp = l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: l.name, Target: "vda"}, w.Jobs())
	})
	l.runJob(w, bp)
	wantChain(t, l.chain(), "active.qcow2")
	l.sameView(ref)
	if got := l.stale(); !reflect.DeepEqual(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("stale %v", got)
	}

	// libvirt 9.0 cannot delete a stale snapshot the normal way.
	if snap, err := l.dom.SnapshotLookupByName("s2", 0); err == nil {
		err = snap.Delete(0)
		_ = snap.Free()
		if err == nil {
			t.Log("libvirt deleted a stale snapshot normally; metadata-only delete is then merely tidier")
		}
	}
	// s4 is not stale (its overlay is the chain), but reverting to it
	// reads s3.qcow2 and everything below: those files are s4's point.
	left := model.CleanupRequest{Domain: l.name, Files: []string{l.path("test2.qcow2"), l.path("base.qcow2")}, DeleteFiles: true}
	if _, err := l.c.PlanCleanup(ctx, left); !remoteCleanupRefused(t, l.c, err) && (err == nil || !strings.Contains(err.Error(), "point of snapshot s4")) {
		t.Fatalf("deleting s4's point: %v", err)
	}
	cp, err := l.c.PlanCleanup(ctx, model.CleanupRequest{Domain: l.name, DeleteFiles: l.c.Local()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.c.Cleanup(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.RemovedSnapshots, []string{"s3", "s2", "s1"}) || len(res.DeletedFiles) != 0 || len(cp.Kept) != 3 {
		t.Fatalf("cleanup %+v, kept %q", res, cp.Kept)
	}
	d := l.domain()
	if len(d.Snapshots) != 1 || d.Snapshots[0].Name != "s4" || len(model.Reconcile(&d)) != 0 {
		t.Fatalf("snapshots after cleanup %+v", d.Snapshots)
	}
	// Detaching the base for good: s4's metadata goes too, then its point.
	snap, err := l.dom.SnapshotLookupByName("s4", 0)
	if err != nil {
		t.Fatal(err)
	}
	err = snap.Delete(libvirt.DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
	_ = snap.Free()
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, f := range jobLayerFiles[:5] {
		gone = append(gone, l.path(f))
	}
	cp, err = l.c.PlanCleanup(ctx, model.CleanupRequest{Domain: l.name, Files: gone, DeleteFiles: true})
	if remoteCleanupRefused(t, l.c, err) {
		l.sameView(ref)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if res, err = l.c.Cleanup(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if len(res.DeletedFiles) != 5 || len(res.Kept) != 0 {
		t.Fatalf("cleanup %+v", res)
	}
	for _, f := range jobLayerFiles[:5] {
		if _, err := os.Stat(l.path(f)); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", f, err)
		}
	}
	l.sameView(ref)
}

// An active commit pivots while the guest writes; what it wrote during the
// job is there afterwards.
func TestJobActiveCommitPivot(t *testing.T) {
	l := newJobLab(t, "vct-job-active", true)
	w := l.watch()
	ref := l.view("ref.qcow2")
	bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Base: "s1", Active: true,
			AfterReady: model.AfterReadyPivot, Bandwidth: 4 << 20}, w.Jobs())
	})
	if bp.Kind != model.JobActiveCommit {
		t.Fatalf("kind %s", bp.Kind)
	}
	if _, err := w.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	writes := []string{"write -P 0x7a 20M 2M", "write -P 0x7b 1M 512k", "write -P 0x7c 40M 4M"}
	for _, c := range writes {
		l.hmp(c)
		l.run("qemu-io", "-f", "qcow2", "-c", c, ref)
	}
	final, seen := follow(t, w, model.JobKey(l.name, "vda"), 2*time.Minute)
	if final.Phase != model.PhaseCompleted || !final.WasReady {
		t.Fatalf("final %+v", final)
	}
	ready := false
	for _, j := range seen {
		ready = ready || j.Phase == model.PhaseReady
	}
	if !ready {
		t.Fatal("no READY update before the pivot")
	}
	wantChain(t, l.chain(), "s1.qcow2", "test2.qcow2", "base.qcow2")
	l.sameView(ref)
	if got := l.stale(); !reflect.DeepEqual(got, []string{"s2", "s3", "s4"}) {
		t.Fatalf("stale %v", got)
	}
}

// Abort leaves the chain as it was; so does an active commit aborted at
// READY (keep-overlay).
func TestJobAbortKeepsChain(t *testing.T) {
	l := newJobLab(t, "vct-job-abort", true)
	w := l.watch()
	ref := l.view("ref.qcow2")
	before := l.chain()
	bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Top: "s3", Base: "s1", Bandwidth: 256 << 10}, w.Jobs())
	})
	if _, err := w.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	key := model.JobKey(l.name, "vda")
	// A second job on the same disk is refused by the rules.
	if _, err := model.PlanPull([]model.Domain{l.domain()}, model.PullRequest{Domain: l.name, Target: "vda"}, w.Jobs()); err == nil ||
		!strings.Contains(err.Error(), "already has a block job: commit") {
		t.Fatalf("second job: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := w.Abort(l.name, "vda", false); err != nil {
		t.Fatal(err)
	}
	final, _ := follow(t, w, key, time.Minute)
	if final.Phase != model.PhaseCancelled {
		t.Fatalf("final %+v", final)
	}
	wantChain(t, l.chain(), before...)
	l.sameView(ref)

	bp = l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Shallow: true, Active: true,
			AfterReady: model.AfterReadyKeepOverlay}, w.Jobs())
	})
	final, _ = l.runJob(w, bp)
	if final.Phase != model.PhaseCancelled || !final.WasReady {
		t.Fatalf("keep-overlay final %+v", final)
	}
	wantChain(t, l.chain(), before...)
	l.sameView(ref)
}

// A job outlives the virtchain that started it: a new connection and
// watcher find it, speed it up, and see it finish.
func TestJobReattach(t *testing.T) {
	l := newJobLab(t, "vct-job-reattach", true)
	ref := l.view("ref.qcow2")
	first, err := Open(testhost.URI(), false)
	if err != nil {
		t.Fatal(err)
	}
	w1, err := first.WatchJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: l.name, Target: "vda", Bandwidth: 256 << 10}, nil)
	})
	if _, err := w1.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	w1.Close()
	_ = first.Close()

	w2 := l.watch()
	j, ok := w2.Job(l.name, "vda")
	if !ok || j.Kind != model.JobPull || j.Phase != model.PhaseRunning || j.Bandwidth != 256<<10 {
		t.Fatalf("re-attached job %+v %v", j, ok)
	}
	if err := w2.SetBandwidth(l.name, "vda", 0); err != nil {
		t.Fatal(err)
	}
	final, _ := follow(t, w2, j.Key(), 2*time.Minute)
	if final.Phase != model.PhaseCompleted {
		t.Fatalf("final %+v", final)
	}
	wantChain(t, l.chain(), "active.qcow2")
	l.sameView(ref)
}

// Offline: qemu-img commit and rebase on the shut-off domain, progress in
// the same stream, the definition moved so the domain starts on the new
// chain.
func TestJobOffline(t *testing.T) {
	l := newJobLab(t, "vct-job-offline", false)
	w := l.watch()
	ref := l.view("ref.qcow2")

	bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Top: "s3", Base: "s1"}, w.Jobs())
	})
	if !bp.Offline {
		t.Fatal("plan is not offline")
	}
	_, seen := l.runJob(w, bp)
	// qemu-img reports as it goes; over a remote connection the paused
	// domain's job is polled, and a merge this small ends before the first
	// poll, so only its end is sure to be seen.
	if min := map[bool]int{true: 2, false: 1}[l.c.Local()]; len(seen) < min {
		t.Fatalf("offline progress: %d updates", len(seen))
	}
	wantChain(t, l.chain(), "active.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	l.sameView(ref)

	bp = l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: l.name, Target: "vda", Base: "base.qcow2"}, w.Jobs())
	})
	l.runJob(w, bp)
	wantChain(t, l.chain(), "active.qcow2", "base.qcow2")
	l.sameView(ref)

	// Committing the active layer offline moves the definition to the base.
	bp = l.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: l.name, Target: "vda", Shallow: true}, w.Jobs())
	})
	l.runJob(w, bp)
	wantChain(t, l.chain(), "base.qcow2")
	l.sameView(ref)

	if err := l.dom.Create(); err != nil {
		t.Fatalf("the domain does not start on the new chain: %v", err)
	}
	wantChain(t, l.chain(), "base.qcow2")
	l.sameView(ref)
}

// Two domains share a base: committing into it is refused and names the
// other domain; a full pull that detaches from it is allowed.
func TestJobSharedBaseGuard(t *testing.T) {
	l := newJobLab(t, "vct-job-shared-a", false)
	other := newDiscLab(t, "vct-job-shared-b")
	overlay := other.path("b.qcow2")
	other.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", l.path("base.qcow2"), "-F", "qcow2", overlay)
	other.define(discFileDisk("vda", overlay, "qcow2"))

	doms, err := l.c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = model.PlanCommit(doms, model.CommitRequest{Domain: l.name, Target: "vda", Top: "s1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "chain of vct-job-shared-b vda") {
		t.Fatalf("commit into the shared base: %v", err)
	}
	bp, err := model.PlanPull(doms, model.PullRequest{Domain: l.name, Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bp.UsedBy, []string{"chain of vct-job-shared-b vda"}) {
		t.Fatalf("used by %v", bp.UsedBy)
	}
}
