// Package cli holds virtchain's subcommands and starts the TUI when none is
// given. It uses the same model and libvirtx code as the TUI.
package cli

import "io"

// Main runs virtchain with args (without the program name) and returns the
// exit status: 0 when it worked, 1 on an error, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int { panic("TODO(cli)") }
