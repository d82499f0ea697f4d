package ui

import (
	"slices"
	"testing"
	"time"

	"virtchain/model"
	"virtchain/ui/components/orphans"
)

const labDir = "/var/lib/libvirt/images/lab/"

// orphanFake is lab-test2 (its base is centos.qcow2) with an orphan
// overlay on that base and a whole orphaned chain beside it.
func orphanFake() *fakeBackend {
	f := newFake(classicDomain())
	f.orph.images = []model.OrphanImage{
		{Path: labDir + "centos.qcow2", Format: "qcow2", Allocation: 18 * mib},
		{Path: labDir + "left.qcow2", Format: "qcow2", Backing: labDir + "centos.qcow2", Allocation: 5 * mib},
		{Path: labDir + "ob.qcow2", Format: "qcow2", Allocation: 7 * mib},
		{Path: labDir + "oo.qcow2", Format: "qcow2", Backing: labDir + "ob.qcow2", Allocation: 1 * mib},
		{Path: labDir + "making.qcow2", Format: "qcow2", Modified: time.Now()},
	}
	return f
}

func (h *harness) orphansView() *orphans.Model {
	h.t.Helper()
	v, ok := h.m.dialog.(*orphans.Model)
	if !ok {
		h.t.Fatalf("the orphans view is not open: %T\n%s", h.m.dialog, h.view())
	}
	return v
}

func TestOrphansViewTrees(t *testing.T) {
	f := orphanFake()
	h := newHarness(t, f, 100, 40)
	h.press("?")
	h.contains("o", "orphan images")
	h.press("?")
	cmd := h.send(keyMsg("o"))
	if f.orphanState().factsCalls != 0 {
		t.Fatal("Update asked the host")
	}
	h.run(cmd)
	if f.orphanState().factsCalls != 1 {
		t.Fatalf("one search, got %d", f.orphanState().factsCalls)
	}
	h.lines()
	h.contains("Orphan images", "13 MiB to free in 3 orphan image(s) on qemu:///system",
		labDir+"centos.qcow2 (in use: chain of lab-test2 vda)",
		"└─ "+labDir+"left.qcow2  qcow2  5M",
		labDir+"ob.qcow2  qcow2  7M (8M with those above) · a whole orphaned chain",
		"└─ "+labDir+"oo.qcow2  qcow2  1M",
		"not yet an orphan (changed within 1h0m0s): qemu:///system:"+labDir+"making.qcow2")
	// The cursor starts on the first orphan, never on the base in use.
	if n := h.orphansView().Selected(); n == nil || n.Path != labDir+"left.qcow2" {
		t.Fatalf("selected %+v", n)
	}
	h.press("j")
	if n := h.orphansView().Selected(); n == nil || n.Path != labDir+"ob.qcow2" {
		t.Fatalf("after j: %+v", n)
	}
	h.press("k", "k")
	if n := h.orphansView().Selected(); n == nil || n.Path != labDir+"left.qcow2" {
		t.Fatalf("k stops at the first orphan: %+v", n)
	}
	h.press("?")
	h.press("esc")
	if h.m.dialog != nil {
		t.Fatal("esc closes the view")
	}
	h.contains("lab-test2")
}

func TestOrphansDeleteThroughPlan(t *testing.T) {
	f := orphanFake()
	h := newHarness(t, f, 100, 30)
	h.press("o", "j") // ob.qcow2, with oo.qcow2 above it
	h.press("d")
	h.contains("Delete orphan "+labDir+"ob.qcow2", "delete 2 orphan image(s), freeing 8 MiB",
		"rm -- "+labDir+"oo.qcow2", "rm -- "+labDir+"ob.qcow2", "Carry out this plan?")
	if got := f.orphanState().deleted; len(got) != 0 {
		t.Fatalf("deleted before y: %v", got)
	}
	h.press("y")
	if got := f.orphanState().deleted; !slices.Equal(got, []string{labDir + "oo.qcow2", labDir + "ob.qcow2"}) {
		t.Fatalf("deleted %v, want the overlay then its base", got)
	}
	h.contains("Deleted 2 orphan image(s), freeing 8 MiB.")
}

func TestOrphansDeleteRefusedWhenUsedMeanwhile(t *testing.T) {
	f := orphanFake()
	h := newHarness(t, f, 100, 30)
	h.press("o")
	h.press("d") // left.qcow2
	h.contains("rm -- " + labDir + "left.qcow2")
	// Another domain starts using left.qcow2 before y.
	f.mu.Lock()
	f.domains = append(f.domains, model.Domain{Name: "newcomer", Disks: []model.Disk{{Target: "vdb", Layers: []model.Layer{{Path: labDir + "left.qcow2"}}}}})
	f.mu.Unlock()
	h.press("y")
	if got := f.orphanState().deleted; len(got) != 0 {
		t.Fatalf("deleted %v", got)
	}
	h.contains("not an orphan", "chain of newcomer vdb")
}

func TestOrphansAcrossHostsAndReadOnly(t *testing.T) {
	fa := orphanFake()
	fb := newFake(model.Domain{Name: "far", Disks: []model.Disk{{Target: "vda", Layers: []model.Layer{{Path: labDir + "ob.qcow2"}}}}})
	fb.uri = "qemu+ssh://b/system"
	h := twoHosts(t, 120, 30, fa, fb)
	h.press("o")
	// b's domain uses ob.qcow2: only left.qcow2 and oo.qcow2 are orphans.
	h.contains("on a, b", "a:"+labDir+"left.qcow2", labDir+"ob.qcow2 (in use: chain of b:far vda)", "└─ a:"+labDir+"oo.qcow2")
	if fb.orphanState().factsCalls != 1 {
		t.Fatal("host b was not asked")
	}
	h.press("esc")

	ro := orphanFake()
	ro.readOnly = true
	h = newHarness(t, ro, 100, 24)
	h.press("o", "d")
	h.contains("read-only")
	if len(ro.orphanState().deleted) != 0 {
		t.Fatal("deleted on a read-only connection")
	}
}
