package model

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// pointsDomain: vda is top (active) <- mid <- low <- base. iBase lives in
// base (taken while base was active), s1, s2, s3 created low, mid and top,
// and iTop lives in top: iBase -> s1 -> s2 -> s3 -> iTop, iTop current.
func pointsDomain(state DomainState) Domain {
	p := func(f string) string { return "/img/" + f + ".qcow2" }
	var layers []Layer
	for i, f := range []string{"top", "mid", "low", "base"} {
		l := Layer{Path: p(f), Format: "qcow2", Allocation: 1 << 20}
		if state.Active() {
			l.Index = ip(4 - i)
		}
		layers = append(layers, l)
	}
	layers[0].InternalSnapshots = []string{"iTop"}
	layers[3].InternalSnapshots = []string{"iBase"}
	at := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	ext := func(name, parent, file string, m int, point string, below ...string) Snapshot {
		return Snapshot{Name: name, Parent: parent, Kind: SnapshotExternal, Created: at(m), Disks: []SnapshotDisk{
			{Target: "vda", Kind: "external", File: p(file), Point: p(point), PointBacking: below}}}
	}
	snaps := []Snapshot{
		{Name: "iBase", Kind: SnapshotInternal, Created: at(0), Disks: []SnapshotDisk{{Target: "vda", Kind: "internal", Point: p("base")}}},
		ext("s1", "iBase", "low", 1, "base"),
		ext("s2", "s1", "mid", 2, "low", p("base")),
		ext("s3", "s2", "top", 3, "mid", p("low"), p("base")),
		{Name: "iTop", Parent: "s3", Kind: SnapshotInternal, Created: at(4), Disks: []SnapshotDisk{
			{Target: "vda", Kind: "internal", Point: p("top"), PointBacking: []string{p("mid"), p("low"), p("base")}}}},
	}
	return Domain{Name: "vm", State: state, Persistent: true, CurrentSnapshot: "iTop", Snapshots: snaps,
		Disks: []Disk{{Target: "vda", Device: "disk", SourceType: "file", Source: layers[0].Path, Format: "qcow2", Layers: layers}}}
}

func destroyedNames(ms []PointMark) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Snapshot)
	}
	return out
}

