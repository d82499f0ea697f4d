package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// Polling limits for GetBlockJobInfo: only while a job is live, at most 4
// reads a second while it copies, once a second while it sits at READY.
const (
	pollRunning = 250 * time.Millisecond
	pollReady   = time.Second
	// goneGrace is how long a job that GetBlockJobInfo no longer reports
	// waits for libvirt's final event before virtchain decides by itself.
	goneGrace = 2 * time.Second
)

// jobHint adds what to do for the libvirt errors a block job commonly meets.
func jobHint(domain, disk string, err error) string {
	msg := strings.ToLower(errorText(err))
	switch {
	case strings.Contains(msg, "not ready for pivot"):
		return "wait for READY ('virtchain jobs'), or abort without --pivot"
	case strings.Contains(msg, "already in active block job"), strings.Contains(msg, "block job") && strings.Contains(msg, "already"):
		return "one job per disk: wait for it, or 'virtchain abort " + domain + " " + disk + "'"
	case strings.Contains(msg, "no active block job"), strings.Contains(msg, "no job"):
		return "list running jobs with 'virtchain jobs'"
	case strings.Contains(msg, "domain is not running"):
		return "start the domain, or merge it offline while it is shut off"
	case virtCode(err) == libvirt.ERR_OPERATION_DENIED || strings.Contains(msg, "read-only"):
		return model.ReadOnlyFix
	}
	return ""
}

func jobErr(op, domain, disk string, err error) error {
	return &LibvirtError{Op: op + " on " + domain + " " + disk, Err: err, Hint: jobHint(domain, disk, err)}
}

// kindOf maps libvirt's job type to virtchain's words.
func kindOf(t libvirt.DomainBlockJobType) model.JobKind {
	switch t {
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_PULL:
		return model.JobPull
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_COMMIT:
		return model.JobCommit
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT:
		return model.JobActiveCommit
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_COPY:
		return model.JobCopy
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_BACKUP:
		return model.JobBackup
	}
	return model.JobUnknown
}

// lookupDomain returns a domain the caller must Free.
func (c *Conn) lookupDomain(name string) (*libvirt.Domain, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN {
		return nil, model.NoDomain(name)
	}
	if err != nil {
		return nil, &LibvirtError{Op: "find domain " + name, Err: err}
	}
	return dom, nil
}

