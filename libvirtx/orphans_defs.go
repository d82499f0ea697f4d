package libvirtx

import (
	"path/filepath"
	"slices"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// A domain uses more files than its chains show: the disks of a running
// domain's persistent definition (what it boots from next, after 'virsh
// define' or 'attach-disk --config' changed it), and in either definition
// its firmware, NVRAM store, kernel, initrd, device tree and ACPI tables.
// A block copy's destination is only in the live definition's <mirror>.
// Most are raw images to the orphan search (a whole number of sectors);
// deleting one leaves the domain unable to start.

// definitionUsers adds those files of every domain to saved, and returns
// the domains whose definitions could not be read (unsure).
func (c *Conn) definitionUsers(doms []model.Domain, saved map[string][]string) (unsure []string) {
	for _, d := range doms {
		dom, err := c.virt.LookupDomainByName(d.Name)
		if err != nil {
			if virtCode(err) != libvirt.ERR_NO_DOMAIN {
				unsure = append(unsure, "definition of domain "+d.Name+": "+errorText(err))
			}
			continue
		}
		defs := []libvirt.DomainXMLFlags{0}
		if d.Persistent && d.State.Active() {
			defs = append(defs, libvirt.DOMAIN_XML_INACTIVE)
		}
		for _, flags := range defs {
			doc, err := dom.GetXMLDesc(flags)
			var x libvirtxml.Domain
			if err == nil {
				err = x.Unmarshal(doc)
			}
			switch {
			case err != nil && virtCode(err) == libvirt.ERR_NO_DOMAIN:
			case err != nil:
				unsure = append(unsure, "definition of domain "+d.Name+": "+errorText(err))
			case flags == libvirt.DOMAIN_XML_INACTIVE:
				c.addDefinitionFiles(&x, "persistent definition of "+d.Name+" (its next boot)", true, saved)
			default:
				c.addDefinitionFiles(&x, "definition of "+d.Name, false, saved)
			}
		}
		_ = dom.Free()
	}
	return unsure
}

// addDefinitionFiles adds to saved, used by who, the boot files and
// block-copy destinations that definition x names and, with disks, its disks' images with their
// backing chains (read from the images on a local host, from x's
// <backingStore> on any).
func (c *Conn) addDefinitionFiles(x *libvirtxml.Domain, who string, disks bool, saved map[string][]string) {
	add := func(p string) {
		if p == "" {
			return
		}
		p = filepath.Clean(p)
		if !slices.Contains(saved[p], who) {
			saved[p] = append(saved[p], who)
		}
	}
	for _, p := range bootFiles(x) {
		add(p)
	}
	if x.Devices == nil {
		return
	}
	for _, d := range x.Devices.Disks {
		// A block copy's destination (virsh blockcopy), which QEMU
		// writes every guest write into, is in no chain until the pivot.
		if m := d.Mirror; m != nil && m.Source != nil && m.Source.File != nil {
			add(m.Source.File.File)
		}
		if !disks || d.Source == nil || d.Source.File == nil || d.Source.File.File == "" {
			continue
		}
		top := d.Source.File.File
		add(top)
		if c.local {
			for _, l := range WalkChain(top, "") {
				add(l.Path)
			}
		}
		for bs := d.BackingStore; bs != nil; bs = bs.BackingStore {
			if bs.Source != nil && bs.Source.File != nil {
				add(bs.Source.File.File)
			}
		}
	}
}

// bootFiles are the files a definition's <os> names.
func bootFiles(x *libvirtxml.Domain) []string {
	o := x.OS
	if o == nil {
		return nil
	}
	out := []string{o.Kernel, o.Initrd, o.DTB, o.Shim}
	if o.Loader != nil {
		out = append(out, o.Loader.Path)
	}
	if o.NVRam != nil {
		out = append(out, o.NVRam.NVRam, o.NVRam.Template)
		if o.NVRam.Source != nil && o.NVRam.Source.File != nil {
			out = append(out, o.NVRam.Source.File.File)
		}
	}
	if o.VarStore != nil {
		out = append(out, o.VarStore.Path, o.VarStore.Template)
	}
	if o.ACPI != nil {
		for _, t := range o.ACPI.Tables {
			out = append(out, t.Path)
		}
	}
	return out
}
