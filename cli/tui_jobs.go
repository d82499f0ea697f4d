package cli

import "virtchain/ui"

// The TUI's backend is one interface, its block-job side included:
// a libvirtx.Conn that lost a method is a build error, not a TUI that
// silently shows no jobs.
var _ ui.Backend = tuiConn{}
