package model

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// JobKind says what a block job does, in libvirt's words.
type JobKind string

// Block job kinds. Copy and backup jobs are only ever seen (started by
// another tool), never started by virtchain.
const (
	JobCommit       JobKind = "commit"
	JobActiveCommit JobKind = "active-commit"
	JobPull         JobKind = "pull"
	JobCopy         JobKind = "copy"
	JobBackup       JobKind = "backup"
	JobUnknown      JobKind = "unknown"
)

// After an active commit reaches READY, one of these happens.
const (
	// AfterReadyPivot pivots: the base becomes the active layer.
	AfterReadyPivot = "pivot"
	// AfterReadyKeepOverlay aborts: the chain stays as it was (the base
	// holds a copy of the data above it).
	AfterReadyKeepOverlay = "keep-overlay"
	// AfterReadyWait leaves the job at READY for a later pivot or abort.
	AfterReadyWait = ""
)

// CommitRequest is a user's intent to merge a range of a chain down.
type CommitRequest struct {
	Domain string
	Target string
	// Top and Base each name a layer: a path (or the name stored in the
	// image above), a libvirt index such as vda[3], or the name of the
	// external snapshot that created the layer. An empty Top means the
	// active layer; an empty Base means the bottom of the chain, or the
	// image directly below Top with Shallow.
	Top, Base string
	// Shallow commits into the image directly below Top.
	Shallow bool
	// Active acknowledges that Top is the active layer (an active commit);
	// AfterReady says what happens at READY.
	Active     bool
	AfterReady string
	// AutoActive leaves Active to the planner: when Top (or, with Top
	// empty, the active layer) is the active layer of a running domain the
	// plan is an active commit with AfterReady; otherwise Active and
	// AfterReady are ignored. The TUI sets it (a marked range says which
	// layers, not which kind of commit); the CLI asks for --active instead.
	AutoActive bool
	// Relative keeps backing names relative (libvirt's RELATIVE flag).
	Relative bool
	// Bandwidth limits the job in bytes per second; 0 is no limit.
	Bandwidth int64
}

// PullRequest is a user's intent to copy data up into the active layer.
type PullRequest struct {
	Domain string
	Target string
	// Base names the layer that becomes the active layer's backing image;
	// empty pulls everything and leaves the disk with no backing image.
	Base      string
	Relative  bool
	Bandwidth int64
}

// BlockPlan is a commit or pull resolved against the current chain: the
// Plan the user sees plus what libvirtx needs to run it.
type BlockPlan struct {
	Plan
	Kind JobKind `json:"kind"`
	// Offline is set for a shut-off domain: qemu-img does the work and the
	// domain definition is updated afterwards.
	Offline bool `json:"offline"`
	// StartPaused is set on an offline plan for a host virtchain cannot
	// run qemu-img on (a remote connection): the domain is started paused,
	// QEMU's block job does the work, and the domain is destroyed again
	// (see ByPausedDomain).
	StartPaused bool `json:"start_paused,omitempty"`
	// TopPos and BasePos are positions in the disk's Layers (0 is the
	// active layer). For a full pull BasePos is len(Layers): no base.
	TopPos  int `json:"-"`
	BasePos int `json:"-"`
	// TopPath and BasePath name the files; BasePath is empty for a full pull.
	TopPath    string `json:"top"`
	TopFormat  string `json:"top_format"`
	BasePath   string `json:"base,omitempty"`
	BaseFormat string `json:"base_format,omitempty"`
	// TopArg and BaseArg are what libvirt is given: the index form vda[N]
	// when the live XML gave one, else the path.
	TopArg  string `json:"-"`
	BaseArg string `json:"-"`
	// AbovePath is the layer directly above Top, which an offline commit
	// must point at the base afterwards; empty when Top is the active layer.
	AbovePath   string `json:"-"`
	AboveFormat string `json:"-"`
	Shallow     bool   `json:"shallow,omitempty"`
	AfterReady  string `json:"after_ready,omitempty"`
	Relative    bool   `json:"relative,omitempty"`
	Bandwidth   int64  `json:"bandwidth,omitempty"`
	// NewChain is the chain after the operation, active layer first.
	NewChain []string `json:"new_chain"`
	// Destroys are the snapshot points this merge writes over; libvirtx
	// records them in the domain's metadata before the merge starts.
	Destroys []PointMark `json:"destroys,omitempty"`
	// Commit or Pull is the request the plan was made from (one of them is
	// set), so the plan can be made again right before it runs.
	Commit *CommitRequest `json:"-"`
	Pull   *PullRequest   `json:"-"`
	// bitmaps is what noteBitmaps said, to say again when the tool
	// changes (ByPausedDomain).
	bitmaps *bitmapNotes
}

// mergeBy is who writes the images of a merge: QEMU's block job through
// libvirt, or qemu-img run by virtchain for a shut-off domain.
func mergeBy(offline bool) string {
	if offline {
		return "virtchain"
	}
	return "libvirt"
}

