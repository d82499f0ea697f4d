package model

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Deleting a snapshot: its metadata only, an internal snapshot inside its
// images, or an external one, whose overlays libvirt merges down.

// SnapshotDeleteRequest is a user's intent to delete a snapshot.
type SnapshotDeleteRequest struct {
	Domain string `json:"domain"`
	Name   string `json:"name"`
	// MetadataOnly removes libvirt's record and leaves every file alone.
	MetadataOnly bool `json:"metadata_only,omitempty"`
}

// SnapshotMerge is what deleting an external snapshot does to one disk:
// the overlay it created is committed into the image below, then removed.
type SnapshotMerge struct {
	Target  string `json:"target"`
	Overlay string `json:"overlay"`
	Into    string `json:"into"`
	// Active is set when the overlay is the running domain's active layer
	// (an active commit with a pivot).
	Active bool `json:"active,omitempty"`
}

// SnapshotDeletePlan is a delete resolved against the domain.
type SnapshotDeletePlan struct {
	Plan
	Request  SnapshotDeleteRequest `json:"request"`
	Snapshot Snapshot              `json:"-"`
	Merges   []SnapshotMerge       `json:"merges,omitempty"`
}

// PlanSnapshotDelete resolves a delete, or refuses it with the reason and
// what can be done instead. points is the disk list of the definition saved
// with the snapshot (for internal snapshots).
func PlanSnapshotDelete(domains []Domain, req SnapshotDeleteRequest, points []PointDisk, f SnapshotFacts) (*SnapshotDeletePlan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	s, err := snapFind(d, req.Name)
	if err != nil {
		return nil, err
	}
	x := newDeletion(domains, req, d, s, points, f)
	if req.MetadataOnly {
		x.metadataOnly()
		return x.p, nil
	}
	// A metadata-only delete opens no file, so it stays the way out.
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	if err := refuseHangingPoints(s, points, f); err != nil {
		return nil, err
	}
	if s.Kind == SnapshotInternal {
		err = x.internal()
	} else {
		err = x.external()
	}
	if err != nil {
		return nil, err
	}
	return x.p, nil
}

// deletion is one snapshot delete being planned.
type deletion struct {
	d      *Domain
	s      *Snapshot
	points []PointDisk
	f      SnapshotFacts
	refs   Refs
	p      *SnapshotDeletePlan
	argv   []string // virsh snapshot-delete, without --metadata
	kids   []string
	// moveUp ends the metadata step: where the children go.
	moveUp string
	// metaOnly is the way out of every refusal: a metadata-only delete.
	metaOnly Hint
	// bitmaps are the merges, for the bitmap rules.
	bitmaps []bitmapChange
}

func newDeletion(domains []Domain, req SnapshotDeleteRequest, d *Domain, s *Snapshot, points []PointDisk, f SnapshotFacts) *deletion {
	x := &deletion{d: d, s: s, points: points, f: f, refs: BuildRefs(domains), kids: snapChildren(d, s.Name),
		p:        &SnapshotDeletePlan{Request: req, Snapshot: *s},
		argv:     []string{"virsh", "snapshot-delete", "--domain", d.Name, "--snapshotname", s.Name},
		metaOnly: Hint{Words("remove only its metadata with "), Do(DoDeleteMetadata, d.Name, s.Name), Words(" (every file stays)")},
	}
	x.p.Op, x.p.Domain = "snapshot-delete", d.Name
	if len(x.kids) > 0 {
		parent := "the root"
		if s.Parent != "" {
			parent = s.Parent
		}
		x.moveUp = fmt.Sprintf("; its children %s move up to %s", strings.Join(x.kids, ", "), parent)
	}
	return x
}

// refuse is a refusal whose way out is the metadata-only delete.
func (x *deletion) refuse(format string, args ...any) error {
	return RefuseDo(fmt.Sprintf(format, args...), x.metaOnly...)
}

// internalImage is the image that holds the internal snapshot of target:
// the one the snapshot's saved definition names, else the active layer.
func (x *deletion) internalImage(target string) string {
	if pt := snapPoint(x.points, target); pt != nil {
		return pt.Path
	}
	if disk := x.d.Disk(target); disk != nil {
		return activePath(disk)
	}
	return ""
}

