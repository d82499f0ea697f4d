package libvirtx

import (
	"context"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// DefaultURI is used when neither --connect nor LIBVIRT_DEFAULT_URI is set.
const DefaultURI = "qemu:///system"

// ResolveURI applies virsh's precedence: the flag, then
// LIBVIRT_DEFAULT_URI, then qemu:///system.
func ResolveURI(flag string) string { panic("TODO(libvirtx-conn)") }

// Conn is one libvirt connection. It is safe for concurrent use.
type Conn struct {
	virt     *libvirt.Connect
	uri      string
	readonly bool
	// local is true when the daemon runs on this host, so image files can
	// be read directly.
	local bool
}

// Open connects to uri (read-only when readonly is set). It registers the
// libvirt event loop first. Errors are *ConnectError with a one-line message
// naming the URI, the cause and what to run.
func Open(uri string, readonly bool) (*Conn, error) { panic("TODO(libvirtx-conn)") }

// URI is the URI this connection was opened with.
func (c *Conn) URI() string { panic("TODO(libvirtx-conn)") }

// ReadOnly reports whether the connection was opened read-only.
func (c *Conn) ReadOnly() bool { panic("TODO(libvirtx-conn)") }

// Close releases the connection and its event callbacks.
func (c *Conn) Close() error { panic("TODO(libvirtx-conn)") }

// Events delivers domain lifecycle events. Nothing polls.
func (c *Conn) Events() <-chan model.Event { panic("TODO(libvirtx-conn)") }

// Discover returns every domain with disks, chains and snapshot trees,
// sorted by name.
func (c *Conn) Discover(ctx context.Context) ([]model.Domain, error) { panic("TODO(libvirtx-conn)") }

// DiscoverDomain returns one domain by name.
func (c *Conn) DiscoverDomain(ctx context.Context, name string) (model.Domain, error) {
	panic("TODO(libvirtx-conn)")
}
