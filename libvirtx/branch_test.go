package libvirtx

import (
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// virtchain's own external revert keeps the newer branch: the reverted
// snapshot names its new overlay, its children are a kept branch, nothing
// is stale and nothing is offered for cleanup.

func TestRevertedSnapshotDoc(t *testing.T) {
	doc := snapXML(t, libvirtxml.DomainSnapshot{
		Name: "X", State: "disk-snapshot",
		Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{
			{Name: "vda", Snapshot: "external", Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/v/x.qcow2"}}},
			{Name: "vdb", Snapshot: "no"},
		}},
		Domain: &libvirtxml.Domain{Name: "d", Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{
			discFileDisk("vda", "/v/base.qcow2", "qcow2"), discFileDisk("vdb", "/v/b.raw", "raw"),
		}}},
	})
	out, err := revertedSnapshotDoc(doc, []model.RevertOverlay{{Target: "vda", Overlay: "/v/n.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSnapshot(out)
	if err != nil {
		t.Fatal(err)
	}
	// The overlay changes; the saved definition, and so the point, do not.
	want := []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/v/n.qcow2", Point: "/v/base.qcow2"}, {Target: "vdb", Kind: "no", Point: "/v/b.raw"}}
	if !reflect.DeepEqual(s.Disks, want) || s.Name != "X" {
		t.Fatalf("got %+v", s)
	}
	if _, err := revertedSnapshotDoc(doc, []model.RevertOverlay{{Target: "vdc", Overlay: "/v/n.qcow2"}}); err == nil {
		t.Fatal("a disk the snapshot lacks was accepted")
	}
}

// marks returns the stale and branch snapshots as discovery reports them.
func (l *snapLab) marks() (stale, branch []string) {
	l.t.Helper()
	for _, s := range l.domain().Snapshots {
		if len(s.Stale) > 0 {
			stale = append(stale, s.Name+":"+strings.Join(s.Stale, ","))
		}
		if s.Branch {
			branch = append(branch, s.Name)
		}
	}
	return stale, branch
}

func (l *snapLab) snap(name string) model.Snapshot {
	l.t.Helper()
	for _, s := range l.domain().Snapshots {
		if s.Name == name {
			return s
		}
	}
	l.t.Fatalf("no snapshot %s", name)
	return model.Snapshot{}
}

func TestBranchOwnRevert(t *testing.T) {
	l := newSnapLabAs(t, "vct-branch-revert", true)
	l.write("vda", "write -P 0x11 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "X", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x22 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "Y", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x33 0 1M")
	l.flush()
	base, fx, fy := l.path("base.qcow2"), l.path(l.name+"_X.vda.qcow2"), l.path(l.name+"_Y.vda.qcow2")
	if y := l.snap("Y"); y.Disks[0].Point != fx || !reflect.DeepEqual(y.Disks[0].PointBacking, []string{base}) {
		t.Fatalf("Y before the revert: %+v", y.Disks)
	}

	p := l.revert(model.SnapshotRevertRequest{Name: "X", DiscardCurrent: true})
	if p.Method != model.RevertVirtchain {
		t.Skipf("this libvirt reverts external snapshots itself (%s)", p.Method)
	}
	n1 := l.path(l.name + "_X-revert1.vda.qcow2")
	if got := l.chain("vda"); !reflect.DeepEqual(got, []string{l.name + "_X-revert1.vda.qcow2", "base.qcow2"}) {
		t.Fatalf("chain after revert %v", got)
	}
	l.want("vda", "0x11", "0", "1M")
	// X names its new overlay; Y, off the line, is the kept branch and
	// reads x's old overlay (off the chain, read from its header).
	if x := l.snap("X"); x.Disks[0].File != n1 || x.Disks[0].Point != base || x.Branch {
		t.Fatalf("X after the revert: %+v", x)
	}
	if y := l.snap("Y"); y.Disks[0].Point != fx || !reflect.DeepEqual(y.Disks[0].PointBacking, []string{base}) {
		t.Fatalf("Y after the revert: %+v", y.Disks)
	}
	if stale, branch := l.marks(); stale != nil || !reflect.DeepEqual(branch, []string{"Y"}) {
		t.Fatalf("stale %v branch %v", stale, branch)
	}
	l.wantTree("X", "X<", "Y<X")

	// Nothing to clean, and the branch's files cannot be named for deletion.
	doms, err := l.c.Discover(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.c.PlanCleanup(l.ctx, model.CleanupRequest{Domain: l.name, DeleteFiles: l.c.Local()})
	if err != nil || len(cp.Snapshots)+len(cp.Files)+len(cp.Kept) != 0 {
		t.Fatalf("cleanup %+v %v", cp, err)
	}
	for _, f := range []string{fx, fy} {
		if _, err := l.c.PlanCleanup(l.ctx, model.CleanupRequest{Domain: l.name, Files: []string{f}, DeleteFiles: true}); !remoteCleanupRefused(t, l.c, err) && (err == nil || !strings.Contains(err.Error(), "snapshot Y")) {
			t.Fatalf("cleanup of %s: %v", f, err)
		}
	}
	// Committing the new overlay into base would change what Y reads.
	if _, err := model.PlanCommit(doms, model.CommitRequest{Domain: l.name, Target: "vda"}, nil); err == nil || !strings.Contains(err.Error(), "snapshots Y") {
		t.Fatalf("commit into the branch's base: %v", err)
	}

	// Again to X: libvirt takes the redefined X as it is.
	l.revert(model.SnapshotRevertRequest{Name: "X", Start: model.StartRunning, DiscardCurrent: true})
	if got := l.chain("vda"); !reflect.DeepEqual(got, []string{l.name + "_X-revert2.vda.qcow2", "base.qcow2"}) {
		t.Fatalf("chain after the second revert to X %v", got)
	}
	l.want("vda", "0x11", "0", "1M")
	if stale, branch := l.marks(); stale != nil || !reflect.DeepEqual(branch, []string{"Y"}) {
		t.Fatalf("after the second revert to X: stale %v branch %v", stale, branch)
	}

	// To Y, on the kept branch: its point is X's first overlay.
	l.revert(model.SnapshotRevertRequest{Name: "Y", Start: model.StartRunning, DiscardCurrent: true})
	l.wantState(model.StateRunning)
	if got := l.chain("vda"); !reflect.DeepEqual(got, []string{l.name + "_Y-revert1.vda.qcow2", fx[len(l.dir)+1:], "base.qcow2"}) {
		t.Fatalf("chain after the revert to Y %v", got)
	}
	l.want("vda", "0x22", "0", "1M")
	// X's overlay left the chain by a revert, not a merge: not stale.
	if stale, branch := l.marks(); stale != nil || branch != nil {
		t.Fatalf("after the revert to Y: stale %v branch %v", stale, branch)
	}
	l.wantTree("Y", "X<", "Y<X")
	for _, f := range []string{fx, fy, n1, l.path(l.name + "_X-revert2.vda.qcow2")} {
		if !exists(f) {
			t.Errorf("%s was deleted", f)
		}
	}
	testhost.ReadPattern(t, fy, "0x33", "0", "1M")
}
