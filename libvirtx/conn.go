package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// DefaultURI is used when neither --connect nor LIBVIRT_DEFAULT_URI is set.
const DefaultURI = "qemu:///system"

// ResolveURI applies virsh's precedence: the flag, then
// LIBVIRT_DEFAULT_URI, then qemu:///system.
func ResolveURI(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("LIBVIRT_DEFAULT_URI"); env != "" {
		return env
	}
	return DefaultURI
}

// Conn is one libvirt connection. It is safe for concurrent use.
type Conn struct {
	virt     *libvirt.Connect
	uri      string
	readonly bool
	// local is true when the daemon runs on this host, so image files can
	// be read directly.
	local bool

	events *eventHub
	// noLoop: opened by OpenQuery without libvirt's event loop.
	noLoop bool
	// closeRefs is what virConnectClose returned: references still held
	// by unfreed objects (tests check it is 0).
	closeRefs int
	inflight  inFlight
	// jobs is the connection's block-job watcher (see jobs.go).
	jobs jobSide

	// lost is closed once the connection is lost (see Lost).
	lost     chan struct{}
	lostOnce sync.Once

	// peers are the other hosts the guards consult (see SetPeers).
	peersMu sync.Mutex
	peers   []model.Peer
	// life keeps Close from freeing the connection under a discovery,
	// which another host's plan may be running on it (a peer read) when
	// the front end closes it.
	life sync.RWMutex

	// calls counts discovery's round trips (see Calls).
	calls atomic.Int64
}

// errClosed is a read of a connection that Close has closed.
func (c *Conn) errClosed() error {
	return fmt.Errorf("the connection to %s is closed", c.uri)
}

// Keepalive settings: a remote daemon that stops answering for
// interval*count seconds closes the connection instead of hanging the UI.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

var (
	loopOnce    sync.Once
	loopErr     error
	loopStarted atomic.Bool
)

// startEventLoop registers libvirt's default event loop and runs it for the
// life of the process. Connections opened after it use it; one opened
// before (OpenQuery) goes on without it.
func startEventLoop() error {
	loopOnce.Do(func() {
		loopErr = libvirt.EventRegisterDefaultImpl()
		if loopErr != nil {
			return
		}
		loopStarted.Store(true)
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					// Only fails on a broken poll(); do not spin.
					time.Sleep(time.Second)
				}
			}
		}()
	})
	return loopErr
}

// ConnectTimeout bounds how long Open waits for a host to answer.
// libvirt's own connect has no deadline: an ssh to a host that drops
// packets waits for minutes with nothing on the screen.
var ConnectTimeout = 30 * time.Second

type dialed struct {
	virt *libvirt.Connect
	err  error
}

// connectWithin opens the libvirt connection, or gives up after limit
// with a CauseNoDaemon error. A connection that answers after that is
// closed as soon as it does, so nothing is left open behind the error.
func connectWithin(uri string, readonly bool, limit time.Duration) (*libvirt.Connect, error) {
	done := make(chan dialed, 1)
	go func() {
		var d dialed
		if readonly {
			d.virt, d.err = libvirt.NewConnectReadOnly(uri)
		} else {
			d.virt, d.err = libvirt.NewConnect(uri)
		}
		done <- d
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case d := <-done:
		if d.err != nil {
			return nil, classifyConnectError(uri, readonly, d.err)
		}
		return d.virt, nil
	case <-timer.C:
		go func() {
			if d := <-done; d.virt != nil {
				_, _ = d.virt.Close()
			}
		}()
		return nil, &ConnectError{URI: uri, Cause: CauseNoDaemon,
			Detail: "no answer within " + limit.String(),
			Fix:    model.Say("check that the host is up and reachable (for qemu+ssh: `ssh` to it by hand), or leave it out of -c/--host")}
	}
}

// Open connects to uri (read-only when readonly is set). It registers the
// libvirt event loop first. Errors are *ConnectError with a one-line message
// naming the URI, the cause and what to run.
func Open(uri string, readonly bool) (*Conn, error) {
	return open(uri, readonly, true)
}

// OpenQuery is Open for a command that reads once and ends (list, chain,
// snapshots, check). On a local URI it leaves libvirt's event loop
// unstarted: each call then waits on the socket itself instead of waking
// the loop's thread a few times a call, about a tenth of a `list`. Such a
// connection has no keepalive, which a local socket does not need (a
// daemon that goes away closes it), and no events: Follow subscribes to
// nothing and job watchers refuse. A remote URI opens as Open does,
// because keepalive is how a host that stopped answering is noticed.
func OpenQuery(uri string, readonly bool) (*Conn, error) {
	return open(uri, readonly, !isLocalURI(uri))
}

func open(uri string, readonly, loop bool) (*Conn, error) {
	if Timings != nil {
		// The library loads on its first call; a call that needs no
		// connection makes that a step of its own.
		_, _ = libvirt.GetVersion()
		timed("libvirt loaded")
	}
	// Once the loop runs, every connection uses it.
	loop = loop || loopStarted.Load()
	if loop {
		if err := startEventLoop(); err != nil {
			return nil, classifyConnectError(uri, readonly, err)
		}
		timed("event loop")
	}
	virt, err := connectWithin(uri, readonly, ConnectTimeout)
	if err != nil {
		return nil, err
	}
	timed("connected")
	if loop {
		// Drivers without a daemon (test:///) do not support keepalive; that is fine.
		_ = virt.SetKeepAlive(keepaliveInterval, keepaliveCount)
	}
	c := &Conn{virt: virt, uri: uri, readonly: readonly, local: isLocalURI(uri), lost: make(chan struct{}), noLoop: !loop}
	c.events = newEventHub(virt, c.markLost)
	c.events.watchClose()
	return c, nil
}

