package model

import (
	"errors"
	"strings"
	"testing"
)

// snapFixture is two domains: vm (running, vda qcow2 chain ov2 -> ov1 -> base,
// a readonly cdrom, a shareable disk) with external snapshots s1 -> s2, and
// other, whose chain shares /img/shared.qcow2.
func snapFixture() []Domain {
	vm := Domain{
		Name: "vm", State: StateRunning, Persistent: true,
		Disks: []Disk{
			{Target: "vda", Device: "disk", SourceType: "file", Source: "/img/ov2.qcow2", Format: "qcow2",
				Layers: []Layer{
					{Path: "/img/ov2.qcow2", Format: "qcow2", Allocation: 2 << 20, CreatedBySnapshot: "s2"},
					{Path: "/img/ov1.qcow2", Format: "qcow2", Allocation: 1 << 20, CreatedBySnapshot: "s1"},
					{Path: "/img/base.qcow2", Format: "qcow2", Allocation: 8 << 20},
				}},
			{Target: "sda", Device: "cdrom", SourceType: "file", Source: "/iso/x.iso", Format: "raw", ReadOnly: true,
				Layers: []Layer{{Path: "/iso/x.iso", Format: "raw"}}},
			{Target: "vdb", Device: "disk", SourceType: "file", Source: "/img/sh.qcow2", Format: "qcow2", Shareable: true,
				Layers: []Layer{{Path: "/img/sh.qcow2", Format: "qcow2"}}},
		},
		Snapshots: []Snapshot{
			{Name: "s1", Kind: SnapshotExternal, Memory: MemoryNo, State: "disk-snapshot",
				Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/img/ov1.qcow2"}, {Target: "sda", Kind: "no"}, {Target: "vdb", Kind: "no"}}},
			{Name: "s2", Parent: "s1", Kind: SnapshotExternal, Memory: MemoryExternal, MemoryFile: "/img/s2.mem", State: "running", Current: true,
				Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/img/ov2.qcow2", Point: "/img/ov1.qcow2"}, {Target: "sda", Kind: "no"}, {Target: "vdb", Kind: "no"}}},
		},
		CurrentSnapshot: "s2",
	}
	other := Domain{
		Name: "other", State: StateShutoff, Persistent: true,
		Disks: []Disk{{Target: "vda", Device: "disk", SourceType: "file", Source: "/img/o.qcow2", Format: "qcow2",
			Layers: []Layer{{Path: "/img/o.qcow2", Format: "qcow2"}, {Path: "/img/shared.qcow2", Format: "qcow2"}}}},
	}
	return []Domain{vm, other}
}

// internalFixture is a shut-off domain with one qcow2 disk and an internal
// snapshot tree a -> b.
func internalFixture() []Domain {
	return []Domain{{
		Name: "iv", State: StateShutoff, Persistent: true,
		Disks: []Disk{{Target: "vda", Device: "disk", SourceType: "file", Source: "/img/iv.qcow2", Format: "qcow2",
			Layers: []Layer{{Path: "/img/iv.qcow2", Format: "qcow2", InternalSnapshots: []string{"a", "b"}}}}},
		Snapshots: []Snapshot{
			{Name: "a", Kind: SnapshotInternal, Memory: MemoryNo, State: "shutoff", Disks: []SnapshotDisk{{Target: "vda", Kind: "internal"}}},
			{Name: "b", Parent: "a", Kind: SnapshotInternal, Memory: MemoryInternal, State: "running", Current: true, Disks: []SnapshotDisk{{Target: "vda", Kind: "internal"}}},
		},
		CurrentSnapshot: "b",
	}}
}

// statMap answers from a set of existing paths; every other path is missing.
func statMap(paths ...string) func(string) FileState {
	m := map[string]bool{}
	for _, p := range paths {
		m[p] = true
	}
	return func(p string) FileState {
		if m[p] {
			return FileExists
		}
		return FileMissing
	}
}

var hostFacts = SnapshotFacts{Stat: statMap("/img", "/iso", "/img/ov2.qcow2", "/img/ov1.qcow2", "/img/base.qcow2", "/img/s2.mem", "/img/iv.qcow2", "/other")}

func wantRefusal(t *testing.T, err error, parts ...string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a *Refusal containing %q, got %v", parts, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("refusal %q does not mention %q", err.Error(), p)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("refusal is not one line: %q", err.Error())
	}
}

func joined(ss []string) string { return strings.Join(ss, "\n") }

func TestPlanSnapshotCreateInternalRunning(t *testing.T) {
	doms := internalFixture()
	doms[0].State = StateRunning
	doms[0].Disks = append(doms[0].Disks, Disk{Target: "sda", Device: "cdrom", Source: "/iso/x.iso", Format: "raw", ReadOnly: true})
	p, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "iv", Name: "fresh", Description: "before update"}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != SnapshotInternal || p.Memory != MemoryInternal {
		t.Errorf("kind %s memory %s, want internal/internal", p.Kind, p.Memory)
	}
	if len(p.Disks) != 2 || p.Disks[0].Snapshot != "internal" || p.Disks[1].Snapshot != "no" || p.Disks[1].Reason != "readonly (cdrom)" {
		t.Errorf("disks %+v", p.Disks)
	}
	want := "virsh snapshot-create-as --domain iv --name fresh --description 'before update' --atomic"
	if p.Virsh[0] != want {
		t.Errorf("virsh %q, want %q", p.Virsh[0], want)
	}
	if s := joined(p.Steps); !strings.Contains(s, "savevm") || !strings.Contains(s, "child of b") || !strings.Contains(s, "sda: left out (readonly (cdrom))") {
		t.Errorf("steps:\n%s", s)
	}
}

