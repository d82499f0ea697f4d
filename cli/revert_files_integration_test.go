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

// Revert on each host: the plan's file list must equal what really
// changed in the domain's folder, and the default revert must keep the
// current state. Domains and folders are vc8r-*.

// vc8rDomain defines and starts a 64 MiB domain on the host under test,
// its vda one qcow2 image (base.qcow2, 0x11 in its first MiB).
func vc8rDomain(t *testing.T) (name, dir string) {
	t.Helper()
	testhost.Need(t)
	sweepVc8r(t)
	name = fmt.Sprintf("vc8r-%d-%d", time.Now().Unix(), time.Now().UnixNano()%1_000_000)
	dir, err := os.MkdirTemp("/var/tmp", "vc8r-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testhost.VirshQuiet("destroy", name)
		testhost.VirshQuiet("undefine", name, "--snapshots-metadata", "--managed-save")
		_ = os.RemoveAll(dir)
	})
	base := filepath.Join(dir, "base.qcow2")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
	labTool(t, "qemu-io", "-c", "write -P 0x11 0 1M", base)
	xml := fmt.Sprintf(`<domain type='kvm'><name>%s</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>`, name, base)
	xmlPath := filepath.Join(dir, "domain.xml")
	if err := os.WriteFile(xmlPath, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	testhost.Virsh(t, "define", xmlPath)
	testhost.Virsh(t, "start", name)
	return name, dir
}

// sweepVc8r removes the domains of earlier runs whose cleanup did not get
// through (libvirtd is restarted under the tests now and then); names
// carry their creation time, so a run in progress is left alone.
func sweepVc8r(t *testing.T) {
	t.Helper()
	for _, d := range strings.Fields(testhost.Virsh(t, "list", "--all", "--name")) {
		var born, nonce int64
		if n, _ := fmt.Sscanf(d, "vc8r-%d-%d", &born, &nonce); n == 2 && time.Since(time.Unix(born, 0)) > 30*time.Minute {
			testhost.VirshQuiet("destroy", d)
			testhost.VirshQuiet("undefine", d, "--snapshots-metadata", "--managed-save")
		}
	}
}

// guestWrite writes pattern at off (MiB) through the running domain's vda
// and flushes, so outside readers see it.
func guestWrite(t *testing.T, name string, pattern byte, off int) {
	t.Helper()
	dev := "/machine/peripheral/virtio-disk0/virtio-backend"
	testhost.Virsh(t, "qemu-monitor-command", name, "--hmp", fmt.Sprintf(`qemu-io -d %s "write -P 0x%x %dM 1M"`, dev, pattern, off))
	testhost.Virsh(t, "qemu-monitor-command", name, "--hmp", fmt.Sprintf(`qemu-io -d %s "flush"`, dev))
}

// folderState maps each file of dir to a hash of its content.
func folderState(t *testing.T, dir string) testhost.Listing {
	t.Helper()
	return testhost.List(t, dir, testhost.ListOptions{Sum: true})
}

// netChanges is what happened between two folder states, one line per
// file: "created P", "deleted P", "rewritten P".
func netChanges(before, after testhost.Listing) []string {
	var out []string
	for p, h := range after {
		switch old, ok := before[p]; {
		case !ok:
			out = append(out, "created "+p)
		case old.Sum != h.Sum:
			out = append(out, "rewritten "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, "deleted "+p)
		}
	}
	sort.Strings(out)
	return out
}