// Job returns the job this plan starts, in its first phase.
func (bp *BlockPlan) Job() Job {
	return Job{
		Domain: bp.Domain, Disk: bp.Target, Kind: bp.Kind, Phase: PhaseRunning,
		Top: bp.TopPath, Base: bp.BasePath, Bandwidth: bp.Bandwidth,
		Offline: bp.Offline, StartPaused: bp.StartPaused, AfterReady: bp.AfterReady, End: bp.BytesToCopy,
	}
}

var indexSpec = regexp.MustCompile(`^([A-Za-z0-9_-]+)\[([0-9]+)\]$`)

// ResolveLayer finds the layer of disk that spec names and returns its
// position (0 is the active layer). spec is a libvirt index (vda[3]), a path,
// the backing name stored in the image above, a unique file name, or the
// name of the external snapshot that created the layer.
func ResolveLayer(d *Domain, disk *Disk, spec string) (int, error) {
	if spec == "" {
		return 0, Refuse("empty layer name", "give a path, an index such as "+disk.Target+"[1], or a snapshot name")
	}
	list := "see them with 'virtchain chain " + d.Name + " " + disk.Target + "'"
	if m := indexSpec.FindStringSubmatch(spec); m != nil {
		return resolveIndex(d, disk, spec, m[1], m[2], list)
	}
	for i, l := range disk.Layers {
		if l.Path == spec {
			return i, nil
		}
	}
	found, how := matchLayerName(disk, spec)
	if found == -2 {
		return 0, Refuse(fmt.Sprintf("%q names more than one layer of %s (%s)", spec, disk.Target, strings.Join(how, ", ")), "give the full path or an index; "+list)
	}
	if found >= 0 {
		return found, nil
	}
	return 0, Refuse(fmt.Sprintf("no layer %q in %s %s's chain", spec, d.Name, disk.Target), list)
}

// resolveIndex finds the layer of a libvirt index spec (target[n]).
func resolveIndex(d *Domain, disk *Disk, spec, target, num, list string) (int, error) {
	if target != disk.Target {
		return 0, Refuse(fmt.Sprintf("%s names disk %s, not %s", spec, target, disk.Target), "use an index of "+disk.Target)
	}
	if !d.State.Active() {
		return 0, Refuse(fmt.Sprintf("%s is shut off, so its layers have no libvirt index (%s)", d.Name, spec), "name the layer by path or snapshot name")
	}
	n, _ := strconv.Atoi(num)
	for i, l := range disk.Layers {
		if l.Index != nil && *l.Index == n {
			return i, nil
		}
	}
	return 0, Refuse(fmt.Sprintf("no layer %q in %s %s's chain", spec, d.Name, disk.Target), "indexes change as the chain changes; "+list)
}

// matchLayerName finds the layer spec names as stored in the image above
// (often relative), as the snapshot that created it, or as a bare file
// name. found is -1 for none and -2 when the name fits several layers; how
// says which kinds of name matched.
func matchLayerName(disk *Disk, spec string) (found int, how []string) {
	found = -1
	match := func(i int, why string) {
		if found >= 0 && found != i {
			how = append(how, why)
			found = -2
			return
		}
		if found != -2 {
			found = i
			how = append(how, why)
		}
	}
	for i, l := range disk.Layers {
		if i > 0 && disk.Layers[i-1].BackingFile == spec {
			match(i, "backing name")
		}
		if l.CreatedBySnapshot == spec {
			match(i, "snapshot")
		}
		if filepath.Base(l.Path) == spec {
			match(i, "file name")
		}
	}
	return found, how
}

// findDisk locates the domain and disk of a request.
func findDisk(domains []Domain, name, target string) (*Domain, *Disk, error) {
	for i := range domains {
		if domains[i].Name != name || domains[i].Host != "" {
			continue
		}
		d := &domains[i]
		disk := d.Disk(target)
		if disk == nil {
			return nil, nil, NoDisk(d, target)
		}
		if len(disk.Layers) == 0 {
			return nil, nil, Refuse(fmt.Sprintf("%s %s has no image", name, target), "pick a disk with a source file")
		}
		return d, disk, nil
	}
	return nil, nil, NoDomain(name)
}

// busy refuses a second job on a disk.
func busy(jobs []Job, domain, target string) error {
	for _, j := range jobs {
		if j.Domain == domain && j.Disk == target && j.Phase.Live() {
			return RefuseBusy(j)
		}
	}
	return nil
}

// checkLayers refuses a range that crosses a broken layer.
func checkLayers(disk *Disk, from, to int) error {
	for i := from; i <= to && i < len(disk.Layers); i++ {
		if disk.Layers[i].Problem != "" {
			return layerRefusal(disk.Target, disk.Layers[i])
		}
	}
	return nil
}

func layerArg(disk *Disk, pos int) string {
	l := disk.Layers[pos]
	if s := l.IndexString(disk.Target); s != "" {
		return s
	}
	return l.Path
}

func paths(ls []Layer) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Path
	}
	return out
}

