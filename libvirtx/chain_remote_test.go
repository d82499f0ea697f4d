package libvirtx

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/qcow2/qcow2test"
	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Integration tests of shut-off chains read over a real qemu+ssh
// connection through libvirt's storage API (chain_pool.go, storage.go).
// The images are made here with qemu-img in a /var/tmp folder, which the
// host under test sees at the same path (shared storage), so the same
// chain can be read locally (WalkChain) and remotely and compared.

// sshConn opens the host under test over qemu+ssh (the test skips
// without that URI, and in a pass over ssh: testhost.NeedSSH), as remote
// whatever isLocalURI says of the test hosts' loopback address: the
// connection must be what it is from another machine. Every test that
// sets a remote connection beside the lab's opens it here.
func sshConn(t *testing.T, readonly bool) *Conn {
	t.Helper()
	c := discOpen(t, testhost.NeedSSH(t), readonly)
	c.local = false
	return c
}

// transientPools lists the virtchain-tmp pools the host has over dir or
// a folder under it (other tests' pools are none of this test's business).
func transientPools(t *testing.T, c *Conn, dir string) []string {
	return poolsOn(t, c, func(name, target string) bool {
		return strings.HasPrefix(name, TransientPoolPrefix) && strings.HasPrefix(target, dir)
	})
}

// poolsOn lists, sorted, the names of the host's pools that keep takes.
func poolsOn(t *testing.T, c *Conn, keep func(name, target string) bool) []string {
	t.Helper()
	pools, err := c.virt.ListAllStoragePools(0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range pools {
		n, _ := pools[i].GetName()
		doc, _ := pools[i].GetXMLDesc(0)
		var x libvirtxml.StoragePool
		target := ""
		if x.Unmarshal(doc) == nil && x.Target != nil {
			target = x.Target.Path
		}
		if keep(n, target) {
			out = append(out, n)
		}
		_ = pools[i].Free()
	}
	slices.Sort(out)
	return out
}

// noTransientPools fails t when a virtchain-tmp pool is left over dir.
func noTransientPools(t *testing.T, c *Conn, dir, when string) {
	t.Helper()
	if left := transientPools(t, c, dir); len(left) > 0 {
		t.Errorf("%s: transient pools left behind: %v", when, left)
	}
}

// remoteChains makes the demo-lab-like chains in l.dir and defines a
// shut-off domain with one disk per chain; it returns the domain and the
// number of folders the chains touch.
func remoteChains(l *discLab) (dom *libvirt.Domain, folders int) {
	l.t.Helper()
	img := func(args ...string) { qcow2test.QemuImg(l.t, args...) }
	// deep: six layers, relative backing names, one internal snapshot.
	img("create", "-q", "-f", "qcow2", l.path("deep0.qcow2"), "64M")
	for i := 1; i < 6; i++ {
		img("create", "-q", "-f", "qcow2", "-b", fmt.Sprintf("deep%d.qcow2", i-1), "-F", "qcow2", l.path(fmt.Sprintf("deep%d.qcow2", i)))
	}
	l.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", l.path("deep5.qcow2"))
	img("snapshot", "-c", "int1", l.path("deep3.qcow2"))
	// bitmaps: read remotely from the directory's offset, as locally.
	img("bitmap", "--add", l.path("deep3.qcow2"), "nightly")
	img("bitmap", "--add", "-g", "1M", "--disable", l.path("deep3.qcow2"), "frozen")
	// a raw base under two overlays, the top one with 4 KiB clusters.
	img("create", "-q", "-f", "raw", l.path("base.raw"), "32M")
	img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", l.path("raw1.qcow2"))
	img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "raw1.qcow2", "-F", "qcow2", l.path("raw2.qcow2"))
	img("bitmap", "--add", l.path("raw2.qcow2"), "small")
	// a missing backing file.
	img("create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", l.path("orphan.qcow2"), "16M")
	// a loop: a -> b -> a.
	img("create", "-q", "-f", "qcow2", l.path("a.qcow2"), "16M")
	img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", l.path("b.qcow2"))
	img("rebase", "-q", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", l.path("a.qcow2"))
	// a loop through another name: c -> d -> alias of c.
	img("create", "-q", "-f", "qcow2", l.path("c.qcow2"), "16M")
	if err := os.Symlink("c.qcow2", l.path("alias.qcow2")); err != nil {
		l.t.Fatal(err)
	}
	img("create", "-q", "-f", "qcow2", "-b", "alias.qcow2", "-F", "qcow2", l.path("d.qcow2"))
	img("rebase", "-q", "-u", "-f", "qcow2", "-b", "d.qcow2", "-F", "qcow2", l.path("c.qcow2"))
	// a second folder whose top reads through "../": two folders, two pools.
	if err := os.Mkdir(l.path("sub"), 0o755); err != nil {
		l.t.Fatal(err)
	}
	img("create", "-q", "-f", "qcow2", "-b", "../deep5.qcow2", "-F", "qcow2", l.path("sub/top.qcow2"))
	// dirty and corrupt bits, an external data file, compat 0.10.
	img("create", "-q", "-f", "qcow2", "-o", "data_file="+l.path("flags.data"), l.path("flags.qcow2"), "16M")
	qcow2test.Patch(l.t, l.path("flags.qcow2"), 72, qcow2test.BE64(1|2|1<<2))
	img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "deep0.qcow2", "-F", "qcow2", l.path("old.qcow2"))

	disks := []libvirtxml.DomainDisk{
		discFileDisk("vda", l.path("deep5.qcow2"), "qcow2"),
		discFileDisk("vdb", l.path("raw2.qcow2"), "qcow2"),
		discFileDisk("vdc", l.path("orphan.qcow2"), "qcow2"),
		discFileDisk("vdd", l.path("a.qcow2"), "qcow2"),
		discFileDisk("vde", l.path("sub/top.qcow2"), "qcow2"),
		discFileDisk("vdf", l.path("flags.qcow2"), "qcow2"),
		discFileDisk("vdg", l.path("old.qcow2"), "qcow2"),
		discFileDisk("vdh", l.path("nothing.qcow2"), "qcow2"),
		discFileDisk("vdi", l.path("c.qcow2"), "qcow2"),
	}
	return l.define(disks...), 2
}

