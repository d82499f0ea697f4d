package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// jobState is what a refused start must leave as it was: the chain, the
// snapshots, the domain definition (where point marks go), the block jobs
// and every file of the lab but the active layer (QEMU may touch it), with
// size and time.
func (l *jobLab) jobState() string {
	l.t.Helper()
	d := l.domain()
	var b strings.Builder
	fmt.Fprintf(&b, "chain %s\n", strings.Join(l.chain(), " "))
	for _, s := range d.Snapshots {
		fmt.Fprintf(&b, "snapshot %s\n", s.Name)
	}
	jobs, err := l.c.ListJobs(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Domain == l.name {
			fmt.Fprintf(&b, "job %s %s\n", j.Disk, j.Kind)
		}
	}
	xml, err := l.dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		l.t.Fatal(err)
	}
	b.WriteString(xml)
	active := d.Disks[0].Layers[0].Path
	ents, _ := os.ReadDir(l.dir)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || l.path(e.Name()) == active {
			continue
		}
		fmt.Fprintf(&b, "file %s %d %s\n", e.Name(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
	}
	return b.String()
}

// externalSnapshot makes a disk-only external snapshot of vda: a new
// active layer, as another tool would between a plan and its start.
func (l *jobLab) externalSnapshot(name string) {
	l.t.Helper()
	l.snapshot(l.dom, libvirtxml.DomainSnapshot{
		Name: name,
		Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{
			Name: "vda", Snapshot: "external",
			Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: l.path(name + ".qcow2")}},
		}}},
	}, libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)
}

