package ui

import (
	"context"
	"strings"
	"testing"

	"virtchain/model"
)

// spaceFake is a job backend that reports one filesystem for every path,
// as libvirtx does for a local connection.
type spaceFake struct {
	*jobFake
	fs model.Filesystem
}

func (f *spaceFake) SpaceFacts(string) model.SpaceFacts {
	return model.SpaceFacts{FS: func(string) (model.Filesystem, bool) { return f.fs, true }}
}

func (f *spaceFake) PlanCommit(ctx context.Context, req model.CommitRequest) (*model.BlockPlan, error) {
	return planBlock(ctx, f.fakeBackend, f.ListJobs, f.SpaceFacts(""), func(ds []model.Domain, js []model.Job) (*model.BlockPlan, error) {
		return model.PlanCommit(ds, req, js)
	})
}

func TestCommitPlanShowsSpaceAndRefusesWhatCannotFit(t *testing.T) {
	sf := &spaceFake{jobFake: newJobFake(classicDomain()), fs: model.Filesystem{ID: "7:0", Mount: "/mnt/x", Device: "/dev/loop0", Free: 1 << 30}}
	h := newJobHarnessOn(t, sf, sf.jobFake, 120, 60)
	h.openChain("test2_net-tools.qcow2")
	h.press("t")
	h.openChain("test2.qcow2")
	h.press("b", "c")
	out := strings.Join(strings.Fields(h.view()), " ")
	if !strings.Contains(out, "Space") || !strings.Contains(out, "/mnt/x (device /dev/loop0): needs up to") || !strings.Contains(out, "1 GiB free: fits") {
		t.Errorf("plan dialog lacks its space section:\n%s", h.view())
	}
	h.press("n")

	sf.fs.Free = 1024
	h.press("c")
	out = strings.Join(strings.Fields(h.view()), " ")
	if !strings.Contains(out, "committing into test2.qcow2 needs up to") || !strings.Contains(out, "which has 1 KiB free") ||
		!strings.Contains(out, "missing") || !strings.Contains(out, "commit into another base") {
		t.Errorf("refusal for lack of space not shown:\n%s", h.view())
	}
	h.press("esc")
	if len(sf.started) != 0 {
		t.Fatal("a plan that does not fit started")
	}
}

func TestNoSpaceEventIsSaidInTheFooter(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 160, 24)
	text := model.IOErrorText("lab-test2", "", "/var/lib/libvirt/images/lab/test2_lsof.qcow2", model.Filesystem{}, true)
	h.send(eventMsg{ev: model.Event{Domain: "lab-test2", Kind: "io-error-enospc", Detail: text}})
	h.contains("no space left on the filesystem holding test2_lsof.qcow2", "virsh resume lab-test2")
}