func TestPlanSnapshotCreateInternalShutoffIsDiskOnly(t *testing.T) {
	p, err := PlanSnapshotCreate(internalFixture(), SnapshotCreateRequest{Domain: "iv", Name: "c"}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != MemoryNo || strings.Contains(joined(p.Steps), "savevm") {
		t.Errorf("shut-off internal snapshot has memory %s, steps %q", p.Memory, p.Steps)
	}
}

func TestPlanSnapshotCreateInternalRefusesRaw(t *testing.T) {
	doms := internalFixture()
	doms[0].Disks[0].Format, doms[0].Disks[0].Layers[0].Format = "raw", "raw"
	_, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "iv", Name: "c"}, hostFacts)
	wantRefusal(t, err, "vda", "/img/iv.qcow2", "is raw", "qcow2", "--external")
}

func TestPlanSnapshotCreateRefusesBadNames(t *testing.T) {
	for name, want := range map[string]string{"": "empty", "a/b": "'/'", ".hid": "'.'", "b": "already has a snapshot"} {
		_, err := PlanSnapshotCreate(internalFixture(), SnapshotCreateRequest{Domain: "iv", Name: name}, hostFacts)
		wantRefusal(t, err, want)
	}
	_, err := PlanSnapshotCreate(internalFixture(), SnapshotCreateRequest{Domain: "nope", Name: "x"}, hostFacts)
	wantRefusal(t, err, `no domain "nope"`, "list domains with 'virtchain list'")
}

func TestPlanSnapshotCreateInternalRefusesExternalOptions(t *testing.T) {
	for _, req := range []SnapshotCreateRequest{
		{Files: map[string]string{"vda": "/img/x.qcow2"}},
		{MemoryFile: "/img/m"},
		{DiskOnly: true},
		{Quiesce: true},
	} {
		req.Domain, req.Name = "iv", "c"
		_, err := PlanSnapshotCreate(internalFixture(), req, hostFacts)
		wantRefusal(t, err, "--")
	}
}

