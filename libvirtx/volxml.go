package libvirtx

import (
	"strings"

	"libvirt.org/go/libvirtxml"
)

// controlShift moves a control character XML 1.0 forbids (libvirt writes
// one into a volume's XML as it is when a file name holds it) to the
// private use area, where the XML parser lets it through, and back.
const controlShift = 0xF700

// unmarshalVolume reads a volume's XML, also when a path in it holds
// control characters: the chain is then read, and shows the name escaped,
// as a local read of the same file does.
func unmarshalVolume(doc string) (libvirtxml.StorageVolume, error) {
	var v libvirtxml.StorageVolume
	err := v.Unmarshal(doc)
	if err == nil || !strings.ContainsFunc(doc, forbiddenInXML) {
		return v, err
	}
	v = libvirtxml.StorageVolume{}
	if err := v.Unmarshal(strings.Map(func(r rune) rune {
		if forbiddenInXML(r) {
			return r + controlShift
		}
		return r
	}, doc)); err != nil {
		return v, err
	}
	back := func(s *string) {
		*s = strings.Map(func(r rune) rune {
			if r >= controlShift && r < controlShift+0x20 {
				return r - controlShift
			}
			return r
		}, *s)
	}
	back(&v.Name)
	back(&v.Key)
	if v.Target != nil {
		back(&v.Target.Path)
	}
	if v.BackingStore != nil {
		back(&v.BackingStore.Path)
	}
	return v, nil
}

// forbiddenInXML: the characters below U+0020 that XML 1.0 does not allow.
func forbiddenInXML(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }
