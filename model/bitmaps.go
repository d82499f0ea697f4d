package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Persistent dirty bitmaps and libvirt checkpoints: what incremental
// backups rely on, and what a merge, pull or revert does to them.
//
// Measured on libvirt 9.0 (QEMU 7.2) and 11.3 (QEMU 10.0), alike: a
// blockcommit (active or not) and libvirt's delete of an external
// snapshot (of a running or a shut-off domain) merge the bitmaps of the
// layers that leave into the base, by name; a blockpull carries none
// (the bitmaps of the pulled layers stay in files that left the chain);
// qemu-img commit and qemu-img rebase (7.2 and 10.0) carry none either.
// A checkpoint of a running domain adds its bitmap to the active layer in
// QEMU's memory only: the image gets it when QEMU closes it.

// Bitmap sources: where a layer's entry was read.
const (
	// BitmapFromImage: the qcow2 header of an image no QEMU writes.
	BitmapFromImage = "image"
	// BitmapFromImageInUse: the header of an image a running QEMU writes.
	// QEMU holds the bitmap in memory and marks it in use on disk; the
	// list on disk lacks bitmaps added since the domain started.
	BitmapFromImageInUse = "image-in-use"
	// BitmapFromQEMU: a checkpoint's bitmap that libvirt confirmed the
	// running QEMU holds (it measured its size), not on disk yet.
	BitmapFromQEMU = "qemu"
)

