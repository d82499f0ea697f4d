// Package testhost hands integration tests the libvirt host they run
// against. `make test` runs the suite once per host (the machine's own
// libvirtd, then the Debian 13 root that scripts/testhost.sh starts), and
// names the host in the environment, so a failure says which libvirt it
// happened on.
package testhost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The environment `make test` sets for each pass of the suite.
const (
	envIntegration = "VIRTCHAIN_INTEGRATION"  // "1" runs integration tests
	envName        = "VIRTCHAIN_TEST_HOST"    // host name: local, trixie, trixie-backports
	envURI         = "VIRTCHAIN_TEST_URI"     // its libvirt URI
	envRoot        = "VIRTCHAIN_TEST_ROOT"    // the folder its daemons see as /
	envSSHURI      = "VIRTCHAIN_TEST_SSH_URI" // the same host over qemu+ssh
	envVia         = "VIRTCHAIN_TEST_VIA"     // "ssh": URI is the qemu+ssh URI
)

// Enabled reports whether integration tests run in this pass.
func Enabled() bool { return os.Getenv(envIntegration) == "1" }

// Need skips t unless integration tests run in this pass. A pass over ssh
// without an ssh URI fails: it would test the direct path and say ssh.
func Need(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 (make test does) to run it against the real libvirtd")
	}
	if OverSSH() && SSHURI() == "" {
		t.Fatal(envVia + "=ssh needs " + envSSHURI + " (bash scripts/testhost.sh ssh-uri local-ssh, or ssh-uri trixie)")
	}
}

// OverSSH reports a pass whose connection under test is the host's
// qemu+ssh URI (VIRTCHAIN_TEST_VIA=ssh): virtchain then goes through ssh
// and libvirt's remote code paths, while the test's own setup and checks
// (virsh, qemu-img on the files: the machine is the same) use DirectURI.
func OverSSH() bool { return os.Getenv(envVia) == "ssh" }

// NeedDirect skips t in a pass over ssh, saying why the test cannot apply
// to a remote connection. Keep these few: a test that only expects another
// answer remotely checks that answer instead.
func NeedDirect(t testing.TB, why string) {
	t.Helper()
	if OverSSH() {
		t.Skip("not over ssh: " + why)
	}
}

// Via names the pass's transport for messages: "ssh" or "direct".
func Via() string {
	if OverSSH() {
		return "ssh"
	}
	return "direct"
}

// URI is the connection under test: the host's qemu+ssh URI in a pass over
// ssh, else DirectURI.
func URI() string {
	if u := SSHURI(); OverSSH() && u != "" {
		return u
	}
	return DirectURI()
}

// DirectURI is the host's own socket (qemu:///system unless make test
// names another), for the test's setup and oracle: virsh, the daemon's
// answers, whatever must not depend on the path under test.
func DirectURI() string {
	if u := os.Getenv(envURI); u != "" {
		return u
	}
	return "qemu:///system"
}

// SSHURI is the host under test reached over qemu+ssh (through an sshd
// and libvirt's remote helper, as a remote admin's connection goes), or ""
// when no sshd is set up for it. scripts/test.sh starts one for every host
// (testhost.sh up local-ssh for the machine's own libvirtd).
func SSHURI() string { return os.Getenv(envSSHURI) }

// NeedSSH skips t unless integration tests run and the host under test has
// a qemu+ssh URI, and returns that URI. Such a test opens the ssh URI
// beside the direct one itself (to compare the two paths): it runs in the
// direct pass, and a pass over ssh, where both would be ssh, skips it.
func NeedSSH(t testing.TB) string {
	t.Helper()
	Need(t)
	if OverSSH() {
		t.Skip("test of the ssh URI beside the direct one: it runs in the direct pass (" + envVia + " unset)")
	}
	u := SSHURI()
	if u == "" {
		t.Skip("test of a remote connection: no qemu+ssh URI for host " + Name() + " (set " + envSSHURI +
			"; scripts/test.sh does, after 'scripts/testhost.sh up local-ssh' or 'up trixie')")
	}
	return u
}

