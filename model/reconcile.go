package model

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Reconcile compares d's snapshot metadata with its current chains. A
// snapshot on the line the disks descend from (the current snapshot and
// its ancestors) is stale on each disk whose file is no longer in that
// disk's chain: a commit or pull merged it. A snapshot off that line whose
// files are not in the chain is on a branch a revert kept (Branch), never
// stale. An ancestor whose file a later revert replaced is not stale
// either: its child on the line still reads from the chain. A snapshot
// with a PointMark is stale on that disk wherever it is, since a merge
// wrote over its point and no revert brings that back. Reconcile sets
// Stale and Branch and returns the stale snapshots' names in tree order.
// On libvirt 9.0 a stale snapshot cannot be deleted normally ("could not
// find base disk source in disk source chain"); a metadata-only delete
// removes it.
func Reconcile(d *Domain) []string {
	line, child := snapshotLine(d)
	byName := snapshotsByName(d)
	var stale []string
	for i := range d.Snapshots {
		s := &d.Snapshots[i]
		s.Stale, s.Branch = nil, false
		off := false
		for _, sd := range s.Disks {
			if sd.Kind != "external" || sd.File == "" {
				continue
			}
			disk := d.Disk(sd.Target)
			if disk != nil && inChain(disk, sd.File) {
				continue
			}
			off = true
			if line[s.Name] && !lineGoesOn(disk, byName[child[s.Name]], sd.Target) {
				s.Stale = append(s.Stale, sd.Target)
			}
		}
		s.Destroyed = nil
		for _, m := range d.PointMarks {
			if m.Marks(s) {
				s.Destroyed = append(s.Destroyed, m)
				if !containsStr(s.Stale, m.Target) {
					s.Stale = append(s.Stale, m.Target)
				}
			}
		}
		s.Branch = off && !line[s.Name] && len(s.Stale) == 0
		if len(s.Stale) > 0 {
			stale = append(stale, s.Name)
		}
	}
	return stale
}

// lineGoesOn reports whether the line's next snapshot (c, the child on the
// line) has its point for target in the disk's chain. Then the line's
// data is still in the chain, and the parent's file is off it only because
// virtchain's revert to the parent named a new overlay that a revert to c
// replaced.
func lineGoesOn(disk *Disk, c *Snapshot, target string) bool {
	if disk == nil || c == nil {
		return false
	}
	for _, sd := range c.Disks {
		if sd.Target == target && sd.Point != "" {
			return inChain(disk, sd.Point)
		}
	}
	return false
}

func snapshotsByName(d *Domain) map[string]*Snapshot {
	out := make(map[string]*Snapshot, len(d.Snapshots))
	for i := range d.Snapshots {
		out[d.Snapshots[i].Name] = &d.Snapshots[i]
	}
	return out
}

// snapshotLine names the snapshots on the line the domain's disks descend
// from: the current snapshot and its ancestors. Without a current
// snapshot it takes the snapshots whose overlay is in a chain, and their
// ancestors. child maps a snapshot on the line to its child on the line.
func snapshotLine(d *Domain) (line map[string]bool, child map[string]string) {
	byName := snapshotsByName(d)
	line, child = map[string]bool{}, map[string]string{}
	climb := func(tip string) {
		below := ""
		for n := tip; n != ""; {
			s, ok := byName[n]
			if !ok {
				return
			}
			if _, set := child[n]; below != "" && !set {
				child[n] = below
			}
			if line[n] { // met the line, or a parent cycle
				return
			}
			line[n] = true
			below, n = n, s.Parent
		}
	}
	if _, ok := byName[d.CurrentSnapshot]; ok {
		climb(d.CurrentSnapshot)
		return line, child
	}
	for _, s := range d.Snapshots {
		for _, sd := range s.Disks {
			if disk := d.Disk(sd.Target); sd.Kind == "external" && sd.File != "" && disk != nil && inChain(disk, sd.File) {
				climb(s.Name)
				break
			}
		}
	}
	return line, child
}

// ReconcileAll runs Reconcile on every domain.
func ReconcileAll(domains []Domain) {
	for i := range domains {
		Reconcile(&domains[i])
	}
}

func inChain(disk *Disk, path string) bool {
	for _, l := range disk.Layers {
		if l.Path == path {
			return true
		}
	}
	return false
}

