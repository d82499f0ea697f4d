package model

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Reconcile compares d's snapshot metadata with its current chains and sets
// each snapshot's Stale to the disks whose file is no longer in that disk's
// chain (after a commit or pull). It returns the stale snapshots' names in
// tree order. On libvirt 9.0 such a snapshot cannot be deleted normally
// ("could not find base disk source in disk source chain"); a
// metadata-only delete removes it.
func Reconcile(d *Domain) []string {
	var stale []string
	for i := range d.Snapshots {
		s := &d.Snapshots[i]
		s.Stale = nil
		for _, sd := range s.Disks {
			if sd.Kind != "external" || sd.File == "" {
				continue
			}
			disk := d.Disk(sd.Target)
			if disk == nil || !inChain(disk, sd.File) {
				s.Stale = append(s.Stale, sd.Target)
			}
		}
		if len(s.Stale) > 0 {
			stale = append(stale, s.Name)
		}
	}
	return stale
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
		return nil, Refuse("no domain \""+domain+"\"", "list domains with 'virtchain list'")
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
			if sd.File != "" && containsStr(s.Stale, sd.Target) {
				candidates = append(candidates, sd.File)
			}
		}
		// A checkpoint's memory only makes sense with its disks.
		if s.MemoryFile != "" {
			candidates = append(candidates, s.MemoryFile)
		}
		cp.StaleSnapshots = append(cp.StaleSnapshots, s.Name)
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
			return nil, Refuse(fmt.Sprintf("%s is still used by %s", f, strings.Join(u, "; ")), "leave it, or merge those chains first")
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
		cp.Steps = append(cp.Steps, "remove the metadata of snapshot "+s+" (its files left the chain)")
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
