package soak

// regressions are step lists that once failed, shortest first found by the
// soak's shrinking (it prints them in this form). Each replays in a fresh
// world and must pass the oracle.
var regressions = []struct {
	name  string
	seed  int64
	steps []Step
}{
	// Issue 7, case 1: an external snapshot, a guest write, an active
	// commit of the overlay into the base (the point's backing image), then
	// a revert to the snapshot: its point is destroyed, so the revert must
	// be refused and change nothing.
	{"revert to a point an active commit destroyed", 1, []Step{{"esnap", 0}, {"write", 2}, {"commit-active", 0}, {"revert", 0}}},
	// Found by the soak (seed 100): an internal snapshot lives in the
	// active layer but reads the rest through its backing file; a full pull
	// takes the backing file away, so a revert to it gives the guest zeros
	// where the base's data was. The revert must be refused.
	{"revert to an internal snapshot after a full pull", 2, []Step{{"isnap", 0}, {"pull", 0}, {"revert", 0}}},
	// Found by the soak (seed 0): the stale mark of e1 vanished when a
	// later snapshot was created, so e1 looked revertible again.
	{"a destroyed point stays stale after later snapshots", 3, []Step{{"esnap", 0}, {"write", 3}, {"commit-active", 0}, {"esnap", 1}, {"isnap", 0}, {"revert", 0}}},
	// Issue 7, case 2 (seed 42): a save file was accepted by cleanup
	// --delete-files; it never was in a chain and can be restored again.
	{"cleanup refuses a save file", 4, []Step{{"save", 0}, {"restore", 0}, {"cleanup-bad", 7}}},
	{"cleanup refuses an unrelated file", 5, []Step{{"cleanup-bad", 0}, {"cleanup-bad", 1}, {"cleanup-bad", 6}}},
	// Issue 7, case 3: the FIFO/loop domain; an internal snapshot and a
	// start were planned, a restore from a FIFO hung virtchain itself.
	{"FIFO and loop chains are refused at once", 6, []Step{{"fifo", 0}, {"fifo", 1}, {"fifo", 2}, {"fifo", 4}, {"fifo", 8}}},
	// Issue 7, case 7: a full pull into an overlay on a small filesystem.
	{"a pull that cannot fit is refused by its plan", 7, []Step{{"enospc", 1}, {"enospc", 0}}},
	// Found by the soak (seed 921, on main at aa5e9b2): a checkpoint, a
	// full pull, a disk-only snapshot, a throttled full pull followed by
	// 'bandwidth' (no --wait), then cleanup --delete-files deleted
	// top.qcow2, which snapshot e4's metadata still names.
	{"cleanup keeps a file a remaining snapshot names", 921, []Step{{"echeck", 493}, {"pull", 973}, {"esnap", 220}, {"bandwidth", 595}, {"cleanup-files", 708}}},
}
