package libvirtx

import (
	"libvirt.org/go/libvirt"
)

// HasDomain reports whether the host has a domain of that name, which is
// how the CLI finds the host of a DOMAIN given without HOST: when several
// hosts are connected. It reads no XML.
func (c *Conn) HasDomain(name string) (bool, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN {
		return false, nil
	}
	if err != nil {
		return false, &LibvirtError{Op: "find domain " + name, Err: err}
	}
	_ = dom.Free()
	return true, nil
}

// LibvirtVersion is the version of the libvirt the connection talks to
// (the daemon's, over a remote URI), as "11.3.0".
func (c *Conn) LibvirtVersion() (string, error) {
	v, err := c.virt.GetLibVersion()
	if err != nil {
		return "", &LibvirtError{Op: "read the libvirt version", Err: err}
	}
	return versionText(v), nil
}
