package model

import (
	"strings"
	"testing"
)

// fsFacts puts every path under a prefix on one filesystem with free bytes.
func fsFacts(memory int64, fss ...Filesystem) SpaceFacts {
	return SpaceFacts{Memory: memory, FS: func(p string) (Filesystem, bool) {
		for _, fs := range fss {
			if strings.HasPrefix(p, fs.Mount+"/") {
				return fs, true
			}
		}
		return Filesystem{}, false
	}}
}

const miB = 1 << 20

func TestOverlayMetadataAsQemuImgMakesIt(t *testing.T) {
	// qemu-img 7.2: create -f qcow2 -b base (1 GiB) gives 196624 bytes.
	if got := OverlayMetadata(1 << 30); got != 196624 {
		t.Errorf("overlay of 1 GiB: %d bytes, qemu-img makes 196624", got)
	}
}

func TestCommitSpaceRefusedWithMissingAmount(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	layers := doms[0].Disks[0].Layers
	// Commit test2_lsof..test2 into centos; make the moving data 512.3 MiB.
	for i := range layers[:5] {
		layers[i].Allocation = 0
	}
	layers[1].Allocation = 512*miB + 300*1024
	base := &layers[5]
	base.VirtualSize, base.Allocation = 2<<30, 1*miB
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "test2_net-tools.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Writes) != 1 || bp.Writes[0].Path != img+"centos.qcow2" || bp.Writes[0].Bytes != layers[1].Allocation {
		t.Fatalf("writes %+v", bp.Writes)
	}
	small := Filesystem{ID: "7:0", Mount: "/var/lib/libvirt/images", Device: "/dev/loop0", Free: 270*miB + 100*1024}
	err = CheckSpace(&bp.Plan, fsFacts(0, small))
	want := "committing into centos.qcow2 needs up to 512.3 MiB on /var/lib/libvirt/images (device /dev/loop0), which has 270.1 MiB free: 242.2 MiB missing; free space there or commit into another base"
	if err == nil || err.Error() != want {
		t.Fatalf("refusal:\n got %v\nwant %s", err, want)
	}
	// The same plan on a larger filesystem fits, and says so.
	small.Free = 1 << 30
	if err := CheckSpace(&bp.Plan, fsFacts(0, small)); err != nil {
		t.Fatal(err)
	}
	lines := bp.SpaceLines()
	if len(lines) != 1 || lines[0] != "/var/lib/libvirt/images (device /dev/loop0): needs up to 512.3 MiB (centos.qcow2 512.3 MiB), 1 GiB free: fits" {
		t.Errorf("space lines %q", lines)
	}
}

func TestCommitSpaceBoundedByBaseGrowth(t *testing.T) {
	doms := []Domain{seed(StateShutoff)}
	layers := doms[0].Disks[0].Layers
	// A 64 MiB base that already holds 60 MiB can grow by little more
	// than 4 MiB plus its tables, whatever the layers above hold.
	base := &layers[5]
	base.VirtualSize, base.Allocation, base.ClusterSize = 64*miB, 60*miB, 65536
	layers[4].Allocation = 500 * miB
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "test2.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := bp.Writes[0].Bytes; n < 4*miB || n > 5*miB {
		t.Errorf("commit into a nearly full 64 MiB base needs %d bytes, want about 4 MiB", n)
	}
}

func TestPullSpaceIsOnTheActiveLayer(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	bp, err := PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "test2.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// test2_net-tools, test2_nmap and test2_test: 2+3+4 MiB.
	if len(bp.Writes) != 1 || bp.Writes[0].Path != img+"test2_lsof.qcow2" || bp.Writes[0].Bytes != 9*miB {
		t.Fatalf("writes %+v", bp.Writes)
	}
	err = CheckSpace(&bp.Plan, fsFacts(0, Filesystem{ID: "8:1", Mount: "/var/lib/libvirt", Free: 5 * miB}))
	wantRefusal(t, err, "pulling into test2_lsof.qcow2 needs up to 9 MiB on /var/lib/libvirt (device 8:1), which has 5 MiB free: 4 MiB missing",
		"free space there or pull less")
}

func TestRemoteSpaceIsUncheckedNotRefused(t *testing.T) {
	bp, err := PlanPull([]Domain{seed(StateRunning)}, PullRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSpace(&bp.Plan, SpaceFacts{}); err != nil {
		t.Fatal(err)
	}
	if len(bp.Space) != 0 || !strings.Contains(bp.SpaceUnchecked, "free space was not checked") || !strings.Contains(bp.SpaceUnchecked, "up to 20 MiB") {
		t.Errorf("remote: space %+v, unchecked %q", bp.Space, bp.SpaceUnchecked)
	}
	if l := bp.SpaceLines(); len(l) != 1 || l[0] != bp.SpaceUnchecked {
		t.Errorf("lines %q", l)
	}
}

func TestCheckpointSpaceGroupsFilesPerFilesystem(t *testing.T) {
	img := Filesystem{ID: "8:2", Mount: "/img", Device: "/dev/sdb1", Free: 100 * miB}
	f := hostFacts
	f.Space = fsFacts(96*miB, img)
	// Overlay (192 KiB) and memory file (96 MiB + 32 MiB) on /img: too much.
	_, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true}, f)
	wantRefusal(t, err, "overlay vm_s3.vda.qcow2 and memory file vm_s3.mem need up to 128.2 MiB on /img (device /dev/sdb1), which has 100 MiB free: 28.2 MiB missing",
		"put it on another filesystem (--file vda=PATH)")
	// Disk-only: only the overlay.
	p, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Space) != 1 || len(p.Space[0].Files) != 1 || p.Space[0].Need != OverlayMetadata(0) {
		t.Errorf("disk-only space %+v", p.Space)
	}
}

