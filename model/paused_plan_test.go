package model

import (
	"reflect"
	"strings"
	"testing"
)

// Over a remote connection an offline plan says that the domain is started
// paused, which block job runs in it, and that it is destroyed again; the
// chain afterwards is the qemu-img plan's.
func TestByPausedDomain(t *testing.T) {
	doms := []Domain{seed(StateShutoff)}
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s3", Base: "s1", Bandwidth: 5 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := bp.NewChain
	bp.ByPausedDomain()
	if !bp.StartPaused || !bp.Offline || !bp.Job().StartPaused || !reflect.DeepEqual(bp.NewChain, chain) {
		t.Fatalf("%+v", bp)
	}
	want := []string{
		"virsh start --paused vm",
		"virsh blockcommit --domain vm --path vda --base " + img + "test2_test.qcow2 --top " + img + "test2_net-tools.qcow2 --bandwidth 5 --wait --verbose",
		"virsh destroy vm",
	}
	if !reflect.DeepEqual(bp.Virsh, want) {
		t.Fatalf("commands\n%q\nwant\n%q", bp.Virsh, want)
	}
	if !strings.HasPrefix(bp.Steps[0], "start vm paused: QEMU starts with every device") || !strings.HasPrefix(bp.Steps[len(bp.Steps)-1], "destroy vm") {
		t.Fatalf("steps %q", bp.Steps)
	}
	if w := strings.Join(bp.Warnings, "\n"); !strings.Contains(w, "autodestroy") || !strings.Contains(w, "host device another domain holds") {
		t.Fatalf("warnings %q", bp.Warnings)
	}
	for _, f := range bp.Files {
		if f.By != "libvirt" {
			t.Fatalf("file %+v", f)
		}
	}
	steps := len(bp.Steps)
	bp.ByPausedDomain() // once only
	if len(bp.Steps) != steps {
		t.Fatal("applied twice")
	}

	// The active layer's commit is an active commit with a pivot there.
	bp, _ = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Shallow: true}, nil)
	bp.ByPausedDomain()
	if !strings.Contains(bp.Steps[1], "an active commit") || !strings.Contains(bp.Virsh[1], "--shallow --active --pivot") {
		t.Fatalf("%q %q", bp.Steps, bp.Virsh)
	}
	bp, _ = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda"}, nil)
	bp.ByPausedDomain()
	if bp.Virsh[1] != "virsh blockpull --domain vm --path vda --wait --verbose" {
		t.Fatalf("%q", bp.Virsh)
	}

	bp, _ = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "test2.qcow2", Relative: true}, nil)
	bp.ByPausedDomain()
	if !strings.Contains(strings.Join(bp.Warnings, "\n"), "--keep-relative") || !strings.Contains(bp.Virsh[1], "--keep-relative") {
		t.Fatalf("%q %q", bp.Warnings, bp.Virsh)
	}

	// A running domain's plan is left alone.
	bp, _ = PlanPull([]Domain{seed(StateRunning)}, PullRequest{Domain: "vm", Target: "vda"}, nil)
	bp.ByPausedDomain()
	if bp.StartPaused {
		t.Fatal("running domain's plan changed")
	}
}
