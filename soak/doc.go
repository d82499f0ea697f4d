// Package soak holds only tests: a seeded, repeatable sequence of random
// operations that drives the built virtchain binary (VIRTCHAIN_BIN) against
// the real libvirtd, the way an admin would, with faults injected.
//
// What it proves, after every step: the guest sees exactly what an oracle
// says it must (a revert lands on that snapshot's point, or is refused when a
// merge destroyed the point), every layer passes `qemu-img check`, every file
// a chain or snapshot references exists, every file that changed in the
// test's folder was named by the operation's --dry-run plan, and every
// refusal is exit 1 with one line and no change. Faults: kill -9 of
// virtchain in a job, a libvirtd restart in a job (opt-in), a full
// filesystem, two virtchains racing for one disk, a FIFO and a loop in a
// chain. A failing run prints its seed and the shortest step list that still
// fails, as a Go literal for regress_test.go.
//
// `make test` runs a bounded number of steps; `make soak SEED=... STEPS=...`
// runs as long as asked and prints figures.
package soak
