package model

import (
	"reflect"
	"strings"
	"testing"
)

// After the design card's "commit 2-3 into 1", s2 and s3 name files that
// left the chain.
func committed() Domain {
	d := seed(StateRunning)
	l := d.Disks[0].Layers
	d.Disks[0].Layers = append([]Layer{l[0]}, l[3:]...)
	return d
}

func TestReconcile(t *testing.T) {
	d := committed()
	d.Snapshots = append(d.Snapshots, Snapshot{Name: "int", Kind: SnapshotInternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "internal"}}})
	d.Snapshots[0].Stale = []string{"old"}
	if got := Reconcile(&d); !reflect.DeepEqual(got, []string{"s2", "s3"}) {
		t.Fatalf("stale %v", got)
	}
	if d.Snapshots[0].Stale != nil || !reflect.DeepEqual(d.Snapshots[1].Stale, []string{"vda"}) || d.Snapshots[4].Stale != nil {
		t.Fatalf("%+v", d.Snapshots)
	}
	// A snapshot of a disk the domain no longer has is stale too.
	d.Snapshots[0].Disks = append(d.Snapshots[0].Disks, SnapshotDisk{Target: "vdb", Kind: "external", File: "/x.qcow2"})
	doms := []Domain{d}
	ReconcileAll(doms)
	if !reflect.DeepEqual(doms[0].Snapshots[0].Stale, []string{"vdb"}) {
		t.Fatalf("%+v", doms[0].Snapshots[0])
	}
}

// onHost answers Inspect for a host where every path is a regular qcow2
// image of its own (its identity from its name), except those in special.
func onHost(special map[string]HostFile) func(string) HostFile {
	return func(p string) HostFile {
		if hf, ok := special[p]; ok {
			if hf.Path == "" {
				hf.Path = p
			}
			return hf
		}
		id := FileID{Dev: 1}
		for _, c := range p {
			id.Ino = id.Ino*31 + uint64(c)
		}
		return HostFile{Path: p, Type: FileRegular, Format: "qcow2", ID: id}
	}
}

