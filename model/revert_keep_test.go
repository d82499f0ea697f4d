package model

import (
	"fmt"
	"strings"
	"testing"
)

func fileList(fs []FileChange) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s by %s", f.Change, f.Path, f.By))
	}
	return strings.Join(out, "\n")
}

func TestKeepSnapshotNameIsUnique(t *testing.T) {
	d := &snapFixture()[0]
	if n := KeepSnapshotName(d, "s1"); n != "before-revert-to-s1" {
		t.Errorf("name %q", n)
	}
	d.Snapshots = append(d.Snapshots, Snapshot{Name: "before-revert-to-s1"}, Snapshot{Name: "before-revert-to-s1-2"})
	if n := KeepSnapshotName(d, "s1"); n != "before-revert-to-s1-3" {
		t.Errorf("name %q", n)
	}
}

// With <externalSnapshot/> libvirt reverts and deletes the overlays of the
// snapshot that was current: by default that is the keep snapshot's.
func TestRevertKeepsCurrentStateWithLibvirtExternalRevert(t *testing.T) {
	f := hostFacts
	f.ExternalRevert = true
	points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}
	p, err := PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1"}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Keep == nil || p.Keep.Request.Name != "before-revert-to-s1" || p.Keep.Kind != SnapshotExternal || p.Keep.Memory != MemoryExternal {
		t.Fatalf("keep %+v", p.Keep)
	}
	want := "created /img/vm_before-revert-to-s1.vda.qcow2 by libvirt\n" +
		"created /img/vm_before-revert-to-s1.mem by libvirt\n" +
		"created /img/base.<epoch> by libvirt\n" +
		"deleted /img/vm_before-revert-to-s1.vda.qcow2 by libvirt"
	if got := fileList(p.Files); got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	if !strings.HasPrefix(p.Steps[0], "keep the current state first") || !strings.Contains(p.Virsh[0], "--name before-revert-to-s1") {
		t.Errorf("steps %q virsh %q", p.Steps, p.Virsh)
	}
	if w := joined(p.Warnings); strings.Contains(w, "lost") {
		t.Errorf("warns of a loss while keeping: %q", p.Warnings)
	}
	if !strings.Contains(joined(p.Kept), "snapshot before-revert-to-s1 holds the state from before the revert") {
		t.Errorf("kept %q", p.Kept)
	}
}

func TestRevertDiscardCurrentListsLibvirtDeletes(t *testing.T) {
	f := hostFacts
	f.ExternalRevert = true
	points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}
	doms := snapFixture()
	p, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Keep != nil {
		t.Errorf("keep %+v", p.Keep)
	}
	if got, want := fileList(p.Files), "created /img/base.<epoch> by libvirt\ndeleted /img/ov2.qcow2 by libvirt"; got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	if w := joined(p.Warnings); !strings.Contains(w, "the writes since snapshot s2 are lost: libvirt deletes /img/ov2.qcow2") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if s := joined(p.Steps); !strings.Contains(s, "vda: libvirt deletes /img/ov2.qcow2, the overlay of snapshot s2") {
		t.Errorf("steps:\n%s", s)
	}

	// A current snapshot libvirt reverted to while it had children: its
	// revert overlays go, not the overlay its children read.
	doms[0].Snapshots[1].RevertDisks = []SnapshotDisk{{Target: "vda", Kind: "external", File: "/img/ov2.1796158453"}}
	p, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileList(p.Files); !strings.Contains(got, "deleted /img/ov2.1796158453 by libvirt") || strings.Contains(got, "deleted /img/ov2.qcow2") {
		t.Errorf("files:\n%s", got)
	}

	// A current snapshot whose overlay is below the active layer: libvirt
	// would delete a file the chain still reads.
	doms = snapFixture()
	doms[0].CurrentSnapshot = "s1"
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s2", DiscardCurrent: true}, []PointDisk{{Target: "vda", Path: "/img/ov1.qcow2", Format: "qcow2"}}, f)
	wantRefusal(t, err, "libvirt's revert deletes /img/ov1.qcow2", "still reads through it", "leave out --discard-current")

	// No current snapshot: libvirt 11.3's revert crashes libvirtd; with
	// the keep snapshot there is one.
	doms = snapFixture()
	doms[0].CurrentSnapshot, doms[0].Snapshots[1].Current = "", false
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f)
	wantRefusal(t, err, "vm has no current snapshot", "leave out --discard-current")
	if _, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1"}, points, f); err != nil {
		t.Errorf("with the keep snapshot: %v", err)
	}
	f.ExternalRevert = false
	if _, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "vm", Name: "s1", DiscardCurrent: true}, points, f); err != nil {
		t.Errorf("virtchain's own revert needs no current snapshot: %v", err)
	}
}

