package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
)

// tuiHosts are the two hosts of the TUI tests: the second one's URI, the
// start of each host's header row (named as hostSpecs names -c URIs),
// and the prefix of this run's domain names.
type tuiHosts struct{ second, rowA, rowB, prefix string }

func twoTUIHosts(t *testing.T) tuiHosts {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux")
	}
	_, second := testhost.Other(t)
	specs := uniqueHosts([]hostSpec{{uriHostName(systemURI), systemURI}, {uriHostName(second), second}})
	return tuiHosts{second: second, rowA: "▾ " + specs[0].Name + " ", rowB: "▾ " + specs[1].Name + " ",
		prefix: fmt.Sprintf("vc10u-%d-", os.Getpid())}
}

// defineOn defines a shut-off domain called name on uri (its disk's file
// need not exist: the TUI shows it as missing) and undefines it at the end.
func defineOn(t *testing.T, uri, name string) {
	t.Helper()
	dom := libvirtxml.Domain{Type: "qemu", Name: name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"}},
		Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/var/tmp/" + name + "/top.qcow2"}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		}}}}
	x, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(f, []byte(x), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virsh", "-c", uri, "define", f).CombinedOutput(); err != nil {
		t.Fatalf("virsh -c %s define: %v: %s", uri, err, out)
	}
	t.Cleanup(func() {
		// Another test may be restarting the shared libvirtd: try again.
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
			out, err := exec.Command("virsh", "-c", uri, "undefine", name).CombinedOutput()
			if err == nil || strings.Contains(string(out), "failed to get domain") || time.Now().After(end) {
				return
			}
		}
	})
}

// The TUI on two real daemons at once (the host under test and
// testhost.Other: this machine's libvirtd and the trixie test host), at
// 80x24 and at 200x50: a header row per host with its versions and state,
// each host's domains under it, the filter across both, and a plan asked
// of the selected domain's host.
func TestIntegrationVc10uTUISeveralHosts(t *testing.T) {
	needIntegration(t)
	h := twoTUIHosts(t)
	second, nameA, nameB, prefix := h.second, h.rowA, h.rowB, h.prefix
	first, other := prefix+"first", prefix+"second"
	defineOn(t, systemURI, first)
	defineOn(t, second, other)
	bin := virtchainBin(t)
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			s := startTmuxSized(t, size[0], size[1], bin, "-c", systemURI, "-c", second)

			// Other tests' domains share the daemons: filter down to ours.
			// Their block jobs may open the jobs panel over the list.
			// The filter comes first: a host that answers later (over ssh)
			// puts its rows above a selection already made, and at 80x24
			// its header would be scrolled away by other tests' domains.
			s.waitFor("virtchain 2 hosts", 30*time.Second)
			closeJobsPanel(s)
			s.keys("/", prefix, "Enter")
			s.waitFor("/"+prefix, 10*time.Second)
			s.waitForRow(30*time.Second, nameA, "libvirt ", "· connected")
			s.waitForRow(30*time.Second, nameB, "libvirt ", "· connected")
			// "(2/N)" while other tests' domains are on the daemons, "(2)" alone.
			s.waitForAny(10*time.Second, "Domains on 2 hosts (2/", "Domains on 2 hosts (2)")
			closeJobsPanel(s)
			scr := s.waitFor(other, 10*time.Second)
			lines := strings.Split(scr, "\n")
			order := []string{nameA, first, nameB, other}
			at := 0
			for _, l := range lines {
				if at < len(order) && strings.Contains(l, order[at]) {
					at++
				}
			}
			if at != len(order) {
				t.Fatalf("rows not grouped as %q:\n%s", order, scr)
			}
			for _, l := range lines {
				if w := len([]rune(l)); w > size[0] {
					t.Errorf("line wider than %d: %q", size[0], l)
				}
			}
			t.Logf("screen at %dx%d:\n%s", size[0], size[1], scr)

			// The second host's domain: u plans its start on that host
			// (the first host has no such domain and would refuse).
			closeJobsPanel(s)
			s.keys("End")
			s.keys("u")
			s.waitFor("Start "+other, 10*time.Second)
			scr = s.screen()
			if strings.Contains(scr, "no domain") {
				t.Fatalf("the plan was asked of the wrong host:\n%s", scr)
			}
			// Escape, then q on its own: close together they read as alt+q.
			s.keys("Escape")
			s.waitFor("Domains on 2 hosts", 10*time.Second)
			s.keys("q")
			if st := s.exitStatus(10 * time.Second); st != "0" {
				t.Fatalf("exit status %s:\n%s", st, s.screen())
			}
		})
	}
}

// closeJobsPanel closes the jobs panel when other tests' jobs opened it
// (J would open it when it is closed).
func closeJobsPanel(s *tmuxTUI) {
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(s.screen(), " Block jobs ") {
			s.keys("Escape")
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// startTmuxSized is startTmuxTUI on a terminal of w x h.
func startTmuxSized(t *testing.T, w, h int, bin string, args ...string) *tmuxTUI {
	t.Helper()
	s := &tmuxTUI{t: t, sock: fmt.Sprintf("vc10u-%d-%d", os.Getpid(), w), name: "vc10u"}
	s.tmux(append([]string{"new-session", "-d", "-s", s.name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "--", bin}, args...)...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	s.tmux("set-option", "-t", s.name, "remain-on-exit", "on")
	return s
}

// One of two hosts restarts its libvirtd: its row says lost at once and
// comes back by itself, while the other host's row, domains and plans go
// on working the whole time.
func TestIntegrationVc10uTUIOneHostRestarts(t *testing.T) {
	needRestartable(t)
	h := twoTUIHosts(t)
	second, nameA, nameB, prefix := h.second, h.rowA, h.rowB, h.prefix
	other := prefix + "second"
	defineOn(t, second, other)
	s := startTmuxSized(t, 80, 24, virtchainBin(t), "-c", systemURI, "-c", second)
	s.waitFor("virtchain 2 hosts", 30*time.Second)
	closeJobsPanel(s)
	s.waitForRow(30*time.Second, nameA, "· connected")
	s.waitForRow(30*time.Second, nameB, "· connected")
	s.keys("/", prefix, "Enter")
	s.waitFor(other, 10*time.Second)

	start := testhost.Stop(t)
	s.waitForRow(10*time.Second, nameA, "lost; reconnecting")
	s.waitForRow(5*time.Second, nameB, "· connected")
	t.Logf("while %s is down:\n%s", systemURI, s.screen())
	// The other host still plans: u on its domain.
	s.keys("End")
	s.keys("u")
	s.waitFor("Start "+other, 10*time.Second)
	s.keys("Escape")
	s.waitFor("Domains on 2 hosts", 10*time.Second)
	start()
	s.waitForRow(30*time.Second, nameA, "· connected")
	scr := s.waitFor("reconnected to ", 10*time.Second)
	// The footer cuts a long URI (a test host's socket path) with "…".
	_, said, _ := strings.Cut(scr, "reconnected to ")
	said, _, _ = strings.Cut(said, "\n")
	if said = strings.TrimSuffix(strings.TrimSpace(said), "…"); said == "" || !strings.HasPrefix(systemURI, said) {
		t.Fatalf("the footer names %q, not %s:\n%s", said, systemURI, scr)
	}
	t.Logf("after the restart:\n%s", scr)
	s.keys("q")
	if st := s.exitStatus(10 * time.Second); st != "0" {
		t.Fatalf("exit status %s:\n%s", st, s.screen())
	}
}
