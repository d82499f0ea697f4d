package libvirtx

import (
	"context"
	"strconv"
)

// Versions returns the versions of the host's libvirt daemon and of its
// hypervisor (QEMU for qemu:// URIs), as "major.minor.micro". Two calls the
// client answers from the daemon, no domain read: the TUI shows them in
// each host's header row.
func (c *Conn) Versions(ctx context.Context) (libvirtVersion, hypervisorVersion string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	lv, err := c.LibvirtVersion()
	if err != nil {
		c.lostErr(err)
		return "", "", err
	}
	hv, err := c.virt.GetVersion()
	if err != nil {
		c.lostErr(err)
		return lv, "", &LibvirtError{Op: "read the hypervisor version", Err: err}
	}
	if hv == 0 {
		return lv, "", nil // the driver does not say
	}
	return lv, versionText(hv), nil
}

// versionText writes libvirt's packed version number (major*1000000 +
// minor*1000 + micro) as "major.minor.micro".
func versionText(v uint32) string {
	return strconv.Itoa(int(v/1000000)) + "." + strconv.Itoa(int(v/1000%1000)) + "." + strconv.Itoa(int(v%1000))
}
