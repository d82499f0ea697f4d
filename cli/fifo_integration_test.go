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

	"golang.org/x/sys/unix"

	"virtchain/libvirtx/testhost"
)

// Files libvirtd would block or spin on (issue 7, item 3), against the real
// libvirtd on domains of their own (vc7q-*). Every command must refuse at
// once, before libvirt is asked: had it asked, libvirtd would sit in an
// open() of the FIFO, so each command is given a few seconds and then the
// FIFO is opened from here, which lets libvirtd go on (the test then fails).
// And signals: a call really blocked in libvirtd (its save file's
// filesystem frozen) must not keep virtchain from ending.

// noFIFOsRemotely is why the test of a FIFO in a running chain cannot run
// over a remote connection.
const noFIFOsRemotely = "over a remote connection a running domain's chain is its live XML, whose layers virtchain does not look up one by one through storage pools (a FIFO is told from a missing file only by such a lookup), so a FIFO swapped in under a running QEMU is not refused before libvirt is called"

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
	// Over ssh a command's one discovery reads every shut-off chain of the
	// shared host through storage pools: seconds, not a hang.
	patience := 5 * time.Second
	if testhost.OverSSH() {
		patience = 30 * time.Second
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(patience):
		t.Errorf("%q: no answer after %s: libvirtd was asked; opening %v to let it go on", args, patience, fifos)
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
		go func() { answered <- exec.Command("virsh", "-c", hostURI, "domstate", domain).Run() }()
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
	testhost.NeedDirect(t, noFIFOsRemotely)
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
//
// Over a remote connection the storage API tells them apart too (a FIFO is
// no volume and cannot be opened as a folder), except a dangling symlink,
// which it cannot tell from a missing file: that case runs only directly.
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

	paths := []string{fifo, link, dangling, folder, "/dev/null"}
	if testhost.OverSSH() {
		paths = []string{fifo, link, folder, "/dev/null"}
	}
	for _, p := range paths {
		refusedAtOnce(t, name, fifos, notRegular("save file", p), "save", name, p)
		refusedAtOnce(t, name, fifos, notRegular("overlay for vda", p), "snapshot", "create", name, "e1", "--external", "--disk-only", "--file", "vda="+p)
		refusedAtOnce(t, name, fifos, notRegular("memory file", p), "snapshot", "create", name, "c1", "--external", "--memory-file", p)
	}
	// A restore reads the file: libvirtd would sit in an open() of a FIFO.
	for _, p := range paths {
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

// frozenFS mounts a small filesystem of its own under dir and returns its
// mount point and a freeze function: once frozen, any write there (libvirtd
// creating a save file) waits until the cleanup thaws it. Only this
// filesystem stops; the cleanup thaws it, waits for domain's job to end and
// unmounts it.
func frozenFS(t *testing.T, dir, domain string) (mnt string, freeze func()) {
	t.Helper()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	labTool(t, "truncate", "-s", "256M", img)
	labTool(t, "mkfs.ext4", "-q", "-F", img)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	labTool(t, "mount", "-o", "loop", img, mnt)
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		thaw(mnt)
		// libvirtd finishes what it was doing there, then lets go of it.
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if out, _ := exec.Command("virsh", "-c", hostURI, "domjobinfo", domain).Output(); !strings.Contains(string(out), "Unbounded") {
				break
			}
		}
		for i := 0; i < 50; i++ {
			if exec.Command("umount", mnt).Run() == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		_ = exec.Command("umount", "-l", mnt).Run()
	})
	return mnt, func() { labTool(t, "fsfreeze", "--freeze", mnt) }
}

func thaw(mnt string) { _ = exec.Command("fsfreeze", "--unfreeze", mnt).Run() }

// libvirtdBlocked waits until a thread of libvirtd waits for a frozen
// filesystem (wchan percpu_rwsem_wait, as in an open() there).
func libvirtdBlocked(limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		comms, _ := filepath.Glob("/proc/[0-9]*/comm")
		for _, c := range comms {
			if b, _ := os.ReadFile(c); strings.TrimSpace(string(b)) != "libvirtd" {
				continue
			}
			chans, _ := filepath.Glob(filepath.Join(filepath.Dir(c), "task", "[0-9]*", "wchan"))
			for _, w := range chans {
				if b, _ := os.ReadFile(w); string(b) == "percpu_rwsem_wait" {
					return true
				}
			}
		}
	}
	return false
}

// waitState waits until virsh domstate says want.
func waitState(t *testing.T, domain, want string, limit time.Duration) bool {
	t.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		// libvirtd may be restarting (other tests do): ask again.
		if out, err := exec.Command("virsh", "-c", hostURI, "domstate", domain).Output(); err == nil && strings.TrimSpace(string(out)) == want {
			return true
		}
	}
	return false
}

