package model

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// PlanCommit resolves a commit against the current domains (all of them,
// for the shared-image guard) and the jobs that run now.
func PlanCommit(domains []Domain, req CommitRequest, jobs []Job) (*BlockPlan, error) {
	d, disk, err := findDisk(domains, req.Domain, req.Target)
	if err != nil {
		return nil, err
	}
	if err := busy(jobs, d.Name, disk.Target); err != nil {
		return nil, err
	}
	top, base, err := commitRange(d, disk, req)
	if err != nil {
		return nil, err
	}
	offline := !d.State.Active()
	if offline {
		if err := offlineGuard(d, disk); err != nil {
			return nil, err
		}
	}
	active := top == 0 && !offline
	after, err := commitAfterReady(req, disk.Layers[top], active, offline)
	if err != nil {
		return nil, err
	}
	moving, baseL, topL := disk.Layers[top:base], disk.Layers[base], disk.Layers[top]
	if err := commitUsers(domains, d, disk.Target, moving, baseL, topL); err != nil {
		return nil, err
	}
	bp := &BlockPlan{
		Kind: JobCommit, Offline: offline, TopPos: top, BasePos: base,
		TopPath: topL.Path, TopFormat: topL.Format, BasePath: baseL.Path, BaseFormat: baseL.Format,
		TopArg: layerArg(disk, top), BaseArg: layerArg(disk, base),
		Shallow: req.Shallow, AfterReady: after, Relative: req.Relative, Bandwidth: req.Bandwidth,
		Commit: &req,
	}
	if active {
		bp.Kind = JobActiveCommit
	}
	if top > 0 {
		bp.AbovePath, bp.AboveFormat = disk.Layers[top-1].Path, disk.Layers[top-1].Format
	}
	bp.describeCommit(d, disk, moving)
	return bp, nil
}

// commitRange resolves a commit's top and base to positions in the chain
// (0 is the active layer) and refuses a range that makes no sense.
func commitRange(d *Domain, disk *Disk, req CommitRequest) (top, base int, err error) {
	if req.Top != "" {
		if top, err = ResolveLayer(d, disk, req.Top); err != nil {
			return 0, 0, err
		}
	}
	// An unreadable top hides its backing chain: name it, not "no backing".
	if err := checkLayers(disk, top, top); err != nil {
		return 0, 0, err
	}
	topL := disk.Layers[top]
	if top == len(disk.Layers)-1 {
		return 0, 0, Refuse(filepath.Base(topL.Path)+" has no backing image to commit into", "pick a top above the bottom of the chain")
	}
	if base, err = commitBase(d, disk, req, top); err != nil {
		return 0, 0, err
	}
	if base == top {
		return 0, 0, Refuse("top and base are the same layer ("+filepath.Base(topL.Path)+")", "pick a base below the top")
	}
	if base < top {
		return 0, 0, Refuse(fmt.Sprintf("base %s is above top %s in %s's chain", filepath.Base(disk.Layers[base].Path),
			filepath.Base(topL.Path), disk.Target), "swap them: the base must be below the top")
	}
	if err := checkLayers(disk, top, base); err != nil {
		return 0, 0, err
	}
	return top, base, nil
}

// commitBase is the position of the image a commit writes into: the one
// asked for, the one below top with Shallow, else the bottom of the chain.
func commitBase(d *Domain, disk *Disk, req CommitRequest, top int) (int, error) {
	switch {
	case req.Base != "":
		base, err := ResolveLayer(d, disk, req.Base)
		if err != nil {
			return 0, err
		}
		if req.Shallow && base != top+1 {
			return 0, Refuse(fmt.Sprintf("--shallow commits into the image directly below %s, not %s",
				filepath.Base(disk.Layers[top].Path), filepath.Base(disk.Layers[base].Path)), "drop --shallow or --base")
		}
		return base, nil
	case req.Shallow:
		return top + 1, nil
	}
	return len(disk.Layers) - 1, nil
}

// commitAfterReady is the rule that makes a commit active: its top is the
// active layer of a running domain. It checks the request's Active and
// AfterReady against that (or, with AutoActive, takes them from it) and
// returns what happens at READY.
func commitAfterReady(req CommitRequest, topL Layer, active, offline bool) (string, error) {
	if req.AutoActive {
		req.Active = active
		if !active {
			req.AfterReady = AfterReadyWait
		}
	}
	after := req.AfterReady
	if active && !req.Active {
		return "", Refuse(filepath.Base(topL.Path)+" is the active layer, so this is an active commit",
			"add --active with --pivot (base becomes active) or --keep-overlay")
	}
	if !active && (req.Active || after != AfterReadyWait) {
		what := "not the active layer"
		if offline {
			what = "on a shut-off domain, where there is no active commit"
		}
		return "", Refuse("top "+filepath.Base(topL.Path)+" is "+what, "drop --active, --pivot and --keep-overlay")
	}
	if after != AfterReadyWait && after != AfterReadyPivot && after != AfterReadyKeepOverlay {
		return "", Refuse("unknown action at READY "+strconv.Quote(after), "use pivot or keep-overlay")
	}
	if req.Bandwidth < 0 {
		return "", RefuseBandwidth()
	}
	return after, nil
}