func TestMergesDestroyPoints(t *testing.T) {
	cases := []struct {
		what     string
		state    DomainState
		commit   *CommitRequest
		pull     *PullRequest
		want     []string
		wantKind JobKind
	}{
		// mid's data moves into low: s2 reads low (and base) without mid.
		{what: "intermediate commit", state: StateRunning, commit: &CommitRequest{Top: "mid.qcow2", Base: "low.qcow2"}, want: []string{"s2"}, wantKind: JobCommit},
		{what: "shallow commit", state: StateRunning, commit: &CommitRequest{Top: "low.qcow2", Shallow: true}, want: []string{"s1"}, wantKind: JobCommit},
		// Into base: every point below top, and iTop, whose own image
		// keeps its state but reads mid, low and base through it. iBase
		// keeps its state inside base itself.
		{what: "active commit, pivot", state: StateRunning, commit: &CommitRequest{Base: "base.qcow2", Active: true, AfterReady: AfterReadyPivot},
			want: []string{"s1", "s2", "s3", "iTop"}, wantKind: JobActiveCommit},
		{what: "active commit, keep-overlay", state: StateRunning, commit: &CommitRequest{Base: "mid.qcow2", Active: true, AfterReady: AfterReadyKeepOverlay},
			want: []string{"s3", "iTop"}, wantKind: JobActiveCommit},
		{what: "offline commit", state: StateShutoff, commit: &CommitRequest{Top: "mid.qcow2", Base: "low.qcow2"}, want: []string{"s2"}, wantKind: JobCommit},
		{what: "offline commit of the active layer", state: StateShutoff, commit: &CommitRequest{Base: "low.qcow2"}, want: []string{"s2", "s3", "iTop"}, wantKind: JobCommit},
		// A pull writes only top: iTop reads mid and low below it, which
		// leave; the external points are untouched.
		{what: "pull with a base", state: StateRunning, pull: &PullRequest{Base: "low.qcow2"}, want: []string{"iTop"}, wantKind: JobPull},
		{what: "full pull", state: StateRunning, pull: &PullRequest{}, want: []string{"iTop"}, wantKind: JobPull},
		{what: "offline pull", state: StateShutoff, pull: &PullRequest{}, want: []string{"iTop"}, wantKind: JobPull},
	}
	for _, c := range cases {
		doms := []Domain{pointsDomain(c.state)}
		var bp *BlockPlan
		var err error
		if c.commit != nil {
			c.commit.Domain, c.commit.Target = "vm", "vda"
			bp, err = PlanCommit(doms, *c.commit, nil)
		} else {
			c.pull.Domain, c.pull.Target = "vm", "vda"
			bp, err = PlanPull(doms, *c.pull, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if got := destroyedNames(bp.Destroys); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: destroys %v, want %v", c.what, got, c.want)
		}
		for _, n := range c.want {
			if !containsStr(bp.StaleSnapshots, n) {
				t.Errorf("%s: stale snapshots %v lack %s", c.what, bp.StaleSnapshots, n)
			}
		}
		if !strings.Contains(joined(bp.Steps), destroyedStep(bp.Destroys)[0]) || !strings.Contains(destroyedStep(bp.Destroys)[0], strings.Join(c.want, ", ")) {
			t.Errorf("%s: steps do not say the points are written over:\n%s", c.what, joined(bp.Steps))
		}
		for _, m := range bp.Destroys {
			if m.Merge != c.wantKind || m.Target != "vda" || m.Point == "" || m.Created == 0 {
				t.Errorf("%s: mark %+v", c.what, m)
			}
		}
	}
}

func TestMergeWithoutDestroyedPoints(t *testing.T) {
	d := pointsDomain(StateRunning)
	d.Snapshots = d.Snapshots[:4] // no internal snapshot in top
	bp, err := PlanPull([]Domain{d}, PullRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Destroys) != 0 || strings.Contains(joined(bp.Steps), "written over") {
		t.Errorf("a pull destroys no external point: %+v %q", bp.Destroys, bp.Steps)
	}
}

// A mark makes a snapshot stale wherever it is, and only the snapshot it
// was made for: a later one reusing the name is not marked.
func TestReconcileAppliesMarks(t *testing.T) {
	d := pointsDomain(StateRunning)
	d.CurrentSnapshot = "iBase" // s1.. are off the line: a kept branch
	mark := PointMark{Snapshot: "s2", Created: d.Snapshots[2].Created.Unix(), Target: "vda", Point: "/img/low.qcow2",
		Merge: JobCommit, Top: "/img/mid.qcow2", Base: "/img/low.qcow2"}
	d.PointMarks = []PointMark{mark, {Snapshot: "s3", Created: 1, Target: "vda"}}
	if got := Reconcile(&d); !reflect.DeepEqual(got, []string{"s2"}) {
		t.Fatalf("stale %v", got)
	}
	s2, s3 := d.Snapshots[2], d.Snapshots[3]
	if !reflect.DeepEqual(s2.Stale, []string{"vda"}) || s2.Branch || !reflect.DeepEqual(s2.Destroyed, []PointMark{mark}) {
		t.Errorf("s2 %+v", s2)
	}
	if len(s3.Stale) != 0 || len(s3.Destroyed) != 0 {
		t.Errorf("s3 was marked through a mark of another s3: %+v", s3)
	}
	d.PointMarks = nil
	Reconcile(&d)
	if d.Snapshots[2].Stale != nil || d.Snapshots[2].Destroyed != nil {
		t.Errorf("old marks stayed: %+v", d.Snapshots[2])
	}
}

func TestRevertRefusesDestroyedPoint(t *testing.T) {
	for _, libvirtReverts := range []bool{false, true} {
		d := pointsDomain(StateRunning)
		d.PointMarks = []PointMark{{Snapshot: "s1", Created: d.Snapshots[1].Created.Unix(), Target: "vda", Point: "/img/base.qcow2",
			Merge: JobActiveCommit, Top: "/img/top.qcow2", Base: "/img/base.qcow2"}}
		Reconcile(&d)
		points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}
		f := SnapshotFacts{ExternalRevert: libvirtReverts}
		_, err := PlanSnapshotRevert([]Domain{d}, SnapshotRevertRequest{Domain: "vm", Name: "s1", Start: StartRunning, Force: true}, points, f)
		wantRefusal(t, err, "snapshot s1 cannot be reverted: the commit of top.qcow2 into base.qcow2 on vda wrote over its point (base.qcow2)",
			"virtchain snapshot delete vm s1 --metadata-only")
		// A point below the image written is named as such.
		d.PointMarks[0].Point = "/img/low.qcow2"
		Reconcile(&d)
		_, err = PlanSnapshotRevert([]Domain{d}, SnapshotRevertRequest{Domain: "vm", Name: "s1"}, points, f)
		wantRefusal(t, err, "wrote into base.qcow2, which its point (low.qcow2) reads")
		// The others still revert.
		if _, err := PlanSnapshotRevert([]Domain{d}, SnapshotRevertRequest{Domain: "vm", Name: "iTop"},
			[]PointDisk{{Target: "vda", Path: "/img/top.qcow2", Format: "qcow2"}}, f); err != nil {
			t.Errorf("revert to iTop: %v", err)
		}
	}
	d := pointsDomain(StateRunning)
	d.PointMarks = []PointMark{{Snapshot: "iTop", Created: d.Snapshots[4].Created.Unix(), Target: "vda", Point: "/img/top.qcow2", Merge: JobPull, Top: "/img/top.qcow2"}}
	_, err := PlanSnapshotRevert([]Domain{d}, SnapshotRevertRequest{Domain: "vm", Name: "iTop"}, []PointDisk{{Target: "vda", Path: "/img/top.qcow2"}}, SnapshotFacts{})
	wantRefusal(t, err, "the pull into top.qcow2 on vda changed what its point (top.qcow2) reads")
}