func TestPlanSnapshotCreateExternalDiskOnly(t *testing.T) {
	doms := snapFixture()
	p, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if !p.DiskOnly || p.Memory != MemoryNo || p.Kind != SnapshotExternal {
		t.Errorf("plan %+v", p)
	}
	wantDisks := []SnapshotDiskSpec{
		{Target: "vda", Snapshot: "external", Image: "/img/ov2.qcow2", ImageFormat: "qcow2", Overlay: "/img/vm_s3.vda.qcow2"},
		{Target: "sda", Snapshot: "no", Image: "/iso/x.iso", ImageFormat: "raw", Reason: "readonly (cdrom)"},
		{Target: "vdb", Snapshot: "no", Image: "/img/sh.qcow2", ImageFormat: "qcow2", Reason: "shareable"},
	}
	for i, w := range wantDisks {
		if p.Disks[i] != w {
			t.Errorf("disk %d = %+v, want %+v", i, p.Disks[i], w)
		}
	}
	want := "virsh snapshot-create-as --domain vm --name s3 --disk-only --atomic --diskspec vda,snapshot=external,file=/img/vm_s3.vda.qcow2 --diskspec sda,snapshot=no --diskspec vdb,snapshot=no"
	if p.Virsh[0] != want {
		t.Errorf("virsh\n%s\nwant\n%s", p.Virsh[0], want)
	}
	if w := joined(p.Warnings); !strings.Contains(w, "vdb is left out (shareable)") || !strings.Contains(w, "crash-consistent") {
		t.Errorf("warnings:\n%s", w)
	}
}

func TestPlanSnapshotCreateExternalFileRules(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  []string
	}{
		{map[string]string{"vdz": "/img/z.qcow2"}, []string{"no disk vdz"}},
		{map[string]string{"vdb": "/img/z.qcow2"}, []string{"vdb", "shareable", "drop --file vdb"}},
		{map[string]string{"vda": "img/rel.qcow2"}, []string{"not absolute"}},
		{map[string]string{"vda": "/img/base.qcow2"}, []string{"already used by", "chain of vm vda"}},
		{map[string]string{"vda": "/img/shared.qcow2"}, []string{"already used by", "chain of other vda"}},
		{map[string]string{"vda": "/other/exists.qcow2"}, []string{"folder /other/exists.qcow2"}},
		{map[string]string{"vda": "/nowhere/x.qcow2"}, []string{"folder /nowhere does not exist", "mkdir -p /nowhere"}},
	}
	for _, c := range cases {
		_, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true, Files: c.files}, hostFacts)
		if c.files["vda"] == "/other/exists.qcow2" {
			// /other exists as a folder but the stat map says the file does
			// not: accepted.
			if err != nil {
				t.Errorf("%v: %v", c.files, err)
			}
			continue
		}
		wantRefusal(t, err, c.want...)
	}
	f := hostFacts
	f.Stat = statMap("/img", "/img/taken.qcow2")
	_, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true, Files: map[string]string{"vda": "/img/taken.qcow2"}}, f)
	wantRefusal(t, err, "/img/taken.qcow2 already exists", "never overwrites")
}

func TestPlanSnapshotCreateCheckpoint(t *testing.T) {
	p, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.DiskOnly || p.Memory != MemoryExternal || p.MemoryFile != "/img/vm_s3.mem" {
		t.Errorf("checkpoint plan: diskonly %v memory %s file %s", p.DiskOnly, p.Memory, p.MemoryFile)
	}
	if !strings.Contains(p.Virsh[0], "--memspec file=/img/vm_s3.mem,snapshot=external") || strings.Contains(p.Virsh[0], "--disk-only") {
		t.Errorf("virsh %s", p.Virsh[0])
	}
	// The memory file may not collide with an overlay.
	_, err = PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, MemoryFile: "/img/m", Files: map[string]string{"vda": "/img/m"}}, hostFacts)
	wantRefusal(t, err, "both be written")
	_, err = PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, MemoryFile: "/img/s2.mem"}, hostFacts)
	wantRefusal(t, err, "memory file /img/s2.mem is already used by memory file of snapshot s2 of vm")
}

