package ui

import (
	"context"

	"virtchain/model"
)

// Backend is all the UI needs from the host. libvirtx.Conn implements it;
// tests use a fake. Every call runs inside a tea.Cmd, never in Update or View.
type Backend interface {
	URI() string
	ReadOnly() bool
	Discover(ctx context.Context) ([]model.Domain, error)
	DiscoverDomain(ctx context.Context, name string) (model.Domain, error)
	Events() <-chan model.Event
}