func TestInternalSnapshotSpaceCountsMemory(t *testing.T) {
	doms := snapFixture()
	doms[0].Disks = doms[0].Disks[:1]
	doms[0].Disks[0].Layers = []Layer{{Path: "/img/ov2.qcow2", Format: "qcow2", VirtualSize: 1 << 30, ClusterSize: 65536}}
	f := hostFacts
	f.Space = fsFacts(256*miB, Filesystem{ID: "8:2", Mount: "/img", Free: 200 * miB})
	_, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "vm", Name: "i1"}, f)
	wantRefusal(t, err, "internal snapshot i1 with memory in ov2.qcow2 needs up to 288.2 MiB on /img", "88.2 MiB missing", "--external")
}

func TestSaveAndManagedSaveSpace(t *testing.T) {
	f := hostFacts
	f.Space = fsFacts(512*miB, Filesystem{ID: "8:3", Mount: "/var/lib/libvirt", Free: 300 * miB}, Filesystem{ID: "8:2", Mount: "/img", Free: 1 << 30})
	_, err := PlanManagedSave(snapFixture(), "vm", f)
	wantRefusal(t, err, "managed-save image vm.save needs up to 544 MiB on /var/lib/libvirt (device 8:3), which has 300 MiB free: 244 MiB missing",
		"virtchain save vm FILE")
	p, err := PlanSave(snapFixture(), SaveRequest{Domain: "vm", File: "/img/vm.save"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Space) != 1 || p.Space[0].Need != 544*miB || p.Space[0].Files[0].Path != "/img/vm.save" {
		t.Errorf("save space %+v", p.Space)
	}
}

func TestNoSpaceWording(t *testing.T) {
	fs := Filesystem{ID: "7:0", Mount: "/mnt/x", Device: "/dev/loop0", Free: 3072}
	got := IOErrorText("web", "vda", "/mnt/x/base.qcow2", fs, true)
	want := "vda: no space left on the filesystem holding base.qcow2 on /mnt/x (device /dev/loop0) (libvirt I/O error enospc); the domain is paused: free space, then virsh resume web"
	if got != want {
		t.Errorf("io error:\n got %s\nwant %s", got, want)
	}
	if got := IOErrorText("web", "", "", Filesystem{}, false); got != "a disk: no space left (libvirt I/O error enospc); free space there" {
		t.Errorf("io error without facts: %s", got)
	}
	got = NoSpaceText(JobCommit, "/mnt/x/base.qcow2", fs)
	want = "commit stopped for lack of space: the filesystem holding base.qcow2 on /mnt/x (device /dev/loop0) has 3 KiB free; free space there and run it again"
	if got != want {
		t.Errorf("job:\n got %s\nwant %s", got, want)
	}
	fs.Free = LowSpace
	if got := NoSpaceText(JobCommit, "/mnt/x/base.qcow2", fs); got != "" {
		t.Errorf("a filesystem with %d free is not full: %s", fs.Free, got)
	}
}

func TestDeleteAndRevertSpace(t *testing.T) {
	f := hostFacts
	f.Space = fsFacts(0, Filesystem{ID: "8:2", Mount: "/img", Free: 1 * miB})
	// Deleting s2 commits its overlay (2 MiB allocated) into ov1.qcow2.
	_, err := PlanSnapshotDelete(snapFixture(), SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, f)
	wantRefusal(t, err, "merging ov2.qcow2 into ov1.qcow2 needs up to 2 MiB on /img (device 8:2), which has 1 MiB free: 1 MiB missing",
		"free space there or remove only its metadata")
	// A revert by libvirt 9.9+ makes an overlay next to the image at the point.
	f.ExternalRevert = true
	p, err := PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1", Force: true, DiscardCurrent: true},
		[]PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Space) != 1 || len(p.Space[0].Files) != 1 || p.Space[0].Files[0].Path != "/img/base.<epoch>" || p.Space[0].Need != OverlayMetadata(0) {
		t.Errorf("revert space %+v", p.Space)
	}
	// By default the keep snapshot's overlay and memory file count too.
	p, err = PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1", Force: true},
		[]PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Space) != 1 || len(p.Space[0].Files) != 3 || p.Space[0].Need != 2*OverlayMetadata(0) {
		t.Errorf("revert space with the keep snapshot %+v", p.Space)
	}
	// virtchain's own revert (before 9.9) names its overlays.
	f.ExternalRevert = false
	p, err = PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true},
		[]PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Space) != 1 || !strings.HasSuffix(p.Space[0].Files[0].Path, "-revert1.vda.qcow2") {
		t.Errorf("own revert space %+v", p.Space)
	}
}