func TestPlanSnapshotCreateExternalShutoffAndQuiesce(t *testing.T) {
	doms := snapFixture()
	doms[0].State = StateShutoff
	p, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true}, hostFacts)
	if err != nil || !p.DiskOnly {
		t.Fatalf("shut-off external: %v, diskonly %v", err, p != nil && p.DiskOnly)
	}
	_, err = PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, MemoryFile: "/img/m"}, hostFacts)
	wantRefusal(t, err, "shut off", "no memory")

	running := snapFixture()
	_, err = PlanSnapshotCreate(running, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true, Quiesce: true}, hostFacts)
	wantRefusal(t, err, "no guest agent channel", "drop --quiesce")
	f := hostFacts
	f.Agent = AgentDisconnected
	_, err = PlanSnapshotCreate(running, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true, Quiesce: true}, f)
	wantRefusal(t, err, "not connected")
	_, err = PlanSnapshotCreate(running, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, Quiesce: true}, f)
	wantRefusal(t, err, "only disk-only")
	f.Agent = AgentConnected
	p, err = PlanSnapshotCreate(running, SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true, Quiesce: true}, f)
	if err != nil || !strings.Contains(p.Virsh[0], "--quiesce") || len(p.Warnings) != 1 {
		t.Fatalf("quiesced: %v %+v", err, p)
	}
}

func TestPlanSnapshotRefusesWhileJobRuns(t *testing.T) {
	f := hostFacts
	f.Jobs = []Job{{Domain: "vm", Disk: "vda", Kind: JobCommit, Phase: PhaseRunning}}
	_, err := PlanSnapshotCreate(snapFixture(), SnapshotCreateRequest{Domain: "vm", Name: "s3", External: true, DiskOnly: true}, f)
	wantRefusal(t, err, "vm vda has a commit job running", "blockjob vm vda --abort")
	_, err = PlanSnapshotDelete(snapFixture(), SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, f)
	wantRefusal(t, err, "commit job")
	_, err = PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1"}, nil, f)
	wantRefusal(t, err, "commit job")
	// A finished job is no obstacle.
	f.Jobs[0].Phase = PhaseCompleted
	if _, err := PlanSnapshotDelete(snapFixture(), SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, f); err != nil {
		t.Fatal(err)
	}
}

func TestPlanSnapshotRevertInternal(t *testing.T) {
	doms := internalFixture()
	points := []PointDisk{{Target: "vda", Path: "/img/iv.qcow2", Format: "qcow2"}}
	p, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a", Start: StartRunning, Force: true, DiscardCurrent: true}, points, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != RevertLibvirt || p.Start != StartRunning {
		t.Errorf("method %s start %s", p.Method, p.Start)
	}
	if want := "virsh snapshot-revert --domain iv --snapshotname a --running --force"; p.Virsh[0] != want {
		t.Errorf("virsh %q", p.Virsh[0])
	}
	if !strings.Contains(joined(p.Kept), "snapshots b stay in the tree") {
		t.Errorf("kept %q", p.Kept)
	}
	// A running domain: the warning says its state is discarded.
	doms[0].State = StateRunning
	p, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "b", DiscardCurrent: true}, points, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Start != StartRunning || !strings.Contains(joined(p.Warnings), "its memory state and the disk writes since b are lost") {
		t.Errorf("start %s warnings %q", p.Start, p.Warnings)
	}
	// The chain moved on: the snapshot is no longer in the active layer.
	doms[0].Disks[0].Layers = append([]Layer{{Path: "/img/top.qcow2", Format: "qcow2"}}, doms[0].Disks[0].Layers...)
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a"}, points, hostFacts)
	wantRefusal(t, err, "lives inside /img/iv.qcow2", "now writes /img/top.qcow2")
	// Unknown snapshot.
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "zz"}, points, hostFacts)
	wantRefusal(t, err, `no snapshot named "zz"`)
}

func TestPlanSnapshotRevertTransientNeedsStart(t *testing.T) {
	doms := internalFixture()
	doms[0].Persistent = false
	_, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a"}, nil, hostFacts)
	wantRefusal(t, err, "transient", "--running or --paused")
	if _, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a", Start: StartPaused}, nil, hostFacts); err != nil {
		t.Fatal(err)
	}
}

