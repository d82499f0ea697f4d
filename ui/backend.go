package ui

import "virtchain/ui/common"

// Backend is all the UI needs from the host (common.Backend); the CLI
// hands Run a libvirtx connection, tests a fake.
type Backend = common.Backend

// Reconnector is a Backend whose connection can be lost and opened again
// (common.Reconnector).
type Reconnector = common.Reconnector
