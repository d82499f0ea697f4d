package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Reverting to a snapshot: by libvirt (internal snapshots, and external
// ones where libvirt can), or by virtchain itself for external snapshots
// on libvirt before 9.9. revert_keep.go keeps the current state first.

// RevertMethod says who reverts a snapshot.
type RevertMethod string

// Revert methods.
const (
	// RevertLibvirt is virDomainRevertToSnapshot: every internal snapshot,
	// and external ones when libvirt advertises <externalSnapshot/>.
	RevertLibvirt RevertMethod = "libvirt"
	// RevertVirtchain is virtchain's own external revert for libvirt
	// before 9.9: new overlays on the snapshot point, a redefined domain,
	// a memory restore for a checkpoint, the snapshot made current.
	RevertVirtchain RevertMethod = "virtchain"
)

// SnapshotRevertRequest is a user's intent to revert to a snapshot.
type SnapshotRevertRequest struct {
	Domain string    `json:"domain"`
	Name   string    `json:"name"`
	Start  StartMode `json:"start,omitempty"`
	Force  bool      `json:"force,omitempty"`
	// DiscardCurrent skips the snapshot of the current state a revert
	// takes first (KeepSnapshotName), so that state is lost.
	DiscardCurrent bool `json:"discard_current,omitempty"`
}

// RevertOverlay is one disk of virtchain's own external revert: a new
// overlay on top of the image that holds the snapshot point.
type RevertOverlay struct {
	Target      string `json:"target"`
	Point       string `json:"point"`
	PointFormat string `json:"point_format"`
	Overlay     string `json:"overlay"`
}

// SnapshotRevertPlan is a revert resolved against the domain.
type SnapshotRevertPlan struct {
	Plan
	Request  SnapshotRevertRequest `json:"request"`
	Snapshot Snapshot              `json:"-"`
	Method   RevertMethod          `json:"method"`
	// Start is how the domain ends up: running, paused, or StartDefault
	// for shut off.
	Start StartMode `json:"start"`
	// StopFirst: virtchain's revert destroys the active domain first.
	StopFirst bool            `json:"stop_first,omitempty"`
	Overlays  []RevertOverlay `json:"overlays,omitempty"`
	// MemoryFile is restored for a checkpoint (virtchain's revert).
	MemoryFile string `json:"memory_file,omitempty"`
	// Keep is the snapshot of the current state taken before the revert,
	// unless the request says DiscardCurrent.
	Keep *SnapshotCreatePlan `json:"keep,omitempty"`
}

// snapshotEndState is how a revert leaves the domain when the user does
// not choose: as the snapshot was, shut off for a disk-only one.
func snapshotEndState(s *Snapshot, req StartMode) StartMode {
	if req != StartDefault {
		return req
	}
	switch s.State {
	case "running":
		return StartRunning
	case "paused":
		return StartPaused
	}
	return StartDefault
}

func startWords(m StartMode) string {
	if m == StartDefault {
		return "shut off"
	}
	return string(m)
}

// PlanSnapshotRevert resolves a revert, or refuses it. points is the disk
// list of the domain definition saved with the snapshot.
func PlanSnapshotRevert(domains []Domain, req SnapshotRevertRequest, points []PointDisk, f SnapshotFacts) (*SnapshotRevertPlan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	s, err := snapFind(d, req.Name)
	if err != nil {
		return nil, err
	}
	if err := refuseRevert(d, s, req, points, f); err != nil {
		return nil, err
	}
	x := &reverting{d: d, s: s, req: req, points: points, f: f, refs: BuildRefs(domains),
		p: &SnapshotRevertPlan{Request: req, Snapshot: *s, Start: snapshotEndState(s, req.Start)}}
	p := x.p
	p.Op, p.Domain = "snapshot-revert", d.Name
	if !req.DiscardCurrent {
		if p.Keep, err = planKeep(domains, d, s, f); err != nil {
			return nil, err
		}
	}
	switch {
	case s.Kind == SnapshotExternal && !f.ExternalRevert:
		err = x.own()
	case s.Kind == SnapshotExternal:
		err = x.byLibvirt()
		if err == nil {
			err = x.libvirtExternalFiles()
		}
	default:
		err = x.byLibvirt()
	}
	if err != nil {
		return nil, err
	}
	x.noteBitmaps()
	if p.Keep != nil {
		keepFirst(p)
	}
	if err := CheckSpace(&p.Plan, f.Space); err != nil {
		return nil, err
	}
	if kids := snapChildren(d, s.Name); len(kids) > 0 {
		p.Kept = append(p.Kept, fmt.Sprintf("snapshots %s stay in the tree below %s: a sibling branch of what comes next", strings.Join(kids, ", "), s.Name))
	}
	return p, nil
}

// refuseRevert refuses what no method can revert: an unknown start mode, a
// busy disk, a stale snapshot, or chains and files libvirt must not open.
func refuseRevert(d *Domain, s *Snapshot, req SnapshotRevertRequest, points []PointDisk, f SnapshotFacts) error {
	if req.Start != StartDefault && req.Start != StartRunning && req.Start != StartPaused {
		return Refuse(fmt.Sprintf("unknown start mode %q", req.Start), "use running or paused")
	}
	if err := snapJobBusy(f.Jobs, d, "a revert"); err != nil {
		return err
	}
	if err := refuseStaleRevert(d, s.Name); err != nil {
		return err
	}
	if err := refuseHangingChains(d); err != nil {
		return err
	}
	if err := refuseHangingPoints(s, points, f); err != nil {
		return err
	}
	if s.Memory == MemoryExternal {
		return refuseNotRegular("memory file of checkpoint "+s.Name, s.MemoryFile, f, false)
	}
	return nil
}

// reverting is one revert being planned.
type reverting struct {
	d      *Domain
	s      *Snapshot
	req    SnapshotRevertRequest
	points []PointDisk
	f      SnapshotFacts
	refs   Refs
	p      *SnapshotRevertPlan
}

// byLibvirt plans virDomainRevertToSnapshot.
func (x *reverting) byLibvirt() error {
	d, s, p := x.d, x.s, x.p
	p.Method = RevertLibvirt
	if !d.Persistent && p.Start == StartDefault {
		return RefuseDo(fmt.Sprintf("%s is transient and snapshot %s is of a shut-off domain: a transient domain cannot be left shut off", d.Name, s.Name),
			Do(DoStartMode))
	}
	if s.Kind == SnapshotInternal {
		if err := x.internalImages(); err != nil {
			return err
		}
	} else {
		x.libvirtOverlays()
	}
	p.Steps = append(p.Steps, s.Name+" becomes the current snapshot")
	if s.Memory != MemoryNo || p.Start != StartDefault {
		p.Steps = append(p.Steps, fmt.Sprintf("%s ends up %s", d.Name, startWords(p.Start)))
	}
	p.Virsh = []string{ShellJoin(x.revertCommand())}
	return nil
}

// internalImages is libvirt's revert of an internal snapshot: each image
// it lives in returns to it, which needs that image to be the active layer.
func (x *reverting) internalImages() error {
	d, s, p := x.d, x.s, x.p
	for _, sd := range s.Disks {
		if sd.Kind != "internal" {
			continue
		}
		disk, pt := d.Disk(sd.Target), snapPoint(x.points, sd.Target)
		if disk == nil || pt == nil || pt.Path == "" {
			continue
		}
		if now := activePath(disk); now != "" && now != pt.Path {
			return RefuseDo(fmt.Sprintf("internal snapshot %s lives inside %s, but %s of %s now writes %s", s.Name, pt.Path, sd.Target, d.Name, now),
				Words("revert or merge the layers above it first, or remove its metadata with "), Do(DoDeleteMetadata))
		}
		p.Steps = append(p.Steps, fmt.Sprintf("%s: %s returns to the state stored in it as %s; later writes to it are discarded", sd.Target, pt.Path, s.Name))
		p.addFile(FileRewritten, "libvirt", pt.Path, "returns to internal snapshot "+s.Name)
	}
	if p.Keep == nil {
		p.Warn(Words(discardWarning(d, s.Name)))
	}
	p.Summary = fmt.Sprintf("revert %s to internal snapshot %s; it ends up %s", d.Name, s.Name, startWords(p.Start))
	return nil
}

// libvirtOverlays is libvirt's own revert of an external snapshot (9.9
// and later): new overlays on the images at the point.
func (x *reverting) libvirtOverlays() {
	d, s, p := x.d, x.s, x.p
	p.Summary = fmt.Sprintf("revert %s to external snapshot %s through libvirt; it ends up %s", d.Name, s.Name, startWords(p.Start))
	p.Steps = append(p.Steps, "libvirt creates new overlays on the images at the snapshot point and points the domain at them")
	for _, sd := range s.Disks {
		// libvirt names each new overlay IMAGE.<epoch>, next to the image
		// at the point (measured on 11.3).
		if pt := snapPoint(x.points, sd.Target); sd.Kind == "external" && pt != nil && pt.Path != "" {
			p.addWrite(libvirtRevertOverlay(pt.Path), OverlayMetadata(pointSize(d.Disk(sd.Target), pt.Path)), "libvirt's new overlay on "+filepath.Base(pt.Path), "")
		}
	}
	if p.Keep == nil {
		since := d.CurrentSnapshot
		if since == "" {
			since = s.Name
		}
		p.Warn(Words(discardWarning(d, since)))
	}
}

// revertCommand is the virsh command of libvirt's revert.
func (x *reverting) revertCommand() []string {
	argv := []string{"virsh", "snapshot-revert", "--domain", x.d.Name, "--snapshotname", x.s.Name}
	switch x.req.Start {
	case StartRunning:
		argv = append(argv, "--running")
	case StartPaused:
		argv = append(argv, "--paused")
	}
	if x.req.Force {
		argv = append(argv, "--force")
	}
	return argv
}

// revertOverlayPath picks a new file for virtchain's revert of one disk,
// next to the overlay the snapshot created, never reusing a known path.
func revertOverlayPath(d *Domain, s *Snapshot, target, near string, refs Refs, f SnapshotFacts, taken map[string]string) string {
	dir := filepath.Dir(near)
	for n := 1; ; n++ {
		p := filepath.Join(dir, fmt.Sprintf("%s_%s-revert%d.%s.qcow2", d.Name, s.Name, n, target))
		if _, used := refs[p]; used {
			continue
		}
		if _, used := taken[p]; used || f.stat(p) != FileMissing && f.stat(p) != FileUnknown {
			continue
		}
		taken[p] = "revert overlay for " + target
		return p
	}
}

// own plans virtchain's own revert of an external snapshot, for libvirt
// before 9.9: stop the domain, new overlays on the images at the point, a
// redefined domain, a memory restore for a checkpoint, the snapshot made
// current.
func (x *reverting) own() error {
	d, s, p := x.d, x.s, x.p
	p.Method = RevertVirtchain
	if !d.Persistent {
		return Refuse(fmt.Sprintf("%s is transient, and virtchain's external revert redefines the domain", d.Name),
			"make it persistent first (virsh dumpxml "+ShellQuote(d.Name)+" > "+ShellQuote(d.Name+".xml")+"; virsh define "+ShellQuote(d.Name+".xml")+")")
	}
	if x.req.Force {
		p.Warn(Do(DoForce), Words(" changes nothing for virtchain's external revert"))
	}
	if err := x.ownOverlays(); err != nil {
		return err
	}
	if err := x.ownCheckpoint(); err != nil {
		return err
	}
	var virsh []string
	if d.State.Active() {
		p.StopFirst = true
		p.Steps = append(p.Steps, fmt.Sprintf("stop %s (virsh destroy): its memory state is discarded", d.Name))
		if p.Keep == nil {
			p.Warn(Words(fmt.Sprintf("--discard-current: %s is %s: its memory state is lost; its disk writes stay in the old overlays", d.Name, d.State)))
		}
		virsh = append(virsh, ShellJoin([]string{"virsh", "destroy", d.Name}))
	}
	var switches []string
	for _, ov := range p.Overlays {
		virsh = append(virsh, x.ownSwitch(ov))
		switches = append(switches, ov.Target+" -> "+ov.Overlay)
	}
	edit := strings.Join(switches, ", ")
	p.Steps = append(p.Steps, fmt.Sprintf("define %s from the configuration saved with %s, with %s", d.Name, s.Name, edit))
	virsh = append(virsh, "virsh dumpxml --inactive "+ShellQuote(d.Name)+" > "+ShellQuote(d.Name+".xml")+"   # edit: "+edit,
		"virsh define "+ShellQuote(d.Name+".xml"))
	virsh = append(virsh, x.ownComeBack(edit)...)
	p.Steps = append(p.Steps, fmt.Sprintf("make %s the current snapshot, its disks naming the new overlays (its metadata is redefined with --redefine --current); the overlays it named before stay for the snapshots below it", s.Name))
	virsh = append(virsh, "virsh snapshot-dumpxml "+ShellQuote(d.Name)+" "+ShellQuote(s.Name)+" > snap.xml   # edit <disks>: "+edit,
		"virsh snapshot-create "+ShellQuote(d.Name)+" snap.xml --redefine --current")
	p.Kept = append(p.Kept, "nothing is deleted")
	if p.Keep != nil {
		for _, kd := range p.Keep.Disks {
			if kd.Snapshot == "external" {
				p.Kept = append(p.Kept, fmt.Sprintf("%s (%s), the overlay of %s, stays on disk and leaves the chain", kd.Overlay, kd.Target, p.Keep.Request.Name))
			}
		}
	}
	p.Virsh = virsh
	p.Summary = fmt.Sprintf("revert %s to external snapshot %s (libvirt %s cannot, so virtchain does it); it ends up %s", d.Name, s.Name, "before 9.9", startWords(p.Start))
	return nil
}

// ownOverlays picks a new overlay for each external disk of the snapshot,
// on the image at its point, which must still be there.
func (x *reverting) ownOverlays() error {
	d, s, p, f := x.d, x.s, x.p, x.f
	taken := map[string]string{}
	for _, sd := range s.Disks {
		if sd.Kind != "external" {
			continue
		}
		pt, err := externalPoint(s, sd, x.points)
		if err != nil {
			return err
		}
		if f.stat(pt.Path) == FileMissing {
			return Refuse(fmt.Sprintf("image %s, which holds %s of snapshot %s, is missing", pt.Path, sd.Target, s.Name), "restore the file; nothing was changed")
		}
		near := sd.File
		if near == "" || f.stat(filepath.Dir(near)) == FileMissing {
			near = pt.Path
		}
		ov := RevertOverlay{Target: sd.Target, Point: pt.Path, PointFormat: pt.Format, Overlay: revertOverlayPath(d, s, sd.Target, near, x.refs, f, taken)}
		p.addWrite(ov.Overlay, OverlayMetadata(pointSize(d.Disk(sd.Target), pt.Path)), "revert overlay "+filepath.Base(ov.Overlay), "")
		if ov.PointFormat == "" {
			ov.PointFormat = "qcow2"
		}
		p.Overlays = append(p.Overlays, ov)
	}
	if len(p.Overlays) == 0 {
		return Refuse(fmt.Sprintf("snapshot %s has no external disk to revert", s.Name), "")
	}
	return nil
}

// ownCheckpoint takes a checkpoint's memory file, which must be there; a
// checkpoint comes back running unless the user says paused.
func (x *reverting) ownCheckpoint() error {
	s, p := x.s, x.p
	if s.Memory != MemoryExternal {
		return nil
	}
	if s.MemoryFile == "" {
		return Refuse(fmt.Sprintf("checkpoint %s names no memory file", s.Name), "revert it by hand")
	}
	if x.f.stat(s.MemoryFile) == FileMissing {
		return Refuse(fmt.Sprintf("memory file %s of checkpoint %s is missing", s.MemoryFile, s.Name), "restore the file; nothing was changed")
	}
	p.MemoryFile = s.MemoryFile
	if p.Start == StartDefault {
		p.Start = StartRunning
	}
	return nil
}

// ownSwitch records one disk's new overlay and the layers that leave its
// chain, and returns the command that creates the overlay.
func (x *reverting) ownSwitch(ov RevertOverlay) string {
	d, s, p := x.d, x.s, x.p
	p.Steps = append(p.Steps, fmt.Sprintf("%s: create %s (qcow2) on top of %s (%s), the image at snapshot %s", ov.Target, ov.Overlay, ov.Point, ov.PointFormat, s.Name))
	p.addFile(FileCreated, "virtchain", ov.Overlay, "new overlay of "+ov.Target+" on "+ov.Point)
	create := ShellJoin([]string{"qemu-img", "create", "-f", "qcow2", "-b", ov.Point, "-F", ov.PointFormat, ov.Overlay})
	disk := d.Disk(ov.Target)
	if disk == nil {
		return create
	}
	for _, l := range layersAbove(disk, ov.Point) {
		p.LeavingChain = append(p.LeavingChain, l)
		p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays on disk with the writes made after %s", l, ov.Target, s.Name))
		// After the revert s names the new overlay; a layer no other
		// snapshot names or reads is in no tree, and nothing guards it.
		if p.Keep == nil && len(x.refs.UsersExcept(l, func(r Ref) bool {
			return r.Domain == d.Name && (r.Kind == "chain" || r.Kind == "snapshot-disk" && r.Snapshot == s.Name)
		})) == 0 {
			p.Warn(Words(fmt.Sprintf("no snapshot will name %s (%s): those writes show in no snapshot tree, and a later merge below it (deleting %s, a commit) leaves it without its backing file; to keep them as a branch, create a snapshot of %s first",
				l, ov.Target, s.Name, d.Name)))
		}
	}
	return create
}

// ownComeBack is how the domain comes back on its new overlays: restored
// from the checkpoint's memory, started, or left shut off. edit names the
// disk switches, for the commands a user would edit by hand.
func (x *reverting) ownComeBack(edit string) []string {
	d, s, p := x.d, x.s, x.p
	switch {
	case s.Memory == MemoryExternal:
		restoreArg := ""
		switch p.Start {
		case StartRunning:
			restoreArg = " --running"
		case StartPaused:
			restoreArg = " --paused"
		}
		p.Steps = append(p.Steps, fmt.Sprintf("restore memory and device state from %s with the new overlays; %s comes back %s", s.MemoryFile, d.Name, startWords(p.Start)))
		p.Kept = append(p.Kept, fmt.Sprintf("memory file %s stays (restore only reads it)", s.MemoryFile))
		return []string{"virsh save-image-dumpxml " + ShellQuote(s.MemoryFile) + " > mem.xml   # edit: " + edit,
			"virsh restore " + ShellQuote(s.MemoryFile) + " --xml mem.xml" + restoreArg}
	case p.Start != StartDefault:
		p.Steps = append(p.Steps, fmt.Sprintf("start %s %s", d.Name, startWords(p.Start)))
		argv := []string{"virsh", "start", d.Name}
		if p.Start == StartPaused {
			argv = append(argv, "--paused")
		}
		return []string{ShellJoin(argv)}
	}
	p.Steps = append(p.Steps, d.Name+" stays shut off")
	return nil
}

// layersAbove lists the chain layers above path (all of them when path is
// not in the chain, except that the base is never assumed to leave).
func layersAbove(disk *Disk, path string) []string {
	var out []string
	for _, l := range disk.Layers {
		if l.Path == path {
			return out
		}
		out = append(out, l.Path)
	}
	if len(disk.Layers) > 0 {
		return []string{disk.Layers[0].Path}
	}
	return nil
}

// externalPoint is the image at the point of external snapshot disk sd,
// or the refusal when libvirt's metadata names none.
func externalPoint(s *Snapshot, sd SnapshotDisk, points []PointDisk) (*PointDisk, error) {
	pt := snapPoint(points, sd.Target)
	if pt == nil || pt.Path == "" {
		return nil, RefuseDo(fmt.Sprintf("libvirt's metadata of snapshot %s names no image for %s at the snapshot point", s.Name, sd.Target),
			Words("revert it by hand, or remove its metadata with "), Do(DoDeleteMetadata))
	}
	return pt, nil
}

// noteBitmaps says what the revert does to each disk's bitmaps: an
// external revert leaves the layers above the point out of the chain with
// their bitmaps (nothing merges them: neither libvirt's revert nor
// virtchain's), an internal one changes its image's data under its
// bitmaps, which do not record it.
func (x *reverting) noteBitmaps() {
	d, s := x.d, x.s
	by := "virtchain's revert"
	if x.p.Method == RevertLibvirt {
		by = "libvirt's revert"
	}
	var changes []bitmapChange
	for _, sd := range s.Disks {
		disk, pt := d.Disk(sd.Target), snapPoint(x.points, sd.Target)
		if disk == nil || len(disk.Layers) == 0 {
			continue
		}
		switch sd.Kind {
		case "external":
			if pt == nil {
				continue
			}
			above := layersAbove(disk, pt.Path)
			var leaving []Layer
			for _, l := range disk.Layers {
				if slices.Contains(above, l.Path) {
					leaving = append(leaving, l)
				}
			}
			changes = append(changes, bitmapChange{target: sd.Target, leaving: leaving, by: by})
		case "internal":
			img := activePath(disk)
			if pt != nil && pt.Path != "" {
				img = pt.Path
			}
			if pos := disk.Pos(img); pos >= 0 {
				changes = append(changes, bitmapChange{target: sd.Target, rewritten: disk.Layers[pos : pos+1], by: "the revert to " + s.Name})
			}
		}
	}
	x.p.noteBitmaps(d, changes...)
}