// Lost is closed as soon as the connection is lost: libvirt's close
// callback fired (the daemon went away, keepalive timed out), or a call
// failed on a dead connection. A lost Conn stays lost; Redial opens a new
// one. Running domains and their block jobs are not affected: QEMU keeps
// running while libvirtd restarts.
func (c *Conn) Lost() <-chan struct{} { return c.lost }

// IsLost reports whether Lost is closed.
func (c *Conn) IsLost() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

func (c *Conn) markLost() { c.lostOnce.Do(func() { close(c.lost) }) }

// LostError is an operation that failed because the connection to the
// daemon was lost. errors.Is(err, model.ErrConnectionLost) holds for it
// (and for a *LibvirtError carrying such a failure), so the UI, which does
// not import libvirtx, can tell it from a failed operation.
type LostError struct {
	URI string
	Err error // libvirt's error, or nil
}

func (e *LostError) Error() string {
	s := "connection to " + e.URI + " lost"
	if e.Err != nil {
		s += ": " + errorText(e.Err)
	}
	return s
}

func (e *LostError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, model.ErrConnectionLost) hold.
func (e *LostError) Is(target error) bool { return target == model.ErrConnectionLost }

// IsConnectionLost reports whether err is, or wraps, a lost connection.
func IsConnectionLost(err error) bool { return errors.Is(err, model.ErrConnectionLost) }

// connCodes are the libvirt error numbers a call on a dead connection
// fails with; with one of them and a connection that is no longer alive,
// the failure is the connection's, whatever the message says.
var connCodes = map[libvirt.ErrorNumber]bool{
	libvirt.ERR_SYSTEM_ERROR: true, libvirt.ERR_RPC: true, libvirt.ERR_INTERNAL_ERROR: true,
	libvirt.ERR_NO_CONNECT: true, libvirt.ERR_INVALID_CONN: true,
}

// lostErr reports whether err means this connection is gone, and marks
// it lost if so. IsAlive is answered by the client library without a
// call to the daemon.
func (c *Conn) lostErr(err error) bool {
	if err == nil {
		return false
	}
	lost := lostConnection(err)
	if !lost && connCodes[virtCode(err)] {
		alive, aerr := c.virt.IsAlive()
		lost = aerr == nil && !alive
	}
	if lost {
		c.markLost()
	}
	return lost
}

// Reconnect backoff. After a lost connection the first try comes after
// RedialFirst, each wait doubles up to RedialMaxWait, and a command that
// follows a job (--wait) gives up after RedialWithin in all, saying how
// to resume. The TUI keeps trying until it is quit.
const (
	RedialFirst   = 250 * time.Millisecond
	RedialMaxWait = 5 * time.Second
	RedialWithin  = 60 * time.Second
)

// RedialWait is the wait before reconnect try n (1 is the first).
func RedialWait(n int) time.Duration {
	d := RedialFirst
	for i := 1; i < n && d < RedialMaxWait; i++ {
		d *= 2
	}
	return min(d, RedialMaxWait)
}

// Redial opens a new connection like c (same URI, same read-only flag),
// trying with RedialWait between tries until one works or ctx ends.
// tried, when set, hears of each failed try and the wait before the next.
// The new connection has its own events and job watcher; c stays lost.
func (c *Conn) Redial(ctx context.Context, tried func(attempt int, wait time.Duration, err error)) (*Conn, error) {
	var last error
	for n := 1; ; n++ {
		wait := RedialWait(n)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if last == nil {
				last = ctx.Err()
			}
			return nil, &LostError{URI: c.uri, Err: last}
		case <-t.C:
		}
		nc, err := Open(c.uri, c.readonly)
		if err == nil {
			nc.SetPeers(c.Peers()) // the guards keep reading the same hosts
			return nc, nil
		}
		last = err
		if tried != nil {
			tried(n, RedialWait(n+1), err)
		}
	}
}

// URI is the URI this connection was opened with.
func (c *Conn) URI() string { return c.uri }

// ReadOnly reports whether the connection was opened read-only.
func (c *Conn) ReadOnly() bool { return c.readonly }

// Local reports whether image files named by the domains can be read on
// this host: the URI has no host part (see isLocalURI).
func (c *Conn) Local() bool { return c.local }

// Close stops following block jobs (they go on) and releases the
// connection and its event callbacks.
func (c *Conn) Close() error {
	if c == nil || c.virt == nil {
		return nil
	}
	c.CloseBlockJobs()
	c.events.close()
	c.life.Lock()
	defer c.life.Unlock()
	if c.virt == nil {
		return nil
	}
	n, err := c.virt.Close()
	c.closeRefs = n
	c.virt = nil
	if err != nil {
		return &LibvirtError{Op: "close " + c.uri, Err: err}
	}
	return nil
}

// Events delivers domain lifecycle events (see events.go for the kinds)
// from the first call of Events or Follow on. The channel is closed by
// Close. Nothing polls.
func (c *Conn) Events() <-chan model.Event {
	c.Follow()
	return c.events.ch
}

// Follow subscribes to the domain events Events delivers, if that has not
// been done yet: a round trip per event type. A caller that must not wait
// later (the TUI's Update) follows right after Open.
func (c *Conn) Follow() {
	if !c.noLoop {
		c.events.follow()
	}
}

// Discover returns every domain with disks, chains and snapshot trees,
// sorted by name.
func (c *Conn) Discover(ctx context.Context) ([]model.Domain, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.virt == nil {
		return nil, c.errClosed()
	}
	return c.discoverAll(ctx)
}

// DiscoverDomain returns one domain by name.
func (c *Conn) DiscoverDomain(ctx context.Context, name string) (model.Domain, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.virt == nil {
		return model.Domain{}, c.errClosed()
	}
	return c.discoverOne(ctx, name)
}
