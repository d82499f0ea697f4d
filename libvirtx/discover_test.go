package libvirtx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Integration tests for discovery against the real libvirtd and QEMU.
// Each uses its own domain name (vct-disc-*) and folder under /var/tmp,
// and removes both in t.Cleanup, even on failure.

func discIntegration() bool { return os.Getenv("VIRTCHAIN_INTEGRATION") == "1" }

// discLab is one test's domain, folder and connection.
type discLab struct {
	t    *testing.T
	c    *Conn
	dir  string
	name string
}

func newDiscLab(t *testing.T, name string) *discLab {
	t.Helper()
	testhost.Need(t)
	c := discOpen(t, testhost.URI(), false)
	dir, err := os.MkdirTemp("/var/tmp", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	// QEMU runs as libvirt-qemu and must traverse the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := &discLab{t: t, c: c, dir: dir, name: name}
	l.removeDomain() // left over from a run that was killed
	t.Cleanup(func() {
		l.removeDomain()
		_ = os.RemoveAll(dir)
	})
	return l
}

// removeDomain destroys and undefines the test domain with its snapshot
// metadata and managed save image.
func (l *discLab) removeDomain() {
	dom, err := l.c.virt.LookupDomainByName(l.name)
	if err != nil {
		return
	}
	defer dom.Free()
	if active, _ := dom.IsActive(); active {
		_ = dom.Destroy()
	}
	_ = dom.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE)
}

func (l *discLab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (l *discLab) path(name string) string { return filepath.Join(l.dir, name) }

// qcow2 makes an image; backing is stored as given (relative names too).
func (l *discLab) qcow2(name, backing string) string {
	args := []string{"create", "-q", "-f", "qcow2"}
	if backing != "" {
		args = append(args, "-b", backing, "-F", "qcow2", l.path(name))
	} else {
		args = append(args, l.path(name), "64M")
	}
	l.run("qemu-img", args...)
	l.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x"+strconv.Itoa(10+len(name))+" 0 1M", l.path(name))
	return l.path(name)
}

func discFileDisk(target, file, format string) libvirtxml.DomainDisk {
	return libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: file}},
		Target: &libvirtxml.DomainDiskTarget{Dev: target, Bus: "virtio"},
	}
}

// define makes a persistent 64 MiB domain with the given disks.
func (l *discLab) define(disks ...libvirtxml.DomainDisk) *libvirt.Domain {
	l.t.Helper()
	typ := "kvm"
	if _, err := os.Stat("/dev/kvm"); err != nil {
		typ = "qemu"
	}
	x := libvirtxml.Domain{
		Type: typ, Name: l.name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"}},
		// ACPI: PCI hot-plug on the default machine needs it.
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		Devices: &libvirtxml.DomainDeviceList{
			Disks: disks,
		},
	}
	doc, err := x.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	dom, err := l.c.virt.DomainDefineXML(doc)
	if err != nil {
		l.t.Fatalf("define %s: %v", l.name, err)
	}
	l.t.Cleanup(func() { _ = dom.Free() })
	return dom
}

// snapshot creates a libvirt snapshot from a libvirtxml description.
func (l *discLab) snapshot(dom *libvirt.Domain, s libvirtxml.DomainSnapshot, flags libvirt.DomainSnapshotCreateFlags) {
	l.t.Helper()
	doc, err := s.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	snap, err := dom.CreateSnapshotXML(doc, flags)
	if err != nil {
		l.t.Fatalf("snapshot %s: %v", s.Name, err)
	}
	_ = snap.Free()
}

func (l *discLab) discover() model.Domain {
	l.t.Helper()
	return l.discoverWith(l.c)
}

