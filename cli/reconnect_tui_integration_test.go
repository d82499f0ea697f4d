package cli

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
)

// tmuxTUI is virtchain's TUI in a detached 80x24 tmux session on a tmux
// server of its own: capture-pane gives the screen as a terminal shows it.
type tmuxTUI struct {
	t          *testing.T
	sock, name string
}

func startTmuxTUI(t *testing.T, bin string, args ...string) *tmuxTUI {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux")
	}
	s := &tmuxTUI{t: t, sock: fmt.Sprintf("vc7r-%d", os.Getpid()), name: "vc7r"}
	// The server inherits this process's environment (XDG_STATE_HOME).
	s.tmux(append([]string{"new-session", "-d", "-s", s.name, "-x", "80", "-y", "24", "--", bin}, args...)...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	s.tmux("set-option", "-t", s.name, "remain-on-exit", "on")
	return s
}

func (s *tmuxTUI) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %q: %v: %s", args, err, out)
	}
	return string(out)
}

func (s *tmuxTUI) screen() string { return s.tmux("capture-pane", "-p", "-t", s.name) }

func (s *tmuxTUI) keys(k ...string) { s.tmux(append([]string{"send-keys", "-t", s.name}, k...)...) }

// waitFor polls the screen until it shows want.
func (s *tmuxTUI) waitFor(want string, within time.Duration) string {
	s.t.Helper()
	return s.waitForAny(within, want)
}

// waitForAny polls the screen until it shows one of wants.
func (s *tmuxTUI) waitForAny(within time.Duration, wants ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		scr := s.screen()
		for _, want := range wants {
			if strings.Contains(scr, want) {
				return scr
			}
		}
		if time.Now().After(deadline) {
			if len(wants) == 1 {
				s.t.Fatalf("the screen did not show %q within %s:\n%s", wants[0], within, scr)
			}
			s.t.Fatalf("the screen showed none of %q within %s:\n%s", wants, within, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForRow polls the screen until one line shows all of parts (a job's
// row: other tests' jobs share the panel).
func (s *tmuxTUI) waitForRow(within time.Duration, parts ...string) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		scr := s.screen()
		for _, l := range strings.Split(scr, "\n") {
			n := 0
			for _, p := range parts {
				if strings.Contains(l, p) {
					n++
				}
			}
			if n == len(parts) {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no line of the screen showed %q within %s:\n%s", parts, within, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exitStatus waits for the program to end and returns its status. tmux
// sometimes leaves an ended pane's process a zombie for long; its exit
// code is then read from /proc (field 52 of stat, as waitpid reports it).
func (s *tmuxTUI) exitStatus(within time.Duration) string {
	s.t.Helper()
	pid := strings.TrimSpace(s.tmux("display-message", "-p", "-t", s.name, "#{pane_pid}"))
	deadline := time.Now().Add(within)
	for {
		st := strings.Fields(s.tmux("display-message", "-p", "-t", s.name, "#{pane_dead} #{pane_dead_status}"))
		if len(st) == 2 && st[0] == "1" {
			return st[1]
		}
		if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
			if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) >= 50 && f[0] == "Z" {
				code, _ := strconv.Atoi(f[49])
				if code&0x7f != 0 {
					return "signal " + strconv.Itoa(code&0x7f)
				}
				return strconv.Itoa(code >> 8)
			}
		}
		if time.Now().After(deadline) {
			ps, _ := exec.Command("ps", "-L", "-o", "pid,tid,stat,wchan:30,comm", "-p", pid).CombinedOutput()
			// Where it hangs: Go's goroutine dump lands in the pane.
			_ = exec.Command("kill", "-QUIT", pid).Run()
			time.Sleep(time.Second)
			s.t.Fatalf("virtchain did not end within %s:\n%s\n%s", within, ps, s.tmux("capture-pane", "-p", "-S", "-3000", "-t", s.name))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The TUI across a libvirtd restart: the screen says at once that the
// connection is lost, a key that needs the host says "not connected", and
// once libvirtd is back it says so, re-attaches to the running active
// commit and carries out the pivot its intent records; refresh works.
func TestIntegrationVc7rTUIReconnects(t *testing.T) {
	needRestartable(t)
	lab := newPivotLab(t, "vc7r-tui-")
	// 16 MiB more: at 1 MiB/s the mirror is still copying when libvirtd
	// goes, so the pivot is the reconnected watcher's.
	labVirsh(t, "qemu-monitor-command", lab.name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x5c 24M 16M"`)
	jobCLIFlush(t, lab.name)
	bin := virtchainBin(t)
	tui := startTmuxTUI(t, bin, "-c", systemURI, "--domain", lab.name)
	tui.waitFor(" domain", 30*time.Second) // the title bar: read (others' jobs may cover the list)
	// Started by a virtchain that went away: the TUI finds it, with its intent.
	killAfterLine(t, bin, " vda active-commit ", "commit", lab.name, "vda", "--shallow", "--active", "--pivot", "--bandwidth", "1")
	// Others' jobs may have opened the panel already: J would close it.
	// A job the rescan finds opens the panel by itself.
	tui.keys("C-r") // looks for new jobs too
	for end := time.Now().Add(3 * time.Second); !strings.Contains(tui.screen(), " Block jobs "); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			tui.keys("J")
			break
		}
	}
	tui.waitForRow(10*time.Second, lab.name+" vda active-commit", "running, pivots at READY")

	// Watched while libvirtd shuts down (which takes seconds): the
	// screen must not wait for the daemon to be gone.
	const lostLine = "connection lost; reconnecting"
	shown := make(chan time.Time, 1)
	go func() {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if out, _ := exec.Command("tmux", "-L", tui.sock, "capture-pane", "-p", "-t", tui.name).Output(); strings.Contains(string(out), lostLine) {
				shown <- time.Now()
				return
			}
		}
		close(shown)
	}()
	kill := time.Now()
	start := testhost.Stop(t)
	exited := time.Since(kill)
	at, ok := <-shown
	if !ok {
		t.Fatalf("the screen did not say the connection was lost:\n%s", tui.screen())
	}
	t.Logf("the screen said lost %s after libvirtd was told to stop (it took %s to exit)", at.Sub(kill).Round(10*time.Millisecond), exited.Round(10*time.Millisecond))
	tui.keys("C-r")
	tui.waitFor("not connected: reconnecting", 5*time.Second)
	start()
	up := time.Now()
	tui.waitFor("reconnected to ", 15*time.Second)
	t.Logf("the screen said reconnected %s after libvirtd answered", time.Since(up).Round(10*time.Millisecond))
	tui.waitForRow(60*time.Second, lab.name+" vda active-commit", "✔ completed")
	if got := jobCLIChain(t, lab.name); !reflect.DeepEqual(got, lab.all[1:]) {
		t.Fatalf("after the reconnect the chain is %v, want the pivot done", got)
	}
	if n := lab.intents(); len(n) != 0 {
		t.Fatalf("intent left after the pivot: %v", n)
	}

	// A refresh reads the host again without an error.
	tui.keys("Escape")
	tui.keys("C-r")
	time.Sleep(time.Second)
	scr := tui.waitFor(" domain", 10*time.Second)
	// Others' jobs on the shared daemon may show their own failures.
	for _, bad := range []string{"not connected", "discovery on", "lost; reconnecting"} {
		if strings.Contains(scr, bad) {
			t.Errorf("after the refresh the screen has %q:\n%s", bad, scr)
		}
	}
	tui.keys("q")
	if st := tui.exitStatus(10 * time.Second); st != "0" {
		t.Fatalf("exit status %s:\n%s", st, tui.screen())
	}
}
