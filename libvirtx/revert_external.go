package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// virtchain's own revert to an external snapshot, for libvirt before 9.9
// ("revert to external snapshot not supported yet"). In order:
//
//  1. read everything it needs (snapshot XML, saved definition, memory
//     file header) so bad input fails before any change;
//  2. create a new overlay on the image at the snapshot point for each disk;
//  3. define the domain from the saved configuration, pointed at them;
//  4. stop the domain if it runs (its memory state is discarded);
//  5. restore the checkpoint's memory with the new disks, or start the
//     domain when asked;
//  6. redefine the snapshot with REDEFINE|CURRENT so it is current, its
//     <disks> naming the new overlays.
//
// The old overlays stay on disk and the snapshot's children stay in the
// tree, so the newer branch remains: the overlay the snapshot created
// before is what its children's points read. Nothing is deleted, except
// the new overlays of a revert that failed before the domain was
// redefined.

// retargetDisks points each reverted disk of def at its new overlay, and
// takes the other disks as they are defined now (they were not part of the
// snapshot, so the snapshot cannot say where they should be).
func retargetDisks(def *libvirtxml.Domain, overlays []model.RevertOverlay, current *libvirtxml.Domain) error {
	if def.Devices == nil {
		return errors.New("the saved definition has no devices")
	}
	byTarget := map[string]string{}
	for _, ov := range overlays {
		byTarget[ov.Target] = ov.Overlay
	}
	currentDisks := map[string]libvirtxml.DomainDisk{}
	if current != nil && current.Devices != nil {
		for _, d := range current.Devices.Disks {
			if d.Target != nil {
				currentDisks[d.Target.Dev] = d
			}
		}
	}
	found := 0
	for i := range def.Devices.Disks {
		d := &def.Devices.Disks[i]
		if d.Target == nil {
			continue
		}
		ov, ok := byTarget[d.Target.Dev]
		if !ok {
			if cur, ok := currentDisks[d.Target.Dev]; ok && current != nil {
				*d = cur
			}
			continue
		}
		found++
		d.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: ov}}
		if d.Driver == nil {
			d.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu"}
		}
		d.Driver.Type = "qcow2"
		// The chain below the overlay is in its qcow2 header; a stale
		// <backingStore> from the snapshot time must not override it.
		d.BackingStore = nil
	}
	if found != len(overlays) {
		return fmt.Errorf("the saved definition lacks %d of the %d reverted disks", len(overlays)-found, len(overlays))
	}
	return nil
}

