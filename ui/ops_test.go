package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/forms"
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

// openOp starts op outside Update (as a component's Update would),
// applying the dialog change as the root does.
func (h *harness) openOp(op dialog.Op) {
	h.t.Helper()
	var o dialog.Opener
	cmd := dialog.Start(&o, h.m.common, op)
	if d, ok := o.Take(); ok {
		h.m.setDialog(d)
	}
	h.run(cmd)
}

// press types keys and runs what they start.
func (h *harness) press(names ...string) {
	h.t.Helper()
	for _, n := range names {
		h.run(h.send(keyMsg(n)))
	}
}

// apparmorHint is libvirtx's hint for a file QEMU may not open.
var apparmorHint = model.Say("QEMU (user libvirt-qemu, confined by AppArmor) cannot open a file: make each folder on the path traversable (chmod 755), and look for DENIED in dmesg or /var/log/syslog")

// testOp is an Op whose plan and run are plain functions, for the dialog
// layer alone; the operations' own tests go through the fake backend.
func testOp(plan model.Plan, planErr, runErr error, ran *int) dialog.Op {
	return dialog.Op{Title: "Do something to lab-test2", Plan: func(context.Context) (model.Plan, dialog.RunFunc, error) {
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
	h.openOp(testOp(samplePlan(), nil, nil, &ran))
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
		h.openOp(testOp(samplePlan(), nil, nil, &ran))
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
	// The fake attaches the hint as libvirtx does.
	libvirtErr := model.WithHint(errors.New("revert lab-test2 to fresh: internal error: unable to open /img/x.qcow2: Permission denied"), apparmorHint)
	h.openOp(testOp(samplePlan(), nil, libvirtErr, &ran))
	h.press("enter")
	h.lines()
	h.contains("✖ revert lab-test2 to fresh", "Permission denied", "hint:", "AppArmor", "r plans again")

	// A refusal at planning time: its reason, and its fix as the hint.
	h = newHarness(t, f, 80, 24)
	h.openOp(testOp(model.Plan{}, model.Refuse("lab-test2 is shut off", "start it first"), nil, &ran))
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
	h.openOp(testOp(samplePlan(), nil, nil, &ran))
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
	h.openOp(testOp(samplePlan(), nil, nil, &ran))
	if h.m.dialog != nil || ran != 0 {
		t.Fatal("a read-only connection opened the op")
	}
	h.contains("read-only")
}

// typeText types each character of s.
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.press(string(r))
	}
}

func (f *fakeBackend) ranOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.snap.ran...)
}

func (f *fakeBackend) plannedOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.snap.planned...)
}

func wantRan(t *testing.T, f *fakeBackend, want ...string) {
	t.Helper()
	got := f.ranOps()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ran %q, want %q", got, want)
	}
}

// runningTree is lab-tree running: internal snapshots with memory.
func runningTree() model.Domain {
	d := branchyDomain()
	d.State = model.StateRunning
	d.ManagedSave = false
	return d
}

func TestNewInternalSnapshotFlow(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	h.press("2", "n")
	if _, ok := h.m.dialog.(*forms.Form); !ok {
		t.Fatalf("n opened no form:\n%s", h.view())
	}
	h.lines()
	h.contains("New snapshot of lab-test2", "Kind", "internal", "external disk-only", "external checkpoint", "Name", "Description")
	h.lacks("vda overlay", "Memory file") // internal: no files to name
	h.typeText("fresh")
	h.press("tab", "tab")
	h.typeText("before the upgrade")
	h.press("enter")
	h.lines()
	h.contains("New snapshot fresh of lab-test2", "internal snapshot fresh of lab-test2",
		"$ virsh snapshot-create-as", "Carry out this plan?")
	if len(f.ranOps()) != 0 {
		t.Fatal("ran before confirmation")
	}
	h.press("y")
	wantRan(t, f, "snapshot-create lab-test2 fresh")
	h.contains("✔ Created internal snapshot fresh of lab-test2.")
	h.press("enter")
	if h.m.dialog != nil {
		t.Fatal("result stays open")
	}
	// The domain was re-read: the new snapshot is in the tree.
	h.contains("fresh", "before the upgrade")
}

