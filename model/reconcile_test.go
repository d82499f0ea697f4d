package model

import (
	"reflect"
	"strings"
	"testing"
)

// After the design card's "commit 2-3 into 1", s2 and s3 name files that
// left the chain.
func committed() Domain {
	d := seed(StateRunning)
	l := d.Disks[0].Layers
	d.Disks[0].Layers = append([]Layer{l[0]}, l[3:]...)
	return d
}

func TestReconcile(t *testing.T) {
	d := committed()
	d.Snapshots = append(d.Snapshots, Snapshot{Name: "int", Kind: SnapshotInternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "internal"}}})
	d.Snapshots[0].Stale = []string{"old"}
	if got := Reconcile(&d); !reflect.DeepEqual(got, []string{"s2", "s3"}) {
		t.Fatalf("stale %v", got)
	}
	if d.Snapshots[0].Stale != nil || !reflect.DeepEqual(d.Snapshots[1].Stale, []string{"vda"}) || d.Snapshots[4].Stale != nil {
		t.Fatalf("%+v", d.Snapshots)
	}
	// A snapshot of a disk the domain no longer has is stale too.
	d.Snapshots[0].Disks = append(d.Snapshots[0].Disks, SnapshotDisk{Target: "vdb", Kind: "external", File: "/x.qcow2"})
	doms := []Domain{d}
	ReconcileAll(doms)
	if !reflect.DeepEqual(doms[0].Snapshots[0].Stale, []string{"vdb"}) {
		t.Fatalf("%+v", doms[0].Snapshots[0])
	}
}

func TestPlanCleanup(t *testing.T) {
	d := committed()
	d.Snapshots[2].MemoryFile = "/var/lib/libvirt/qemu/s3.mem"
	other := Domain{Name: "other", Disks: []Disk{{Target: "vda", Layers: []Layer{{Path: img + "test2_nmap.qcow2"}}}}}
	doms := []Domain{d, other}

	cp, err := PlanCleanup(doms, "vm", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cp.Snapshots, []string{"s3", "s2"}) || len(cp.Files) != 0 {
		t.Fatalf("%+v", cp)
	}
	if want := "virsh snapshot-delete --domain vm s3 --metadata"; cp.Virsh[0] != want {
		t.Fatalf("%q", cp.Virsh)
	}
	// The caller's domain is not touched.
	if doms[0].Snapshots[1].Stale != nil {
		t.Fatal("PlanCleanup changed its input")
	}

	cp, err = PlanCleanup(doms, "vm", []string{"/srv/left.qcow2"}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/srv/left.qcow2", img + "test2_net-tools.qcow2", "/var/lib/libvirt/qemu/s3.mem"}
	if !reflect.DeepEqual(cp.Files, want) {
		t.Fatalf("files %q want %q", cp.Files, want)
	}
	// test2_nmap is another domain's layer: kept, with who uses it.
	if len(cp.Kept) != 1 || !strings.Contains(cp.Kept[0], "test2_nmap.qcow2 (used by chain of other vda)") {
		t.Fatalf("kept %q", cp.Kept)
	}

	_, err = PlanCleanup(doms, "vm", []string{img + "test2_test.qcow2"}, true)
	refusal(t, err, "still used by chain of vm vda")
	_, err = PlanCleanup(doms, "vm", []string{"rel.qcow2"}, true)
	refusal(t, err, "not an absolute path")
	_, err = PlanCleanup(doms, "nope", nil, true)
	refusal(t, err, "no domain")

	cp, err = PlanCleanup([]Domain{seed(StateRunning)}, "vm", nil, true)
	if err != nil || len(cp.Snapshots)+len(cp.Files) != 0 || !strings.Contains(cp.Summary, "nothing to clean") {
		t.Fatalf("%+v %v", cp, err)
	}
}
