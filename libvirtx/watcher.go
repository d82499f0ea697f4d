package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// blockEvent is one BLOCK_JOB_2 event, copied out of libvirt's callback.
type blockEvent struct {
	domain string
	disk   string
	kind   model.JobKind
	status libvirt.ConnectDomainEventBlockJobStatus
	at     time.Time
}

// watched is the watcher's state for one job.
type watched struct {
	job model.Job
	dom *libvirt.Domain // held while the job lives, for cheap polling
	// nextPoll is when GetBlockJobInfo may be read again.
	nextPoll time.Time
	// gone is when libvirt first reported no job, while the final event
	// has not arrived yet.
	gone time.Time
	// acted is set once the READY action (pivot or keep-overlay abort) was
	// issued, so it is issued once.
	acted bool
	// cancel stops an offline qemu-img run.
	cancel context.CancelFunc
	// intent is the file that keeps the READY action for a re-attach.
	intent string
	// journal is the ID of the job's operation in the journal, whose end
	// the watcher records ("" for a job virtchain did not start), and
	// since when libvirt ran it, for a job found running.
	journal      string
	journalSince time.Time
}

// JobWatcher follows every block job on a connection: the ones it starts,
// the ones it finds running when it starts (re-attach), and the ones that
// report through events. Progress comes from block-job events plus
// GetBlockJobInfo, read only while a job is live. Each change is sent on
// Updates as a copy of the job; a job's last update has a final phase.
type JobWatcher struct {
	c       *Conn
	updates chan model.Job
	events  chan blockEvent
	wake    chan struct{}
	done    chan struct{}
	cbID    int
	wg      sync.WaitGroup

	mu        sync.Mutex
	jobs      map[string]*watched
	closed    bool
	closeOnce sync.Once
	// ended holds journal ends of dropped jobs, not yet written.
	ended []model.JournalEntry
	// hold keeps recorded READY actions from being carried out on jobs
	// found already READY: the caller is about to decide itself.
	hold bool
}

// WatchJobs returns the connection's job watcher, starting it on first use:
// it registers for block-job events, lists the jobs already running on the
// connection, and follows them. Closing it (or the connection) stops the
// following; a later WatchJobs starts a new watcher.
func (c *Conn) WatchJobs(ctx context.Context) (*JobWatcher, error) {
	return c.jobWatcher(ctx, false)
}

// WatchJobsToStop is WatchJobs for a caller that is about to abort or pivot
// a job itself ('virtchain abort --wait'): a pivot an earlier virtchain
// recorded is not carried out on a job found READY, so the abort asked for
// now is what happens. The connection has one watcher: if it already
// runs, it holds back such actions from now on.
func (c *Conn) WatchJobsToStop(ctx context.Context) (*JobWatcher, error) {
	return c.jobWatcher(ctx, true)
}

func (c *Conn) watchJobs(ctx context.Context, hold bool) (*JobWatcher, error) {
	if c.noLoop {
		// A programming error: block-job events need the event loop.
		return nil, fmt.Errorf("internal error: the connection to %s was opened for a one-shot read (OpenQuery), so it cannot follow block jobs (please report it)", c.uri)
	}
	// The domain events (enospc I/O errors among them) are subscribed
	// before the watcher's loop starts: their round trips after it would
	// give the loop time to act on a READY job, and end it, before the
	// caller has seen it.
	c.events.follow()
	w := &JobWatcher{
		hold:    hold,
		c:       c,
		updates: make(chan model.Job, 64),
		events:  make(chan blockEvent, 256),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		jobs:    map[string]*watched{},
	}
	id, err := c.virt.DomainEventBlockJob2Register(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventBlockJob) {
		// Runs on libvirt's event loop: copy and hand over, never block.
		select {
		case w.events <- blockEvent{domain: domainName(d), disk: ev.Disk, kind: kindOf(ev.Type), status: ev.Status, at: time.Now()}:
		default:
		}
	})
	if err != nil {
		return nil, &LibvirtError{Op: "subscribe to block-job events on " + c.uri, Err: err}
	}
	w.cbID = id
	if err := w.Rescan(ctx); err != nil {
		_ = c.virt.DomainEventDeregister(id)
		return nil, err
	}
	w.wg.Add(1)
	go w.loop()
	w.watchIOErrors()
	return w, nil
}

// Updates delivers a copy of a job each time it changes. It is closed by
// Close.
func (w *JobWatcher) Updates() <-chan model.Job { return w.updates }

// Jobs returns the live jobs, sorted by domain and disk.
func (w *JobWatcher) Jobs() []model.Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]model.Job, 0, len(w.jobs))
	for _, wj := range w.jobs {
		out = append(out, wj.job)
	}
	sortJobs(out)
	return out
}

// Job returns the live job on domain's disk.
func (w *JobWatcher) Job(domain, disk string) (model.Job, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wj, ok := w.jobs[model.JobKey(domain, disk)]; ok {
		return wj.job, true
	}
	return model.Job{}, false
}