// createOverlay runs qemu-img create for one new overlay.
func createOverlay(ctx context.Context, ov model.RevertOverlay) error {
	cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", ov.Point, "-F", ov.PointFormat, ov.Overlay)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// revertExternal carries out a RevertVirtchain plan.
func (c *Conn) revertExternal(ctx context.Context, p *model.SnapshotRevertPlan) error {
	name, snapName := p.Request.Domain, p.Request.Name
	op := "revert " + name + " to external snapshot " + snapName

	// 1. Read everything first.
	def, snapDoc, err := c.savedDefinition(op, name, snapName)
	if err != nil {
		return err
	}
	dom, err := c.domainHandle(name)
	if err != nil {
		return err
	}
	defer dom.Free()
	docs, err := c.readRevertDocs(op, dom, def, snapDoc, p)
	if err != nil {
		return err
	}

	// 2. New overlays on the snapshot point.
	undo, err := c.createOverlaysHere(ctx, op, p.Overlays)
	if err != nil {
		return err
	}

	// 3 and 4.
	if err := c.moveToOverlays(op, dom, name, docs, undo); err != nil {
		return err
	}

	// 5. Bring it back as the snapshot was.
	if err := c.bringBack(op, dom, name, p, docs.restore); err != nil {
		return err
	}
	if active, _ := dom.IsActive(); active {
		if err := keepMarks(dom, name, docs.marks); err != nil {
			return opErr(op+" (the disks are reverted)", err)
		}
	}

	// 6. The snapshot becomes current in libvirt's metadata.
	snap, err := dom.CreateSnapshotXML(docs.redefine, libvirt.DOMAIN_SNAPSHOT_CREATE_REDEFINE|libvirt.DOMAIN_SNAPSHOT_CREATE_CURRENT)
	if err != nil {
		return opErr(op+": make "+snapName+" the current snapshot (the disks are reverted)", err)
	}
	_ = snap.Free()
	return nil
}

// savedDefinition decides whether virtchain can revert to the snapshot:
// only when libvirt kept the domain definition of its time. It returns a
// copy of that definition and the snapshot's XML.
func (c *Conn) savedDefinition(op, name, snapName string) (*libvirtxml.Domain, string, error) {
	snapX, snapDoc, err := c.snapshotDoc(name, snapName)
	if err != nil {
		return nil, "", err
	}
	saved := snapshotDef(snapX)
	if saved == nil {
		return nil, "", model.Refuse("snapshot "+snapName+" of "+name+" has no saved domain definition", "revert it by hand")
	}
	def, err := cloneDomainDef(saved)
	if err != nil {
		return nil, "", opErr(op+": copy the saved definition", err)
	}
	return def, snapDoc, nil
}

// revertDocs are the documents a revert writes, all built before the
// first change, and what it must keep.
type revertDocs struct {
	current  string // the persistent definition now, put back when a step fails
	next     string // the saved definition, pointed at the new overlays
	redefine string // the snapshot's metadata, naming the new overlays
	restore  string // a checkpoint's memory-image definition on the new overlays, or ""
	// marks are the destroyed-point marks made since the snapshot, which
	// the saved definition lacks.
	marks []model.PointMark
}

func (c *Conn) readRevertDocs(op string, dom *libvirt.Domain, def *libvirtxml.Domain, snapDoc string, p *model.SnapshotRevertPlan) (revertDocs, error) {
	var docs revertDocs
	curDoc, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE | libvirt.DOMAIN_XML_SECURE)
	if err != nil {
		return docs, opErr(op+": read the current definition", err)
	}
	docs.current = curDoc
	var current libvirtxml.Domain
	if err := current.Unmarshal(curDoc); err != nil {
		return docs, opErr(op+": parse the current definition", err)
	}
	// The marks are written back once the domain is defined, and again
	// once it runs (a restore brings its own live definition).
	if docs.marks, err = readMarks(dom); err != nil {
		return docs, opErr(op+": read the destroyed-point marks", err)
	}
	if err := retargetDisks(def, p.Overlays, &current); err != nil {
		return docs, opErr(op, err)
	}
	if docs.next, err = def.Marshal(); err != nil {
		return docs, opErr(op+": build the new definition", err)
	}
	if docs.redefine, err = revertedSnapshotDoc(snapDoc, p.Overlays); err != nil {
		return docs, opErr(op+": build the new metadata of "+p.Request.Name, err)
	}
	if p.MemoryFile != "" {
		if docs.restore, err = c.restoreDoc(op, p); err != nil {
			return docs, err
		}
	}
	return docs, nil
}

// restoreDoc is the definition in a checkpoint's memory file with the
// reverted disks on their new overlays. Only those disks change; every
// other device must match the memory image exactly.
func (c *Conn) restoreDoc(op string, p *model.SnapshotRevertPlan) (string, error) {
	memDoc, err := c.virt.DomainSaveImageGetXMLDesc(p.MemoryFile, libvirt.DOMAIN_SAVE_IMAGE_XML_SECURE)
	if err != nil {
		return "", opErr(op+": read the memory file "+p.MemoryFile, err)
	}
	var memDef libvirtxml.Domain
	if err := memDef.Unmarshal(memDoc); err != nil {
		return "", opErr(op+": parse the definition in "+p.MemoryFile, err)
	}
	if err := retargetDisks(&memDef, p.Overlays, nil); err != nil {
		return "", opErr(op+": memory file "+p.MemoryFile, err)
	}
	doc, err := memDef.Marshal()
	if err != nil {
		return "", opErr(op+": build the restore definition", err)
	}
	return doc, nil
}

