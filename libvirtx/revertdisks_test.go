package libvirtx

import "testing"

// A snapshot libvirt 11.3 reverted to while it had children, as its
// snapshot-dumpxml prints it: <revertDisks> names the overlay that revert
// made, which libvirt's next revert away deletes.
func TestParseSnapshotRevertDisks(t *testing.T) {
	doc := `<domainsnapshot><name>s1</name><state>disk-snapshot</state><creationTime>1796158450</creationTime><memory snapshot='no'/>
<disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/var/tmp/d2/s1.qcow2'/></disk></disks>
<revertDisks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/var/tmp/d2/base.1796158453'/></disk></revertDisks>
</domainsnapshot>`
	s, err := parseSnapshot(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.RevertDisks) != 1 || s.RevertDisks[0].File != "/var/tmp/d2/base.1796158453" || s.RevertDisks[0].Target != "vda" || s.RevertDisks[0].Kind != "external" {
		t.Errorf("revert disks %+v", s.RevertDisks)
	}
	if len(s.Disks) != 1 || s.Disks[0].File != "/var/tmp/d2/s1.qcow2" {
		t.Errorf("disks %+v", s.Disks)
	}
	s, err = parseSnapshot(`<domainsnapshot><name>s2</name><disks/></domainsnapshot>`)
	if err != nil || s.RevertDisks != nil {
		t.Errorf("no revertDisks: %v %+v", err, s.RevertDisks)
	}
}
