package libvirtx

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// Over a remote connection, virtchain's own external revert (libvirt
// before 9.9) cannot run qemu-img on the hypervisor. It has libvirt's
// storage driver create each new overlay instead: StorageVolCreateXML in
// the pool whose folder holds the overlay, with a <backingStore> naming the
// snapshot's point (libvirt runs qemu-img create -b there). The rest of the
// revert, the domain and snapshot redefinition, is the same calls as on
// this host.

// overlayPool is the active storage pool whose target folder is dir, or
// nil; the caller frees it.
func (c *Conn) overlayPool(dir string) (*libvirt.StoragePool, string, error) {
	pools, err := c.virt.ListAllStoragePools(libvirt.CONNECT_LIST_STORAGE_POOLS_ACTIVE)
	if err != nil {
		return nil, "", &LibvirtError{Op: "list storage pools on " + uriHost(c.uri), Err: err}
	}
	var found *libvirt.StoragePool
	name := ""
	for i := range pools {
		p := &pools[i]
		if found == nil {
			if doc, err := p.GetXMLDesc(0); err == nil {
				var x libvirtxml.StoragePool
				if x.Unmarshal(doc) == nil && x.Target != nil && filepath.Clean(x.Target.Path) == filepath.Clean(dir) &&
					(x.Type == "dir" || x.Type == "fs" || x.Type == "netfs") {
					found, name = p, x.Name
					continue
				}
			}
		}
		_ = p.Free()
	}
	return found, name, nil
}

// noPoolRefusal says why the overlay cannot be created remotely and how to
// make it possible.
func noPoolRefusal(dir string) error {
	return model.Refuse("over a remote connection virtchain creates the revert overlay through libvirt's storage API, and no active storage pool has the folder "+dir,
		"define one and plan again: virsh pool-define-as NAME dir --target "+model.ShellQuote(dir)+"; virsh pool-start NAME")
}

// remoteRevertPlan words a RevertVirtchain plan for a remote host: each
// overlay is created in the storage pool of its folder, which must exist.
func (c *Conn) remoteRevertPlan(p *model.SnapshotRevertPlan) error {
	for _, ov := range p.Overlays {
		pool, name, err := c.overlayPool(filepath.Dir(ov.Overlay))
		if err != nil {
			return err
		}
		if pool == nil {
			return noPoolRefusal(filepath.Dir(ov.Overlay))
		}
		_ = pool.Free()
		local := model.ShellJoin([]string{"qemu-img", "create", "-f", "qcow2", "-b", ov.Point, "-F", ov.PointFormat, ov.Overlay})
		for i, v := range p.Virsh {
			if v == local {
				p.Virsh[i] = model.ShellJoin([]string{"virsh", "vol-create-as", name, filepath.Base(ov.Overlay), strconv.FormatInt(c.volCapacity(ov.Point), 10),
					"--format", "qcow2", "--backing-vol", ov.Point, "--backing-vol-format", ov.PointFormat})
			}
		}
		for i := range p.Files {
			if p.Files[i].Path == ov.Overlay {
				p.Files[i].By = "libvirt"
			}
		}
	}
	p.Warnings = append(p.Warnings, "over this connection libvirt's storage driver creates the new overlays (in the pools of their folders), not qemu-img run by virtchain")
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
	type made struct{ pool, vol string }
	var created []made
	undo = func() {
		for _, m := range created {
			if p, err := c.virt.LookupStoragePoolByName(m.pool); err == nil {
				if v, err := p.LookupStorageVolByName(m.vol); err == nil {
					_ = v.Delete(0)
					_ = v.Free()
				}
				_ = p.Free()
			}
		}
	}
	for _, ov := range overlays {
		pool, vol, err := c.createVolOverlay(ov)
		if err != nil {
			undo()
			return nil, err
		}
		created = append(created, made{pool, vol})
	}
	return undo, nil
}

// createVolOverlay creates one overlay in its folder's pool. The pool is
// refreshed first, so a file already there is seen and refused, never
// overwritten.
func (c *Conn) createVolOverlay(ov model.RevertOverlay) (pool, vol string, err error) {
	dir, name := filepath.Dir(ov.Overlay), filepath.Base(ov.Overlay)
	p, pool, err := c.overlayPool(dir)
	if err != nil {
		return "", "", err
	}
	if p == nil {
		return "", "", noPoolRefusal(dir)
	}
	defer p.Free()
	if err := p.Refresh(0); err != nil {
		return "", "", &LibvirtError{Op: "refresh storage pool " + pool, Err: err}
	}
	if v, err := p.LookupStorageVolByName(name); err == nil {
		_ = v.Free()
		return "", "", model.Refuse(ov.Overlay+" already exists", "plan again: virtchain picks a free name")
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
		return "", "", err
	}
	v, err := p.StorageVolCreateXML(doc, 0)
	if err != nil {
		return "", "", &LibvirtError{Op: fmt.Sprintf("create overlay %s in storage pool %s", ov.Overlay, pool), Err: err, Fix: errorHint(errorText(err))}
	}
	_ = v.Free()
	return pool, name, nil
}
