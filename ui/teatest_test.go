package ui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"virtchain/model"
	"virtchain/ui/pages/domain"
)

// Whole-program flows: the real tea.Program with its renderer, input
// parsing and Cmd goroutines, against the fake backend, at 80x24 with a
// fixed colour profile.

func startProgram(t *testing.T, f *fakeBackend) *teatest.TestModel {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tm := teatest.NewTestModel(t, New(ctx, f, Options{}),
		teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ANSI)))
	return tm
}

func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

// finalFrame quits and returns the last frame without escape codes,
// checking it fills exactly 80x24.
func finalFrame(t *testing.T, tm *teatest.TestModel) (*Model, string) {
	t.Helper()
	tm.Send(keyMsg("q"))
	m, ok := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !ok {
		t.Fatal("final model is not *Model")
	}
	frame := m.View().Content
	lines := strings.Split(frame, "\n")
	if len(lines) != 24 {
		t.Fatalf("final frame has %d lines, want 24", len(lines))
	}
	for i, l := range lines {
		if w := lipgloss.Width(l); w != 80 {
			t.Fatalf("final frame line %d is %d wide, want 80", i, w)
		}
	}
	return m, sgr.ReplaceAllString(frame, "")
}

func TestProgramBrowseSnapshots(t *testing.T) {
	tm := startProgram(t, newFake(labDomains()...))
	waitOutput(t, tm, "lab-test2")
	tm.Type("jj")
	tm.Send(keyMsg("2"))
	waitOutput(t, tm, "before installing lsof")
	m, frame := finalFrame(t, tm)
	if m.list.SelectedName() != "lab-test2" || m.detail.Active() != domain.TabSnapshots {
		t.Fatalf("ended on %q tab %v", m.list.SelectedName(), m.detail.Active())
	}
	for _, want := range []string{"virtchain qemu:///system", "▸● lsof", "lsof (current) ← net-tools", "4 domains"} {
		if !strings.Contains(frame, want) {
			t.Errorf("final frame lacks %q:\n%s", want, frame)
		}
	}
}

func TestProgramEventRefreshesDomain(t *testing.T) {
	f := newFake(labDomains()...)
	tm := startProgram(t, f)
	waitOutput(t, tm, "lab-test2")
	tm.Type("jj")
	d := classicDomain()
	d.State = model.StatePaused
	d.ManagedSave = true
	f.set(append([]model.Domain{d}, labDomains()[1:]...)...)
	f.events <- model.Event{Domain: "lab-test2", Kind: "Suspended"}
	waitOutput(t, tm, "managed save")
	m, frame := finalFrame(t, tm)
	if got := m.list.Selected(); got == nil || got.State != model.StatePaused {
		t.Fatalf("selected domain after the event: %+v", got)
	}
	if !strings.Contains(frame, "◐ lab-test2") || !strings.Contains(frame, "paused · managed save") {
		t.Errorf("final frame does not show the re-read domain:\n%s", frame)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.domainCalls) != 1 || f.discoverCalls != 1 {
		t.Errorf("backend calls: %d discover, %v domain; want one of each", f.discoverCalls, f.domainCalls)
	}
}

func TestProgramFilterAndDeepChain(t *testing.T) {
	f := newFake(append(labDomains(), chainDomain("deep-1000", 1000))...)
	tm := startProgram(t, f)
	waitOutput(t, tm, "lab-test2")
	tm.Type("/1000")
	tm.Send(keyMsg("enter"))
	tm.Send(keyMsg("l"))
	tm.Send(keyMsg("G"))
	waitOutput(t, tm, "deep-1000-layer-0001.qcow2")
	m, frame := finalFrame(t, tm)
	if _, l := m.detail.Chains().Cursor(); l == nil || *l.Index != 1 {
		t.Fatalf("cursor not on the base after G: %v", l)
	}
	for _, want := range []string{"Domains (1/5)", "/1000", "└─ vda[1]", "base", "vda layer 1000/1000"} {
		if !strings.Contains(frame, want) {
			t.Errorf("final frame lacks %q:\n%s", want, frame)
		}
	}
}
