package ui

import (
	"context"
	"time"

	"virtchain/model"
)

// fakeSnapState is the fake's side of the snapshot and restore-point
// operations: plans come from the real model rules on the fake's domains,
// actions change those domains the way libvirt would (roughly), and
// errors can be injected per operation.
type fakeSnapState struct {
	facts model.SnapshotFacts
	// fail makes the action named by a plan Op ("snapshot-create", "save",
	// ...) return this error.
	fail map[string]error
	// ran lists the actions carried out, as "op domain arg".
	ran []string
	// planned lists the plan calls, as "op domain".
	planned []string
	// saved maps a save file to the domain it holds.
	saved map[string]string
}

func (f *fakeBackend) domain(name string) *model.Domain {
	for i := range f.domains {
		if f.domains[i].Name == name {
			return &f.domains[i]
		}
	}
	return nil
}

// act records an action and returns the injected error, if any; change
// runs only when there is none.
func (f *fakeBackend) act(op, domain, arg string, change func(d *model.Domain)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap.ran = append(f.snap.ran, op+" "+domain+" "+arg)
	if err := f.snap.fail[op]; err != nil {
		return err
	}
	if d := f.domain(domain); d != nil {
		change(d)
	}
	return nil
}

func (f *fakeBackend) plan(op, domain string) []model.Domain {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap.planned = append(f.snap.planned, op+" "+domain)
	return append([]model.Domain(nil), f.domains...)
}

func (f *fakeBackend) PlanSnapshotCreate(_ context.Context, req model.SnapshotCreateRequest) (*model.SnapshotCreatePlan, error) {
	return model.PlanSnapshotCreate(f.plan("snapshot-create", req.Domain), req, f.snap.facts)
}

func (f *fakeBackend) CreateSnapshot(_ context.Context, p *model.SnapshotCreatePlan) error {
	return f.act(p.Op, p.Domain, p.Request.Name, func(d *model.Domain) {
		for i := range d.Snapshots {
			d.Snapshots[i].Current = false
		}
		d.Snapshots = append(d.Snapshots, model.Snapshot{Name: p.Request.Name, Parent: d.CurrentSnapshot, Kind: p.Kind,
			Memory: p.Memory, Description: p.Request.Description, Current: true, Created: time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)})
		d.CurrentSnapshot = p.Request.Name
	})
}

func (f *fakeBackend) PlanSnapshotRevert(_ context.Context, req model.SnapshotRevertRequest) (*model.SnapshotRevertPlan, error) {
	return model.PlanSnapshotRevert(f.plan("snapshot-revert", req.Domain), req, nil, f.snap.facts)
}

func (f *fakeBackend) RevertSnapshot(_ context.Context, p *model.SnapshotRevertPlan) error {
	return f.act(p.Op, p.Domain, p.Request.Name, func(d *model.Domain) {
		for i := range d.Snapshots {
			d.Snapshots[i].Current = d.Snapshots[i].Name == p.Request.Name
		}
		d.CurrentSnapshot = p.Request.Name
		switch p.Start {
		case model.StartRunning:
			d.State = model.StateRunning
		case model.StartPaused:
			d.State = model.StatePaused
		default:
			d.State = model.StateShutoff
		}
	})
}

func (f *fakeBackend) PlanSnapshotDelete(_ context.Context, req model.SnapshotDeleteRequest) (*model.SnapshotDeletePlan, error) {
	return model.PlanSnapshotDelete(f.plan("snapshot-delete", req.Domain), req, nil, f.snap.facts)
}

func (f *fakeBackend) DeleteSnapshot(_ context.Context, p *model.SnapshotDeletePlan) error {
	arg := p.Request.Name
	if p.Request.MetadataOnly {
		arg += " --metadata"
	}
	return f.act(p.Op, p.Domain, arg, func(d *model.Domain) {
		var keep []model.Snapshot
		for _, s := range d.Snapshots {
			if s.Name != p.Request.Name {
				keep = append(keep, s)
			}
		}
		d.Snapshots = keep
	})
}

func (f *fakeBackend) PlanSave(_ context.Context, req model.SaveRequest) (*model.Plan, error) {
	return model.PlanSave(f.plan("save", req.Domain), req, f.snap.facts)
}

func (f *fakeBackend) Save(_ context.Context, req model.SaveRequest) error {
	return f.act("save", req.Domain, req.File, func(d *model.Domain) {
		d.State = model.StateShutoff
		if f.snap.saved == nil {
			f.snap.saved = map[string]string{}
		}
		f.snap.saved[req.File] = d.Name
	})
}

func (f *fakeBackend) PlanRestore(_ context.Context, req model.RestoreRequest) (*model.Plan, error) {
	ds := f.plan("restore", "")
	f.mu.Lock()
	name := f.snap.saved[req.File]
	f.mu.Unlock()
	return model.PlanRestore(ds, req, name, f.snap.facts)
}

func (f *fakeBackend) Restore(_ context.Context, req model.RestoreRequest) error {
	f.mu.Lock()
	name := f.snap.saved[req.File]
	f.mu.Unlock()
	return f.act("restore", name, req.File, func(d *model.Domain) {
		d.State = model.StateRunning
		if req.Start == model.StartPaused {
			d.State = model.StatePaused
		}
	})
}

func (f *fakeBackend) PlanManagedSave(_ context.Context, domain string) (*model.Plan, error) {
	return model.PlanManagedSave(f.plan("managedsave", domain), domain, f.snap.facts)
}

func (f *fakeBackend) ManagedSave(_ context.Context, domain string) error {
	return f.act("managedsave", domain, "", func(d *model.Domain) { d.State, d.ManagedSave = model.StateShutoff, true })
}

func (f *fakeBackend) PlanManagedSaveRemove(_ context.Context, domain string) (*model.Plan, error) {
	return model.PlanManagedSaveRemove(f.plan("managedsave-remove", domain), domain)
}

func (f *fakeBackend) ManagedSaveRemove(_ context.Context, domain string) error {
	return f.act("managedsave-remove", domain, "", func(d *model.Domain) { d.ManagedSave = false })
}

func (f *fakeBackend) PlanStart(_ context.Context, domain string) (*model.Plan, error) {
	return model.PlanStart(f.plan("start", domain), domain)
}

func (f *fakeBackend) Start(_ context.Context, domain string) error {
	return f.act("start", domain, "", func(d *model.Domain) { d.State, d.ManagedSave = model.StateRunning, false })
}