// commitUsers refuses a commit whose base others still read. Commit writes
// into base, so any other user of base, or of a layer whose data moves
// (which reads through base too), would see its disk change underneath it.
func commitUsers(domains []Domain, d *Domain, target string, moving []Layer, baseL, topL Layer) error {
	refs := BuildRefs(domains)
	var blocked []string
	for _, p := range append(paths(moving), baseL.Path) {
		blocked = append(blocked, users(refs, p, d.Name, target)...)
	}
	blocked = dedupe(blocked)
	if len(blocked) > 0 {
		return Refuse(fmt.Sprintf("committing into %s would change a disk that others still need: %s",
			filepath.Base(baseL.Path), strings.Join(blocked, "; ")),
			"pull into the active layer instead, or give those users their own copy first")
	}
	if br := branchReaders(d, target, baseL.Path, topL.Path); len(br) > 0 {
		return RefuseDo(fmt.Sprintf("committing into %s would change what snapshots %s read at their point, on a branch a revert kept",
			filepath.Base(baseL.Path), strings.Join(br, ", ")),
			Words("pull into the active layer instead, or remove those snapshots first ("), Do(DoDeleteMetadata, d.Name, "NAME"), Words(")"))
	}
	return nil
}

// describeCommit fills what the user sees of a resolved commit: files,
// chain afterwards, summary, steps, warnings and the equivalent commands.
func (bp *BlockPlan) describeCommit(d *Domain, disk *Disk, moving []Layer) {
	baseL := disk.Layers[bp.BasePos]
	leaving := moving
	keep := bp.Kind == JobActiveCommit && bp.AfterReady == AfterReadyKeepOverlay
	if keep {
		leaving = nil
	}
	bp.Op = string(bp.Kind)
	bp.Domain, bp.Target = d.Name, disk.Target
	bp.LeavingChain = paths(leaving)
	bp.BytesToCopy = sumAlloc(moving)
	bp.Destroys = commitDestroys(d, disk.Target, bp.TopPath, baseL.Path, bp.Kind)
	bp.addWrite(baseL.Path, mergeBound(moving, baseL), "committing into "+filepath.Base(baseL.Path), "commit into another base")
	bp.StaleSnapshots = withDestroyed(d, staleSnapshots(d, disk.Target, bp.LeavingChain), bp.Destroys)
	by := mergeBy(bp.Offline)
	bp.addFile(FileRewritten, by, baseL.Path, "takes in "+names(moving))
	if bp.AbovePath != "" {
		bp.addFile(FileRewritten, by, bp.AbovePath, "its backing file becomes "+baseL.Path)
	}
	bp.NewChain = append(paths(disk.Layers[:bp.TopPos]), paths(disk.Layers[bp.BasePos:])...)
	if keep {
		bp.NewChain = paths(disk.Layers)
	}
	bp.Summary = fmt.Sprintf("commit %s into %s on %s %s", names(moving), filepath.Base(baseL.Path), d.Name, disk.Target)
	bp.commitSteps(d, moving, leaving)
	bp.Kept = append(bp.Kept, pointsKept(d, disk.Target, bp.LeavingChain, bp.StaleSnapshots)...)
	bp.Warnings = append(bp.Warnings, internalSnapshotWarnings(leaving)...)
	if !keep {
		bp.Warnings = append(bp.Warnings, "if it stops midway (abort, crash), the chain stays as it is but "+filepath.Base(baseL.Path)+" keeps part of the moved data")
	}
	bp.bitmaps = bp.noteBitmaps(d, bitmapChange{target: disk.Target, leaving: leaving, into: baseL.Path,
		carried: !bp.Offline, by: commitTool(bp.Offline), intoLayer: &disk.Layers[bp.BasePos]})
	bp.Virsh = commitCommands(d, disk, bp)
}

// commitTool names who merges, for the bitmap words: libvirt merges the
// bitmaps of the layers that leave into the base (measured on 9.0 and
// 11.3), qemu-img commit does not (7.2 and 10.0).
func commitTool(offline bool) string {
	if offline {
		return "qemu-img commit"
	}
	return "libvirt's blockcommit"
}

// commitSteps says, in order, what a commit does.
func (bp *BlockPlan) commitSteps(d *Domain, moving, leaving []Layer) {
	bp.Steps = append(bp.Steps, fmt.Sprintf("write the data of %s into %s", names(moving), bp.BasePath))
	switch {
	case bp.Kind == JobActiveCommit:
		bp.Steps[0] += " (active commit: QEMU mirrors the guest's new writes too, then reports READY)"
		bp.Steps = append(bp.Steps, bp.readySteps(d, moving)...)
	case bp.TopPos > 0:
		bp.Steps = append(bp.Steps, fmt.Sprintf("%s's backing file becomes %s", filepath.Base(bp.AbovePath), bp.BasePath))
	default: // offline commit of the active layer
		bp.Steps = append(bp.Steps, "the domain definition's "+bp.Target+" source becomes "+bp.BasePath)
	}
	if len(leaving) > 0 {
		bp.Steps = append(bp.Steps, leaveStep(leaving))
	}
	if bp.Offline && bp.TopPos > 0 {
		bp.Steps = append(bp.Steps, "the domain definition is checked so the domain starts on the new chain")
	}
	if st := staleSnapshots(d, bp.Target, bp.LeavingChain); len(st) > 0 {
		bp.Steps = append(bp.Steps, "snapshot metadata that names those files becomes stale: "+strings.Join(st, ", "))
	}
	bp.Steps = append(bp.Steps, destroyedStep(bp.Destroys)...)
}

// readySteps is what an active commit does at READY; keeping the overlay
// also warns that the base's old content is gone.
func (bp *BlockPlan) readySteps(d *Domain, moving []Layer) []string {
	switch bp.AfterReady {
	case AfterReadyPivot:
		return []string{"at READY, pivot: " + bp.BasePath + " becomes the active layer"}
	case AfterReadyKeepOverlay:
		bp.Warnings = append(bp.Warnings, filepath.Base(bp.BasePath)+" will also hold the data of "+names(moving)+"; its old content is gone")
		return []string{"at READY, abort and keep the overlay: the chain stays as it is"}
	}
	return []string{"stay at READY until a pivot ('virtchain abort " + d.Name + " " + bp.Target + " --pivot') or an abort"}
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
