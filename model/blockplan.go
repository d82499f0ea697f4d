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
		Offline: bp.Offline, AfterReady: bp.AfterReady, End: bp.BytesToCopy,
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
		if m[1] != disk.Target {
			return 0, Refuse(fmt.Sprintf("%s names disk %s, not %s", spec, m[1], disk.Target), "use an index of "+disk.Target)
		}
		if !d.State.Active() {
			return 0, Refuse(fmt.Sprintf("%s is shut off, so its layers have no libvirt index (%s)", d.Name, spec), "name the layer by path or snapshot name")
		}
		n, _ := strconv.Atoi(m[2])
		for i, l := range disk.Layers {
			if l.Index != nil && *l.Index == n {
				return i, nil
			}
		}
		return 0, Refuse(fmt.Sprintf("no layer %q in %s %s's chain", spec, d.Name, disk.Target), "indexes change as the chain changes; "+list)
	}
	for i, l := range disk.Layers {
		if l.Path == spec {
			return i, nil
		}
	}
	// Names as stored in the image above (often relative), the snapshot
	// that created a layer, and bare file names; each must be unique.
	found := -1
	var how []string
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
	if found == -2 {
		return 0, Refuse(fmt.Sprintf("%q names more than one layer of %s (%s)", spec, disk.Target, strings.Join(how, ", ")), "give the full path or an index; "+list)
	}
	if found >= 0 {
		return found, nil
	}
	return 0, Refuse(fmt.Sprintf("no layer %q in %s %s's chain", spec, d.Name, disk.Target), list)
}

