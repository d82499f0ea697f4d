package libvirtx

import (
	"context"
	"errors"
	"os"
	"reflect"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// Snapshot operations. Each comes as a pair: PlanX reads the host and
// returns the plan the user confirms (or a *model.Refusal); X takes that
// plan, plans again from a fresh read, refuses if anything changed in
// between, and then runs it. Nothing changes before the plan is rechecked.

// opErr wraps a libvirt (or qemu-img) error with what was being done.
func opErr(op string, err error) error {
	return &LibvirtError{Op: op, Err: err, Fix: errorHint(errorText(err))}
}

func samePlan(a, b model.Plan) bool {
	// A bitmap or checkpoint that appeared meanwhile changes the warnings.
	return reflect.DeepEqual(a.Steps, b.Steps) && reflect.DeepEqual(a.Virsh, b.Virsh) &&
		reflect.DeepEqual(a.Bitmaps, b.Bitmaps) && reflect.DeepEqual(a.BrokenCheckpoints, b.BrokenCheckpoints)
}

// replan plans again right before running, so what runs is what the user
// confirmed: a read-only connection is refused, and a plan that changed
// since it was shown (the host moved on) is not run.
func replan[P interface{ Base() *model.Plan }](c *Conn, op string, shown model.Plan, plan func() (P, error)) (P, error) {
	var none P
	if err := c.refuseReadOnly(op); err != nil {
		return none, err
	}
	fresh, err := plan()
	if err != nil {
		return none, err
	}
	if !samePlan(*fresh.Base(), shown) {
		return none, model.ErrPlanChanged
	}
	return fresh, nil
}

// statFunc answers whether a path exists and what it is: on this host
// from the file system, over a remote connection through the storage API
// (remoteFileState), so a save or a snapshot never overwrites a remote
// file either.
func (c *Conn) statFunc() func(string) model.FileState {
	if !c.local {
		return c.remoteFileState
	}
	return localFileState
}

// localFileState says what a local path is: lstat first, then stat through
// a symlink, so a symlink to a FIFO, or to nothing, is not taken for a file
// that is fine or missing. Stat does not open the path, so a FIFO cannot
// block it.
func localFileState(p string) model.FileState {
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return model.FileMissing
	case err != nil:
		return model.FileUnknown
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		if fi, err = os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return model.FileNotRegular // a dangling symlink: a write would land elsewhere
		} else if err != nil {
			return model.FileUnknown
		}
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return model.FileExists
	case m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0:
		return model.FileBlockDevice
	}
	return model.FileNotRegular
}

// externalRevertSupported reads the host capabilities for
// <externalSnapshot/>, which libvirt 9.9 and later advertise.
func (c *Conn) externalRevertSupported() bool {
	doc, err := c.virt.GetCapabilities()
	if err != nil {
		return false
	}
	var caps libvirtxml.Caps
	if caps.Unmarshal(doc) != nil {
		return false
	}
	for _, g := range caps.Guests {
		if g.Features != nil && g.Features.ExternalSnapshot != nil {
			return true
		}
	}
	return false
}

// agentState reads the guest agent channel state from the live XML.
func agentState(dom *libvirt.Domain) model.AgentState {
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		return model.AgentNone
	}
	var def libvirtxml.Domain
	if def.Unmarshal(doc) != nil || def.Devices == nil {
		return model.AgentNone
	}
	for _, ch := range def.Devices.Channels {
		if ch.Target != nil && ch.Target.VirtIO != nil && ch.Target.VirtIO.Name == "org.qemu.guest_agent.0" {
			if ch.Target.VirtIO.State == "connected" {
				return model.AgentConnected
			}
			return model.AgentDisconnected
		}
	}
	return model.AgentNone
}

// snapshotWorld is everything a snapshot rule reads: every domain (for the
// file references), the facts, and the target domain's snapshot points.
type snapshotWorld struct {
	domains []model.Domain
	facts   model.SnapshotFacts
	// peers says which peer hosts' domains are in domains (guardDiscover).
	peers model.PeerReport
}

// planned is a plan of w with what its guards read of the peers applied.
func planned[P interface{ Base() *model.Plan }](w snapshotWorld, p P, err error) (P, error) {
	if err != nil {
		return p, err
	}
	if err := w.peers.Apply(p.Base()); err != nil {
		var zero P
		return zero, err
	}
	return p, nil
}

