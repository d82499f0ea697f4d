package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"virtchain/libvirtx/testhost"

	"libvirt.org/go/libvirtxml"
)

// Tests of the files virtchain deletes (cleanup --delete-files) and writes
// (job intents), against the real libvirtd, on domains named vc7f-*.

// vc7fDomain defines a domain whose vda chain is base <- mid <- top, made
// by qemu-img (no snapshot metadata), and starts it when running is set.
func vc7fDomain(t *testing.T, running bool) (name, dir string) {
	t.Helper()
	return threeLayerDomain(t, "vc7f-", running)
}

// threeLayerDomain is vc7fDomain's domain under another name prefix.
func threeLayerDomain(t *testing.T, prefix string, running bool) (name, dir string) {
	t.Helper()
	name = fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1_000_000_000)
	dir = scratchDomain(t, name, prefix)
	p := func(f string) string { return filepath.Join(dir, f) }
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", p("base.qcow2"), "64M")
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 2M", p("base.qcow2"))
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", p("base.qcow2"), "-F", "qcow2", p("mid.qcow2"))
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 2M 2M", p("mid.qcow2"))
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", p("mid.qcow2"), "-F", "qcow2", p("top.qcow2"))
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x33 4M 2M", p("top.qcow2"))
	defineDiskDomain(t, name, dir, p("top.qcow2"))
	if running {
		labVirsh(t, "start", name)
	}
	return name, dir
}

// scratchDomain makes a folder /var/tmp/PREFIX* that QEMU can traverse,
// and removes it and the domain name (if defined by then) when the test
// ends, even when it fails.
func scratchDomain(t *testing.T, name, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU runs as libvirt-qemu and must traverse the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: each step may fail when the previous one did.
		_ = exec.Command("virsh", "-c", hostURI, "destroy", name).Run()
		_ = exec.Command("virsh", "-c", hostURI, "undefine", name, "--snapshots-metadata", "--managed-save").Run()
		_ = os.RemoveAll(dir)
	})
	return dir
}

// defineDiskDomain defines a 64 MiB domain whose vda is the qcow2 image
// (no disk when image is empty); its XML is kept in dir.
func defineDiskDomain(t *testing.T, name, dir, image string) {
	t.Helper()
	dom := libvirtxml.Domain{
		Type: "kvm", Name: name,
		Memory:  &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:      &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64"}},
		Devices: &libvirtxml.DomainDeviceList{},
	}
	if image != "" {
		dom.Devices.Disks = []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: image}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		}}
	}
	xml, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	labVirsh(t, "define", path)
}

