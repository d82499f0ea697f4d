package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// Helpers for integration tests that need a domain of their own.

// scratchDomain makes a folder /var/tmp/PREFIX* that QEMU can traverse,
// and removes it and the domain name (if defined by then) when the test
// ends, even when it fails.
func scratchDomain(t *testing.T, name, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU runs as libvirt-qemu and must traverse the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: each step may fail when the previous one did.
		_ = exec.Command("virsh", "-c", systemURI, "destroy", name).Run()
		_ = exec.Command("virsh", "-c", systemURI, "undefine", name, "--snapshots-metadata", "--managed-save").Run()
		_ = os.RemoveAll(dir)
	})
	return dir
}

// defineDiskDomain defines a 64 MiB domain whose vda is the qcow2 image
// (no disk when image is empty); its XML is kept in dir.
func defineDiskDomain(t *testing.T, name, dir, image string) {
	t.Helper()
	dom := libvirtxml.Domain{
		Type: "kvm", Name: name,
		Memory:  &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:      &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64"}},
		Devices: &libvirtxml.DomainDeviceList{},
	}
	if image != "" {
		dom.Devices.Disks = []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: image}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		}}
	}
	xml, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	labVirsh(t, "define", path)
}