// world discovers every domain and gathers the facts for domain.
func (c *Conn) world(ctx context.Context, domain string) (snapshotWorld, error) {
	doms, peers, err := c.guardDiscover(ctx)
	if err != nil {
		return snapshotWorld{}, err
	}
	jobs, err := c.ListJobs(ctx)
	if err != nil {
		return snapshotWorld{}, err
	}
	w := snapshotWorld{domains: doms, peers: peers, facts: model.SnapshotFacts{
		Stat:           c.statFunc(),
		ExternalRevert: c.externalRevertSupported(),
		Jobs:           jobs,
		Space:          c.SpaceFacts(domain),
	}}
	if domain != "" {
		if dom, err := c.virt.LookupDomainByName(domain); err == nil {
			if active, _ := dom.IsActive(); active {
				w.facts.Agent = agentState(dom)
			}
			_ = dom.Free()
		}
	}
	return w, nil
}

// domainHandle looks a domain up by name; the caller frees it.
func (c *Conn) domainHandle(name string) (*libvirt.Domain, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_DOMAIN {
			return nil, model.NoDomain(name)
		}
		return nil, opErr("find domain "+name, err)
	}
	return dom, nil
}

// snapshotDoc reads one snapshot's XML (with secure fields, since it may
// be redefined or its domain definition reused).
func (c *Conn) snapshotDoc(domain, name string) (*libvirtxml.DomainSnapshot, string, error) {
	dom, err := c.domainHandle(domain)
	if err != nil {
		return nil, "", err
	}
	defer dom.Free()
	snap, err := dom.SnapshotLookupByName(name, 0)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_DOMAIN_SNAPSHOT {
			return nil, "", model.NoSnapshot(domain, name)
		}
		return nil, "", opErr("find snapshot "+name+" of "+domain, err)
	}
	defer snap.Free()
	// A read-only connection may not see secure fields; it only plans
	// (--dry-run), which needs none.
	var flags libvirt.DomainSnapshotXMLFlags
	if !c.readonly {
		flags = libvirt.DOMAIN_SNAPSHOT_XML_SECURE
	}
	doc, err := snap.GetXMLDesc(flags)
	if err != nil {
		return nil, "", opErr("read snapshot "+name+" of "+domain, err)
	}
	var x libvirtxml.DomainSnapshot
	if err := x.Unmarshal(doc); err != nil {
		return nil, "", opErr("parse snapshot "+name+" of "+domain, err)
	}
	return &x, doc, nil
}

// snapshotDef is the domain definition libvirt saved with a snapshot: the
// inactive one when both are stored (a running domain's snapshot).
func snapshotDef(x *libvirtxml.DomainSnapshot) *libvirtxml.Domain {
	if x.InactiveDomain != nil {
		return &x.InactiveDomain.Domain
	}
	return x.Domain
}

// pointDisks lists, per disk, the image at the snapshot point from the
// definition saved with the snapshot.
func pointDisks(x *libvirtxml.DomainSnapshot) []model.PointDisk {
	def := x.Domain
	if def == nil && x.InactiveDomain != nil {
		def = &x.InactiveDomain.Domain
	}
	if def == nil || def.Devices == nil {
		return nil
	}
	var out []model.PointDisk
	for _, d := range def.Devices.Disks {
		if d.Target == nil || d.Source == nil {
			continue
		}
		pd := model.PointDisk{Target: d.Target.Dev}
		switch {
		case d.Source.File != nil:
			pd.Path = d.Source.File.File
		case d.Source.Block != nil:
			pd.Path = d.Source.Block.Dev
		}
		if d.Driver != nil {
			pd.Format = d.Driver.Type
		}
		if pd.Path != "" {
			out = append(out, pd)
		}
	}
	return out
}

// snapshotPoints reads a snapshot's points, or nil when the snapshot does
// not exist (the model then refuses with the right words).
func (c *Conn) snapshotPoints(domain, name string) ([]model.PointDisk, error) {
	x, _, err := c.snapshotDoc(domain, name)
	var r *model.Refusal
	if errors.As(err, &r) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pointDisks(x), nil
}

func (c *Conn) refuseReadOnly(op string) error {
	if c.readonly {
		return model.RefuseReadOnly(op)
	}
	return nil
}

// PlanSnapshotCreate reads the host and plans a snapshot creation.
func (c *Conn) PlanSnapshotCreate(ctx context.Context, req model.SnapshotCreateRequest) (*model.SnapshotCreatePlan, error) {
	w, err := c.world(ctx, req.Domain)
	if err != nil {
		return nil, err
	}
	p, err := model.PlanSnapshotCreate(w.domains, req, w.facts)
	return planned(w, p, err)
}

