package common

import (
	"context"
	"time"

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
	// CheckDomain is `virtchain check DOMAIN`: every layer's verdict and
	// the metadata findings, each with its fix.
	CheckDomain(ctx context.Context, name string) (model.DomainHealth, error)

	SnapshotBackend
	JobBackend
	OrphanBackend

	// History reads the journal: what virtchain changed on domain of this
	// host, oldest first. It reads a local file, never the host.
	History(ctx context.Context, domain string) ([]model.HistoryOp, error)
}

// OrphanBackend is one host's side of the orphans view: its facts (its
// domains and the images in its folders) and the deletion of one orphan a
// plan lists, once more checked to be the very file found. The view asks
// every connected host and plans over all of them (model.GatherOrphans,
// model.DeleteOrphans).
type OrphanBackend interface {
	OrphanFacts(ctx context.Context, dirs []string) (model.OrphanFacts, error)
	DeleteOrphan(ctx context.Context, img model.OrphanImage) error
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

// JobBackend is what the block-job features need from the host, in the
// shape snapshots have: each Plan call reads the host once and returns the
// plan to show (or a *model.Refusal); StartBlockJob plans again and starts
// only what that fresh plan allows. libvirtx.Conn implements it with one
// watcher per connection.
type JobBackend interface {
	// PlanCommit and PlanPull plan a merge, free space included.
	PlanCommit(ctx context.Context, req model.CommitRequest) (*model.BlockPlan, error)
	PlanPull(ctx context.Context, req model.PullRequest) (*model.BlockPlan, error)

	// WatchBlockJobs starts following every block job on the connection
	// and returns the change stream plus the jobs running now.
	WatchBlockJobs(ctx context.Context) (<-chan model.Job, []model.Job, error)
	// RescanBlockJobs picks up jobs started elsewhere (no event says so).
	RescanBlockJobs(ctx context.Context) error
	StartBlockJob(ctx context.Context, bp *model.BlockPlan) (model.Job, error)
	AbortBlockJob(ctx context.Context, domain, disk string, pivot bool) error
	PivotBlockJob(ctx context.Context, domain, disk string) error
	SetBlockJobBandwidth(ctx context.Context, domain, disk string, bytesPerSec int64) error
	// PlanCleanup plans removing stale snapshot metadata; CleanupStale
	// removes it (and deletes files only when the plan lists any).
	PlanCleanup(ctx context.Context, req model.CleanupRequest) (*model.CleanupPlan, error)
	CleanupStale(ctx context.Context, cp *model.CleanupPlan) (removed, deleted []string, err error)
	// CloseBlockJobs stops following jobs; the jobs themselves go on.
	CloseBlockJobs()
}

// Reconnector is the side of a Backend whose connection can be lost: the
// daemon restarts, a keepalive times out, ssh drops. The UI waits on Lost
// in a Cmd, says so at once, and asks for a new connection in the
// background. Running domains and their block jobs go on meanwhile.
type Reconnector interface {
	// Lost is closed as soon as the connection is lost.
	Lost() <-chan struct{}
	// Reconnect opens a new connection like this one, trying with backoff
	// until one works or ctx ends; tried hears of each failed try and the
	// wait before the next. The new Backend replaces this one.
	Reconnect(ctx context.Context, tried func(attempt int, wait time.Duration, err error)) (Backend, error)
	// Close closes the connection; Run calls it on the backends its
	// reconnects opened (the caller owns the first one).
	Close() error
}
