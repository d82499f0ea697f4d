package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// The workflows of DESIGN.md's "The workflows virtchain replaces", run
// through Main on the host under test, with the guest-visible content
// checked after every step and each plan's file lists compared with the
// files that really appeared, changed or vanished. Domains and folders are
// vc8w-*.

// vc8wDomain defines a domain on the host under test whose disks are the
// given images (vda, vdb, ...), and starts it.
func vc8wDomain(t *testing.T, prepare func(dir string) []string) (name, dir string) {
	t.Helper()
	testhost.Need(t)
	name = fmt.Sprintf("vc8w-%d", time.Now().UnixNano()%1_000_000_000)
	dir = scratchDomain(t, name, "vc8w-")
	if err := os.Mkdir(filepath.Join(dir, "ref"), 0o755); err != nil {
		t.Fatal(err)
	}
	images := prepare(dir)
	defineDiskDomain(t, name, dir, images[0])
	for i, img := range images[1:] {
		testhost.Virsh(t, "attach-disk", name, img, fmt.Sprintf("vd%c", 'b'+i), "--driver", "qemu", "--subdriver", "qcow2", "--config")
	}
	testhost.Virsh(t, "start", name)
	return name, dir
}

// vc8wEmpty makes an empty 64M qcow2 image NAME.qcow2 for each disk.
func vc8wEmpty(t *testing.T, names ...string) func(dir string) []string {
	return func(dir string) []string {
		var out []string
		for _, n := range names {
			img := filepath.Join(dir, n+".qcow2")
			labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", img, "64M")
			out = append(out, img)
		}
		return out
	}
}

// vc8wGuest is what the guest should read on each disk: pattern bytes at
// MiB offsets, zeros elsewhere.
type vc8wGuest map[string]map[int]byte

func (g vc8wGuest) clone() vc8wGuest {
	out := vc8wGuest{}
	for d, m := range g {
		out[d] = map[int]byte{}
		for k, v := range m {
			out[d][k] = v
		}
	}
	return out
}

// write makes the running guest write pattern at off MiB of target, then
// flushes so outside readers see it.
func (g vc8wGuest) write(t *testing.T, name, target string, pattern byte, off int) {
	t.Helper()
	dev := fmt.Sprintf("/machine/peripheral/virtio-disk%d/virtio-backend", target[len(target)-1]-'a')
	testhost.Virsh(t, "qemu-monitor-command", name, "--hmp", fmt.Sprintf(`qemu-io -d %s "write -P 0x%x %dM 1M"`, dev, pattern, off))
	vc8wFlush(t, name)
	// The monitor does not answer with qemu-io's result: read it back.
	top := vc8wTargets(t, name)[target]
	if out, err := runTool("qemu-io", "-r", "-U", "-f", "qcow2", "-c", fmt.Sprintf("read -P 0x%x %dM 1M", pattern, off), top); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("%s: guest write 0x%x at %dM of %s does not show in %s: %v %s", testhost.Name(), pattern, off, target, top, err, out)
	}
	if g[target] == nil {
		g[target] = map[int]byte{}
	}
	g[target][off] = pattern
}

// vc8wFlush makes a running domain's QEMU write its qcow2 metadata out.
func vc8wFlush(t *testing.T, name string) {
	t.Helper()
	if strings.TrimSpace(testhost.Virsh(t, "domstate", name)) != "running" {
		return
	}
	for target := range vc8wTargets(t, name) {
		dev := fmt.Sprintf("/machine/peripheral/virtio-disk%d/virtio-backend", target[len(target)-1]-'a')
		testhost.Virsh(t, "qemu-monitor-command", name, "--hmp", fmt.Sprintf(`qemu-io -d %s "flush"`, dev))
	}
}

// vc8wTargets maps each disk target of name to its active layer.
func vc8wTargets(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(testhost.Virsh(t, "domblklist", name), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "vd") {
			out[f[0]] = f[1]
		}
	}
	return out
}

