package libvirtx

import (
	"context"
	"os"
	"sync"
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
	// closeRefs is what virConnectClose returned: references still held
	// by unfreed objects (tests check it is 0).
	closeRefs int
	inflight  inFlight
}

// Keepalive settings: a remote daemon that stops answering for
// interval*count seconds closes the connection instead of hanging the UI.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

var (
	loopOnce sync.Once
	loopErr  error
)

// startEventLoop registers libvirt's default event loop, which must happen
// before the first connection, and runs it for the life of the process.
func startEventLoop() error {
	loopOnce.Do(func() {
		loopErr = libvirt.EventRegisterDefaultImpl()
		if loopErr != nil {
			return
		}
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

// Open connects to uri (read-only when readonly is set). It registers the
// libvirt event loop first. Errors are *ConnectError with a one-line message
// naming the URI, the cause and what to run.
func Open(uri string, readonly bool) (*Conn, error) {
	if err := startEventLoop(); err != nil {
		return nil, classifyConnectError(uri, readonly, err)
	}
	var (
		virt *libvirt.Connect
		err  error
	)
	if readonly {
		virt, err = libvirt.NewConnectReadOnly(uri)
	} else {
		virt, err = libvirt.NewConnect(uri)
	}
	if err != nil {
		return nil, classifyConnectError(uri, readonly, err)
	}
	// Drivers without a daemon (test:///) do not support keepalive; that is fine.
	_ = virt.SetKeepAlive(keepaliveInterval, keepaliveCount)
	c := &Conn{virt: virt, uri: uri, readonly: readonly, local: isLocalURI(uri)}
	c.events = newEventHub(virt)
	c.events.register()
	return c, nil
}

// URI is the URI this connection was opened with.
func (c *Conn) URI() string { return c.uri }

// ReadOnly reports whether the connection was opened read-only.
func (c *Conn) ReadOnly() bool { return c.readonly }

// Local reports whether image files named by the domains can be read on
// this host (the URI has no host part, or names localhost).
func (c *Conn) Local() bool { return c.local }

// Close releases the connection and its event callbacks.
func (c *Conn) Close() error {
	if c == nil || c.virt == nil {
		return nil
	}
	c.events.close()
	n, err := c.virt.Close()
	c.closeRefs = n
	c.virt = nil
	if err != nil {
		return &LibvirtError{Op: "close " + c.uri, Err: err}
	}
	return nil
}

// Events delivers domain lifecycle events (see events.go for the kinds).
// The channel is closed by Close. Nothing polls.
func (c *Conn) Events() <-chan model.Event { return c.events.ch }

// Discover returns every domain with disks, chains and snapshot trees,
// sorted by name.
func (c *Conn) Discover(ctx context.Context) ([]model.Domain, error) {
	return c.discoverAll(ctx)
}

// DiscoverDomain returns one domain by name.
func (c *Conn) DiscoverDomain(ctx context.Context, name string) (model.Domain, error) {
	return c.discoverOne(ctx, name)
}
