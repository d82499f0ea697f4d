package model

import "sort"

// Ref is one user of a file: a layer of a domain's disk chain, a snapshot's
// disk overlay, an image a snapshot's point reads, or a snapshot's memory
// file.
type Ref struct {
	Domain   string
	Target   string // disk target, empty for a memory file
	Snapshot string // empty for a chain reference
	Kind     string // "chain", "snapshot-disk", "snapshot-point", "snapshot-memory"
	// Host is empty for this host's domains, else the peer host the
	// domain is on, and Match how its path was found to be this file.
	Host, Match string
}

// String renders a reference for a plan or an error message; one on
// another host names that host and how its path was matched.
func (r Ref) String() string {
	s := r.what()
	if r.Host != "" {
		s += " on host " + r.Host
		if r.Match != "" {
			s += " (" + r.Match + ")"
		}
	}
	return s
}

func (r Ref) what() string {
	switch r.Kind {
	case "snapshot-disk":
		return "snapshot " + r.Snapshot + " of " + r.Domain + " (" + r.Target + ")"
	case "snapshot-point":
		return "point of snapshot " + r.Snapshot + " of " + r.Domain + " (" + r.Target + ")"
	case "snapshot-memory":
		return "memory file of snapshot " + r.Snapshot + " of " + r.Domain
	}
	return "chain of " + r.Domain + " " + r.Target
}

// Refs maps each file path to everything that references it, over every
// domain's chains and snapshots. It is the one source for "never delete a
// file that anything still uses".
type Refs map[string][]Ref

// BuildRefs indexes every chain layer, snapshot disk file, image at a
// snapshot point (with its backing chain) and snapshot memory file of
// every domain.
func BuildRefs(domains []Domain) Refs {
	refs := Refs{}
	for _, d := range domains {
		add := func(path string, r Ref) {
			r.Domain, r.Host, r.Match = d.Name, d.Host, d.Shared[path]
			refs[path] = append(refs[path], r)
		}
		for _, disk := range d.Disks {
			for _, l := range disk.Layers {
				if l.Path != "" {
					add(l.Path, Ref{Target: disk.Target, Kind: "chain"})
				}
			}
		}
		for _, s := range d.Snapshots {
			for _, sd := range s.Disks {
				if sd.File != "" {
					add(sd.File, Ref{Target: sd.Target, Snapshot: s.Name, Kind: "snapshot-disk"})
				}
				// Reverting to the snapshot reads its point: after a revert
				// that is how the kept newer branch stays referenced.
				for _, p := range PointFiles(sd) {
					add(p, Ref{Target: sd.Target, Snapshot: s.Name, Kind: "snapshot-point"})
				}
			}
			if s.MemoryFile != "" {
				add(s.MemoryFile, Ref{Snapshot: s.Name, Kind: "snapshot-memory"})
			}
		}
	}
	return refs
}

// UsersExcept returns who references path, leaving out references that
// match skip (for example the operation's own domain and disk), sorted.
// A peer host's reference is never skipped: skip speaks of this host's
// domains, and a namesake on another host is another domain.
func (r Refs) UsersExcept(path string, skip func(Ref) bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, ref := range r[path] {
		if ref.Host == "" && skip != nil && skip(ref) {
			continue
		}
		s := ref.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// PointFiles is the image at a snapshot disk's point and its backing
// chain: every file a revert to that point reads.
func PointFiles(sd SnapshotDisk) []string {
	if sd.Point == "" {
		return nil
	}
	out := make([]string, 0, 1+len(sd.PointBacking))
	out = append(out, sd.Point)
	for _, p := range sd.PointBacking {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