// startBlockJob asks libvirt to start the commit or pull of bp on a running
// domain. Paths are given the way libvirt accepts them: vda[N] from the live
// XML, or the file path.
func (c *Conn) startBlockJob(bp *model.BlockPlan) error {
	dom, err := c.lookupDomain(bp.Domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	// The points this merge writes over are marked before it writes.
	marksBefore, err := markPoints(dom, bp)
	if err != nil {
		return err
	}
	bw := uint64(bp.Bandwidth)
	doing, check := "starting the "+string(bp.Kind)+" of "+bp.Domain+" "+bp.Target, blockJobInfo(bp.Domain, bp.Target)
	switch bp.Kind {
	case model.JobCommit, model.JobActiveCommit:
		var flags libvirt.DomainBlockCommitFlags
		if bp.Shallow {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_SHALLOW
		}
		if bp.Kind == model.JobActiveCommit {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_ACTIVE
		}
		if bp.Relative {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_RELATIVE
		}
		if bw > 0 {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES
		}
		if err := c.during(doing, check, func() error { return dom.BlockCommit(bp.Target, bp.BaseArg, bp.TopArg, bw, flags) }); err != nil {
			undoMarks(dom, bp, marksBefore)
			return jobErr("start commit", bp.Domain, bp.Target, err)
		}
	case model.JobPull:
		var err error
		if bp.BaseArg == "" && !bp.Relative {
			var flags libvirt.DomainBlockPullFlags
			if bw > 0 {
				flags |= libvirt.DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES
			}
			err = c.during(doing, check, func() error { return dom.BlockPull(bp.Target, bw, flags) })
		} else {
			var flags libvirt.DomainBlockRebaseFlags
			if bp.Relative {
				flags |= libvirt.DOMAIN_BLOCK_REBASE_RELATIVE
			}
			if bw > 0 {
				flags |= libvirt.DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES
			}
			err = c.during(doing, check, func() error { return dom.BlockRebase(bp.Target, bp.BaseArg, bw, flags) })
		}
		if err != nil {
			undoMarks(dom, bp, marksBefore)
			return jobErr("start pull", bp.Domain, bp.Target, err)
		}
	default:
		return fmt.Errorf("virtchain does not start %s jobs", bp.Kind)
	}
	return nil
}

// AbortJob stops the block job on domain's disk without waiting. With
// pivot, a READY mirror (active commit, copy) switches to its new image;
// without, the chain stays as it was. The outcome arrives as an event.
func (c *Conn) AbortJob(domain, disk string, pivot bool) error {
	dom, err := c.lookupDomain(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	if err := refuseNoJob(dom, domain, disk); err != nil {
		return err
	}
	flags := libvirt.DOMAIN_BLOCK_JOB_ABORT_ASYNC
	op, doing := "abort the block job", "aborting the block job"
	if pivot {
		flags |= libvirt.DOMAIN_BLOCK_JOB_ABORT_PIVOT
		op, doing = "pivot the block job", "pivoting the block job"
	}
	if err := c.during(doing+" of "+domain+" "+disk, blockJobInfo(domain, disk), func() error { return dom.BlockJobAbort(disk, flags) }); err != nil {
		return jobErr(op, domain, disk, err)
	}
	return nil
}

// SetJobBandwidth changes a running job's limit, in bytes per second
// (0 removes it).
func (c *Conn) SetJobBandwidth(domain, disk string, bytesPerSec int64) error {
	if bytesPerSec < 0 {
		return model.RefuseBandwidth()
	}
	dom, err := c.lookupDomain(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	if err := refuseNoJob(dom, domain, disk); err != nil {
		return err
	}
	if err := c.during("setting the bandwidth of the block job of "+domain+" "+disk, blockJobInfo(domain, disk), func() error {
		return dom.BlockJobSetSpeed(disk, uint64(bytesPerSec), libvirt.DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES)
	}); err != nil {
		return jobErr("set the bandwidth", domain, disk, err)
	}
	return nil
}

// refuseNoJob says "no block job" in virtchain's words when the disk has
// none; libvirt's own answer differs between abort and set-speed. A disk
// libvirt cannot read is left to the call that follows, with its own text.
func refuseNoJob(dom *libvirt.Domain, domain, disk string) error {
	if _, ok, err := jobInfo(dom, disk); err == nil && !ok {
		return model.NoJob(domain, disk)
	}
	return nil
}

// jobInfo reads one disk's job. ok is false when there is none: libvirt
// then answers with a zero struct and no error.
func jobInfo(dom *libvirt.Domain, disk string) (info *libvirt.DomainBlockJobInfo, ok bool, err error) {
	info, err = dom.GetBlockJobInfo(disk, libvirt.DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES)
	if err != nil {
		return nil, false, err
	}
	if info.Type == 0 && info.Cur == 0 && info.End == 0 && info.Bandwidth == 0 {
		return info, false, nil
	}
	return info, true, nil
}

// ListJobs reads every block job on the connection now, including jobs
// started by virsh or another virtchain: one GetBlockJobInfo per disk of
// each running domain.
func (c *Conn) ListJobs(ctx context.Context) ([]model.Job, error) {
	doms, err := c.virt.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return nil, &LibvirtError{Op: "list running domains on " + c.uri, Err: err}
	}
	defer freeDomains(doms)
	var out []model.Job
	now := time.Now()
	for i := range doms {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		name, err := doms[i].GetName()
		if err != nil {
			continue
		}
		for _, j := range domainJobs(&doms[i], name, now) {
			out = append(out, j)
		}
	}
	sortJobs(out)
	return out, nil
}

// domainJobs reads the live jobs of one running domain. A domain that
// stopped meanwhile simply has none.
func domainJobs(dom *libvirt.Domain, name string, now time.Time) []model.Job {
	xml, err := dom.GetXMLDesc(0)
	if err != nil {
		return nil
	}
	var def libvirtxml.Domain
	if def.Unmarshal(xml) != nil || def.Devices == nil {
		return nil
	}
	var out []model.Job
	for _, d := range def.Devices.Disks {
		if d.Target == nil || d.Target.Dev == "" {
			continue
		}
		info, ok, err := jobInfo(dom, d.Target.Dev)
		if err != nil || !ok {
			continue
		}
		j := model.Job{Domain: name, Disk: d.Target.Dev, Kind: kindOf(info.Type), Phase: model.PhaseRunning,
			Bandwidth: int64(info.Bandwidth)}
		j.Observe(int64(info.Cur), int64(info.End), now)
		// libvirt marks a mirror that reached READY in the live XML; the
		// READY event itself was sent before we were listening.
		if d.Mirror != nil && d.Mirror.Ready == "yes" {
			j.SetPhase(model.PhaseReady, now)
		}
		// The mirror names the image an active commit writes into: its base.
		if d.Mirror != nil && d.Mirror.Source != nil && d.Mirror.Source.File != nil {
			j.Base = d.Mirror.Source.File.File
		}
		out = append(out, j)
	}
	return out
}

func sortJobs(js []model.Job) {
	sort.Slice(js, func(a, b int) bool { return js[a].Key() < js[b].Key() })
}

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
// now is what happens.
func (c *Conn) WatchJobsToStop(ctx context.Context) (*JobWatcher, error) {
	return c.jobWatcher(ctx, true)
}

func (c *Conn) watchJobs(ctx context.Context, hold bool) (*JobWatcher, error) {
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
		wj := &watched{job: j, dom: dom}
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
	return w.start(bp)
}

// start runs a plan whose free space was just checked.
func (w *JobWatcher) start(bp *model.BlockPlan) (model.Job, error) {
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
	wj := &watched{job: j}
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
		for _, wj := range w.jobs {
			if wj.cancel != nil {
				wj.cancel()
			}
		}
		w.mu.Unlock()
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

// loop applies events and polls live jobs. With no live online job it
// sleeps until an event, a Start or a Rescan.
func (w *JobWatcher) loop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := w.nextDue()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
			tc = timer.C
		}
		select {
		case <-w.done:
			return
		case ev := <-w.events:
			w.applyEvent(ev)
		case <-w.wake:
		case <-tc:
		}
		w.pollDue()
	}
}