func TestRevertKeepsCurrentStateInternal(t *testing.T) {
	doms := internalFixture()
	doms[0].State = StateRunning
	points := []PointDisk{{Target: "vda", Path: "/img/iv.qcow2", Format: "qcow2"}}
	p, err := PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a"}, points, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Keep == nil || p.Keep.Kind != SnapshotInternal || p.Keep.Memory != MemoryInternal {
		t.Fatalf("keep %+v", p.Keep)
	}
	if got := fileList(p.Files); got != "rewritten /img/iv.qcow2 by libvirt" {
		t.Errorf("files %s", got)
	}
	if strings.Contains(joined(p.Warnings), "lost") {
		t.Errorf("warnings %q", p.Warnings)
	}
	// A keep snapshot that cannot be taken refuses the revert, naming the way out.
	doms[0].Disks[0].Layers[0].Format, doms[0].Disks[0].Format = "raw", "raw"
	_, err = PlanSnapshotRevert(doms, SnapshotRevertRequest{Domain: "iv", Name: "a"}, points, hostFacts)
	wantRefusal(t, err, "keeps the current state as snapshot before-revert-to-a", "--discard-current")
}

// Without <externalSnapshot/> virtchain reverts; nothing is deleted.
func TestRevertKeepsCurrentStateOwnRevert(t *testing.T) {
	points := []PointDisk{{Target: "vda", Path: "/img/base.qcow2", Format: "qcow2"}}
	p, err := PlanSnapshotRevert(snapFixture(), SnapshotRevertRequest{Domain: "vm", Name: "s1"}, points, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	want := "created /img/vm_before-revert-to-s1.vda.qcow2 by libvirt\n" +
		"created /img/vm_before-revert-to-s1.mem by libvirt\n" +
		"created /img/vm_s1-revert1.vda.qcow2 by virtchain"
	if got := fileList(p.Files); got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	if p.Method != RevertVirtchain || strings.Contains(joined(p.Warnings), "no snapshot will name") {
		t.Errorf("method %s warnings %q", p.Method, p.Warnings)
	}
}

func TestFileChangeMatchesEpochName(t *testing.T) {
	fc := FileChange{Path: libvirtRevertOverlay("/img/base.qcow2")}
	for path, want := range map[string]bool{"/img/base.1796158348": true, "/img/base.": false, "/img/base.x1": false, "/img/base.qcow2": false, "/img/other.17": false} {
		if fc.MatchesFile(path) != want {
			t.Errorf("%s: %v", path, !want)
		}
	}
	if libvirtRevertOverlay("/img/noext") != "/img/noext.<epoch>" {
		t.Error(libvirtRevertOverlay("/img/noext"))
	}
}

// Where libvirt has its own external revert, deleting a checkpoint
// deletes its memory file too; before, the file stays.
func TestDeleteCheckpointMemoryFileByCapability(t *testing.T) {
	doms := snapFixture()
	p, err := PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, hostFacts)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileList(p.Files); got != "rewritten /img/ov1.qcow2 by libvirt\ndeleted /img/ov2.qcow2 by libvirt" || !strings.Contains(joined(p.Kept), "memory file /img/s2.mem stays") {
		t.Errorf("without <externalSnapshot/>: files %s kept %q", got, p.Kept)
	}
	f := hostFacts
	f.ExternalRevert = true
	p, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileList(p.Files); !strings.Contains(got, "deleted /img/s2.mem by libvirt") || strings.Contains(joined(p.Kept), "s2.mem") {
		t.Errorf("with <externalSnapshot/>: files %s kept %q", got, p.Kept)
	}
	// A memory file another snapshot names is not libvirt's to delete.
	doms[1].Snapshots = []Snapshot{{Name: "o1", Kind: SnapshotExternal, Memory: MemoryExternal, MemoryFile: "/img/s2.mem"}}
	_, err = PlanSnapshotDelete(doms, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, f)
	wantRefusal(t, err, "libvirt delete memory file /img/s2.mem", "snapshot o1 of other", "--metadata-only")
}