// TestRemoteChainEqualsLocal reads the same shut-off chains once locally
// (the host's unix socket, images read as files) and once over qemu+ssh
// (storage volumes and StorageVolDownload only), and wants them equal
// field by field.
func TestRemoteChainEqualsLocal(t *testing.T) {
	l := newDiscLab(t, "vc10p-eq")
	_, folders := remoteChains(l)
	local := l.discover()
	remote := sshConn(t, false)
	noTransientPools(t, remote, l.dir, "before")
	got := l.discoverWith(remote)
	noTransientPools(t, remote, l.dir, "after discovery")
	if len(got.Disks) != len(local.Disks) {
		t.Fatalf("remote %d disks, local %d", len(got.Disks), len(local.Disks))
	}
	for i := range local.Disks {
		if !reflect.DeepEqual(got.Disks[i], local.Disks[i]) {
			t.Errorf("disk %s differs:\nremote %+v\nlocal  %+v", local.Disks[i].Target, got.Disks[i].Layers, local.Disks[i].Layers)
		}
	}
	// The chains are what they are meant to be (not equal and both wrong).
	wantLen := map[string]int{"vda": 6, "vdb": 3, "vdc": 2, "vdd": 3, "vde": 7, "vdf": 1, "vdg": 2, "vdh": 1, "vdi": 3}
	for _, d := range local.Disks {
		if len(d.Layers) != wantLen[d.Target] {
			t.Errorf("%s: %d layers, want %d: %+v", d.Target, len(d.Layers), wantLen[d.Target], d.Layers)
		}
	}
	checkProblem := func(target string, i int, prefix string) {
		t.Helper()
		d := local.Disks[slices.IndexFunc(local.Disks, func(d model.Disk) bool { return d.Target == target })]
		if i >= len(d.Layers) {
			return // the length check above has said it
		}
		if p := d.Layers[i].Problem; !strings.HasPrefix(p, prefix) {
			t.Errorf("%s layer %d: problem %q, want %q", target, i, p, prefix)
		}
	}
	checkProblem("vdc", 1, model.ProblemMissing)
	checkProblem("vdd", 2, model.ProblemLoop)
	checkProblem("vdh", 0, model.ProblemMissing)
	checkProblem("vdi", 2, model.ProblemLoop)
	if f := local.Disks[5].Layers[0]; !f.Dirty || !f.Corrupt || f.DataFile == "" || f.ClusterSize != 65536 {
		t.Errorf("flags layer: %+v", f)
	}
	if !slices.Equal(local.Disks[0].Layers[2].InternalSnapshots, []string{"int1"}) || local.Disks[1].Layers[0].ClusterSize != 4096 {
		t.Errorf("snapshot or cluster size not read: %+v", local.Disks[0].Layers)
	}
	wantBitmaps := []model.Bitmap{{Name: "nightly", Granularity: 65536, Enabled: true, Source: model.BitmapFromImage},
		{Name: "frozen", Granularity: 1 << 20, Source: model.BitmapFromImage}}
	if got := local.Disks[0].Layers[2].Bitmaps; !slices.Equal(got, wantBitmaps) {
		t.Errorf("deep3's bitmaps %+v, want %+v", got, wantBitmaps)
	}
	if got := local.Disks[1].Layers[0].Bitmaps; len(got) != 1 || got[0].Name != "small" || got[0].Granularity != 4096 {
		t.Errorf("raw2's bitmaps %+v", got)
	}

	// Calls and pools per discovery, one session over every disk.
	s := remote.newPoolSession(context.Background())
	layers := 0
	for _, d := range local.Disks {
		chain := s.chain(d.Source, d.Format)
		if !reflect.DeepEqual(chain, d.Layers) {
			t.Errorf("%s: session chain differs", d.Target)
		}
		layers += len(chain)
	}
	calls, created := s.calls.Load(), s.created.Load()
	s.close()
	t.Logf("remote shut-off chains: %d layers in %d folders: %d libvirt calls (%.1f per layer), %d transient pools",
		layers, folders, calls, float64(calls)/float64(layers), created)
	if created != int64(folders) {
		t.Errorf("%d transient pools for %d folders", created, folders)
	}
	if per := float64(calls) / float64(layers); per > 6 {
		t.Errorf("%.1f libvirt calls per layer, want at most 6", per)
	}
	noTransientPools(t, remote, l.dir, "after the session")
	discCloseClean(t, remote)
}

