package libvirtx

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDaemonRoot(t *testing.T) {
	for uri, want := range map[string]string{
		"qemu:///system": "/",
		"qemu+unix:///system?socket=/var/cache/h/trixie/run/libvirt/libvirt-sock": "/var/cache/h/trixie",
		"qemu+unix:///system?socket=/elsewhere/sock":                              "/",
	} {
		if got := daemonRoot(uri); got != want {
			t.Errorf("daemonRoot(%q) = %q, want %q", uri, got, want)
		}
	}
}

// A root of its own: passwd, group and qemu.conf say who QEMU runs as;
// a folder only root may enter keeps that user out, and says where.
func TestQemuIdentityAndAccess(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to own a folder the QEMU user is kept out of")
	}
	root := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/passwd", "root:x:0:0::/root:/bin/sh\nlibvirt-qemu:x:64055:108::/var/lib/libvirt:/usr/sbin/nologin\n")
	write("etc/group", "root:x:0:\nkvm:x:108:\nlibvirt-qemu:x:64056:libvirt-qemu\n")
	write("etc/libvirt/qemu.conf", "# user = \"root\"\n")
	id := readQemuIdentity(root)
	if id.skip != "" || id.name != "libvirt-qemu" || id.uid != 64055 || !slices.Contains(id.gids, 108) || !slices.Contains(id.gids, 64056) || !id.owned {
		t.Fatalf("identity %+v", id)
	}
	// t.TempDir's own folders are 0700 and root's: QEMU's user is out.
	img := filepath.Join(root, "img.qcow2")
	write("img.qcow2", "x")
	why, where := id.cannotRead(img)
	if where == "" || !strings.Contains(why, "cannot enter folder") {
		t.Fatalf("cannotRead = %q, %q", why, where)
	}
	open := filepath.Join("/var/tmp", "vc11c-unit-"+filepath.Base(root))
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	mine := filepath.Join(open, "a.qcow2")
	if err := os.WriteFile(mine, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// With dynamic ownership libvirt hands the image over at start.
	if why, _ := id.cannotRead(mine); why != "" {
		t.Errorf("0755 folder, dynamic ownership: %q", why)
	}
	id.owned = false
	if why, where := id.cannotRead(mine); where != mine || !strings.Contains(why, "dynamic_ownership is off") {
		t.Errorf("0600 image without dynamic ownership: %q %q", why, where)
	}
	write("etc/libvirt/qemu.conf", "user = \"root\"\n")
	if id := readQemuIdentity(root); id.skip == "" {
		t.Errorf("QEMU as root is not checked: %+v", id)
	}
}

func TestDefinitionChanges(t *testing.T) {
	saved := map[string]string{"memory": "65536 KiB", "disk vda": "/a", "interface 0": "52:54:00:00:00:01"}
	now := map[string]string{"memory": "131072 KiB", "disk vda": "/a", "disk vdb": "/b"}
	got := strings.Join(definitionChanges(saved, now), "; ")
	if got != "disk vdb added; interface 0 removed; memory 65536 KiB, now 131072 KiB" {
		t.Errorf("changes %q", got)
	}
	if len(definitionChanges(saved, saved)) != 0 {
		t.Error("no change reported as one")
	}
}
