package libvirtx

import (
	"reflect"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// snapXML builds a snapshot document the way libvirt prints one.
func snapXML(t *testing.T, s libvirtxml.DomainSnapshot) string {
	t.Helper()
	doc, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestParseSnapshotExternalDiskOnly(t *testing.T) {
	doc := snapXML(t, libvirtxml.DomainSnapshot{
		Name: "s2", Description: "before upgrade", State: "disk-snapshot", CreationTime: "1700000000",
		Parent: &libvirtxml.DomainSnapshotParent{Name: "s1"},
		Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "no"},
		Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{
			{Name: "vda", Snapshot: "external", Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/var/tmp/x/vda.s2"}}},
			{Name: "vdb", Snapshot: "no"},
		}},
		// The definition saved with the snapshot names the point.
		Domain: &libvirtxml.Domain{Name: "d", Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{
			discFileDisk("vda", "/var/tmp/x/vda.s1", "qcow2"), discFileDisk("vdb", "/var/tmp/x/b.raw", "raw"),
		}}},
	})
	got, err := parseSnapshot(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Snapshot{
		Name: "s2", Parent: "s1", Kind: model.SnapshotExternal, Memory: model.MemoryNo,
		State: "disk-snapshot", Created: time.Unix(1700000000, 0).UTC(), Description: "before upgrade",
		Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/var/tmp/x/vda.s2", Point: "/var/tmp/x/vda.s1"},
			{Target: "vdb", Kind: "no", Point: "/var/tmp/x/b.raw"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseSnapshotKinds(t *testing.T) {
	cases := []struct {
		name   string
		snap   libvirtxml.DomainSnapshot
		kind   model.SnapshotKind
		memory model.MemoryKind
		file   string
	}{
		{"internal with memory", libvirtxml.DomainSnapshot{Name: "a", State: "running",
			Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "internal"},
			Disks:  &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{Name: "vda", Snapshot: "internal"}}}},
			model.SnapshotInternal, model.MemoryInternal, ""},
		{"internal of a shut-off domain", libvirtxml.DomainSnapshot{Name: "b", State: "shutoff",
			Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "no"},
			Disks:  &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{Name: "vda", Snapshot: "internal"}}}},
			model.SnapshotInternal, model.MemoryNo, ""},
		{"external checkpoint", libvirtxml.DomainSnapshot{Name: "c", State: "running",
			Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "external", File: "/var/tmp/x/c.mem"},
			Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{Name: "vda", Snapshot: "external",
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/var/tmp/x/vda.c"}}}}}},
			model.SnapshotExternal, model.MemoryExternal, "/var/tmp/x/c.mem"},
		{"memory only external", libvirtxml.DomainSnapshot{Name: "d", State: "running",
			Memory: &libvirtxml.DomainSnapshotMemory{Snapshot: "external", File: "/m"},
			Disks:  &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{Name: "vda", Snapshot: "no"}}}},
			model.SnapshotExternal, model.MemoryExternal, "/m"},
		{"no memory element, running", libvirtxml.DomainSnapshot{Name: "e", State: "running"},
			model.SnapshotInternal, model.MemoryInternal, ""},
	}
	for _, tc := range cases {
		got, err := parseSnapshot(snapXML(t, tc.snap))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Kind != tc.kind || got.Memory != tc.memory || got.MemoryFile != tc.file {
			t.Errorf("%s: kind %q memory %q file %q; want %q %q %q", tc.name, got.Kind, got.Memory, got.MemoryFile, tc.kind, tc.memory, tc.file)
		}
	}
	if _, err := parseSnapshot("<domainsnapshot><name>x</nam"); err == nil {
		t.Error("broken XML parsed without error")
	}
}

func TestOrderSnapshots(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	in := []model.Snapshot{
		{Name: "c2", Parent: "b", Created: at(40)},
		{Name: "root2", Created: at(5)},
		{Name: "b", Parent: "a", Created: at(20)},
		{Name: "c1", Parent: "b", Created: at(30)},
		{Name: "a", Created: at(10)},
		{Name: "b2", Parent: "a", Created: at(20)}, // same time as b: by name
		{Name: "orphan", Parent: "gone", Created: at(1)},
		{Name: "loop1", Parent: "loop2", Created: at(50)},
		{Name: "loop2", Parent: "loop1", Created: at(51)},
	}
	var got []string
	for _, s := range orderSnapshots(in) {
		got = append(got, s.Name)
	}
	want := []string{"orphan", "root2", "a", "b", "c1", "c2", "b2", "loop1", "loop2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMarkCreatedBy(t *testing.T) {
	d := model.Domain{
		Disks: []model.Disk{{Target: "vda", Layers: []model.Layer{
			{Path: "/i/vda.s2"}, {Path: "/i/vda.s1"}, {Path: "/i/base.qcow2"},
		}}},
		Snapshots: []model.Snapshot{
			{Name: "old", Created: time.Unix(1, 0), Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/vda.s1"}}},
			{Name: "s1", Created: time.Unix(2, 0), Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/vda.s1"}}},
			{Name: "s2", Created: time.Unix(3, 0), Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/vda.s2"}}},
			{Name: "int", Created: time.Unix(4, 0), Disks: []model.SnapshotDisk{{Target: "vda", Kind: "internal"}}},
		},
	}
	markCreatedBy(&d)
	var got []string
	for _, l := range d.Disks[0].Layers {
		got = append(got, l.CreatedBySnapshot)
	}
	if want := []string{"s2", "s1", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNetworkName(t *testing.T) {
	cases := map[string]libvirtxml.DomainDiskSourceNetwork{
		"rbd://mon1:6789/pool/img":     {Protocol: "rbd", Name: "pool/img", Hosts: []libvirtxml.DomainDiskSourceHost{{Name: "mon1", Port: "6789"}}},
		"nbd://unix:/run/nbd.sock/exp": {Protocol: "nbd", Name: "exp", Hosts: []libvirtxml.DomainDiskSourceHost{{Transport: "unix", Socket: "/run/nbd.sock"}}},
		"rbd:pool/img":                 {Protocol: "rbd", Name: "pool/img"},
		"http://[fe80::1]:80/disk.iso": {Protocol: "http", Name: "/disk.iso", Hosts: []libvirtxml.DomainDiskSourceHost{{Name: "fe80::1", Port: "80"}}},
	}
	for want, n := range cases {
		if got := networkName(&n); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestVolumeBytes(t *testing.T) {
	if got := volumeBytes(&libvirtxml.StorageVolumeSize{Unit: "bytes", Value: 4096}); got != 4096 {
		t.Errorf("bytes: %d", got)
	}
	if got := volumeBytes(&libvirtxml.StorageVolumeSize{Unit: "MiB", Value: 64}); got != 64<<20 {
		t.Errorf("MiB: %d", got)
	}
	if got := volumeBytes(nil); got != 0 {
		t.Errorf("nil: %d", got)
	}
}
