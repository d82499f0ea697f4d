package model

import (
	"errors"
	"fmt"
	"strings"
)

// A revert throws away the domain's current state: its memory when it
// runs, and the disk writes since the current snapshot (libvirt's own
// external revert deletes the overlays holding them). So a revert first
// takes a snapshot of that state, the "keep" snapshot, unless the admin
// asks to discard it. The keep snapshot is of the target's kind: external
// when the target is external (its chain is one of overlays), internal
// when it is internal (the disks are qcow2 images holding snapshots), so
// internal and external snapshots never mix on one line, which libvirt
// cannot delete (a parent that is internal) and which lost data in libvirt
// before 11.0. For a running or paused domain it holds the memory too: a
// checkpoint (external memory file) or an internal snapshot with memory;
// both revert on every version virtchain supports. For a shut-off domain
// it is disk-only.

// KeepSnapshotName is the snapshot name for the current state kept by a
// revert to target: before-revert-to-TARGET, then -2, -3, ... when taken.
func KeepSnapshotName(d *Domain, target string) string {
	base := "before-revert-to-" + target
	taken := map[string]bool{}
	for _, s := range d.Snapshots {
		taken[s.Name] = true
	}
	name := base
	for n := 2; taken[name]; n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	return name
}

// planKeep plans the keep snapshot for a revert of d to s.
func planKeep(domains []Domain, d *Domain, s *Snapshot, f SnapshotFacts) (*SnapshotCreatePlan, error) {
	req := SnapshotCreateRequest{Domain: d.Name, Name: KeepSnapshotName(d, s.Name),
		Description: "the state of " + d.Name + " before the revert to " + s.Name + ", kept by virtchain"}
	if s.Kind == SnapshotExternal {
		req.External = true
		req.DiskOnly = !d.State.Active()
	}
	k, err := PlanSnapshotCreate(domains, req, f)
	var r *Refusal
	if errors.As(err, &r) {
		return nil, RefuseDo(fmt.Sprintf("before the revert virtchain keeps the current state as snapshot %s, but %s", req.Name, r.Reason),
			Words("fix that, or "), Do(DoDiscardCurrent), Words(" to lose the current state"))
	}
	return k, err
}

// keepFirst puts the keep snapshot in front of the revert: its steps,
// commands and files come first.
func keepFirst(p *SnapshotRevertPlan) {
	k := p.Keep
	steps := []string{"keep the current state first: " + k.Summary}
	p.Steps = append(append(steps, k.Steps...), p.Steps...)
	p.Virsh = append(append([]string{}, k.Virsh...), p.Virsh...)
	files := p.Files
	p.Files = append([]FileChange{}, k.Files...)
	for _, fc := range files {
		p.addFile(fc.Change, fc.By, fc.Path, fc.Why)
	}
	p.Warnings = append(append([]string{}, k.Warnings...), p.Warnings...)
	p.Notes = append(append([]Hint{}, k.Notes...), p.Notes...)
	p.Writes = append(append([]SpaceWrite{}, k.Writes...), p.Writes...)
	p.Kept = append(p.Kept, fmt.Sprintf("snapshot %s holds the state from before the revert: revert to it to come back", k.Request.Name))
}

// keepCurrentFirst is the way out of a revert that must not discard the
// current state.
var keepCurrentFirst = Hint{Do(DoKeepCurrent), Words(", so virtchain snapshots the current state first")}

// discardWarning is what a revert without a keep snapshot loses.
func discardWarning(d *Domain, since string) string {
	what := "the disk writes since " + since + " are lost"
	if d.State.Active() {
		what = "its memory state and the disk writes since " + since + " are lost"
	}
	return fmt.Sprintf("--discard-current: %s is %s; %s", d.Name, d.State, what)
}

// libvirtExternalFiles lists what libvirt's own external revert (hosts
// with <externalSnapshot/>) does to files, as measured on libvirt 11.3: a
// new overlay IMAGE.<epoch> on each disk's point, and the overlays of the
// snapshot that was current deleted: its <revertDisks> when it has them (it
// was reverted to while it had children), else its external disks. Those
// hold the writes since that snapshot; with a keep snapshot they are the
// keep snapshot's fresh overlays, nearly empty.
func (x *reverting) libvirtExternalFiles() error {
	steps, err := x.libvirtNewOverlays()
	if err != nil {
		return err
	}
	curName, disks, err := x.currentOverlays()
	if err != nil {
		return err
	}
	deleted, err := x.libvirtDeletes(curName, disks)
	if err != nil {
		return err
	}
	steps = append(steps, deleted...)
	// The generic "libvirt creates new overlays" step gives way to these.
	p := x.p
	for i, st := range p.Steps {
		if strings.HasPrefix(st, "libvirt creates new overlays") {
			p.Steps = append(p.Steps[:i], append(steps, p.Steps[i+1:]...)...)
			return nil
		}
	}
	p.Steps = append(steps, p.Steps...)
	return nil
}