func TestNewExternalSnapshotFormDefaults(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 40)
	h.press("2", "n", "tab", "right") // kind: external disk-only
	h.contains("vda overlay", "/var/lib/libvirt/images/lab/lab-test2_snap1.vda.qcow2", "Quiesce")
	h.lacks("Memory file")
	h.press("shift+tab")
	h.typeText("fresh")
	h.contains("/var/lib/libvirt/images/lab/lab-test2_fresh.vda.qcow2")
	h.press("enter")
	h.contains("external disk-only snapshot fresh", "create overlay /var/lib/libvirt/images/lab/lab-test2_fresh.vda.qcow2",
		"--disk-only", "--atomic", "crash-consistent")
	h.press("y")
	wantRan(t, f, "snapshot-create lab-test2 fresh")
}

func TestExternalFormEditedPathSticksAndCheckpointMemory(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 40)
	h.press("2", "n", "tab", "right", "right") // external checkpoint
	h.contains("Memory file", "/var/lib/libvirt/images/lab/lab-test2_snap1.mem")
	h.lacks("Quiesce")
	h.press("shift+tab")
	h.typeText("cp")
	h.press("tab", "tab", "tab") // kind, description, then the vda overlay
	h.press("ctrl+u")            // emptied, it stays empty while one types
	if v := h.m.dialog.(*forms.Form).Value("disk:vda"); v != "" {
		t.Fatalf("emptied overlay field refilled with %q", v)
	}
	h.contains("vda overlay  /var/lib/libvirt/images/lab/lab-test2_cp.vda.qcow2") // as the hint
	h.press("enter")                                                              // empty means the default
	h.contains("create overlay /var/lib/libvirt/images/lab/lab-test2_cp.vda.qcow2")
	h.press("esc")
	h.typeText("/srv/o.qcow2")
	h.press("shift+tab", "shift+tab", "shift+tab") // back to the name
	h.typeText("2")
	h.contains("/srv/o.qcow2", "/var/lib/libvirt/images/lab/lab-test2_cp2.mem")
	h.press("enter")
	h.contains("external checkpoint cp2", "/srv/o.qcow2", "--memspec")
	h.press("esc") // back to the form, values kept
	if _, ok := h.m.dialog.(*forms.Form); !ok {
		t.Fatalf("cancel did not return to the form:\n%s", h.view())
	}
	h.contains("/srv/o.qcow2")
	h.press("esc")
	if h.m.dialog != nil || len(f.ranOps()) != 0 {
		t.Fatalf("cancel left dialog %v, ran %v", h.m.dialog != nil, f.ranOps())
	}
}

func TestFormRefusesBadInputInline(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	// An empty name is the free snapN the placeholder shows.
	h.press("2", "n")
	h.contains("Name         snap1")
	h.press("enter")
	h.contains("internal snapshot snap1 of lab-test2")
	h.press("esc") // back to the form
	if len(f.ranOps()) != 0 {
		t.Fatal("cancelling the plan ran it")
	}
	h.typeText(".x")
	h.press("enter")
	h.contains("not allow a name starting with '.'")
	// A name libvirt's rules accept but the planner refuses (it exists):
	// the refusal shows, and esc goes back to the form.
	for range 2 {
		h.press("backspace")
	}
	h.typeText("lsof")
	h.press("enter")
	h.contains(`already has a snapshot named "lsof"`, "hint: choose another name")
	h.press("esc")
	if _, ok := h.m.dialog.(*forms.Form); !ok {
		t.Fatalf("esc after a refusal did not return to the form:\n%s", h.view())
	}
	if len(f.ranOps()) != 0 {
		t.Error("a refused plan ran")
	}
}

func TestRevertFlowWarnsAndRuns(t *testing.T) {
	f := newFake(runningTree())
	h := newHarness(t, f, 80, 24)
	h.press("2")
	sel := h.m.detail.Snaps().Selected().Name
	h.press("r")
	h.contains("Revert lab-tree to snapshot "+sel, "Afterwards", "as it was", "running", "paused", "Force",
		"Current state", "keep it as snapshot before-revert-to-"+sel, "discard it")
	h.press("right", "right") // paused
	h.press("down", "right")  // discard the current state
	h.press("enter")
	h.lines()
	h.contains("Warnings", "--discard-current", "Carry out this plan?", "virsh snapshot-revert", "--paused")
	h.press("y")
	wantRan(t, f, "snapshot-revert lab-tree "+sel)
	h.contains("✔ Reverted lab-tree to snapshot " + sel + "; it is paused.")
}

// By default the revert dialog keeps the current state as a snapshot, and
// its plan says so first.
func TestRevertFlowKeepsCurrentState(t *testing.T) {
	f := newFake(runningTree())
	h := newHarness(t, f, 100, 40)
	h.press("2")
	sel := h.m.detail.Snaps().Selected().Name
	h.press("r")
	h.press("enter")
	h.contains("keep the current state first", "before-revert-to-"+sel, "Carry out this plan?")
}

