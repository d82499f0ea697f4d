package cli

import (
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
)

// focusLab builds the lab's shut-off domains deep and shared-b under a
// prefix of its own: virsh's snapshots of a shut-off domain send no libvirt
// event, so only a re-read shows them.
func focusLab(t *testing.T, prefix string) {
	t.Helper()
	dir := labDir(t, prefix)
	labBuild(t, "lab", "up", "--prefix", prefix, "--dir", dir, "--only", "deep", "--only", "shared-b")
}

// labDir is a folder for a lab of prefix, QEMU can traverse it; the lab
// and the folder go when the test ends (lab down on the host's socket,
// where labBuild built it).
func labDir(t *testing.T, prefix string) string {
	t.Helper()
	dir := scratchDomain(t, prefix+"test2", prefix)
	t.Cleanup(func() { labMain("-c", hostURI, "lab", "down", "--prefix", prefix, "--dir", dir) })
	return dir
}

// attachClient attaches a tmux client in a pseudo-terminal (script), so
// tmux has a focused client and sends focus changes to its panes.
func attachClient(t *testing.T, s *tmuxTUI) {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("needs script (bsdutils)")
	}
	r, w := io.Pipe()
	c := exec.Command("script", "-q", "-c", "stty cols 80 rows 24; exec tmux -L "+s.sock+" attach -t "+s.name, "/dev/null")
	c.Stdin, c.Stdout, c.Stderr = r, io.Discard, io.Discard
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.tmux("list-clients"), "focused") {
		if time.Now().After(deadline) {
			t.Fatalf("no focused tmux client: %q", s.tmux("list-clients"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIntegrationVc12rTUIFocusInRereads: a snapshot virsh takes while
// another tmux pane has the focus shows once virtchain's pane gets it back
// (tmux with focus-events on), and not before; a snapshot of another
// domain shows once the cursor moves onto that domain. On a shared host a
// full read that others' domains set off can show them early: the checks
// that nothing showed yet look at once.
func TestIntegrationVc12rTUIFocusInRereads(t *testing.T) {
	testhost.Need(t)
	prefix := "vc12r-focus-"
	focusLab(t, prefix)
	// The connection under test; the direct pass adds the ssh URI beside it.
	uris := map[string]string{testhost.Via(): labURI}
	if u := testhost.SSHURI(); u != "" && !testhost.OverSSH() {
		uris["ssh"] = u
	}
	for _, via := range []string{"direct", "ssh"} {
		if uri, ok := uris[via]; ok {
			t.Run(via, func(t *testing.T) { focusRereads(t, uri, prefix, via) })
			// The next run's tmux server takes the same socket: let this one go.
			time.Sleep(time.Second)
		}
	}
}

func focusRereads(t *testing.T, uri, prefix, tag string) {
	deep, shared := prefix+"deep", prefix+"shared-b"
	snap1, snap2 := "vc12r-virsh-"+tag, "vc12r-virsh2-"+tag
	tui := startTmuxTUI(t, virtchainBin(t), "-c", uri, "--domain", shared)
	tui.tmux("set-option", "-g", "focus-events", "on")
	attachClient(t, tui)
	// Over ssh the first full read goes through the shared host's pools,
	// every shut-off chain and every running chain's headers: on a host
	// with hundreds of others' domains that takes minutes.
	first := 30 * time.Second
	if tag == "ssh" {
		first = 3 * time.Minute
	}
	tui.waitFor(shared+"  Chains", first)
	tui.keys("2")
	tui.waitFor("Snapshots", 10*time.Second)

	// Focus out: another pane; virsh snapshots the selected domain.
	tui.tmux("split-window", "-v", "-l", "3", "-t", tui.name, "sleep 600")
	labVirsh(t, "snapshot-create-as", shared, snap1)
	// Right away: other tests' domains coming and going make the TUI read
	// everything now and then, which would show the snapshot too.
	time.Sleep(200 * time.Millisecond)
	pane := tui.name + ".0"
	if scr := tui.tmux("capture-pane", "-p", "-t", pane); strings.Contains(scr, snap1) {
		t.Fatalf("the snapshot showed before the focus came back (an event or polling?):\n%s", scr)
	}
	start := time.Now()
	tui.tmux("select-pane", "-t", pane)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(tui.tmux("capture-pane", "-p", "-t", pane), snap1) {
		if time.Now().After(deadline) {
			t.Fatalf("the focus came back and the snapshot did not show:\n%s", tui.tmux("capture-pane", "-p", "-t", pane))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: focus-in to the snapshot on screen: %.2f s", uri, time.Since(start).Seconds())
	tui.tmux("kill-pane", "-t", tui.name+".1")

	// The cursor settles on another domain: it is read again.
	tui.keys("h", "/", prefix, "Enter")
	tui.waitForRow(10*time.Second, shared, "shut off")
	before := snapCount(tui.screen(), deep)
	labVirsh(t, "snapshot-create-as", deep, snap2)
	time.Sleep(200 * time.Millisecond)
	if n := snapCount(tui.screen(), deep); n != before {
		t.Fatalf("%s was read again before the cursor moved onto it: %s snapshots, then %s", deep, before, n)
	}
	tui.keys("g") // deep sorts first
	tui.waitFor(deep+"  Chains", 10*time.Second)
	tui.keys("2")
	tui.waitFor(snap2, 5*time.Second)
}

// snapCount is the SNAP column of domain's row in the list.
func snapCount(screen, domain string) string {
	for _, l := range strings.Split(screen, "\n") {
		if f := strings.Fields(l); len(f) >= 7 && strings.Contains(l, " "+domain+" ") {
			return f[len(f)-1]
		}
	}
	return ""
}
