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
	// Notes are the warnings added through Warn, as Hints (see WarningsIn).
	Notes []Hint `json:"-"`
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
	// Bitmaps says what the plan does to each persistent dirty bitmap of
	// the layers it merges, drops or rewrites (see bitmaps.go).
	Bitmaps []BitmapEffect `json:"bitmaps,omitempty"`
	// BrokenCheckpoints names the libvirt checkpoints whose bitmap the
	// plan takes out of the chain.
	BrokenCheckpoints []string `json:"broken_checkpoints,omitempty"`
	// NextBackup is what an incremental backup has to do next, when the
	// plan touches bitmaps or checkpoints: BackupFull or BackupIncremental.
	NextBackup string `json:"next_backup,omitempty"`
}

// Base is the plan itself; the operation-specific plans that embed Plan
// get it too, so code that only needs the shared part can take any of them.
func (p *Plan) Base() *Plan { return p }

// Warn adds a warning. The CLI words of its remedies go to Warnings (JSON,
// --dry-run); the Hint itself to Notes, for a front end that words them
// its own way (WarningsIn).
func (p *Plan) Warn(parts ...HintPart) {
	h := Hint(parts)
	p.Warnings = append(p.Warnings, h.String())
	p.Notes = append(p.Notes, h)
}

// WarningsIn is Warnings with each remedy worded by remedy. A warning
// added to Warnings by hand, not through Warn, reads as it is.
func (p *Plan) WarningsIn(remedy func(Remedy) string) []string {
	out := make([]string, len(p.Warnings))
	used := make([]bool, len(p.Notes))
	for i, w := range p.Warnings {
		out[i] = w
		for j, n := range p.Notes {
			if !used[j] && n.String() == w {
				used[j], out[i] = true, n.Render(remedy)
				break
			}
		}
	}
	return out
}

// Refusal is a rule saying no. Its message is one line: what is wrong and
// what to do instead.
type Refusal struct {
	Reason string
	// Instead is what to do instead; empty when there is nothing to do.
	Instead Hint
}

// Error is the refusal in the CLI's words: "REASON; FIX".
func (r *Refusal) Error() string { return r.Render(nil) }

// Render is the refusal with each remedy worded by remedy (nil: CLI words).
func (r *Refusal) Render(remedy func(Remedy) string) string {
	fix := r.Instead.Render(remedy)
	if fix == "" {
		return r.Reason
	}
	return r.Reason + "; " + fix
}

// Message is the reason alone.
func (r *Refusal) Message() string { return r.Reason }

// Hint is what to do instead.
func (r *Refusal) Hint() Hint { return r.Instead }

// Refuse builds a *Refusal whose fix is plain words.
func Refuse(reason, fix string) error { return RefuseDo(reason, Say(fix)...) }

// RefuseDo builds a *Refusal whose fix has remedies in it.
func RefuseDo(reason string, fix ...HintPart) error {
	h := Hint(fix)
	if h.Empty() {
		h = nil
	}
	return &Refusal{Reason: reason, Instead: h}
}