func TestDeleteAndMetadataOnly(t *testing.T) {
	f := newFake(branchyDomain())
	h := newHarness(t, f, 80, 40)
	h.press("2", "G")
	sel := h.m.detail.Snaps().Selected().Name
	h.press("d")
	h.contains("Delete snapshot "+sel+" of lab-tree", "delete internal snapshot "+sel, "virsh snapshot-delete")
	h.lacks("--metadata")
	h.press("n")
	if h.m.dialog != nil || len(f.ranOps()) != 0 {
		t.Fatal("n did not cancel")
	}
	h.press("D")
	h.contains("Remove the metadata of snapshot "+sel, "no file changes", "--metadata")
	h.press("y")
	wantRan(t, f, "snapshot-delete lab-tree "+sel+" --metadata")
	h.contains("every file stays")
}

func TestOpErrorShowsLibvirtTextAndHint(t *testing.T) {
	f := newFake(branchyDomain())
	f.snap.fail = map[string]error{"snapshot-delete": model.WithHint(errors.New("delete snapshot b3 of lab-tree: internal error: unable to execute QEMU command 'blockdev-add': Could not open '/var/lib/libvirt/images/lab/tree.qcow2': Permission denied"), apparmorHint)}
	h := newHarness(t, f, 80, 24)
	h.press("2", "d", "y")
	h.lines()
	h.contains("✖ delete snapshot", "Permission denied", "hint:", "AppArmor", "r plans again")
	// The domain is read again after a failed run too.
	if n := len(f.domainCalls); n == 0 {
		t.Error("no re-read after a failed run")
	}
	h.press("esc")
	if h.m.dialog != nil {
		t.Fatal("esc did not close the error")
	}
}

func TestDomainListSaveRestoreManagedSaveStart(t *testing.T) {
	f := newFake(classicDomain(), branchyDomain())
	// Tall enough for the whole save plan, its file list included.
	h := newHarness(t, f, 80, 30)
	// lab-test2 (running) is first.
	h.press("s")
	h.contains("Save lab-test2 to a file", "/var/lib/libvirt/images/lab/lab-test2.save")
	h.press("enter")
	h.contains("save lab-test2's memory and device state", "$ virsh save lab-test2 /var/lib/libvirt/images/lab/lab-test2.save")
	h.press("y")
	h.contains("✔ Saved lab-test2")
	h.press("enter")
	if d := f.domain("lab-test2"); d.State != model.StateShutoff {
		t.Fatalf("fake lab-test2 is %s", d.State)
	}
	h.press("r")
	h.contains("Restore a domain from a save file", "/var/lib/libvirt/images/lab/lab-test2.save")
	h.press("tab", "right") // start it running
	h.press("enter")
	h.contains("start lab-test2 from save file", "virsh restore /var/lib/libvirt/images/lab/lab-test2.save --running")
	h.press("y")
	h.contains("✔ Restored lab-test2")
	h.press("enter")

	h.press("m", "y")
	h.contains("✔ Saved lab-test2 to its managed-save image")
	h.press("enter", "u")
	h.contains("Start lab-test2", "from its managed-save image")
	h.press("y", "enter")
	h.press("j", "M") // lab-tree has a managed-save image
	h.contains("Remove the managed-save image of lab-tree", "the saved memory state of lab-tree is lost")
	h.press("y", "enter")
	wantRan(t, f,
		"save lab-test2 /var/lib/libvirt/images/lab/lab-test2.save",
		"restore lab-test2 /var/lib/libvirt/images/lab/lab-test2.save",
		"managedsave lab-test2 ", "start lab-test2 ", "managedsave-remove lab-tree ")
}

func TestRefusedPlanChangesNothing(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	h.press("u") // lab-test2 runs already
	h.contains("✖ lab-test2 is already running")
	h.press("esc")
	h.press("s")
	h.press("ctrl+u") // textinput: delete to the start
	h.typeText("rel.save")
	h.press("enter")
	h.contains("is not absolute")
	if len(f.ranOps()) != 0 {
		t.Errorf("ran %v", f.ranOps())
	}
}

