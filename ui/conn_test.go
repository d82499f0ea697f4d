package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/jobs"
)

// connFake is a job backend whose connection a test can lose; Reconnect
// reports one failed try, then hands out next.
type connFake struct {
	*jobFake
	lost chan struct{}
	next *connFake
}

func newConnFake(ds ...model.Domain) *connFake {
	return &connFake{jobFake: newJobFake(ds...), lost: make(chan struct{})}
}

func (f *connFake) Lost() <-chan struct{} { return f.lost }

func (f *connFake) Close() error { return nil }

func (f *connFake) Reconnect(_ context.Context, tried func(int, time.Duration, error)) (Backend, error) {
	tried(1, time.Second, errors.New("cannot connect"))
	return f.next, nil
}

// newConnHarness is newJobHarness on a backend that can be lost.
func newConnHarness(t *testing.T, f *connFake) *jobHarness {
	t.Helper()
	m := New(context.Background(), f, Options{NoColor: true})
	h := &jobHarness{harness: &harness{t: t, m: m, f: f.fakeBackend}, jf: f.jobFake}
	h.jsend(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.run(m.discover(0))
	h.jsend(m.initJobs()())
	return h
}

func (h *jobHarness) footer() string {
	ls := h.lines()
	return ls[len(ls)-1]
}

// lose closes the backend's Lost and delivers what waitLost then returns;
// it gives back the reconnect Cmds.
func (h *jobHarness) lose(f *connFake) (reconnect, tries tea.Cmd) {
	h.t.Helper()
	wait := h.m.waitLost(0)
	close(f.lost)
	msg := wait()
	if _, ok := msg.(connLostMsg); !ok {
		h.t.Fatalf("waitLost gave %T", msg)
	}
	batch, ok := h.jsend(msg)().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		h.t.Fatalf("the loss started %v, want a reconnect and a wait for its tries", batch)
	}
	return batch[0], batch[1]
}

func activeCommitJob(phase model.JobPhase) model.Job {
	return model.Job{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: phase,
		AfterReady: model.AfterReadyPivot, Base: "/var/lib/libvirt/images/lab/test2_net-tools.qcow2"}
}

// The loss shows at once; keys that need the host say "not connected" and
// call nothing; the reconnect's tries are shown; the new connection is
// read again (domains, events, jobs re-attached), the old streams are
// dropped, and refresh works again.
func TestConnectionLostAndBack(t *testing.T) {
	a, b := newConnFake(classicDomain()), newConnFake(classicDomain())
	a.next = b
	a.running = []model.Job{activeCommitJob(model.PhaseRunning)}
	b.running = []model.Job{activeCommitJob(model.PhaseReady)}
	h := newConnHarness(t, a)
	h.keys("J") // close the re-attached jobs panel
	reconnect, tries := h.lose(a)
	if got := h.footer(); !strings.Contains(got, "⚠ connection lost; reconnecting to qemu:///system…") {
		t.Fatalf("footer after the loss: %q", got)
	}
	h.keys("J")
	h.contains("connection lost: the jobs go on in QEMU")
	h.keys("J")
	calls := a.count()
	for _, k := range []string{"ctrl+r", "u", "s"} {
		h.run(h.keys(k))
		if got := h.footer(); !strings.Contains(got, "✖ not connected: reconnecting to qemu:///system in the background") {
			t.Errorf("%s while lost: footer %q", k, got)
		}
		h.keys("esc")
	}
	h.f.mu.Lock()
	discovers := h.f.discoverCalls
	h.f.mu.Unlock()
	if a.count() != calls || discovers != 1 {
		t.Errorf("keys reached the lost backend: %d job calls, %d discoveries", a.count()-calls, discovers)
	}
	// A discovery that was in flight fails as lost, not as discovery.
	h.jsend(discoveredMsg{err: fmt.Errorf("list domains: %w", model.ErrConnectionLost)})
	if got := h.footer(); strings.Contains(got, "failed") || !strings.Contains(got, "not connected") {
		t.Errorf("a lost discovery: footer %q", got)
	}
	h.keys("esc")

	back := reconnect() // runs Reconnect, which reports one try first
	h.jsend(tries())
	if got := h.footer(); !strings.Contains(got, "connection lost; try 1 failed, next in 1s; reconnecting to qemu:///system…") {
		t.Errorf("footer during the reconnect: %q", got)
	}
	h.run(h.keys("ctrl+r")) // an error shown while lost goes with the reconnect
	cmd := h.jsend(back)
	if h.m.common.Backend != Backend(b) || h.m.hosts[0].conn.lost || cmd == nil {
		t.Fatalf("not switched to the new connection (lost=%v)", h.m.hosts[0].conn.lost)
	}
	if got := h.footer(); !strings.Contains(got, "reconnected to qemu:///system") {
		t.Errorf("footer after the reconnect: %q", got)
	}
	// What the batch does, without its waits: read, and re-attach.
	h.run(h.m.discover(0))
	h.jsend(h.m.jobs.Reattach()()) // as the reconnect asked it
	if b.fakeBackend.discoverCalls != 1 || b.count() != 1 {
		t.Errorf("the new connection was not read: %d discoveries, %d job calls", b.fakeBackend.discoverCalls, b.count())
	}
	h.contains("READY, pivoting", "reconnected to qemu:///system; re-attached to 1 running")

	// The lost connection's streams are dropped, not waited on again.
	if cmd := h.jsend(eventMsg{ev: model.Event{Domain: "lab-test2", Kind: "started"}, gen: 0}); cmd != nil {
		t.Error("an event of the lost connection was followed")
	}
	if cmd := h.jsend(jobs.UpdateMsg{Job: activeCommitJob(model.PhaseRunning), Ch: a.ch}); cmd != nil {
		t.Error("a job update of the lost connection was followed")
	}
	h.contains("READY, pivoting")
	// Keys reach the host again.
	h.keys("J")
	if cmd := h.keys("ctrl+r"); cmd == nil {
		t.Fatal("refresh after the reconnect did nothing")
	}
}

// A job the lost connection showed that the new one does not find ended
// unseen: its row goes, and the footer says so.
func TestConnectionBackJobEndedUnseen(t *testing.T) {
	a, b := newConnFake(classicDomain()), newConnFake(classicDomain())
	a.next = b
	a.running = []model.Job{activeCommitJob(model.PhaseRunning)}
	h := newConnHarness(t, a)
	reconnect, _ := h.lose(a)
	h.jsend(reconnect())
	h.jsend(h.m.jobs.Reattach()()) // as the reconnect asked it
	if !strings.Contains(h.m.status.Info(), "1 block job(s) ended while the connection was lost") {
		t.Errorf("footer note %q", h.m.status.Info())
	}
	h.lacks("pivots at READY")
}

// A dialog whose plan fails because the connection was lost words it as
// such, with what to do.
func TestLostErrorInDialog(t *testing.T) {
	st := common.NewStyles(true)
	lines := strings.Join(dialog.ErrorLines(st, fmt.Errorf("read domain: %w", model.ErrConnectionLost), 76, common.DefaultKeyMap()), "\n")
	if !strings.Contains(lines, "not connected: read domain: connection lost") || !strings.Contains(lines, "reconnects by itself") {
		t.Errorf("error lines:\n%s", lines)
	}
}