// createOverlays makes the new overlays, or none: a failure removes those
// already made. undo removes them all, for a later step that fails before
// the domain uses them.
func createOverlays(ctx context.Context, op string, overlays []model.RevertOverlay) (undo func(), err error) {
	var created []string
	undo = func() {
		for _, f := range created {
			_ = os.Remove(f)
		}
	}
	for _, ov := range overlays {
		if err := createOverlay(ctx, ov); err != nil {
			undo()
			return nil, opErr(op+": create overlay "+ov.Overlay, err)
		}
		created = append(created, ov.Overlay)
	}
	return undo, nil
}

// moveToOverlays defines the domain on the new overlays and stops it if
// it runs (its memory state is discarded). A running domain keeps running
// on its old overlays until it is stopped. When a step fails, the old
// definition is put back and the new overlays removed, so nothing changed.
func (c *Conn) moveToOverlays(op string, dom *libvirt.Domain, name string, docs revertDocs, undo func()) error {
	newDom, err := c.virt.DomainDefineXML(docs.next)
	if err != nil {
		undo()
		return opErr(op+": define "+name+" with the new overlays", err)
	}
	_ = newDom.Free()
	putBack := func() {
		if old, derr := c.virt.DomainDefineXML(docs.current); derr == nil {
			_ = old.Free()
			undo()
		}
	}
	if err := keepMarks(dom, name, docs.marks); err != nil {
		putBack()
		return opErr(op, err)
	}
	if active, _ := dom.IsActive(); active {
		if err := dom.Destroy(); err != nil {
			putBack()
			return opErr(op+": stop "+name, err)
		}
	}
	return nil
}

// bringBack decides how the reverted domain comes back: restored from the
// checkpoint's memory, started (running or paused) when asked, or left
// shut off.
func (c *Conn) bringBack(op string, dom *libvirt.Domain, name string, p *model.SnapshotRevertPlan, restoreDoc string) error {
	switch {
	case p.MemoryFile != "":
		flags := libvirt.DOMAIN_SAVE_RUNNING
		if p.Start == model.StartPaused {
			flags = libvirt.DOMAIN_SAVE_PAUSED
		}
		if err := c.virt.DomainRestoreFlags(p.MemoryFile, restoreDoc, flags); err != nil {
			return opErr(op+": restore memory from "+p.MemoryFile+" ("+name+" is defined on the new overlays and shut off)", err)
		}
	case p.Start != model.StartDefault:
		var flags libvirt.DomainCreateFlags
		if p.Start == model.StartPaused {
			flags = libvirt.DOMAIN_START_PAUSED
		}
		if err := dom.CreateWithFlags(flags); err != nil {
			return opErr(op+": start "+name+" (it is defined on the new overlays and shut off)", err)
		}
	}
	return nil
}

// revertedSnapshotDoc is the snapshot's XML with each reverted disk's
// <source file> naming the new overlay, as libvirt's snapshots name the
// overlay their creation made. The snapshot is then in its disks' chains
// (not stale) and the current snapshot's line goes through it; the
// overlay it named before stays on disk, read by its children's points.
func revertedSnapshotDoc(doc string, overlays []model.RevertOverlay) (string, error) {
	var x libvirtxml.DomainSnapshot
	if err := x.Unmarshal(doc); err != nil {
		return "", err
	}
	if x.Disks == nil {
		return "", errors.New("the snapshot lists no disks")
	}
	found := 0
	for i := range x.Disks.Disks {
		sd := &x.Disks.Disks[i]
		for _, ov := range overlays {
			if ov.Target == sd.Name && sd.Snapshot == "external" {
				sd.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: ov.Overlay}}
				found++
			}
		}
	}
	if found != len(overlays) {
		return "", fmt.Errorf("the snapshot lacks %d of the %d reverted disks", len(overlays)-found, len(overlays))
	}
	return x.Marshal()
}

// cloneDomainDef copies a definition through its XML, so the snapshot's
// parsed document is never changed in place.
func cloneDomainDef(d *libvirtxml.Domain) (*libvirtxml.Domain, error) {
	doc, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	var out libvirtxml.Domain
	if err := out.Unmarshal(doc); err != nil {
		return nil, err
	}
	return &out, nil
}