// TestRemoteChainAdminPool: a folder covered by a pool the admin defined
// is read through that pool, no transient pool is made, and the pool is
// left as it was (defined, active, same target), even though an image made
// after the pool was started needs a refresh of it.
func TestRemoteChainAdminPool(t *testing.T) {
	l := newDiscLab(t, "vc10p-admin")
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", l.path("base.qcow2"), "32M")
	poolName := "vc10p-admin-pool"
	if p, err := l.c.virt.LookupStoragePoolByName(poolName); err == nil { // left from a killed run
		_ = p.Destroy()
		_ = p.Undefine()
		_ = p.Free()
	}
	doc, _ := (&libvirtxml.StoragePool{Type: "dir", Name: poolName, Target: &libvirtxml.StoragePoolTarget{Path: l.dir}}).Marshal()
	pool, err := l.c.virt.StoragePoolDefineXML(doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Destroy(); _ = pool.Undefine(); _ = pool.Free() })
	if err := pool.Create(0); err != nil {
		t.Fatal(err)
	}
	uuid, _ := pool.GetUUIDString()
	// Made after the pool's scan: only a refresh lists it.
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", l.path("top.qcow2"))
	l.define(discFileDisk("vda", l.path("top.qcow2"), "qcow2"))
	local := l.discover()

	remote := sshConn(t, false)
	s := remote.newPoolSession(context.Background())
	chain := s.chain(l.path("top.qcow2"), "qcow2")
	created := s.created.Load()
	s.close()
	if !reflect.DeepEqual(chain, local.Disks[0].Layers) {
		t.Errorf("through the admin's pool:\nremote %+v\nlocal  %+v", chain, local.Disks[0].Layers)
	}
	if created != 0 {
		t.Errorf("%d transient pools made for a folder the admin's pool covers", created)
	}
	if got := l.discoverWith(remote).Disks[0].Layers; !reflect.DeepEqual(got, local.Disks[0].Layers) {
		t.Errorf("discovery through the admin's pool: %+v", got)
	}
	noTransientPools(t, remote, l.dir, "after")
	p, err := l.c.virt.LookupStoragePoolByName(poolName)
	if err != nil {
		t.Fatalf("the admin's pool is gone: %v", err)
	}
	defer p.Free()
	active, _ := p.IsActive()
	persistent, _ := p.IsPersistent()
	u, _ := p.GetUUIDString()
	x, _ := p.GetXMLDesc(0)
	var px libvirtxml.StoragePool
	_ = px.Unmarshal(x)
	if !active || !persistent || u != uuid || px.Target == nil || px.Target.Path != l.dir {
		t.Errorf("the admin's pool changed: active %v persistent %v uuid %s target %+v", active, persistent, u, px.Target)
	}
	discCloseClean(t, remote)
}

