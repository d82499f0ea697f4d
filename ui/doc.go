// Package ui is virtchain's Bubble Tea program: a root model, its child
// components, the keymap and the styles. It reaches the host only through
// Backend, and only from tea.Cmds.
//
// Layout: a header (URI, read-only marker, domain count), the domain list,
// the detail pane of the selected domain with its tabs (Chains, Snapshots),
// and a footer with the focused pane's keys or the last error. At 120
// columns and more the list sits left of the detail; below that it sits
// above it, so 80x24 keeps readable columns.
//
// Structure, after soft-serve: every pane is a component (Update, View,
// SetSize, help.KeyMap) sharing one Common (context, backend, Styles,
// KeyMap). Components render exactly the size they are given and only
// their visible rows, which keeps a frame of a 1000-layer chain or a
// 500-domain list far under 2 ms (see bench_test.go).
//
// Data: Init runs Backend.Discover in a Cmd; a second Cmd waits on
// Backend.Events and is issued again after each event, re-reading just
// that domain with DiscoverDomain (bursts coalesce into one more read).
//
// Connection: a third Cmd waits on Reconnector.Lost. On a loss the footer
// says so at once, keys that need the host answer "not connected", and a
// Cmd reconnects with backoff; the new Backend replaces the old one, and
// domains, events and block jobs (re-attached, with their intents) are
// read from it. Messages of the old connection's streams are dropped by
// generation (conn.go).
package ui