// Rescan lists the jobs on the connection and follows any it did not know,
// such as one started by virsh after the watcher started (libvirt sends no
// event when a job starts).
func (w *JobWatcher) Rescan(ctx context.Context) error {
	scanned := time.Now()
	found, err := w.c.ListJobs(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	var fresh, pivotNow, abortNow []model.Job
	// A job a virtchain started and no virtchain saw end: its end is
	// journaled when this watcher sees it.
	var ops map[string]openJob
	if w.anyNew(found) {
		ops = w.c.openJobOps()
	}
	w.mu.Lock()
	for _, j := range found {
		live[j.Key()] = true
		if _, ok := w.jobs[j.Key()]; ok {
			continue
		}
		dom, err := w.c.virt.LookupDomainByName(j.Domain)
		if err != nil {
			continue
		}
		op := ops[j.Key()]
		wj := &watched{job: j, dom: dom, journal: op.id, journalSince: op.started}
		// A job an earlier virtchain started: what it was to do at READY.
		if j.Kind == model.JobActiveCommit {
			wj.job.AfterReady, wj.intent = loadIntent(dom, j)
			if wj.job.AfterReady != model.AfterReadyWait && j.Phase == model.PhaseReady && !w.hold {
				wj.acted = true
				if wj.job.AfterReady == model.AfterReadyPivot {
					pivotNow = append(pivotNow, wj.job)
				} else {
					abortNow = append(abortNow, wj.job)
				}
			}
		}
		w.jobs[j.Key()] = wj
		fresh = append(fresh, wj.job)
	}
	w.mu.Unlock()
	w.c.sweepIntents(live, scanned)
	for _, j := range fresh {
		w.send(j, false)
	}
	for _, j := range pivotNow {
		w.actAtReady(j, true)
	}
	for _, j := range abortNow {
		w.actAtReady(j, false)
	}
	w.poke()
	return nil
}

// anyNew reports whether found has a job the watcher does not follow.
func (w *JobWatcher) anyNew(found []model.Job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range found {
		if _, ok := w.jobs[j.Key()]; !ok {
			return true
		}
	}
	return false
}

// actAtReady carries out a READY job's pivot (or keep-overlay abort); a
// refusal is shown on the job.
func (w *JobWatcher) actAtReady(j model.Job, pivot bool) {
	err := w.c.AbortJob(j.Domain, j.Disk, pivot)
	if err == nil || w.c.lostErr(err) {
		return // lost: a new connection's watcher acts on the intent
	}
	w.mu.Lock()
	if wj, ok := w.jobs[j.Key()]; ok {
		wj.job.Error = err.Error()
		j = wj.job
	}
	w.mu.Unlock()
	w.send(j, true)
}

func (w *JobWatcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// send delivers an update. Progress may be dropped when the reader lags
// (the next one carries the same news); phase changes are always delivered.
func (w *JobWatcher) send(j model.Job, mustDeliver bool) {
	if !mustDeliver {
		select {
		case w.updates <- j:
		default:
		}
		return
	}
	select {
	case w.updates <- j:
	case <-w.done:
	}
}

// Start runs the plan as it is, after checking free space again (the plan
// may be minutes old): a libvirt block job on a running domain, qemu-img on
// a shut-off one. Conn.StartBlockJob is the checked way, which plans again
// first. It returns the job once it is under way; its changes follow on
// Updates. An active commit with AfterReady pivot or keep-overlay gets that
// action at READY from the watcher.
func (w *JobWatcher) Start(_ context.Context, bp *model.BlockPlan) (model.Job, error) {
	if err := model.CheckSpace(&bp.Plan, w.c.SpaceFacts("")); err != nil {
		return bp.Job(), err
	}
	return w.start(bp, "")
}

// start runs a plan whose free space was just checked; journal is its
// operation's ID in the journal.
func (w *JobWatcher) start(bp *model.BlockPlan, journal string) (model.Job, error) {
	key := model.JobKey(bp.Domain, bp.Target)
	j := bp.Job()
	j.Started, j.Updated = time.Now(), time.Now()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return j, errors.New("the job watcher is closed")
	}
	if old, ok := w.jobs[key]; ok && old.job.Phase.Live() {
		w.mu.Unlock()
		return j, model.RefuseBusy(old.job)
	}
	// Registered before libvirt starts it, so an event of a very short job
	// finds it.
	wj := &watched{job: j, journal: journal}
	w.jobs[key] = wj
	w.mu.Unlock()
	// What virtchain must remember of the job is written first: a job whose
	// records cannot be kept safely does not start.
	rec, err := w.c.recordJob(bp, j)
	if err != nil {
		w.mu.Lock()
		if w.jobs[key] == wj {
			delete(w.jobs, key)
		}
		w.mu.Unlock()
		return j, err
	}

	if bp.Offline {
		octx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		wj.cancel = cancel
		w.mu.Unlock()
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer cancel()
			w.runOffline(octx, bp)
		}()
		return j, nil
	}
	dom, err := w.c.lookupDomain(bp.Domain)
	if err == nil {
		err = w.c.startBlockJob(bp)
	}
	w.mu.Lock()
	if err != nil {
		rec.notStarted()
		if w.jobs[key] == wj {
			delete(w.jobs, key)
		}
		w.mu.Unlock()
		if dom != nil {
			_ = dom.Free()
		}
		return j, err
	}
	w.mu.Unlock()
	// Written once the job exists, so a sweep never takes it for a leftover.
	intent := rec.started()
	w.mu.Lock()
	if w.jobs[key] == wj {
		wj.dom = dom
		wj.intent = intent
		j = wj.job
	} else {
		// Its final event came first (a tiny job); it was reported then.
		_ = dom.Free()
		dropIntent(intent)
	}
	w.mu.Unlock()
	w.poke()
	return j, nil
}

