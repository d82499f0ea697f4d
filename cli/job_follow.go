package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"virtchain/libvirtx"
	"virtchain/model"
)

// jobFollow is the watcher a --wait follows. A lost connection is not a
// failed job: the job goes on in QEMU while libvirtd restarts, so the
// follower says so, reconnects within libvirtx.RedialWithin and goes on
// with a watcher on the new connection, which re-finds the job and the
// READY action its intent file records.
type jobFollow struct {
	env *Env
	w   *libvirtx.JobWatcher
	// stop makes the new watcher one of WatchJobsToStop (abort --wait).
	stop bool
	// again repeats the request of abort --wait on the new connection
	// while the job is still there: the first one may not have arrived.
	again func(w *libvirtx.JobWatcher) error
	// within bounds the reconnect (libvirtx.RedialWithin; tests shorten it).
	within time.Duration
}

// watchJobs opens the follower on env's connection.
func watchJobs(env *Env, stop bool) (*jobFollow, error) {
	conn, err := env.Conn()
	if err != nil {
		return nil, err
	}
	f := &jobFollow{env: env, stop: stop, within: libvirtx.RedialWithin}
	f.w, err = f.open(conn)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (f *jobFollow) open(conn *libvirtx.Conn) (*libvirtx.JobWatcher, error) {
	if f.stop {
		return conn.WatchJobsToStop(f.env.Ctx)
	}
	return conn.WatchJobs(f.env.Ctx)
}

// Close stops following (the jobs go on).
func (f *jobFollow) Close() { f.w.Close() }

// reconnect replaces the lost connection and its watcher. The error, when
// it gives up, says how to resume.
func (f *jobFollow) reconnect() error {
	env := f.env
	old, err := env.Conn()
	if err != nil {
		return err
	}
	uri := old.URI()
	printf(env.Stderr, "virtchain: connection to %s lost; the job may still be running in libvirtd. Reconnecting (for up to %gs)…\n",
		uri, f.within.Seconds())
	ctx, cancel := context.WithTimeout(env.Ctx, f.within)
	defer cancel()
	nc, err := old.Redial(ctx, nil)
	var w *libvirtx.JobWatcher
	if err == nil {
		if w, err = f.open(nc); err != nil {
			_ = nc.Close()
		}
	}
	if err != nil {
		if env.Ctx.Err() != nil {
			return errStoppedWaiting
		}
		var lost *libvirtx.LostError
		if errors.As(err, &lost) && lost.Err != nil {
			err = lost.Err // the last try's own words
		}
		return fmt.Errorf("could not reconnect to %s within %gs (%s); the job may still be running: follow it with 'virtchain jobs --wait'",
			uri, f.within.Seconds(), model.OneLine(err.Error()))
	}
	f.w.Close()
	env.replaceConn(nc)
	f.w = w
	printf(env.Stderr, "virtchain: reconnected to %s; following the job again\n", uri)
	return nil
}

// replaceConn makes c the connection of the rest of the command, closing
// the lost one.
func (e *Env) replaceConn(c *libvirtx.Conn) {
	if e.conn != nil && e.conn != c {
		_ = e.conn.Close()
	}
	e.conn, e.connErr = c, nil
}

var errStoppedWaiting = fmt.Errorf("stopped waiting; a running block job goes on: follow it with 'virtchain jobs --wait', stop it with 'virtchain abort DOMAIN TARGET'")

// endedUnseen is the end of a job that finished while the connection was
// lost: no event will ever say how, so its chain now tells.
func endedUnseen(env *Env, j model.Job) model.Job {
	done := false
	if conn, err := env.Conn(); err == nil {
		if d, err := conn.DiscoverDomain(env.Ctx, j.Domain); err == nil {
			if disk := d.Disk(j.Disk); disk != nil && len(disk.Layers) > 0 {
				in := map[string]bool{}
				for _, l := range disk.Layers {
					in[l.Path] = true
				}
				isCommit := j.Kind == model.JobCommit || j.Kind == model.JobActiveCommit
				done = (isCommit && j.Top != "" && !in[j.Top]) ||
					(j.Kind == model.JobActiveCommit && j.Base != "" && disk.Layers[0].Path == j.Base)
			}
		}
	}
	if done {
		j.SetPhase(model.PhaseCompleted, time.Now())
		return j
	}
	j.SetPhase(model.PhaseFailed, time.Now())
	j.Error = "it ended while the connection was lost, and its chain does not show it done: check it with 'virtchain chain " +
		model.ShellQuote(j.Domain) + " " + model.ShellQuote(j.Disk) + "'"
	return j
}

// followJobs prints progress for the jobs in keys (every job when keys is
// empty, until none is live) and returns each one's final state. With
// settleReady, a mirror at READY that nothing will pivot or abort counts as
// settled, as with virsh blockcommit --active --wait: it would wait forever.
// A lost connection is followed by a reconnect (jobFollow.reconnect).
func followJobs(env *Env, f *jobFollow, keys map[string]bool, settleReady bool) (map[string]model.Job, error) {
	fl := &following{env: env, f: f, keys: keys, all: len(keys) == 0, settleReady: settleReady,
		final: map[string]model.Job{},
		p:     newProgressPrinter(env.Stdout, env.StdoutIsTerminal() && !env.JSON, env.JSON)}
	if fl.all {
		fl.keys = map[string]bool{}
		for _, j := range f.w.Jobs() {
			fl.keys[j.Key()] = true
		}
	}
	for _, j := range f.w.Jobs() {
		if fl.keys[j.Key()] {
			fl.p.update(j)
		}
	}
	for len(fl.final) < len(fl.keys) {
		select {
		case <-env.Ctx.Done():
			fl.p.finish()
			return nil, errStoppedWaiting
		case <-f.w.Lost():
			if err := fl.reconnected(); err != nil {
				return nil, err
			}
		case j, ok := <-f.w.Updates():
			if !ok {
				fl.p.finish()
				return nil, fmt.Errorf("the job watcher stopped")
			}
			if fl.all && !fl.keys[j.Key()] && j.Phase.Live() {
				fl.keys[j.Key()] = true
			}
			if fl.keys[j.Key()] {
				fl.seen(j)
			}
		}
	}
	fl.p.finish()
	return fl.final, nil
}

// following is the state of one followJobs.
type following struct {
	env         *Env
	f           *jobFollow
	keys        map[string]bool
	all         bool // every job: keys grows as jobs appear
	settleReady bool
	final       map[string]model.Job
	p           *progressPrinter
}

// seen shows a job's new state and settles it when it is over.
func (fl *following) seen(j model.Job) {
	fl.p.update(j)
	if !j.Phase.Live() || (fl.settleReady && waitsAtReady(j)) {
		fl.final[j.Key()] = j
	}
}

// reconnected replaces the lost connection and looks where each job is
// now: found again (and asked again, for abort --wait), or ended unseen.
func (fl *following) reconnected() error {
	fl.p.finish()
	fl.p.drawn = 0 // the note reconnect prints moved the cursor: draw anew
	if err := fl.f.reconnect(); err != nil {
		return err
	}
	w := fl.f.w
	for k := range fl.keys {
		last, seen := fl.p.jobs[k]
		if _, done := fl.final[k]; done || !seen {
			continue
		}
		j, ok := w.Job(last.Domain, last.Disk)
		if !ok {
			j = endedUnseen(fl.env, last)
		} else if fl.f.again != nil {
			if err := fl.f.again(w); err != nil {
				j.Error = err.Error()
			}
		}
		fl.seen(j)
	}
	return nil
}

// waitsAtReady reports a mirror at READY with no pivot or abort to come.
func waitsAtReady(j model.Job) bool {
	return j.Phase == model.PhaseReady && j.AfterReady == model.AfterReadyWait
}

// readyNote is what to do with a job that waits at READY.
func readyNote(j model.Job) string {
	d, t := model.ShellQuote(j.Domain), model.ShellQuote(j.Disk)
	return fmt.Sprintf("%s %s: %s is READY; pivot with 'virtchain abort %s %s --pivot', or keep the overlay with 'virtchain abort %s %s'",
		model.Escape(j.Domain), model.Escape(j.Disk), j.Kind, d, t, d, t)
}
