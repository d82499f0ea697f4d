// Package ui is virtchain's Bubble Tea program: the root model, which
// routes messages to its components and lays them out. It reaches the host
// only through Backend (ui/common), and only from tea.Cmds.
//
// Layout: a header (URI, read-only marker, domain count), the domain list,
// the detail pane of the selected domain with its tabs (Chains, Snapshots),
// and a footer with the focused pane's keys or the last error. At 120
// columns and more the list sits left of the detail; below that it sits
// above it, so 80x24 keeps readable columns.
//
// Structure, after soft-serve: ui/common holds what every part shares
// (Common: context, backend, Styles, KeyMap; the Component contract; the
// text helpers); each pane is a component of its own under ui/components
// (domainlist, chainview, snaptree, jobs, dialog, forms, status, and
// scroll, their shared cursor). Components render exactly the size they
// are given and only their visible rows, which keeps a frame of a
// 1000-layer chain or a 500-domain list far under 2 ms (see bench_test.go).
//
// Components talk through messages, not each other's fields: one that
// opens a dialog keeps a dialog.Opener the root takes after the Update
// (so the next key reaches the dialog); one that steers a block job sends
// common.SteerMsg; the jobs panel hands the root what only the root owns
// (the footer, the domains) as messages it takes in the same Update. The
// root tells its children what changed with their setters (SetDomains,
// SetJobs) and with messages such as chainview.JobEndedMsg.
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
//
// Hosts: the root holds one state per host (hosts.go): its Backend once
// dialed, its domains, its connection generation and its in-flight reads;
// every message of a host's reads and streams carries the host's index.
// With several hosts each is dialed in a Cmd of its own, so the first
// frame never waits for a slow one; the list groups the domains under a
// header row per host (versions, count, connection state); Common.Backend
// follows the selection, so what a key starts goes to the selected
// domain's host; and the jobs panel reads every host's jobs through one
// merged stream (jobsmux.go). With one host none of this shows.
package ui
