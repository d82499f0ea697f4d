package ui

import (
	"strings"
	"testing"

	"virtchain/model"
	"virtchain/ui/pages/domain"
)

// rowOf is the screen line that holds s, or ""; in the list pane (list)
// or the detail pane.
func rowOf(h *harness, s string) string {
	for _, l := range h.lines() {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// listRow is the list pane's part of the line that holds name.
func listRow(h *harness, name string) string {
	for _, l := range h.lines() {
		left, _, _ := strings.Cut(l, "│")
		if strings.Contains(left, name+" ") {
			return strings.TrimSpace(left)
		}
	}
	return ""
}

func TestHealthColumnFromDiscovery(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 100, 24)
	h.contains(" H")
	// lab-tree's chain is broken (a missing file): bad; lab-deep is fine.
	if r := listRow(h, "lab-tree"); !strings.HasSuffix(r, "✗") {
		t.Errorf("lab-tree row %q, want ✗", r)
	}
	if r := listRow(h, "lab-deep"); !strings.HasSuffix(r, "✓") {
		t.Errorf("lab-deep row %q, want ✓", r)
	}
}

func TestHealthMarksPerLayer(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 100, 24)
	h.keys("j", "j") // lab-test2: a fine chain
	if r := rowOf(h, "centos.qcow2"); !strings.Contains(r, "✓ base") {
		t.Errorf("base row %q, want the ✓ mark", r)
	}
	h.keys("G") // lab-tree: its missing layer is marked bad
	if r := rowOf(h, "gone.qcow2"); !strings.Contains(r, "⚠") {
		t.Errorf("missing layer row %q", r)
	}
}

func TestHealthTabChecksAndShowsFixes(t *testing.T) {
	ds := labDomains()
	f := newFake(ds...)
	h := newHarness(t, f, 120, 30)
	h.keys("j", "j")
	name := h.m.list.SelectedName()
	d := h.m.list.Selected()
	base := d.Disks[0].Layers[len(d.Disks[0].Layers)-1].Path
	f.checkFacts = map[string]model.CheckFacts{name: {Layers: map[string]model.LayerFacts{
		base: {ImageCheck: &model.ImageCheck{Corruptions: 3}},
	}}}
	cmd := h.keys("4")
	if h.m.detail.Active() != domain.TabHealth || cmd == nil {
		t.Fatalf("4: tab %v, cmd %v", h.m.detail.Active(), cmd)
	}
	if len(f.checkCalls) != 0 {
		t.Fatal("Update ran the check itself")
	}
	h.contains("checking " + name)
	msg := cmd()
	if len(f.checkCalls) != 1 || f.checkCalls[0] != name {
		t.Fatalf("check calls %v", f.checkCalls)
	}
	h.send(msg)
	h.contains("health bad: 1 finding", "qemu-img check found corruptions: 3", "fix: copy it aside", "qemu-img check -r all")
	// The full check's verdict reaches the list and the chain view.
	if r := listRow(h, name); !strings.HasSuffix(r, "✗") {
		t.Errorf("list row %q after the check, want ✗", r)
	}
	h.keys("1")
	if r := rowOf(h, "centos.qcow2"); !strings.Contains(r, "✗ base") {
		t.Errorf("base row %q after the check, want ✗", r)
	}
}

func TestHealthFixesInTUIWords(t *testing.T) {
	ds := labDomains()
	for i := range ds {
		if ds[i].Name == "lab-test2" {
			ds[i].Snapshots[0].Stale = []string{"vda"}
		}
	}
	h := newHarness(t, newFake(ds...), 120, 30)
	h.keys("j", "j")
	if r := listRow(h, "lab-test2"); !strings.HasSuffix(r, "!") {
		t.Errorf("lab-test2 row %q, want ! for its stale snapshot", r)
	}
	cmd := h.keys("4")
	h.send(cmd())
	h.contains("is stale", "fix: remove its metadata: the "+h.m.common.KeyMap.SnapDeleteMetadata.Help().Key+" key on the snapshot tab")
}
