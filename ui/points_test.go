package ui

import (
	"testing"

	"virtchain/model"
)

// The TUI's revert goes through the model's rule: a snapshot whose point
// a merge wrote over is refused with the cause and the metadata-only fix,
// and nothing runs.
func TestRevertOfDestroyedPointIsRefused(t *testing.T) {
	d := runningTree()
	f := newFake(d)
	h := newHarness(t, f, 160, 30)
	h.press("2")
	sel := h.m.detail.Snaps().Selected()
	mark := model.PointMark{Snapshot: sel.Name, Created: sel.Created.Unix(), Target: "vda", Point: "/img/base.qcow2",
		Merge: model.JobActiveCommit, Top: "/img/ov.qcow2", Base: "/img/base.qcow2"}
	for i := range f.domains {
		f.domains[i].PointMarks = []model.PointMark{mark}
		model.Reconcile(&f.domains[i]) // as discovery does
	}
	h.keys("ctrl+r") // rediscover
	h.lines()
	h.contains("stale: the commit of ov.qcow2 into base.qcow2 on vda wrote over its point")
	h.press("r", "enter")
	h.contains("snapshot "+sel.Name+" cannot be reverted: the commit of ov.qcow2 into base.qcow2 on vda wrote over its point",
		"hint: remove its metadata with the D key on the snapshot tab")
	if len(f.ranOps()) != 0 {
		t.Fatalf("a refused revert ran: %v", f.ranOps())
	}
}
