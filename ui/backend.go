package ui

import (
	"context"

	"virtchain/model"
)

// Backend is all the UI needs from the host. libvirtx.Conn implements it;
// tests use a fake. Every call runs inside a tea.Cmd, never in Update or View.
type Backend interface {
	URI() string
	ReadOnly() bool
	Discover(ctx context.Context) ([]model.Domain, error)
	DiscoverDomain(ctx context.Context, name string) (model.Domain, error)
	Events() <-chan model.Event

	SnapshotBackend
	JobBackend
}

// SnapshotBackend is snapshots and restore points. Each Plan call reads
// the host and returns the plan to show (or a *model.Refusal); each action
// plans again and runs only what that fresh plan allows.
type SnapshotBackend interface {
	PlanSnapshotCreate(ctx context.Context, req model.SnapshotCreateRequest) (*model.SnapshotCreatePlan, error)
	CreateSnapshot(ctx context.Context, p *model.SnapshotCreatePlan) error
	PlanSnapshotRevert(ctx context.Context, req model.SnapshotRevertRequest) (*model.SnapshotRevertPlan, error)
	RevertSnapshot(ctx context.Context, p *model.SnapshotRevertPlan) error
	PlanSnapshotDelete(ctx context.Context, req model.SnapshotDeleteRequest) (*model.SnapshotDeletePlan, error)
	DeleteSnapshot(ctx context.Context, p *model.SnapshotDeletePlan) error

	PlanSave(ctx context.Context, req model.SaveRequest) (*model.Plan, error)
	Save(ctx context.Context, req model.SaveRequest) error
	PlanRestore(ctx context.Context, req model.RestoreRequest) (*model.Plan, error)
	Restore(ctx context.Context, req model.RestoreRequest) error
	PlanManagedSave(ctx context.Context, domain string) (*model.Plan, error)
	ManagedSave(ctx context.Context, domain string) error
	PlanManagedSaveRemove(ctx context.Context, domain string) (*model.Plan, error)
	ManagedSaveRemove(ctx context.Context, domain string) error
	PlanStart(ctx context.Context, domain string) (*model.Plan, error)
	Start(ctx context.Context, domain string) error
}