// Name is the host's name for messages ("local" for the machine's own).
func Name() string {
	if n := os.Getenv(envName); n != "" {
		return n
	}
	return "local"
}

// Root is the folder the host's libvirtd and QEMU see as "/": "/" for the
// machine's own, the debootstrap root for the others. Paths under /var/tmp
// are the same in every root (shared storage); others are not.
func Root() string {
	if r := os.Getenv(envRoot); r != "" {
		return r
	}
	return "/"
}

// InRoot is path as the test process sees a file the host keeps at path
// (a managed-save image, a log).
func InRoot(path string) string { return filepath.Join(Root(), path) }

// Virsh runs virsh against the host (its own socket) and fails t on a non-zero exit.
func Virsh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", DirectURI()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh -c %s %s: %v\n%s", DirectURI(), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// VirshQuiet runs virsh against the host and ignores the outcome, for
// cleanup that may find nothing left to do.
func VirshQuiet(args ...string) {
	_ = exec.Command("virsh", append([]string{"-c", DirectURI()}, args...)...).Run()
}

// daemonPIDs lists the processes named comm whose root is the host's.
func daemonPIDs(comm string) []int {
	root := filepath.Clean(Root())
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if strings.TrimSpace(string(name)) != comm {
			continue
		}
		if r, err := os.Readlink(filepath.Join("/proc", e.Name(), "root")); err == nil && filepath.Clean(r) == root {
			out = append(out, pid)
		}
	}
	return out
}

// LibvirtdRunning reports whether a libvirtd process of the host exists:
// one that crashed (libvirt 9.0's segfaulted once) is gone for good, as
// nothing here restarts it.
func LibvirtdRunning() bool { return len(daemonPIDs("libvirtd")) > 0 }

// Answers reports whether the host's libvirtd answers within a few seconds.
func Answers() bool {
	cmd := exec.Command("timeout", "10", "virsh", "-c", DirectURI(), "version")
	return cmd.Run() == nil
}

// StopLibvirtd stops the host's libvirtd (only this host's: several run on
// the machine) and waits until it is gone. Its QEMU processes keep running.
func StopLibvirtd() error {
	pids := daemonPIDs("libvirtd")
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if len(daemonPIDs("libvirtd")) == 0 {
			return nil
		}
	}
	for _, pid := range daemonPIDs("libvirtd") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}

// StartLibvirtd starts the host's libvirtd when none runs, and waits until
// it answers.
func StartLibvirtd() error {
	if len(daemonPIDs("libvirtd")) == 0 {
		if out, err := exec.Command("chroot", Root(), "libvirtd", "-d").CombinedOutput(); err != nil {
			return fmt.Errorf("start libvirtd on %s: %v %s", Name(), err, out)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if Answers() {
			return nil
		}
	}
	return fmt.Errorf("libvirtd on %s does not answer on %s after a restart", Name(), DirectURI())
}

// RestartLibvirtd stops and starts the host's libvirtd, and makes sure t
// leaves it running whatever happens.
func RestartLibvirtd(t testing.TB) {
	t.Helper()
	Stop(t)()
}

// restartLock serializes restarts between test processes (go test runs
// each package in its own process): two overlapping restarts would each
// see the other's daemon.
const restartLock = "/var/tmp/virtchain-libvirtd-restart.lock"

// Stop stops the host's libvirtd for a test that must see it gone (a
// command or a TUI that says the connection was lost) and returns the
// function that starts it again and waits until it answers. Running
// domains go on: QEMU keeps running. t.Cleanup starts it too, even when
// the test fails first, but other tests share the daemon: keep the time in
// between short. Call start from the test's goroutine. Needs root.
func Stop(t testing.TB) (start func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("stopping libvirtd needs root")
	}
	lock, err := os.OpenFile(restartLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	started := false
	start = func() {
		t.Helper()
		if started {
			return
		}
		started = true
		defer lock.Close() // releases the lock
		if err := StartLibvirtd(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(start)
	if err := StopLibvirtd(); err != nil {
		t.Fatal(err)
	}
	return start
}