// nextDue is the earliest time a live online job needs attention, or zero.
func (w *JobWatcher) nextDue() time.Time {
	if w.c.IsLost() {
		return time.Time{} // nothing to read until a new connection
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var next time.Time
	for _, wj := range w.jobs {
		if wj.dom == nil || !wj.job.Phase.Live() {
			continue
		}
		t := wj.nextPoll
		if !wj.gone.IsZero() {
			t = wj.gone.Add(goneGrace)
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// pollDue reads GetBlockJobInfo for the jobs whose turn it is.
func (w *JobWatcher) pollDue() {
	now := time.Now()
	type due struct {
		key string
		dom *libvirt.Domain
		job model.Job
	}
	var list []due
	w.mu.Lock()
	for k, wj := range w.jobs {
		if wj.dom != nil && wj.job.Phase.Live() && !now.Before(wj.nextPoll) {
			list = append(list, due{k, wj.dom, wj.job})
		}
	}
	w.mu.Unlock()
	for _, d := range list {
		info, ok, err := jobInfo(d.dom, d.job.Disk)
		now := time.Now()
		w.mu.Lock()
		wj, still := w.jobs[d.key]
		if !still || wj.dom != d.dom {
			w.mu.Unlock()
			continue
		}
		if wj.job.Phase == model.PhaseReady {
			wj.nextPoll = now.Add(pollReady)
		} else {
			wj.nextPoll = now.Add(pollRunning)
		}
		switch {
		case w.c.lostErr(err):
			// The connection failed, not the job: it goes on in QEMU,
			// and its intent stays for the watcher of a new connection.
			w.mu.Unlock()
			continue
		case err != nil || !ok:
			// Finished or the domain stopped; the final event normally
			// follows at once. Give it a moment, then decide.
			if wj.gone.IsZero() {
				wj.gone = now
				w.mu.Unlock()
				continue
			}
			if now.Sub(wj.gone) < goneGrace {
				w.mu.Unlock()
				continue
			}
			j := wj.job
			if j.End > 0 && j.Cur >= j.End && err == nil {
				j.SetPhase(model.PhaseCompleted, now)
			} else {
				j.SetPhase(model.PhaseFailed, now)
				j.Error = "the job ended without a report from libvirt; check the chain with 'virtchain chain " + j.Domain + " " + j.Disk + "'"
				if err != nil {
					j.Error = errorText(err)
				}
			}
			w.dropLocked(d.key)
			w.mu.Unlock()
			w.send(j, true)
		default:
			wj.gone = time.Time{}
			before := wj.job
			wj.job.Observe(int64(info.Cur), int64(info.End), now)
			wj.job.Bandwidth = int64(info.Bandwidth)
			if wj.job.Kind == model.JobUnknown || wj.job.Kind == "" {
				wj.job.Kind = kindOf(info.Type)
			}
			j := wj.job
			w.mu.Unlock()
			// Nothing moved: nothing to redraw.
			if j.Cur != before.Cur || j.End != before.End || j.Bandwidth != before.Bandwidth || j.Kind != before.Kind {
				w.send(j, false)
			}
		}
	}
}

// dropLocked forgets a finished job. w.mu is held.
func (w *JobWatcher) dropLocked(key string) {
	if wj, ok := w.jobs[key]; ok {
		if wj.dom != nil {
			_ = wj.dom.Free()
		}
		dropIntent(wj.intent)
		delete(w.jobs, key)
	}
}

// applyEvent moves a job to the phase libvirt reports and, at READY,
// carries out the pivot or keep-overlay the job was started with.
func (w *JobWatcher) applyEvent(ev blockEvent) {
	key := model.JobKey(ev.domain, ev.disk)
	w.mu.Lock()
	wj, ok := w.jobs[key]
	if !ok {
		// A job started elsewhere after our scan.
		wj = &watched{job: model.Job{Domain: ev.domain, Disk: ev.disk, Kind: ev.kind, Phase: model.PhaseRunning, Started: ev.at}}
		if ev.status == libvirt.DOMAIN_BLOCK_JOB_READY {
			if dom, err := w.c.virt.LookupDomainByName(ev.domain); err == nil {
				wj.dom = dom
			}
		}
		w.jobs[key] = wj
	}
	if wj.job.Kind == "" || wj.job.Kind == model.JobUnknown {
		wj.job.Kind = ev.kind
	}
	var act string
	switch ev.status {
	case libvirt.DOMAIN_BLOCK_JOB_READY:
		wj.job.SetPhase(model.PhaseReady, ev.at)
		if !wj.acted && wj.job.AfterReady != model.AfterReadyWait {
			act = wj.job.AfterReady
			wj.acted = true
		}
		j := wj.job
		w.mu.Unlock()
		w.send(j, true)
		if act != "" {
			if err := w.c.AbortJob(ev.domain, ev.disk, act == model.AfterReadyPivot); err != nil && !w.c.lostErr(err) {
				w.mu.Lock()
				if wj, ok := w.jobs[key]; ok {
					wj.job.Error = err.Error()
					j = wj.job
				}
				w.mu.Unlock()
				w.send(j, true)
			}
		}
		return
	case libvirt.DOMAIN_BLOCK_JOB_COMPLETED:
		wj.job.SetPhase(model.PhaseCompleted, ev.at)
	case libvirt.DOMAIN_BLOCK_JOB_FAILED:
		wj.job.SetPhase(model.PhaseFailed, ev.at)
		if wj.job.Error == "" {
			wj.job.Error = w.c.noSpaceFailure(wj.job)
		}
		if wj.job.Error == "" {
			wj.job.Error = "QEMU reported the job failed; see /var/log/libvirt/qemu/" + ev.domain + ".log"
		}
	case libvirt.DOMAIN_BLOCK_JOB_CANCELED:
		wj.job.SetPhase(model.PhaseCancelled, ev.at)
	default:
		w.mu.Unlock()
		return
	}
	j := wj.job
	w.dropLocked(key)
	w.mu.Unlock()
	w.send(j, true)
}

// offlineProgress records qemu-img's percentage as bytes of the plan's
// estimate, so offline jobs fill the same bars.
func (w *JobWatcher) offlineProgress(key string, pct float64) {
	w.mu.Lock()
	wj, ok := w.jobs[key]
	if !ok {
		w.mu.Unlock()
		return
	}
	end := wj.job.End
	if end <= 0 {
		end = 100
	}
	wj.job.Observe(int64(pct/100*float64(end)), end, time.Now())
	j := wj.job
	w.mu.Unlock()
	w.send(j, false)
}

// offlineDone ends an offline job.
func (w *JobWatcher) offlineDone(key string, err error, cancelled bool) {
	now := time.Now()
	w.mu.Lock()
	wj, ok := w.jobs[key]
	if !ok {
		w.mu.Unlock()
		return
	}
	switch {
	case err == nil:
		wj.job.SetPhase(model.PhaseCompleted, now)
	case cancelled:
		wj.job.SetPhase(model.PhaseCancelled, now)
		wj.job.Error = err.Error()
	default:
		wj.job.SetPhase(model.PhaseFailed, now)
		wj.job.Error = err.Error()
		if s := w.c.noSpaceFailure(wj.job); s != "" {
			wj.job.Error = s + " (" + err.Error() + ")"
		}
	}
	j := wj.job
	w.dropLocked(key)
	w.mu.Unlock()
	w.send(j, true)
}
