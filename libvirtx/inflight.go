package libvirtx

import (
	"sync"

	"virtchain/model"
)

// A libvirt C call cannot be cancelled: when virtchain must end in the
// middle of one (a signal), the call may still be running in libvirtd.
// inFlight records the changing calls under way, so the last line virtchain
// prints can name the one it leaves behind and how to look at it.
type inFlight struct {
	mu    sync.Mutex
	next  int
	calls map[int]Call
}

// Call is a changing libvirt call under way: what libvirtd is doing
// ("saving lab-a to /var/tmp/a.save") and the command that shows it there
// ("virsh domjobinfo lab-a").
type Call struct {
	Doing, Check string
}

// during runs fn, a libvirt call, recorded as in flight.
func (c *Conn) during(doing, check string, fn func() error) error {
	f := &c.inflight
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[int]Call{}
	}
	id := f.next
	f.next++
	f.calls[id] = Call{Doing: doing, Check: check}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, id)
		f.mu.Unlock()
	}()
	return fn()
}

// InFlight is the latest changing call still running on this connection;
// ok is false when there is none. Safe from any goroutine.
func (c *Conn) InFlight() (call Call, ok bool) {
	if c == nil {
		return Call{}, false
	}
	f := &c.inflight
	f.mu.Lock()
	defer f.mu.Unlock()
	latest := -1
	for id := range f.calls {
		latest = max(latest, id)
	}
	if latest < 0 {
		return Call{}, false
	}
	return f.calls[latest], true
}

// domJobInfo is the virsh command that shows a domain's job.
func domJobInfo(domain string) string { return "virsh domjobinfo " + model.ShellQuote(domain) }

// blockJobInfo is the virsh command that shows a disk's block job.
func blockJobInfo(domain, disk string) string {
	return "virsh blockjob " + model.ShellQuote(domain) + " " + model.ShellQuote(disk) + " --info"
}
