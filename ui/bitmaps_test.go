package ui

import (
	"strings"
	"testing"

	"virtchain/model"
)

// bitmapDomain is lab-test2 with bitmaps: nightly (checkpoint cp1) in
// test2_nmap, two in centos, and cp2 whose bitmap is in no layer.
func bitmapDomain() model.Domain {
	d := classicDomain()
	l := d.Disks[0].Layers
	l[2].Bitmaps = []model.Bitmap{{Name: "nightly", Granularity: 64 << 10, Enabled: true, Source: model.BitmapFromImage}}
	l[5].Bitmaps = []model.Bitmap{{Name: "a", Enabled: true, Source: model.BitmapFromImage}, {Name: "b", Source: model.BitmapFromImage}}
	d.Checkpoints = []model.Checkpoint{
		{Name: "cp1", Disks: []model.CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "nightly"}}},
		{Name: "cp2", Sized: true, Disks: []model.CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp2"}}},
	}
	model.ApplyCheckpoints(&d)
	return d
}

func TestChainViewShowsBitmapsAndCheckpoints(t *testing.T) {
	h := newJobHarness(t, newJobFake(bitmapDomain()), 140, 30)
	h.openChain("test2_nmap.qcow2")
	out := h.view()
	for _, want := range []string{"⚑nightly", "⚑2", "checkpoints cp1,cp2!",
		"⚑nightly (64K, checkpoint cp1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("chain view lacks %q:\n%s", want, out)
		}
	}
	// A layer without bitmaps has no mark.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "test2_lsof.qcow2") && strings.Contains(line, "⚑") {
			t.Errorf("test2_lsof marked: %q", line)
		}
	}
	// The disk row's info names the broken checkpoint and what to do.
	h.press("g")
	if out := strings.Join(strings.Fields(h.view()), " "); !strings.Contains(out, "checkpoints cp1,cp2! (!: bitmap in no layer, back up in full)") {
		t.Errorf("disk info:\n%s", h.view())
	}
}

// A pull leaves nightly behind: the dialog warns before y.
func TestPullPlanWarnsOfBitmapsBeforeY(t *testing.T) {
	jf := newJobFake(bitmapDomain())
	h := newJobHarness(t, jf, 120, 60)
	h.openChain("test2_test.qcow2")
	h.press("b", "p")
	out := strings.Join(strings.Fields(h.view()), " ")
	for _, want := range []string{"vda: bitmaps nightly (checkpoint cp1) of test2_nmap.qcow2 leave the chain with it (blockpull carries no bitmaps)",
		"checkpoints cp1 lose their bitmap", "Bitmaps and backups", "next backup: a full backup", "Carry out this plan?"} {
		if !strings.Contains(out, want) {
			t.Errorf("pull dialog lacks %q:\n%s", want, h.view())
		}
	}
	if strings.Index(out, "blockpull carries no bitmaps") > strings.Index(out, "Steps") {
		t.Errorf("the bitmap warning comes after the steps:\n%s", h.view())
	}
	if len(jf.started) != 0 {
		t.Fatal("started before y")
	}
}
