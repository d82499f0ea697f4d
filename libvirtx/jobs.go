package libvirtx

import (
	"context"
	"errors"
	"sync"

	"virtchain/model"
)

// Block jobs take the shape snapshots have: PlanCommit and PlanPull read
// the host once and return the plan the user confirms (or a
// *model.Refusal); StartBlockJob plans again from the request the plan
// carries, refuses a plan that changed meanwhile (model.ErrPlanChanged),
// and only then starts the job. The TUI and the CLI call these same
// methods; their signatures use model types only (ui must not import
// libvirtx).

// jobSide is the connection's one JobWatcher, started on first use and
// closed by Conn.Close (or CloseBlockJobs).
type jobSide struct {
	mu sync.Mutex
	w  *JobWatcher
}

// jobWatcher returns the connection's watcher, starting it (which lists
// the jobs already running: re-attach) on first use. With hold, recorded
// READY actions are not carried out on jobs found READY from now on (see
// WatchJobsToStop).
func (c *Conn) jobWatcher(ctx context.Context, hold bool) (*JobWatcher, error) {
	c.jobs.mu.Lock()
	defer c.jobs.mu.Unlock()
	if w := c.jobs.w; w != nil {
		if hold {
			w.mu.Lock()
			w.hold = true
			w.mu.Unlock()
		}
		return w, nil
	}
	w, err := c.watchJobs(ctx, hold)
	if err != nil {
		return nil, err
	}
	c.jobs.w = w
	return w, nil
}

// forgetWatcher drops w as the connection's watcher once it is closed.
func (c *Conn) forgetWatcher(w *JobWatcher) {
	c.jobs.mu.Lock()
	if c.jobs.w == w {
		c.jobs.w = nil
	}
	c.jobs.mu.Unlock()
}

