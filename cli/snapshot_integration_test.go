package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// The seed's command sequence through Main against the real libvirtd, on
// a domain of its own (vct-snap-cli-*) in its own folder under /var/tmp.

func snapCLIDomain(t *testing.T) (name, dir string) {
	t.Helper()
	return snapCLIDomainAs(t, "vct-snap-cli-seed")
}

// snapCLIDomainAs is snapCLIDomain for a test with a name of its own: a
// running domain whose vda is a fresh 64M base.qcow2.
func snapCLIDomainAs(t *testing.T, name string) (string, string) {
	t.Helper()
	if os.Getenv("VIRTCHAIN_INTEGRATION") != "1" {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 (make test does) to run it against the real libvirtd")
	}
	virsh := func(args ...string) error {
		return exec.Command("virsh", append([]string{"-c", hostURI}, args...)...).Run()
	}
	remove := func() {
		_ = virsh("destroy", name)
		_ = virsh("undefine", name, "--snapshots-metadata", "--managed-save")
	}
	remove()
	dir, err := os.MkdirTemp("/var/tmp", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		remove()
		_ = os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	typ := "kvm"
	if _, err := os.Stat("/dev/kvm"); err != nil {
		typ = "qemu"
	}
	def := libvirtxml.Domain{
		Type: typ, Name: name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"}},
		Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: base}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		}}},
	}
	doc, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	xml := filepath.Join(dir, "d.xml")
	if err := os.WriteFile(xml, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := virsh("define", xml); err != nil {
		t.Fatalf("define: %v", err)
	}
	if err := virsh("start", name); err != nil {
		t.Fatalf("start: %v", err)
	}
	return name, dir
}

