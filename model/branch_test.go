package model

import (
	"reflect"
	"strings"
	"testing"
)

// Snapshot points, stale snapshots on the line the disks descend from, and
// kept branches after virtchain's own revert.

func chainOf(paths ...string) []Layer {
	ls := make([]Layer, len(paths))
	for i, p := range paths {
		ls[i] = Layer{Path: p, Format: "qcow2"}
	}
	return ls
}

func extDisk(file, point string, backing ...string) []SnapshotDisk {
	return []SnapshotDisk{{Target: "vda", Kind: "external", File: file, Point: point, PointBacking: backing}}
}

// pointedSeed is the design card's chain with each snapshot's point and
// the current snapshot s4, as discovery reads them.
func pointedSeed() Domain {
	d := seed(StateRunning)
	d.CurrentSnapshot = "s4"
	l := paths(d.Disks[0].Layers) // lsof, net-tools, nmap, test, test2, centos
	for i := range d.Snapshots {
		pos := 3 - i // s1 created test2_test (3), s4 test2_lsof (0)
		d.Snapshots[i].Disks[0].Point = l[pos+1]
		d.Snapshots[i].Disks[0].PointBacking = l[pos+2:]
	}
	return d
}

func staleAndBranch(d *Domain) (stale, branch []string) {
	stale = Reconcile(d)
	for _, s := range d.Snapshots {
		if s.Branch {
			branch = append(branch, s.Name)
		}
	}
	return stale, branch
}

func TestReconcileSeedFlow(t *testing.T) {
	d := pointedSeed()
	l := d.Disks[0].Layers
	if st, br := staleAndBranch(&d); st != nil || br != nil {
		t.Fatalf("untouched chain: stale %v branch %v", st, br)
	}
	// Commit nmap..net-tools into test.
	d.Disks[0].Layers = []Layer{l[0], l[3], l[4], l[5]}
	if st, br := staleAndBranch(&d); !reflect.DeepEqual(st, []string{"s2", "s3"}) || br != nil {
		t.Fatalf("after commit: stale %v branch %v", st, br)
	}
	// A full pull: test's overlay leaves too; s4's overlay is the chain.
	d.Disks[0].Layers = []Layer{l[0]}
	if st, br := staleAndBranch(&d); !reflect.DeepEqual(st, []string{"s1", "s2", "s3"}) || br != nil {
		t.Fatalf("after pull: stale %v branch %v", st, br)
	}
	// An active commit makes the current snapshot stale.
	d = pointedSeed()
	d.Disks[0].Layers = d.Disks[0].Layers[1:]
	if st, _ := staleAndBranch(&d); !reflect.DeepEqual(st, []string{"s4"}) {
		t.Fatalf("after active commit: stale %v", st)
	}
}

// branchDomain: base <- x <- y were made by external snapshots X and Y;
// virtchain then reverted to X: the domain runs on n over base, X names n.
func branchDomain() Domain {
	base, x, y, n := img+"base.qcow2", img+"x.qcow2", img+"y.qcow2", img+"n.qcow2"
	return Domain{
		Name: "vm", State: StateShutoff, Persistent: true, CurrentSnapshot: "X",
		Disks: []Disk{{Target: "vda", Device: "disk", SourceType: "file", Source: n, Format: "qcow2", Layers: chainOf(n, base)}},
		Snapshots: []Snapshot{
			{Name: "X", Kind: SnapshotExternal, Disks: extDisk(n, base)},
			{Name: "Y", Parent: "X", Kind: SnapshotExternal, Disks: extDisk(y, x, base)},
			{Name: "int", Kind: SnapshotInternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "internal", Point: img + "gone.qcow2"}}},
		},
	}
}

