package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/model"
)

// virtchain's own external revert keeps the newer branch: after a revert
// to X, X's child Y is shown as a kept branch, nothing is stale, cleanup
// offers nothing, and a revert to Y brings back Y's data.

func branchMarks(t *testing.T, name string) (stale, branch []string) {
	t.Helper()
	var out struct {
		Snapshots []model.Snapshot `json:"snapshots"`
	}
	cliJSON(t, &out, "snapshots", name)
	for _, s := range out.Snapshots {
		if len(s.Stale) > 0 {
			stale = append(stale, s.Name)
		}
		if s.Branch {
			branch = append(branch, s.Name)
		}
	}
	return stale, branch
}

// guestReads checks that the guest's disk reads pattern at 0..1M.
func guestReads(t *testing.T, name, top, pattern string) {
	t.Helper()
	if domState(t, name) == "running" {
		labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	}
	if out := labTool(t, "qemu-io", "-U", "-r", "-f", "qcow2", "-c", "read -P "+pattern+" 0 1M", top); strings.Contains(out, "failed") {
		t.Fatalf("%s does not read %s: %s", filepath.Base(top), pattern, out)
	}
}

func TestIntegrationBranchRevert(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vct-branch-cli")
	p := func(f string) string { return filepath.Join(dir, f) }
	write := func(cmd string) {
		labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "`+cmd+`"`)
	}
	write("write -P 0x11 0 1M")
	snapCLI(t, "snapshot", "create", name, "X", "--external", "--disk-only")
	write("write -P 0x22 0 1M")
	snapCLI(t, "snapshot", "create", name, "Y", "--external", "--disk-only")
	write("write -P 0x33 0 1M")

	// --discard-current: this is about the branch virtchain's own revert
	// keeps on disk even without a keep snapshot (revert_files tests that).
	out := snapCLI(t, "snapshot", "revert", name, "X", "--discard-current")
	if !strings.Contains(out, name+"_X-revert1.vda.qcow2") {
		t.Skipf("this libvirt reverts external snapshots itself:\n%s", out)
	}
	guestReads(t, name, p(name+"_X-revert1.vda.qcow2"), "0x11")
	if stale, branch := branchMarks(t, name); stale != nil || len(branch) != 1 || branch[0] != "Y" {
		t.Fatalf("after the revert to X: stale %v branch %v", stale, branch)
	}
	if out := cliText(t, "snapshots", name); !strings.Contains(out, "branch: a newer branch a revert kept") || strings.Contains(out, "stale") {
		t.Fatalf("snapshots:\n%s", out)
	}
	for _, args := range [][]string{{"cleanup", name, "--dry-run", "--delete-files"}, {"cleanup", name, "--delete-files"}} {
		if remoteFilesRefused(t, args...) {
			args = withoutDeleteFiles(args)
		}
		if out := cliText(t, args...); !strings.Contains(out, "nothing to clean on "+name) {
			t.Fatalf("%s:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, f := range []string{name + "_X.vda.qcow2", name + "_Y.vda.qcow2"} {
		if _, err := os.Stat(p(f)); err != nil {
			t.Fatalf("the kept branch lost %s: %v", f, err)
		}
	}

	snapCLI(t, "snapshot", "revert", name, "Y", "--running", "--discard-current")
	if st := domState(t, name); st != "running" {
		t.Fatalf("%s is %s after the revert to Y --running", name, st)
	}
	guestReads(t, name, p(name+"_Y-revert1.vda.qcow2"), "0x22")
	guestReads(t, name, p(name+"_Y.vda.qcow2"), "0x33")
	if stale, branch := branchMarks(t, name); stale != nil || branch != nil {
		t.Fatalf("after the revert to Y: stale %v branch %v", stale, branch)
	}
}
