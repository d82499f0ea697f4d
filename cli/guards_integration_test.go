package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Guards across hosts, through the command line: a base image in a
// /var/tmp folder (which both test hosts see at the same path) backs one
// shut-off domain on the host under test (A) and one on the second host
// (B), each through its own overlay.
type vc10gFleet struct {
	aURI, bURI, bName string // bName: B's name with -c A -c B
	dir, base, cfg    string
	aDom, bDom        string
}

func newVc10gFleet(t *testing.T) *vc10gFleet {
	t.Helper()
	needIntegration(t)
	_, bURI := testhost.Other(t)
	f := &vc10gFleet{aURI: systemURI, bURI: bURI}
	if f.aURI == f.bURI {
		t.Skip("test of two hosts: the second host is the host under test")
	}
	f.bName = uniqueHosts([]hostSpec{{uriHostName(f.aURI), f.aURI}, {uriHostName(f.bURI), f.bURI}})[1].Name
	stamp := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	f.aDom, f.bDom = "vc10g-a-"+stamp, "vc10g-b-"+stamp
	f.dir = testhost.SharedDir(t, "vc10g-cli")
	f.base = filepath.Join(f.dir, "base.qcow2")
	testhost.QemuImg(t, "create", "-q", "-f", "qcow2", f.base, "16M")
	testhost.OverlayDomain(t, f.aURI, f.aDom, f.base, "a.qcow2")
	testhost.OverlayDomain(t, f.bURI, f.bDom, f.base, "b.qcow2")
	// No hosts file unless a test writes one.
	f.cfg = t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", f.cfg)
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	return f
}