func TestPlanSnapshotRevertExternalByVirtchain(t *testing.T) {
	doms := snapFixture()
	f := hostFacts
	f.Stat = statMap("/img", "/img/ov1.qcow2", "/img/base.qcow2", "/img/s2.mem", "/img/vm_s1-revert1.vda.qcow2")
	points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}, {Target: "sda", Path: "/iso/x.iso", Format: "raw"}}
	p, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != RevertVirtchain || !p.StopFirst || p.Start != StartDefault {
		t.Errorf("method %s stop %v start %s", p.Method, p.StopFirst, p.Start)
	}
	// s2 names ov2 and reads ov1: both stay in the tree as a branch.
	if w := joined(p.Warnings); strings.Contains(w, "no snapshot will name") {
		t.Errorf("warned about a branch s2 keeps: %q", p.Warnings)
	}
	// revert1 exists on disk, so the next free name is taken.
	want := RevertOverlay{Target: "vda", Point: "/img/base.qcow2", PointFormat: "qcow2", Overlay: "/img/vm_s1-revert2.vda.qcow2"}
	if len(p.Overlays) != 1 || p.Overlays[0] != want {
		t.Errorf("overlays %+v, want %+v", p.Overlays, want)
	}
	if joined(p.LeavingChain) != "/img/ov2.qcow2\n/img/ov1.qcow2" {
		t.Errorf("leaving %q", p.LeavingChain)
	}
	k := joined(p.Kept)
	for _, w := range []string{"/img/ov2.qcow2 (vda) stays on disk", "snapshots s2 stay in the tree", "nothing is deleted"} {
		if !strings.Contains(k, w) {
			t.Errorf("kept lacks %q:\n%s", w, k)
		}
	}
	v := joined(p.Virsh)
	for _, w := range []string{"virsh destroy vm", "qemu-img create -f qcow2 -b /img/base.qcow2 -F qcow2 /img/vm_s1-revert2.vda.qcow2", "virsh define vm.xml", "--redefine --current"} {
		if !strings.Contains(v, w) {
			t.Errorf("virsh lacks %q:\n%s", w, v)
		}
	}
	if !strings.Contains(joined(p.Warnings), "memory state is lost") {
		t.Errorf("warnings %q", p.Warnings)
	}

	// A checkpoint comes back running from its memory file.
	points = []PointDisk{{Target: "vda", Path: "/img/ov1.qcow2", Format: "qcow2"}}
	p, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2", DiscardCurrent: true}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryFile != "/img/s2.mem" || p.Start != StartRunning || !strings.Contains(joined(p.Virsh), "virsh restore /img/s2.mem --xml mem.xml --running") {
		t.Errorf("checkpoint revert: %+v", p)
	}
	if joined(p.LeavingChain) != "/img/ov2.qcow2" {
		t.Errorf("leaving %q", p.LeavingChain)
	}
	// ov2 holds the writes since s2, and after the revert no snapshot names
	// it: the plan says so, and how to keep it as a branch.
	if w := joined(p.Warnings); !strings.Contains(w, "no snapshot will name /img/ov2.qcow2 (vda)") || !strings.Contains(w, "create a snapshot of vm first") {
		t.Errorf("unnamed newer branch not warned: %q", p.Warnings)
	}

	// Where libvirt can revert external snapshots, it does.
	f.ExternalRevert = true
	p, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1"}, points, f)
	if err != nil || p.Method != RevertLibvirt {
		t.Fatalf("with <externalSnapshot/>: %v %+v", err, p)
	}
}

func TestPlanSnapshotRevertExternalRefusals(t *testing.T) {
	doms := snapFixture()
	points := []PointDisk{{Target: "vda", Path: "/img/ov1.qcow2", Format: "qcow2"}}
	f := hostFacts
	f.Stat = statMap("/img", "/img/ov1.qcow2")
	_, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2"}, points, f)
	wantRefusal(t, err, "memory file /img/s2.mem of checkpoint s2 is missing", "nothing was changed")
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
	wantRefusal(t, err, "names no image for vda")
	f.Stat = statMap("/img", "/img/s2.mem")
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2"}, points, f)
	wantRefusal(t, err, "image /img/ov1.qcow2", "is missing")
	doms[0].Persistent = false
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2"}, points, hostFacts)
	wantRefusal(t, err, "transient", "virsh define")
}

