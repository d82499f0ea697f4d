package libvirtx

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"virtchain/model"
)

// vc11hJournalState gives the test a state base of its own through the
// environment, as a child process sees it too.
func vc11hJournalState(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv(stateHomeEnv, base)
	return filepath.Join(base, "virtchain", "history", JournalFile)
}

// vc11hBig is an entry far longer than PIPE_BUF, so that only O_APPEND
// and one write per line keep two writers' lines apart.
func vc11hBig(who string, i int) model.JournalEntry {
	e := model.BeginEntry(fmt.Sprintf("%s-%d", who, i), time.Now(), "test:///default", &model.Plan{Op: "snapshot-create", Domain: "vc11h-" + who})
	e.Summary = strings.Repeat(who+strconv.Itoa(i%10), 3000)
	return e
}

const vc11hChildEnv = "VC11H_JOURNAL_CHILD"

// TestVc11hJournalChild is the second writer of the concurrency test,
// run as a child process; it does nothing in a normal run.
func TestVc11hJournalChild(t *testing.T) {
	who := os.Getenv(vc11hChildEnv)
	if who == "" {
		t.Skip("the child of TestJournalConcurrentWriters")
	}
	for i := range 200 {
		if err := appendJournal(vc11hBig(who, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// Two processes and several goroutines append at once: every line is one
// whole entry, none is lost.
func TestJournalConcurrentWriters(t *testing.T) {
	vc11hJournalState(t)
	var children []*exec.Cmd
	for _, who := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVc11hJournalChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), vc11hChildEnv+"="+who)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, cmd)
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := appendJournal(vc11hBig("g"+strconv.Itoa(g), i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range children {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	entries, skipped, err := ReadJournal()
	if err != nil || skipped != 0 {
		t.Fatalf("read: %v, %d lines torn", err, skipped)
	}
	if len(entries) != 2*200+3*100 {
		t.Fatalf("%d entries, want %d", len(entries), 700)
	}
	for _, e := range entries {
		who, i, _ := strings.Cut(e.ID, "-")
		n, _ := strconv.Atoi(i)
		if e.Summary != vc11hBig(who, n).Summary {
			t.Fatalf("entry %s is not whole (%d bytes of summary)", e.ID, len(e.Summary))
		}
	}
}

// The journal is refused, with a one-line reason and nothing written
// through it, when it is a link, not a regular file, or someone else's.
func TestJournalRefusals(t *testing.T) {
	path := vc11hJournalState(t)
	if err := appendJournal(vc11hBig("first", 0)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode: %v %v", st, err)
	}
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, appendJournal(vc11hBig("x", 1)), "is a symbolic link")
	_, _, err := ReadJournal()
	wantRefusal(t, err, "is a symbolic link")
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("written through the link: %q", b)
	}
	_ = os.Remove(path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, appendJournal(vc11hBig("x", 2)), "journal")
	_ = os.Remove(path)
	if os.Geteuid() == 0 {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, appendJournal(vc11hBig("x", 3)), "is not owned by you")
	}
}

// VIRTCHAIN_STATE_HOME is taken only where no one else can swap a folder
// above it; a sticky /tmp is fine.
func TestStateHomeEnv(t *testing.T) {
	ok := t.TempDir()
	if got, err := ownStateBase(ok); err != nil || got != ok {
		t.Fatalf("%s: %q %v", ok, got, err)
	}
	_, err := ownStateBase("relative/state")
	wantRefusal(t, err, "not an absolute path")
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = ownStateBase(filepath.Join(open, "state"))
	wantRefusal(t, err, "which others can change")
	t.Setenv(stateHomeEnv, filepath.Join(open, "state"))
	_, err = JournalPath()
	wantRefusal(t, err, "which others can change")
}

// A begin is "in progress" only while the process that wrote it runs,
// and not once its PID belongs to a later process.
func TestProcessAlive(t *testing.T) {
	if !processAlive(me().machine, os.Getpid(), time.Now()) {
		t.Error("this process is not alive")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !processAlive(me().machine, pid, time.Now()) {
		t.Error("a running child is not alive")
	}
	if processAlive(me().machine, pid, time.Now().Add(-time.Hour)) {
		t.Error("a process started after the entry counts as its writer")
	}
	if processAlive("another-machine", pid, time.Now()) {
		t.Error("another machine's PID counts")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if processAlive(me().machine, pid, time.Now()) {
		t.Error("an ended process is alive")
	}
}

// BenchmarkJournalAppend is one entry written and synced: what each
// operation pays twice.
func BenchmarkJournalAppend(b *testing.B) {
	base := b.TempDir()
	b.Setenv(stateHomeEnv, base)
	e := model.BeginEntry("bench", time.Now(), "qemu:///system", &model.Plan{Op: "commit", Domain: "vc11h-bench", Summary: "commit s2 into s1",
		Virsh: []string{"virsh blockcommit --domain vc11h-bench --path vda --base /var/tmp/s1.qcow2 --top /var/tmp/s2.qcow2 --wait --verbose"}})
	for b.Loop() {
		if err := appendJournal(e); err != nil {
			b.Fatal(err)
		}
	}
}
