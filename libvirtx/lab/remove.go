package lab

import (
	"errors"
	"sort"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// domainsPresent lists the domains `lab down` may remove: named
// prefix+name for a lab domain, or named prefix* and carrying the lab
// template's description (a domain an older lab version made). A user's own
// domain that merely starts with the prefix is left alone.
func (h host) domainsPresent(prefix string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range DomainNames(prefix) {
		want[n] = true
	}
	tmpl, err := template()
	if err != nil {
		return nil, err
	}
	doms, err := h.virt.ListAllDomains(0)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := range doms {
		d := &doms[i]
		name, err := d.GetName()
		if err == nil && strings.HasPrefix(name, prefix) && (want[name] || madeFrom(d, tmpl)) {
			out = append(out, name)
		}
		d.Free()
	}
	sort.Strings(out)
	return out, nil
}

// madeFrom reports whether d's persistent definition carries the
// template's description, as every domain a lab made does.
func madeFrom(d *libvirt.Domain, tmpl libvirtxml.Domain) bool {
	x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return false
	}
	var def libvirtxml.Domain
	return def.Unmarshal(x) == nil && def.Description == tmpl.Description
}

func (h host) domainExists(name string) (bool, error) {
	d, err := h.virt.LookupDomainByName(name)
	if err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	d.Free()
	return true, nil
}

func isNoDomain(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN
}

// removeDomain destroys a lab domain and undefines it with everything
// libvirt keeps beside its definition. A domain already gone is no error.
func (h host) removeDomain(name string) error {
	d, err := h.virt.LookupDomainByName(name)
	if err != nil {
		if isNoDomain(err) {
			return nil
		}
		return err
	}
	defer d.Free()
	if active, err := d.IsActive(); err == nil && active {
		if err := d.Destroy(); err != nil {
			var lerr libvirt.Error
			if !errors.As(err, &lerr) || lerr.Code != libvirt.ERR_OPERATION_INVALID {
				return err
			}
		}
	}
	persistent, err := d.IsPersistent()
	if err != nil {
		if isNoDomain(err) { // a transient domain vanishes when destroyed
			return nil
		}
		return err
	}
	if !persistent {
		return nil
	}
	return d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
		libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
		libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE |
		libvirt.DOMAIN_UNDEFINE_NVRAM)
}