// snapCLI runs one virtchain command and fails the test on a non-zero exit.
func snapCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runMain(t, append([]string{"-c", systemURI}, args...)...)
	if code != 0 {
		t.Fatalf("virtchain %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func domState(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", hostURI, "domstate", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// guestView flushes the guest's disk and copies what it sees.
func guestView(t *testing.T, name, top, ref string) {
	t.Helper()
	if domState(t, name) == "running" {
		_ = exec.Command("virsh", "-c", hostURI, "qemu-monitor-command", name, "--hmp",
			`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`).Run()
	}
	if out, err := exec.Command("qemu-img", "convert", "-U", "-O", "qcow2", top, ref).CombinedOutput(); err != nil {
		t.Fatalf("convert %s: %v %s", top, err, out)
	}
}

func sameGuest(t *testing.T, name, top, ref string) {
	t.Helper()
	if domState(t, name) == "running" {
		_ = exec.Command("virsh", "-c", hostURI, "qemu-monitor-command", name, "--hmp",
			`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`).Run()
	}
	if out, err := exec.Command("qemu-img", "compare", "-U", ref, top).CombinedOutput(); err != nil {
		t.Fatalf("guest view changed: %v %s", err, out)
	}
}

func TestSnapshotSeedSequence(t *testing.T) {
	name, dir := snapCLIDomain(t)
	base := filepath.Join(dir, "base.qcow2")
	if err := exec.Command("virsh", "-c", hostURI, "qemu-monitor-command", name, "--hmp",
		`qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x5a 0 1M"`).Run(); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref.qcow2")
	guestView(t, name, base, ref)

	// 1. create internal fresh; --dry-run first changes nothing.
	out := snapCLI(t, "snapshot", "create", name, "fresh", "--dry-run")
	if !strings.Contains(out, "virsh snapshot-create-as --domain "+name+" --name fresh") {
		t.Fatalf("dry run:\n%s", out)
	}
	var snaps struct {
		Current   string `json:"current"`
		Snapshots []struct {
			Name, Kind string
		} `json:"snapshots"`
	}
	readSnaps := func() {
		t.Helper()
		code, stdout, stderr := runMain(t, "-c", systemURI, "snapshots", name, "--json")
		if code != 0 {
			t.Fatalf("snapshots: %s", stderr)
		}
		snaps.Snapshots = nil
		if err := json.Unmarshal([]byte(stdout), &snaps); err != nil {
			t.Fatal(err)
		}
	}
	readSnaps()
	if len(snaps.Snapshots) != 0 {
		t.Fatalf("--dry-run created %v", snaps.Snapshots)
	}
	snapCLI(t, "snapshot", "create", name, "fresh", "--description", "seed")
	readSnaps()
	if len(snaps.Snapshots) != 1 || snaps.Snapshots[0].Kind != "internal" || snaps.Current != "fresh" {
		t.Fatalf("after create: %+v", snaps)
	}
	sameGuest(t, name, base, ref)

	// 2. destroy; 3. revert to fresh, which was running.
	if err := exec.Command("virsh", "-c", hostURI, "destroy", name).Run(); err != nil {
		t.Fatal(err)
	}
	// As virsh snapshot-revert does: no keep snapshot of the destroyed state.
	snapCLI(t, "snapshot", "revert", name, "fresh", "--discard-current")
	if s := domState(t, name); s != "running" {
		t.Fatalf("after revert: %s", s)
	}
	sameGuest(t, name, base, ref)

	// 4. delete fresh.
	snapCLI(t, "snapshot", "delete", name, "fresh")
	readSnaps()
	if len(snaps.Snapshots) != 0 {
		t.Fatalf("after delete: %+v", snaps)
	}
	sameGuest(t, name, base, ref)

	// 5. save to a file, restore.
	save := filepath.Join(dir, "seed.save")
	snapCLI(t, "save", name, save)
	if s := domState(t, name); s != "shut off" {
		t.Fatalf("after save: %s", s)
	}
	snapCLI(t, "restore", save)
	if s := domState(t, name); s != "running" {
		t.Fatalf("after restore: %s", s)
	}
	sameGuest(t, name, base, ref)

	// 6. external disk-only fresh with --file vda=PATH, as JSON.
	overlay := filepath.Join(dir, "fresh.qcow2")
	code, stdout, stderr := runMain(t, "-c", systemURI, "--json", "snapshot", "create", name, "fresh",
		"--external", "--disk-only", "--file", "vda="+overlay)
	if code != 0 {
		t.Fatalf("external snapshot: %s", stderr)
	}
	var res struct {
		Done bool `json:"done"`
		Plan struct {
			Virsh []string `json:"virsh"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || !res.Done || !strings.Contains(res.Plan.Virsh[0], "--diskspec vda,snapshot=external,file="+overlay) {
		t.Fatalf("JSON result %v: %s", err, stdout)
	}

	// 7. the chain now has the overlay on top.
	var chain struct {
		Disks []struct {
			Layers []struct {
				Path              string `json:"path"`
				CreatedBySnapshot string `json:"created_by_snapshot"`
			} `json:"layers"`
		} `json:"disks"`
	}
	code, stdout, stderr = runMain(t, "-c", systemURI, "chain", name, "vda", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &chain); err != nil {
		t.Fatal(err)
	}
	ls := chain.Disks[0].Layers
	if len(ls) != 2 || ls[0].Path != overlay || ls[0].CreatedBySnapshot != "fresh" || ls[1].Path != base {
		t.Fatalf("chain %+v", ls)
	}
	sameGuest(t, name, overlay, ref)

	// Bad input: one line, exit 1, nothing changed.
	code, _, stderr = runMain(t, "-c", systemURI, "snapshot", "create", name, "again", "--external", "--disk-only", "--file", "vda="+overlay)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "already used by") {
		t.Fatalf("reused overlay: exit %d %q", code, stderr)
	}
	code, _, stderr = runMain(t, "-c", systemURI, "snapshot", "create", name, "x", "--disk-only")
	if code != 2 || !strings.Contains(stderr, "need --external") {
		t.Fatalf("--disk-only without --external: exit %d %q", code, stderr)
	}
}