// metadataOnly removes libvirt's record and says which files stay.
func (x *deletion) metadataOnly() {
	d, s, p := x.d, x.s, x.p
	p.Summary = fmt.Sprintf("remove snapshot %s from libvirt's metadata of %s; no file changes", s.Name, d.Name)
	p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+x.moveUp)
	for _, sd := range s.Disks {
		switch {
		case sd.Kind == "external" && sd.File != "":
			where := "no longer in any chain of " + d.Name
			if disk := d.Disk(sd.Target); disk != nil && disk.Pos(sd.File) >= 0 {
				where = "still in " + sd.Target + "'s chain, unmerged"
			}
			p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays on disk, %s", sd.File, sd.Target, where))
		case sd.Kind == "internal":
			img := x.internalImage(sd.Target)
			p.Kept = append(p.Kept, fmt.Sprintf("internal snapshot %s stays inside %s (qemu-img snapshot -l lists it)", s.Name, img))
			p.Warn(Words(fmt.Sprintf("libvirt can no longer revert to or delete %s's data inside %s; only qemu-img can", s.Name, img)))
		}
	}
	if s.MemoryFile != "" {
		p.Kept = append(p.Kept, "memory file "+s.MemoryFile+" stays on disk")
	}
	p.Virsh = []string{ShellJoin(append(x.argv, "--metadata"))}
}

// internal deletes an internal snapshot from inside each image it lives in.
func (x *deletion) internal() error {
	d, s, p := x.d, x.s, x.p
	for _, sd := range s.Disks {
		if sd.Kind != "internal" {
			continue
		}
		img := x.internalImage(sd.Target)
		if others := x.refs.UsersExcept(img, func(r Ref) bool { return r.Domain == d.Name }); len(others) > 0 {
			return x.refuse("deleting %s writes into %s, which %s also uses", s.Name, img, strings.Join(others, ", "))
		}
		p.Steps = append(p.Steps, fmt.Sprintf("%s: delete internal snapshot %s from %s, freeing the space it holds", sd.Target, s.Name, img))
		p.addFile(FileRewritten, "libvirt", img, "internal snapshot "+s.Name+" removed from it")
		p.Kept = append(p.Kept, img+" stays; only the snapshot's data inside it goes")
	}
	p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+x.moveUp)
	if s.Memory == MemoryInternal {
		p.Steps = append(p.Steps, "its saved memory state goes with it")
	}
	p.Summary = fmt.Sprintf("delete internal snapshot %s of %s", s.Name, d.Name)
	p.Virsh = []string{ShellJoin(x.argv)}
	return nil
}

// external plans libvirt's delete of an external snapshot (9.0 and later):
// it commits each overlay the snapshot created into the image below it,
// then deletes the overlay.
func (x *deletion) external() error {
	d, s, p := x.d, x.s, x.p
	if err := snapJobBusy(x.f.Jobs, d, "deleting an external snapshot"); err != nil {
		return err
	}
	if err := x.refuseTree(); err != nil {
		return err
	}
	for _, sd := range s.Disks {
		if sd.Kind != "external" {
			continue
		}
		disk, pos, err := x.mergeSource(sd)
		if err != nil {
			return err
		}
		if err := x.refuseSharedMerge(sd, disk.Layers[pos+1].Path); err != nil {
			return err
		}
		x.addMerge(sd, disk, pos)
	}
	p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+x.moveUp)
	p.noteBitmaps(d, x.bitmaps...)
	if err := x.memoryFile(); err != nil {
		return err
	}
	p.Summary = fmt.Sprintf("delete external snapshot %s of %s: merge its overlays into the images below", s.Name, d.Name)
	p.Virsh = []string{ShellJoin(x.argv)}
	return CheckSpace(&p.Plan, x.f.Space)
}

// refuseTree refuses the places in the snapshot tree where libvirt cannot
// merge: below an internal parent, or above several branches.
func (x *deletion) refuseTree() error {
	s := x.s
	if s.Parent != "" {
		if ps, err := snapFind(x.d, s.Parent); err == nil && ps.Kind == SnapshotInternal {
			return x.refuse("libvirt cannot delete external snapshot %s because its parent %s is internal", s.Name, s.Parent)
		}
	}
	if len(x.kids) > 1 {
		return RefuseDo(fmt.Sprintf("snapshot %s has children on several branches (%s): merging it would change the image each branch reads", s.Name, strings.Join(x.kids, ", ")),
			append(Hint{Words("delete the snapshots of all branches but one first, or ")}, x.metaOnly...)...)
	}
	return nil
}

// mergeSource finds the overlay of sd in its disk's chain, with an image
// below it to merge into, and refuses when a snapshot below s on another
// branch still reads it.
func (x *deletion) mergeSource(sd SnapshotDisk) (*Disk, int, error) {
	d, s := x.d, x.s
	disk := d.Disk(sd.Target)
	if disk == nil {
		return nil, 0, x.refuse("%s no longer has disk %s, which snapshot %s names", d.Name, sd.Target, s.Name)
	}
	pos := disk.Pos(sd.File)
	if pos < 0 {
		return nil, 0, x.refuse("overlay %s of snapshot %s is not in %s's chain any more (a commit, pull or revert changed it)", sd.File, s.Name, sd.Target)
	}
	if pos+1 >= len(disk.Layers) {
		return nil, 0, x.refuse("overlay %s of snapshot %s has no image below it in %s's chain to merge into", sd.File, s.Name, sd.Target)
	}
	for _, ds := range snapDescendants(d, s.Name) {
		for _, dd := range ds.Disks {
			if dd.Target == sd.Target && dd.Kind == "external" && dd.File != "" && disk.Pos(dd.File) < 0 {
				return nil, 0, x.refuse("snapshot %s below %s is on another branch: its overlay %s is not in %s's chain, and merging %s would change the image it reads",
					ds.Name, s.Name, dd.File, sd.Target, s.Name)
			}
		}
	}
	return disk, pos, nil
}