func TestPlanSnapshotDeleteExternalMerges(t *testing.T) {
	doms := snapFixture()
	p, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	want := SnapshotMerge{Target: "vda", Overlay: "/img/ov1.qcow2", Into: "/img/base.qcow2"}
	if len(p.Merges) != 1 || p.Merges[0] != want {
		t.Errorf("merges %+v", p.Merges)
	}
	if p.BytesToCopy != 1<<20 || joined(p.LeavingChain) != "/img/ov1.qcow2" {
		t.Errorf("bytes %d leaving %q", p.BytesToCopy, p.LeavingChain)
	}
	if s := joined(p.Steps); !strings.Contains(s, "children s2 move up to the root") || !strings.Contains(s, "libvirt deletes /img/ov1.qcow2") {
		t.Errorf("steps:\n%s", s)
	}
	if p.Virsh[0] != "virsh snapshot-delete --domain vm --snapshotname s1" {
		t.Errorf("virsh %q", p.Virsh[0])
	}
	// The current snapshot's overlay is the running domain's active layer.
	p, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Merges[0].Active || !strings.Contains(joined(p.Kept), "memory file /img/s2.mem stays") {
		t.Errorf("s2 delete %+v", p)
	}
}

func TestPlanSnapshotDeleteRefusals(t *testing.T) {
	// The overlay left the chain (after a commit or a revert).
	doms := snapFixture()
	doms[0].Disks[0].Layers = doms[0].Disks[0].Layers[1:]
	_, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
	wantRefusal(t, err, "not in vda's chain", "--metadata-only")
	// A descendant on another branch.
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	wantRefusal(t, err, "snapshot s2 below s1 is on another branch")

	// Two children.
	doms = snapFixture()
	doms[0].Snapshots = append(doms[0].Snapshots, Snapshot{Name: "s3", Parent: "s1", Kind: SnapshotExternal,
		Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/img/ov3.qcow2"}}})
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	wantRefusal(t, err, "children on several branches (s2, s3)")

	// An internal parent.
	doms = snapFixture()
	doms[0].Snapshots[0].Kind = SnapshotInternal
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
	wantRefusal(t, err, "parent s1 is internal", "--metadata-only")

	// The image below is another domain's too.
	doms = snapFixture()
	doms[1].Disks[0].Layers = append(doms[1].Disks[0].Layers, Layer{Path: "/img/base.qcow2"})
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	wantRefusal(t, err, "merges /img/ov1.qcow2 into /img/base.qcow2, which chain of other vda also uses")

	// The overlay itself is another domain's backing file.
	doms = snapFixture()
	doms[1].Disks[0].Layers[1].Path = "/img/ov1.qcow2"
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1"}, nil, hostFacts)
	wantRefusal(t, err, "removes /img/ov1.qcow2, which chain of other vda also uses")

	// Metadata-only is always possible, and keeps every file.
	p, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s1", MetadataOnly: true}, nil, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Virsh[0] != "virsh snapshot-delete --domain vm --snapshotname s1 --metadata" || !strings.Contains(joined(p.Kept), "/img/ov1.qcow2 (vda) stays on disk, still in vda's chain") {
		t.Errorf("metadata-only %+v", p)
	}
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "nope"}, nil, hostFacts)
	wantRefusal(t, err, `no snapshot named "nope"`)
}

func TestPlanSnapshotDeleteInternal(t *testing.T) {
	doms := internalFixture()
	p, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "iv", Name: "a"}, []PointDisk{{Target: "vda", Path: "/img/iv.qcow2"}}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if s := joined(p.Steps); !strings.Contains(s, "delete internal snapshot a from /img/iv.qcow2") || !strings.Contains(s, "children b move up to the root") {
		t.Errorf("steps:\n%s", s)
	}
	p, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "iv", Name: "a", MetadataOnly: true}, nil, hostFacts)
	if err != nil || !strings.Contains(joined(p.Warnings), "only qemu-img can") {
		t.Fatalf("metadata-only internal: %v %+v", err, p)
	}
	// The image holding it is shared with another domain.
	doms = append(doms, Domain{Name: "twin", Disks: []Disk{{Target: "vda", Layers: []Layer{{Path: "/img/top"}, {Path: "/img/iv.qcow2"}}}}})
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "iv", Name: "a"}, nil, hostFacts)
	wantRefusal(t, err, "writes into /img/iv.qcow2, which chain of twin vda also uses")
}

