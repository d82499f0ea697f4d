package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"virtchain/model"
	"virtchain/ui/components/history"
	"virtchain/ui/pages/domain"
)

// vc11hJournal is a journal with an operation of lab-test2 that ended,
// one that failed, one interrupted, and one of another domain.
func vc11hJournal() []model.HistoryOp {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	var entries []model.JournalEntry
	add := func(id, dom, op, target string, at time.Duration, end *model.JournalEntry, virsh ...string) {
		e := model.BeginEntry(id, t0.Add(at), "qemu:///system", &model.Plan{Op: op, Domain: dom, Target: target, Summary: op + " on " + dom, Virsh: virsh})
		e.User = "root"
		entries = append(entries, e)
		if end != nil {
			end.ID = id
			entries = append(entries, *end)
		}
	}
	ok := model.EndEntry("", t0.Add(time.Minute), nil)
	failed := model.EndEntry("", t0.Add(2*time.Minute), errors.New("internal error: boom"))
	add("1", "lab-test2", "snapshot-create", "", 0, &ok, "virsh snapshot-create-as --domain lab-test2 --name s9")
	add("2", "lab-test2", "save", "", time.Minute, &failed, "virsh save lab-test2 /var/tmp/x.save")
	add("3", "lab-tree", "start", "", 2*time.Minute, &ok, "virsh start lab-tree")
	add("4", "lab-test2", "commit", "vda", 3*time.Minute, nil, "virsh blockcommit --domain lab-test2 --path vda --wait")
	return model.FoldHistory(entries, nil)
}

// historyCalls counts the fake's journal reads.
func (h *harness) historyCalls() int {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return len(h.f.historyCalls)
}

// The History tab ("3") reads the journal in a Cmd, never in Update, and
// shows the selected domain's operations, newest last with the cursor on
// it, and for an interrupted one what to look at.
func TestHistoryTabShowsTheDomainsJournal(t *testing.T) {
	f := newFake(labDomains()...)
	f.history = vc11hJournal()
	h := newHarness(t, f, 100, 30)
	h.keys("down", "down") // lab-test2
	cmd := h.send(keyMsg("3"))
	if h.historyCalls() != 0 {
		t.Fatal("Update read the journal")
	}
	if h.m.detail.Active() != domain.TabHistory || h.m.focus != focusDetail {
		t.Fatalf("3 opened tab %d, focus %d", h.m.detail.Active(), h.m.focus)
	}
	h.contains("reading the journal")
	h.run(cmd)
	if got := h.historyCalls(); got != 1 {
		t.Fatalf("%d journal reads, want 1", got)
	}
	h.lines()
	h.contains("History", "snapshot-create", "save", "error", "commit", "interrupted",
		"interrupted: virtchain stopped before the end", "look at: virtchain -c qemu:///system jobs")
	h.lacks("start on lab-tree", "virsh start")
	if s := h.m.detail.History().Selected(); s == nil || s.ID != "4" {
		t.Fatalf("cursor on %+v, want the newest", s)
	}
	// Up: the failed save, its error and its command.
	h.keys("up")
	h.contains("error: internal error: boom", "$ virsh save lab-test2 /var/tmp/x.save")
	h.lacks("look at:")

	// Another domain in the list: the tab follows it with its own read.
	h.press("left", "down")
	if h.m.list.Selected().Name != "lab-tree" {
		t.Fatalf("down selected %s", h.m.list.Selected().Name)
	}
	if got := h.historyCalls(); got != 2 {
		t.Fatalf("%d journal reads after another domain, want 2", got)
	}
	h.contains("start on lab-tree")
	h.lacks("snapshot-create")
	h.press("3")
	if got := h.historyCalls(); got != 2 {
		t.Fatalf("the tab read again with nothing new: %d reads", got)
	}
}

// An unreadable journal is said in the tab; refresh reads it again, and
// moving the cursor in the tab reads nothing.
func TestHistoryTabErrorAndRefresh(t *testing.T) {
	f := newFake(labDomains()...)
	f.historyErr = errors.New("virtchain's journal /x is a symbolic link; remove the link")
	h := newHarness(t, f, 80, 24)
	h.press("down", "down", "3")
	h.contains("cannot read the journal: virtchain's journal /x is a symbolic link")
	h.lines()
	f.mu.Lock()
	f.historyErr, f.history = nil, vc11hJournal()
	f.mu.Unlock()
	h.press("down", "up")
	if got := h.historyCalls(); got != 1 {
		t.Fatalf("moving in the tab read the journal: %d reads", got)
	}
	h.press("ctrl+r")
	if got := h.historyCalls(); got != 2 {
		t.Fatalf("refresh: %d reads, want 2", got)
	}
	h.contains("snapshot-create", "commit")
	h.lacks("cannot read the journal")
}

// A read that arrives after the tab moved to another domain is dropped.
func TestHistoryLateReadDropped(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	h.send(keyMsg("3")) // its read never runs
	h.send(history.LoadedMsg{Domain: "lab-tree", Ops: vc11hJournal()})
	h.lacks("snapshot-create")
	if len(h.m.detail.History().Ops()) != 0 {
		t.Error("another domain's read was shown")
	}
}

// The help lists the key, and the tab bar the tab.
func TestHistoryKeyInHelp(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 100, 40)
	h.keys("right")
	h.contains("History")
	h.keys("?")
	v := h.view()
	if !strings.Contains(v, "3") || !strings.Contains(v, "history tab") {
		t.Errorf("help lacks the history key:\n%s", v)
	}
}
