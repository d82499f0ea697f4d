package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// A merge that writes over a snapshot's point destroys that snapshot: a
// revert to it must be refused, saying which merge did it, and the mark
// must outlive the chain (keep-overlay), any revert, and a shut-off domain.
// Each test has a domain of its own (vc7s-*) in /var/tmp/vc7s-*.

// pointsWrite writes pattern over the guest's first 4 MiB through QEMU.
func pointsWrite(t *testing.T, name, pattern string) {
	t.Helper()
	labVirsh(t, "qemu-monitor-command", name, "--hmp",
		`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P `+pattern+` 0 4M"`)
}

// wantRevertRefused checks that reverting to snap is refused with the
// cause and the metadata-only fix, in the dry-run too, and changes nothing
// the guest sees through active.
func wantRevertRefused(t *testing.T, name, snap, active string, cause ...string) {
	t.Helper()
	ref := filepath.Join(filepath.Dir(active), "ref-"+snap+".qcow2")
	guestView(t, name, active, ref)
	want := append([]string{"snapshot " + snap + " cannot be reverted", "virtchain snapshot delete " + name + " " + snap + " --metadata-only"}, cause...)
	code, stdout, stderr := runMain(t, "-c", systemURI, "--dry-run", "snapshot", "revert", name, snap, "--running", "--force")
	if code != 1 {
		t.Fatalf("dry-run of the revert to %s: exit %d\n%s%s", snap, code, stdout, stderr)
	}
	if strings.Contains(stdout, "the image at snapshot "+snap) {
		t.Errorf("dry-run still plans a revert:\n%s", stdout)
	}
	wantOneLine(t, stderr, want...)
	code, stdout, stderr = runMain(t, "-c", systemURI, "snapshot", "revert", name, snap, "--running", "--force")
	if code != 1 {
		t.Fatalf("revert to %s: exit %d\n%s%s", snap, code, stdout, stderr)
	}
	wantOneLine(t, stderr, want...)
	sameGuest(t, name, active, ref)
	if stale, _ := branchMarks(t, name); !containsName(stale, snap) {
		t.Errorf("%s is not stale after the refused revert: stale %v", snap, stale)
	}
}

// planSays checks that a merge's printed plan says snap's point is
// written over.
func planSays(t *testing.T, plan, snap string) {
	t.Helper()
	if !strings.Contains(plan, "the point of snapshot "+snap+" is written over") {
		t.Errorf("the plan does not say that %s's point is written over:\n%s", snap, plan)
	}
}