func TestReconcileOwnRevert(t *testing.T) {
	d := branchDomain()
	if st, br := staleAndBranch(&d); st != nil || !reflect.DeepEqual(br, []string{"Y"}) {
		t.Fatalf("after revert to X: stale %v branch %v", st, br)
	}
	// Before virtchain renamed X's overlay, X itself would be stale.
	old := branchDomain()
	old.Snapshots[0].Disks[0].File = img + "x.qcow2"
	if st, _ := staleAndBranch(&old); !reflect.DeepEqual(st, []string{"X"}) {
		t.Fatalf("X naming its old overlay: stale %v", st)
	}

	// A new snapshot Z after the revert: n is Z's point, X stays fine.
	z := img + "z.qcow2"
	d.Disks[0].Layers = chainOf(z, img+"n.qcow2", img+"base.qcow2")
	d.Snapshots = append(d.Snapshots, Snapshot{Name: "Z", Parent: "X", Kind: SnapshotExternal, Disks: extDisk(z, img+"n.qcow2", img+"base.qcow2")})
	d.CurrentSnapshot = "Z"
	if st, br := staleAndBranch(&d); st != nil || !reflect.DeepEqual(br, []string{"Y"}) {
		t.Fatalf("after Z: stale %v branch %v", st, br)
	}

	// Then a revert to Y, on the kept branch: Y names its new overlay,
	// Z becomes the kept branch, and X (whose overlay n left the chain
	// by a revert, not a merge) is not stale.
	n2 := img + "n2.qcow2"
	d.Disks[0].Layers = chainOf(n2, img+"x.qcow2", img+"base.qcow2")
	d.Snapshots[1].Disks[0].File = n2
	d.CurrentSnapshot = "Y"
	if st, br := staleAndBranch(&d); st != nil || !reflect.DeepEqual(br, []string{"Z"}) {
		t.Fatalf("after revert to Y: stale %v branch %v", st, br)
	}
	// Merging x into base now does make X stale: Y's point left the line.
	d.Disks[0].Layers = chainOf(n2, img+"base.qcow2")
	if st, _ := staleAndBranch(&d); !reflect.DeepEqual(st, []string{"X"}) {
		t.Fatalf("after merging x: stale %v", st)
	}
}

func TestReconcileWithoutCurrent(t *testing.T) {
	// Without a current snapshot the line is what the chain holds: Y's
	// overlay is off it and nothing below names it, so Y is a branch.
	d := branchDomain()
	d.CurrentSnapshot = ""
	if st, br := staleAndBranch(&d); st != nil || !reflect.DeepEqual(br, []string{"Y"}) {
		t.Fatalf("stale %v branch %v", st, br)
	}
}

func TestRefsPoints(t *testing.T) {
	d := branchDomain()
	refs := BuildRefs([]Domain{d})
	if got := refs.UsersExcept(img+"x.qcow2", nil); !reflect.DeepEqual(got, []string{"point of snapshot Y of vm (vda)"}) {
		t.Fatalf("users of x: %q", got)
	}
	got := refs.UsersExcept(img+"base.qcow2", nil)
	want := []string{"chain of vm vda", "point of snapshot X of vm (vda)", "point of snapshot Y of vm (vda)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("users of base: %q", got)
	}
	if got := refs.UsersExcept(img+"gone.qcow2", nil); !reflect.DeepEqual(got, []string{"point of snapshot int of vm (vda)"}) {
		t.Fatalf("internal snapshot's image: %q", got)
	}
}

func TestCleanupKeepsBranch(t *testing.T) {
	d := branchDomain()
	cp, err := PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", DeleteFiles: true}, CleanupFacts{Inspect: onHost(nil)})
	if err != nil || len(cp.Snapshots)+len(cp.Files) != 0 || len(cp.StaleRemoved) != 0 {
		t.Fatalf("%+v %v", cp, err)
	}
	_, err = PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{img + "x.qcow2"}, DeleteFiles: true}, leftFacts(img+"x.qcow2"))
	refusal(t, err, "still used by point of snapshot Y of vm (vda)")
	_, err = PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{img + "y.qcow2"}, DeleteFiles: true}, leftFacts(img+"y.qcow2"))
	refusal(t, err, "still used by snapshot Y of vm (vda)")
}