// findDisk locates the domain and disk of a request.
func findDisk(domains []Domain, name, target string) (*Domain, *Disk, error) {
	for i := range domains {
		if domains[i].Name != name {
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

// PlanCommit resolves a commit against the current domains (all of them,
// for the shared-image guard) and the jobs that run now.
func PlanCommit(domains []Domain, req CommitRequest, jobs []Job) (*BlockPlan, error) {
	asked := req
	d, disk, err := findDisk(domains, req.Domain, req.Target)
	if err != nil {
		return nil, err
	}
	if err := busy(jobs, d.Name, disk.Target); err != nil {
		return nil, err
	}
	top := 0
	if req.Top != "" {
		if top, err = ResolveLayer(d, disk, req.Top); err != nil {
			return nil, err
		}
	}
	// An unreadable top hides its backing chain: name it, not "no backing".
	if err := checkLayers(disk, top, top); err != nil {
		return nil, err
	}
	if top == len(disk.Layers)-1 {
		return nil, Refuse(filepath.Base(disk.Layers[top].Path)+" has no backing image to commit into", "pick a top above the bottom of the chain")
	}
	var base int
	switch {
	case req.Base != "":
		if base, err = ResolveLayer(d, disk, req.Base); err != nil {
			return nil, err
		}
		if req.Shallow && base != top+1 {
			return nil, Refuse(fmt.Sprintf("--shallow commits into the image directly below %s, not %s",
				filepath.Base(disk.Layers[top].Path), filepath.Base(disk.Layers[base].Path)), "drop --shallow or --base")
		}
	case req.Shallow:
		base = top + 1
	default:
		base = len(disk.Layers) - 1
	}
	topL := disk.Layers[top]
	if base == top {
		return nil, Refuse("top and base are the same layer ("+filepath.Base(topL.Path)+")", "pick a base below the top")
	}
	if base < top {
		return nil, Refuse(fmt.Sprintf("base %s is above top %s in %s's chain", filepath.Base(disk.Layers[base].Path),
			filepath.Base(topL.Path), disk.Target), "swap them: the base must be below the top")
	}
	if err := checkLayers(disk, top, base); err != nil {
		return nil, err
	}
	offline := !d.State.Active()
	if offline {
		if err := offlineGuard(d, disk); err != nil {
			return nil, err
		}
	}
	active := top == 0 && !offline
	if req.AutoActive {
		req.Active = active
		if !active {
			req.AfterReady = AfterReadyWait
		}
	}
	after := req.AfterReady
	if active && !req.Active {
		return nil, Refuse(filepath.Base(topL.Path)+" is the active layer, so this is an active commit",
			"add --active with --pivot (base becomes active) or --keep-overlay")
	}
	if !active && (req.Active || after != AfterReadyWait) {
		what := "not the active layer"
		if offline {
			what = "on a shut-off domain, where there is no active commit"
		}
		return nil, Refuse("top "+filepath.Base(topL.Path)+" is "+what, "drop --active, --pivot and --keep-overlay")
	}
	if after != AfterReadyWait && after != AfterReadyPivot && after != AfterReadyKeepOverlay {
		return nil, Refuse("unknown action at READY "+strconv.Quote(after), "use pivot or keep-overlay")
	}
	if req.Bandwidth < 0 {
		return nil, RefuseBandwidth()
	}

	baseL := disk.Layers[base]
	moving := disk.Layers[top:base]
	refs := BuildRefs(domains)
	bp := &BlockPlan{
		Kind: JobCommit, Offline: offline, TopPos: top, BasePos: base,
		TopPath: topL.Path, TopFormat: topL.Format, BasePath: baseL.Path, BaseFormat: baseL.Format,
		TopArg: layerArg(disk, top), BaseArg: layerArg(disk, base),
		Shallow: req.Shallow, AfterReady: after, Relative: req.Relative, Bandwidth: req.Bandwidth,
	}
	if active {
		bp.Kind = JobActiveCommit
	}
	if top > 0 {
		bp.AbovePath, bp.AboveFormat = disk.Layers[top-1].Path, disk.Layers[top-1].Format
	}
	// Commit writes into base, so any other user of base, or of a layer
	// whose data moves (which reads through base too), would see its
	// disk change underneath it.
	var blocked []string
	for _, p := range append(paths(moving), baseL.Path) {
		blocked = append(blocked, users(refs, p, d.Name, disk.Target)...)
	}
	blocked = dedupe(blocked)
	if len(blocked) > 0 {
		return nil, Refuse(fmt.Sprintf("committing into %s would change a disk that others still need: %s",
			filepath.Base(baseL.Path), strings.Join(blocked, "; ")),
			"pull into the active layer instead, or give those users their own copy first")
	}
	if br := branchReaders(d, disk.Target, baseL.Path, topL.Path); len(br) > 0 {
		return nil, Refuse(fmt.Sprintf("committing into %s would change what snapshots %s read at their point, on a branch a revert kept",
			filepath.Base(baseL.Path), strings.Join(br, ", ")),
			"pull into the active layer instead, or remove those snapshots first (virtchain snapshot delete "+ShellQuote(d.Name)+" NAME --metadata-only)")
	}

	leaving := moving
	keep := active && after == AfterReadyKeepOverlay
	if keep {
		leaving = nil
	}
	bp.Op = string(bp.Kind)
	bp.Domain, bp.Target = d.Name, disk.Target
	bp.LeavingChain = paths(leaving)
	bp.BytesToCopy = sumAlloc(moving)
	bp.Destroys = commitDestroys(d, disk.Target, topL.Path, baseL.Path, bp.Kind)
	bp.addWrite(baseL.Path, mergeBound(moving, baseL), "committing into "+filepath.Base(baseL.Path), "commit into another base")
	bp.StaleSnapshots = withDestroyed(d, staleSnapshots(d, disk.Target, bp.LeavingChain), bp.Destroys)
	by := mergeBy(offline)
	bp.addFile(FileRewritten, by, baseL.Path, "takes in "+names(moving))
	if bp.AbovePath != "" {
		bp.addFile(FileRewritten, by, bp.AbovePath, "its backing file becomes "+baseL.Path)
	}
	bp.NewChain = append(paths(disk.Layers[:top]), paths(disk.Layers[base:])...)
	if keep {
		bp.NewChain = paths(disk.Layers)
	}
	bp.Summary = fmt.Sprintf("commit %s into %s on %s %s", names(moving), filepath.Base(baseL.Path), d.Name, disk.Target)
	bp.Steps = append(bp.Steps, fmt.Sprintf("write the data of %s into %s", names(moving), baseL.Path))
	switch {
	case active:
		bp.Steps[0] += " (active commit: QEMU mirrors the guest's new writes too, then reports READY)"
		switch after {
		case AfterReadyPivot:
			bp.Steps = append(bp.Steps, "at READY, pivot: "+baseL.Path+" becomes the active layer")
		case AfterReadyKeepOverlay:
			bp.Steps = append(bp.Steps, "at READY, abort and keep the overlay: the chain stays as it is")
			bp.Warnings = append(bp.Warnings, filepath.Base(baseL.Path)+" will also hold the data of "+names(moving)+"; its old content is gone")
		default:
			bp.Steps = append(bp.Steps, "stay at READY until a pivot ('virtchain abort "+d.Name+" "+disk.Target+" --pivot') or an abort")
		}
	case top > 0:
		bp.Steps = append(bp.Steps, fmt.Sprintf("%s's backing file becomes %s", filepath.Base(bp.AbovePath), baseL.Path))
	default: // offline commit of the active layer
		bp.Steps = append(bp.Steps, "the domain definition's "+disk.Target+" source becomes "+baseL.Path)
	}
	if len(leaving) > 0 {
		bp.Steps = append(bp.Steps, leaveStep(leaving))
	}
	if offline && top > 0 {
		bp.Steps = append(bp.Steps, "the domain definition is checked so the domain starts on the new chain")
	}
	if st := staleSnapshots(d, disk.Target, bp.LeavingChain); len(st) > 0 {
		bp.Steps = append(bp.Steps, "snapshot metadata that names those files becomes stale: "+strings.Join(st, ", "))
	}
	bp.Steps = append(bp.Steps, destroyedStep(bp.Destroys)...)
	bp.Kept = append(bp.Kept, pointsKept(d, disk.Target, bp.LeavingChain, bp.StaleSnapshots)...)
	bp.Warnings = append(bp.Warnings, internalSnapshotWarnings(leaving)...)
	if !keep {
		bp.Warnings = append(bp.Warnings, "if it stops midway (abort, crash), the chain stays as it is but "+filepath.Base(baseL.Path)+" keeps part of the moved data")
	}
	bp.Virsh = commitCommands(d, disk, bp)
	bp.Commit = &asked
	return bp, nil
}

// PlanPull resolves a pull into the active layer.
func PlanPull(domains []Domain, req PullRequest, jobs []Job) (*BlockPlan, error) {
	d, disk, err := findDisk(domains, req.Domain, req.Target)
	if err != nil {
		return nil, err
	}
	if err := busy(jobs, d.Name, disk.Target); err != nil {
		return nil, err
	}
	base := len(disk.Layers)
	if req.Base != "" {
		if base, err = ResolveLayer(d, disk, req.Base); err != nil {
			return nil, err
		}
	}
	topL := disk.Layers[0]
	// Before "nothing to do": an unreadable layer hides what is below it.
	if err := checkLayers(disk, 0, base); err != nil {
		return nil, err
	}
	if base == 0 {
		return nil, Refuse("the base of a pull must be below the active layer "+filepath.Base(topL.Path), "pick a lower base, or none for a full pull")
	}
	if len(disk.Layers) == 1 {
		return nil, Refuse(fmt.Sprintf("%s %s has no backing image to pull from", d.Name, disk.Target), "nothing to do")
	}
	if base == 1 {
		return nil, Refuse(filepath.Base(disk.Layers[1].Path)+" is already the active layer's backing image", "pick a lower base, or none for a full pull")
	}
	offline := !d.State.Active()
	if offline {
		if err := offlineGuard(d, disk); err != nil {
			return nil, err
		}
	}
	if req.Bandwidth < 0 {
		return nil, RefuseBandwidth()
	}
	refs := BuildRefs(domains)
	// A pull writes only into the active layer; the layers it drops are
	// not changed, so other users of them are told, not refused.
	if u := users(refs, topL.Path, d.Name, disk.Target); len(u) > 0 {
		return nil, Refuse(fmt.Sprintf("the active layer %s is also used by %s", filepath.Base(topL.Path), strings.Join(u, "; ")),
			"detach it from the other users first")
	}
	moving := disk.Layers[1:base]
	bp := &BlockPlan{
		Kind: JobPull, Offline: offline, TopPos: 0, BasePos: base,
		TopPath: topL.Path, TopFormat: topL.Format, TopArg: layerArg(disk, 0),
		Relative: req.Relative, Bandwidth: req.Bandwidth,
	}
	if base < len(disk.Layers) {
		bl := disk.Layers[base]
		bp.BasePath, bp.BaseFormat, bp.BaseArg = bl.Path, bl.Format, layerArg(disk, base)
	}
	var used []string
	for _, p := range paths(moving) {
		used = append(used, users(refs, p, d.Name, disk.Target)...)
	}
	bp.UsedBy = dedupe(used)
	bp.Op = string(JobPull)
	bp.Domain, bp.Target = d.Name, disk.Target
	bp.LeavingChain = paths(moving)
	bp.BytesToCopy = sumAlloc(moving)
	bp.Destroys = pullDestroys(d, disk.Target, topL.Path, bp.BasePath, moving)
	bp.addWrite(topL.Path, mergeBound(moving, topL), "pulling into "+filepath.Base(topL.Path), "pull less, with a --base nearer the active layer")
	bp.StaleSnapshots = withDestroyed(d, staleSnapshots(d, disk.Target, bp.LeavingChain), bp.Destroys)
	bp.addFile(FileRewritten, mergeBy(offline), topL.Path, "takes in "+names(moving))
	bp.NewChain = append([]string{topL.Path}, paths(disk.Layers[base:])...)
	into := filepath.Base(topL.Path)
	if bp.BasePath != "" {
		bp.Summary = fmt.Sprintf("pull %s into %s on %s %s, keeping %s as its backing image", names(moving), into, d.Name, disk.Target, filepath.Base(bp.BasePath))
	} else {
		bp.Summary = fmt.Sprintf("pull %s into %s on %s %s, leaving it with no backing image", names(moving), into, d.Name, disk.Target)
	}
	bp.Steps = append(bp.Steps, fmt.Sprintf("copy the data of %s into %s", names(moving), topL.Path))
	if bp.BasePath != "" {
		bp.Steps = append(bp.Steps, into+"'s backing file becomes "+bp.BasePath)
	} else {
		bp.Steps = append(bp.Steps, into+" no longer has a backing file")
	}
	bp.Steps = append(bp.Steps, leaveStep(moving))
	if st := staleSnapshots(d, disk.Target, bp.LeavingChain); len(st) > 0 {
		bp.Steps = append(bp.Steps, "snapshot metadata that names those files becomes stale: "+strings.Join(st, ", "))
	}
	bp.Steps = append(bp.Steps, destroyedStep(bp.Destroys)...)
	bp.Kept = append(bp.Kept, pointsKept(d, disk.Target, bp.LeavingChain, bp.StaleSnapshots)...)
	if len(bp.UsedBy) > 0 {
		bp.Warnings = append(bp.Warnings, "the files leaving this chain stay in use by: "+strings.Join(bp.UsedBy, "; "))
	}
	bp.Warnings = append(bp.Warnings, internalSnapshotWarnings(moving)...)
	bp.Virsh = pullCommands(d, disk, bp)
	bp.Pull = &req
	return bp, nil
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

func commitCommands(d *Domain, disk *Disk, bp *BlockPlan) []string {
	if bp.Offline {
		c := []string{"qemu-img", "commit", "-p", "-f", OrRaw(bp.TopFormat), "-b", bp.BasePath}
		if bp.Bandwidth > 0 {
			c = append(c, "-r", strconv.FormatInt(bp.Bandwidth, 10))
		}
		out := []string{ShellJoin(append(c, bp.TopPath))}
		if bp.AbovePath != "" {
			out = append(out, ShellJoin([]string{"qemu-img", "rebase", "-u", "-f", OrRaw(bp.AboveFormat), "-b", bp.BasePath, "-F", OrRaw(bp.BaseFormat), bp.AbovePath}))
		} else {
			out = append(out, "virt-xml "+ShellQuote(d.Name)+" --edit target="+disk.Target+" --disk path="+ShellQuote(bp.BasePath)+",driver.type="+OrRaw(bp.BaseFormat))
		}
		return out
	}
	c := []string{"virsh", "blockcommit", "--domain", d.Name, "--path", disk.Target, "--base", bp.BasePath, "--top", bp.TopPath}
	if bp.Shallow {
		c = append(c, "--shallow")
	}
	if bp.Kind == JobActiveCommit {
		c = append(c, "--active")
		switch bp.AfterReady {
		case AfterReadyPivot:
			c = append(c, "--pivot")
		case AfterReadyKeepOverlay:
			c = append(c, "--keep-overlay")
		}
	}
	if bp.Relative {
		c = append(c, "--keep-relative")
	}
	if bp.Bandwidth > 0 {
		c = append(c, "--bandwidth", mib(bp.Bandwidth))
	}
	return []string{ShellJoin(append(c, "--wait", "--verbose"))}
}

func pullCommands(d *Domain, disk *Disk, bp *BlockPlan) []string {
	if bp.Offline {
		c := []string{"qemu-img", "rebase", "-p", "-f", OrRaw(bp.TopFormat), "-b", bp.BasePath}
		if bp.BasePath != "" {
			c = append(c, "-F", OrRaw(bp.BaseFormat))
		}
		return []string{ShellJoin(append(c, bp.TopPath))}
	}
	c := []string{"virsh", "blockpull", "--domain", d.Name, "--path", disk.Target}
	if bp.BasePath != "" {
		c = append(c, "--base", bp.BasePath)
	}
	if bp.Relative {
		c = append(c, "--keep-relative")
	}
	if bp.Bandwidth > 0 {
		c = append(c, "--bandwidth", mib(bp.Bandwidth))
	}
	return []string{ShellJoin(append(c, "--wait", "--verbose"))}
}

// OrRaw is an image format as qemu-img takes it: "raw" when none is known.
func OrRaw(f string) string {
	if f == "" {
		return "raw"
	}
	return f
}

// ShellQuote quotes s for a POSIX shell when it needs it, so printed
// commands can be pasted as they are.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r))
	}) < 0 {
		return s
	}
	if at, _ := controlAt(s, ""); at >= 0 {
		return ansiCQuote(s)
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ansiCQuote is bash's $'...' form, for a word holding control characters:
// the command stays exact when pasted, and printing it cannot drive the
// terminal. Each byte of a control character is written as \xHH.
func ansiCQuote(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for len(s) > 0 {
		at, size := controlAt(s, "")
		if at < 0 {
			at, size = len(s), 0
		}
		b.WriteString(strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s[:at]))
		for i := at; i < at+size; i++ {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		}
		s = s[at+size:]
	}
	b.WriteString("'")
	return b.String()
}

// ShellJoin quotes and joins an argument vector for display.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}
