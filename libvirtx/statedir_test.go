package libvirtx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

func wantRefusal(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want a one-line refusal with %q", err, want)
	}
}

// A state folder that others can write, that is not the user's, or that is
// a link is refused; a good one is made with mode 0700.
func TestStateDirRefusesUnsafeFolders(t *testing.T) {
	base := t.TempDir()
	dir, err := stateDirIn(base, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(base, "virtchain"), dir} {
		if st, err := os.Lstat(p); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", p, st.Mode(), err)
		}
	}
	// Missing folders on the way are made, and checked.
	if _, err := stateDirIn(filepath.Join(base, "a", "b"), "jobs"); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = stateDirIn(base, "jobs")
	wantRefusal(t, err, "can be written by others (mode 0777)")
	_ = os.Chmod(dir, 0o700)

	// A world-writable base (a shared XDG_STATE_HOME) is refused too.
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = stateDirIn(open, "jobs")
	wantRefusal(t, err, "can be written by others")

	// The virtchain folder is a link to somewhere else.
	other, linked := t.TempDir(), t.TempDir()
	if err := os.Symlink(other, filepath.Join(linked, "virtchain")); err != nil {
		t.Fatal(err)
	}
	_, err = stateDirIn(linked, "jobs")
	wantRefusal(t, err, "is not a folder")
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Fatalf("wrote through the link: %v", ents)
	}

	if os.Geteuid() == 0 {
		// Root meets a folder another user made.
		if err := os.Chown(dir, 64055, -1); err != nil {
			t.Fatal(err)
		}
		_, err = stateDirIn(base, "jobs")
		wantRefusal(t, err, "is not owned by you")
	}
}

// State files are written under fresh names and renamed into place, so a
// link planted at the final name is replaced, not written through; a
// link is never read.
func TestStateFileNoFollow(t *testing.T) {
	dir, err := stateDirIn(t.TempDir(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, "x.json")
	if err := os.Symlink(target, final); err != nil {
		t.Fatal(err)
	}
	if _, err := readStateFile(final); err == nil {
		t.Fatal("read a state file through a link")
	}
	if err := writeStateFile(dir, "x.json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatalf("target now holds %q", b)
	}
	st, err := os.Lstat(final)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", final, st.Mode(), err)
	}
	if b, err := readStateFile(final); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("read %q %v", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// Root keeps its state in /var/lib/virtchain whatever XDG_STATE_HOME says
// ('sudo -E' passes a user's); a user follows XDG_STATE_HOME.
func TestStateBaseIgnoresXDGForRoot(t *testing.T) {
	testhost.WithoutStateHome(t)
	t.Setenv("XDG_STATE_HOME", "/home/someone/.local/state")
	got, err := stateBase()
	if err != nil {
		t.Fatal(err)
	}
	want := "/home/someone/.local/state"
	if os.Geteuid() == 0 {
		want = "/var/lib"
	}
	if got != want {
		t.Fatalf("state base %q, want %q", got, want)
	}
}

// A job whose intent and records cannot be kept safely does not start.
func TestJobRefusedWithUnsafeStateDir(t *testing.T) {
	l := newJobLab(t, "vc7f-state", true)
	w := l.watch()
	base := filepath.Join(l.dir, "state")
	if err := os.Mkdir(base, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	stateBaseForTest = base
	t.Cleanup(func() { stateBaseForTest = "" })
	before := l.chain()
	reqs := []model.CommitRequest{
		{Domain: l.name, Target: "vda", Base: "s1", Active: true, AfterReady: model.AfterReadyPivot},
		{Domain: l.name, Target: "vda", Top: "s3", Base: "s1"},
	}
	if !l.c.Local() {
		// The record of the files leaving the chain is kept only where
		// virtchain can identify them (on the host): remotely only the
		// READY intent needs the state folder.
		reqs = reqs[:1]
	}
	for _, req := range reqs {
		bp := l.plan(func(d []model.Domain) (*model.BlockPlan, error) { return model.PlanCommit(d, req, w.Jobs()) })
		_, err := w.Start(context.Background(), bp)
		wantRefusal(t, err, "can be written by others")
		jobs, err := l.c.ListJobs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Domain == l.name {
				t.Fatalf("a job started: %+v", j)
			}
		}
		if _, ok := w.Job(l.name, "vda"); ok {
			t.Fatal("the watcher kept a job that did not start")
		}
	}
	wantChain(t, l.chain(), before...)
}
