package libvirtx

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// This file is the way under Conn's model-level methods, for the demo lab
// (libvirtx/lab) and for tests that set up or inspect a host directly.

// Libvirt is the libvirt connection under c. It is for libvirtx's own
// packages, such as the demo lab, that drive libvirt directly; everything
// else goes through Conn's methods, which speak in model values. Do not
// close it: Close does.
func (c *Conn) Libvirt() *libvirt.Connect { return c.virt }

// DiskFile is the <source file> of a domain's disk, the active layer of its
// chain: from the live definition, or from the persistent one when inactive
// is set (a shut-off domain's).
func (c *Conn) DiskFile(domain, target string, inactive bool) (string, error) {
	dom, err := c.virt.LookupDomainByName(domain)
	if err != nil {
		return "", err
	}
	defer dom.Free()
	var flags libvirt.DomainXMLFlags
	if inactive {
		flags = libvirt.DOMAIN_XML_INACTIVE
	}
	d, err := diskByTarget(dom, flags, target)
	if err != nil {
		return "", err
	}
	if d.Source == nil || d.Source.File == nil || d.Source.File.File == "" {
		return "", fmt.Errorf("disk %s is not file-backed", target)
	}
	return d.Source.File.File, nil
}

func diskByTarget(dom *libvirt.Domain, flags libvirt.DomainXMLFlags, target string) (libvirtxml.DomainDisk, error) {
	x, err := dom.GetXMLDesc(flags)
	if err != nil {
		return libvirtxml.DomainDisk{}, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		return libvirtxml.DomainDisk{}, err
	}
	if def.Devices != nil {
		for _, d := range def.Devices.Disks {
			if d.Target != nil && d.Target.Dev == target {
				return d, nil
			}
		}
	}
	return libvirtxml.DomainDisk{}, fmt.Errorf("domain has no disk %s", target)
}

// GuestQemuIO runs one qemu-io command (such as "write -P 0x5a 0 4M" or
// "flush") on a running domain's disk through the QEMU monitor, as if the
// guest did the I/O. Tests use it to change data under a live chain. The
// qemu-io output goes to the domain's log, not to the caller; read the image
// back (after a "flush") to check the data.
func (c *Conn) GuestQemuIO(domain, target, command string) error {
	if strings.ContainsAny(command, "\"\n") {
		return fmt.Errorf("qemu-io command %q: quotes and newlines are not allowed", command)
	}
	dom, err := c.virt.LookupDomainByName(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	disk, err := diskByTarget(dom, 0, target)
	if err != nil {
		return fmt.Errorf("%s: %w", domain, err)
	}
	if disk.Alias == nil || disk.Alias.Name == "" {
		return fmt.Errorf("%s: disk %s has no device alias: is the domain running?", domain, target)
	}
	// qemu-io -d wants a block device: a virtio disk's is the backend of
	// its proxy device; other buses are addressed by their qdev id.
	dev := disk.Alias.Name
	if disk.Target.Bus == "virtio" {
		dev = "/machine/peripheral/" + dev + "/virtio-backend"
	}
	out, err := dom.QemuMonitorCommand("qemu-io -d "+dev+" \""+command+"\"", libvirt.DOMAIN_QEMU_MONITOR_COMMAND_HMP)
	if err != nil {
		return fmt.Errorf("%s: qemu-io %q on %s: %w", domain, command, target, err)
	}
	if out = strings.TrimSpace(out); out != "" && strings.Contains(strings.ToLower(out), "error") {
		first, _, _ := strings.Cut(out, "\n")
		return fmt.Errorf("%s: qemu-io %q on %s: %s", domain, command, target, first)
	}
	return nil
}