// CleanupPlan removes stale snapshot metadata of one domain and, only on
// request, deletes files that left its chains.
type CleanupPlan struct {
	Plan
	// Snapshots are removed with a metadata-only delete, children first.
	Snapshots []string `json:"snapshots"`
	// Files are deleted in this order; each was checked to be referenced
	// by no chain and no snapshot of any domain once Snapshots are gone.
	Files []string `json:"files"`
}

// PlanCleanup plans the cleanup of domain after a commit or pull. Files
// named by its stale snapshots are candidates, and so is each of extra (the
// files a commit or pull reported as leaving the chain). Files are deleted
// only when deleteFiles is set; extra files that something still uses are
// refused, candidates still in use are kept and listed.
func PlanCleanup(domains []Domain, domain string, extra []string, deleteFiles bool) (*CleanupPlan, error) {
	var d *Domain
	for i := range domains {
		if domains[i].Name == domain {
			d = &domains[i]
		}
	}
	if d == nil {
		return nil, NoDomain(domain)
	}
	// Work on a copy so the caller's snapshots keep their own Stale.
	dc := *d
	dc.Snapshots = append([]Snapshot(nil), d.Snapshots...)
	Reconcile(&dc)

	cp := &CleanupPlan{}
	cp.Op, cp.Domain = "cleanup", d.Name
	removing := map[string]bool{}
	var candidates []string
	for _, s := range dc.Snapshots {
		if len(s.Stale) == 0 {
			continue
		}
		removing[s.Name] = true
		cp.Snapshots = append([]string{s.Name}, cp.Snapshots...) // children first
		for _, sd := range s.Disks {
			if sd.File != "" && containsStr(s.Stale, sd.Target) && offChain(&dc, sd) {
				candidates = append(candidates, sd.File)
			}
		}
		// A checkpoint's memory only makes sense with its disks.
		if s.MemoryFile != "" {
			candidates = append(candidates, s.MemoryFile)
		}
		cp.StaleRemoved = append(cp.StaleRemoved, s.Name)
	}
	refs := BuildRefs(domains)
	remaining := func(p string) []string {
		return refs.UsersExcept(p, func(r Ref) bool { return r.Domain == d.Name && removing[r.Snapshot] && r.Snapshot != "" })
	}
	for _, f := range extra {
		f = filepath.Clean(f)
		if !filepath.IsAbs(f) {
			return nil, Refuse("file "+f+" is not an absolute path", "give the full path a commit or pull listed")
		}
		if u := remaining(f); len(u) > 0 {
			return nil, Refuse(fmt.Sprintf("%s is still used by %s", f, strings.Join(u, "; ")),
				"leave it, or first merge those chains or remove those snapshots (virtchain snapshot delete DOMAIN NAME --metadata-only)")
		}
		candidates = append(candidates, f)
	}
	candidates = dedupe(candidates)
	sort.Strings(candidates)
	for _, f := range candidates {
		if u := remaining(f); len(u) > 0 {
			cp.Kept = append(cp.Kept, f+" (used by "+strings.Join(u, "; ")+")")
			continue
		}
		if deleteFiles {
			cp.Files = append(cp.Files, f)
		} else {
			cp.Kept = append(cp.Kept, f+" (left the chain; delete with --delete-files)")
		}
	}
	cp.LeavingChain = candidates
	for _, s := range cp.Snapshots {
		cp.Steps = append(cp.Steps, "remove the metadata of snapshot "+s+" ("+staleWhy(&dc, s)+")")
		cp.Virsh = append(cp.Virsh, ShellJoin([]string{"virsh", "snapshot-delete", "--domain", d.Name, s, "--metadata"}))
	}
	for _, f := range cp.Files {
		cp.Steps = append(cp.Steps, "delete "+f+" (no chain or snapshot of any domain references it)")
		cp.Virsh = append(cp.Virsh, ShellJoin([]string{"rm", "--", f}))
	}
	switch {
	case len(cp.Snapshots) == 0 && len(cp.Files) == 0:
		cp.Summary = "nothing to clean on " + d.Name
	default:
		cp.Summary = fmt.Sprintf("clean %s: %d stale snapshot(s), %d file(s) to delete", d.Name, len(cp.Snapshots), len(cp.Files))
	}
	return cp, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
