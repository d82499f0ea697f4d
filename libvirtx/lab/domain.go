package lab

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/assets"
)

// template is the definition every lab domain starts from:
// assets/lab/domain.xml.
func template() (libvirtxml.Domain, error) {
	var def libvirtxml.Domain
	if err := def.Unmarshal(assets.LabDomainXML); err != nil {
		return def, fmt.Errorf("assets/lab/domain.xml: %w", err)
	}
	return def, nil
}

// buildDomain defines one lab domain and runs its steps in order.
func (h host) buildDomain(ctx context.Context, opts Options, typ string, d domainDef) error {
	dom, err := h.defineDomain(opts, typ, d)
	if err != nil {
		return err
	}
	defer dom.Free()
	for _, st := range d.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := h.runStep(ctx, opts, dom, d, st); err != nil {
			return err
		}
	}
	return nil
}

// defineDomain defines d from the template, with its disks' active layers
// in the lab folder.
func (h host) defineDomain(opts Options, typ string, d domainDef) (*libvirt.Domain, error) {
	def, err := template()
	if err != nil {
		return nil, err
	}
	def.Name = opts.Prefix + d.Name
	def.Type = typ
	if def.Devices == nil {
		def.Devices = &libvirtxml.DomainDeviceList{}
	}
	for _, dk := range d.Disks {
		def.Devices.Disks = append(def.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(opts.Dir, dk.Image)}},
			Target: &libvirtxml.DomainDiskTarget{Dev: dk.Target, Bus: "virtio"},
		})
	}
	x, err := def.Marshal()
	if err != nil {
		return nil, err
	}
	return h.virt.DomainDefineXML(x)
}

// runStep does what one step names: start, snapshot, revert or write.
func (h host) runStep(ctx context.Context, opts Options, dom *libvirt.Domain, d domainDef, st step) error {
	switch {
	case st.Start:
		if err := dom.Create(); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		opts.logf("  started")
	case st.Snapshot != "":
		if err := takeSnapshot(dom, d, opts.Dir, st); err != nil {
			return fmt.Errorf("snapshot %s: %w", st.Snapshot, err)
		}
		opts.logf("  snapshot %s (%s)", st.Snapshot, snapshotKind(st))
	case st.Revert != "":
		if err := revertTo(dom, st.Revert); err != nil {
			return fmt.Errorf("revert %s: %w", st.Revert, err)
		}
		opts.logf("  reverted to %s", st.Revert)
	case len(st.Write) > 0:
		for _, target := range slices.Sorted(maps.Keys(st.Write)) {
			for _, w := range st.Write[target] {
				pw, _ := parseWrite(w) // checked by loadSpec
				if err := h.write(ctx, dom, target, pw); err != nil {
					return fmt.Errorf("write %s %s: %w", target, w, err)
				}
			}
		}
	}
	return nil
}

// snapshotKind says in the progress line what a snapshot step made:
// "internal", or "external, " and each disk's new overlay.
func snapshotKind(st step) string {
	if len(st.External) == 0 {
		return "internal"
	}
	var files []string
	for _, t := range slices.Sorted(maps.Keys(st.External)) {
		files = append(files, t+" -> "+st.External[t])
	}
	return "external, " + strings.Join(files, ", ")
}

// takeSnapshot takes an internal snapshot (with memory when the domain
// runs) or an atomic external disk-only one.
func takeSnapshot(dom *libvirt.Domain, d domainDef, dir string, st step) error {
	snap := libvirtxml.DomainSnapshot{Name: st.Snapshot, Description: st.Description}
	var flags libvirt.DomainSnapshotCreateFlags
	if len(st.External) > 0 {
		snap.Disks = &libvirtxml.DomainSnapshotDisks{}
		for _, dk := range d.Disks {
			sd := libvirtxml.DomainSnapshotDisk{Name: dk.Target, Snapshot: "no"}
			if f, ok := st.External[dk.Target]; ok {
				sd.Snapshot = "external"
				sd.Driver = &libvirtxml.DomainDiskDriver{Type: "qcow2"}
				sd.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(dir, f)}}
			}
			snap.Disks.Disks = append(snap.Disks.Disks, sd)
		}
		flags = libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.DOMAIN_SNAPSHOT_CREATE_ATOMIC
	}
	x, err := snap.Marshal()
	if err != nil {
		return err
	}
	s, err := dom.CreateSnapshotXML(x, flags)
	if err != nil {
		return err
	}
	return s.Free()
}

func revertTo(dom *libvirt.Domain, name string) error {
	snap, err := dom.SnapshotLookupByName(name, 0)
	if err != nil {
		return err
	}
	defer snap.Free()
	return snap.RevertToSnapshot(0)
}

// write writes a pattern into a disk's active layer: through the QEMU
// monitor when the domain runs (as the guest would), with qemu-io on the
// file when it is shut off. Either way it then reads the pattern back from
// the file, because the monitor's qemu-io reports nothing to the caller.
func (h host) write(ctx context.Context, dom *libvirt.Domain, target string, w patternWrite) error {
	name, err := dom.GetName()
	if err != nil {
		return err
	}
	active, err := dom.IsActive()
	if err != nil {
		return err
	}
	file, err := h.conn.DiskFile(name, target, !active)
	if err != nil {
		return err
	}
	if active {
		if err := h.conn.GuestQemuIO(name, target, w.command("write")); err != nil {
			return err
		}
		if err := h.conn.GuestQemuIO(name, target, "flush"); err != nil {
			return err
		}
	} else if err := runTool(ctx, "qemu-io", "-f", "qcow2", "-c", w.command("write"), file); err != nil {
		return err
	}
	return runTool(ctx, "qemu-io", "-U", "-r", "-f", "qcow2", "-c", w.command("read"), file)
}