// TestRemoteChainReadOnly: a read-only connection creates no pool and
// names the folder that needs one, with the commands that define it.
func TestRemoteChainReadOnly(t *testing.T) {
	l := newDiscLab(t, "vc10p-ro")
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", l.path("base.qcow2"), "32M")
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", l.path("top.qcow2"))
	l.define(discFileDisk("vda", l.path("top.qcow2"), "qcow2"))
	before := poolsUnder(t, l.c, l.dir)
	ro := sshConn(t, true)
	got := l.discoverWith(ro).Disks[0].Layers
	if len(got) != 1 || got[0].Path != l.path("top.qcow2") {
		t.Fatalf("read-only chain: %+v", got)
	}
	p := got[0].Problem
	for _, want := range []string{ProblemRemoteNoPool, "folder " + l.dir + ";", "pool-define-as " + l.name, "dir --target " + l.dir, "pool-start", "without --readonly"} {
		if !strings.Contains(p, want) {
			t.Errorf("problem %q does not say %q", p, want)
		}
	}
	if after := poolsUnder(t, l.c, l.dir); len(before) > 0 || len(after) > 0 {
		t.Errorf("pools over the folder on a read-only connection: %v, then %v", before, after)
	}

	// With a pool, a read-only connection reads the volume XML only
	// (libvirt refuses StorageVolDownload there): the same layers, sizes
	// and cluster size, with the backing image as libvirt resolved it.
	local := l.discover().Disks[0].Layers
	l.addPool()
	got = l.discoverWith(ro).Disks[0].Layers
	if len(got) != len(local) {
		t.Fatalf("read-only chain through a pool: %+v", got)
	}
	for i, g := range got {
		w := local[i]
		backing := ""
		if i+1 < len(local) {
			backing = local[i+1].Path
		}
		if g.Path != w.Path || g.Format != w.Format || g.VirtualSize != w.VirtualSize || g.Allocation != w.Allocation ||
			g.ClusterSize != w.ClusterSize || g.BackingFile != backing || g.BackingFormat != w.BackingFormat || g.Problem != "" {
			t.Errorf("read-only layer %d: %+v, local %+v", i, g, w)
		}
		// Unknown, not absent: the header was not read.
		if g.Bitmaps != nil || !strings.HasPrefix(g.BitmapsProblem, BitmapsNotRead) {
			t.Errorf("read-only layer %d: bitmaps %+v, problem %q", i, g.Bitmaps, g.BitmapsProblem)
		}
	}
	discCloseClean(t, ro)
}

