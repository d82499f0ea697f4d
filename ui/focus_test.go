package ui

import (
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

// runAll runs cmd and the Cmds of every batch it returns, concurrently
// (timers sleep), and gives the messages they produced.
func runAll(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	batch, ok := msg.(tea.BatchMsg)
	if !ok {
		if msg == nil {
			return nil
		}
		return []tea.Msg{msg}
	}
	return runEach(batch)
}

// runEach runs cmds at once, each with runAll, and gives every message.
func runEach(cmds []tea.Cmd) []tea.Msg {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []tea.Msg
	for _, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := runAll(c)
			mu.Lock()
			out = append(out, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// withVirshSnapshot is lab-test2 after `virsh snapshot-create-as`: one
// more snapshot, which no libvirt event announced.
func withVirshSnapshot() model.Domain {
	d := classicDomain()
	for i := range d.Snapshots {
		d.Snapshots[i].Current = false
	}
	d.Snapshots = append(d.Snapshots, model.Snapshot{Name: "vc12r-by-virsh", Parent: "lsof", Kind: model.SnapshotInternal,
		State: "running", Current: true, Created: time.Date(2025, 3, 14, 14, 0, 0, 0, time.UTC)})
	d.CurrentSnapshot = "vc12r-by-virsh"
	return d
}

// TestFocusInRereadsSelectedDomain: a focus-in re-reads the selected
// domain, and only it, and looks for block jobs started elsewhere; the
// snapshot virsh made then shows.
func TestFocusInRereadsSelectedDomain(t *testing.T) {
	jf := newJobFake(labDomains()...)
	h := newJobHarness(t, jf, 80, 24)
	h.press("j", "j", "2") // lab-test2, snapshot tab
	if h.m.list.SelectedName() != "lab-test2" {
		t.Fatalf("selected %q", h.m.list.SelectedName())
	}
	// The cursor's own settle read is done; start counting afresh.
	jf.mu.Lock()
	jf.domainCalls, jf.discoverCalls = nil, 0
	jf.mu.Unlock()
	jf.jmu.Lock()
	jf.rescans = 0
	jf.jmu.Unlock()
	others := labDomains()[1:]
	jf.set(append([]model.Domain{withVirshSnapshot()}, others...)...)
	h.lacks("vc12r-by-virsh")

	cmd := h.jsend(tea.FocusMsg{}) // jsend fails if Update itself reads
	if cmd == nil {
		t.Fatal("focus-in returned no Cmd")
	}
	for _, msg := range runAll(cmd) {
		h.run(h.jsend(msg))
	}
	jf.mu.Lock()
	calls, full := append([]string(nil), jf.domainCalls...), jf.discoverCalls
	jf.mu.Unlock()
	if len(calls) != 1 || calls[0] != "lab-test2" || full != 0 {
		t.Errorf("focus-in read domains %v and %d full discoveries, want [lab-test2] and 0", calls, full)
	}
	jf.jmu.Lock()
	n := jf.rescans
	jf.jmu.Unlock()
	if n != 1 {
		t.Errorf("focus-in rescanned block jobs %d times, want 1", n)
	}
	h.contains("vc12r-by-virsh")

	// Losing focus reads nothing.
	if cmd := h.jsend(tea.BlurMsg{}); cmd != nil {
		t.Errorf("blur returned a Cmd: %v", runAll(cmd))
	}
}

// TestFocusInWhileLostReadsNothing: the reconnect reads everything.
func TestFocusInWhileLostReadsNothing(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.m.hosts[0].conn.lost = true
	if cmd := h.send(tea.FocusMsg{}); cmd != nil {
		t.Errorf("focus-in on a lost connection returned a Cmd: %v", runAll(cmd))
	}
}

// TestViewReportsFocus: the program asks the terminal for focus events.
func TestViewReportsFocus(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	if !h.m.View().ReportFocus {
		t.Error("View does not turn on focus reporting")
	}
}

// TestSelectionSettlesIntoOneRead: scrolling through 500 domains reads
// only the one the cursor rests on, once, after it settles.
func TestSelectionSettlesIntoOneRead(t *testing.T) {
	f := newFake(fleet(500)...)
	h := newHarness(t, f, 80, 24)
	var cmds []tea.Cmd
	for range 499 {
		cmds = append(cmds, h.send(keyMsg("j")))
	}
	want := h.m.list.SelectedName()
	if want != "guest-499" {
		t.Fatalf("cursor on %q after 499 moves", want)
	}
	msgs := runEach(cmds)
	if len(msgs) != 499 {
		t.Fatalf("%d settle timers for 499 moves", len(msgs))
	}
	var reads []tea.Cmd
	for _, msg := range msgs {
		if c := h.send(msg); c != nil {
			reads = append(reads, c)
		}
	}
	if len(reads) != 1 {
		t.Fatalf("%d reads after scrolling, want 1", len(reads))
	}
	h.run(reads[0])
	if len(f.domainCalls) != 1 || f.domainCalls[0] != want || f.discoverCalls != 1 {
		t.Errorf("read %v (full discoveries %d), want [%s] and only the first discovery", f.domainCalls, f.discoverCalls, want)
	}
}

// TestSelectionByClickRereads: a click on another domain reads it once
// it settles; a click on the same one reads nothing.
func TestSelectionByClickRereads(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	click := tea.MouseClickMsg{X: 5, Y: 5, Button: tea.MouseLeft} // third row: lab-test2
	msgs := runAll(h.send(click))
	if len(msgs) != 1 {
		t.Fatalf("click gave %d messages, want the settle timer", len(msgs))
	}
	h.run(h.send(msgs[0]))
	if len(f.domainCalls) != 1 || f.domainCalls[0] != "lab-test2" {
		t.Errorf("read %v, want [lab-test2]", f.domainCalls)
	}
	if cmd := h.send(click); cmd != nil {
		t.Errorf("a click on the selected domain started %v", runAll(cmd))
	}
}

// TestSelectionMovedOnBeforeSettling: a timer of a domain the cursor has
// left reads nothing.
func TestSelectionMovedOnBeforeSettling(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	first := runAll(h.send(keyMsg("j")))
	h.send(keyMsg("j"))
	if len(first) != 1 {
		t.Fatalf("%d messages from the first move", len(first))
	}
	if cmd := h.send(first[0]); cmd != nil {
		t.Error("a stale settle timer started a read")
	}
}

// TestFocusInDuringFullReadReadsAfterIt: a full read under way may have
// read the domain before virsh changed it; the focus-in's read waits for
// it and then runs, so the change shows.
func TestFocusInDuringFullReadReadsAfterIt(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	h.keys("j", "j", "2")      // lab-test2
	stale := h.m.discover(0)() // a full read made before virsh's snapshot
	h.keys("ctrl+r")
	f.set(append([]model.Domain{withVirshSnapshot()}, labDomains()[1:]...)...)
	f.domainCalls = nil
	for _, msg := range runAll(h.send(tea.FocusMsg{})) {
		h.send(msg)
	}
	if len(f.domainCalls) != 0 {
		t.Fatalf("read %v while the full read ran", f.domainCalls)
	}
	cmd := h.send(stale)
	h.lacks("vc12r-by-virsh")
	h.run(cmd)
	if len(f.domainCalls) != 1 || f.domainCalls[0] != "lab-test2" {
		t.Errorf("after the full read: read %v, want [lab-test2]", f.domainCalls)
	}
	h.contains("vc12r-by-virsh")
}
