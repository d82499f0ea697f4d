package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

// run executes cmd and every Cmd that follows from it, the way the program
// would, except spinner ticks (they only animate and would loop forever).
func (h *harness) run(cmd tea.Cmd) {
	h.t.Helper()
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 200 {
			h.t.Fatal("runaway Cmd chain")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil, spinner.TickMsg:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			queue = append(queue, h.send(msg))
		}
	}
}

// press types keys and runs what they start.
func (h *harness) press(names ...string) {
	h.t.Helper()
	for _, n := range names {
		h.run(h.send(keyMsg(n)))
	}
}

// testOp is an Op whose plan and run are plain functions, for the dialog
// layer alone; the operations' own tests go through the fake backend.
func testOp(plan model.Plan, planErr, runErr error, ran *int) Op {
	return Op{Title: "Do something to lab-test2", Plan: func(context.Context) (model.Plan, RunFunc, error) {
		if planErr != nil {
			return model.Plan{}, nil, planErr
		}
		return plan, func(context.Context) (string, error) {
			*ran++
			return "Did it.", runErr
		}, nil
	}}
}

func samplePlan() model.Plan {
	return model.Plan{
		Op: "test", Domain: "lab-test2", Summary: "do something to lab-test2",
		Steps:          []string{"first step", "second step"},
		Kept:           []string{"/img/base.qcow2 stays"},
		LeavingChain:   []string{"/img/top.qcow2"},
		BytesToCopy:    3 * mib,
		StaleSnapshots: []string{"old"},
		UsedBy:         []string{"domain lab-b vda"},
		Warnings:       []string{"the running state of lab-test2 is discarded"},
		Virsh:          []string{"virsh something lab-test2"},
	}
}

func TestDialogConfirmRunsAndRereads(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 40)
	ran := 0
	h.run(startOp(h.m.common, testOp(samplePlan(), nil, nil, &ran)))
	if h.m.dialog == nil {
		t.Fatal("no dialog opened")
	}
	h.lines()
	h.contains("Do something to lab-test2", "Warnings", "! the running state of lab-test2 is discarded",
		"1. first step", "2. second step", "Kept", "/img/base.qcow2 stays", "Leaving the chain", "/img/top.qcow2",
		"Data to copy 3M", "stale", "old", "Also used by", "domain lab-b vda", "$ virsh something lab-test2",
		"Carry out this plan?")
	if ran != 0 {
		t.Fatal("ran before confirmation")
	}
	f.domainCalls = nil
	h.press("y")
	if ran != 1 {
		t.Fatalf("ran %d times", ran)
	}
	h.contains("✔ Did it.")
	if len(f.domainCalls) != 1 || f.domainCalls[0] != "lab-test2" {
		t.Errorf("re-read %v, want lab-test2", f.domainCalls)
	}
	h.press("x")
	if h.m.dialog != nil {
		t.Error("result dialog stays after a key")
	}
}

func TestDialogCancelChangesNothing(t *testing.T) {
	for _, k := range []string{"n", "esc"} {
		f := newFake(classicDomain())
		h := newHarness(t, f, 80, 24)
		ran := 0
		h.run(startOp(h.m.common, testOp(samplePlan(), nil, nil, &ran)))
		f.domainCalls = nil
		h.press(k)
		if h.m.dialog != nil || ran != 0 || len(f.domainCalls) != 0 {
			t.Errorf("%s: dialog %v, ran %d, re-read %v", k, h.m.dialog != nil, ran, f.domainCalls)
		}
	}
}

func TestDialogErrorsShowHint(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	ran := 0
	libvirtErr := errors.New("revert lab-test2 to fresh: internal error: unable to open /img/x.qcow2: Permission denied")
	h.run(startOp(h.m.common, testOp(samplePlan(), nil, libvirtErr, &ran)))
	h.press("enter")
	h.lines()
	h.contains("✖ revert lab-test2 to fresh", "Permission denied", "hint:", "AppArmor", "r plans again")

	// A refusal at planning time: its reason, and its fix as the hint.
	h = newHarness(t, f, 80, 24)
	h.run(startOp(h.m.common, testOp(model.Plan{}, model.Refuse("lab-test2 is shut off", "start it first"), nil, &ran)))
	h.contains("✖ lab-test2 is shut off", "hint: start it first")
	h.press("esc")
	if h.m.dialog != nil || ran != 1 {
		t.Errorf("dialog %v, ran %d", h.m.dialog != nil, ran)
	}
}

func TestDialogHiddenOpReportsInFooter(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	ran := 0
	h.run(startOp(h.m.common, testOp(samplePlan(), nil, nil, &ran)))
	runCmd := h.send(keyMsg("y"))
	h.contains("running…")
	h.press("esc") // hide it; the op is still out there in runCmd
	if h.m.dialog != nil {
		t.Fatal("esc did not hide the running op")
	}
	h.run(runCmd)
	if !strings.Contains(h.lines()[23], "✔ Did it.") {
		t.Errorf("footer lacks the result:\n%s", h.view())
	}
}

func TestDialogReadOnlyRefuses(t *testing.T) {
	f := newFake(classicDomain())
	f.readOnly = true
	h := newHarness(t, f, 80, 24)
	ran := 0
	h.run(startOp(h.m.common, testOp(samplePlan(), nil, nil, &ran)))
	if h.m.dialog != nil || ran != 0 {
		t.Fatal("a read-only connection opened the op")
	}
	h.contains("read-only")
}
