package libvirtx

import (
	"testing"

	"virtchain/model"
)

func TestSnapSaveRestoreManagedSave(t *testing.T) {
	l := newSnapLab(t, "save", true)
	l.write("vda", "write -P 0x11 0 1M")
	ref := l.view("vda", "ref.qcow2")
	file := l.path("vm.save")

	if _, err := l.c.PlanSave(l.ctx, model.SaveRequest{Domain: l.name, File: file}); err != nil {
		t.Fatal(err)
	}
	if err := l.c.Save(l.ctx, model.SaveRequest{Domain: l.name, File: file}); err != nil {
		t.Fatal(err)
	}
	l.wantState(model.StateShutoff)
	if !exists(file) {
		t.Fatalf("%s was not written", file)
	}
	l.sameView("vda", ref)
	if name, err := l.c.SaveImageDomain(file); err != nil || name != l.name {
		t.Fatalf("save file names %q (%v)", name, err)
	}

	p, err := l.c.PlanRestore(l.ctx, model.RestoreRequest{File: file, Start: model.StartPaused})
	if err != nil {
		t.Fatal(err)
	}
	if p.Domain != l.name {
		t.Fatalf("restore plan names %q", p.Domain)
	}
	if err := l.c.Restore(l.ctx, model.RestoreRequest{File: file, Start: model.StartPaused}); err != nil {
		t.Fatal(err)
	}
	l.wantState(model.StatePaused)
	l.sameView("vda", ref)
	if !exists(file) {
		t.Fatal("restore removed the save file")
	}
	// Restoring into a domain that runs is refused, and changes nothing.
	_, err = l.c.PlanRestore(l.ctx, model.RestoreRequest{File: file})
	l.wantRefused(err, l.snapshotDirState(), "is paused", "stop it first")

	if err := l.c.ManagedSave(l.ctx, l.name); err != nil {
		t.Fatal(err)
	}
	d := l.domain()
	if d.State != model.StateShutoff || !d.ManagedSave {
		t.Fatalf("after managed save: %s, managed save %v", d.State, d.ManagedSave)
	}
	if err := l.c.Start(l.ctx, l.name); err != nil {
		t.Fatal(err)
	}
	d = l.domain()
	if d.State != model.StatePaused || d.ManagedSave {
		// It was paused when saved, and resumes as it was.
		t.Fatalf("after start: %s, managed save %v", d.State, d.ManagedSave)
	}
	l.sameView("vda", ref)

	if err := l.c.ManagedSave(l.ctx, l.name); err != nil {
		t.Fatal(err)
	}
	if err := l.c.ManagedSaveRemove(l.ctx, l.name); err != nil {
		t.Fatal(err)
	}
	if d = l.domain(); d.ManagedSave || d.State != model.StateShutoff {
		t.Fatalf("after managedsave-remove: %s, managed save %v", d.State, d.ManagedSave)
	}
	err = l.c.ManagedSaveRemove(l.ctx, l.name)
	l.wantRefused(err, l.snapshotDirState(), "no managed-save image")
	l.sameView("vda", ref)
}