// cleanup --delete-files deletes only files that left this domain's chain
// (here: the layer a virtchain commit took out), that are regular image
// files and that nothing uses; anything else refuses the whole command and
// deletes nothing.
func TestIntegrationCleanupDeletesOnlyLeftFiles(t *testing.T) {
	needIntegration(t)
	name, dir := vc7fDomain(t, false)
	p := func(f string) string { return filepath.Join(dir, f) }

	// Files that must survive every refused cleanup.
	if err := os.WriteFile(p("notes.txt"), []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	labTool(t, "cp", p("mid.qcow2"), p("midcopy.qcow2")) // looks just like a layer that left the chain
	if err := syscall.Mkfifo(p("pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p("notes.txt"), p("link.qcow2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Another domain's save image and managed-save image.
	other := name + "-sv"
	t.Cleanup(func() {
		_ = exec.Command("virsh", "-c", hostURI, "destroy", other).Run()
		_ = exec.Command("virsh", "-c", hostURI, "undefine", other, "--managed-save").Run()
	})
	defineDiskDomain(t, other, dir, "")
	labVirsh(t, "start", other)
	labVirsh(t, "save", other, p("other.save"))
	labVirsh(t, "start", other)
	labVirsh(t, "managedsave", other)
	managed := "/var/lib/libvirt/qemu/save/" + other + ".save"
	survivors := []string{p("notes.txt"), p("midcopy.qcow2"), p("pipe"), p("link.qcow2"), p("other.save"), testhost.InRoot(managed),
		p("base.qcow2"), p("mid.qcow2"), p("top.qcow2")}
	checkSurvivors := func(when string) {
		t.Helper()
		for _, f := range survivors {
			if _, err := os.Lstat(f); err != nil {
				t.Errorf("%s: %s is gone: %v", when, f, err)
			}
		}
		if b, _ := os.ReadFile(p("notes.txt")); string(b) != "keep me\n" {
			t.Errorf("%s: notes.txt holds %q", when, b)
		}
	}
	refused := func(want string, args ...string) {
		t.Helper()
		if testhost.OverSSH() {
			// Local-only: every one is refused before anything is looked at.
			want = "over a remote connection virtchain cannot look at the files on"
		}
		code, stdout, stderr := runMain(t, append([]string{"-c", systemURI, "cleanup", name, "--delete-files"}, args...)...)
		if code != 1 || strings.Contains(stdout, "rm --") || strings.Contains(stdout, "deleted") {
			t.Errorf("cleanup --delete-files %q: exit %d\n%s%s", args, code, stdout, stderr)
			return
		}
		wantOneLine(t, stderr, want)
	}
	refused("/etc/hostname", "--dry-run", "/etc/hostname")
	refused("/ is a directory", "--dry-run", "/")
	refused("did not leave the chains of "+name, p("notes.txt"))
	refused("is a named pipe", p("pipe"))
	refused("is a symbolic link", p("link.qcow2"))
	refused("is a libvirt save image", p("other.save"))
	if testhost.Root() == "/" {
		refused("is a libvirt save image", managed)
	} else {
		// A host in a chroot keeps its managed-save images in its own
		// root, where virtchain's path does not reach: refused all the same.
		refused("does not exist", managed)
	}
	refused("is a directory", p("sub"))
	refused("did not leave the chains of "+name, p("sub/../notes.txt"))
	refused("is still used by chain of "+name+" vda", p("mid.qcow2"))
	checkSurvivors("before the commit")

	// A virtchain commit takes mid out of the chain: now mid may go, and
	// nothing else.
	out := cliText(t, "commit", name, "vda", "--top", p("mid.qcow2"), "--base", p("base.qcow2"), "--wait")
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"top.qcow2", "base.qcow2"}) {
		t.Fatalf("after commit: %v\n%s", got, out)
	}
	refused("did not leave the chains of "+name, p("midcopy.qcow2"))
	refused("did not leave the chains of "+name, p("mid.qcow2"), p("notes.txt"))
	refused("is a symbolic link", p("mid.qcow2"), p("link.qcow2"))
	refused("is still used by chain of "+name+" vda", p("base.qcow2"))
	checkSurvivors("after the commit")
	// Through a symbolic link to its folder, mid is still mid.
	if err := os.Symlink(dir, p("sub/dir")); err != nil {
		t.Fatal(err)
	}
	if remoteFilesRefused(t, "cleanup", name, "--delete-files", p("sub/dir/mid.qcow2")) {
		checkSurvivors("after the remote refusal")
		// The way the refusal names: orphans --delete, through the
		// storage API, deletes the left layer and keeps what is in use.
		code, _, stderr := runMain(t, "-c", systemURI, "orphans", "--min-age", "0", "--dir", dir, "--delete", p("base.qcow2"))
		if code != 1 || !strings.Contains(stderr, "is not an orphan: it is used by chain of "+name+" vda") {
			t.Fatalf("orphans --delete of the base in use: exit %d %s", code, stderr)
		}
		out = cliText(t, "orphans", "--min-age", "0", "--dir", dir, "--delete", p("mid.qcow2"))
		if !strings.Contains(out, "deleted "+systemURI+":"+p("mid.qcow2")+" (") {
			t.Fatalf("orphans --delete of the left layer:\n%s", out)
		}
		if _, err := os.Lstat(p("mid.qcow2")); !os.IsNotExist(err) {
			t.Fatalf("mid.qcow2 still there: %v", err)
		}
		for _, f := range []string{"base.qcow2", "top.qcow2", "midcopy.qcow2", "notes.txt"} {
			if _, err := os.Lstat(p(f)); err != nil {
				t.Errorf("after orphans --delete: %v", err)
			}
		}
		return
	}
	out = cliText(t, "cleanup", name, "--delete-files", p("sub/dir/mid.qcow2"))
	if !strings.Contains(out, "deleted "+p("mid.qcow2")) {
		t.Fatalf("cleanup of the left layer:\n%s", out)
	}
	if _, err := os.Lstat(p("mid.qcow2")); !os.IsNotExist(err) {
		t.Fatalf("mid.qcow2 still there: %v", err)
	}
	// The record of what left the chain goes with the file.
	{
		uuid := strings.TrimSpace(labVirsh(t, "domuuid", name))
		if m, _ := filepath.Glob(filepath.Join(testhost.StateBase(), "virtchain", "left", uuid+"_*")); len(m) != 0 {
			t.Errorf("records kept after their files went: %v", m)
		}
	}
	// A new file at the recorded path is not the file that left the chain.
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", p("mid.qcow2"), "64M")
	refused("did not leave the chains of "+name, p("mid.qcow2"))
	checkSurvivors("at the end")
}

// The job intent (what to do at READY) is written without following a
// symbolic link planted at its temporary or final path, and root keeps it
// in /var/lib/virtchain, whatever XDG_STATE_HOME says.
func TestIntegrationIntentNoFollow(t *testing.T) {
	needIntegration(t)
	name, dir := vc7fDomain(t, true)
	p := func(f string) string { return filepath.Join(dir, f) }
	if os.Geteuid() != 0 {
		t.Skip("the intent folder of root is tested as root")
	}
	xdg := p("xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", xdg)
	jobs := filepath.Join(testhost.WithoutStateHome(t), "virtchain", "jobs") // root's own: /var/lib
	if jobs != "/var/lib/virtchain/jobs" {
		t.Fatalf("root's state folder is %s", jobs)
	}
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	uuid := strings.TrimSpace(labVirsh(t, "domuuid", name))
	final := filepath.Join(jobs, uuid+"_vda.json")
	// Links where root writes, and where a user's XDG_STATE_HOME would
	// have it write.
	if err := os.MkdirAll(filepath.Join(xdg, "virtchain", "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	xdgFinal := filepath.Join(xdg, "virtchain", "jobs", uuid+"_vda.json")
	planted := []string{final + ".tmp", final, xdgFinal + ".tmp", xdgFinal}
	t.Cleanup(func() {
		for _, l := range planted {
			_ = os.Remove(l)
		}
	})
	for i, l := range planted {
		if err := os.WriteFile(p(fmt.Sprintf("target%d", i)), []byte("precious\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p(fmt.Sprintf("target%d", i)), l); err != nil {
			t.Fatal(err)
		}
	}
	// Enough data in the active layer that the throttled mirror takes
	// seconds to get READY.
	labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x6b 8M 6M"`)
	killAfterLine(t, virtchainBin(t), " vda active-commit ", "commit", name, "vda", "--shallow", "--active", "--pivot", "--bandwidth", "1")
	for i := range planted {
		if b, err := os.ReadFile(p(fmt.Sprintf("target%d", i))); err != nil || string(b) != "precious\n" {
			t.Errorf("target%d, behind the link at %s, now holds %q (%v)", i, planted[i], b, err)
		}
	}
	if st, err := os.Lstat(final); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o022 != 0 {
		t.Errorf("no intent file at %s (%v)", final, err)
	}
	for _, l := range planted[2:] {
		if st, err := os.Lstat(l); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("root wrote its intent into XDG_STATE_HOME: %s changed (%v)", l, err)
		}
	}
	// The intent is whole, and goes when the job ends ('jobs --wait' would
	// follow other tests' jobs too).
	if b, err := os.ReadFile(final); err != nil || !strings.Contains(string(b), `"after_ready":"pivot"`) {
		t.Errorf("intent %s: %q %v", final, b, err)
	}
	code, stdout, stderr := runMain(t, "-c", systemURI, "abort", name, "vda", "--pivot", "--wait")
	if code != 0 || !strings.Contains(stdout, name+" vda active-commit 100% completed") {
		t.Fatalf("abort --pivot --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"mid.qcow2", "base.qcow2"}) {
		t.Fatalf("after the pivot: %v", got)
	}
	if _, err := os.Lstat(final); !os.IsNotExist(err) {
		t.Errorf("intent left after the pivot: %v", err)
	}
}

// A stale checkpoint's overlay and memory image (a libvirt save image) go
// with its metadata.
func TestIntegrationCleanupCheckpointFiles(t *testing.T) {
	needIntegration(t)
	name, dir := vc7fDomain(t, true)
	p := func(f string) string { return filepath.Join(dir, f) }
	labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "c1", "--memspec", "file="+p("c1.mem")+",snapshot=external",
		"--diskspec", "vda,snapshot=external,file="+p("c1.qcow2"))
	cliText(t, "commit", name, "vda", "--shallow", "--active", "--pivot")
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"top.qcow2", "mid.qcow2", "base.qcow2"}) {
		t.Fatalf("after the pivot: %v", got)
	}
	args := []string{"cleanup", name, "--delete-files"}
	deleted := !remoteFilesRefused(t, args...)
	if !deleted {
		args = withoutDeleteFiles(args) // over ssh: the metadata alone, the files stay
	}
	out := cliText(t, args...)
	for _, f := range []string{"c1.qcow2", "c1.mem"} {
		if _, err := os.Stat(p(f)); deleted != strings.Contains(out, "deleted "+p(f)) || deleted == (err == nil) {
			t.Errorf("%s deleted %v, want %v (%v):\n%s", f, !deleted, deleted, err, out)
		}
	}
	if !strings.Contains(out, "removed metadata of snapshot c1") {
		t.Errorf("c1 kept:\n%s", out)
	}
}
