package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Files libvirtd would block or spin on (issue 7, item 3), against the real
// libvirtd on domains of their own (vc7q-*). Every command must refuse at
// once, before libvirt is asked: had it asked, libvirtd would sit in an
// open() of the FIFO, so each command is given a few seconds and then the
// FIFO is opened from here, which lets libvirtd go on (the test then fails).

// refusedAtOnce runs virtchain with args and checks that it refuses within
// a few seconds, with one line holding want, and that libvirtd still
// answers on the domain. fifos are opened if the command hangs on them.
func refusedAtOnce(t *testing.T, domain string, fifos []string, want []string, args ...string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		code, _, stderr := runMain(t, append([]string{"-c", systemURI}, args...)...)
		done <- result{code, stderr}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("%q: no answer after 5 s: libvirtd was asked; opening %v to let it go on", args, fifos)
		for r.stderr == "" && r.code == 0 {
			for _, f := range fifos {
				unblockFIFO(f)
			}
			select {
			case r = <-done:
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	t.Logf("%q: exit %d after %v: %s", args, r.code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stderr))
	if r.code != 1 {
		t.Errorf("%q: exit %d, want 1", args, r.code)
	}
	wantOneLine(t, r.stderr, want...)
	if domain != "" {
		answered := make(chan error, 1)
		go func() { answered <- exec.Command("virsh", "-c", systemURI, "domstate", domain).Run() }()
		select {
		case err := <-answered:
			if err != nil {
				t.Errorf("virsh domstate %s: %v", domain, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("virsh domstate %s does not answer: libvirtd is blocked", domain)
			for _, f := range fifos {
				unblockFIFO(f)
			}
		}
	}
}

// unblockFIFO opens both ends of a FIFO and closes them: whoever sits in
// an open() of it goes on, and then reads EOF or fails to write.
func unblockFIFO(path string) {
	if fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
		time.Sleep(50 * time.Millisecond)
		_ = syscall.Close(fd)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshotNames lists a domain's snapshots as libvirt knows them.
func snapshotNames(t *testing.T, domain string) string {
	t.Helper()
	return strings.Join(strings.Fields(labVirsh(t, "snapshot-list", domain, "--name")), " ")
}

// A FIFO in the chain, where the base image was: every operation refuses
// it, running and shut off, and libvirtd is never asked.
func TestIntegrationVc7qFIFOInChainRefused(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7q-chain")
	base, ov, saved := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "ov.qcow2"), filepath.Join(dir, "d.save")
	labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "s1", "--disk-only", "--atomic",
		"--diskspec", "vda,snapshot=external,file="+ov)
	labVirsh(t, "save", name, saved)
	labVirsh(t, "restore", saved)

	// QEMU keeps its open base; the path now names a FIFO.
	if err := os.Rename(base, base+".real"); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, base)
	t.Cleanup(func() {
		unblockFIFO(base)
		_ = os.Remove(base)
		_ = os.Rename(base+".real", base)
	})
	fifos := []string{base}
	want := []string{"layer " + base + " of vda: not a regular file or block device: a FIFO", "repair the chain first"}

	refusedAtOnce(t, name, fifos, want, "snapshot", "create", name, "i2")
	refusedAtOnce(t, name, fifos, want, "snapshot", "create", name, "e2", "--external", "--disk-only")
	refusedAtOnce(t, name, fifos, want, "snapshot", "revert", name, "s1", "--running")
	refusedAtOnce(t, name, fifos, want, "snapshot", "delete", name, "s1")
	refusedAtOnce(t, name, fifos, want, "save", name, filepath.Join(dir, "x.save"))
	refusedAtOnce(t, name, fifos, want, "managedsave", name)
	if got := domState(t, name); got != "running" {
		t.Errorf("domain %s after the refusals, want running", got)
	}

	labVirsh(t, "destroy", name)
	refusedAtOnce(t, name, fifos, want, "start", name)
	refusedAtOnce(t, name, fifos, want, "restore", saved)

	if got := snapshotNames(t, name); got != "s1" {
		t.Errorf("snapshots %q, want only s1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.save")); err == nil {
		t.Error("x.save was written")
	}
	if got := domState(t, name); got != "shut off" {
		t.Errorf("domain %s, want shut off", got)
	}
}

// Files virtchain is handed must be regular files, or not exist yet for
// one it creates: FIFOs, a symlink to a FIFO or to nothing, a folder and a
// device are refused, in one wording, before libvirt is called.
func TestIntegrationVc7qHandedFilesMustBeRegular(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7q-files")
	fifo, link, dangling, folder := filepath.Join(dir, "f.fifo"), filepath.Join(dir, "link"), filepath.Join(dir, "dangling"), filepath.Join(dir, "folder")
	mkfifo(t, fifo)
	t.Cleanup(func() { unblockFIFO(fifo) })
	for _, err := range []error{os.Symlink(fifo, link), os.Symlink(filepath.Join(dir, "nowhere"), dangling), os.Mkdir(folder, 0o755)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fifos := []string{fifo}
	notRegular := func(what, path string) []string {
		return []string{what + " " + path + " is not a regular file", "give the path of a regular file"}
	}

	for _, p := range []string{fifo, link, dangling, folder, "/dev/null"} {
		refusedAtOnce(t, name, fifos, notRegular("save file", p), "save", name, p)
		refusedAtOnce(t, name, fifos, notRegular("overlay for vda", p), "snapshot", "create", name, "e1", "--external", "--disk-only", "--file", "vda="+p)
		refusedAtOnce(t, name, fifos, notRegular("memory file", p), "snapshot", "create", name, "c1", "--external", "--memory-file", p)
	}
	// A restore reads the file: libvirtd would sit in an open() of a FIFO.
	for _, p := range []string{fifo, link, dangling, folder, "/dev/null"} {
		refusedAtOnce(t, name, fifos, notRegular("save file", p), "restore", p)
	}

	if got := domState(t, name); got != "running" {
		t.Errorf("domain %s, want running", got)
	}
	if got := snapshotNames(t, name); got != "" {
		t.Errorf("snapshots %q, want none", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("a file was written through the dangling symlink")
	}
}

// A chain that loops (an image backed by itself): every operation on the
// shut-off domain refuses it, and libvirtd starts no qemu-img on it.
func TestIntegrationVc7qLoopInChainRefused(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7q-loop")
	base := filepath.Join(dir, "base.qcow2")
	labVirsh(t, "destroy", name)
	labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "i1")
	labTool(t, "qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", base, "-F", "qcow2", base)

	// Watch for a qemu-img of libvirtd's on this folder; kill it if one
	// comes (it would be the bug), so it cannot grow.
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if pid, cmdline := findProcess("qemu-img", dir); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				select {
				case seen <- cmdline:
				default:
				}
			}
		}
	}()
	want := []string{"layer " + base + " of vda: backing chain loop: same file as " + base, "repair the chain first"}
	refusedAtOnce(t, name, nil, want, "start", name)
	refusedAtOnce(t, name, nil, want, "snapshot", "create", name, "i2")
	refusedAtOnce(t, name, nil, want, "snapshot", "revert", name, "i1")
	refusedAtOnce(t, name, nil, want, "snapshot", "delete", name, "i1")
	close(stop)
	select {
	case c := <-seen:
		t.Errorf("libvirtd ran %s", c)
	default:
	}
	if got := snapshotNames(t, name); got != "i1" {
		t.Errorf("snapshots %q, want only i1", got)
	}
}

// findProcess finds a running program whose command line holds word.
func findProcess(program, word string) (int, string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != program || !strings.Contains(string(b), word) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			return pid, strings.Join(args, " ")
		}
	}
	return 0, ""
}