func TestCleanupAfterFullPull(t *testing.T) {
	d := pointedSeed()
	d.Disks[0].Layers = d.Disks[0].Layers[:1]
	cp, err := PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", DeleteFiles: true}, CleanupFacts{Inspect: onHost(nil)})
	if err != nil {
		t.Fatal(err)
	}
	// Already stale: removed, not "becomes stale".
	if !reflect.DeepEqual(cp.Snapshots, []string{"s3", "s2", "s1"}) || !reflect.DeepEqual(cp.StaleRemoved, []string{"s1", "s2", "s3"}) || cp.StaleSnapshots != nil {
		t.Fatalf("%+v", cp)
	}
	// s4's point still reads net-tools and everything below it.
	if len(cp.Files) != 0 || len(cp.Kept) != 3 {
		t.Fatalf("files %q kept %q", cp.Files, cp.Kept)
	}
	for _, k := range cp.Kept {
		if !strings.Contains(k, "used by point of snapshot s4 of vm (vda)") {
			t.Fatalf("kept %q", cp.Kept)
		}
	}
	_, err = PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{img + "centos.qcow2"}, DeleteFiles: true}, leftFacts(img+"centos.qcow2"))
	refusal(t, err, "point of snapshot s4")
	// Without s4, they go.
	d.Snapshots = d.Snapshots[:3]
	d.CurrentSnapshot = "s3"
	cp, err = PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{img + "test2.qcow2", img + "centos.qcow2"}, DeleteFiles: true},
		leftFacts(img+"test2.qcow2", img+"centos.qcow2"))
	if err != nil || len(cp.Files) != 5 || len(cp.Kept) != 0 {
		t.Fatalf("%+v %v", cp, err)
	}
}

func TestCommitGuardsBranch(t *testing.T) {
	d := branchDomain()
	// n into base would change what Y reads below x.
	_, err := PlanCommit([]Domain{d}, CommitRequest{Domain: "vm", Target: "vda"}, nil)
	refusal(t, err, "snapshots Y read at their point")
	// A pull only writes the active layer.
	d.Disks[0].Layers = chainOf(img+"z.qcow2", img+"n.qcow2", img+"base.qcow2")
	if _, err := PlanPull([]Domain{d}, PullRequest{Domain: "vm", Target: "vda"}, nil); err != nil {
		t.Fatal(err)
	}
	// Committing z into n changes nothing Y reads.
	if _, err := PlanCommit([]Domain{d}, CommitRequest{Domain: "vm", Target: "vda", Top: img + "z.qcow2", Base: img + "n.qcow2"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCommitListsPointsKept(t *testing.T) {
	d := pointedSeed()
	bp, err := PlanCommit([]Domain{d}, CommitRequest{Domain: "vm", Target: "vda", Top: "s3", Base: "s1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "test2_net-tools.qcow2, test2_nmap.qcow2 stay on disk: snapshot s4 reads them at its point"
	found := false
	for _, k := range bp.Kept {
		found = found || strings.Contains(k, want)
	}
	if !found || !reflect.DeepEqual(bp.StaleSnapshots, []string{"s2", "s3"}) {
		t.Fatalf("kept %q stale %v", bp.Kept, bp.StaleSnapshots)
	}
}

func TestDeleteWithChildPoint(t *testing.T) {
	// The child's point is the overlay being merged: libvirt repoints it.
	d := pointedSeed()
	p, err := PlanSnapshotDelete([]Domain{d}, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, SnapshotFacts{})
	if err != nil || len(p.Merges) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	// Another domain reading that overlay still blocks it.
	other := Domain{Name: "other", Snapshots: []Snapshot{{Name: "o", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/o.qcow2", Point: img + "test2_nmap.qcow2"}}}}}
	_, err = PlanSnapshotDelete([]Domain{d, other}, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, SnapshotFacts{})
	refusal(t, err, "point of snapshot o of other (vda)")
}

// leftFacts is a host where every file is a qcow2 image and the paths were
// recorded as leaving vm's chain.
func leftFacts(paths ...string) CleanupFacts {
	f := CleanupFacts{Inspect: onHost(nil)}
	for _, p := range paths {
		f.Left = append(f.Left, LeftFile{Path: p, ID: onHost(nil)(p).ID})
	}
	return f
}