func TestReadOnlyRefusesEveryChange(t *testing.T) {
	f := newFake(classicDomain(), branchyDomain())
	f.readOnly = true
	h := newHarness(t, f, 80, 24)
	for _, k := range []string{"s", "r", "m", "M", "u"} {
		h.press(k)
		if h.m.dialog != nil {
			t.Fatalf("%s opened a dialog on a read-only connection", k)
		}
		h.contains("read-only")
	}
	h.press("2")
	for _, k := range []string{"n", "r", "d", "D"} {
		h.press(k)
		if h.m.dialog != nil {
			t.Fatalf("%s opened a dialog on a read-only connection", k)
		}
		h.contains("read-only")
	}
	if len(f.plannedOps())+len(f.ranOps()) != 0 {
		t.Errorf("read-only connection reached the backend: %v %v", f.plannedOps(), f.ranOps())
	}
}

func TestHelpListsOperationKeys(t *testing.T) {
	h := newHarness(t, newFake(classicDomain()), 80, 40)
	h.press("?")
	h.contains("save to file", "restore from file", "managed save", "remove managed save", "start",
		"new snapshot", "revert", "delete metadata only")
}

// TestProgramNewSnapshot is the whole flow in the real program: the form,
// the plan, the run in a Cmd goroutine behind the spinner, the result, and
// the re-read domain's tree.
func TestProgramNewSnapshot(t *testing.T) {
	f := newFake(classicDomain())
	tm := startProgram(t, f)
	waitOutput(t, tm, "lab-test2")
	tm.Send(keyMsg("2"))
	tm.Send(keyMsg("n"))
	waitOutput(t, tm, "New snapshot of lab-test2")
	tm.Type("fresh")
	tm.Send(keyMsg("enter"))
	waitOutput(t, tm, "Carry out this plan?")
	tm.Send(keyMsg("y"))
	waitOutput(t, tm, "✔ Created")
	tm.Send(keyMsg("enter")) // closes the result at once: the q that follows quits
	m, frame := finalFrame(t, tm)
	if m.dialog != nil {
		t.Error("the result dialog is still open")
	}
	if !strings.Contains(frame, "● fresh     internal") || !strings.Contains(frame, "current fresh") {
		t.Errorf("the tree lacks the new current snapshot:\n%s", frame)
	}
	wantRan(t, f, "snapshot-create lab-test2 fresh")
}

// TestTypeaheadReachesTheNewDialog: a dialog opens within the Update of the
// key that asked for it, so keys typed right after (over a slow link they
// arrive together) go to it, not to the pane behind.
func TestTypeaheadReachesTheNewDialog(t *testing.T) {
	f := newFake(classicDomain())
	h := newHarness(t, f, 80, 24)
	h.send(keyMsg("2"))
	for _, k := range []string{"n", "a", "b", "enter"} {
		h.send(keyMsg(k)) // the Cmds are not run in between
	}
	d, ok := h.m.dialog.(*dialog.OpDialog)
	if !ok || d.Title() != "New snapshot ab of lab-test2" {
		t.Fatalf("typeahead went astray: dialog %T\n%s", h.m.dialog, h.view())
	}
}

// TestRefusalHintsUseTUIWording: the model words its fixes for the CLI
// (--metadata-only); the TUI shows the key that does it instead, and the
// CLI's wording stays as it was.
func TestRefusalHintsUseTUIWording(t *testing.T) {
	d := branchyDomain()
	d.Snapshots = append(d.Snapshots, model.Snapshot{Name: "ext", Parent: "b3", Kind: model.SnapshotExternal, Memory: model.MemoryNo,
		State: "disk-snapshot", Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/var/lib/libvirt/images/lab/tree_ext.qcow2"}}})
	f := newFake(d)
	h := newHarness(t, f, 80, 24)
	h.press("2", "G")
	if s := h.m.detail.Snaps().Selected(); s == nil || s.Name != "ext" {
		t.Fatalf("selected %+v", s)
	}
	h.press("d")
	flat := strings.Join(strings.Fields(h.view()), " ")
	for _, w := range []string{"because its parent b3 is internal", "hint: remove only its metadata with the D key on the snapshot tab (every file stays)"} {
		if !strings.Contains(flat, w) {
			t.Errorf("view lacks %q:\n%s", w, h.view())
		}
	}
	h.lacks("--metadata-only", "virtchain snapshot delete")
	if len(f.ranOps()) != 0 {
		t.Fatalf("ran %v", f.ranOps())
	}
	_, err := model.PlanSnapshotDelete([]model.Domain{d}, model.SnapshotDeleteRequest{Domain: "lab-tree", Name: "ext"}, nil, model.SnapshotFacts{})
	if err == nil || !strings.Contains(err.Error(), "virtchain snapshot delete lab-tree ext --metadata-only") {
		t.Fatalf("CLI wording changed: %v", err)
	}
}
