package libvirtx

import (
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

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
	for _, d := range w.dueJobs(time.Now()) {
		info, ok, err := jobInfo(d.dom, d.job.Disk)
		if j, send, must := w.polled(d, info, ok, err); send {
			if must {
				w.flushEnded()
			}
			w.send(j, must)
		}
	}
}

// dueJob is a live online job whose turn to be read has come.
type dueJob struct {
	key string
	dom *libvirt.Domain
	job model.Job
}

func (w *JobWatcher) dueJobs(now time.Time) []dueJob {
	var list []dueJob
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, wj := range w.jobs {
		if wj.dom != nil && wj.job.Phase.Live() && !now.Before(wj.nextPoll) {
			list = append(list, dueJob{k, wj.dom, wj.job})
		}
	}
	return list
}

// polled applies one reading to its job and returns the update to send,
// if any (send), and whether it must be delivered (a final phase).
func (w *JobWatcher) polled(d dueJob, info *libvirt.DomainBlockJobInfo, ok bool, err error) (j model.Job, send, must bool) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	wj, still := w.jobs[d.key]
	if !still || wj.dom != d.dom {
		return j, false, false
	}
	if wj.job.Phase == model.PhaseReady {
		wj.nextPoll = now.Add(pollReady)
	} else {
		wj.nextPoll = now.Add(pollRunning)
	}
	switch {
	case w.c.lostErr(err):
		// The connection failed, not the job: it goes on in QEMU, and its
		// intent stays for the watcher of a new connection.
		return j, false, false
	case err != nil || !ok:
		return w.goneLocked(d.key, wj, err, now)
	}
	wj.gone = time.Time{}
	before := wj.job
	wj.job.Observe(int64(info.Cur), int64(info.End), now)
	wj.job.Bandwidth = int64(info.Bandwidth)
	if wj.job.Kind == model.JobUnknown || wj.job.Kind == "" {
		wj.job.Kind = kindOf(info.Type)
	}
	j = wj.job
	// Nothing moved: nothing to redraw.
	moved := j.Cur != before.Cur || j.End != before.End || j.Bandwidth != before.Bandwidth || j.Kind != before.Kind
	return j, moved, false
}

// goneLocked handles a job libvirt no longer reports: finished, or its
// domain stopped. The final event normally follows at once; it gets a
// moment, then the watcher decides by itself. w.mu is held.
func (w *JobWatcher) goneLocked(key string, wj *watched, err error, now time.Time) (j model.Job, send, must bool) {
	if wj.gone.IsZero() {
		wj.gone = now
		return j, false, false
	}
	if now.Sub(wj.gone) < goneGrace {
		return j, false, false
	}
	j = wj.job
	if j.End > 0 && j.Cur >= j.End && err == nil {
		j.SetPhase(model.PhaseCompleted, now)
	} else {
		j.SetPhase(model.PhaseFailed, now)
		j.Error = "the job ended without a report from libvirt; check the chain with 'virtchain chain " + j.Domain + " " + j.Disk + "'"
		if err != nil {
			j.Error = errorText(err)
		}
	}
	w.dropLocked(key, j)
	return j, true, true
}

// dropLocked forgets a job that ended as final, and keeps its end for
// the journal (flushEnded). w.mu is held.
func (w *JobWatcher) dropLocked(key string, final model.Job) {
	if wj, ok := w.jobs[key]; ok {
		if wj.dom != nil {
			_ = wj.dom.Free()
		}
		dropIntent(wj.intent)
		if wj.journal != "" {
			// A job found running: it ran since libvirt took it.
			if s := wj.journalSince; !s.IsZero() && (final.Started.IsZero() || s.Before(final.Started)) {
				final.Started = s
			}
			w.ended = append(w.ended, model.JobEndEntry(wj.journal, final, final.Updated))
		}
		delete(w.jobs, key)
	}
}

// flushEnded journals the ends of the jobs dropped since the last call.
// It runs before the final update is sent: a 'commit --wait' exits on
// that update, and the end is on disk by then.
func (w *JobWatcher) flushEnded() {
	w.mu.Lock()
	ended := w.ended
	w.ended = nil
	w.mu.Unlock()
	for _, e := range ended {
		_ = appendJournal(e)
	}
}

// applyEvent moves a job to the phase libvirt reports and, at READY,
// carries out the pivot or keep-overlay the job was started with.
func (w *JobWatcher) applyEvent(ev blockEvent) {
	key := model.JobKey(ev.domain, ev.disk)
	op := w.journalOf(key)
	w.mu.Lock()
	wj, ok := w.jobs[key]
	if ok && wj.cancel != nil {
		// An offline merge over a remote connection runs as a block job in
		// the domain started paused; RunOffline follows it and reports its
		// end once the domain is shut off again.
		w.mu.Unlock()
		return
	}
	if !ok {
		// A job started elsewhere after our scan.
		wj = &watched{job: model.Job{Domain: ev.domain, Disk: ev.disk, Kind: ev.kind, Phase: model.PhaseRunning, Started: ev.at}, journal: op.id, journalSince: op.started}
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
	w.dropLocked(key, j)
	w.mu.Unlock()
	w.flushEnded()
	w.send(j, true)
}

// journalOf is, for a job the watcher does not follow yet, the journal op
// a virtchain that started it left open (none otherwise): its end is then
// journaled here.
func (w *JobWatcher) journalOf(key string) openJob {
	w.mu.Lock()
	_, known := w.jobs[key]
	w.mu.Unlock()
	if known {
		return openJob{}
	}
	return w.c.openJobOps()[key]
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
	w.dropLocked(key, j)
	w.mu.Unlock()
	w.flushEnded()
	w.send(j, true)
}
