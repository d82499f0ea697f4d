package libvirtx

import (
	"fmt"
	"net"
	"strings"

	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// diskSource names a disk's (or layer's) source.
type diskSource struct {
	typ string // file, block, volume, network, dir, nvme, vhostuser, vhostvdpa
	// name is what a user sees: a path, pool/volume, or a network URL.
	name string
	// path is a host path that qcow2 headers can be read from, or "".
	path string
}

func describeSource(src *libvirtxml.DomainDiskSource) diskSource {
	switch {
	case src == nil:
		return diskSource{}
	case src.File != nil:
		return diskSource{typ: "file", name: src.File.File, path: src.File.File}
	case src.Block != nil:
		return diskSource{typ: "block", name: src.Block.Dev, path: src.Block.Dev}
	case src.Volume != nil:
		return diskSource{typ: "volume", name: src.Volume.Pool + "/" + src.Volume.Volume}
	case src.Network != nil:
		return diskSource{typ: "network", name: networkName(src.Network)}
	case src.Dir != nil:
		return diskSource{typ: "dir", name: src.Dir.Dir}
	case src.NVME != nil:
		name := "nvme"
		if p := src.NVME.PCI; p != nil && p.Address != nil && p.Address.Bus != nil && p.Address.Slot != nil && p.Address.Function != nil {
			dom := uint(0)
			if p.Address.Domain != nil {
				dom = *p.Address.Domain
			}
			name = fmt.Sprintf("nvme://%04x:%02x:%02x.%x/%d", dom, *p.Address.Bus, *p.Address.Slot, *p.Address.Function, p.Namespace)
		}
		return diskSource{typ: "nvme", name: name}
	case src.VHostUser != nil:
		name := "vhost-user"
		if src.VHostUser.UNIX != nil {
			name = src.VHostUser.UNIX.Path
		}
		return diskSource{typ: "vhostuser", name: name}
	case src.VHostVDPA != nil:
		return diskSource{typ: "vhostvdpa", name: src.VHostVDPA.Dev}
	}
	return diskSource{}
}

// networkName renders a network source the way qemu-img would accept it:
// protocol://host[:port]/name, or protocol:name without a host.
func networkName(n *libvirtxml.DomainDiskSourceNetwork) string {
	if len(n.Hosts) == 0 || (n.Hosts[0].Name == "" && n.Hosts[0].Socket == "") {
		return n.Protocol + ":" + n.Name
	}
	h := n.Hosts[0]
	host := h.Name
	if h.Socket != "" {
		host = "unix:" + h.Socket
	} else if h.Port != "" {
		host = net.JoinHostPort(h.Name, h.Port)
	}
	name := strings.TrimPrefix(n.Name, "/")
	return n.Protocol + "://" + host + "/" + name
}

// buildDisk turns one <disk> into a model value, reading its chain the
// way this disk allows: from the live XML when the domain is active, from
// the images themselves when they are local, from storage volumes when
// they are remote (through pools, see poolSession), and not at all when the source is no host path.
func (c *Conn) buildDisk(x libvirtxml.DomainDisk, f domainFacts, pools *poolSession) model.Disk {
	disk := model.Disk{
		Device:    x.Device,
		ReadOnly:  x.ReadOnly != nil,
		Shareable: x.Shareable != nil,
		Layers:    []model.Layer{},
	}
	if disk.Device == "" {
		disk.Device = "disk"
	}
	if x.Target != nil {
		disk.Target, disk.Bus = x.Target.Dev, x.Target.Bus
	}
	if x.Driver != nil {
		disk.Format = x.Driver.Type
	}
	src := describeSource(x.Source)
	if src.typ == "volume" {
		c.resolveVolume(&src)
	}
	disk.SourceType, disk.Source = src.typ, src.name
	if src.name == "" {
		return disk // an empty CD-ROM drive: no chain at all
	}

	switch {
	case f.state.Active():
		disk.Layers = c.liveChain(x, src, disk.Format, disk.Target, f.blocks, pools)
	case src.path == "":
		disk.Layers = []model.Layer{{Path: src.name, Format: disk.Format}}
	case c.local:
		disk.Layers = WalkChain(src.path, disk.Format)
	default:
		disk.Layers = pools.chain(src.path, disk.Format)
	}
	normalizeLayers(disk.Layers)
	return disk
}

// resolveVolume turns a pool/volume source into the volume's path, so its
// chain can be read like a file's. Left as pool/volume when that fails.
func (c *Conn) resolveVolume(src *diskSource) {
	pool, vol, _ := strings.Cut(src.name, "/")
	c.called(1)
	p, err := c.virt.LookupStoragePoolByName(pool)
	if err != nil {
		return
	}
	defer p.Free()
	c.called(1)
	v, err := p.LookupStorageVolByName(vol)
	if err != nil {
		return
	}
	defer v.Free()
	c.called(1)
	if path, err := v.GetPath(); err == nil && path != "" {
		src.path, src.name = path, path
	}
}

// normalizeLayers makes empty lists encode as [] rather than null: the
// JSON output is a contract.
func normalizeLayers(layers []model.Layer) {
	for i := range layers {
		if layers[i].InternalSnapshots == nil {
			layers[i].InternalSnapshots = []string{}
		}
	}
}
