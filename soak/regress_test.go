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
}
