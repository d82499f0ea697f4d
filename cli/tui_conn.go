package cli

import (
	"context"
	"time"

	"virtchain/libvirtx"
	"virtchain/ui"
)

// tuiConn is the TUI's backend: a libvirtx.Conn (every method promoted)
// that, once lost, hands the UI a new connection of the same kind.
type tuiConn struct{ *libvirtx.Conn }

var _ ui.Reconnector = tuiConn{}

// Reconnect tries until ctx ends (the TUI is quit): an admin restarting
// libvirtd expects the screen to come back by itself.
func (c tuiConn) Reconnect(ctx context.Context, tried func(int, time.Duration, error)) (ui.Backend, error) {
	nc, err := c.Redial(ctx, tried)
	if err != nil {
		return nil, err
	}
	nc.Follow()
	return tuiConn{nc}, nil
}
