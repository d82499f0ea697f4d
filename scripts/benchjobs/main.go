// Command benchjobs prints the definition of scripts/bench_jobs.sh's domain:
// 64 MiB, no OS, one virtio qcow2 disk. Through libvirtxml, like every XML
// document virtchain writes.
//
//	go run ./scripts/benchjobs -name vct-job-bench -disk /var/tmp/vct-job-bench/top.qcow2 >domain.xml
package main

import (
	"flag"
	"fmt"
	"os"

	"libvirt.org/go/libvirtxml"
)

func main() {
	name := flag.String("name", "vct-job-bench", "domain name")
	disk := flag.String("disk", "", "the qcow2 image vda opens")
	flag.Parse()
	if *disk == "" {
		fmt.Fprintln(os.Stderr, "benchjobs: -disk is required")
		os.Exit(2)
	}
	typ := "kvm"
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		typ = "qemu"
	} else {
		_ = f.Close()
	}
	dom := libvirtxml.Domain{
		Type: typ, Name: *name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64"}},
		Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: *disk}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		}}},
	}
	out, err := dom.Marshal()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjobs:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}