// Staleness Reconcile finds from the chains alone (the overlay left it)
// refuses a revert too, even when the caller did not reconcile.
func TestRevertRefusesStructurallyStale(t *testing.T) {
	d := committed()
	_, err := PlanSnapshotRevert([]Domain{d}, SnapshotRevertRequest{Domain: "vm", Name: "s2"},
		[]PointDisk{{Target: "vda", Path: img + "test2_test.qcow2"}}, SnapshotFacts{})
	wantRefusal(t, err, "snapshot s2 cannot be reverted: its overlay test2_nmap.qcow2 left vda's chain", "--metadata-only")
}

// A snapshot stale only by a mark (keep-overlay) still names the active
// layer: cleanup removes its metadata and says why, and lists no file of
// the chain as leaving it.
func TestCleanupOfMarkedSnapshot(t *testing.T) {
	d := pointsDomain(StateRunning)
	d.PointMarks = []PointMark{{Snapshot: "s3", Created: d.Snapshots[3].Created.Unix(), Target: "vda", Point: "/img/mid.qcow2",
		Merge: JobActiveCommit, Top: "/img/top.qcow2", Base: "/img/mid.qcow2"}}
	cp, err := PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", DeleteFiles: true}, CleanupFacts{Inspect: onHost(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cp.Snapshots, []string{"s3"}) || len(cp.LeavingChain) != 0 || len(cp.Files) != 0 {
		t.Errorf("%+v", cp)
	}
	if want := "remove the metadata of snapshot s3 (a merge wrote over its point)"; !reflect.DeepEqual(cp.Steps, []string{want}) {
		t.Errorf("steps %q", cp.Steps)
	}
}
