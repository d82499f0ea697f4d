package libvirtx

import (
	"reflect"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// virtchain's own external revert (libvirt before 9.9) over a real qemu+ssh
// connection: the overlay is created through the storage API in the pool
// of its folder, and the result is what TestSnapExternalRevertDiskOnly
// checks on the local path. Without such a pool the plan is refused and
// says how to define one.
func TestSnapExternalRevertOverSSH(t *testing.T) {
	uri := testhost.NeedSSH(t)
	l := newSnapLab(t, "revssh", true)
	rc := discOpen(t, uri, false)
	rc.local = false // see newRemoteLab
	l.write("vda", "write -P 0x11 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "s1", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x22 0 1M")
	l.create(model.SnapshotCreateRequest{Name: "s2", External: true, DiskOnly: true})
	l.write("vda", "write -P 0x33 0 1M")
	l.flush()
	ov1, ov2 := l.path(l.name+"_s1.vda.qcow2"), l.path(l.name+"_s2.vda.qcow2")
	req := model.SnapshotRevertRequest{Domain: l.name, Name: "s1", DiscardCurrent: true}

	_, err := rc.PlanSnapshotRevert(l.ctx, req)
	if err == nil {
		p, _ := l.c.PlanSnapshotRevert(l.ctx, req)
		if p != nil && p.Method != model.RevertVirtchain {
			t.Skipf("this libvirt reverts external snapshots itself (%s)", p.Method)
		}
		t.Fatal("revert planned over a remote connection with no pool for the overlay's folder")
	}
	if !strings.Contains(err.Error(), "no active storage pool has the folder "+l.dir) || !strings.Contains(err.Error(), "virsh pool-define-as") {
		t.Fatalf("refusal without a pool: %v", err)
	}

	l.addPool()

	p, err := rc.PlanSnapshotRevert(l.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r1 := l.name + "_s1-revert1.vda.qcow2"
	want := "virsh vol-create-as " + l.name + "-pool " + r1 + " 67108864 --format qcow2 --backing-vol " + l.path("base.qcow2") + " --backing-vol-format qcow2"
	if !strings.Contains(strings.Join(p.Virsh, "\n"), want) {
		t.Fatalf("commands %q, want %q", p.Virsh, want)
	}
	for _, f := range p.Files {
		if f.Path == l.path(r1) && f.By != "libvirt" {
			t.Fatalf("overlay created by %s", f.By)
		}
	}
	if err := rc.RevertSnapshot(l.ctx, p); err != nil {
		t.Fatal(err)
	}
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
	// It starts on the new overlay, and the guest writes there.
	if err := l.dom.Create(); err != nil {
		t.Fatalf("start after the revert: %v", err)
	}
	l.write("vda", "write -P 0x44 1M 1M")
	l.want("vda", "0x44", "1M", "1M")
	testhost.ReadPattern(t, ov1, "0", "1M", "1M")
}