// refuseSharedMerge refuses a merge of sd's overlay into into when anyone
// beyond this snapshot line reads either file.
func (x *deletion) refuseSharedMerge(sd SnapshotDisk, into string) error {
	d, s := x.d, x.s
	if br := branchReaders(d, sd.Target, into, sd.File); len(br) > 0 {
		return x.refuse("merging %s into %s would change what snapshots %s read at their point, on a branch a revert kept",
			sd.File, into, strings.Join(br, ", "))
	}
	// The points of snapshots below s read its overlay; libvirt points
	// their saved definitions at the image it merges into (9.0).
	below := map[string]bool{}
	for _, ds := range snapDescendants(d, s.Name) {
		below[ds.Name] = true
	}
	if others := x.refs.UsersExcept(sd.File, func(r Ref) bool {
		return r.Domain == d.Name && (r.Kind == "chain" && r.Target == sd.Target || r.Snapshot == s.Name ||
			r.Kind == "snapshot-point" && r.Target == sd.Target && below[r.Snapshot])
	}); len(others) > 0 {
		return x.refuse("deleting %s removes %s, which %s also uses", s.Name, sd.File, strings.Join(others, ", "))
	}
	if others := x.refs.UsersExcept(into, func(r Ref) bool { return r.Domain == d.Name }); len(others) > 0 {
		return x.refuse("deleting %s merges %s into %s, which %s also uses", s.Name, sd.File, into, strings.Join(others, ", "))
	}
	return nil
}

// addMerge records the commit of the overlay at pos into the image below.
func (x *deletion) addMerge(sd SnapshotDisk, disk *Disk, pos int) {
	p, into := x.p, disk.Layers[pos+1]
	m := SnapshotMerge{Target: sd.Target, Overlay: sd.File, Into: into.Path, Active: pos == 0 && x.d.State.Active()}
	p.Merges = append(p.Merges, m)
	how := "commit"
	if m.Active {
		how = "active commit (with a pivot)"
	}
	p.Steps = append(p.Steps, fmt.Sprintf("%s: %s of %s into %s; %s then reads %s in its place", sd.Target, how, sd.File, into.Path, sd.Target, into.Path))
	p.Steps = append(p.Steps, fmt.Sprintf("%s: libvirt deletes %s, which left the chain", sd.Target, sd.File))
	p.addFile(FileRewritten, "libvirt", into.Path, "takes in "+sd.File)
	p.addFile(FileDeleted, "libvirt", sd.File, "merged into "+into.Path)
	p.LeavingChain = append(p.LeavingChain, sd.File)
	p.BytesToCopy += disk.Layers[pos].Allocation
	p.addWriteDo(into.Path, mergeBound(disk.Layers[pos:pos+1], into), "merging "+filepath.Base(sd.File)+" into "+filepath.Base(into.Path), x.metaOnly)
	p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays, now holding %s's data too", into.Path, sd.Target, sd.File))
	// libvirt commits, and merges the overlay's bitmaps into the image
	// below, for a running and a shut-off domain (9.0 and 11.3).
	x.bitmaps = append(x.bitmaps, bitmapChange{target: sd.Target, leaving: disk.Layers[pos : pos+1], into: into.Path,
		carried: true, by: "libvirt's snapshot delete"})
}

// memoryFile says what becomes of a checkpoint's memory file.
func (x *deletion) memoryFile() error {
	d, s, p := x.d, x.s, x.p
	switch {
	case s.MemoryFile != "" && x.f.ExternalRevert:
		// The libvirt with its own external revert also unlinks a deleted
		// checkpoint's memory file (measured: 11.3 does, 9.0 does not).
		if others := x.refs.UsersExcept(s.MemoryFile, func(r Ref) bool { return r.Domain == d.Name && r.Snapshot == s.Name }); len(others) > 0 {
			return x.refuse("deleting %s makes libvirt delete memory file %s, which %s also uses", s.Name, s.MemoryFile, strings.Join(others, ", "))
		}
		p.Steps = append(p.Steps, "libvirt deletes memory file "+s.MemoryFile)
		p.addFile(FileDeleted, "libvirt", s.MemoryFile, "memory of checkpoint "+s.Name)
	case s.MemoryFile != "":
		p.Kept = append(p.Kept, "memory file "+s.MemoryFile+" stays on disk (libvirt leaves it; remove it yourself when nothing needs it)")
	}
	return nil
}
