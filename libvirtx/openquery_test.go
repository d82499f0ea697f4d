package libvirtx

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
)

// TestIntegrationOpenQueryThenOpen runs, in a process of its own (where
// libvirt's event loop has not started yet), what a one-shot command and
// a later connection of the same process do: OpenQuery on a local URI
// goes without the loop and cannot follow jobs; an Open while it is still
// open starts the loop, and both connections go on working.
func TestIntegrationOpenQueryThenOpen(t *testing.T) {
	testhost.Need(t)
	if os.Getenv("VIRTCHAIN_OPENQUERY_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIntegrationOpenQueryThenOpen$", "-test.v")
		cmd.Env = append(os.Environ(), "VIRTCHAIN_OPENQUERY_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	if loopStarted.Load() {
		t.Fatal("the event loop runs before the first connection")
	}
	uri := testhost.URI()
	ctx := context.Background()
	q, err := OpenQuery(uri, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := isLocalURI(uri); q.noLoop != want || loopStarted.Load() == want {
		t.Fatalf("OpenQuery(%s): without the loop %v, want %v (local)", uri, q.noLoop, want)
	}
	if _, err := q.Discover(ctx); err != nil {
		t.Fatalf("discover on the query connection: %v", err)
	}
	if q.noLoop {
		if _, err := q.WatchJobs(ctx); err == nil || !strings.Contains(err.Error(), "one-shot read") {
			t.Errorf("WatchJobs on a query connection: %v, want the one-shot refusal", err)
		}
	}

	c, err := Open(uri, true)
	if err != nil {
		t.Fatal(err)
	}
	if !loopStarted.Load() || c.noLoop {
		t.Fatal("Open did not start the event loop")
	}
	w, err := c.WatchJobs(ctx)
	if err != nil {
		t.Fatalf("WatchJobs after the loop started: %v", err)
	}
	w.Close()
	// The query connection keeps working beside the loop.
	for _, conn := range []*Conn{q, c} {
		if _, err := conn.Discover(ctx); err != nil {
			t.Errorf("discover after the loop started: %v", err)
		}
	}
	// Once the loop runs, OpenQuery uses it too.
	q2, err := OpenQuery(uri, true)
	if err != nil {
		t.Fatal(err)
	}
	if q2.noLoop {
		t.Error("OpenQuery after the loop started went without it")
	}
	for _, conn := range []*Conn{q2, c, q} {
		if err := conn.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if conn.closeRefs != 0 {
			t.Errorf("connection still referenced %d times after Close", conn.closeRefs)
		}
	}
}