// SIGTERM and SIGINT end virtchain within 2 s while libvirtd is blocked in
// its save (the save file's filesystem is frozen), with one line naming
// the save that goes on in libvirtd. After the thaw the save completes
// there, as the line said it might.
func TestIntegrationVc7qSignalEndsBlockedSave(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7q-sig")
	bin := virtchainBin(t)
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		sub := filepath.Join(dir, sig.String()[:3]+strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		mnt, freeze := frozenFS(t, sub, name)
		file := filepath.Join(mnt, "d.save")
		freeze()
		cmd := exec.Command(bin, "-c", systemURI, "save", name, file)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// libvirtd creates the file holding the domain's lock, so no
		// libvirt call can tell when it waits there: its thread sleeps in
		// the frozen filesystem (state D). Keep that short: other clients
		// listing domains wait on that lock too.
		if !libvirtdBlocked(30 * time.Second) {
			thaw(mnt)
			<-exited
			t.Fatalf("the save never reached libvirtd: %s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
		sent := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		var err error
		select {
		case err = <-exited:
		case <-time.After(2 * time.Second):
			t.Errorf("%v: virtchain still runs 2 s after the signal", sig)
			thaw(mnt)
			err = <-exited
		}
		took := time.Since(sent)
		t.Logf("%v: virtchain ended %v after the signal (%v): %s", sig, took.Round(time.Millisecond), err, strings.TrimSpace(stderr.String()))
		want := "virtchain: interrupted while libvirtd was saving " + name + " to " + file +
			"; it may still be running there (check with virsh domjobinfo " + name + ")\n"
		if stderr.String() != want {
			t.Errorf("%v: stderr %q, want %q", sig, stderr.String(), want)
		}
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("%v: exit %d, want 1", sig, code)
		}
		// The save goes on in libvirtd once the filesystem thaws.
		thaw(mnt)
		if !waitState(t, name, "shut off", 60*time.Second) {
			t.Fatalf("%v: the save did not finish in libvirtd", sig)
		}
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			t.Fatalf("%v: save file: %v", sig, err)
		}
		labVirsh(t, "restore", file)
	}
}

// waitOutput waits until the terminal has shown want, or fails.
func waitOutput(t *testing.T, out *syncBuffer, want string, exited <-chan error) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("virtchain ended (%v) before showing %q:\n%q", err, want, out.String())
		default:
		}
		if time.Now().After(end) {
			o := out.String()
			t.Fatalf("the terminal never showed %q; it ends with:\n%q", want, o[max(0, len(o)-3000):])
		}
	}
}

// A SIGTERM ends the TUI within 2 s while its discovery is blocked in
// libvirtd (a save of another virtchain holds the domain's lock there),
// gives the terminal back (cooked mode, main screen) and says so in one
// line on stderr.
func TestIntegrationVc7qSignalEndsTUI(t *testing.T) {
	name, dir := snapCLIDomainAs(t, "vc7q-tui")
	bin := virtchainBin(t)
	mnt, freeze := frozenFS(t, dir, name)

	freeze()
	holder := exec.Command(bin, "-c", systemURI, "save", name, filepath.Join(mnt, "d.save"))
	var holderErr syncBuffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- holder.Wait() }()
	t.Cleanup(func() {
		thaw(mnt)
		<-held
	})
	if !libvirtdBlocked(30 * time.Second) {
		t.Fatalf("the save never reached libvirtd: %s", holderErr.String())
	}

	out, master, cmd, exited := startTUI(t, bin, "-c", systemURI)
	waitOutput(t, out, "reading libvirt", exited)
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(2 * time.Second):
		t.Errorf("the TUI still runs 2 s after SIGTERM")
		thaw(mnt)
		err = <-exited
	}
	took := time.Since(sent)
	thaw(mnt)
	time.Sleep(100 * time.Millisecond) // let the reader drain the terminal
	screen := out.String()
	// The last line comes after the terminal is given back.
	left := strings.LastIndex(screen, "\x1b[?1049l")
	if left < 0 || strings.LastIndex(screen, "\x1b[?1049h") > left {
		t.Fatalf("the alternate screen was not left; terminal ends with %q", screen[max(0, len(screen)-200):])
	}
	last := strings.TrimLeft(screen[left+len("\x1b[?1049l"):], "\r\n")
	if i := strings.Index(last, "virtchain: "); i >= 0 {
		last = last[i:]
	}
	t.Logf("the TUI ended %v after SIGTERM (%v): %q", took.Round(time.Millisecond), err, last)
	wantOneLine(t, strings.ReplaceAll(last, "\r\n", "\n"), "virtchain: interrupted")
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	tio, terr := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS) // the slave's settings
	if terr != nil {
		t.Fatal(terr)
	}
	if tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("terminal left in raw mode: lflag %#x", tio.Lflag)
	}
}