// snapshotCreateXML is the <domainsnapshot> document for a plan.
func snapshotCreateXML(p *model.SnapshotCreatePlan) (string, error) {
	x := libvirtxml.DomainSnapshot{Name: p.Request.Name, Description: p.Request.Description, Disks: &libvirtxml.DomainSnapshotDisks{}}
	switch {
	case p.Memory == model.MemoryExternal:
		x.Memory = &libvirtxml.DomainSnapshotMemory{Snapshot: "external", File: p.MemoryFile}
	case p.Memory == model.MemoryInternal:
		x.Memory = &libvirtxml.DomainSnapshotMemory{Snapshot: "internal"}
	case p.Kind == model.SnapshotExternal:
		x.Memory = &libvirtxml.DomainSnapshotMemory{Snapshot: "no"}
	}
	for _, d := range p.Disks {
		sd := libvirtxml.DomainSnapshotDisk{Name: d.Target, Snapshot: d.Snapshot}
		if d.Snapshot == "external" {
			sd.Driver = &libvirtxml.DomainDiskDriver{Type: "qcow2"}
			sd.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Overlay}}
		}
		x.Disks.Disks = append(x.Disks.Disks, sd)
	}
	return x.Marshal()
}

// CreateSnapshot runs a plan from PlanSnapshotCreate. External snapshots
// always pass ATOMIC: with several disks, either all switch or none.
func (c *Conn) CreateSnapshot(ctx context.Context, p *model.SnapshotCreatePlan) error {
	fresh, err := replan(c, "snapshot create", p.Plan, func() (*model.SnapshotCreatePlan, error) { return c.PlanSnapshotCreate(ctx, p.Request) })
	if err != nil {
		return err
	}
	return c.journaled(fresh.Base(), func() error { return c.createSnapshot(fresh) })
}