// Bitmap is a persistent dirty bitmap of one layer: the clusters the guest
// wrote since it was made, which an incremental backup copies.
type Bitmap struct {
	Name string `json:"name"`
	// Granularity is the bytes of guest data one bit covers; 0 when the
	// bitmap is known from a checkpoint only.
	Granularity int64 `json:"granularity,omitempty"`
	// Enabled bitmaps record writes (qemu-img's "auto" flag).
	Enabled bool `json:"enabled"`
	// InUse is the on-disk in-use flag: a QEMU holds the bitmap in memory
	// and the copy on disk is stale (or one that crashed left it so).
	InUse bool `json:"in_use,omitempty"`
	// Source is BitmapFromImage, BitmapFromImageInUse or BitmapFromQEMU.
	Source string `json:"source"`
	// Checkpoint names the libvirt checkpoint whose bitmap this is.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// Checkpoint is one libvirt domain checkpoint (virsh checkpoint-list).
type Checkpoint struct {
	Name        string           `json:"name"`
	Parent      string           `json:"parent"`
	Created     time.Time        `json:"created"`
	Description string           `json:"description"`
	Disks       []CheckpointDisk `json:"disks"`
	// Broken lists the disks whose bitmap is in no layer of the chain: an
	// incremental backup from this checkpoint fails there.
	Broken []string `json:"broken,omitempty"`
	// Sized says libvirt measured the disks in the running QEMU (see
	// CheckpointDisk.Live); without it a running domain's bitmap that no
	// image has yet may still be in QEMU, so it is not called broken.
	Sized bool `json:"-"`
}

// CheckpointDisk is one <disk> of a checkpoint.
type CheckpointDisk struct {
	Target string `json:"target"`
	// Kind is libvirt's checkpoint attribute: "bitmap" or "no".
	Kind   string `json:"kind"`
	Bitmap string `json:"bitmap,omitempty"`
	// Size is what libvirt measured in QEMU for a running domain: the bytes
	// an incremental backup from the checkpoint would copy. Live says it
	// was measured, so QEMU holds the bitmap.
	Size int64 `json:"size,omitempty"`
	Live bool  `json:"live,omitempty"`
}

// ApplyCheckpoints ties a domain's checkpoints to its layers' bitmaps: it
// names the checkpoint of each bitmap, adds the bitmap of a checkpoint that
// only the running QEMU holds to the disk's active layer, and marks the
// disks of each checkpoint whose bitmap is in no layer as broken.
func ApplyCheckpoints(d *Domain) {
	for ci := range d.Checkpoints {
		c := &d.Checkpoints[ci]
		c.Broken = nil
		for _, cd := range c.Disks {
			disk := d.Disk(cd.Target)
			if cd.Kind != "bitmap" || cd.Bitmap == "" || disk == nil || len(disk.Layers) == 0 {
				continue
			}
			found := false
			for li := range disk.Layers {
				for bi := range disk.Layers[li].Bitmaps {
					if b := &disk.Layers[li].Bitmaps[bi]; b.Name == cd.Bitmap {
						b.Checkpoint, found = c.Name, true
					}
				}
			}
			if cd.Live && d.State.Active() && !hasBitmap(disk.Layers[0], cd.Bitmap) {
				// libvirt measured it from the active layer: QEMU holds it
				// there, whatever the image on disk says yet.
				top := &disk.Layers[0]
				top.Bitmaps = append(top.Bitmaps, Bitmap{Name: cd.Bitmap, Enabled: true, Source: BitmapFromQEMU, Checkpoint: c.Name})
				found = true
				inferSnapshotCopies(disk, cd.Bitmap)
			}
			if !found && (c.Sized || !d.State.Active()) {
				c.Broken = append(c.Broken, cd.Target)
			}
		}
	}
}

func hasBitmap(l Layer, name string) bool {
	return slices.ContainsFunc(l.Bitmaps, func(b Bitmap) bool { return b.Name == name })
}

// inferSnapshotCopies adds to a running disk's active layer the enabled
// bitmaps of the layer below when QEMU holds a checkpoint's bitmap name
// on the active layer that the layer below has on disk: then libvirt made
// the active layer while the domain ran, and its external snapshot copies
// every enabled bitmap of the old active layer into the new one, in
// QEMU's memory only (measured on 9.0 and 11.3).
func inferSnapshotCopies(disk *Disk, name string) {
	if len(disk.Layers) < 2 || !hasBitmap(disk.Layers[1], name) {
		return
	}
	top := &disk.Layers[0]
	for _, b := range disk.Layers[1].Bitmaps {
		if b.Enabled && !hasBitmap(*top, b.Name) {
			top.Bitmaps = append(top.Bitmaps, Bitmap{Name: b.Name, Granularity: b.Granularity, Enabled: true, Source: BitmapFromQEMU, Checkpoint: b.Checkpoint})
		}
	}
}

// BitmapEffect is what a plan does to one bitmap of a layer it merges,
// drops or rewrites.
type BitmapEffect struct {
	Target     string `json:"target"`
	Layer      string `json:"layer"`
	Bitmap     string `json:"bitmap"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// Effect is BitmapMerged, BitmapLost or BitmapStale.
	Effect string `json:"effect"`
	// Into is the image a merged bitmap ends up in.
	Into string `json:"into,omitempty"`
}

// Bitmap effects.
const (
	// BitmapMerged: libvirt merges the bitmap into the image that takes
	// its layer's data; backups from it go on.
	BitmapMerged = "merged"
	// BitmapLost: the bitmap leaves the chain with its layer.
	BitmapLost = "lost"
	// BitmapStale: the bitmap stays, but its image's data changes without
	// it recording the change (an internal revert).
	BitmapStale = "stale"
)

// Next backups, as a plan says them.
const (
	// BackupFull: a bitmap or checkpoint breaks; the next backup must be
	// a full one.
	BackupFull = "full"
	// BackupIncremental: every bitmap involved is carried over.
	BackupIncremental = "incremental"
)

// bitmapChange is one disk's part of a plan, for the bitmap rules.
type bitmapChange struct {
	target string
	// leaving are the layers that leave the chain; into is the image that
	// takes their data ("" for a revert, where nothing does).
	leaving []Layer
	into    string
	// carried says the tool merges the leaving layers' bitmaps into into;
	// by names that tool, for the words.
	carried bool
	by      string
	// rewritten are layers whose data changes under their bitmaps.
	rewritten []Layer
	// covered says QEMU copies the data into into through its bitmaps: a
	// bitmap of into with the same name as a leaving one records the
	// copied clusters as changed (measured for blockpull on 9.0 and 11.3:
	// the active layer's bitmap counted the pulled data).
	covered   bool
	intoLayer *Layer
}

// bitmapNotes are the words noteBitmaps added, so that a plan whose tool
// changes (ByPausedDomain) can take them back.
type bitmapNotes struct {
	d       *Domain
	changes []bitmapChange
	kept    []string
	warned  []string
}

// noteBitmaps says what the changes do to the domain's bitmaps and
// checkpoints: Bitmaps, BrokenCheckpoints, NextBackup, and the words in
// Kept and Warnings. A plan that touches no bitmap and no checkpoint says
// nothing.
func (p *Plan) noteBitmaps(d *Domain, changes ...bitmapChange) *bitmapNotes {
	n := &bitmapNotes{d: d, changes: changes}
	full := false
	for _, ch := range changes {
		full = p.noteChange(d, ch, n) || full
	}
	broken := brokenCheckpoints(d, changes, p.Bitmaps)
	p.BrokenCheckpoints = append(p.BrokenCheckpoints, broken...)
	if len(broken) > 0 {
		w := fmt.Sprintf("checkpoints %s lose their bitmap: libvirt's incremental backup from them fails afterwards ('bitmap not found'); back up in full and make a new checkpoint, and remove them with virsh checkpoint-delete %s NAME --metadata",
			strings.Join(broken, ", "), ShellQuote(d.Name))
		p.Warn(Words(w))
		n.warned = append(n.warned, w)
		full = true
	}
	switch {
	case full:
		p.NextBackup = BackupFull
	case len(p.Bitmaps) > 0 && p.NextBackup == "":
		p.NextBackup = BackupIncremental
	}
	return n
}

// noteChange notes one disk's change; full reports that it breaks
// something an incremental backup needs.
func (p *Plan) noteChange(d *Domain, ch bitmapChange, n *bitmapNotes) (full bool) {
	for _, l := range ch.leaving {
		if len(l.Bitmaps) == 0 {
			continue
		}
		list := bitmapList(l.Bitmaps)
		if ch.carried && ch.into != "" {
			p.addEffects(ch.target, l, BitmapMerged, ch.into)
			k := fmt.Sprintf("%s: %s merges bitmaps %s of %s into %s, so incremental backups from them go on", ch.target, ch.by, list, filepath.Base(l.Path), filepath.Base(ch.into))
			p.Kept = append(p.Kept, k)
			n.kept = append(n.kept, k)
			continue
		}
		kept, lost := ch.split(l)
		if len(kept) > 0 {
			kl := l
			kl.Bitmaps = kept
			p.addEffects(ch.target, kl, BitmapMerged, ch.into)
			k := fmt.Sprintf("%s: bitmaps %s of %s go on in %s: its bitmaps of the same name record the data %s copies as changed, so incremental backups from them go on",
				ch.target, bitmapList(kept), filepath.Base(l.Path), filepath.Base(ch.into), ch.by)
			p.Kept = append(p.Kept, k)
			n.kept = append(n.kept, k)
		}
		if len(lost) == 0 {
			continue
		}
		l.Bitmaps = lost
		p.addEffects(ch.target, l, BitmapLost, "")
		w := fmt.Sprintf("%s: bitmaps %s of %s leave the chain with it (%s carries no bitmaps): a backup tool that relies on them must take a full backup of %s next",
			ch.target, bitmapList(lost), filepath.Base(l.Path), ch.by, ch.target)
		if strings.HasPrefix(ch.by, "qemu-img") && ch.into != "" {
			w += mergeAdvice(l, lost, ch.into, ch.intoLayer)
		}
		p.Warn(Words(w))
		n.warned = append(n.warned, w)
		full = true
	}
	for _, l := range ch.rewritten {
		if len(l.Bitmaps) == 0 {
			continue
		}
		p.addEffects(ch.target, l, BitmapStale, "")
		w := fmt.Sprintf("%s: bitmaps %s of %s stay but do not record what %s changes: an incremental backup from them would miss it; take a full backup of %s next",
			ch.target, bitmapList(l.Bitmaps), filepath.Base(l.Path), ch.by, ch.target)
		p.Warn(Words(w))
		n.warned = append(n.warned, w)
		full = true
	}
	return full
}

// mergeAdvice is how to keep bitmaps that qemu-img would lose: merge each
// into the image that takes the data, as libvirt does, before the merge.
func mergeAdvice(l Layer, lost []Bitmap, into string, intoLayer *Layer) string {
	n := lost[0].Name
	argv := []string{"qemu-img", "bitmap", "--add", "--merge", n, "-b", l.Path, "-F", OrRaw(l.Format), into, n}
	if intoLayer != nil && hasBitmap(*intoLayer, n) {
		argv = slices.Delete(argv, 2, 3) // it has one of that name: merge into it
	}
	cmd := ShellJoin(argv)
	each := ""
	if len(lost) > 1 {
		each = " (one for each bitmap)"
	}
	return "; to keep them, merge them into " + filepath.Base(into) + " first: " + cmd + each
}

// split parts a leaving layer's bitmaps into those a same-named bitmap of
// into goes on for (covered changes only) and those that are lost.
func (ch bitmapChange) split(l Layer) (kept, lost []Bitmap) {
	for _, b := range l.Bitmaps {
		if ch.covered && ch.intoLayer != nil && hasBitmap(*ch.intoLayer, b.Name) {
			kept = append(kept, b)
		} else {
			lost = append(lost, b)
		}
	}
	return kept, lost
}

func (p *Plan) addEffects(target string, l Layer, effect, into string) {
	for _, b := range l.Bitmaps {
		p.Bitmaps = append(p.Bitmaps, BitmapEffect{Target: target, Layer: l.Path, Bitmap: b.Name, Checkpoint: b.Checkpoint, Effect: effect, Into: into})
	}
}

// bitmapList names bitmaps, with their checkpoints.
func bitmapList(bs []Bitmap) string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
		if b.Checkpoint != "" && b.Checkpoint != b.Name {
			out[i] += " (checkpoint " + b.Checkpoint + ")"
		}
	}
	return strings.Join(out, ", ")
}

// brokenCheckpoints are the checkpoints with a disk whose bitmap the plan
// takes out of the chain: it was in a layer that leaves or is rewritten,
// and is in no layer that stays nor merged into one.
func brokenCheckpoints(d *Domain, changes []bitmapChange, effects []BitmapEffect) []string {
	var out []string
	for _, c := range d.Checkpoints {
		for _, cd := range c.Disks {
			if cd.Kind != "bitmap" || cd.Bitmap == "" || !bitmapBroken(d, cd, changes, effects) {
				continue
			}
			if !slices.Contains(out, c.Name) {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

func bitmapBroken(d *Domain, cd CheckpointDisk, changes []bitmapChange, effects []BitmapEffect) bool {
	disk := d.Disk(cd.Target)
	if disk == nil {
		return false
	}
	hit := false
	for _, e := range effects {
		if e.Target != cd.Target || e.Bitmap != cd.Bitmap {
			continue
		}
		if e.Effect == BitmapMerged {
			return false
		}
		hit = true
	}
	if !hit {
		return false
	}
	// Lost or stale in one layer: still whole if a layer that stays has it.
	gone := map[string]bool{}
	for _, ch := range changes {
		if ch.target != cd.Target {
			continue
		}
		for _, l := range append(slices.Clone(ch.leaving), ch.rewritten...) {
			gone[l.Path] = true
		}
	}
	for _, l := range disk.Layers {
		if gone[l.Path] {
			continue
		}
		for _, b := range l.Bitmaps {
			if b.Name == cd.Bitmap {
				return false
			}
		}
	}
	return true
}

// take removes the words n added, for a plan made again with another tool.
func (n *bitmapNotes) take(p *Plan) {
	p.Kept = slices.DeleteFunc(p.Kept, func(s string) bool { return slices.Contains(n.kept, s) })
	for _, w := range n.warned {
		if i := slices.Index(p.Warnings, w); i >= 0 {
			p.Warnings = slices.Delete(p.Warnings, i, i+1)
		}
		p.Notes = slices.DeleteFunc(p.Notes, func(h Hint) bool { return h.String() == w })
	}
	p.Bitmaps, p.BrokenCheckpoints, p.NextBackup = nil, nil, ""
}

// noteCleanupBitmaps is the bitmap part of a cleanup: it changes no layer
// of a chain, so it breaks no bitmap; it says so when the chains have
// bitmaps, and names the checkpoints that are broken already.
func (p *Plan) noteCleanupBitmaps(d *Domain) {
	for _, disk := range d.Disks {
		if disk.HasBitmaps() && len(p.Files) > 0 {
			p.Kept = append(p.Kept, disk.Target+": the bitmaps of the chain stay (the files deleted left it already)")
		}
	}
	var broken []string
	for _, c := range d.Checkpoints {
		if len(c.Broken) > 0 {
			broken = append(broken, c.Name+" ("+strings.Join(c.Broken, ", ")+")")
		}
	}
	if len(broken) == 0 {
		return
	}
	p.Warn(Words(fmt.Sprintf("checkpoints %s lost their bitmap already (it is in no layer of the chain) and cleanup leaves checkpoint metadata alone: an incremental backup from them fails; back up in full, then remove them with virsh checkpoint-delete %s NAME --metadata",
		strings.Join(broken, ", "), ShellQuote(d.Name))))
	p.NextBackup = BackupFull
}

// HasBitmaps reports whether any layer of the disk has a bitmap.
func (d Disk) HasBitmaps() bool {
	for _, l := range d.Layers {
		if len(l.Bitmaps) > 0 {
			return true
		}
	}
	return false
}

// BackupLines is the plan's bitmap part as a list for the plan's text:
// each bitmap and what becomes of it, then what the next backup must be.
func (p *Plan) BackupLines() []string {
	var out []string
	for _, e := range p.Bitmaps {
		s := e.Target + ": bitmap " + e.Bitmap
		if e.Checkpoint != "" && e.Checkpoint != e.Bitmap {
			s += " (checkpoint " + e.Checkpoint + ")"
		}
		s += " of " + filepath.Base(e.Layer) + ": "
		switch e.Effect {
		case BitmapMerged:
			s += "merged into " + filepath.Base(e.Into)
		case BitmapLost:
			s += "lost (leaves the chain)"
		case BitmapStale:
			s += "stale (does not record the change)"
		}
		out = append(out, s)
	}
	if len(p.BrokenCheckpoints) > 0 {
		out = append(out, "checkpoints broken: "+strings.Join(p.BrokenCheckpoints, ", "))
	}
	switch p.NextBackup {
	case BackupFull:
		out = append(out, "next backup: a full backup")
	case BackupIncremental:
		out = append(out, "next backup: incremental, as before")
	}
	return out
}
