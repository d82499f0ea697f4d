package libvirtx

import (
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// fullParts is the reference: libvirtxml's decoder over the whole document.
func fullParts(t *testing.T, doc string) (domainParts, error) {
	t.Helper()
	var x libvirtxml.Domain
	if err := x.Unmarshal(doc); err != nil {
		return domainParts{}, err
	}
	p := domainParts{metadata: x.Metadata}
	if x.Devices != nil {
		p.disks = x.Devices.Disks
	}
	return p, nil
}

func sameParts(t *testing.T, name, doc string) {
	t.Helper()
	want, werr := fullParts(t, doc)
	got, gerr := decodeDomainParts(doc)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: full decode error %v, parts error %v", name, werr, gerr)
	}
	if _, err := scanDomain(doc, "domain"); werr == nil && err != nil {
		t.Errorf("%s: the scan gave up on a document libvirtxml reads (%v): the fast path is not taken", name, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: parts differ from the full decode\n got %+v\nwant %+v", name, got, want)
	}
}

const partsDoc = `<?xml version="1.0"?>
<!-- a comment with <disk type='file'> in it -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>vc12s-parts</name>
  <metadata>
    <vc:marks xmlns:vc="https://virtchain.example/marks"><![CDATA[<disk>not one</disk>]]><vc:m a='x>y'/></vc:marks>
    <!-- <devices><disk/></devices> -->
  </metadata>
  <os><type>hvm</type><disk>not under devices</disk></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/tmp/a &amp; b&gt;.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file="/var/tmp/base's.qcow2"/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb'><disk>not a device</disk></controller>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='block' device='disk'><source dev='/dev/vc12s'/><target dev='vdb'/><shareable/></disk>
  </devices>
  <qemu:commandline><qemu:arg value='-S'/></qemu:commandline>
</domain>
`

// The parts equal libvirtxml's full decode, whatever else the document
// holds: comments, CDATA and attribute values that look like markup,
// elements named disk elsewhere, namespaces, no metadata, bad documents.
func TestDecodeDomainPartsEqualsFullDecode(t *testing.T) {
	sameParts(t, "mixed", partsDoc)
	if p, _ := decodeDomainParts(partsDoc); len(p.disks) != 3 || p.metadata == nil || !strings.Contains(p.metadata.XML, "vc:marks") {
		t.Fatalf("parts of the mixed document: %d disks, metadata %v", len(p.disks), p.metadata)
	}
	sameParts(t, "no metadata, no devices", `<domain type='test'><name>x</name></domain>`)
	sameParts(t, "empty devices", `<domain type='test'><name>x</name><devices/></domain>`)
	for name, bad := range map[string]string{
		"empty":       "",
		"not closed":  `<domain><devices><disk type='file'>`,
		"other root":  `<network><name>x</name></network>`,
		"bad attr":    `<domain><devices><disk type='file></disk></devices></domain>`,
		"bad disk":    `<domain><devices><disk><source file='/a'></disk></devices></domain>`,
		"stray close": `<domain></devices></domain>`,
	} {
		if _, err := decodeDomainParts(bad); err == nil {
			t.Errorf("%s: decodeDomainParts accepted %q", name, bad)
		}
	}
}

// Every domain on the real host, live and inactive XML, decodes to the
// same disks and metadata both ways. A running domain of its own makes
// sure there is one, also on a host with nothing else defined (CI).
func TestIntegrationDecodeDomainPartsOnHost(t *testing.T) {
	callsLab(t, "vc12s-decode-parts", 2)
	c := discOpen(t, testhost.URI(), true)
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		t.Fatal(err)
	}
	defer freeDomains(doms)
	n := 0
	for i := range doms {
		name, _ := doms[i].GetName()
		for _, flags := range []libvirt.DomainXMLFlags{0, libvirt.DOMAIN_XML_INACTIVE} {
			doc, err := doms[i].GetXMLDesc(flags)
			if err != nil {
				continue // undefined meanwhile
			}
			sameParts(t, name, doc)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no domain XML read on the host")
	}
}

// fullSnapshot is the reference: the whole snapshot document decoded.
func fullSnapshot(doc string) (model.Snapshot, []model.PointDisk, error) {
	var x libvirtxml.DomainSnapshot
	if err := x.Unmarshal(doc); err != nil {
		return model.Snapshot{}, nil, err
	}
	return snapshotOf(&x, doc)
}

func sameSnapshot(t *testing.T, name, doc string) {
	t.Helper()
	ws, wp, werr := fullSnapshot(doc)
	gs, gp, gerr := parseSnapshotPoints(doc)
	if _, err := scanElements(doc, "domainsnapshot", func(int, string, string) bool { return false }, nil); werr == nil && err != nil {
		t.Errorf("%s: the scan gave up on a snapshot libvirtxml reads (%v)", name, err)
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: full decode error %v, parts error %v", name, werr, gerr)
	}
	if !reflect.DeepEqual(gs, ws) || !reflect.DeepEqual(gp, wp) {
		t.Errorf("%s: snapshot differs from the full decode\n got %+v %+v\nwant %+v %+v", name, gs, gp, ws, wp)
	}
}

const snapDoc = `<domainsnapshot>
  <name>s2</name>
  <state>running</state>
  <parent><name>s1</name></parent>
  <creationTime>1764640000</creationTime>
  <memory snapshot='external' file='/var/tmp/vc12s/s2.mem'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/var/tmp/vc12s/s2.qcow2'/></disk>
    <disk name='vdb' snapshot='no'/>
  </disks>
  <domain type='kvm'><name>vc12s-d</name><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/tmp/vc12s/s1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vc12s'/><target dev='vdb' bus='virtio'/></disk>
  </devices></domain>
  <inactiveDomain type='kvm'><name>vc12s-d</name><devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/tmp/vc12s/base.qcow2'/><target dev='vda' bus='virtio'/></disk>
  </devices></inactiveDomain>
  <revertDisks>
    <disk name='vda' snapshot='external' type='file'><source file='/var/tmp/vc12s/r.qcow2'/></disk>
  </revertDisks>
</domainsnapshot>`

// A snapshot reads the same whether its saved definitions are decoded
// whole or only their disks, on a crafted document and on every snapshot
// of every domain on the real host.
func TestParseSnapshotPointsEqualsFullDecode(t *testing.T) {
	sameSnapshot(t, "crafted", snapDoc)
	sameSnapshot(t, "inactive only", strings.Replace(snapDoc, "<domain type='kvm'><name>vc12s-d</name><devices>", "<x><devices>", 1))
	sameSnapshot(t, "broken", "<domainsnapshot><name>x</name><domain>")
	if _, _, err := parseSnapshotPoints("<domainsnapshot><name>x</name><domain>"); err == nil {
		t.Error("a broken snapshot document was accepted")
	}
}

func TestIntegrationParseSnapshotPointsOnHost(t *testing.T) {
	// An external snapshot of its own, so that a host without any still
	// has a document to compare.
	l := callsLab(t, "vc12s-decode-snaps", 1)
	testhost.Virsh(t, "snapshot-create-as", "--domain", l.name, "--name", "s1", "--disk-only",
		"--diskspec", "vda,snapshot=external,file="+l.path("s1.qcow2"), "--atomic")
	c := discOpen(t, testhost.URI(), true)
	doms, err := c.virt.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_HAS_SNAPSHOT)
	if err != nil {
		t.Fatal(err)
	}
	defer freeDomains(doms)
	n := 0
	for i := range doms {
		snaps, err := doms[i].ListAllSnapshots(0)
		if err != nil {
			continue
		}
		for j := range snaps {
			if doc, err := snaps[j].GetXMLDesc(0); err == nil {
				name, _ := snaps[j].GetName()
				sameSnapshot(t, name, doc)
				n++
			}
			_ = snaps[j].Free()
		}
	}
	if n == 0 {
		t.Fatal("no snapshot XML read on the host, not even the test's own")
	}
	t.Logf("%d snapshots compared", n)
}