// hostsFile writes the test's hosts file: A as "here", B as "there",
// with extra lines in B's entry.
func (f *vc10gFleet) hostsFile(t *testing.T, bExtra string) {
	t.Helper()
	text := fmt.Sprintf("[[host]]\nname = \"here\"\nuri = %q\n\n[[host]]\nname = \"there\"\nuri = %q\n%s", f.aURI, f.bURI, bExtra)
	_ = os.MkdirAll(filepath.Join(f.cfg, "virtchain"), 0o755)
	if err := os.WriteFile(filepath.Join(f.cfg, "virtchain", "hosts.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *vc10gFleet) user(host string) string {
	return "chain of " + f.bDom + " vda on host " + host + " (" + model.SamePath + ")"
}

func refusedWith(t *testing.T, what string, code int, stderr string, parts ...string) {
	t.Helper()
	if code == 0 {
		t.Fatalf("%s: exit 0, want a refusal", what)
	}
	wantOneLine(t, stderr, parts...)
}

func TestIntegrationVc10gCommitIntoSharedBaseRefusedAcrossHosts(t *testing.T) {
	f := newVc10gFleet(t)
	commit := []string{"commit", f.aDom, "vda", "--dry-run"}

	// One host: the plan is as before, and its JSON has no word of peers.
	code, out, stderr := runMain(t, append([]string{"-c", f.aURI, "--json"}, commit...)...)
	if code != 0 {
		t.Fatalf("one host: exit %d %s", code, stderr)
	}
	if strings.Contains(out, "guards also read") || strings.Contains(out, "on host") {
		t.Fatalf("one host's plan speaks of hosts: %s", out)
	}

	// -c A -c B: refused, naming B's host and domain and the assumption.
	code, _, stderr = runMain(t, append([]string{"-c", f.aURI, "-c", f.bURI}, commit...)...)
	refusedWith(t, "-c A -c B", code, stderr, "committing into base.qcow2 would change a disk that others still need", f.user(f.bName))

	// The hosts file: B is consulted though only A is selected, by --host
	// or by -c with A's URI; narrowing the selection narrows no guard.
	f.hostsFile(t, "")
	code, _, stderr = runMain(t, append([]string{"--host", "here"}, commit...)...)
	refusedWith(t, "--host here", code, stderr, f.user("there"))
	code, _, stderr = runMain(t, append([]string{"-c", f.aURI}, commit...)...)
	refusedWith(t, "-c A, A in the hosts file", code, stderr, f.user("there"))

	// A host the file says shares no storage is not consulted.
	f.hostsFile(t, "shared_storage = false\n")
	if code, _, stderr = runMain(t, append([]string{"--host", "here"}, commit...)...); code != 0 {
		t.Fatalf("B marked shared_storage = false: exit %d %s", code, stderr)
	}
	_ = os.Remove(filepath.Join(f.cfg, "virtchain", "hosts.toml"))

	// A peer that cannot be reached: a commit (it rewrites the base) is
	// refused with the fix.
	bad := "qemu+unix:///system?socket=" + f.dir + "/vc10g-no-such.sock"
	code, _, stderr = runMain(t, "-c", f.aURI, "-c", bad, "commit", uriHostName(f.aURI)+":"+f.aDom, "vda", "--dry-run")
	refusedWith(t, "unreachable peer", code, stderr, "could not be read", "vc10g-no-such.sock", "so virtchain cannot check that none of its domains uses base.qcow2", "shared_storage = false")

	// Over qemu+ssh to the host under test, B still read.
	if ssh := testhost.SSHURI(); ssh != "" {
		sshName := uniqueHosts([]hostSpec{{uriHostName(ssh), ssh}, {uriHostName(f.bURI), f.bURI}})[1].Name
		code, _, stderr = runMain(t, append([]string{"-c", ssh, "-c", f.bURI}, commit...)...)
		refusedWith(t, "-c SSH -c B", code, stderr, f.user(sshName))
	}
}

func TestIntegrationVc10gCleanupKeepsAFileAPeerUses(t *testing.T) {
	testhost.NeedDirect(t, "cleanup --delete-files is local-only: it deletes a file only while it is still the one the merge's record names by device and inode, which libvirt's storage API does not report, so over ssh it is refused with the remote way, orphans --delete (TestRemoteRefusalsSayWhy; a shared file a peer uses is kept over ssh by TestIntegrationOrphansCLITwoHosts)")
	f := newVc10gFleet(t)
	two := []string{"-c", f.aURI, "-c", f.bURI}
	// A full pull: A no longer reads the base, B still does.
	code, out, stderr := runMain(t, append(two, "pull", f.aDom, "vda", "--json")...)
	if code != 0 {
		t.Fatalf("pull: exit %d %s", code, stderr)
	}
	var res struct {
		LeftFiles []string `json:"left_files"`
		KeptFiles []string `json:"kept_files"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("pull JSON: %v %s", err, out)
	}
	if len(res.KeptFiles) != 1 || !strings.Contains(res.KeptFiles[0], f.user(f.bName)) {
		t.Fatalf("after the pull the left base is kept for B: %+v", res)
	}
	code, _, stderr = runMain(t, append(two, "cleanup", f.aDom, "--delete-files", f.base)...)
	refusedWith(t, "cleanup --delete-files of the shared base", code, stderr, f.base+" is still used by "+f.user(f.bName))
	if _, err := os.Stat(f.base); err != nil {
		t.Fatalf("the shared base is gone: %v", err)
	}
	// One host alone sees no user: the plan would delete it.
	code, out, stderr = runMain(t, "-c", f.aURI, "cleanup", f.aDom, "--delete-files", f.base, "--dry-run")
	if code != 0 || !strings.Contains(out, "rm -- "+f.base) {
		t.Fatalf("one host: exit %d %s %s", code, out, stderr)
	}
}

// The TUI on both hosts: a commit of B's domain into the shared base is
// refused in the plan dialog, naming A's host and domain, and a pull
// says who else keeps reading the base and that A was read.
func TestIntegrationVc10gTUICommitRefusedAcrossHosts(t *testing.T) {
	f := newVc10gFleet(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux")
	}
	aName := uniqueHosts([]hostSpec{{uriHostName(f.aURI), f.aURI}, {uriHostName(f.bURI), f.bURI}})[0].Name
	s := &tmuxTUI{t: t, sock: fmt.Sprintf("vc10g-%d", os.Getpid()), name: "vc10g"}
	s.tmux("new-session", "-d", "-s", s.name, "-x", "100", "-y", "30", "--", virtchainBin(t), "-c", f.aURI, "-c", f.bURI)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.sock, "kill-server").Run() })
	s.tmux("set-option", "-t", s.name, "remain-on-exit", "on")
	s.waitFor("virtchain 2 hosts", 30*time.Second)
	closeJobsPanel(s)
	s.keys("/", f.bDom, "Enter")
	s.waitFor(f.bDom, 10*time.Second)
	closeJobsPanel(s)
	// B's domain, into its chain; mark top and base, commit.
	s.keys("End", "Tab", "t", "j", "b", "c")
	scr := s.waitFor("others still need", 15*time.Second)
	flat := strings.Join(strings.Fields(scr), " ")
	if want := "chain of " + f.aDom + " vda on host " + aName + " (" + model.SamePath + ")"; !strings.Contains(flat, want) {
		t.Fatalf("the refusal lacks %q:\n%s", want, scr)
	}
	s.keys("Escape")
	closeJobsPanel(s)
	s.waitFor("c commit", 10*time.Second)
	s.keys("x", "p")
	scr = s.waitFor("Carry out this plan?", 15*time.Second)
	flat = strings.Join(strings.Fields(scr), " ")
	if !strings.Contains(flat, "guards also read host "+aName) || !strings.Contains(flat, "chain of "+f.aDom+" vda on host "+aName) {
		t.Fatalf("the pull plan does not say what it read:\n%s", scr)
	}
	s.keys("n")
	closeJobsPanel(s)
	s.keys("q")
	if st := s.exitStatus(10 * time.Second); st != "0" {
		t.Fatalf("exit status %s:\n%s", st, s.screen())
	}
}
