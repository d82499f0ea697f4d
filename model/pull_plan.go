package model

import (
	"fmt"
	"path/filepath"
	"strings"
)

// PlanPull resolves a pull into the active layer.
func PlanPull(domains []Domain, req PullRequest, jobs []Job) (*BlockPlan, error) {
	d, disk, err := findDisk(domains, req.Domain, req.Target)
	if err != nil {
		return nil, err
	}
	if err := busy(jobs, d.Name, disk.Target); err != nil {
		return nil, err
	}
	base, err := pullBase(d, disk, req)
	if err != nil {
		return nil, err
	}
	topL := disk.Layers[0]
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
		Relative: req.Relative, Bandwidth: req.Bandwidth, Pull: &req,
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
	bp.bitmaps = bp.noteBitmaps(d, bitmapChange{target: disk.Target, leaving: moving, into: topL.Path, by: pullTool(offline),
		covered: !offline, intoLayer: &disk.Layers[0]})
	bp.Virsh = pullCommands(d, disk, bp)
	return bp, nil
}

// pullBase resolves the layer a pull keeps as the backing image (or
// len(Layers) for a full pull) and refuses a pull with nothing to do.
func pullBase(d *Domain, disk *Disk, req PullRequest) (int, error) {
	base := len(disk.Layers)
	if req.Base != "" {
		var err error
		if base, err = ResolveLayer(d, disk, req.Base); err != nil {
			return 0, err
		}
	}
	topL := disk.Layers[0]
	// Before "nothing to do": an unreadable layer hides what is below it.
	if err := checkLayers(disk, 0, base); err != nil {
		return 0, err
	}
	if base == 0 {
		return 0, Refuse("the base of a pull must be below the active layer "+filepath.Base(topL.Path), "pick a lower base, or none for a full pull")
	}
	if len(disk.Layers) == 1 {
		return 0, Refuse(fmt.Sprintf("%s %s has no backing image to pull from", d.Name, disk.Target), "nothing to do")
	}
	if base == 1 {
		return 0, Refuse(filepath.Base(disk.Layers[1].Path)+" is already the active layer's backing image", "pick a lower base, or none for a full pull")
	}
	return base, nil
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

// pullTool names who pulls, for the bitmap words; neither carries the
// pulled layers' bitmaps into the active layer (measured: blockpull on
// libvirt 9.0 and 11.3, qemu-img rebase 7.2 and 10.0).
func pullTool(offline bool) string {
	if offline {
		return "qemu-img rebase"
	}
	return "blockpull"
}