// discoverWith runs the bulk Discover and DiscoverDomain, checks they
// agree, and returns this test's domain.
func (l *discLab) discoverWith(c *Conn) model.Domain {
	l.t.Helper()
	doms, err := c.Discover(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	if !slices.IsSortedFunc(doms, func(a, b model.Domain) int { return strings.Compare(a.Name, b.Name) }) {
		l.t.Error("Discover: domains not sorted by name")
	}
	i := slices.IndexFunc(doms, func(d model.Domain) bool { return d.Name == l.name })
	if i < 0 {
		l.t.Fatalf("Discover did not list %s", l.name)
	}
	one, err := c.DiscoverDomain(context.Background(), l.name)
	if err != nil {
		l.t.Fatal(err)
	}
	a, _ := json.Marshal(doms[i])
	b, _ := json.Marshal(one)
	if !bytes.Equal(a, b) || doms[i].CurrentSnapshot != one.CurrentSnapshot || len(doms[i].Snapshots) != len(one.Snapshots) {
		l.t.Errorf("Discover and DiscoverDomain disagree:\n%s\n%s", a, b)
	}
	if doms[i].Problem != "" {
		l.t.Errorf("%s: problem %q", l.name, doms[i].Problem)
	}
	return doms[i]
}

// checkAgainstQemuImg compares a chain layer by layer with `qemu-img info
// -U --backing-chain` (testhost.QemuChain, shared with the lab tests), the
// independent answer.
func (l *discLab) checkAgainstQemuImg(disk model.Disk) {
	l.t.Helper()
	want := testhost.QemuChain(l.t, disk.Layers[0].Path)
	if len(want) != len(disk.Layers) {
		l.t.Fatalf("%s: %d layers, qemu-img says %d", disk.Target, len(disk.Layers), len(want))
	}
	for i, w := range want {
		g := disk.Layers[i]
		var snaps []string
		for _, s := range w.Snapshots {
			snaps = append(snaps, s.Name)
		}
		if g.Path != w.Filename || g.Format != w.Format || g.VirtualSize != w.VirtualSize ||
			g.BackingFile != w.BackingFile || !slices.Equal(g.InternalSnapshots, snaps) && len(snaps)+len(g.InternalSnapshots) > 0 {
			l.t.Errorf("%s layer %d: got %+v, qemu-img says %+v", disk.Target, i, g, w)
		}
		if g.Allocation <= 0 || g.Problem != "" {
			l.t.Errorf("%s layer %d: allocation %d problem %q", disk.Target, i, g.Allocation, g.Problem)
		}
	}
}

// discCloseClean closes c and checks that discovery freed every libvirt
// object it took: each one still alive holds a reference to the connection.
func discCloseClean(t *testing.T, c *Conn) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.closeRefs != 0 {
		t.Errorf("connection still referenced %d times after Close: an object was not freed", c.closeRefs)
	}
}

func layerPaths(d model.Disk) []string {
	var out []string
	for _, l := range d.Layers {
		out = append(out, l.Path)
	}
	return out
}

// TestDiscoverShutoff: a persistent shut-off domain with a 3-layer qcow2
// chain (relative backing names) and a raw read-only disk, an internal
// snapshot, and the same chain read the remote way through a storage pool.
func TestDiscoverShutoff(t *testing.T) {
	l := newDiscLab(t, "vct-disc-off")
	base := l.qcow2("base.qcow2", "")
	mid := l.qcow2("mid.qcow2", "base.qcow2")
	top := l.qcow2("top.qcow2", "mid.qcow2")
	raw := l.path("data.raw")
	l.run("qemu-img", "create", "-q", "-f", "raw", raw, "16M")
	vdb := discFileDisk("vdb", raw, "raw")
	vdb.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	dom := l.define(discFileDisk("vda", top, "qcow2"), vdb)

	// An internal snapshot of a shut-off domain: qemu-img inside libvirt;
	// the raw disk cannot hold one.
	l.snapshot(dom, libvirtxml.DomainSnapshot{Name: "int1", Description: "offline",
		Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{
			{Name: "vda", Snapshot: "internal"}, {Name: "vdb", Snapshot: "no"}}}}, 0)

	d := l.discover()
	if bulk := discBulk(t, l.c); bulk == nil || !bulk[d.UUID].hasSnapshots {
		t.Errorf("bulk facts: %+v (nil means discovery fell back to per-domain calls)", bulk)
	}
	if d.State != model.StateShutoff || !d.Persistent || d.ManagedSave || d.Autostart || d.UUID == "" {
		t.Errorf("domain facts: %+v", d)
	}
	if len(d.Disks) != 2 {
		t.Fatalf("disks: %+v", d.Disks)
	}
	vda, vdbD := d.Disks[0], d.Disks[1]
	if vda.Target != "vda" || vda.Device != "disk" || vda.Bus != "virtio" || vda.SourceType != "file" ||
		vda.Source != top || vda.Format != "qcow2" || vda.ReadOnly || vda.Shareable {
		t.Errorf("vda: %+v", vda)
	}
	if got := layerPaths(vda); !slices.Equal(got, []string{top, mid, base}) {
		t.Fatalf("vda chain %v", got)
	}
	for _, layer := range vda.Layers {
		if layer.Index != nil {
			t.Errorf("shut-off layer %s has index %d", layer.Path, *layer.Index)
		}
	}
	if vda.Layers[0].BackingFile != "mid.qcow2" || vda.Layers[0].BackingFormat != "qcow2" || vda.Layers[2].BackingFile != "" {
		t.Errorf("backing names as stored: %+v", vda.Layers)
	}
	if !slices.Equal(vda.Layers[0].InternalSnapshots, []string{"int1"}) {
		t.Errorf("internal snapshots of top: %v", vda.Layers[0].InternalSnapshots)
	}
	l.checkAgainstQemuImg(vda)
	if vdbD.Target != "vdb" || !vdbD.ReadOnly || vdbD.Format != "raw" || len(vdbD.Layers) != 1 ||
		vdbD.Layers[0].Path != raw || vdbD.Layers[0].VirtualSize != 16<<20 {
		t.Errorf("vdb: %+v", vdbD)
	}

	if len(d.Snapshots) != 1 || d.CurrentSnapshot != "int1" {
		t.Fatalf("snapshots %+v current %q", d.Snapshots, d.CurrentSnapshot)
	}
	s := d.Snapshots[0]
	if s.Kind != model.SnapshotInternal || s.Memory != model.MemoryNo || s.State != "shutoff" ||
		!s.Current || s.Description != "offline" || s.Created.IsZero() || time.Since(s.Created) > time.Hour {
		t.Errorf("int1: %+v", s)
	}

	// The remote way: no file reads, only storage volume descriptions.
	remote := discOpen(t, testhost.URI(), true)
	remote.local = false
	rd := l.discoverWith(remote)
	if got := rd.Disks[0].Layers; len(got) != 1 || !strings.HasPrefix(got[0].Problem, ProblemRemoteNoPool+": folder "+l.dir+";") {
		t.Errorf("remote chain without a pool: %+v", got)
	}
	l.addPool()
	rd = l.discoverWith(remote)
	rvda := rd.Disks[0]
	if got := layerPaths(rvda); !slices.Equal(got, []string{top, mid, base}) {
		t.Fatalf("remote vda chain %v: %+v", got, rvda.Layers)
	}
	for i, layer := range rvda.Layers {
		local := vda.Layers[i]
		if layer.Format != "qcow2" || layer.VirtualSize != local.VirtualSize || layer.Allocation <= 0 || layer.Problem != "" {
			t.Errorf("remote layer %d: %+v (local %+v)", i, layer, local)
		}
	}
	if rvda.Layers[2].BackingFile != "" || rvda.Layers[0].BackingFormat != "qcow2" {
		t.Errorf("remote backing: %+v", rvda.Layers)
	}
	discCloseClean(t, remote)
}

