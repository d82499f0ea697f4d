package model

// Plan is what an operation will do, shown to the user before anything
// changes and printed by --dry-run. Builders in this package fill it from
// model values only, so the plan a user confirms is the plan that runs.
type Plan struct {
	Op      string `json:"op"` // snapshot-create, snapshot-revert, commit, pull, ...
	Domain  string `json:"domain"`
	Target  string `json:"target,omitempty"` // the disk, when the operation has one
	Summary string `json:"summary"`
	// Steps say, in order, what happens to which file or metadata.
	Steps []string `json:"steps"`
	// Kept lists what is deliberately left in place.
	Kept []string `json:"kept,omitempty"`
	// LeavingChain lists files that stop being part of the disk's chain.
	LeavingChain []string `json:"leaving_chain,omitempty"`
	// BytesToCopy is the data that moves, from the allocation of the layers
	// that move.
	BytesToCopy int64 `json:"bytes_to_copy,omitempty"`
	// StaleSnapshots names snapshots whose metadata will name files that
	// left the chain.
	StaleSnapshots []string `json:"stale_snapshots,omitempty"`
	// StaleRemoved names snapshots that already are stale and whose
	// metadata the plan removes (a cleanup).
	StaleRemoved []string `json:"stale_removed,omitempty"`
	// UsedBy lists other users of an image involved ("domain lab-b vda",
	// "snapshot s1 of lab-a").
	UsedBy []string `json:"used_by,omitempty"`
	// Warnings are things the user must know before confirming, such as
	// unsaved running state being discarded.
	Warnings []string `json:"warnings,omitempty"`
	// Virsh holds the equivalent virsh or qemu-img commands, one per entry.
	Virsh []string `json:"virsh"`
	// Writes lists every file the plan creates or grows, with an upper
	// bound of the bytes it needs; CheckSpace turns it into Space.
	Writes []SpaceWrite `json:"-"`
	// Space is, per filesystem written, the files written there, the bytes
	// needed and the bytes free (see CheckSpace).
	Space []SpaceUse `json:"space,omitempty"`
	// SpaceUnchecked says why free space could not be checked, if so.
	SpaceUnchecked string `json:"space_unchecked,omitempty"`
	// Files lists every file created, rewritten or deleted, and by whom.
	Files []FileChange `json:"files,omitempty"`
}

// Base is the plan itself; the operation-specific plans that embed Plan
// get it too, so code that only needs the shared part can take any of them.
func (p *Plan) Base() *Plan { return p }

// Refusal is a rule saying no. Its message is one line: what is wrong and
// what to do instead.
type Refusal struct {
	Reason string
	Fix    string
}

func (r *Refusal) Error() string {
	if r.Fix == "" {
		return r.Reason
	}
	return r.Reason + "; " + r.Fix
}

// Refuse builds a *Refusal.
func Refuse(reason, fix string) error { return &Refusal{Reason: reason, Fix: fix} }