// poolsUnder lists the pools over dir or a folder under it, whatever
// their names (other tests make pools of their own meanwhile).
func poolsUnder(t *testing.T, c *Conn, dir string) []string {
	return poolsOn(t, c, func(_, target string) bool { return strings.HasPrefix(target, dir) })
}

// TestRemoteChainNoPoolLeft: the transient pools go away when a read
// fails midway (a panic in the middle of a download), when another
// virtchain destroys the pool this one is reading through, when two read
// the same folder at once, and a pool left by a killed virtchain is
// cleaned up by the next one.
func TestRemoteChainNoPoolLeft(t *testing.T) {
	l := newDiscLab(t, "vc10p-left")
	remoteChains(l)
	local := l.discover()
	vda := local.Disks[0]
	remote := sshConn(t, false)
	t.Cleanup(func() { poolCallHook = nil })

	t.Run("panic midway", func(t *testing.T) {
		n := 0
		poolCallHook = func(op string) {
			if op == "StorageVolDownload" {
				if n++; n == 3 {
					panic("vc10p: the read fails here")
				}
			}
		}
		d, err := remote.DiscoverDomain(context.Background(), l.name)
		poolCallHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(d.Problem, "vc10p: the read fails here") {
			t.Errorf("the failed read is not reported: %q", d.Problem)
		}
		noTransientPools(t, remote, l.dir, "after a panic midway")
	})

	t.Run("cancelled midway", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		poolCallHook = func(op string) {
			if op == "StorageVolDownload" {
				if n++; n == 2 {
					cancel()
				}
			}
		}
		_, err := remote.DiscoverDomain(ctx, l.name)
		poolCallHook = nil
		if err == nil {
			t.Error("a cancelled discovery succeeded")
		}
		noTransientPools(t, remote, l.dir, "after a cancel midway")
	})

	t.Run("pool destroyed by another virtchain", func(t *testing.T) {
		other := sshConn(t, false)
		defer discCloseClean(t, other)
		done := false
		poolCallHook = func(op string) {
			if op != "StorageVolGetXMLDesc" || done {
				return
			}
			done = true
			for _, name := range transientPools(t, other, l.dir) {
				if p, err := other.virt.LookupStoragePoolByName(name); err == nil {
					_ = p.Destroy()
					_ = p.Free()
				}
			}
		}
		s := remote.newPoolSession(context.Background())
		chain := s.chain(vda.Source, vda.Format)
		s.close()
		poolCallHook = nil
		if !done || !reflect.DeepEqual(chain, vda.Layers) {
			t.Errorf("read across a vanished pool:\nremote %+v\nlocal  %+v", chain, vda.Layers)
		}
		noTransientPools(t, remote, l.dir, "after a vanished pool")
	})

	t.Run("two at once", func(t *testing.T) {
		other := sshConn(t, false)
		defer discCloseClean(t, other)
		var wg sync.WaitGroup
		chains := make([][]model.Layer, 4)
		for i := range chains {
			c := remote
			if i%2 == 1 {
				c = other
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; round < 3; round++ {
					chains[i] = c.poolChain(vda.Source, vda.Format)
				}
			}()
		}
		wg.Wait()
		for i, chain := range chains {
			if !reflect.DeepEqual(chain, vda.Layers) {
				t.Errorf("reader %d:\nremote %+v\nlocal  %+v", i, chain, vda.Layers)
			}
		}
		noTransientPools(t, remote, l.dir, "after two virtchains at once")
	})

	t.Run("left by a killed virtchain", func(t *testing.T) {
		name := transientPoolName(l.dir, time.Now().Add(-2*transientPoolStale))
		doc, _ := (&libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: l.dir}}).Marshal()
		p, err := remote.virt.StoragePoolCreateXML(doc, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = p.Free()
		s := remote.newPoolSession(context.Background())
		chain := s.chain(vda.Source, vda.Format)
		s.close()
		if !reflect.DeepEqual(chain, vda.Layers) {
			t.Errorf("through a left pool: %+v", chain)
		}
		noTransientPools(t, remote, l.dir, "after adopting a left pool")
	})

	t.Run("another virtchain's, in use", func(t *testing.T) {
		name := transientPoolName(l.dir, time.Now())
		doc, _ := (&libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: l.dir}}).Marshal()
		p, err := remote.virt.StoragePoolCreateXML(doc, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Destroy(); _ = p.Free() }()
		s := remote.newPoolSession(context.Background())
		chain := s.chain(vda.Source, vda.Format)
		created := s.created.Load()
		s.close()
		if !reflect.DeepEqual(chain, vda.Layers) || created != 0 {
			t.Errorf("through another's pool (%d made): %+v", created, chain)
		}
		if active, err := p.IsActive(); err != nil || !active {
			t.Errorf("another virtchain's pool in use was destroyed: %v %v", active, err)
		}
	})
	discCloseClean(t, remote)
}

