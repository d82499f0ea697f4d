package model

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// PointMark records that a merge wrote over a snapshot's point on one
// disk. The chains alone cannot show it for long: a keep-overlay commit
// leaves the chain as it was, and a revert moves the line. So virtchain
// keeps the marks in the domain's own libvirt metadata, written before the
// merge starts, and Reconcile treats a marked snapshot as stale for good.
type PointMark struct {
	Snapshot string `json:"snapshot"`
	// Created is the snapshot's creation time in Unix seconds, so a later
	// snapshot that reuses the name is not marked.
	Created int64  `json:"created"`
	Target  string `json:"target"`
	// Point is the image at the snapshot's point on Target.
	Point string `json:"point"`
	// Merge, Top and Base name the merge: a commit of Top into Base, or a
	// pull into Top (Base is then the new backing image, or empty).
	Merge JobKind   `json:"merge"`
	Top   string    `json:"top"`
	Base  string    `json:"base,omitempty"`
	When  time.Time `json:"when,omitempty"`
}

// Marks reports whether m is about snapshot s (same name and creation).
func (m PointMark) Marks(s *Snapshot) bool {
	return m.Snapshot == s.Name && m.Created == s.Created.Unix()
}

// Cause says which merge destroyed the point, for a refusal.
func (m PointMark) Cause() string {
	top, base, point := filepath.Base(m.Top), filepath.Base(m.Base), filepath.Base(m.Point)
	if m.Merge == JobPull {
		return fmt.Sprintf("the pull into %s on %s changed what its point (%s) reads", top, m.Target, point)
	}
	what := fmt.Sprintf("the commit of %s into %s on %s", top, base, m.Target)
	if point == base {
		return what + " wrote over its point (" + point + ")"
	}
	return fmt.Sprintf("%s wrote into %s, which its point (%s) reads", what, base, point)
}

// commitDestroys lists the points a commit of top into base on target
// writes over: every snapshot of that disk whose point reads base without
// reading through top. An internal snapshot keeps its own image's state
// inside it, so only the images below that image count.
func commitDestroys(d *Domain, target, top, base string, kind JobKind) []PointMark {
	return pointMarks(d, target, kind, top, base, func(sd SnapshotDisk) bool {
		files := PointFiles(sd)
		if sd.Kind == "internal" && len(files) > 0 {
			files = files[1:]
		}
		return containsStr(files, base) && !containsStr(files, top)
	})
}

// pullDestroys lists the points a pull into active on target changes: an
// internal snapshot of the active layer reads the layers below it, which
// the pull takes away. External points are images below the active layer,
// which a pull never writes.
func pullDestroys(d *Domain, target, active, base string, moving []Layer) []PointMark {
	if len(moving) == 0 {
		return nil
	}
	return pointMarks(d, target, JobPull, active, base, func(sd SnapshotDisk) bool {
		return sd.Kind == "internal" && sd.Point == active
	})
}

func pointMarks(d *Domain, target string, kind JobKind, top, base string, destroyed func(SnapshotDisk) bool) []PointMark {
	var out []PointMark
	for _, s := range d.Snapshots {
		for _, sd := range s.Disks {
			if sd.Target != target || (sd.Kind != "internal" && sd.Kind != "external") || !destroyed(sd) {
				continue
			}
			out = append(out, PointMark{Snapshot: s.Name, Created: s.Created.Unix(), Target: target,
				Point: sd.Point, Merge: kind, Top: top, Base: base})
		}
	}
	return out
}

// withDestroyed adds the snapshots named by marks to stale, in tree order.
func withDestroyed(d *Domain, stale []string, marks []PointMark) []string {
	var out []string
	for _, s := range d.Snapshots {
		if containsStr(stale, s.Name) || markedIn(marks, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

func markedIn(marks []PointMark, name string) bool {
	for _, m := range marks {
		if m.Snapshot == name {
			return true
		}
	}
	return false
}

// destroyedStep is the plan step for points a merge writes over.
func destroyedStep(marks []PointMark) []string {
	var names []string
	for _, m := range marks {
		if !containsStr(names, m.Snapshot) {
			names = append(names, m.Snapshot)
		}
	}
	const why = " for good and cannot be reverted (virtchain records this in the domain's metadata before the merge starts)"
	switch len(names) {
	case 0:
		return nil
	case 1:
		return []string{"the point of snapshot " + names[0] + " is written over: it becomes stale" + why}
	}
	return []string{"the points of snapshots " + strings.Join(names, ", ") + " are written over: they become stale" + why}
}

// refuseStaleRevert refuses a revert to a snapshot whose point a merge
// destroyed (a mark), or whose overlay left the chain (Reconcile's rule):
// that state no longer exists, and a revert would bring back another one.
func refuseStaleRevert(d *Domain, name string) error {
	dc := *d
	dc.Snapshots = append([]Snapshot(nil), d.Snapshots...)
	Reconcile(&dc)
	var s *Snapshot
	for i := range dc.Snapshots {
		if dc.Snapshots[i].Name == name {
			s = &dc.Snapshots[i]
		}
	}
	if s == nil || len(s.Stale) == 0 {
		return nil
	}
	var why []string
	for _, m := range s.Destroyed {
		why = append(why, m.Cause())
	}
	if len(why) == 0 {
		for _, sd := range s.Disks {
			if containsStr(s.Stale, sd.Target) {
				why = append(why, fmt.Sprintf("its overlay %s left %s's chain in a commit or pull", filepath.Base(sd.File), sd.Target))
			}
		}
	}
	return RefuseDo(fmt.Sprintf("snapshot %s cannot be reverted: %s", s.Name, strings.Join(why, "; ")),
		Words("remove its metadata with "), Do(DoDeleteMetadata, d.Name, s.Name))
}

// offChain reports whether a snapshot disk's file is out of its disk's
// chain; a snapshot stale only by a mark (keep-overlay) may still name
// the active layer.
func offChain(d *Domain, sd SnapshotDisk) bool {
	disk := d.Disk(sd.Target)
	return disk == nil || disk.Pos(sd.File) < 0
}

// staleWhy says why a reconciled snapshot is stale, for a cleanup step.
func staleWhy(d *Domain, name string) string {
	for _, s := range d.Snapshots {
		if s.Name != name {
			continue
		}
		for _, sd := range s.Disks {
			if sd.File != "" && containsStr(s.Stale, sd.Target) && offChain(d, sd) {
				return "its files left the chain"
			}
		}
		if len(s.Destroyed) > 0 {
			return "a merge wrote over its point"
		}
	}
	return "its files left the chain"
}
