package cli

import (
	"virtchain/libvirtx"
	"virtchain/ui"
)

// The TUI finds its block-job side by a type assertion on its Backend;
// this makes a libvirtx.Conn that lost a method a build error, not a TUI
// that silently shows no jobs.
var _ ui.JobBackend = (*libvirtx.Conn)(nil)

// Likewise for free space: without it the TUI's plans say space was not
// checked.
var _ ui.SpaceBackend = (*libvirtx.Conn)(nil)
