package libvirtx

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// virtchain's own external revert (libvirt before 9.9) over a real qemu+ssh
// connection: the overlay is created through the storage API, in a
// transient pool where no pool covers its folder, else in that pool; the
// result is what TestSnapExternalRevertDiskOnly checks on the local path.
func TestSnapExternalRevertOverSSH(t *testing.T) {
	rc := sshConn(t, false)
	l := newSnapLab(t, "revssh", true)
	l.write("vda", "write -P 0x11 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "s1", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x22 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "s2", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x33 0 1M")
	l.flush()
	ov1, ov2 := l.path(l.name+"_s1.vda.qcow2"), l.path(l.name+"_s2.vda.qcow2")
	req := model.SnapshotRevertRequest{Domain: l.name, Name: "s1", DiscardCurrent: true}

	p, err := rc.PlanSnapshotRevert(l.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != model.RevertVirtchain {
		t.Skipf("this libvirt reverts external snapshots itself (%s)", p.Method)
	}
	r1 := l.name + "_s1-revert1.vda.qcow2"
	for _, want := range []string{
		"virsh pool-create-as POOL dir --target " + l.dir,
		"virsh vol-create-as POOL " + r1 + " 67108864 --format qcow2 --backing-vol " + l.path("base.qcow2") + " --backing-vol-format qcow2",
		"virsh pool-destroy POOL",
	} {
		if !strings.Contains(strings.Join(p.Virsh, "\n"), want) {
			t.Fatalf("commands %q lack %q", p.Virsh, want)
		}
	}
	for _, f := range p.Files {
		if f.Path == l.path(r1) && f.By != "libvirt" {
			t.Fatalf("overlay created by %s", f.By)
		}
	}
	if err := rc.RevertSnapshot(l.ctx, p); err != nil {
		t.Fatal(err)
	}
	l.noTransientPool()
	l.wantState(model.StateShutoff)
	if got := l.chain("vda"); !reflect.DeepEqual(got, []string{r1, "base.qcow2"}) {
		t.Fatalf("chain after revert %v", got)
	}
	l.want("vda", "0x11", "0", "1M")
	testhost.ReadPattern(t, ov2, "0x33", "0", "1M")
	testhost.ReadPattern(t, ov1, "0x22", "0", "1M")
	l.wantTree("s1", "s1<", "s2<s1")
	chain := testhost.QemuChain(t, l.path(r1))
	if len(chain) != 2 || chain[0].BackingFile != l.path("base.qcow2") || chain[0].Format != "qcow2" || chain[0].VirtualSize != 64<<20 {
		t.Fatalf("overlay header %+v", chain[0])
	}

	// With a pool on the folder, the overlay is made in it; to s2, running.
	l.addPool()
	p, err = rc.PlanSnapshotRevert(l.ctx, model.SnapshotRevertRequest{Domain: l.name, Name: "s2", Start: model.StartRunning, DiscardCurrent: true})
	if err != nil {
		t.Fatal(err)
	}
	r2 := l.name + "_s2-revert1.vda.qcow2"
	if want := "virsh vol-create-as " + l.name + "-pool " + r2 + " 67108864 --format qcow2 --backing-vol " + ov1; !strings.Contains(strings.Join(p.Virsh, "\n"), want) {
		t.Fatalf("commands %q lack %q", p.Virsh, want)
	}
	if err := rc.RevertSnapshot(l.ctx, p); err != nil {
		t.Fatal(err)
	}
	l.wantState(model.StateRunning)
	if got := l.chain("vda"); !reflect.DeepEqual(got, []string{r2, filepath.Base(ov1), "base.qcow2"}) {
		t.Fatalf("chain after second revert %v", got)
	}
	l.want("vda", "0x22", "0", "1M")
	l.wantTree("s2", "s1<", "s2<s1")
	l.write("vda", "write -P 0x44 1M 1M")
	l.want("vda", "0x44", "1M", "1M")
	testhost.ReadPattern(t, ov1, "0", "1M", "1M")
}

// noTransientPool fails if a transient pool virtchain made for the lab's
// folder is still there.
func (l *discLab) noTransientPool() {
	l.t.Helper()
	pools, err := l.c.virt.ListAllStoragePools(0)
	if err != nil {
		l.t.Fatal(err)
	}
	for i := range pools {
		name, _ := pools[i].GetName()
		doc, _ := pools[i].GetXMLDesc(0)
		_ = pools[i].Free()
		var x libvirtxml.StoragePool
		if strings.HasPrefix(name, TransientPoolPrefix) && x.Unmarshal(doc) == nil && x.Target != nil && x.Target.Path == l.dir {
			l.t.Errorf("transient pool %s for %s left behind", name, l.dir)
		}
	}
}