func TestPlanCleanup(t *testing.T) {
	d := committed()
	d.Snapshots[2].MemoryFile = "/var/lib/libvirt/qemu/s3.mem"
	other := Domain{Name: "other", Disks: []Disk{{Target: "vda", Layers: []Layer{{Path: img + "test2_nmap.qcow2"}}}}}
	doms := []Domain{d, other}

	cp, err := PlanCleanup(doms, CleanupRequest{Domain: "vm"}, CleanupFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cp.Snapshots, []string{"s3", "s2"}) || len(cp.Files) != 0 {
		t.Fatalf("%+v", cp)
	}
	if want := "virsh snapshot-delete --domain vm s3 --metadata"; cp.Virsh[0] != want {
		t.Fatalf("%q", cp.Virsh)
	}
	// The caller's domain is not touched.
	if doms[0].Snapshots[1].Stale != nil {
		t.Fatal("PlanCleanup changed its input")
	}

	host := map[string]HostFile{
		"/var/lib/libvirt/qemu/s3.mem": {Type: FileRegular, Format: FormatSaveImage, ID: FileID{1, 3}},
		"/srv/vm.save":                 {Type: FileRegular, Format: FormatSaveImage, ID: FileID{1, 4}},
		"/srv/link.qcow2":              {Type: FileSymlink, ID: FileID{1, 5}},
		"/srv/pipe":                    {Type: FileFIFO},
		"/srv":                         {Type: FileDir},
		"/srv/gone.qcow2":              {Type: FileAbsent},
		"/srv/disk.vmdk":               {Type: FileRegular, Format: "vmdk", ID: FileID{1, 6}},
		// Another name of test2_test, a layer of vm's chain.
		"/srv/alias.qcow2": onHost(nil)(img + "test2_test.qcow2"),
		// Reached through a linked folder.
		"/lnk/left.qcow2": {Path: "/srv/left.qcow2", Type: FileRegular, Format: "qcow2", ID: FileID{1, 7}},
		"/srv/left.qcow2": {Type: FileRegular, Format: "qcow2", ID: FileID{1, 7}},
	}
	f := CleanupFacts{Inspect: onHost(host), Left: []LeftFile{
		{Path: "/srv/left.qcow2", ID: FileID{1, 7}}, {Path: "/srv/alias.qcow2"}, {Path: "/srv/vm.save"},
		{Path: "/srv/link.qcow2"}, {Path: "/srv/replaced.qcow2", ID: FileID{9, 9}}, {Path: "/srv/disk.vmdk"},
		{Path: "/srv/saved.qcow2"},
	}, Saved: map[string][]string{"/srv/saved.qcow2": {"managed-save image of other (vda)"}}}
	cp, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", Files: []string{"/lnk/left.qcow2"}, DeleteFiles: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/srv/left.qcow2", img + "test2_net-tools.qcow2", "/var/lib/libvirt/qemu/s3.mem"}
	if !reflect.DeepEqual(cp.Files, want) || len(cp.IDs) != 3 || cp.IDs[0] != (FileID{1, 7}) {
		t.Fatalf("files %q want %q (%v)", cp.Files, want, cp.IDs)
	}
	// test2_nmap is another domain's layer: kept, with who uses it.
	if len(cp.Kept) != 1 || !strings.Contains(cp.Kept[0], "test2_nmap.qcow2 (used by chain of other vda)") {
		t.Fatalf("kept %q", cp.Kept)
	}
	// Without --delete-files nothing is deleted, and the files are listed.
	cp, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", Files: []string{"/srv/left.qcow2"}}, f)
	if err != nil || len(cp.Files) != 0 || len(cp.Kept) != 4 {
		t.Fatalf("%+v %v", cp, err)
	}

	refused := func(file, want string) {
		t.Helper()
		_, err := PlanCleanup(doms, CleanupRequest{Domain: "vm", Files: []string{"/srv/left.qcow2", file}, DeleteFiles: true}, f)
		refusal(t, err, want)
	}
	refused(img+"test2_test.qcow2", "still used by chain of vm vda")
	refused("/srv/alias.qcow2", "/srv/alias.qcow2 is still used by chain of vm vda")
	refused("/srv/saved.qcow2", "still used by managed-save image of other (vda)")
	refused("rel.qcow2", "not an absolute path")
	refused("/etc/hostname", "/etc/hostname did not leave the chains of vm")
	refused("/srv/../etc/hostname", "/etc/hostname did not leave the chains of vm")
	refused("/srv/replaced.qcow2", "did not leave the chains of vm")
	refused("/srv/vm.save", "is a libvirt save image")
	refused("/srv/link.qcow2", "is a symbolic link")
	refused("/srv/pipe", "is a named pipe")
	refused("/srv", "is a directory")
	refused("/srv/gone.qcow2", "does not exist")
	refused("/srv/disk.vmdk", "is a vmdk image")
	// A stale checkpoint's memory file must be a save image, and a stale
	// snapshot's overlay a regular image.
	host["/var/lib/libvirt/qemu/s3.mem"] = HostFile{Type: FileRegular, Format: "raw"}
	_, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", DeleteFiles: true}, f)
	refusal(t, err, "not the memory image")
	host["/var/lib/libvirt/qemu/s3.mem"] = HostFile{Type: FileAbsent}
	host[img+"test2_net-tools.qcow2"] = HostFile{Type: FileRegular, Format: "raw"}
	_, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", DeleteFiles: true}, f)
	refusal(t, err, "test2_net-tools.qcow2 is not the qcow2 overlay")
	host[img+"test2_net-tools.qcow2"] = HostFile{Type: FileSymlink}
	_, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", DeleteFiles: true}, f)
	refusal(t, err, "test2_net-tools.qcow2 is a symbolic link")
	// Over a remote connection no file can be looked at.
	_, err = PlanCleanup(doms, CleanupRequest{Domain: "vm", DeleteFiles: true}, CleanupFacts{})
	refusal(t, err, "cannot look at the files")

	_, err = PlanCleanup(doms, CleanupRequest{Domain: "nope", DeleteFiles: true}, f)
	refusal(t, err, "no domain")
	cp, err = PlanCleanup([]Domain{seed(StateRunning)}, CleanupRequest{Domain: "vm", DeleteFiles: true}, f)
	if err != nil || len(cp.Snapshots)+len(cp.Files) != 0 || !strings.Contains(cp.Summary, "nothing to clean") {
		t.Fatalf("%+v %v", cp, err)
	}
}