// libvirtNewOverlays records the overlay libvirt creates on each point.
func (x *reverting) libvirtNewOverlays() ([]string, error) {
	var steps []string
	for _, sd := range x.s.Disks {
		if sd.Kind != "external" {
			continue
		}
		pt, err := externalPoint(x.s, sd, x.points)
		if err != nil {
			return nil, err
		}
		ov := libvirtRevertOverlay(pt.Path)
		x.p.addFile(FileCreated, "libvirt", ov, "new overlay of "+sd.Target+" on "+pt.Path)
		steps = append(steps, fmt.Sprintf("%s: libvirt creates %s (qcow2; <epoch> is the time of the revert) on %s, the image at snapshot %s, and %s writes there",
			sd.Target, ov, pt.Path, x.s.Name, sd.Target))
	}
	return steps, nil
}

// currentOverlays names the snapshot current before the revert and the
// disks libvirt deletes the overlays of: the keep snapshot's, else the
// current snapshot's.
func (x *reverting) currentOverlays() (string, []SnapshotDisk, error) {
	d := x.d
	if k := x.p.Keep; k != nil {
		var disks []SnapshotDisk
		for _, kd := range k.Disks {
			if kd.Snapshot == "external" {
				disks = append(disks, SnapshotDisk{Target: kd.Target, Kind: "external", File: kd.Overlay})
			}
		}
		return k.Request.Name, disks, nil
	}
	if cur, err := snapFind(d, d.CurrentSnapshot); d.CurrentSnapshot != "" && err == nil {
		if len(cur.RevertDisks) > 0 {
			return cur.Name, cur.RevertDisks, nil
		}
		return cur.Name, cur.Disks, nil
	}
	// libvirt reads the current snapshot's overlays without checking
	// that there is one: on 11.3 libvirtd dies mid-revert.
	return "", nil, RefuseDo(fmt.Sprintf("%s has no current snapshot, and libvirt's own external revert then stops libvirtd halfway", d.Name),
		Do(DoKeepCurrent), Words(", so virtchain snapshots the current state first (that snapshot becomes current)"))
}

// libvirtDeletes records the overlays of snapshot curName that libvirt
// deletes, and refuses when one is still needed and no keep snapshot
// stands in for the current state.
func (x *reverting) libvirtDeletes(curName string, disks []SnapshotDisk) ([]string, error) {
	p := x.p
	var steps, lost []string
	for _, cd := range disks {
		if cd.Kind != "external" || cd.File == "" {
			continue
		}
		if p.Keep == nil {
			if err := x.refuseLosing(curName, cd); err != nil {
				return nil, err
			}
			lost = append(lost, cd.File)
		}
		p.addFile(FileDeleted, "libvirt", cd.File, "overlay of "+cd.Target+" of snapshot "+curName+", current before the revert")
		steps = append(steps, fmt.Sprintf("%s: libvirt deletes %s, the overlay of snapshot %s (current before the revert)", cd.Target, cd.File, curName))
	}
	if len(lost) > 0 {
		p.Warn(Words(fmt.Sprintf("the writes since snapshot %s are lost: libvirt deletes %s", curName, strings.Join(lost, ", "))))
	}
	return steps, nil
}

// refuseLosing refuses a revert without a keep snapshot when libvirt
// would delete an overlay that a chain or another snapshot still reads.
func (x *reverting) refuseLosing(curName string, cd SnapshotDisk) error {
	d := x.d
	if disk := d.Disk(cd.Target); disk != nil && disk.Pos(cd.File) > 0 {
		return RefuseDo(fmt.Sprintf("libvirt's revert deletes %s, the overlay of snapshot %s, but %s still reads through it", cd.File, curName, cd.Target),
			keepCurrentFirst...)
	}
	if users := x.refs.UsersExcept(cd.File, func(r Ref) bool {
		return r.Domain == d.Name && (r.Kind == "chain" || r.Snapshot == curName && r.Kind == "snapshot-disk")
	}); len(users) > 0 {
		return RefuseDo(fmt.Sprintf("libvirt's revert deletes %s, the overlay of snapshot %s, which %s still uses", cd.File, curName, strings.Join(users, ", ")),
			keepCurrentFirst...)
	}
	return nil
}
