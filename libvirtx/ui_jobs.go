package libvirtx

import (
	"context"
	"sync"

	"virtchain/model"
)

// The terminal UI reaches block jobs through methods of Conn whose
// signatures use model types only (ui must not import libvirtx). They share
// one JobWatcher per connection, started on first use; a Conn has no field
// for it, so it lives in this table.
var uiWatchers = struct {
	mu sync.Mutex
	m  map[*Conn]*JobWatcher
}{m: map[*Conn]*JobWatcher{}}

// jobWatcher returns the connection's shared watcher, starting it (which
// lists the jobs already running: re-attach) on first use.
func (c *Conn) jobWatcher(ctx context.Context) (*JobWatcher, error) {
	uiWatchers.mu.Lock()
	defer uiWatchers.mu.Unlock()
	if w, ok := uiWatchers.m[c]; ok {
		return w, nil
	}
	w, err := c.WatchJobs(ctx)
	if err != nil {
		return nil, err
	}
	uiWatchers.m[c] = w
	return w, nil
}

// Lost is closed when the watcher's connection is lost. The watcher then
// stops reading its jobs without ending them (they go on in QEMU); follow
// them with a watcher on a new connection (Conn.Redial), which re-finds
// each job and its recorded READY action.
func (w *JobWatcher) Lost() <-chan struct{} { return w.c.Lost() }

// WatchBlockJobs starts following every block job on the connection and
// returns the stream of changes plus the jobs running now (started by an
// earlier virtchain, by virsh, ...). Only the first caller gets a stream
// to itself; later calls share it.
func (c *Conn) WatchBlockJobs(ctx context.Context) (<-chan model.Job, []model.Job, error) {
	w, err := c.jobWatcher(ctx)
	if err != nil {
		return nil, nil, err
	}
	return w.Updates(), w.Jobs(), nil
}

// RescanBlockJobs picks up jobs started elsewhere since the last look
// (libvirt sends no event when a job starts).
func (c *Conn) RescanBlockJobs(ctx context.Context) error {
	w, err := c.jobWatcher(ctx)
	if err != nil {
		return err
	}
	return w.Rescan(ctx)
}

// StartBlockJob runs a commit or pull plan under the shared watcher.
func (c *Conn) StartBlockJob(ctx context.Context, bp *model.BlockPlan) (model.Job, error) {
	w, err := c.jobWatcher(ctx)
	if err != nil {
		return model.Job{}, err
	}
	return w.Start(ctx, bp)
}

// AbortBlockJob stops a job, pivoting a READY mirror when pivot is set.
func (c *Conn) AbortBlockJob(ctx context.Context, domain, disk string, pivot bool) error {
	w, err := c.jobWatcher(ctx)
	if err != nil {
		return err
	}
	return w.Abort(domain, disk, pivot)
}

// PivotBlockJob pivots an active commit now if it is READY, or as soon as
// it gets there.
func (c *Conn) PivotBlockJob(ctx context.Context, domain, disk string) error {
	w, err := c.jobWatcher(ctx)
	if err != nil {
		return err
	}
	return w.PivotWhenReady(domain, disk)
}

// SetBlockJobBandwidth changes a running job's limit (bytes per second,
// 0 for none).
func (c *Conn) SetBlockJobBandwidth(ctx context.Context, domain, disk string, bytesPerSec int64) error {
	w, err := c.jobWatcher(ctx)
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

// CloseBlockJobs stops following jobs (the jobs themselves go on). Call it
// before Close.
func (c *Conn) CloseBlockJobs() {
	uiWatchers.mu.Lock()
	w, ok := uiWatchers.m[c]
	delete(uiWatchers.m, c)
	uiWatchers.mu.Unlock()
	if ok {
		w.Close()
	}
}
