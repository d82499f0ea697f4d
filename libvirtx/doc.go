// Package libvirtx is everything in virtchain that touches the host: the
// libvirt connection and its event loop, discovery of domains, disks, chains
// and snapshots (turned into model values), the operations that change them,
// block-job events, offline work through qemu-img, and the demo lab.
//
// Nothing outside libvirtx imports libvirt.org/go/libvirt.
package libvirtx