// createSnapshot runs a snapshot creation plan that was just rechecked.
func (c *Conn) createSnapshot(fresh *model.SnapshotCreatePlan) error {
	doc, err := snapshotCreateXML(fresh)
	if err != nil {
		return opErr("build snapshot XML", err)
	}
	flags := libvirt.DOMAIN_SNAPSHOT_CREATE_ATOMIC
	if fresh.DiskOnly {
		flags |= libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
	}
	if fresh.Quiesce {
		flags |= libvirt.DOMAIN_SNAPSHOT_CREATE_QUIESCE
	}
	dom, err := c.domainHandle(fresh.Request.Domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	var snap *libvirt.DomainSnapshot
	err = c.during("creating snapshot "+fresh.Request.Name+" of "+fresh.Request.Domain, domJobInfo(fresh.Request.Domain), func() (err error) {
		snap, err = dom.CreateSnapshotXML(doc, flags)
		return err
	})
	if err != nil {
		return opErr("create snapshot "+fresh.Request.Name+" of "+fresh.Request.Domain, err)
	}
	_ = snap.Free()
	return nil
}

// PlanSnapshotRevert reads the host and plans a revert. virtchain's own
// external revert runs qemu-img on this host, or over a remote connection
// has the storage pools create the overlays (revert_remote.go).
func (c *Conn) PlanSnapshotRevert(ctx context.Context, req model.SnapshotRevertRequest) (*model.SnapshotRevertPlan, error) {
	w, err := c.world(ctx, req.Domain)
	if err != nil {
		return nil, err
	}
	points, err := c.snapshotPoints(req.Domain, req.Name)
	if err != nil {
		return nil, err
	}
	p, err := model.PlanSnapshotRevert(w.domains, req, points, w.facts)
	p, err = planned(w, p, err)
	if err != nil {
		return nil, err
	}
	if p.Method == model.RevertVirtchain && !c.local {
		if err := c.remoteRevertPlan(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// RevertSnapshot runs a plan from PlanSnapshotRevert: libvirt's revert, or
// virtchain's external revert (revert_external.go).
func (c *Conn) RevertSnapshot(ctx context.Context, p *model.SnapshotRevertPlan) error {
	fresh, err := replan(c, "snapshot revert", p.Plan, func() (*model.SnapshotRevertPlan, error) { return c.PlanSnapshotRevert(ctx, p.Request) })
	if err != nil {
		return err
	}
	return c.journaled(fresh.Base(), func() error { return c.revertFresh(ctx, fresh) })
}

// revertFresh runs a revert plan that was just rechecked.
func (c *Conn) revertFresh(ctx context.Context, fresh *model.SnapshotRevertPlan) error {
	// The current state first becomes a snapshot, so nothing of it is lost.
	if fresh.Keep != nil {
		if err := c.createSnapshot(fresh.Keep); err != nil {
			return err
		}
	}
	err := c.revertTo(ctx, fresh)
	var le *LibvirtError
	if fresh.Keep != nil && errors.As(err, &le) {
		le.Op += " (the state from before is kept as snapshot " + fresh.Keep.Request.Name + ")"
	}
	return err
}

// revertTo runs the revert itself, once the keep snapshot is taken.
func (c *Conn) revertTo(ctx context.Context, p *model.SnapshotRevertPlan) error {
	doing := "reverting " + p.Request.Domain + " to snapshot " + p.Request.Name
	if p.Method == model.RevertVirtchain {
		return c.during(doing, "virsh domstate "+model.ShellQuote(p.Request.Domain), func() error { return c.revertExternal(ctx, p) })
	}
	var flags libvirt.DomainSnapshotRevertFlags
	switch p.Request.Start {
	case model.StartRunning:
		flags |= libvirt.DOMAIN_SNAPSHOT_REVERT_RUNNING
	case model.StartPaused:
		flags |= libvirt.DOMAIN_SNAPSHOT_REVERT_PAUSED
	}
	if p.Request.Force {
		flags |= libvirt.DOMAIN_SNAPSHOT_REVERT_FORCE
	}
	// libvirt's revert puts back the definition saved with the snapshot,
	// which lacks the destroyed-point marks made since.
	var marks []model.PointMark
	return c.during(doing, domJobInfo(p.Request.Domain), func() error {
		return c.onSnapshot(p.Request.Domain, p.Request.Name, "revert "+p.Request.Domain+" to snapshot "+p.Request.Name,
			func(dom *libvirt.Domain, snap *libvirt.DomainSnapshot) error {
				var err error
				if marks, err = readMarks(dom); err != nil {
					return err
				}
				if err := snap.RevertToSnapshot(flags); err != nil {
					return err
				}
				return keepMarks(dom, p.Request.Domain, marks)
			})
	})
}

// PlanSnapshotDelete reads the host and plans a delete.
func (c *Conn) PlanSnapshotDelete(ctx context.Context, req model.SnapshotDeleteRequest) (*model.SnapshotDeletePlan, error) {
	w, err := c.world(ctx, req.Domain)
	if err != nil {
		return nil, err
	}
	points, err := c.snapshotPoints(req.Domain, req.Name)
	if err != nil {
		return nil, err
	}
	p, err := model.PlanSnapshotDelete(w.domains, req, points, w.facts)
	return planned(w, p, err)
}

// DeleteSnapshot runs a plan from PlanSnapshotDelete. For an external
// snapshot libvirt commits each overlay into the image below and removes
// the overlay; it waits until that is done.
func (c *Conn) DeleteSnapshot(ctx context.Context, p *model.SnapshotDeletePlan) error {
	fresh, err := replan(c, "snapshot delete", p.Plan, func() (*model.SnapshotDeletePlan, error) { return c.PlanSnapshotDelete(ctx, p.Request) })
	if err != nil {
		return err
	}
	return c.journaled(fresh.Base(), func() error { return c.deleteSnapshot(p) })
}

// deleteSnapshot runs a delete plan that was just rechecked.
func (c *Conn) deleteSnapshot(p *model.SnapshotDeletePlan) error {
	return c.during("deleting snapshot "+p.Request.Name+" of "+p.Request.Domain, domJobInfo(p.Request.Domain), func() error {
		return c.onSnapshot(p.Request.Domain, p.Request.Name, "delete snapshot "+p.Request.Name+" of "+p.Request.Domain,
			func(dom *libvirt.Domain, snap *libvirt.DomainSnapshot) error {
				del := func() error { return snap.Delete(0) }
				if p.Request.MetadataOnly {
					del = func() error { return deleteMetadataOnly(dom, snap) }
				}
				if err := del(); err != nil {
					return err
				}
				return dropMarks(dom, p.Request.Name)
			})
	})
}

// onSnapshot looks a snapshot up, runs act on it and frees it; act's error
// becomes an *LibvirtError for op.
func (c *Conn) onSnapshot(domain, name, op string, act func(*libvirt.Domain, *libvirt.DomainSnapshot) error) error {
	dom, err := c.domainHandle(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	snap, err := dom.SnapshotLookupByName(name, 0)
	if err != nil {
		return opErr("find snapshot "+name+" of "+domain, err)
	}
	defer snap.Free()
	if err := act(dom, snap); err != nil {
		return opErr(op, err)
	}
	return nil
}