// CloseBlockJobs stops following jobs (the jobs themselves go on). Close
// does it too; a later call starts a new watcher.
func (c *Conn) CloseBlockJobs() {
	c.jobs.mu.Lock()
	w := c.jobs.w
	c.jobs.w = nil
	c.jobs.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

// Lost is closed when the watcher's connection is lost. The watcher then
// stops reading its jobs without ending them (they go on in QEMU); follow
// them with a watcher on a new connection (Conn.Redial), which re-finds
// each job and its recorded READY action.
func (w *JobWatcher) Lost() <-chan struct{} { return w.c.Lost() }

// PlanCommit reads the host (every domain, for the shared-image guard, and
// the jobs running now) and plans a commit, free space included.
func (c *Conn) PlanCommit(ctx context.Context, req model.CommitRequest) (*model.BlockPlan, error) {
	return c.planBlock(ctx, func(doms []model.Domain, jobs []model.Job) (*model.BlockPlan, error) {
		return model.PlanCommit(doms, req, jobs)
	})
}

// PlanPull reads the host and plans a pull into the active layer, free
// space included.
func (c *Conn) PlanPull(ctx context.Context, req model.PullRequest) (*model.BlockPlan, error) {
	return c.planBlock(ctx, func(doms []model.Domain, jobs []model.Job) (*model.BlockPlan, error) {
		return model.PlanPull(doms, req, jobs)
	})
}

// planBlock is the one read of the host a block plan needs.
func (c *Conn) planBlock(ctx context.Context, plan func([]model.Domain, []model.Job) (*model.BlockPlan, error)) (*model.BlockPlan, error) {
	doms, peers, err := c.guardDiscover(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := c.liveJobs(ctx)
	if err != nil {
		return nil, err
	}
	bp, err := plan(doms, jobs)
	if err != nil {
		return nil, err
	}
	if err := peers.Apply(&bp.Plan); err != nil {
		return nil, err
	}
	if bp.Offline && !c.local {
		bp.ByPausedDomain()
	}
	if err := model.CheckSpace(&bp.Plan, c.SpaceFacts("")); err != nil {
		return nil, err
	}
	return bp, nil
}

// liveJobs is every job on the connection: libvirt's, plus the offline
// qemu-img runs of this connection's watcher, which libvirt does not know.
func (c *Conn) liveJobs(ctx context.Context) ([]model.Job, error) {
	jobs, err := c.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	c.jobs.mu.Lock()
	w := c.jobs.w
	c.jobs.mu.Unlock()
	if w == nil {
		return jobs, nil
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		seen[j.Key()] = true
	}
	for _, j := range w.Jobs() {
		if j.Offline && j.Phase.Live() && !seen[j.Key()] {
			jobs = append(jobs, j)
		}
	}
	sortJobs(jobs)
	return jobs, nil
}

// errNoRequest is a plan that was not made by model.PlanCommit or PlanPull.
var errNoRequest = errors.New("internal: the block plan carries no request to plan again from")

// StartBlockJob plans bp again from its request, refuses when the fresh
// plan differs from bp (the same check as snapshots: model.ErrPlanChanged)
// and starts the fresh plan under the connection's watcher. The job's
// changes follow on the stream of WatchBlockJobs.
func (c *Conn) StartBlockJob(ctx context.Context, bp *model.BlockPlan) (model.Job, error) {
	fresh, err := replan(c, bp.Op, bp.Plan, func() (*model.BlockPlan, error) {
		switch {
		case bp.Commit != nil:
			return c.PlanCommit(ctx, *bp.Commit)
		case bp.Pull != nil:
			return c.PlanPull(ctx, *bp.Pull)
		}
		return nil, errNoRequest
	})
	if err != nil {
		return model.Job{}, err
	}
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return model.Job{}, err
	}
	// The job's end is journaled by the watcher that sees it end.
	op, err := c.beginOp(fresh.Base())
	if err != nil {
		return model.Job{}, err
	}
	j, err := w.start(fresh, op.id)
	if err != nil {
		op.end(err)
		return j, err
	}
	journalEvent(op.id, model.JournalRunning)
	return j, nil
}

// WatchBlockJobs starts following every block job on the connection and
// returns the stream of changes plus the jobs running now (started by an
// earlier virtchain, by virsh, ...). The stream is the connection's one:
// callers share it.
func (c *Conn) WatchBlockJobs(ctx context.Context) (<-chan model.Job, []model.Job, error) {
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return w.Updates(), w.Jobs(), nil
}

// RescanBlockJobs picks up jobs started elsewhere since the last look
// (libvirt sends no event when a job starts).
func (c *Conn) RescanBlockJobs(ctx context.Context) error {
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return err
	}
	return w.Rescan(ctx)
}

// AbortBlockJob stops a job, pivoting a READY mirror when pivot is set.
func (c *Conn) AbortBlockJob(ctx context.Context, domain, disk string, pivot bool) error {
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return err
	}
	return w.Abort(domain, disk, pivot)
}

// PivotBlockJob pivots an active commit now if it is READY, or as soon as
// it gets there.
func (c *Conn) PivotBlockJob(ctx context.Context, domain, disk string) error {
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return err
	}
	return w.PivotWhenReady(domain, disk)
}

// SetBlockJobBandwidth changes a running job's limit (bytes per second,
// 0 for none).
func (c *Conn) SetBlockJobBandwidth(ctx context.Context, domain, disk string, bytesPerSec int64) error {
	w, err := c.jobWatcher(ctx, false)
	if err != nil {
		return err
	}
	return w.SetBandwidth(domain, disk, bytesPerSec)
}

// CleanupStale carries out a cleanup plan and returns the snapshots whose
// metadata it removed and the files it deleted.
func (c *Conn) CleanupStale(ctx context.Context, cp *model.CleanupPlan) (removed, deleted []string, err error) {
	res, err := c.Cleanup(ctx, cp)
	return res.RemovedSnapshots, res.DeletedFiles, err
}
