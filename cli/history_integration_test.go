package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtchain/libvirtx"
	"virtchain/libvirtx/testhost"
)

// The journal and `virtchain history` against the real libvirtd, driving
// the built binary (VIRTCHAIN_BIN) with a state folder of the test's own
// (VIRTCHAIN_STATE_HOME), on domains named vc11h-*.

type vc11hOp struct {
	ID      string   `json:"id"`
	Op      string   `json:"op"`
	Domain  string   `json:"domain"`
	Target  string   `json:"target"`
	Host    string   `json:"host"`
	User    string   `json:"user"`
	Summary string   `json:"summary"`
	State   string   `json:"state"`
	Error   string   `json:"error"`
	Bytes   int64    `json:"bytes"`
	Seconds float64  `json:"seconds"`
	Check   []string `json:"check"`
	Virsh   []string `json:"virsh"`
}

// vc11hState points every virtchain this test runs at a state folder of
// its own and returns the journal's path.
func vc11hState(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv("VIRTCHAIN_STATE_HOME", base)
	return filepath.Join(base, "virtchain", "history", "journal.jsonl")
}

// vc11hRun runs the binary on the test host and returns its output and
// exit status.
func vc11hRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return vc11hRunOn(t, systemURI, args...)
}

func vc11hRunOn(t *testing.T, uri string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(virtchainBin(t), append([]string{"-c", uri}, args...)...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// vc11hOK runs the binary and fails the test unless it exits 0.
func vc11hOK(t *testing.T, args ...string) string {
	t.Helper()
	return vc11hOKOn(t, systemURI, args...)
}

// vc11hOKOn is vc11hOK on uri.
func vc11hOKOn(t *testing.T, uri string, args ...string) string {
	t.Helper()
	out, errOut, code := vc11hRunOn(t, uri, args...)
	if code != 0 {
		t.Fatalf("virtchain %q: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

func vc11hHistory(t *testing.T, args ...string) []vc11hOp {
	t.Helper()
	var ops []vc11hOp
	out := vc11hOK(t, append([]string{"history", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &ops); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	return ops
}

// Every kind of operation leaves one operation in the journal, ended ok,
// with its host, user, plan summary and equivalent commands; block jobs
// with the bytes moved and the time taken; `history --virsh` is a script
// bash reads.
func TestIntegrationHistoryEveryOp(t *testing.T) {
	needIntegration(t)
	journal := vc11hState(t)
	run, dir := jobCLIDomainNamed(t, "vc11h-run-")
	off, offDir := threeLayerDomain(t, "vc11h-off-", false)

	// A commit left running (no --wait), slowed down, its bandwidth
	// changed, then aborted by a later virtchain that follows it to its
	// end and so journals the commit's end too.
	vc11hOK(t, "commit", run, "vda", "--top", "s3", "--base", "s2", "--bandwidth", "0.1")
	vc11hOK(t, "bandwidth", run, "vda", "0.2")
	vc11hOK(t, "abort", run, "vda", "--wait")
	vc11hOK(t, "commit", run, "vda", "--top", "s3", "--base", "s2", "--wait")
	vc11hOK(t, "pull", run, "vda", "--base", "s1", "--wait")
	vc11hOK(t, "cleanup", run)
	vc11hOK(t, "snapshot", "create", run, "vc11h-e1", "--external", "--disk-only")
	// An active commit with --pivot: the watcher pivots at READY, which
	// is journaled as a job-pivot of its own.
	labVirsh(t, "qemu-monitor-command", run, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x6b 8M 8M"`)
	vc11hOK(t, "commit", run, "vda", "--active", "--shallow", "--pivot")
	save := filepath.Join(dir, "vc11h.save")
	vc11hOK(t, "save", run, save)
	vc11hOK(t, "restore", save)
	vc11hOK(t, "managedsave", run)
	vc11hOK(t, "start", run)
	vc11hOK(t, "managedsave", run)
	vc11hOK(t, "managedsave-remove", run)

	vc11hOK(t, "snapshot", "create", off, "vc11h-i1")
	vc11hOK(t, "snapshot", "revert", off, "vc11h-i1")
	vc11hOK(t, "snapshot", "delete", off, "vc11h-i1")
	vc11hOK(t, "commit", off, "vda", "--top", filepath.Join(offDir, "mid.qcow2"), "--shallow")
	kinds := []string{"commit", "active-commit", "pull", "cleanup", "snapshot-create", "job-bandwidth", "job-abort", "job-pivot", "save", "restore",
		"managedsave", "start", "managedsave-remove", "snapshot-revert", "snapshot-delete"}
	if testhost.Name() == "local" {
		labDir := filepath.Join(dir, "lab")
		// The lab is built on the host's socket: over ssh lab up refuses
		// (TestIntegrationLab), so its journal names hostURI.
		vc11hOKOn(t, hostURI, "lab", "up", "--prefix", "vc11h-lab-", "--dir", labDir, "--only", "deep")
		t.Cleanup(func() { _, _, _ = vc11hRunOn(t, hostURI, "lab", "down", "--prefix", "vc11h-lab-", "--dir", labDir) })
		vc11hOKOn(t, hostURI, "lab", "down", "--prefix", "vc11h-lab-", "--dir", labDir)
		kinds = append(kinds, "lab-up", "lab-down")
	}

	ops := vc11hHistory(t)
	seen := map[string]int{}
	for i, o := range ops {
		seen[o.Op]++
		wantHost := systemURI
		if strings.HasPrefix(o.Op, "lab-") {
			wantHost = hostURI
		}
		if o.Host != wantHost || o.User == "" || o.Summary == "" || o.ID == "" {
			t.Errorf("%s: host %q (want %q) user %q summary %q", o.Op, o.Host, wantHost, o.User, o.Summary)
		}
		if len(o.Virsh) == 0 {
			t.Errorf("%s on %s: no equivalent command", o.Op, o.Domain)
		}
		want := "ok"
		if i == 0 {
			want = "cancelled" // the aborted commit
		}
		if o.State != want {
			t.Errorf("%s on %s: state %q (%s), want %q", o.Op, o.Domain, o.State, o.Error, want)
		}
		if (o.Op == "commit" || o.Op == "active-commit" || o.Op == "pull") && (o.Seconds <= 0 || (want == "ok" && o.Bytes <= 0)) {
			t.Errorf("%s on %s: bytes %d seconds %v", o.Op, o.Domain, o.Bytes, o.Seconds)
		}
	}
	if len(ops) == 0 || ops[0].Op != "commit" {
		t.Errorf("the first operation is not the aborted commit: %+v", ops)
	}
	for _, k := range kinds {
		if seen[k] == 0 {
			t.Errorf("no %s in the history: %v", k, seen)
		}
	}
	// The revert's keep snapshot is part of the revert, not an operation.
	if seen["commit"] != 3 || seen["snapshot-create"] != 2 || seen["managedsave"] != 2 {
		t.Errorf("commits %d (want 3: aborted, running, offline), snapshot creates %d (want 2), managedsaves %d (want 2)", seen["commit"], seen["snapshot-create"], seen["managedsave"])
	}

	// Filtered by domain, newest last, in a table.
	if got := vc11hHistory(t, off); len(got) != 4 || got[0].Op != "snapshot-create" || got[3].Op != "commit" {
		t.Errorf("history %s: %+v", off, got)
	}
	text := vc11hOK(t, "history", off)
	if !strings.Contains(text, "snapshot-revert") || !strings.Contains(text, "journal: "+journal) ||
		strings.Index(text, "snapshot-create") > strings.Index(text, "snapshot-delete") {
		t.Errorf("history %s:\n%s", off, text)
	}

	script := vc11hOK(t, "history", "--virsh")
	f := filepath.Join(t.TempDir(), "replay.sh")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s\n%s", err, out, script)
	}
	for _, want := range []string{"virsh blockcommit", "virsh blockpull", "virsh save", "virsh restore", "virsh blockjob"} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	vc11hJournalFile(t, journal)
}

// vc11hJournalFile checks the journal's place and modes, and that each of
// its lines is one whole JSON object.
func vc11hJournalFile(t *testing.T, journal string) {
	t.Helper()
	st, err := os.Lstat(journal)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal %s: %v %v", journal, st.Mode(), err)
	}
	if st, err := os.Lstat(filepath.Dir(journal)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("journal folder: %v %v", st.Mode(), err)
	}
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["id"] == nil || m["event"] == nil {
			t.Errorf("journal line %q: %v", sc.Text(), err)
		}
	}
}

// A `commit --wait` killed with -9 mid-job is "interrupted" with what to
// look at; a later virtchain that follows the job to its end records how
// it ended. A begin written by a virtchain that crashed before libvirt
// was called is "interrupted" too.
func TestIntegrationHistoryInterrupted(t *testing.T) {
	needIntegration(t)
	journal := vc11hState(t)
	name, _ := jobCLIDomainNamed(t, "vc11h-kill-")
	labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x6b 8M 8M"`)
	// Progress lines come once the job runs; -9 leaves no time to say more.
	killAfterLine(t, virtchainBin(t), "%", "commit", name, "vda", "--active", "--shallow", "--pivot", "--bandwidth", "1", "--wait")
	ops := vc11hHistory(t, name)
	if len(ops) != 1 || ops[0].State != "interrupted" || ops[0].Op != "active-commit" {
		t.Fatalf("after kill -9: %+v", ops)
	}
	text := vc11hOK(t, "history", name)
	for _, want := range []string{"interrupted", "look at: virtchain -c " + shellWord(systemURI) + " jobs", "blockjob " + name + " vda --info"} {
		if !strings.Contains(text, want) {
			t.Errorf("history lacks %q:\n%s", want, text)
		}
	}
	vc11hOK(t, "abort", name, "vda", "--wait")
	ops = vc11hHistory(t, name)
	if len(ops) != 2 || ops[0].State != "cancelled" || ops[0].Bytes <= 0 || ops[1].Op != "job-abort" || ops[1].State != "ok" {
		t.Errorf("after abort --wait: %+v", ops)
	}

	// Ctrl-C instead: virtchain stops following the job on purpose and
	// says so; the job goes on, "started" until a virtchain sees it end.
	signalAfterLine(t, virtchainBin(t), "%", os.Interrupt, "commit", name, "vda", "--active", "--shallow", "--pivot", "--bandwidth", "1", "--wait")
	ops = vc11hHistory(t, name)
	if len(ops) != 3 || ops[2].Op != "active-commit" || ops[2].State != "started" {
		t.Fatalf("after ctrl-c: %+v", ops)
	}
	vc11hOK(t, "abort", name, "vda", "--wait")
	ops = vc11hHistory(t, name)
	if len(ops) != 4 || ops[2].State != "cancelled" {
		t.Fatalf("after the second abort: %+v", ops)
	}

	// A crash right after the begin entry: nothing else was written.
	crash := fmt.Sprintf(`{"id":"vc11h-crash","event":"begin","time":%q,"user":"root","pid":999999999,"host":%q,"op":"snapshot-create","domain":%q,"summary":"create snapshot x","virsh":["virsh snapshot-create-as --domain %s --name x"]}`+"\n",
		time.Now().UTC().Format(time.RFC3339Nano), systemURI, name, name)
	f, err := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(crash + "{torn line\n")
	_ = f.Close()
	ops = vc11hHistory(t, name)
	if len(ops) != 5 || ops[4].State != "interrupted" || len(ops[4].Check) == 0 {
		t.Errorf("with a crashed begin: %+v", ops)
	}
	script := vc11hOK(t, "history", "--virsh", name)
	if !strings.Contains(script, "\n# virsh snapshot-create-as --domain "+name+" --name x\n") {
		t.Errorf("an interrupted operation's command is not a comment:\n%s", script)
	}
}

func shellWord(s string) string {
	if strings.ContainsAny(s, "?&=;") {
		return "'" + s + "'"
	}
	return s
}

// A journal that is a symbolic link, or not a regular file, refuses the
// operation before libvirt is called; the link's target is untouched.
func TestIntegrationHistoryJournalRefused(t *testing.T) {
	needIntegration(t)
	journal := vc11hState(t)
	name, dir := threeLayerDomain(t, "vc11h-off-", false)
	if err := os.MkdirAll(filepath.Dir(journal), 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, journal); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := vc11hRun(t, "snapshot", "create", name, "vc11h-i1")
	if code != 1 || !strings.Contains(errOut, "journal "+journal+" is a symbolic link") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Errorf("symlinked journal: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if got := labVirsh(t, "snapshot-list", name, "--name"); strings.TrimSpace(got) != "" {
		t.Errorf("a snapshot was made without its journal entry: %q", got)
	}
	if _, errOut, code := vc11hRun(t, "history"); code != 1 || !strings.Contains(errOut, "symbolic link") {
		t.Errorf("history through a link: exit %d %s", code, errOut)
	}
	// A FIFO would block a reader or take the lines elsewhere.
	_ = os.Remove(journal)
	if err := syscall.Mkfifo(journal, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := vc11hRun(t, "snapshot", "create", name, "vc11h-i1"); code != 1 || !strings.Contains(errOut, "not a regular file") {
		t.Errorf("FIFO journal: exit %d %s", code, errOut)
	}
	// Others' state folders are refused as VIRTCHAIN_STATE_HOME.
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777)
	t.Setenv("VIRTCHAIN_STATE_HOME", filepath.Join(open, "state"))
	if _, errOut, code := vc11hRun(t, "snapshot", "create", name, "vc11h-i1"); code != 1 || !strings.Contains(errOut, "which others can change") {
		t.Errorf("state home under a world-writable folder: exit %d %s", code, errOut)
	}
	if got := labVirsh(t, "snapshot-list", name, "--name"); strings.TrimSpace(got) != "" {
		t.Errorf("snapshots made: %q", got)
	}
}

// Over ssh the journal is this machine's, and names the remote host: the
// script exports that URI before its commands.
func TestIntegrationHistoryOverSSH(t *testing.T) {
	needIntegration(t)
	uri := testhost.NeedSSH(t)
	vc11hState(t)
	name, _ := threeLayerDomain(t, "vc11h-off-", false)
	if out, errOut, code := vc11hRunOn(t, uri, "snapshot", "create", name, "vc11h-ssh1"); code != 0 {
		t.Fatalf("snapshot create over ssh: exit %d\n%s%s", code, out, errOut)
	}
	ops := vc11hHistory(t, name)
	if len(ops) != 1 || ops[0].Host != uri || ops[0].State != "ok" || ops[0].Op != "snapshot-create" {
		t.Fatalf("over ssh: %+v", ops)
	}
	script := vc11hOK(t, "history", "--virsh", name)
	if !strings.Contains(script, "export LIBVIRT_DEFAULT_URI='"+uri+"'\n") {
		t.Errorf("the script does not export the ssh URI:\n%s", script)
	}
}

// Two virtchains changing two domains at once: every operation is in the
// journal, each line whole.
func TestIntegrationHistoryConcurrentCLIs(t *testing.T) {
	needIntegration(t)
	journal := vc11hState(t)
	a, _ := threeLayerDomain(t, "vc11h-off-", false)
	b, _ := threeLayerDomain(t, "vc11h-off-", false)
	done := make(chan string, 2)
	for _, d := range []string{a, b} {
		go func() {
			for i := range 3 {
				if out, errOut, code := vc11hRun(t, "snapshot", "create", d, fmt.Sprintf("vc11h-c%d", i)); code != 0 {
					done <- fmt.Sprintf("%s: exit %d %s%s", d, code, out, errOut)
					return
				}
			}
			done <- ""
		}()
	}
	for range 2 {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
	for _, d := range []string{a, b} {
		ops := vc11hHistory(t, d)
		if len(ops) != 3 {
			t.Errorf("%s: %d operations, want 3: %+v", d, len(ops), ops)
		}
		for _, o := range ops {
			if o.State != "ok" {
				t.Errorf("%s: %+v", d, o)
			}
		}
	}
	vc11hJournalFile(t, journal)
}

// A job started without --wait ends while another virtchain follows the
// connection's jobs (as the TUI does): that one journals its end, from
// libvirt's event alone.
func TestIntegrationHistoryEndSeenByAnotherWatcher(t *testing.T) {
	needIntegration(t)
	vc11hState(t)
	name, _ := jobCLIDomainNamed(t, "vc11h-ev-")
	conn, err := libvirtx.Open(systemURI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	updates, _, err := conn.WatchBlockJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vc11hOK(t, "commit", name, "vda", "--top", "s3", "--base", "s2", "--bandwidth", "0.1")
	if ops := vc11hHistory(t, name); len(ops) != 1 || ops[0].State != "started" {
		t.Fatalf("left running: %+v", ops)
	}
	labVirsh(t, "blockjob", name, "vda", "--abort")
	deadline := time.After(30 * time.Second)
	for ended := false; !ended; {
		select {
		case j := <-updates:
			ended = j.Domain == name && !j.Phase.Live()
		case <-deadline:
			t.Fatal("the watcher saw no end")
		}
	}
	ops := vc11hHistory(t, name)
	if len(ops) != 1 || ops[0].State != "cancelled" || ops[0].Seconds <= 0 {
		t.Errorf("after the abort by virsh: %+v", ops)
	}
}