// domstatsIndices is `virsh domstats --block --backing`: path -> backing
// index for one disk, an answer independent of the live XML we parse.
func (l *discLab) domstatsIndices(target string) map[string]int {
	out := l.run("virsh", "-c", testhost.DirectURI(), "domstats", "--block", "--backing", l.name)
	byNum := map[string]map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		parts := strings.SplitN(k, ".", 3)
		if !ok || len(parts) != 3 || parts[0] != "block" {
			continue
		}
		if byNum[parts[1]] == nil {
			byNum[parts[1]] = map[string]string{}
		}
		byNum[parts[1]][parts[2]] = v
	}
	res := map[string]int{}
	for _, kv := range byNum {
		if kv["name"] != target || kv["backingIndex"] == "" {
			continue
		}
		n, _ := strconv.Atoi(kv["backingIndex"])
		res[kv["path"]] = n
	}
	return res
}

func (l *discLab) checkLiveIndices(disk model.Disk) {
	l.t.Helper()
	want := l.domstatsIndices(disk.Target)
	seen := map[int]bool{}
	for _, layer := range disk.Layers {
		if layer.Index == nil {
			l.t.Errorf("live layer %s has no index", layer.Path)
			continue
		}
		if seen[*layer.Index] {
			l.t.Errorf("index %d given twice", *layer.Index)
		}
		seen[*layer.Index] = true
		if w, ok := want[layer.Path]; ok && w != *layer.Index {
			l.t.Errorf("%s: index %d, domstats says %d", layer.Path, *layer.Index, w)
		}
	}
	if len(want) == 0 {
		l.t.Errorf("domstats gave no backing indices for %s", disk.Target)
	}
}

