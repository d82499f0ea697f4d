package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the master and slave ends of a new pseudo-terminal sized
// 80x24, the smallest terminal virtchain must fit.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// virtchainBin is the binary under test: $VIRTCHAIN_BIN (make test sets
// it) or a fresh build.
func virtchainBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("VIRTCHAIN_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "virtchain")
	out, err := exec.Command("go", "build", "-tags", "libvirt_dlopen", "-o", bin, "virtchain").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer collects the terminal's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTUI runs bin with args on a new 80x24 terminal. It returns what the
// terminal got so far (it keeps collecting), the master end to type into,
// and the exit of the process; a process still running at the end is killed.
func startTUI(t *testing.T, bin string, args ...string) (*syncBuffer, *os.File, *exec.Cmd, chan error) {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	var out syncBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return &out, master, cmd, done
}

// TestIntegrationTUIOpensAndQuits runs `virtchain` without a command on a
// real terminal against the libvirt test driver: the UI must show the
// driver's domain, and q must end it with status 0.
func TestIntegrationTUIOpensAndQuits(t *testing.T) {
	needIntegration(t)
	bin := virtchainBin(t)
	out, master, _, done := startTUI(t, bin, "-c", "test:///default", "--readonly")

	// The test driver has one domain, "test", running.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "test:///default") || !strings.Contains(out.String(), "running") {
		if time.Now().After(deadline) {
			t.Fatalf("the UI did not show the test driver's domain; terminal got:\n%q", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("virtchain ended before quitting: %v\n%q", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after q: %v\n%q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("q did not quit; terminal got:\n%q", out.String())
	}
	if strings.Contains(out.String(), "goroutine ") || strings.Contains(out.String(), "virtchain: ") {
		t.Errorf("error output on the terminal:\n%q", out.String())
	}
}

// Without a terminal the UI refuses at once with one line; a bad URI on a
// terminal fails before the screen is taken.
func TestIntegrationTUIErrors(t *testing.T) {
	needIntegration(t)
	bin := virtchainBin(t)
	master, slave := openPTY(t)
	cmd := exec.Command(bin, "-c", "vct-bogus:///nowhere")
	cmd.Stdin, cmd.Stdout = slave, slave
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	_ = master
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("bad URI on a terminal: %v", err)
	}
	wantOneLine(t, stderr.String(), "cannot connect to vct-bogus:///nowhere")

	out, err := exec.Command(bin, "-c", "test:///default").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("no terminal: %v", err)
	}
	wantOneLine(t, string(out), "needs a terminal")
}
