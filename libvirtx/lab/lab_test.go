package lab

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/assets"
	"virtchain/libvirtx"
	"virtchain/libvirtx/testhost"
)

// The embedded lab description must be valid, or `lab up` fails before it
// creates anything.
func TestLabSpecIsValid(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"test2", "tree", "deep", "shared-a", "shared-b", "twodisk"}
	var got []string
	for _, d := range s.Domains {
		got = append(got, d.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lab domains = %v, want %v", got, want)
	}
	if names := DomainNames("x-"); len(names) != len(want) || names[0] != "x-test2" {
		t.Fatalf("DomainNames(x-) = %v", names)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(assets.LabDomainXML); err != nil {
		t.Fatalf("domain template: %v", err)
	}
	if def.Description == "" || def.Memory == nil || def.Memory.Value != 64 || def.Memory.Unit != "MiB" {
		t.Fatalf("domain template: want a description and 64 MiB, got %q %+v", def.Description, def.Memory)
	}
}

func TestParseLabWrite(t *testing.T) {
	if w, err := parseWrite("0x5a 64M 1M"); err != nil || w.command("write") != "write -P 0x5a 64M 1M" {
		t.Fatalf("parseLabWrite = %+v, %v", w, err)
	}
	for _, bad := range []string{"", "0x5a 0", "5a 0 1M", "0x5a -1 1M", "0x5a 0 1M; quit", "0x123 0 1M"} {
		if _, err := parseWrite(bad); err == nil {
			t.Errorf("parseWrite(%q) accepted bad input", bad)
		}
	}
}

func TestLabOptionsRefuseRelativeAndRoot(t *testing.T) {
	for _, dir := range []string{"lab", "/"} {
		if _, err := (Options{Dir: dir}).withDefaults(); err == nil {
			t.Errorf("withDefaults accepted Dir %q", dir)
		}
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.Prefix != DefaultPrefix || o.Dir != DefaultDir {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
}

// labIntegration opens the host under test for an integration test and gives it
// a lab prefix and an empty 0755 folder under /var/tmp; the lab is removed
// in t.Cleanup even when the test fails.
func labIntegration(t *testing.T, name string) (*libvirtx.Conn, Options) {
	t.Helper()
	if os.Getenv("VIRTCHAIN_INTEGRATION") != "1" {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 to run against the real libvirtd (make test does)")
	}
	c, err := libvirtx.Open(testhost.URI(), false)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "vct-lab-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Prefix: "vct-lab-" + name + "-", Dir: dir, Log: &testLog{t: t}}
	t.Cleanup(func() {
		if err := Down(context.Background(), c, opts); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		os.RemoveAll(dir)
		c.Close()
	})
	return c, opts
}

type testLog struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return l.b.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func chainNames(layers []testhost.QemuLayer) []string {
	var out []string
	for _, l := range layers {
		out = append(out, filepath.Base(l.Filename))
	}
	return out
}

type labSnap struct {
	name, parent, kind string
	files              []string
}

func labSnapshots(t *testing.T, c *libvirtx.Conn, domain string) (snaps map[string]labSnap, current string) {
	t.Helper()
	dom, err := c.Libvirt().LookupDomainByName(domain)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	list, err := dom.ListAllSnapshots(0)
	if err != nil {
		t.Fatal(err)
	}
	snaps = map[string]labSnap{}
	for i := range list {
		x, err := list[i].GetXMLDesc(0)
		if err != nil {
			t.Fatal(err)
		}
		if cur, _ := list[i].IsCurrent(0); cur {
			n, _ := list[i].GetName()
			current = n
		}
		list[i].Free()
		var s libvirtxml.DomainSnapshot
		if err := s.Unmarshal(x); err != nil {
			t.Fatal(err)
		}
		ls := labSnap{name: s.Name, kind: "internal"}
		if s.Parent != nil {
			ls.parent = s.Parent.Name
		}
		if s.Disks != nil {
			for _, d := range s.Disks.Disks {
				if d.Snapshot == "external" && d.Source != nil && d.Source.File != nil {
					ls.kind = "external"
					ls.files = append(ls.files, filepath.Base(d.Source.File.File))
				}
			}
		}
		snaps[s.Name] = ls
	}
	return snaps, current
}

func labDomainState(t *testing.T, c *libvirtx.Conn, name string) libvirt.DomainState {
	t.Helper()
	dom, err := c.Libvirt().LookupDomainByName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	st, _, err := dom.GetState()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func domainExists(c *libvirtx.Conn, name string) (bool, error) {
	return host{c, c.Libvirt()}.domainExists(name)
}

func labTop(t *testing.T, c *libvirtx.Conn, domain, target string) string {
	t.Helper()
	f, err := c.DiskFile(domain, target, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLabUpDown builds the whole lab and checks every promise of issue 2 §6
// against qemu-img, qemu-io and libvirt, then that down leaves nothing.
func TestLabUpDown(t *testing.T) {
	c, opts := labIntegration(t, "updown")
	ctx := context.Background()
	if err := Up(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	p := opts.Prefix

	// (a) the classic chain, with libvirt metadata and distinct data.
	if st := labDomainState(t, c, p+"test2"); st != libvirt.DOMAIN_RUNNING {
		t.Errorf("%stest2 state %v, want running", p, st)
	}
	top := labTop(t, c, p+"test2", "vda")
	chain := testhost.QemuChain(t, top)
	want := []string{"test2_lsof.qcow2", "test2_net-tools.qcow2", "test2_nmap.qcow2", "test2_test.qcow2", "test2.qcow2", "centos.qcow2"}
	if got := chainNames(chain); !slices.Equal(got, want) {
		t.Errorf("test2 vda chain = %v, want %v", got, want)
	}
	for _, l := range chain {
		if l.VirtualSize != 256<<20 || l.Format != "qcow2" {
			t.Errorf("%s: %s %d bytes, want qcow2 of 256 MiB", l.Filename, l.Format, l.VirtualSize)
		}
		if l.ActualSize < 4<<20 {
			t.Errorf("%s holds %d bytes, want at least 4 MiB of its own data", l.Filename, l.ActualSize)
		}
	}
	for _, r := range [][3]string{{"0x11", "0", "8M"}, {"0x22", "8M", "4M"}, {"0x33", "12M", "4M"}, {"0x44", "16M", "4M"}, {"0x55", "20M", "4M"}, {"0x66", "24M", "4M"}, {"0x66", "64M", "1M"}} {
		testhost.ReadPattern(t, top, r[0], r[1], r[2])
	}
	// Each layer alone shows its own pattern in the shared region.
	for i, pat := range []string{"0x66", "0x55", "0x44", "0x33", "0x22", "0x11"} {
		testhost.ReadPattern(t, chain[i].Filename, pat, "64M", "1M")
	}
	snaps, current := labSnapshots(t, c, p+"test2")
	if current != "lsof" || len(snaps) != 4 {
		t.Errorf("test2 snapshots %v current %q, want 4, current lsof", snaps, current)
	}
	parent := ""
	for _, name := range []string{"test", "nmap", "net-tools", "lsof"} {
		s := snaps[name]
		if s.kind != "external" || s.parent != parent || !slices.Equal(s.files, []string{"test2_" + name + ".qcow2"}) {
			t.Errorf("snapshot %s = %+v, want external, parent %q, file test2_%s.qcow2", name, s, parent, name)
		}
		parent = name
	}

	// (b) a branching tree of internal snapshots.
	snaps, current = labSnapshots(t, c, p+"tree")
	parents := map[string]string{"installed": "", "configured": "installed", "app-v1": "configured", "app-v2": "configured", "experiment": "installed"}
	if len(snaps) != len(parents) || current != "experiment" {
		t.Errorf("tree snapshots %v current %q", snaps, current)
	}
	for name, par := range parents {
		if s := snaps[name]; s.parent != par || s.kind != "internal" {
			t.Errorf("tree snapshot %s = %+v, want internal with parent %q", name, s, par)
		}
	}
	treeTop := labTop(t, c, p+"tree", "vda")
	if tc := testhost.QemuChain(t, treeTop); len(tc) != 1 || len(tc[0].Snapshots) != len(parents) {
		t.Errorf("tree.qcow2: want one layer with %d internal snapshots, got %+v", len(parents), tc)
	}
	// The experiment branch grew from "installed": app-v1's data is absent.
	testhost.ReadPattern(t, treeTop, "0x35", "8M", "2M")
	testhost.ReadPattern(t, treeTop, "0x00", "4M", "2M")

	// (c) a shut-off domain with a 6-deep chain.
	if st := labDomainState(t, c, p+"deep"); st != libvirt.DOMAIN_SHUTOFF {
		t.Errorf("%sdeep state %v, want shut off", p, st)
	}
	deep := testhost.QemuChain(t, labTop(t, c, p+"deep", "vda"))
	if got := chainNames(deep); !slices.Equal(got, []string{"deep_5.qcow2", "deep_4.qcow2", "deep_3.qcow2", "deep_2.qcow2", "deep_1.qcow2", "deep-base.qcow2"}) {
		t.Errorf("deep chain = %v", got)
	}

	// (d) two domains whose chains share one base image.
	a := testhost.QemuChain(t, labTop(t, c, p+"shared-a", "vda"))
	b := testhost.QemuChain(t, labTop(t, c, p+"shared-b", "vda"))
	if len(a) != 2 || len(b) != 2 || a[1].Filename != b[1].Filename || filepath.Base(a[1].Filename) != "shared-base.qcow2" {
		t.Errorf("shared chains %v and %v do not share shared-base.qcow2", chainNames(a), chainNames(b))
	}

	// (e) a running domain with two disks, snapshotted together.
	if st := labDomainState(t, c, p+"twodisk"); st != libvirt.DOMAIN_RUNNING {
		t.Errorf("%stwodisk state %v, want running", p, st)
	}
	for _, tg := range []string{"vda", "vdb"} {
		got := chainNames(testhost.QemuChain(t, labTop(t, c, p+"twodisk", tg)))
		if !slices.Equal(got, []string{"twodisk_both." + tg + ".qcow2", "twodisk-" + tg + ".qcow2"}) {
			t.Errorf("twodisk %s chain = %v", tg, got)
		}
	}
	testhost.ReadPattern(t, labTop(t, c, p+"twodisk", "vdb"), "0x64", "2M", "2M")

	// The folder is traversable by QEMU.
	if fi, err := os.Stat(opts.Dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("lab folder mode %v, %v: want 0755", fi.Mode(), err)
	}

	// A second up on a complete lab changes nothing and succeeds.
	log := &testLog{t: t}
	again := opts
	again.Log = log
	if err := Up(ctx, c, again); err != nil || !strings.Contains(log.String(), "already up") {
		t.Errorf("second lab up: %v, log %q", err, log.String())
	}

	// Down removes every lab domain and the folder, and only those.
	if err := Down(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	assertNoLab(t, c, opts)
	if err := Down(ctx, c, opts); err != nil {
		t.Errorf("second lab down: %v", err)
	}
}

func assertNoLab(t *testing.T, c *libvirtx.Conn, opts Options) {
	t.Helper()
	doms, err := c.Libvirt().ListAllDomains(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range doms {
		if n, _ := doms[i].GetName(); strings.HasPrefix(n, opts.Prefix) {
			t.Errorf("domain %s left behind", n)
		}
		doms[i].Free()
	}
	if _, err := os.Stat(opts.Dir); !os.IsNotExist(err) {
		t.Errorf("lab folder %s left behind (%v)", opts.Dir, err)
	}
}

// cancelOn cancels a context when a progress line contains a word, which
// stops `lab up` halfway through.
type cancelOn struct {
	word   string
	cancel context.CancelFunc
	log    *testLog
}

func (w *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.word) {
		w.cancel()
	}
	return w.log.Write(p)
}

// An up that fails halfway leaves a partial lab: a second up refuses and
// names `lab down`, and down removes it all, managed-save image included.
// A user's own domain that shares the prefix is left alone.
func TestLabDownAfterFailedUp(t *testing.T) {
	c, opts := labIntegration(t, "partial")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Someone else's domain with the same prefix must survive lab down.
	var def libvirtxml.Domain
	if err := def.Unmarshal(assets.LabDomainXML); err != nil {
		t.Fatal(err)
	}
	def.Name = opts.Prefix + "users-own"
	def.Description = "not the lab's"
	x, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	own, err := c.Libvirt().DomainDefineXML(x)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Undefine(); own.Free() })

	up := opts
	up.Log = &cancelOn{word: opts.Prefix + "tree:", cancel: cancel, log: &testLog{t: t}}
	if err := Up(ctx, c, up); err == nil || !strings.Contains(err.Error(), "lab down") {
		t.Fatalf("cancelled lab up: err %v, want one naming `lab down`", err)
	}
	if ok, _ := domainExists(c, opts.Prefix+"test2"); !ok {
		t.Fatalf("%stest2 should exist after a cancelled up", opts.Prefix)
	}
	// A managed-save image must not stop lab down.
	test2, err := c.Libvirt().LookupDomainByName(opts.Prefix + "test2")
	if err != nil {
		t.Fatal(err)
	}
	if err := test2.ManagedSave(0); err != nil {
		t.Fatal(err)
	}
	test2.Free()
	err = Up(context.Background(), c, opts)
	if err == nil || !strings.Contains(err.Error(), "partial lab") || !strings.Contains(err.Error(), "lab down --prefix "+opts.Prefix+" --dir "+opts.Dir) {
		t.Fatalf("up over a partial lab: %v, want a refusal naming `lab down`", err)
	}
	if err := Down(context.Background(), c, opts); err != nil {
		t.Fatal(err)
	}
	if ok, _ := domainExists(c, opts.Prefix+"users-own"); !ok {
		t.Errorf("lab down removed %susers-own, which is not the lab's", opts.Prefix)
	}
	own.Undefine()
	assertNoLab(t, c, opts)
}

// A folder that holds someone's files is never deleted by lab down, and up
// refuses to build into it.
func TestLabRefusesForeignFolder(t *testing.T) {
	c, opts := labIntegration(t, "foreign")
	if err := os.WriteFile(filepath.Join(opts.Dir, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The hint names this lab's flags: a bare `virtchain lab down` would
	// take down the demo lab instead.
	down := "`virtchain lab down --prefix " + opts.Prefix + " --dir " + opts.Dir + "`"
	if err := Up(context.Background(), c, opts); err == nil || !strings.Contains(err.Error(), "not empty") ||
		!strings.Contains(err.Error(), down) {
		t.Fatalf("up into a non-empty folder: %v, want a refusal naming %s", err, down)
	}
	if err := Down(context.Background(), c, opts); err == nil {
		t.Fatal("down deleted a folder without the lab marker")
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "precious")); err != nil {
		t.Fatalf("precious file gone: %v", err)
	}
	os.Remove(filepath.Join(opts.Dir, "precious"))
}

// Only narrows the lab to some domains and exactly the images they need.
func TestLabSpecOnly(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.only([]string{"test2", "shared-b"})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, img := range o.Images {
		files = append(files, img.File)
	}
	if want := []string{"centos.qcow2", "test2.qcow2", "shared-base.qcow2", "shared-b.qcow2"}; !slices.Equal(files, want) {
		t.Errorf("images = %v, want %v", files, want)
	}
	if len(o.Domains) != 2 || o.Domains[0].Name != "test2" || o.Domains[1].Name != "shared-b" {
		t.Errorf("domains = %+v", o.Domains)
	}
	if _, err := s.only([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "test2") {
		t.Errorf("only(nosuch) = %v, want an error listing the lab's domains", err)
	}
}

// A test that reshapes lab-test2 builds just that domain.
func TestLabUpOnlyTest2(t *testing.T) {
	c, opts := labIntegration(t, "only")
	opts.Only = []string{"test2"}
	if err := Up(context.Background(), c, opts); err != nil {
		t.Fatal(err)
	}
	for _, n := range DomainNames(opts.Prefix) {
		if ok, _ := domainExists(c, n); ok != (n == opts.Prefix+"test2") {
			t.Errorf("%s exists: %v", n, ok)
		}
	}
	top := labTop(t, c, opts.Prefix+"test2", "vda")
	if got := chainNames(testhost.QemuChain(t, top)); len(got) != 6 || got[0] != "test2_lsof.qcow2" {
		t.Errorf("test2 chain = %v", got)
	}
	testhost.ReadPattern(t, top, "0x66", "64M", "1M")
}
