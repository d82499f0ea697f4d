package soak

import (
	"context"
	"fmt"
	"sync"
	"time"

	"virtchain/libvirtx/testhost"
)

// watchdog watches the host's libvirtd while the soak runs. Others restart
// the shared daemon (briefly), and the soak rides that out; a daemon that
// is gone or silent for longer than grace has died (libvirt 9.0's libvirtd
// segfaulted once, and the soak then waited on it for many minutes). The
// watchdog then cancels ctx, which every command the soak runs is bound
// to, so the step in progress ends at once and the soak fails with it.
type watchdog struct {
	ctx  context.Context
	done chan struct{}
	once sync.Once
}

// dog is the watchdog of the soak that runs; a quiet one until needSoak
// starts a real one.
var dog = &watchdog{ctx: context.Background(), done: make(chan struct{})}

// daemonAlive says whether the host's libvirtd runs and answers, and why
// not when it does not.
func daemonAlive() (bool, string) {
	switch {
	case !testhost.LibvirtdRunning():
		return false, "no libvirtd process of host " + testhost.Name() + " is left (it crashed or was killed)"
	case !testhost.Answers():
		return false, "libvirtd of host " + testhost.Name() + " does not answer on " + testhost.DirectURI()
	}
	return true, ""
}

// watch checks alive every interval and gives up on the daemon once it has
// not been alive for grace.
func watch(alive func() (bool, string), every, grace time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(context.Background())
	d := &watchdog{ctx: ctx, done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		defer cancel(nil)   // after the cause is set, or at stop: frees the context
		var since time.Time // when it was last seen alive, after a miss
		for {
			select {
			case <-d.done:
				return
			case <-tick.C:
			}
			ok, why := alive()
			switch {
			case ok:
				since = time.Time{}
			case since.IsZero():
				since = time.Now()
			case time.Since(since) >= grace:
				cancel(fmt.Errorf("libvirtd died: %s for %s (since %s)", why, time.Since(since).Round(time.Second), since.UTC().Format("15:04:05")))
				return
			}
		}
	}()
	return d
}

// dead is why the daemon was given up, or nil.
func (d *watchdog) dead() error {
	if d.ctx.Err() == nil {
		return nil
	}
	return context.Cause(d.ctx)
}

// stop ends the watching; ctx stays as it is, so cleanup still runs.
func (d *watchdog) stop() { d.once.Do(func() { close(d.done) }) }