// TestTransientPoolName: the name says virtchain, which folder, and when.
func TestTransientPoolName(t *testing.T) {
	now := time.Now()
	a, b := transientPoolName("/var/tmp/x", now), transientPoolName("/var/tmp/x", now)
	if a == b || !strings.HasPrefix(a, TransientPoolPrefix) || a[:len(TransientPoolPrefix)+12] != b[:len(TransientPoolPrefix)+12] {
		t.Errorf("names %q %q", a, b)
	}
	if age := transientPoolAge(transientPoolName("/x", now.Add(-2*time.Hour))); age < 2*time.Hour-time.Minute || age > 2*time.Hour+time.Minute {
		t.Errorf("age %v", age)
	}
	for _, n := range []string{"default", "virtchain-tmp-", "virtchain-tmp-abc-xyz-1", "images-1"} {
		if transientPoolAge(n) != 0 {
			t.Errorf("age of %q", n)
		}
	}
	if suggestedPoolName("/var/lib/my images") != "my-images" || suggestedPoolName("/") != "images" {
		t.Errorf("suggested %q %q", suggestedPoolName("/var/lib/my images"), suggestedPoolName("/"))
	}
}

// TestVolumeIdentityAndXML: one file under two names is one identity;
// the XML-only layer of a read-only connection takes libvirt's resolved
// backing path.
func TestVolumeIdentityAndXML(t *testing.T) {
	vol := func(key, ctime string) *libvirtxml.StorageVolume {
		var v libvirtxml.StorageVolume
		doc := `<volume type='file'><name>x</name><key>` + key + `</key>
<capacity unit='bytes'>16777216</capacity><allocation unit='bytes'>200704</allocation><physical unit='bytes'>196616</physical>
<target><path>` + key + `</path><format type='qcow2'/><timestamps><mtime>1.5</mtime><ctime>` + ctime + `</ctime></timestamps>
<clusterSize unit='B'>65536</clusterSize></target>
<backingStore><path>/p/base.raw</path><format type='raw'/></backingStore></volume>`
		if err := v.Unmarshal(doc); err != nil {
			t.Fatal(err)
		}
		return &v
	}
	a, alias, other := vol("/p/a.qcow2", "1.25"), vol("/p/alias.qcow2", "1.25"), vol("/p/b.qcow2", "1.26")
	if volumeIdentity(a, "") != volumeIdentity(alias, "") || volumeIdentity(a, "") == volumeIdentity(other, "") {
		t.Errorf("identities %q %q %q", volumeIdentity(a, ""), volumeIdentity(alias, ""), volumeIdentity(other, ""))
	}
	a.Target.Timestamps = nil
	if id := volumeIdentity(a, ""); id != "key:/p/a.qcow2" {
		t.Errorf("identity without timestamps %q", id)
	}
	l := model.Layer{Path: "/p/a.qcow2"}
	volumeOnly(&l, a)
	if l.Format != "qcow2" || l.VirtualSize != 16<<20 || l.ClusterSize != 65536 || l.BackingFile != "/p/base.raw" || l.BackingFormat != "raw" {
		t.Errorf("XML-only layer %+v", l)
	}
}