// TestDiscoverRunning: a running domain's chain with live indices, two
// external disk-only snapshots made through libvirt, the remote way of
// sizing live layers, events from the real daemon, and managed save.
func TestDiscoverRunning(t *testing.T) {
	l := newDiscLab(t, "vct-disc-run")
	base := l.qcow2("base.qcow2", "")
	top := l.qcow2("top.qcow2", l.path("base.qcow2"))
	dom := l.define(discFileDisk("vda", top, "qcow2"))
	events := l.c.Events() // from now on
	if err := dom.Create(); err != nil {
		t.Fatalf("start: %v", err)
	}
	discWaitEvent(t, events, model.Event{Domain: l.name, Kind: EventStarted})

	d := l.discover()
	if d.State != model.StateRunning || !d.Persistent || d.ManagedSave {
		t.Errorf("domain facts: %+v", d)
	}
	vda := d.Disks[0]
	if got := layerPaths(vda); !slices.Equal(got, []string{top, base}) {
		t.Fatalf("live chain %v", got)
	}
	l.checkLiveIndices(vda)
	if vda.Layers[0].VirtualSize != 64<<20 || vda.Layers[0].BackingFormat != "qcow2" || vda.Layers[1].Allocation <= 0 {
		t.Errorf("live layer details: %+v", vda.Layers)
	}

	// Two external disk-only snapshots, atomic, as virsh --disk-only --atomic.
	for _, name := range []string{"s1", "s2"} {
		l.snapshot(dom, libvirtxml.DomainSnapshot{Name: name,
			Disks: &libvirtxml.DomainSnapshotDisks{Disks: []libvirtxml.DomainSnapshotDisk{{
				Name: "vda", Snapshot: "external",
				Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: l.path("vda." + name)}},
			}}}},
			libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY|libvirt.DOMAIN_SNAPSHOT_CREATE_ATOMIC)
		time.Sleep(1100 * time.Millisecond) // distinct creation seconds
	}
	d = l.discover()
	vda = d.Disks[0]
	s1, s2 := l.path("vda.s1"), l.path("vda.s2")
	if got := layerPaths(vda); !slices.Equal(got, []string{s2, s1, top, base}) {
		t.Fatalf("chain after snapshots %v", got)
	}
	l.checkLiveIndices(vda)
	var created []string
	for _, layer := range vda.Layers {
		created = append(created, layer.CreatedBySnapshot)
	}
	if !slices.Equal(created, []string{"s2", "s1", "", ""}) {
		t.Errorf("created_by_snapshot %v", created)
	}
	if len(d.Snapshots) != 2 || d.Snapshots[0].Name != "s1" || d.Snapshots[1].Name != "s2" ||
		d.Snapshots[1].Parent != "s1" || d.Snapshots[0].Parent != "" || d.CurrentSnapshot != "s2" || !d.Snapshots[1].Current {
		t.Fatalf("snapshot tree %+v current %q", d.Snapshots, d.CurrentSnapshot)
	}
	for _, s := range d.Snapshots {
		if s.Kind != model.SnapshotExternal || s.Memory != model.MemoryNo || s.State != "disk-snapshot" ||
			len(s.Disks) != 1 || s.Disks[0].Target != "vda" || s.Disks[0].Kind != "external" || s.Disks[0].File != l.path("vda."+s.Name) {
			t.Errorf("snapshot %+v", s)
		}
	}

	// Remote: the same chain and indices from live XML, sizes from block stats.
	remote := discOpen(t, testhost.URI(), true)
	remote.local = false
	rvda := l.discoverWith(remote).Disks[0]
	if got := layerPaths(rvda); !slices.Equal(got, layerPaths(vda)) {
		t.Fatalf("remote live chain %v", got)
	}
	for i, layer := range rvda.Layers {
		if layer.Index == nil || *layer.Index != *vda.Layers[i].Index || layer.VirtualSize != 64<<20 || layer.Allocation <= 0 {
			t.Errorf("remote live layer %d: %+v", i, layer)
		}
	}
	discCloseClean(t, remote)

	// Hot-plugging a disk is evented (device-added); discovery then shows it.
	extra := l.path("extra.raw")
	l.run("qemu-img", "create", "-q", "-f", "raw", extra, "8M")
	vdb := discFileDisk("vdb", extra, "raw")
	diskXML, err := vdb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.AttachDeviceFlags(diskXML, libvirt.DOMAIN_DEVICE_MODIFY_LIVE); err != nil {
		t.Fatalf("attach vdb: %v", err)
	}
	discWaitEvent(t, events, model.Event{Domain: l.name, Kind: EventDeviceAdded})
	if d := l.discover(); len(d.Disks) != 2 || d.Disks[1].Target != "vdb" || len(d.Disks[1].Layers) != 1 ||
		d.Disks[1].Layers[0].Index == nil || d.Disks[1].Layers[0].VirtualSize != 8<<20 {
		t.Errorf("after hot-plug: %+v", d.Disks)
	}

	// Managed save stops the domain and keeps its state in a libvirt file;
	// the chain is then read from the headers, without indices.
	if err := dom.ManagedSave(0); err != nil {
		t.Fatalf("managed save: %v", err)
	}
	discWaitEvent(t, events, model.Event{Domain: l.name, Kind: EventStopped})
	d = l.discover()
	if d.State != model.StateShutoff || !d.ManagedSave {
		t.Errorf("after managed save: state %q managed_save %v", d.State, d.ManagedSave)
	}
	vda = d.Disks[0]
	if got := layerPaths(vda); !slices.Equal(got, []string{s2, s1, top, base}) {
		t.Fatalf("offline chain after managed save %v", got)
	}
	if vda.Layers[0].Index != nil || vda.Layers[0].CreatedBySnapshot != "s2" {
		t.Errorf("offline top layer: %+v", vda.Layers[0])
	}
	l.checkAgainstQemuImg(vda)
}