func containsName(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pointsScenario is the start of the sequence on a running
// domain: the guest writes 0x11, s1 makes ov.qcow2, the guest writes 0x22.
// p names a file in the domain's folder.
func pointsScenario(t *testing.T, name string) (string, func(string) string) {
	t.Helper()
	name, dir := snapCLIDomainAs(t, name)
	p := func(f string) string { return filepath.Join(dir, f) }
	pointsWrite(t, name, "0x11")
	snapCLI(t, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+p("ov.qcow2"))
	pointsWrite(t, name, "0x22")
	return name, p
}

// The sequence: s1 on base.qcow2, guest writes, active commit with
// pivot; the revert to s1 used to succeed and give the guest the new data.
func TestIntegrationVc7sRevertAfterActiveCommit(t *testing.T) {
	name, p := pointsScenario(t, "vc7s-pivot")
	planSays(t, snapCLI(t, "commit", name, "vda", "--top", p("ov.qcow2"), "--base", p("base.qcow2"), "--active", "--pivot", "--wait"), "s1")
	wantRevertRefused(t, name, "s1", p("base.qcow2"),
		"the commit of ov.qcow2 into base.qcow2 on vda wrote over its point (base.qcow2)")
	if st := domState(t, name); st != "running" {
		t.Errorf("%s is %s after the refused revert", name, st)
	}
	// The fix the refusal offers works and takes the mark with it.
	snapCLI(t, "snapshot", "delete", name, "s1", "--metadata-only")
	if doc := labVirsh(t, "dumpxml", name); strings.Contains(doc, `snapshot="s1"`) {
		t.Errorf("the mark of deleted s1 stayed:\n%s", doc)
	}
}

// keep-overlay leaves the chain as it was, yet base.qcow2 now holds the
// overlay's data: s1's point is gone though its overlay is still active.
func TestIntegrationVc7sRevertAfterKeepOverlay(t *testing.T) {
	name, p := pointsScenario(t, "vc7s-keep")
	var dry struct {
		Plan struct {
			StaleSnapshots []string `json:"stale_snapshots"`
		} `json:"plan"`
	}
	cliJSON(t, &dry, "--dry-run", "commit", name, "vda", "--active", "--keep-overlay")
	if !containsName(dry.Plan.StaleSnapshots, "s1") {
		t.Errorf("keep-overlay plan's stale snapshots %v lack s1", dry.Plan.StaleSnapshots)
	}
	snapCLI(t, "commit", name, "vda", "--active", "--keep-overlay", "--wait")
	if c := jobCLIChain(t, name); strings.Join(c, " ") != "ov.qcow2 base.qcow2" {
		t.Fatalf("chain after keep-overlay: %v", c)
	}
	wantRevertRefused(t, name, "s1", p("ov.qcow2"), "the commit of ov.qcow2 into base.qcow2 on vda wrote over its point")
	if out := snapCLI(t, "snapshots", name); !strings.Contains(out, "stale: vda") || !strings.Contains(out, "wrote over the snapshot's point") {
		t.Errorf("snapshots does not show s1 as stale:\n%s", out)
	}
}

// A revert to another snapshot (libvirt's internal revert puts back the
// definition saved with i0) keeps the mark, in libvirt's own XML.
func TestIntegrationVc7sMarkSurvivesRevert(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7s-other")
	p := func(f string) string { return filepath.Join(dir, f) }
	pointsWrite(t, name, "0x11")
	snapCLI(t, "snapshot", "create", name, "i0")
	snapCLI(t, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+p("ov.qcow2"))
	pointsWrite(t, name, "0x22")
	snapCLI(t, "commit", name, "vda", "--active", "--pivot", "--wait")
	snapCLI(t, "snapshot", "revert", name, "i0", "--running")
	for _, flags := range [][]string{nil, {"--inactive"}} {
		doc := labVirsh(t, append([]string{"dumpxml", name}, flags...)...)
		if !strings.Contains(doc, "https://virtchain.dev/xmlns/points/1") || !strings.Contains(doc, `snapshot="s1"`) {
			t.Errorf("dumpxml %v has no mark of s1 after the revert to i0:\n%s", flags, doc)
		}
	}
	wantRevertRefused(t, name, "s1", p("base.qcow2"), "the commit of ov.qcow2 into base.qcow2 on vda wrote over its point (base.qcow2)")
}

// qemu-img commit on a shut-off domain writes base.qcow2 the same way.
func TestIntegrationVc7sRevertAfterOfflineCommit(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7s-offline")
	p := func(f string) string { return filepath.Join(dir, f) }
	labVirsh(t, "destroy", name)
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 4M", p("base.qcow2"))
	snapCLI(t, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+p("ov.qcow2"))
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 4M", p("ov.qcow2"))
	snapCLI(t, "commit", name, "vda", "--top", "ov.qcow2", "--base", "base.qcow2", "--wait")
	if c := jobCLIChain(t, name); strings.Join(c, " ") != "base.qcow2" {
		t.Fatalf("chain after the offline commit: %v", c)
	}
	wantRevertRefused(t, name, "s1", p("base.qcow2"), "the commit of ov.qcow2 into base.qcow2 on vda wrote over its point (base.qcow2)")
	if st := domState(t, name); st != "shut off" {
		t.Errorf("%s is %s after the refused revert", name, st)
	}
}

// virtchain's own external revert (libvirt before 9.9) defines the domain
// from the definition saved with s0; the mark of s1, whose point ov0.qcow2
// the commit wrote over, must come along, or s1 would pass for a branch.
func TestIntegrationVc7sMarkSurvivesOwnRevert(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7s-own")
	p := func(f string) string { return filepath.Join(dir, f) }
	pointsWrite(t, name, "0x11")
	snapCLI(t, "snapshot", "create", name, "s0", "--external", "--disk-only", "--file", "vda="+p("ov0.qcow2"))
	pointsWrite(t, name, "0x22")
	snapCLI(t, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+p("ov1.qcow2"))
	pointsWrite(t, name, "0x33")
	snapCLI(t, "commit", name, "vda", "--top", p("ov1.qcow2"), "--base", p("ov0.qcow2"), "--active", "--pivot", "--wait")
	out := snapCLI(t, "snapshot", "revert", name, "s0", "--running")
	if !strings.Contains(out, "virtchain does it") {
		t.Skipf("this libvirt reverts external snapshots itself:\n%s", out)
	}
	top := p(name + "_s0-revert1.vda.qcow2")
	guestReads(t, name, top, "0x11")
	for _, flags := range [][]string{nil, {"--inactive"}} {
		if doc := labVirsh(t, append([]string{"dumpxml", name}, flags...)...); !strings.Contains(doc, `snapshot="s1"`) {
			t.Errorf("dumpxml %v has no mark of s1 after the revert to s0:\n%s", flags, doc)
		}
	}
	wantRevertRefused(t, name, "s1", top, "the commit of ov1.qcow2 into ov0.qcow2 on vda wrote over its point (ov0.qcow2)")
	if _, branch := branchMarks(t, name); containsName(branch, "s1") {
		t.Errorf("stale s1 is shown as a kept branch")
	}
}

// A pull writes only the active layer, but the internal snapshot i1 inside
// it reads base.qcow2 below: after a full pull, libvirt's revert to i1
// gave the guest zeros where base.qcow2 had 0x11 (measured on 9.0).
func TestIntegrationVc7sRevertAfterPull(t *testing.T) {
	name, p := pointsScenario(t, "vc7s-pull")
	snapCLI(t, "snapshot", "create", name, "i1")
	pointsWrite(t, name, "0x33")
	planSays(t, snapCLI(t, "pull", name, "vda", "--wait"), "i1")
	wantRevertRefused(t, name, "i1", p("ov.qcow2"), "the pull into ov.qcow2 on vda changed what its point (ov.qcow2) reads")
}

// An intermediate commit of ov1.qcow2 into base.qcow2 writes over s1's
// point; s2, whose point ov1.qcow2 is still on disk over the merged
// base.qcow2, still reverts to its own data.
func TestIntegrationVc7sRevertAfterIntermediateCommit(t *testing.T) {
	name, p := pointsScenario(t, "vc7s-mid")
	snapCLI(t, "snapshot", "create", name, "s2", "--external", "--disk-only", "--file", "vda="+p("ov2.qcow2"))
	pointsWrite(t, name, "0x33")
	snapCLI(t, "commit", name, "vda", "--top", p("ov.qcow2"), "--base", p("base.qcow2"), "--wait")
	wantRevertRefused(t, name, "s1", p("ov2.qcow2"), "the commit of ov.qcow2 into base.qcow2 on vda wrote over its point (base.qcow2)")
	out := snapCLI(t, "snapshot", "revert", name, "s2", "--running")
	if !strings.Contains(out, "virtchain does it") {
		t.Skipf("this libvirt reverts external snapshots itself:\n%s", out)
	}
	guestReads(t, name, p(name+"_s2-revert1.vda.qcow2"), "0x22")
}