func TestPlanSaveRestoreManaged(t *testing.T) {
	doms := snapFixture()
	p, err := PlanSave(doms, SaveRequest{Domain: "vm", File: "/img/vm.save"}, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Virsh[0] != "virsh save vm /img/vm.save" || !strings.Contains(joined(p.Steps), "stop vm") {
		t.Errorf("save %+v", p)
	}
	if got := strings.Join(fileChanges(p.Files), "; "); got != "created by libvirt /img/vm.save" {
		t.Errorf("save files %q", got)
	}
	_, err = PlanSave(doms, SaveRequest{Domain: "vm", File: "/img/base.qcow2"}, hostFacts)
	wantRefusal(t, err, "already used by")
	_, err = PlanSave(doms, SaveRequest{Domain: "other", File: "/img/o.save"}, hostFacts)
	wantRefusal(t, err, "other is shut off", "start it first")

	_, err = PlanRestore(doms, RestoreRequest{File: "/img/vm.save"}, "vm", hostFacts)
	wantRefusal(t, err, "/img/vm.save does not exist")
	_, err = PlanRestore(doms, RestoreRequest{File: "/img/s2.mem"}, "vm", hostFacts)
	wantRefusal(t, err, "vm is running", "stop it first")
	doms[0].State = StateShutoff
	p, err = PlanRestore(doms, RestoreRequest{File: "/img/s2.mem", Start: StartPaused}, "vm", hostFacts)
	if err != nil || p.Virsh[0] != "virsh restore /img/s2.mem --paused" {
		t.Fatalf("restore: %v %+v", err, p)
	}

	_, err = PlanManagedSave(doms, "vm", hostFacts)
	wantRefusal(t, err, "no running state")
	doms[0].State = StateRunning
	doms[0].Persistent = false
	_, err = PlanManagedSave(doms, "vm", hostFacts)
	wantRefusal(t, err, "transient", "virtchain save")
	doms[0].Persistent = true
	if p, err = PlanManagedSave(doms, "vm", hostFacts); err != nil || p.Virsh[0] != "virsh managedsave vm" ||
		!strings.Contains(p.Summary, "next start resumes it") {
		t.Fatalf("managedsave: %v %+v", err, p)
	}
	// A domain saved while paused comes back paused.
	doms[0].State = StatePaused
	if p, err = PlanManagedSave(doms, "vm", hostFacts); err != nil || !strings.Contains(p.Summary, "back paused") ||
		p.Steps[1] != "stop vm; the next start brings it back paused from the image, which libvirt then removes" {
		t.Fatalf("managedsave of a paused domain: %v %+v", err, p)
	}
	doms[0].State = StateRunning
	_, err = PlanManagedSaveRemove(doms, "vm")
	wantRefusal(t, err, "no managed-save image")
	_, err = PlanStart(doms, "vm")
	wantRefusal(t, err, "already running")
	doms[0].State = StatePaused
	_, err = PlanStart(doms, "vm")
	wantRefusal(t, err, "already paused; resume it with virsh resume vm")
	doms[0].State = StateRunning
	doms[0].State, doms[0].ManagedSave = StateShutoff, true
	if p, err = PlanStart(doms, "vm"); err != nil || !strings.Contains(p.Summary, "managed-save") {
		t.Fatalf("start: %v %+v", err, p)
	}
	if p, err = PlanManagedSaveRemove(doms, "vm"); err != nil || p.Virsh[0] != "virsh managedsave-remove vm" {
		t.Fatalf("managedsave-remove: %v %+v", err, p)
	}
}