// check compares what every disk of name shows now with g, through
// qemu-img compare -U of the active layer against an image of g.
func (g vc8wGuest) check(t *testing.T, name, dir, when string) {
	t.Helper()
	vc8wFlush(t, name)
	for target, top := range vc8wTargets(t, name) {
		g.checkImage(t, dir, target, top, when)
	}
}

// checkImage compares the content seen through image with g's target.
func (g vc8wGuest) checkImage(t *testing.T, dir, target, image, when string) {
	t.Helper()
	ref := filepath.Join(dir, "ref", fmt.Sprintf("want-%s-%d.qcow2", target, time.Now().UnixNano()))
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", ref, "64M")
	for off, p := range g[target] {
		labTool(t, "qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%x %dM 1M", p, off), ref)
	}
	if out, err := runTool("qemu-img", "compare", "-U", ref, image); err != nil {
		t.Errorf("%s: %s: %s (%s) does not show the expected content: %v %s", testhost.Name(), when, target, image, err, out)
	}
	_ = os.Remove(ref)
}

func runTool(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// vc8wListing lists the regular files of dir (not its ref/ folder).
func vc8wListing(t *testing.T, dir string) testhost.Listing {
	t.Helper()
	return testhost.List(t, dir, testhost.ListOptions{})
}

// vc8wClaims is what a plan says happens to files.
type vc8wClaims struct {
	created, rewritten, deleted, leaving map[string]bool
}

// vc8wPlanClaims reads a plan's file lists from its JSON: its list of
// file changes (a cleanup's is the files it deletes), and the files it
// says leave the chain but stay on disk.
func vc8wPlanClaims(t *testing.T, raw []byte) vc8wClaims {
	t.Helper()
	var wrapped struct {
		Plan json.RawMessage `json:"plan"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Plan) > 0 && string(wrapped.Plan) != "null" {
		raw = wrapped.Plan
	}
	var p struct {
		LeavingChain []string        `json:"leaving_chain"`
		Files        json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, raw)
	}
	c := vc8wClaims{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
	for _, f := range p.LeavingChain {
		c.leaving[f] = true
	}
	var deletes []string
	var changes []model.FileChange
	if len(p.Files) > 0 && json.Unmarshal(p.Files, &deletes) != nil && json.Unmarshal(p.Files, &changes) != nil {
		t.Fatalf("plan files: %s", p.Files)
	}
	for _, f := range deletes {
		changes = append(changes, model.FileChange{Path: f, Change: model.FileDeleted})
	}
	for _, f := range changes {
		switch f.Change {
		case model.FileCreated:
			c.created[f.Path] = true
		case model.FileRewritten:
			c.rewritten[f.Path] = true
		case model.FileDeleted:
			c.deleted[f.Path] = true
		default:
			t.Fatalf("plan file change %+v", f)
		}
	}
	return c
}

// vc8wMismatches compares what a plan claimed with two listings of its
// folder, one line per file where they differ. A file created and then
// deleted by the same plan is no change to the folder.
func vc8wMismatches(c vc8wClaims, before, after testhost.Listing) []string {
	for _, m := range []map[string]bool{c.created, c.rewritten, c.deleted, c.leaving} {
		vc8wResolveEpochs(m, before, after)
	}
	var out []string
	for p, a := range after {
		b, was := before[p]
		switch {
		case !was && !c.created[p]:
			out = append(out, "appeared, the plan does not say it creates it: "+p)
		case was && b != a && !c.rewritten[p] && !c.created[p]:
			out = append(out, fmt.Sprintf("changed, the plan does not say it writes it: %s (size %d -> %d, mtime %s -> %s, inode %d -> %d)",
				p, b.Size, a.Size, b.Mtime.Format("15:04:05.000"), a.Mtime.Format("15:04:05.000"), b.Inode, a.Inode))
		case was && b == a && c.rewritten[p]:
			out = append(out, "the plan says it writes it, unchanged: "+p)
		case c.deleted[p] && !c.created[p]:
			out = append(out, "the plan says it deletes it, still there: "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !c.deleted[p] {
			out = append(out, "vanished, the plan does not say it deletes it: "+p)
		}
	}
	for p := range c.created {
		if _, ok := after[p]; !ok && !c.deleted[p] {
			out = append(out, "the plan says it creates it, not there: "+p)
		}
	}
	for p := range c.leaving {
		if _, ok := after[p]; !ok && !c.deleted[p] {
			out = append(out, "the plan says it only leaves the chain, deleted: "+p)
		}
	}
	sort.Strings(out)
	return out
}

// vc8wResolveEpochs replaces each planned name IMAGE.<epoch> (the
// overlays libvirt's own external revert names after the revert time)
// with the file seen in the listings that it stands for.
func vc8wResolveEpochs(claims map[string]bool, listings ...testhost.Listing) {
	for p := range claims {
		if !strings.HasSuffix(p, model.EpochSuffix) {
			continue
		}
		for _, l := range listings {
			for real := range l {
				if (model.FileChange{Path: p}).MatchesFile(real) {
					delete(claims, p)
					claims[real] = true
				}
			}
		}
	}
}

// vc8wRun plans args with --dry-run --json, runs them, and reports every
// file where the plan and the folder disagree.
func vc8wRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	base := []string{"-c", testhost.URI()}
	code, plan, stderr := runMain(t, append(append(base, "--json", "--dry-run"), args...)...)
	if code != 0 {
		t.Fatalf("%s: virtchain %s --dry-run: exit %d: %s", testhost.Name(), strings.Join(args, " "), code, stderr)
	}
	claims := vc8wPlanClaims(t, []byte(plan))
	before := vc8wListing(t, dir)
	// mtimes have a clock tick's resolution: a write in the same tick as
	// the listing must still show.
	time.Sleep(20 * time.Millisecond)
	code, stdout, stderr := runMain(t, append(base, args...)...)
	if code != 0 {
		t.Fatalf("%s: virtchain %s: exit %d: %s", testhost.Name(), strings.Join(args, " "), code, stderr)
	}
	after := vc8wListing(t, dir)
	for _, m := range vc8wMismatches(claims, before, after) {
		t.Errorf("%s: plan of %q lies: %s", testhost.Name(), strings.Join(args, " "), m)
	}
	return stdout
}

// vc8wRevertArgs is a revert of snap that discards the current state, as
// virsh snapshot-revert does, where virtchain has --discard-current.
func vc8wRevertArgs(t *testing.T, name, snap string) []string {
	t.Helper()
	args := []string{"snapshot", "revert", name, snap}
	if _, help, _ := runMain(t, "help", "snapshot", "revert"); strings.Contains(help, "--discard-current") {
		args = append(args, "--discard-current")
	}
	return args
}

// vc8wRevert reverts name to snap and checks that the domain is in state
// (running after a snapshot with memory, shut off after a disk-only one)
// and shows what it showed at snap. It returns that view.
func vc8wRevert(t *testing.T, name, dir, snap, state string, at vc8wGuest) vc8wGuest {
	t.Helper()
	vc8wRun(t, dir, vc8wRevertArgs(t, name, snap)...)
	if s := vc8wState(t, name); s != state {
		t.Fatalf("%s: after the revert to %s: %s", testhost.Name(), snap, s)
	}
	g := at.clone()
	g.check(t, name, dir, "after the revert to "+snap)
	return g
}

func vc8wState(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(testhost.Virsh(t, "domstate", name))
}

func vc8wSnapshots(t *testing.T, name string) []string {
	t.Helper()
	code, stdout, stderr := runMain(t, "-c", testhost.URI(), "--json", "snapshots", name)
	if code != 0 {
		t.Fatalf("snapshots: %s", stderr)
	}
	var s labSnapJSON
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sn := range s.Snapshots {
		out = append(out, sn.Name)
	}
	sort.Strings(out)
	// virsh reads the same metadata.
	ref := strings.Fields(testhost.Virsh(t, "snapshot-list", name, "--name"))
	sort.Strings(ref)
	if strings.Join(out, " ") != strings.Join(ref, " ") {
		t.Errorf("%s: virtchain lists snapshots %q, virsh %q", testhost.Name(), out, ref)
	}
	return out
}

func vc8wWant(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: %s: %q, want %q", testhost.Name(), what, got, want)
	}
}

// Internal snapshot create/list/revert/delete, then save and restore.
func TestIntegrationVc8wInternalAndSave(t *testing.T) {
	name, dir := vc8wDomain(t, vc8wEmpty(t, "disk"))
	g := vc8wGuest{}
	g.write(t, name, "vda", 0x5a, 0)
	at := g.clone()

	vc8wRun(t, dir, "snapshot", "create", name, "fresh")
	vc8wWant(t, "after create", vc8wSnapshots(t, name), "fresh")
	if out := testhost.Virsh(t, "snapshot-list", name, "--name"); strings.TrimSpace(out) != "fresh" {
		t.Fatalf("virsh snapshot-list: %q", out)
	}
	g.check(t, name, dir, "after the internal snapshot")

	g.write(t, name, "vda", 0x6b, 1)
	g.write(t, name, "vda", 0x7c, 0)
	testhost.Virsh(t, "destroy", name)
	g = vc8wRevert(t, name, dir, "fresh", "running", at)

	g.write(t, name, "vda", 0x3c, 2)
	vc8wRun(t, dir, "snapshot", "delete", name, "fresh")
	for _, s := range vc8wSnapshots(t, name) {
		if s == "fresh" {
			t.Fatalf("fresh still listed")
		}
	}
	g.check(t, name, dir, "after deleting fresh")

	save := filepath.Join(dir, "vc8w.save")
	vc8wRun(t, dir, "save", name, save)
	if s := vc8wState(t, name); s != "shut off" {
		t.Fatalf("after save: %s", s)
	}
	g.check(t, name, dir, "after save")
	vc8wRun(t, dir, "restore", save)
	if s := vc8wState(t, name); s != "running" {
		t.Fatalf("after restore: %s", s)
	}
	g.write(t, name, "vda", 0x4d, 3)
	g.check(t, name, dir, "after restore")
}

// External disk-only snapshots of two disks at once, then an external
// checkpoint (disks and memory), and a revert to the checkpoint.
func TestIntegrationVc8wExternalTwoDisks(t *testing.T) {
	name, dir := vc8wDomain(t, vc8wEmpty(t, "a", "b"))
	g := vc8wGuest{}
	g.write(t, name, "vda", 0x11, 0)
	g.write(t, name, "vdb", 0x21, 0)
	atDisk := g.clone()

	code, plan, stderr := runMain(t, "-c", testhost.URI(), "--dry-run", "snapshot", "create", name, "disk1", "--external", "--disk-only")
	if code != 0 || !strings.Contains(plan, "--atomic") || strings.Count(plan, "--diskspec") != 2 {
		t.Fatalf("two-disk snapshot plan (exit %d %s):\n%s", code, stderr, plan)
	}
	ovA, ovB := filepath.Join(dir, "a.disk1.qcow2"), filepath.Join(dir, "b.disk1.qcow2")
	vc8wRun(t, dir, "snapshot", "create", name, "disk1", "--external", "--disk-only", "--file", "vda="+ovA, "--file", "vdb="+ovB)
	if tg := vc8wTargets(t, name); tg["vda"] != ovA || tg["vdb"] != ovB {
		t.Fatalf("active layers after disk1: %v", tg)
	}
	g.check(t, name, dir, "after the disk-only snapshot")

	g.write(t, name, "vda", 0x12, 1)
	g.write(t, name, "vdb", 0x22, 1)
	atCheckpoint := g.clone()
	vc8wRun(t, dir, "snapshot", "create", name, "ckpt", "--external")
	vc8wWant(t, "snapshots", vc8wSnapshots(t, name), "disk1", "ckpt")
	mem := filepath.Join(dir, name+"_ckpt.mem")
	if st, err := os.Stat(mem); err != nil || st.Size() == 0 {
		t.Fatalf("%s: checkpoint memory file %s: %v", testhost.Name(), mem, err)
	}
	if x := testhost.Virsh(t, "snapshot-dumpxml", name, "ckpt"); !strings.Contains(x, "<memory snapshot='external' file='"+mem+"'/>") {
		t.Fatalf("%s: ckpt has no external memory in %s:\n%s", testhost.Name(), mem, x)
	}
	g.check(t, name, dir, "after the checkpoint")
	// The points keep their content.
	atDisk.checkImage(t, dir, "vda", filepath.Join(dir, "a.qcow2"), "point of disk1")
	atDisk.checkImage(t, dir, "vdb", filepath.Join(dir, "b.qcow2"), "point of disk1")
	atCheckpoint.checkImage(t, dir, "vda", ovA, "point of ckpt")
	atCheckpoint.checkImage(t, dir, "vdb", ovB, "point of ckpt")

	g.write(t, name, "vda", 0x13, 0)
	g.write(t, name, "vdb", 0x23, 2)
	g = vc8wRevert(t, name, dir, "ckpt", "running", atCheckpoint)
	g.write(t, name, "vda", 0x14, 3)
	g.check(t, name, dir, "a write after the revert to ckpt")
}

// vc8wChain checks the layers of name's vda, active first, by file stem.
func vc8wChain(t *testing.T, name string, want ...string) {
	t.Helper()
	var c labChainJSON
	code, stdout, stderr := runMain(t, "-c", testhost.URI(), "--json", "chain", name, "vda")
	if code != 0 || json.Unmarshal([]byte(stdout), &c) != nil {
		t.Fatalf("chain: %s", stderr)
	}
	var got []string
	for _, l := range c.Disks[0].Layers {
		got = append(got, strings.TrimSuffix(filepath.Base(l.Path), ".qcow2"))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: chain %q, want %q", testhost.Name(), got, want)
	}
}

// The chain of DESIGN.md made by external snapshots; commit 2-3 into 1,
// metadata cleanup, a pull with a base, a full pull, and cleanup again.
func TestIntegrationVc8wMerges(t *testing.T) {
	name, dir := vc8wDomain(t, func(dir string) []string {
		base, test2 := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "test2.qcow2")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
		labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x01 0 1M", base)
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", test2)
		labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x02 1M 1M", test2)
		return []string{test2}
	})
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	g := vc8wGuest{"vda": {0: 0x01, 1: 0x02}}
	layers := []string{"test2_test", "test2_nmap", "test2_net-tools", "test2_lsof"}
	points := map[string]vc8wGuest{}
	for i, l := range layers {
		vc8wRun(t, dir, "snapshot", "create", name, l, "--external", "--disk-only", "--file", "vda="+p(l))
		g.check(t, name, dir, "after snapshot "+l)
		points[l] = g.clone()
		g.write(t, name, "vda", byte(0x10*(i+1)+3), i+2)
		g.write(t, name, "vda", byte(0x10*(i+1)+4), 8)
	}
	if top := vc8wTargets(t, name)["vda"]; top != p("test2_lsof") {
		t.Fatalf("active layer %s", top)
	}
	g.check(t, name, dir, "the chain built")
	vc8wChain(t, name, "test2_lsof", "test2_net-tools", "test2_nmap", "test2_test", "test2", "base")

	vc8wRun(t, dir, "commit", name, "vda", "--base", p("test2_test"), "--top", p("test2_net-tools"), "--wait")
	vc8wChain(t, name, "test2_lsof", "test2_test", "test2", "base")
	g.check(t, name, dir, "after the commit of 2-3 into 1")

	if remoteFilesRefused(t, "cleanup", name, "--delete-files") {
		vc8wRun(t, dir, "cleanup", name) // over ssh: the metadata alone
	} else {
		vc8wRun(t, dir, "cleanup", name, "--delete-files")
	}
	// test2_nmap's point (test2_test) was written over, test2_net-tools'
	// (test2_nmap) left the chain; test2_lsof's point is now test2_test.
	vc8wWant(t, "snapshots after cleanup", vc8wSnapshots(t, name), "test2_test", "test2_lsof")
	// Snapshot test2_lsof still names them at its point: they stay.
	for _, f := range []string{"test2_nmap", "test2_net-tools"} {
		if _, err := os.Stat(p(f)); err != nil {
			t.Errorf("%s: cleanup --delete-files deleted %s, which snapshot test2_lsof reads at its point", testhost.Name(), p(f))
		}
	}
	g.check(t, name, dir, "after cleanup")

	vc8wRun(t, dir, "pull", name, "vda", "--base", p("test2"), "--wait")
	vc8wChain(t, name, "test2_lsof", "test2", "base")
	g.check(t, name, dir, "after the pull with a base")

	vc8wRun(t, dir, "pull", name, "vda", "--wait")
	vc8wChain(t, name, "test2_lsof")
	g.check(t, name, dir, "after the full pull")
	if out := labTool(t, "qemu-img", "info", "-U", p("test2_lsof")); strings.Contains(out, "backing file") {
		t.Errorf("%s: backing file left after the full pull:\n%s", testhost.Name(), out)
	}

	vc8wRun(t, dir, "cleanup", name)
	// test2_lsof's point (test2_net-tools and below, test2_test now holding
	// what was merged into it) is still on disk and still reads as it did.
	vc8wWant(t, "snapshots after the last cleanup", vc8wSnapshots(t, name), "test2_lsof")
	points["test2_lsof"].checkImage(t, dir, "vda", p("test2_net-tools"), "the point of test2_lsof after the merges")
	// And a revert to it still works, on either revert path.
	g = vc8wRevert(t, name, dir, "test2_lsof", "shut off", points["test2_lsof"])
	testhost.Virsh(t, "start", name)
	g.write(t, name, "vda", 0x77, 9)
	g.check(t, name, dir, "a write after the merges")
}

// The same merges on a shut-off domain, which virtchain runs with
// qemu-img: commit 2-3 into 1, a pull with a base, a full pull.
// vc8wDeepChain makes DESIGN.md's six-layer chain, base to test2_lsof, for
// vda, and records in g what the guest reads through it.
func vc8wDeepChain(t *testing.T, g vc8wGuest) func(dir string) []string {
	layers := []string{"base", "test2", "test2_test", "test2_nmap", "test2_net-tools", "test2_lsof"}
	return func(dir string) []string {
		for i, l := range layers {
			img := filepath.Join(dir, l+".qcow2")
			args := []string{"create", "-q", "-f", "qcow2"}
			if i > 0 {
				args = append(args, "-b", filepath.Join(dir, layers[i-1]+".qcow2"), "-F", "qcow2")
			}
			labTool(t, "qemu-img", append(args, img, "64M")...)
			// Each layer has data of its own and a write over the same MiB.
			for off, p := range map[int]byte{i: byte(0x10*i + 1), 8: byte(0x10*i + 2)} {
				labTool(t, "qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%x %dM 1M", p, off), img)
				g["vda"][off] = p
			}
		}
		return []string{filepath.Join(dir, "test2_lsof.qcow2")}
	}
}

func TestIntegrationVc8wOfflineMerges(t *testing.T) {
	g := vc8wGuest{"vda": {}}
	name, dir := vc8wDomain(t, vc8wDeepChain(t, g))
	testhost.Virsh(t, "destroy", name)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	g.check(t, name, dir, "the chain built")

	vc8wChain(t, name, "test2_lsof", "test2_net-tools", "test2_nmap", "test2_test", "test2", "base")
	// Without --wait: an offline merge cannot outlive the command.
	vc8wRun(t, dir, "commit", name, "vda", "--base", p("test2_test"), "--top", p("test2_net-tools"))
	vc8wChain(t, name, "test2_lsof", "test2_test", "test2", "base")
	g.check(t, name, dir, "after the offline commit of 2-3 into 1")
	vc8wRun(t, dir, "pull", name, "vda", "--base", p("test2"))
	vc8wChain(t, name, "test2_lsof", "test2", "base")
	g.check(t, name, dir, "after the offline pull with a base")
	vc8wRun(t, dir, "pull", name, "vda")
	vc8wChain(t, name, "test2_lsof")
	g.check(t, name, dir, "after the offline full pull")
	testhost.Virsh(t, "start", name)
	g.write(t, name, "vda", 0x77, 9)
	g.check(t, name, dir, "a write after the offline merges")
}
