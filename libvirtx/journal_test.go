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

// vc11hRotate is the rotation limit of the concurrency test: low enough
// that the writers rotate the journal under each other several times, high
// enough that no generation is dropped.
const vc11hRotate = 1536 << 10

// TestVc11hJournalChild is the second writer of the concurrency test,
// run as a child process; it does nothing in a normal run.
func TestVc11hJournalChild(t *testing.T) {
	who := os.Getenv(vc11hChildEnv)
	if who == "" {
		t.Skip("the child of TestJournalConcurrentWriters")
	}
	journalRotateLimit = vc11hRotate
	for i := range 200 {
		if err := appendJournal(vc11hBig(who, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// Two processes and several goroutines append at once, rotating the
// journal as they go: every line is one whole entry, none is lost.
func TestJournalConcurrentWriters(t *testing.T) {
	path := vc11hJournalState(t)
	journalRotateLimit = vc11hRotate
	t.Cleanup(func() { journalRotateLimit = journalRotateAt })
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
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), journalGeneration(2))); err != nil {
		t.Fatalf("4 MiB written at a limit of 1.5 MiB left no second old journal: %v", err)
	}
	for _, e := range entries {
		who, i, _ := strings.Cut(e.ID, "-")
		n, _ := strconv.Atoi(i)
		if e.Summary != vc11hBig(who, n).Summary {
			t.Fatalf("entry %s is not whole (%d bytes of summary)", e.ID, len(e.Summary))
		}
	}
}

// A journal past its limit moves to journal.1.jsonl at the next begin,
// up to journalKeep old ones: history keeps the newest operations, whole,
// also one whose begin and end are in two files.
func TestJournalRotation(t *testing.T) {
	path := vc11hJournalState(t)
	journalRotateLimit = 2000
	t.Cleanup(func() { journalRotateLimit = journalRotateAt })
	plan := &model.Plan{Op: "snapshot-create", Domain: "vc11h-rot"}
	const ops = 200
	for i := range ops {
		id := fmt.Sprintf("op%03d", i)
		if err := appendJournal(model.BeginEntry(id, time.Now(), "test:///default", plan)); err != nil {
			t.Fatal(err)
		}
		if err := appendJournal(model.EndEntry(id, time.Now(), nil)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Dir(path)
	var sizes []int64
	for n := 0; n <= journalKeep; n++ {
		st, err := os.Stat(filepath.Join(dir, journalGeneration(n)))
		if err != nil {
			t.Fatalf("generation %d: %v", n, err)
		}
		sizes = append(sizes, st.Size())
	}
	if _, err := os.Stat(filepath.Join(dir, journalGeneration(journalKeep+1))); err == nil {
		t.Fatalf("more than %d old journals kept", journalKeep)
	}
	for n, size := range sizes {
		// A generation ends at the first begin past the limit: one
		// operation's lines more at most.
		if size > journalRotateLimit+1000 {
			t.Fatalf("generation %d is %d bytes at a limit of %d", n, size, journalRotateLimit)
		}
	}
	entries, skipped, err := ReadJournal()
	if err != nil || skipped != 0 {
		t.Fatalf("read: %v, %d skipped", err, skipped)
	}
	folded := model.FoldHistory(entries, nil)
	if len(folded) == 0 || len(folded) >= ops {
		t.Fatalf("%d operations kept of %d", len(folded), ops)
	}
	first := ops - len(folded)
	for i, o := range folded {
		if want := fmt.Sprintf("op%03d", first+i); o.ID != want || o.State != model.StateOK {
			t.Fatalf("operation %d is %s (%s), want %s, ok: the newest, in order", i, o.ID, o.State, want)
		}
	}
	// Rotation happens only at a begin, so a long job's end lands in a
	// newer file than its begin.
	if err := appendJournal(model.BeginEntry("straddle", time.Now(), "test:///default", plan)); err != nil {
		t.Fatal(err)
	}
	running := model.JournalEntry{ID: "straddle", Event: model.JournalRunning, Time: time.Now(), Summary: strings.Repeat("x", 3000)}
	if err := appendJournal(running); err != nil { // past the limit, but no begin: no rotation
		t.Fatal(err)
	}
	if err := appendJournal(model.BeginEntry("next", time.Now(), "test:///default", plan)); err != nil { // rotates
		t.Fatal(err)
	}
	if err := appendJournal(model.EndEntry("straddle", time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(filepath.Join(dir, journalGeneration(1)))
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"straddle","event":"begin"`) || !strings.Contains(string(cur), `"straddle","event":"end"`) {
		t.Fatalf("the straddling operation's begin is not in journal.1 and its end in the journal:\n%s\n--\n%s", old, cur)
	}
	entries, _, _ = ReadJournal()
	folded = model.FoldHistory(entries, nil)
	var found bool
	for _, o := range folded {
		if o.ID == "straddle" {
			found = o.State == model.StateOK
		}
	}
	if !found {
		t.Fatal("an operation begun before a rotation and ended after it is not one finished operation")
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
