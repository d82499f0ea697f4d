// Package libvirtx is everything in virtchain that touches the host: the
// libvirt connection and its event loop, discovery of domains, disks, chains
// and snapshots (turned into model values), the operations that change them,
// block-job events, and offline work through qemu-img. The demo lab, which
// drives libvirt directly to build its domains, is libvirtx/lab.
//
// Nothing outside libvirtx and its packages imports libvirt.org/go/libvirt.
package libvirtx
