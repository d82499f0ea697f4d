package libvirtx

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// Over a remote connection, virtchain's own external revert (libvirt
// before 9.9) cannot run qemu-img on the hypervisor. It has libvirt's
// storage driver create each new overlay instead: StorageVolCreateXML in
// the pool whose folder holds the overlay, with a <backingStore> naming the
// snapshot's point (libvirt runs qemu-img create -b there), through a
// transient pool where no pool covers the folder. The rest of the revert,
// the domain and snapshot redefinition, is the same calls as on this host.

// overlayFolder is how the overlays of folder dir are created: through
// the active storage pool whose target is dir or, failing that, through a
// transient pool virtchain creates for it (s.close destroys it; the files
// stay). Refused when neither can be had.
func (c *Conn) overlayFolder(s *poolSession, dir string) (*folderPool, error) {
	fp := s.folder(filepath.Clean(dir))
	fix := "define a storage pool for it and plan again: virsh pool-define-as NAME dir --target " + model.ShellQuote(dir) + "; virsh pool-start NAME"
	switch {
	case fp.gone:
		return nil, model.Refuse("folder "+dir+", where the revert overlay goes, does not exist on "+uriHost(c.uri), "create it there, or restore the snapshot's files")
	case fp.problem != "":
		return nil, model.Refuse("over a remote connection virtchain creates the revert overlay through libvirt's storage API, which cannot reach "+dir+": "+fp.problem, fix)
	case fp.pool == nil:
		return nil, model.Refuse("no storage pool can hold the revert overlay in "+dir, fix)
	}
	return fp, nil
}

// remoteRevertPlan words a RevertVirtchain plan for a remote host: each
// overlay is created by libvirt's storage driver in the pool of its
// folder, a transient one when no pool covers it.
func (c *Conn) remoteRevertPlan(ctx context.Context, p *model.SnapshotRevertPlan) error {
	s := c.newPoolSession(ctx)
	defer s.close()
	for _, ov := range p.Overlays {
		dir := filepath.Dir(ov.Overlay)
		fp, err := c.overlayFolder(s, dir)
		if err != nil {
			return err
		}
		create := []string{model.ShellJoin([]string{"virsh", "vol-create-as", fp.name, filepath.Base(ov.Overlay), strconv.FormatInt(c.volCapacity(ov.Point), 10),
			"--format", "qcow2", "--backing-vol", ov.Point, "--backing-vol-format", ov.PointFormat})}
		if fp.ours {
			// The transient pool's name is new each time: the commands
			// name it POOL.
			create = []string{"virsh pool-create-as POOL dir --target " + model.ShellQuote(dir),
				model.ShellJoin([]string{"virsh", "vol-create-as", "POOL", filepath.Base(ov.Overlay), strconv.FormatInt(c.volCapacity(ov.Point), 10),
					"--format", "qcow2", "--backing-vol", ov.Point, "--backing-vol-format", ov.PointFormat}),
				"virsh pool-destroy POOL"}
		}
		local := model.ShellJoin([]string{"qemu-img", "create", "-f", "qcow2", "-b", ov.Point, "-F", ov.PointFormat, ov.Overlay})
		var virsh []string
		for _, v := range p.Virsh {
			if v == local {
				virsh = append(virsh, create...)
			} else {
				virsh = append(virsh, v)
			}
		}
		p.Virsh = virsh
		for i := range p.Files {
			if p.Files[i].Path == ov.Overlay {
				p.Files[i].By = "libvirt"
			}
		}
	}
	p.Warnings = append(p.Warnings, "over this connection libvirt's storage driver creates the new overlays, in the storage pools of their folders (a transient one, destroyed afterwards, where no pool covers a folder), not qemu-img run by virtchain")
	return nil
}

// volCapacity is the virtual size of the image at path as its pool says,
// or 0 (then the overlay takes its backing image's size).
func (c *Conn) volCapacity(path string) int64 {
	vol, err := c.virt.LookupStorageVolByPath(path)
	if err != nil {
		return 0
	}
	defer vol.Free()
	info, err := vol.GetInfo()
	if err != nil {
		return 0
	}
	return int64(info.Capacity)
}

// createOverlaysHere makes the new overlays with qemu-img on this host or,
// over a remote connection, through the storage API. undo removes them.
func (c *Conn) createOverlaysHere(ctx context.Context, op string, overlays []model.RevertOverlay) (undo func(), err error) {
	if c.local {
		return createOverlays(ctx, op, overlays)
	}
	var created []string
	undo = func() {
		s := c.newPoolSession(context.Background())
		defer s.close()
		for _, f := range created {
			if fp, err := c.overlayFolder(s, filepath.Dir(f)); err == nil {
				if v, err := fp.pool.LookupStorageVolByName(filepath.Base(f)); err == nil {
					_ = v.Delete(0)
					_ = v.Free()
				}
			}
		}
	}
	s := c.newPoolSession(ctx)
	defer s.close()
	for _, ov := range overlays {
		if err := c.createVolOverlay(s, ov); err != nil {
			undo()
			return nil, err
		}
		created = append(created, ov.Overlay)
	}
	return undo, nil
}

// createVolOverlay creates one overlay in its folder's pool. The pool is
// refreshed first, so a file already there is seen and refused, never
// overwritten.
func (c *Conn) createVolOverlay(s *poolSession, ov model.RevertOverlay) error {
	name := filepath.Base(ov.Overlay)
	fp, err := c.overlayFolder(s, filepath.Dir(ov.Overlay))
	if err != nil {
		return err
	}
	if err := fp.pool.Refresh(0); err != nil {
		return &LibvirtError{Op: "refresh storage pool " + fp.name, Err: err}
	}
	if v, err := fp.pool.LookupStorageVolByName(name); err == nil {
		_ = v.Free()
		return model.Refuse(ov.Overlay+" already exists", "plan again: virtchain picks a free name")
	}
	x := libvirtxml.StorageVolume{
		Name:   name,
		Target: &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "qcow2"}},
		BackingStore: &libvirtxml.StorageVolumeBackingStore{Path: ov.Point,
			Format: &libvirtxml.StorageVolumeTargetFormat{Type: ov.PointFormat}},
	}
	if capacity := c.volCapacity(ov.Point); capacity > 0 {
		x.Capacity = &libvirtxml.StorageVolumeSize{Unit: "bytes", Value: uint64(capacity)}
	}
	doc, err := x.Marshal()
	if err != nil {
		return err
	}
	v, err := fp.pool.StorageVolCreateXML(doc, 0)
	if err != nil {
		return &LibvirtError{Op: fmt.Sprintf("create overlay %s in storage pool %s", ov.Overlay, fp.name), Err: err, Fix: errorHint(errorText(err))}
	}
	return v.Free()
}
