package libvirtx

import (
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// deleteMetadataOnly removes a snapshot's metadata and nothing else.
//
// libvirt (measured on 9.0) treats a metadata-only delete of an external
// snapshot as if its overlay had been merged: it rewrites the definition
// saved with every descendant, naming the image below the overlay instead
// of the overlay. No data moved, so those descendants would then name the
// wrong image as their point (a revert would bring back older data), and a
// cleanup could delete the image they really read. So each descendant's
// saved definition is put back as it was, under its new parent.
func deleteMetadataOnly(dom *libvirt.Domain, snap *libvirt.DomainSnapshot) error {
	type saved struct {
		name    string
		doc     string
		current bool
	}
	var before []saved
	kids, err := snap.ListAllChildren(libvirt.DOMAIN_SNAPSHOT_LIST_DESCENDANTS)
	if err != nil {
		return err
	}
	for i := range kids {
		k := &kids[i]
		name, nerr := k.GetName()
		doc, derr := k.GetXMLDesc(libvirt.DOMAIN_SNAPSHOT_XML_SECURE)
		cur, cerr := k.IsCurrent(0)
		_ = k.Free()
		if nerr != nil || derr != nil || cerr != nil {
			return firstErr(nerr, derr, cerr)
		}
		before = append(before, saved{name, doc, cur})
	}
	if err := snap.Delete(libvirt.DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY); err != nil {
		return err
	}
	for _, b := range before {
		if err := restoreSavedDefinition(dom, b.name, b.doc, b.current); err != nil {
			return err
		}
	}
	return nil
}

// restoreSavedDefinition redefines snapshot name with the domain
// definitions of its old document, keeping what libvirt changed otherwise
// (its parent), when libvirt rewrote them.
func restoreSavedDefinition(dom *libvirt.Domain, name, oldDoc string, current bool) error {
	snap, err := dom.SnapshotLookupByName(name, 0)
	if err != nil {
		return err
	}
	newDoc, err := snap.GetXMLDesc(libvirt.DOMAIN_SNAPSHOT_XML_SECURE)
	_ = snap.Free()
	if err != nil {
		return err
	}
	var was, now libvirtxml.DomainSnapshot
	if err := was.Unmarshal(oldDoc); err != nil {
		return err
	}
	if err := now.Unmarshal(newDoc); err != nil {
		return err
	}
	wasDef, err := definitions(&was)
	if err != nil {
		return err
	}
	nowDef, err := definitions(&now)
	if err != nil {
		return err
	}
	if wasDef == nowDef {
		return nil
	}
	now.Domain, now.InactiveDomain = was.Domain, was.InactiveDomain
	doc, err := now.Marshal()
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_SNAPSHOT_CREATE_REDEFINE
	if current {
		flags |= libvirt.DOMAIN_SNAPSHOT_CREATE_CURRENT
	}
	re, err := dom.CreateSnapshotXML(doc, flags)
	if err != nil {
		return err
	}
	return re.Free()
}

// definitions is the snapshot's saved domain definitions, marshalled, for
// comparing two versions of one snapshot.
func definitions(x *libvirtxml.DomainSnapshot) (string, error) {
	only := libvirtxml.DomainSnapshot{Name: x.Name, Domain: x.Domain, InactiveDomain: x.InactiveDomain}
	return only.Marshal()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