// Abort stops a job: offline, by stopping qemu-img (the chain is as
// before: data only ever moves into images the guest reads through);
// online, with BlockJobAbort, and with pivot for a READY mirror.
func (w *JobWatcher) Abort(domain, disk string, pivot bool) error {
	w.mu.Lock()
	wj, ok := w.jobs[model.JobKey(domain, disk)]
	if ok && wj.cancel != nil {
		if pivot {
			w.mu.Unlock()
			return model.Refuse("an offline job has no pivot", "abort it without --pivot")
		}
		wj.cancel()
		w.mu.Unlock()
		return nil
	}
	if ok {
		wj.acted = true // the user decides now, not the READY action
	}
	w.mu.Unlock()
	return w.c.AbortJob(domain, disk, pivot)
}

// PivotWhenReady pivots an active commit (or copy) now if it is READY, or
// as soon as it gets there: what a re-attached virtchain uses to finish a
// job whose starter went away.
func (w *JobWatcher) PivotWhenReady(domain, disk string) error {
	w.mu.Lock()
	wj, ok := w.jobs[model.JobKey(domain, disk)]
	if !ok {
		w.mu.Unlock()
		return model.NoJob(domain, disk)
	}
	if wj.job.Kind != model.JobActiveCommit && wj.job.Kind != model.JobCopy {
		w.mu.Unlock()
		return model.Refuse(fmt.Sprintf("a %s job has no pivot", wj.job.Kind), "wait for it to complete")
	}
	wj.job.AfterReady = model.AfterReadyPivot
	ready := wj.job.Phase == model.PhaseReady
	if ready {
		wj.acted = true
	}
	if !ready && wj.dom != nil {
		// Kept, so that a virtchain started after this one went away
		// pivots too. Under the lock: wj.dom is freed when the job ends.
		wj.intent = saveIntent(wj.dom, wj.job)
	}
	w.mu.Unlock()
	if ready {
		return w.c.AbortJob(domain, disk, true)
	}
	return nil
}

// SetBandwidth changes a running job's limit in bytes per second.
func (w *JobWatcher) SetBandwidth(domain, disk string, bytesPerSec int64) error {
	w.mu.Lock()
	wj, ok := w.jobs[model.JobKey(domain, disk)]
	offline := ok && wj.cancel != nil
	w.mu.Unlock()
	if offline {
		return model.Refuse("qemu-img cannot change its speed while it runs", "abort and start it again with --bandwidth")
	}
	if err := w.c.SetJobBandwidth(domain, disk, bytesPerSec); err != nil {
		return err
	}
	w.mu.Lock()
	if wj, ok := w.jobs[model.JobKey(domain, disk)]; ok {
		wj.job.Bandwidth = bytesPerSec
		wj.nextPoll = time.Time{}
	}
	w.mu.Unlock()
	w.poke()
	return nil
}

// Close stops following jobs (the jobs themselves keep running), stops
// offline runs, and closes Updates.
func (w *JobWatcher) Close() {
	w.closeOnce.Do(func() {
		w.c.forgetWatcher(w)
		w.mu.Lock()
		w.closed = true
		var left []string
		for _, wj := range w.jobs {
			if wj.cancel != nil {
				wj.cancel()
			} else if wj.journal != "" && wj.job.Phase.Live() {
				left = append(left, wj.journal)
			}
		}
		w.mu.Unlock()
		// Left running on purpose: history says "started", not
		// "interrupted".
		for _, id := range left {
			journalEvent(id, model.JournalDetached)
		}
		_ = w.c.virt.DomainEventDeregister(w.cbID)
		close(w.done)
		w.wg.Wait()
		w.mu.Lock()
		for k, wj := range w.jobs {
			if wj.dom != nil {
				_ = wj.dom.Free()
			}
			delete(w.jobs, k)
		}
		w.mu.Unlock()
		close(w.updates)
	})
}
