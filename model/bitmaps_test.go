package model

import (
	"slices"
	"strings"
	"testing"
)

// bitmapSeed is seed's chain with bitmaps: "nightly" in test2_nmap (a
// layer a commit of s3..s2 takes out), "weekly" in centos (the base), and
// checkpoint cp1 whose bitmap is nightly.
func bitmapSeed(state DomainState) []Domain {
	d := seed(state)
	l := d.Disks[0].Layers
	l[2].Bitmaps = []Bitmap{{Name: "nightly", Granularity: 65536, Enabled: true, Source: BitmapFromImage}}
	l[5].Bitmaps = []Bitmap{{Name: "weekly", Granularity: 65536, Enabled: true, Source: BitmapFromImage}}
	d.Checkpoints = []Checkpoint{{Name: "cp1", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "nightly"}}}}
	ApplyCheckpoints(&d)
	return []Domain{d}
}

func TestApplyCheckpoints(t *testing.T) {
	d := bitmapSeed(StateRunning)[0]
	if got := d.Disks[0].Layers[2].Bitmaps[0].Checkpoint; got != "cp1" || len(d.Checkpoints[0].Broken) != 0 {
		t.Errorf("bitmap's checkpoint %q, broken %v", got, d.Checkpoints[0].Broken)
	}
	// A checkpoint QEMU holds in memory only shows on the active layer.
	d.Checkpoints = append(d.Checkpoints,
		Checkpoint{Name: "cp2", Sized: true, Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp2", Live: true}}},
		Checkpoint{Name: "cp3", Sized: true, Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp3"}, {Target: "vdb", Kind: "no"}}},
		// libvirt could not be asked: QEMU may hold cp4, so it is not broken.
		Checkpoint{Name: "cp4", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp4"}}})
	ApplyCheckpoints(&d)
	top := d.Disks[0].Layers[0].Bitmaps
	if len(top) != 1 || top[0] != (Bitmap{Name: "cp2", Enabled: true, Source: BitmapFromQEMU, Checkpoint: "cp2"}) {
		t.Errorf("active layer's bitmaps %+v", top)
	}
	if !slices.Equal(d.Checkpoints[2].Broken, []string{"vda"}) || d.Checkpoints[1].Broken != nil || d.Checkpoints[3].Broken != nil {
		t.Errorf("broken: cp2 %v cp3 %v cp4 %v", d.Checkpoints[1].Broken, d.Checkpoints[2].Broken, d.Checkpoints[3].Broken)
	}
	// Shut off, a live bitmap is not believed: nothing runs to hold it.
	d = bitmapSeed(StateShutoff)[0]
	d.Checkpoints = append(d.Checkpoints, Checkpoint{Name: "cp2", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp2", Live: true}}})
	ApplyCheckpoints(&d)
	if len(d.Disks[0].Layers[0].Bitmaps) != 0 || len(d.Checkpoints[1].Broken) != 1 {
		t.Errorf("shut off: %+v %+v", d.Disks[0].Layers[0].Bitmaps, d.Checkpoints[1])
	}
}

// libvirt's blockcommit merges the bitmaps of the layers that leave into
// the base: the plan says so and warns of nothing.
func TestCommitBitmapsMergedByLibvirt(t *testing.T) {
	bp, err := PlanCommit(bitmapSeed(StateRunning), CommitRequest{Domain: "vm", Target: "vda", Top: img + "test2_net-tools.qcow2", Base: img + "test2_test.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []BitmapEffect{{Target: "vda", Layer: img + "test2_nmap.qcow2", Bitmap: "nightly", Checkpoint: "cp1", Effect: BitmapMerged, Into: img + "test2_test.qcow2"}}
	if !slices.Equal(bp.Bitmaps, want) || bp.NextBackup != BackupIncremental || bp.BrokenCheckpoints != nil {
		t.Errorf("bitmaps %+v next %q broken %v", bp.Bitmaps, bp.NextBackup, bp.BrokenCheckpoints)
	}
	if k := joined(bp.Kept); !strings.Contains(k, "libvirt's blockcommit merges bitmaps nightly (checkpoint cp1) of test2_nmap.qcow2 into test2_test.qcow2") {
		t.Errorf("kept:\n%s", k)
	}
	if w := joined(bp.Warnings); strings.Contains(w, "bitmap") {
		t.Errorf("warned:\n%s", w)
	}
}

// qemu-img commit carries no bitmap: the offline plan warns before y,
// names the checkpoint it breaks and asks for a full backup. Started
// paused (a remote host), libvirt commits and the warning goes.
func TestCommitBitmapsLostOffline(t *testing.T) {
	req := CommitRequest{Domain: "vm", Target: "vda", Top: img + "test2_net-tools.qcow2", Base: img + "test2_test.qcow2"}
	bp, err := PlanCommit(bitmapSeed(StateShutoff), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Bitmaps) != 1 || bp.Bitmaps[0].Effect != BitmapLost || bp.NextBackup != BackupFull || !slices.Equal(bp.BrokenCheckpoints, []string{"cp1"}) {
		t.Errorf("bitmaps %+v next %q broken %v", bp.Bitmaps, bp.NextBackup, bp.BrokenCheckpoints)
	}
	w := joined(bp.Warnings)
	for _, s := range []string{"vda: bitmaps nightly (checkpoint cp1) of test2_nmap.qcow2 leave the chain with it (qemu-img commit carries no bitmaps)",
		"full backup of vda", "checkpoints cp1 lose their bitmap", "virsh checkpoint-delete vm NAME --metadata",
		"to keep them, merge them into test2_test.qcow2 first: qemu-img bitmap --add --merge nightly -b /var/lib/libvirt/images/test2_nmap.qcow2 -F qcow2 /var/lib/libvirt/images/test2_test.qcow2 nightly"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings lack %q:\n%s", s, w)
		}
	}
	if len(bp.Notes) == 0 || !strings.Contains(bp.WarningsIn(func(Remedy) string { return "" })[len(bp.Warnings)-1], "checkpoint") {
		t.Errorf("the warnings are not in Notes for the TUI: %q", bp.Notes)
	}
	// The base has a bitmap of that name already: merge into it, no --add.
	doms := bitmapSeed(StateShutoff)
	doms[0].Disks[0].Layers[3].Bitmaps = []Bitmap{{Name: "nightly", Enabled: true, Source: BitmapFromImage}}
	if b2, err := PlanCommit(doms, req, nil); err != nil || !strings.Contains(joined(b2.Warnings), "first: qemu-img bitmap --merge nightly -b ") {
		t.Errorf("merge into an existing bitmap: %v %q", err, b2.Warnings)
	}
	bp.ByPausedDomain()
	if len(bp.Bitmaps) != 1 || bp.Bitmaps[0].Effect != BitmapMerged || bp.NextBackup != BackupIncremental || bp.BrokenCheckpoints != nil {
		t.Errorf("paused: bitmaps %+v next %q broken %v", bp.Bitmaps, bp.NextBackup, bp.BrokenCheckpoints)
	}
	if w := joined(bp.Warnings); strings.Contains(w, "bitmap") {
		t.Errorf("paused still warns:\n%s", w)
	}
	if !strings.Contains(joined(bp.Kept), "libvirt's blockcommit merges bitmaps nightly") {
		t.Errorf("paused kept %q", bp.Kept)
	}
}

// A pull leaves the pulled layers' bitmaps behind, online and offline; a
// bitmap that a layer which stays also has keeps its checkpoint whole.
func TestPullBitmapsLost(t *testing.T) {
	for _, st := range []DomainState{StateRunning, StateShutoff} {
		doms := bitmapSeed(st)
		bp, err := PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: img + "test2_test.qcow2"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		by := map[DomainState]string{StateRunning: "(blockpull carries no bitmaps)", StateShutoff: "(qemu-img rebase carries no bitmaps)"}[st]
		if len(bp.Bitmaps) != 1 || bp.Bitmaps[0].Effect != BitmapLost || !strings.Contains(joined(bp.Warnings), by) || bp.NextBackup != BackupFull {
			t.Errorf("%s: %+v %q", st, bp.Bitmaps, bp.Warnings)
		}
		bp.ByPausedDomain()
		if st == StateShutoff && !strings.Contains(joined(bp.Warnings), "(blockpull carries no bitmaps)") {
			t.Errorf("paused pull: %q", bp.Warnings)
		}
	}
	doms := bitmapSeed(StateRunning)
	doms[0].Disks[0].Layers[0].Bitmaps = []Bitmap{{Name: "nightly", Source: BitmapFromImageInUse}}
	bp, err := PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: img + "test2_test.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// blockpull writes the pulled data through the active layer's bitmap
	// of the same name, which so goes on.
	if bp.BrokenCheckpoints != nil || bp.NextBackup != BackupIncremental || len(bp.Bitmaps) != 1 || bp.Bitmaps[0].Effect != BitmapMerged ||
		!strings.Contains(joined(bp.Kept), "bitmaps nightly (checkpoint cp1) of test2_nmap.qcow2 go on in test2_lsof.qcow2") {
		t.Errorf("broken %v next %q bitmaps %+v kept %q", bp.BrokenCheckpoints, bp.NextBackup, bp.Bitmaps, bp.Kept)
	}
	// qemu-img rebase is not measured to do so: lost.
	doms[0].State = StateShutoff
	bp, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: img + "test2_test.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.NextBackup != BackupFull || bp.Bitmaps[0].Effect != BitmapLost {
		t.Errorf("offline: %+v", bp.Bitmaps)
	}
}

// QEMU holds cp1 on the active layer that the layer below has on disk:
// libvirt's snapshot made the active layer while the domain ran, and
// copied every enabled bitmap of the layer below into it.
func TestApplyCheckpointsInfersSnapshotCopies(t *testing.T) {
	d := seed(StateRunning)
	l := d.Disks[0].Layers
	l[1].Bitmaps = []Bitmap{{Name: "cp1", Enabled: true, Source: BitmapFromImage}, {Name: "bmt", Enabled: true, Source: BitmapFromImage}, {Name: "off", Source: BitmapFromImage}}
	d.Checkpoints = []Checkpoint{{Name: "cp1", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp1", Live: true}}}}
	ApplyCheckpoints(&d)
	var got []string
	for _, b := range d.Disks[0].Layers[0].Bitmaps {
		got = append(got, b.Name+"/"+b.Source)
	}
	if !slices.Equal(got, []string{"cp1/qemu", "bmt/qemu"}) {
		t.Errorf("active layer's bitmaps %q", got)
	}
	// Not live (libvirt gave no size): nothing is inferred.
	d = seed(StateRunning)
	d.Disks[0].Layers[1].Bitmaps = []Bitmap{{Name: "cp1", Enabled: true, Source: BitmapFromImage}}
	d.Checkpoints = []Checkpoint{{Name: "cp1", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp1"}}}}
	ApplyCheckpoints(&d)
	if len(d.Disks[0].Layers[0].Bitmaps) != 0 || d.Checkpoints[0].Broken != nil {
		t.Errorf("not live: %+v %+v", d.Disks[0].Layers[0].Bitmaps, d.Checkpoints[0])
	}
}

// A chain with no bitmap and no checkpoint: the plan says nothing new.
func TestNoBitmapsNoWords(t *testing.T) {
	d := seed(StateShutoff)
	bp, err := PlanCommit([]Domain{d}, CommitRequest{Domain: "vm", Target: "vda", Top: img + "test2_net-tools.qcow2", Base: img + "test2_test.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Bitmaps != nil || bp.NextBackup != "" || bp.BrokenCheckpoints != nil || strings.Contains(joined(bp.Kept)+joined(bp.Warnings), "bitmap") {
		t.Errorf("%+v", bp.Plan)
	}
}

func TestSnapshotDeleteBitmapsMerged(t *testing.T) {
	doms := snapFixture()
	doms[0].Disks[0].Layers[1].Bitmaps = []Bitmap{{Name: "b1", Source: BitmapFromImage}}
	p, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bitmaps) != 1 || p.Bitmaps[0].Effect != BitmapMerged || p.Bitmaps[0].Into != "/img/base.qcow2" || p.NextBackup != BackupIncremental {
		t.Errorf("%+v next %q", p.Bitmaps, p.NextBackup)
	}
	if !strings.Contains(joined(p.Kept), "libvirt's snapshot delete merges bitmaps b1 of ov1.qcow2 into base.qcow2") {
		t.Errorf("kept %q", p.Kept)
	}
}

func TestRevertBitmaps(t *testing.T) {
	// External, by virtchain: the overlays above the point leave with
	// their bitmaps; the point's own bitmap stays.
	doms := snapFixture()
	doms[0].Disks[0].Layers[0].Bitmaps = []Bitmap{{Name: "late", Source: BitmapFromImageInUse, Checkpoint: "cpl"}}
	doms[0].Disks[0].Layers[2].Bitmaps = []Bitmap{{Name: "early", Source: BitmapFromImage}}
	doms[0].Checkpoints = []Checkpoint{
		{Name: "cpl", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "late"}}},
		{Name: "cpe", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "early"}}},
	}
	f := hostFacts
	f.Stat = statMap("/img", "/img/ov1.qcow2", "/img/base.qcow2", "/img/s2.mem")
	points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}, {Target: "sda", Path: "/iso/x.iso", Format: "raw"}}
	p, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bitmaps) != 1 || p.Bitmaps[0].Bitmap != "late" || p.Bitmaps[0].Effect != BitmapLost || !slices.Equal(p.BrokenCheckpoints, []string{"cpl"}) || p.NextBackup != BackupFull {
		t.Errorf("bitmaps %+v broken %v next %q", p.Bitmaps, p.BrokenCheckpoints, p.NextBackup)
	}
	if w := joined(p.Warnings); !strings.Contains(w, "(virtchain's revert carries no bitmaps)") {
		t.Errorf("warnings:\n%s", w)
	}
	// Internal: the image's data goes back under its bitmaps.
	idoms := internalFixture()
	idoms[0].Disks[0].Layers[0].Bitmaps = []Bitmap{{Name: "b", Source: BitmapFromImage}}
	ip, err := PlanSnapshotRevert(idoms, SnapshotRevertRequest{Domain: "iv", Name: "a", DiscardCurrent: true}, []PointDisk{{Target: "vda", Path: "/img/iv.qcow2", Format: "qcow2"}}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ip.Bitmaps) != 1 || ip.Bitmaps[0].Effect != BitmapStale || !strings.Contains(joined(ip.Warnings), "do not record what the revert to a changes") {
		t.Errorf("internal: %+v %q", ip.Bitmaps, ip.Warnings)
	}
}

func TestCleanupNamesBrokenCheckpoints(t *testing.T) {
	doms := bitmapSeed(StateShutoff)
	doms[0].Checkpoints = append(doms[0].Checkpoints, Checkpoint{Name: "gone", Disks: []CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "gone"}}})
	ApplyCheckpoints(&doms[0])
	cp, err := PlanCleanup(doms, CleanupRequest{Domain: "vm"}, CleanupFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if w := joined(cp.Warnings); !strings.Contains(w, "checkpoints gone (vda) lost their bitmap already") || cp.NextBackup != BackupFull {
		t.Errorf("warnings %q next %q", cp.Warnings, cp.NextBackup)
	}
}