// planNet folds a plan's file list into its net effect on the real paths
// seen (a file created and then deleted by the same plan is no change),
// resolving libvirt's IMAGE.<epoch> names against the files that exist.
func planNet(files []model.FileChange, seen map[string]bool) []string {
	state := map[string]string{}
	var order []string
	for _, fc := range files {
		path := fc.Path
		for p := range seen {
			if fc.MatchesFile(p) {
				path = p
			}
		}
		prev, ok := state[path]
		if !ok {
			order = append(order, path)
		}
		switch {
		case prev == model.FileCreated && fc.Change == model.FileDeleted:
			state[path] = ""
		case prev == model.FileCreated:
		default:
			state[path] = fc.Change
		}
	}
	var out []string
	for _, p := range order {
		if state[p] != "" {
			out = append(out, state[p]+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

type revertResult struct {
	Plan struct {
		Method string             `json:"method"`
		Files  []model.FileChange `json:"files"`
		Steps  []string           `json:"steps"`
		Keep   *struct {
			Request struct {
				Name string `json:"name"`
			} `json:"request"`
		} `json:"keep"`
	} `json:"plan"`
	Done bool `json:"done"`
}

// revertChecked runs virtchain snapshot revert and checks that the plan's
// files are exactly the files that changed in dir.
func revertChecked(t *testing.T, dir string, args ...string) revertResult {
	t.Helper()
	return opChecked(t, dir, "revert", args...)
}

// opChecked runs virtchain snapshot OP and checks that the plan's files
// are exactly the files that changed in dir.
func opChecked(t *testing.T, dir, op string, args ...string) revertResult {
	t.Helper()
	before := folderState(t, dir)
	code, stdout, stderr := runMain(t, append([]string{"-c", testhost.URI(), "--json", "snapshot", op}, args...)...)
	if code != 0 {
		t.Fatalf("%s: %s %q: exit %d: %s", testhost.Name(), op, args, code, stderr)
	}
	var r revertResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || !r.Done {
		t.Fatalf("%s %q: %v %s", op, args, err, stdout)
	}
	after := folderState(t, dir)
	seen := map[string]bool{}
	for p := range before {
		seen[p] = true
	}
	for p := range after {
		seen[p] = true
	}
	got, planned := netChanges(before, after), planNet(r.Plan.Files, seen)
	if strings.Join(got, "\n") != strings.Join(planned, "\n") {
		t.Errorf("%s: %s %q: files that changed:\n%s\nthe plan said:\n%s\n(plan files %+v)", testhost.Name(), op, args,
			strings.Join(got, "\n"), strings.Join(planned, "\n"), r.Plan.Files)
	}
	return r
}

// hostRevertsExternal reads <externalSnapshot/> from the host's capabilities
// through virsh, apart from virtchain's own reading.
func hostRevertsExternal(t *testing.T) bool {
	return strings.Contains(testhost.Virsh(t, "capabilities"), "<externalSnapshot/>")
}

// readsPattern says whether qemu-io reads pattern at off (MiB) through img.
func readsPattern(img string, pattern byte, off int) bool {
	out := qemuIORead(img, pattern, off)
	return strings.Contains(out, "read 1048576/1048576 bytes") && !strings.Contains(out, "Pattern verification failed")
}

func qemuIORead(img string, pattern byte, off int) string {
	out, _ := exec.Command("qemu-io", "-r", "-U", "-f", "qcow2", "-c", fmt.Sprintf("read -P 0x%x %dM 1M", pattern, off), img).CombinedOutput()
	return string(out)
}

func activeImage(t *testing.T, name string) string {
	t.Helper()
	for _, l := range strings.Split(testhost.Virsh(t, "domblklist", name), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "vda" {
			return f[1]
		}
	}
	t.Fatalf("no vda in domblklist of %s", name)
	return ""
}

// TestIntegrationRevertExternalKeepsState: the default external revert of a
// running domain keeps the writes since s1 (libvirt's revert would delete
// them on hosts with <externalSnapshot/>), and the plan's files are what
// changed; the path taken follows the capability.
func TestIntegrationRevertExternalKeepsState(t *testing.T) {
	name, dir := vc8rDomain(t)
	guestWrite(t, name, 0x22, 1)
	s1 := filepath.Join(dir, "s1.qcow2")
	testhost.Virsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+s1)
	guestWrite(t, name, 0x33, 2)

	r := revertChecked(t, dir, name, "s1")
	want := "virtchain"
	if hostRevertsExternal(t) {
		want = "libvirt"
	}
	if r.Plan.Method != want {
		t.Errorf("%s: revert ran through %s, want %s (capabilities)", testhost.Name(), r.Plan.Method, want)
	}
	// The files show which path ran: libvirt names its overlay
	// base.<epoch>, virtchain NAME_s1-revert1.vda.qcow2.
	ownOverlay := filepath.Join(dir, name+"_s1-revert1.vda.qcow2")
	epochs, _ := filepath.Glob(filepath.Join(dir, "base.[0-9]*"))
	if ran := map[bool]string{true: "virtchain", false: "libvirt"}[exists(ownOverlay)]; ran != want || (want == "libvirt") != (len(epochs) == 1) {
		t.Errorf("%s: the files say %s ran (own overlay %v, libvirt overlays %q), want %s", testhost.Name(), ran, exists(ownOverlay), epochs, want)
	}
	if r.Plan.Keep == nil || r.Plan.Keep.Request.Name != "before-revert-to-s1" {
		t.Fatalf("no keep snapshot: %+v", r.Plan)
	}
	snaps := testhost.Virsh(t, "snapshot-list", name, "--name")
	if !strings.Contains(snaps, "before-revert-to-s1") {
		t.Errorf("keep snapshot not in the tree: %s", snaps)
	}
	// The writes since s1 are still on disk, in the keep snapshot's point.
	if !readsPattern(s1, 0x33, 2) {
		t.Errorf("%s: the writes since s1 are gone from %s: %s", testhost.Name(), s1, qemuIORead(s1, 0x33, 2))
	}
	// The domain now reads s1's state.
	if img := activeImage(t, name); readsPattern(img, 0x33, 2) || !readsPattern(img, 0x22, 1) {
		t.Errorf("%s: after the revert %s does not read s1's state", testhost.Name(), img)
	}

	// Back to the kept state, discarding the state of the revert (nothing
	// written since): the plan lists what libvirt deletes, and the data
	// since s1 is back.
	r = revertChecked(t, dir, name, "before-revert-to-s1", "--discard-current", "--running")
	if r.Plan.Keep != nil {
		t.Errorf("--discard-current took a keep snapshot")
	}
	if img := activeImage(t, name); !readsPattern(img, 0x33, 2) {
		t.Errorf("%s: back at before-revert-to-s1, %s lacks the writes since s1", testhost.Name(), img)
	}
	// A second revert to s1 keeps again, under a new name.
	r = revertChecked(t, dir, name, "s1")
	if r.Plan.Keep == nil || r.Plan.Keep.Request.Name != "before-revert-to-s1-2" {
		t.Errorf("second keep snapshot: %+v", r.Plan.Keep)
	}
}

// TestIntegrationRevertInternalKeepsState: an internal revert keeps the
// current state as an internal snapshot in the same image.
func TestIntegrationRevertInternalKeepsState(t *testing.T) {
	name, dir := vc8rDomain(t)
	guestWrite(t, name, 0x22, 1)
	testhost.Virsh(t, "snapshot-create-as", name, "i1")
	guestWrite(t, name, 0x33, 2)
	r := revertChecked(t, dir, name, "i1")
	if r.Plan.Method != "libvirt" || r.Plan.Keep == nil {
		t.Fatalf("plan %+v", r.Plan)
	}
	base := filepath.Join(dir, "base.qcow2")
	if readsPattern(base, 0x33, 2) {
		t.Errorf("after the revert to i1 the writes since are still read")
	}
	r = revertChecked(t, dir, name, "before-revert-to-i1", "--discard-current")
	testhost.Virsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	if !readsPattern(base, 0x33, 2) {
		t.Errorf("%s: the kept internal snapshot lacks the writes since i1", testhost.Name())
	}
}

// TestIntegrationDeleteAfterRevertToInternalParent replays the sequences
// of libvirt's data-loss report (an external snapshot deleted after a
// revert to its internal parent; libvirt before 11.0 could delete an image
// still needed) with virsh, running and shut off, with one and two
// external snapshots, then asks virtchain to delete them: it must refuse,
// and no file may change. Measured on 11.3, libvirt's own delete of e2 in
// the longer chain removes e1.qcow2, which e2.qcow2 still needs as its
// backing file.
func TestIntegrationDeleteAfterRevertToInternalParent(t *testing.T) {
	for _, tc := range []struct {
		name, revertFlag string
		exts             []string
		internalOffline  bool
	}{
		{"offline-i1-one-external", "", []string{"e1"}, true},
		{"running-i1-two-externals", "--running", []string{"e1", "e2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, dir := vc8rDomain(t)
			if tc.internalOffline {
				testhost.Virsh(t, "destroy", name)
				testhost.Virsh(t, "snapshot-create-as", name, "i1")
				testhost.Virsh(t, "start", name)
			} else {
				guestWrite(t, name, 0x22, 1)
				testhost.Virsh(t, "snapshot-create-as", name, "i1")
			}
			for i, e := range tc.exts {
				testhost.Virsh(t, "snapshot-create-as", name, e, "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, e+".qcow2"))
				guestWrite(t, name, byte(0x33+i), 2+i)
			}
			args := []string{"snapshot-revert", name, "i1"}
			if tc.revertFlag != "" {
				args = append(args, tc.revertFlag)
			}
			testhost.Virsh(t, args...)
			before := folderState(t, dir)
			for i := len(tc.exts) - 1; i >= 0; i-- {
				code, _, stderr := runMain(t, "-c", testhost.URI(), "snapshot", "delete", name, tc.exts[i])
				if code == 0 || !strings.Contains(stderr, "--metadata-only") {
					t.Errorf("%s: delete %s after the revert to i1: exit %d, %s", testhost.Name(), tc.exts[i], code, stderr)
				}
			}
			if got := netChanges(before, folderState(t, dir)); len(got) > 0 {
				t.Errorf("%s: refused deletes changed files: %q", testhost.Name(), got)
			}
			// Metadata-only removal, which virtchain offers, keeps every file.
			for i := len(tc.exts) - 1; i >= 0; i-- {
				if code, _, stderr := runMain(t, "-c", testhost.URI(), "snapshot", "delete", name, tc.exts[i], "--metadata-only"); code != 0 {
					t.Fatalf("metadata-only delete of %s: %s", tc.exts[i], stderr)
				}
			}
			if got := netChanges(before, folderState(t, dir)); len(got) > 0 {
				t.Errorf("%s: metadata-only deletes changed files: %q", testhost.Name(), got)
			}
		})
	}
}

// TestIntegrationDeleteFileLists: the files of snapshot delete plans are
// what changed, for an external snapshot of a running domain (an active
// commit) and of a shut-off one, and for an internal one.
func TestIntegrationDeleteFileLists(t *testing.T) {
	name, dir := vc8rDomain(t)
	guestWrite(t, name, 0x22, 1)
	testhost.Virsh(t, "snapshot-create-as", name, "e1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, "e1.qcow2"))
	guestWrite(t, name, 0x33, 2)
	testhost.Virsh(t, "snapshot-create-as", name, "e2", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, "e2.qcow2"))
	guestWrite(t, name, 0x44, 3)
	opChecked(t, dir, "delete", name, "e2")
	testhost.Virsh(t, "destroy", name)
	opChecked(t, dir, "delete", name, "e1")
	base := filepath.Join(dir, "base.qcow2")
	for i, pat := range []byte{0x22, 0x33, 0x44} {
		if !readsPattern(base, pat, i+1) {
			t.Errorf("%s: after the deletes %s lacks 0x%x at %dM", testhost.Name(), base, pat, i+1)
		}
	}
	testhost.Virsh(t, "snapshot-create-as", name, "i1")
	opChecked(t, dir, "delete", name, "i1")
	// A checkpoint: libvirt 11.3 deletes its memory file too, 9.0 keeps it.
	testhost.Virsh(t, "start", name)
	testhost.Virsh(t, "snapshot-create-as", name, "c1", "--atomic", "--memspec", "file="+filepath.Join(dir, "c1.mem")+",snapshot=external",
		"--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, "c1.qcow2"))
	guestWrite(t, name, 0x55, 4)
	opChecked(t, dir, "delete", name, "c1")
	if !readsPattern(base, 0x55, 4) {
		t.Errorf("%s: after deleting c1 %s lacks the writes since c1", testhost.Name(), base)
	}
}

// TestIntegrationRevertAwayFromMetadataCurrent: the current snapshot was
// set by metadata alone (virsh snapshot-current e1) while the domain runs
// on e2's overlay. libvirt 11.3's revert to e2 then deletes e1.qcow2, the
// image e2's point is, and fails with the domain stopped (measured with
// virsh). virtchain refuses the revert with --discard-current where libvirt
// reverts, and by default keeps the state and loses nothing.
func TestIntegrationRevertAwayFromMetadataCurrent(t *testing.T) {
	name, dir := vc8rDomain(t)
	guestWrite(t, name, 0x22, 1)
	e1, e2 := filepath.Join(dir, "e1.qcow2"), filepath.Join(dir, "e2.qcow2")
	testhost.Virsh(t, "snapshot-create-as", name, "e1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+e1)
	guestWrite(t, name, 0x33, 2)
	testhost.Virsh(t, "snapshot-create-as", name, "e2", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+e2)
	guestWrite(t, name, 0x44, 3)
	testhost.Virsh(t, "snapshot-current", name, "e1")

	before := folderState(t, dir)
	code, stdout, stderr := runMain(t, "-c", testhost.URI(), "snapshot", "revert", name, "e2", "--discard-current", "--running")
	if hostRevertsExternal(t) {
		if code == 0 || !strings.Contains(stderr, "libvirt's revert deletes "+e1) {
			t.Fatalf("%s: the revert that deletes e2's point was not refused: exit %d\n%s%s", testhost.Name(), code, stdout, stderr)
		}
		if got := netChanges(before, folderState(t, dir)); len(got) > 0 {
			t.Errorf("%s: the refused revert changed files: %q", testhost.Name(), got)
		}
		revertChecked(t, dir, name, "e2", "--running")
	} else if code != 0 {
		t.Fatalf("%s: virtchain's own revert: exit %d: %s", testhost.Name(), code, stderr)
	}
	if !readsPattern(e1, 0x33, 2) || !readsPattern(e2, 0x44, 3) {
		t.Errorf("%s: the writes in e1.qcow2 or e2.qcow2 are gone", testhost.Name())
	}
	if img := activeImage(t, name); !readsPattern(img, 0x33, 2) || readsPattern(img, 0x44, 3) {
		t.Errorf("%s: %s does not read e2's state", testhost.Name(), img)
	}
}

// TestIntegrationRevertShutOffFileLists: external and internal reverts of a
// shut-off domain, with and without the keep snapshot.
func TestIntegrationRevertShutOffFileLists(t *testing.T) {
	name, dir := vc8rDomain(t)
	testhost.Virsh(t, "destroy", name)
	s1 := filepath.Join(dir, "s1.qcow2")
	testhost.Virsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+s1)
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 2M 1M", s1)
	r := revertChecked(t, dir, name, "s1")
	if r.Plan.Keep == nil || !readsPattern(s1, 0x33, 2) {
		t.Errorf("%s: the offline writes since s1 were not kept (keep %+v)", testhost.Name(), r.Plan.Keep)
	}
	revertChecked(t, dir, name, "before-revert-to-s1", "--discard-current")
	if img := activeImage(t, name); !readsPattern(img, 0x33, 2) {
		t.Errorf("%s: back at before-revert-to-s1, %s lacks the writes since s1", testhost.Name(), img)
	}
	revertChecked(t, dir, name, "s1", "--discard-current")
}

// TestIntegrationRevertWithoutCurrentSnapshot: a snapshot redefined
// without --current leaves the domain with no current snapshot; libvirt
// 11.3's external revert then kills libvirtd (measured with virsh). virtchain
// refuses that with --discard-current where libvirt reverts, and its
// default revert (the keep snapshot becomes current) works on every host.
func TestIntegrationRevertWithoutCurrentSnapshot(t *testing.T) {
	name, dir := vc8rDomain(t)
	guestWrite(t, name, 0x22, 1)
	testhost.Virsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, "s1.qcow2"))
	guestWrite(t, name, 0x33, 2)
	doc := filepath.Join(dir, "s1.xml")
	if err := os.WriteFile(doc, []byte(testhost.Virsh(t, "snapshot-dumpxml", name, "s1", "--security-info")), 0o644); err != nil {
		t.Fatal(err)
	}
	testhost.Virsh(t, "snapshot-delete", name, "s1", "--metadata")
	testhost.Virsh(t, "snapshot-create", name, doc, "--redefine")
	if hostRevertsExternal(t) {
		before := folderState(t, dir)
		code, _, stderr := runMain(t, "-c", testhost.URI(), "snapshot", "revert", name, "s1", "--discard-current")
		if code == 0 || !strings.Contains(stderr, "has no current snapshot") {
			t.Fatalf("%s: revert with no current snapshot: exit %d %s", testhost.Name(), code, stderr)
		}
		if got := netChanges(before, folderState(t, dir)); len(got) > 0 {
			t.Errorf("%s: the refused revert changed files: %q", testhost.Name(), got)
		}
	}
	revertChecked(t, dir, name, "s1")
	if !testhost.Answers() {
		t.Fatalf("%s: libvirtd stopped answering", testhost.Name())
	}
	if img := activeImage(t, name); !readsPattern(img, 0x22, 1) || readsPattern(img, 0x33, 2) {
		t.Errorf("%s: %s does not read s1's state", testhost.Name(), img)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestIntegrationFailedRevertNamesKeptState: a revert libvirt refuses after
// the keep snapshot was taken (a disk-only snapshot over a managed-save
// image wants --force) says where the state went, and the snapshot is there.
func TestIntegrationFailedRevertNamesKeptState(t *testing.T) {
	name, _ := vc8rDomain(t)
	testhost.Virsh(t, "destroy", name)
	testhost.Virsh(t, "snapshot-create-as", name, "cold")
	testhost.Virsh(t, "start", name)
	testhost.Virsh(t, "managedsave", name)
	code, _, stderr := runMain(t, "-c", testhost.URI(), "snapshot", "revert", name, "cold")
	if code == 0 || !strings.Contains(stderr, "requires force") || !strings.Contains(stderr, "the state from before is kept as snapshot before-revert-to-cold") {
		t.Fatalf("%s: exit %d: %s", testhost.Name(), code, stderr)
	}
	if !strings.Contains(testhost.Virsh(t, "snapshot-list", name, "--name"), "before-revert-to-cold") {
		t.Errorf("%s: the keep snapshot is missing", testhost.Name())
	}
}
