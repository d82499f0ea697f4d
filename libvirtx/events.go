package libvirtx

import (
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// Event kinds carried in model.Event.Kind. Lifecycle kinds use virsh's
// words for libvirt's lifecycle event types.
//
// Not every change is evented by libvirt: creating or deleting a snapshot
// (without a revert), a block job finishing, or an image changing on disk
// send nothing here, so whoever makes such a change re-reads the domain
// itself. Block-job events are a separate subscription.
const (
	EventDefined       = "defined"
	EventUndefined     = "undefined"
	EventStarted       = "started"
	EventSuspended     = "suspended"
	EventResumed       = "resumed"
	EventStopped       = "stopped"
	EventShutdown      = "shutdown"
	EventPMSuspended   = "pmsuspended"
	EventCrashed       = "crashed"
	EventDeviceAdded   = "device-added"
	EventDeviceRemoved = "device-removed"
	EventDiskChange    = "disk-change"
	// EventDisconnected has no domain: the connection to libvirt closed
	// (daemon restart, keepalive timeout). Every domain is stale.
	EventDisconnected = "disconnected"
	// EventNoSpace is libvirt's I/O error with reason enospc; Detail says
	// which file and what to do.
	EventNoSpace = "io-error-enospc"
)

// eventBuffer is large enough for a burst (lab up, start all); when it is
// full an event is dropped rather than blocking libvirt's event loop.
const eventBuffer = 256

var lifecycleKinds = map[libvirt.DomainEventType]string{
	libvirt.DOMAIN_EVENT_DEFINED:     EventDefined,
	libvirt.DOMAIN_EVENT_UNDEFINED:   EventUndefined,
	libvirt.DOMAIN_EVENT_STARTED:     EventStarted,
	libvirt.DOMAIN_EVENT_SUSPENDED:   EventSuspended,
	libvirt.DOMAIN_EVENT_RESUMED:     EventResumed,
	libvirt.DOMAIN_EVENT_STOPPED:     EventStopped,
	libvirt.DOMAIN_EVENT_SHUTDOWN:    EventShutdown,
	libvirt.DOMAIN_EVENT_PMSUSPENDED: EventPMSuspended,
	libvirt.DOMAIN_EVENT_CRASHED:     EventCrashed,
}

// eventHub owns a connection's callbacks and the channel they feed.
type eventHub struct {
	virt *libvirt.Connect
	ch   chan model.Event
	// onClose runs when libvirt closes the connection under us.
	onClose func()

	followMu  sync.Mutex // follow's round trips against close's
	mu        sync.Mutex
	closed    bool
	following bool
	ids       []int
	closeCBs  bool
	// noSpace fans enospc I/O errors out to job watchers: libvirt takes
	// one callback per event type and connection.
	noSpace noSpaceSubs
}

func newEventHub(virt *libvirt.Connect, onClose func()) *eventHub {
	return &eventHub{virt: virt, ch: make(chan model.Event, eventBuffer), onClose: onClose}
}

// send never blocks: it runs on libvirt's event loop goroutine, which also
// serves keepalives and every other connection.
func (h *eventHub) send(ev model.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	select {
	case h.ch <- ev:
	default:
	}
}

// domainName is read from the callback's domain without an RPC; the
// binding does not take a reference, so it must not be freed.
func domainName(d *libvirt.Domain) string {
	name, err := d.GetName()
	if err != nil {
		return ""
	}
	return name
}

// watchClose registers the close callback, at Open: it is how a lost
// connection is known at once (EOF on the socket, keepalive timeout),
// before any call fails. It costs no round trip.
func (h *eventHub) watchClose() {
	if err := h.virt.RegisterCloseCallback(func(_ *libvirt.Connect, _ libvirt.ConnectCloseReason) {
		if h.onClose != nil {
			h.onClose()
		}
		h.send(model.Event{Kind: EventDisconnected})
	}); err == nil {
		h.closeCBs = true
	}
}

// follow subscribes, once, to every domain event that changes what
// discovery shows. It runs when someone first listens (Events, a job
// watcher) rather than at Open: each subscription is a round trip there
// and another at Close, which a one-shot command like `list` would pay
// for nothing. A driver that lacks one of them (test:///) simply never
// sends it.
func (h *eventHub) follow() {
	// Not h.mu: a callback's send takes that, and may fire while these
	// round trips are under way.
	h.followMu.Lock()
	defer h.followMu.Unlock()
	h.mu.Lock()
	skip := h.following || h.closed
	h.following = true
	h.mu.Unlock()
	if skip {
		return
	}
	add := func(id int, err error) {
		if err == nil {
			h.mu.Lock()
			h.ids = append(h.ids, id)
			h.mu.Unlock()
		}
	}
	add(h.virt.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
		kind, ok := lifecycleKinds[ev.Event]
		if !ok {
			kind = "lifecycle"
		}
		h.send(model.Event{Domain: domainName(d), Kind: kind})
	}))
	add(h.virt.DomainEventDeviceAddedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, _ *libvirt.DomainEventDeviceAdded) {
		h.send(model.Event{Domain: domainName(d), Kind: EventDeviceAdded})
	}))
	add(h.virt.DomainEventDeviceRemovedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, _ *libvirt.DomainEventDeviceRemoved) {
		h.send(model.Event{Domain: domainName(d), Kind: EventDeviceRemoved})
	}))
	add(h.virt.DomainEventDiskChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, _ *libvirt.DomainEventDiskChange) {
		h.send(model.Event{Domain: domainName(d), Kind: EventDiskChange})
	}))
	add(h.virt.DomainEventIOErrorReasonRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventIOErrorReason) {
		if ev.Reason == "enospc" {
			// Only the event's own fields: no RPC or statfs on the event loop.
			e := ioError{domain: domainName(d), alias: ev.DevAlias, path: ev.SrcPath, paused: ev.Action == libvirt.DOMAIN_EVENT_IO_ERROR_PAUSE}
			h.noSpace.publish(e)
			h.send(model.Event{Domain: e.domain, Kind: EventNoSpace, Detail: model.IOErrorText(e.domain, "", e.path, model.Filesystem{}, e.paused)})
		}
	}))
}

// close deregisters every callback, then closes the channel. The closed
// flag, taken under the same lock as send, keeps a late callback from
// sending on a closed channel.
func (h *eventHub) close() {
	h.followMu.Lock()
	defer h.followMu.Unlock()
	h.mu.Lock()
	ids := h.ids
	h.ids = nil
	already := h.closed
	h.closed = true
	h.mu.Unlock()
	if already {
		return
	}
	for _, id := range ids {
		_ = h.virt.DomainEventDeregister(id)
	}
	if h.closeCBs {
		_ = h.virt.UnregisterCloseCallback()
	}
	if len(ids) > 0 {
		settleEventLoop()
	}
	close(h.ch)
}

// settleEventLoop waits (at most a second) until the event loop has run
// once more. libvirt frees a deregistered callback, and the connection
// reference it holds, from the loop's next pass; a Close before that
// would leave the connection referenced.
func settleEventLoop() {
	ran := make(chan struct{})
	var once sync.Once
	id, err := libvirt.EventAddTimeout(0, func(int) { once.Do(func() { close(ran) }) })
	if err != nil {
		return
	}
	select {
	case <-ran:
	case <-time.After(time.Second):
	}
	_ = libvirt.EventRemoveTimeout(id)
}