func names(ls []Layer) string {
	var out []string
	for _, l := range ls {
		out = append(out, filepath.Base(l.Path))
	}
	return strings.Join(out, ", ")
}

// leaveStep is the plan step for the layers a merge takes out of the
// chain, worded for one layer or several.
func leaveStep(ls []Layer) string {
	if len(ls) == 1 {
		return names(ls) + " leaves the chain; the file stays on disk"
	}
	return names(ls) + " leave the chain; the files stay on disk"
}

// users lists who else references path: any other domain, and this domain's
// other disks. This domain's snapshots of this disk (their overlays and
// points) are not users: their metadata becomes stale, which the plan says
// separately, and files their points still read are listed as kept
// (pointsKept); a kept branch is guarded by branchReaders.
func users(refs Refs, path, domain, target string) []string {
	return refs.UsersExcept(path, func(r Ref) bool {
		return r.Domain == domain && (r.Target == target || r.Kind == "snapshot-memory")
	})
}

// staleSnapshots names this domain's snapshots whose disk file for target
// is among leaving.
func staleSnapshots(d *Domain, target string, leaving []string) []string {
	gone := map[string]bool{}
	for _, p := range leaving {
		gone[p] = true
	}
	var out []string
	for _, s := range d.Snapshots {
		for _, sd := range s.Disks {
			if sd.Target == target && gone[sd.File] {
				out = append(out, s.Name)
				break
			}
		}
	}
	return out
}

// pointsKept says which of the files leaving the chain this domain's
// snapshots of target still read at their snapshot point. Those files stay
// on disk, and a cleanup keeps them while the snapshots exist; snapshots
// that are or become stale are left out, since a cleanup removes them.
func pointsKept(d *Domain, target string, leaving, becomeStale []string) []string {
	gone := map[string]bool{}
	for _, p := range leaving {
		gone[p] = true
	}
	var out []string
	for _, s := range d.Snapshots {
		if containsStr(becomeStale, s.Name) || len(s.Stale) > 0 {
			continue
		}
		var read []string
		for _, sd := range s.Disks {
			if sd.Target != target {
				continue
			}
			for _, p := range PointFiles(sd) {
				if gone[p] {
					read = append(read, filepath.Base(p))
				}
			}
		}
		switch {
		case len(read) == 1:
			out = append(out, fmt.Sprintf("%s stays on disk: snapshot %s reads it at its point, and a cleanup keeps it while %s exists", read[0], s.Name, s.Name))
		case len(read) > 1:
			out = append(out, fmt.Sprintf("%s stay on disk: snapshot %s reads them at its point, and a cleanup keeps them while %s exists", strings.Join(read, ", "), s.Name, s.Name))
		}
	}
	return out
}

// branchReaders names this domain's snapshots off the line the disks
// descend from (kept branches) whose point on target reads base without
// reading through top: writing the range top..base into base changes what
// a revert to them brings back. An internal snapshot's own image keeps its
// state inside; only the images below it are read as they are now.
func branchReaders(d *Domain, target, base, top string) []string {
	line, _ := snapshotLine(d)
	var out []string
	for _, s := range d.Snapshots {
		if line[s.Name] {
			continue
		}
		for _, sd := range s.Disks {
			if sd.Target != target {
				continue
			}
			files := PointFiles(sd)
			if sd.Kind == "internal" && len(files) > 0 {
				files = files[1:]
			}
			if containsStr(files, base) && !containsStr(files, top) {
				out = append(out, s.Name)
				break
			}
		}
	}
	return out
}

func sumAlloc(ls []Layer) int64 {
	var n int64
	for _, l := range ls {
		n += l.Allocation
	}
	return n
}

// offlineGuard refuses what qemu-img must not do to a shut-off domain.
func offlineGuard(d *Domain, disk *Disk) error {
	if d.ManagedSave {
		return Refuse(d.Name+" has a managed save image whose memory expects the current disks",
			"start it first, or drop the saved state with 'virsh managedsave-remove "+d.Name+"'")
	}
	if disk.SourceType != "" && disk.SourceType != "file" {
		return Refuse(fmt.Sprintf("%s %s is a %s disk; offline merging handles files only", d.Name, disk.Target, disk.SourceType),
			"start the domain and use a block job")
	}
	return nil
}

func internalSnapshotWarnings(ls []Layer) []string {
	var out []string
	for _, l := range ls {
		if len(l.InternalSnapshots) > 0 {
			out = append(out, fmt.Sprintf("internal snapshots %s stay inside %s, which leaves the chain",
				strings.Join(l.InternalSnapshots, ", "), filepath.Base(l.Path)))
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mib renders a bandwidth for virsh, which takes MiB/s; sub-MiB limits
// round up so the command never means "no limit".
func mib(bps int64) string {
	m := bps >> 20
	if bps%(1<<20) != 0 {
		m++
	}
	return strconv.FormatInt(m, 10)
}

// OrRaw is an image format as qemu-img takes it: "raw" when none is known.
func OrRaw(f string) string {
	if f == "" {
		return "raw"
	}
	return f
}