// StartBlockJob plans again: a plan the host moved away from between plan
// and start (a snapshot moved the active layer, another job took the
// disk) is refused, and nothing changes.
func TestJobStalePlanIsNotStarted(t *testing.T) {
	l := newJobLab(t, "vc9j-job-stale", true)
	ctx := context.Background()
	ref := l.view("ref.qcow2")
	pull, err := l.c.PlanPull(ctx, model.PullRequest{Domain: l.name, Target: "vda", Base: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	commit, err := l.c.PlanCommit(ctx, model.CommitRequest{Domain: l.name, Target: "vda", Base: "s1", AutoActive: true, AfterReady: model.AfterReadyPivot})
	if err != nil || commit.Kind != model.JobActiveCommit {
		t.Fatalf("auto active commit: %v %+v", err, commit)
	}
	l.externalSnapshot("s5")
	wantChain(t, l.chain(), "s5.qcow2", "active.qcow2", "s3.qcow2", "s2.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	before := l.jobState()
	for _, bp := range []*model.BlockPlan{pull, commit} {
		if _, err := l.c.StartBlockJob(ctx, bp); !errors.Is(err, model.ErrPlanChanged) {
			t.Fatalf("stale %s plan: %v", bp.Kind, err)
		}
		if after := l.jobState(); after != before {
			t.Fatalf("a stale %s plan changed things:\n%s\n---\n%s", bp.Kind, before, after)
		}
	}
	l.sameView(ref)

	// A fresh plan starts; a plan made before it started is refused by the
	// rules when planned again (one job per disk), and the job goes on.
	w, err := l.c.WatchJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	late, err := l.c.PlanPull(ctx, model.PullRequest{Domain: l.name, Target: "vda"})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := l.c.PlanCommit(ctx, model.CommitRequest{Domain: l.name, Target: "vda", Top: "s3", Base: "s1", Bandwidth: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.c.StartBlockJob(ctx, slow); err != nil {
		t.Fatal(err)
	}
	_, err = l.c.StartBlockJob(ctx, late)
	var r *model.Refusal
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "already has a block job: commit") {
		t.Fatalf("plan made before another job started: %v", err)
	}
	if j, ok := w.Job(l.name, "vda"); !ok || j.Kind != model.JobCommit {
		t.Fatalf("the running job after the refusal: %+v %v", j, ok)
	}
	if err := l.c.AbortBlockJob(ctx, l.name, "vda", false); err != nil {
		t.Fatal(err)
	}
	if final, _ := follow(t, w, model.JobKey(l.name, "vda"), time.Minute); final.Phase != model.PhaseCancelled {
		t.Fatalf("aborted job %+v", final)
	}
	wantChain(t, l.chain(), "s5.qcow2", "active.qcow2", "s3.qcow2", "s2.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	l.sameView(ref)
}

// threeTrips is how the UI and the CLI planned before Conn.PlanCommit:
// Discover, ListJobs, the model's planner, then the space check.
func (l *jobLab) threeTrips(plan func([]model.Domain, []model.Job) (*model.BlockPlan, error)) (*model.BlockPlan, error) {
	ctx := context.Background()
	doms, err := l.c.Discover(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := l.c.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	bp, err := plan(doms, jobs)
	if err != nil {
		return nil, err
	}
	if bp.Offline && !l.c.Local() {
		bp.ByPausedDomain() // remote: the images are out of qemu-img's reach
	}
	if err := model.CheckSpace(&bp.Plan, l.c.SpaceFacts("")); err != nil {
		return nil, err
	}
	return bp, nil
}

// sameBlockPlan compares two plans, but for the free bytes of the
// filesystems, which other writers on the host change between two reads.
func sameBlockPlan(t *testing.T, what string, got, want *model.BlockPlan, gotErr, wantErr error) {
	t.Helper()
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: error %v, want %v", what, gotErr, wantErr)
	}
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("%s: plan %+v, want %+v", what, got, want)
		}
		return
	}
	g, w := *got, *want
	for _, p := range []*model.BlockPlan{&g, &w} {
		p.Space = append([]model.SpaceUse(nil), p.Space...)
		for i := range p.Space {
			p.Space[i].Free = 0
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: Conn plan\n%+v\nwant the three-trip plan\n%+v", what, g, w)
	}
}

// Conn.PlanCommit and PlanPull make the plan the three trips made, for a
// running and a shut-off domain, refusals included.
func TestJobConnPlanIsTheThreeTripPlan(t *testing.T) {
	l := newJobLab(t, "vc9j-job-plan", true)
	ctx := context.Background()
	commits := []model.CommitRequest{
		{Domain: l.name, Target: "vda", Top: "s3", Base: "s1"},
		{Domain: l.name, Target: "vda", Base: "test2.qcow2", Active: true, AfterReady: model.AfterReadyPivot, Bandwidth: 1 << 20},
		{Domain: l.name, Target: "vda", Shallow: true, AutoActive: true, AfterReady: model.AfterReadyKeepOverlay},
		{Domain: l.name, Target: "vda", Base: "s1"}, // refused while running: needs --active
		{Domain: l.name, Target: "vdz"},
	}
	pulls := []model.PullRequest{
		{Domain: l.name, Target: "vda"},
		{Domain: l.name, Target: "vda", Base: "s2", Relative: true},
		{Domain: l.name, Target: "vda", Base: "s3"}, // refused: already the active layer's backing image
	}
	check := func(state string) {
		for _, req := range commits {
			got, gerr := l.c.PlanCommit(ctx, req)
			want, werr := l.threeTrips(func(d []model.Domain, j []model.Job) (*model.BlockPlan, error) { return model.PlanCommit(d, req, j) })
			sameBlockPlan(t, fmt.Sprintf("%s commit %+v", state, req), got, want, gerr, werr)
		}
		for _, req := range pulls {
			got, gerr := l.c.PlanPull(ctx, req)
			want, werr := l.threeTrips(func(d []model.Domain, j []model.Job) (*model.BlockPlan, error) { return model.PlanPull(d, req, j) })
			sameBlockPlan(t, fmt.Sprintf("%s pull %+v", state, req), got, want, gerr, werr)
		}
	}
	check("running")
	if err := l.dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	check("shut off")
}
