package model

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func orphanHost(host string, doms []Domain, imgs ...OrphanImage) OrphanFacts {
	for i := range imgs {
		imgs[i].Host = host
	}
	return OrphanFacts{Host: host, Domains: doms, Images: imgs}
}

func usingDomain(name string, paths ...string) Domain {
	d := Domain{Name: name, Disks: []Disk{{Target: "vda"}}}
	for _, p := range paths {
		d.Disks[0].Layers = append(d.Disks[0].Layers, Layer{Path: p})
	}
	return d
}

func TestFindOrphansTrees(t *testing.T) {
	d := usingDomain("web", "/i/top.qcow2", "/i/base.qcow2")
	h := orphanHost("local", []Domain{d},
		OrphanImage{Path: "/i/top.qcow2", Format: "qcow2", Backing: "/i/base.qcow2", Allocation: 10},
		OrphanImage{Path: "/i/base.qcow2", Format: "qcow2", Allocation: 100},
		OrphanImage{Path: "/i/left.qcow2", Format: "qcow2", Backing: "/i/base.qcow2", Allocation: 7},
		OrphanImage{Path: "/i/left2.qcow2", Format: "qcow2", Backing: "/i/left.qcow2", Allocation: 3},
		OrphanImage{Path: "/i/ob.raw", Format: "raw", Allocation: 50},
		OrphanImage{Path: "/i/oo.qcow2", Format: "qcow2", Backing: "/i/ob.raw", Allocation: 5},
		OrphanImage{Path: "/i/lost.qcow2", Format: "qcow2", Backing: "/gone/x.qcow2", Allocation: 1},
	)
	r := FindOrphans([]OrphanFacts{h})
	if r.Count != 5 || len(r.Trees) != 3 || r.Total != 66 {
		t.Fatalf("count %d trees %d total %d: %+v", r.Count, len(r.Trees), r.Total, r.Trees)
	}
	over := r.Trees[0] // /i/left.qcow2
	if over.Kind != OrphanOnUsedBase || over.On != "/i/base.qcow2" || over.Free != 10 || len(over.Root.Children) != 1 || over.Root.Children[0].Path != "/i/left2.qcow2" {
		t.Fatalf("overlay tree: %+v", over)
	}
	if !strings.Contains(strings.Join(over.OnUsers, ","), "chain of web vda") {
		t.Fatalf("base users: %v", over.OnUsers)
	}
	if r.Trees[1].Kind != OrphanOnUnknown || r.Trees[1].Root.Path != "/i/lost.qcow2" {
		t.Fatalf("unknown tree: %+v", r.Trees[1])
	}
	ch := r.Trees[2]
	if ch.Kind != OrphanChain || ch.Root.Path != "/i/ob.raw" || ch.Free != 55 {
		t.Fatalf("chain tree: %+v", ch)
	}
	got := []string{}
	for _, o := range r.Orphans() {
		got = append(got, o.Path)
	}
	if strings.Join(got, " ") != "/i/left2.qcow2 /i/left.qcow2 /i/lost.qcow2 /i/oo.qcow2 /i/ob.raw" {
		t.Fatalf("order: %v", got)
	}
}

func TestFindOrphansEveryKindOfUser(t *testing.T) {
	d := usingDomain("db", "/i/a.qcow2")
	d.Disks[0].Layers[0].DataFile = "a.data"
	d.Snapshots = []Snapshot{{Name: "s1", Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/s1.qcow2", Point: "/i/p.qcow2", PointBacking: []string{"/i/pb.qcow2"}}}, MemoryFile: "/i/mem"}}
	h := orphanHost("local", []Domain{d},
		OrphanImage{Path: "/i/s1.qcow2", Format: "qcow2"},
		OrphanImage{Path: "/i/p.qcow2", Format: "qcow2"},
		OrphanImage{Path: "/i/pb.qcow2", Format: "qcow2"},
		OrphanImage{Path: "/i/a.data", Format: "raw"},
		OrphanImage{Path: "/i/saved.qcow2", Format: "qcow2"},
		OrphanImage{Path: "/i/link.qcow2", Format: "qcow2", ID: FileID{1, 2}},
		OrphanImage{Path: "/i/free.qcow2", Format: "qcow2", ID: FileID{1, 3}},
	)
	d.Disks[0].Layers = append(d.Disks[0].Layers, Layer{Path: "/i/sub/../rel.qcow2"})
	h.Domains = []Domain{d}
	h.Images = append(h.Images, OrphanImage{Host: "local", Path: "/i/rel.qcow2", Format: "qcow2", Remote: true})
	h.Saved = map[string][]string{"/i/saved.qcow2": {"save image /i/x.save of old"}}
	h.RefIDs = map[FileID]string{{1, 2}: "/i/a.qcow2"}
	r := FindOrphans([]OrphanFacts{h})
	if r.Count != 1 || r.Trees[0].Root.Path != "/i/free.qcow2" {
		t.Fatalf("only free.qcow2 is an orphan: %+v", r.Orphans())
	}
}

func TestFindOrphansAcrossHosts(t *testing.T) {
	a := orphanHost("a", nil, OrphanImage{Path: "/shared/x.qcow2", Format: "qcow2"})
	b := orphanHost("b", []Domain{usingDomain("vm", "/shared/x.qcow2")}, OrphanImage{Path: "/shared/x.qcow2", Format: "qcow2"})
	if r := FindOrphans([]OrphanFacts{a}); r.Count != 1 {
		t.Fatalf("alone, x is an orphan: %+v", r)
	}
	if r := FindOrphans([]OrphanFacts{a, b}); r.Count != 0 {
		t.Fatalf("b's domain uses x: %+v", r.Orphans())
	}
	// A remote host's path is its own file, yet a reference by that path
	// elsewhere still protects it (shared storage).
	rb := orphanHost("r", nil, OrphanImage{Path: "/shared/x.qcow2", Format: "qcow2", Remote: true, Pool: "p"})
	if r := FindOrphans([]OrphanFacts{rb, b}); r.Count != 0 {
		t.Fatalf("protected across hosts: %+v", r.Orphans())
	}
	if r := FindOrphans([]OrphanFacts{rb, a}); r.Count != 2 {
		t.Fatalf("two files, one per machine: %+v", r.Orphans())
	}
}

func TestFindOrphansLoop(t *testing.T) {
	h := orphanHost("l", nil,
		OrphanImage{Path: "/i/a", Format: "qcow2", Backing: "/i/b", Allocation: 1},
		OrphanImage{Path: "/i/b", Format: "qcow2", Backing: "/i/a", Allocation: 1})
	r := FindOrphans([]OrphanFacts{h})
	if r.Count != 2 || r.Total != 2 {
		t.Fatalf("a loop is still two orphans, counted once: %+v", r)
	}
}

func TestPlanOrphanDelete(t *testing.T) {
	h := orphanHost("local", []Domain{usingDomain("web", "/i/base.qcow2")},
		OrphanImage{Path: "/i/base.qcow2", Format: "qcow2", Allocation: 100},
		OrphanImage{Path: "/i/o1.qcow2", Format: "qcow2", Backing: "/i/base.qcow2", Allocation: 7},
		OrphanImage{Path: "/i/o2.qcow2", Format: "qcow2", Backing: "/i/o1.qcow2", Allocation: 3},
		OrphanImage{Path: "/i/other.raw", Format: "raw", Allocation: 9},
	)
	r := FindOrphans([]OrphanFacts{h})
	var ref *Refusal
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{}); !errors.As(err, &ref) {
		t.Fatalf("nothing named: %v", err)
	}
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{Files: []string{"/i/base.qcow2"}}); err == nil || !strings.Contains(err.Error(), "used by chain of web vda") {
		t.Fatalf("a used file: %v", err)
	}
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{Files: []string{"/i/o1.qcow2"}}); err == nil || !strings.Contains(err.Error(), "backs orphan /i/o2.qcow2") {
		t.Fatalf("a base of a kept orphan: %v", err)
	}
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{Files: []string{"o1.qcow2"}}); err == nil {
		t.Fatal("a relative path")
	}
	p, err := PlanOrphanDelete(r, OrphanDeleteRequest{Files: []string{"/i/o1.qcow2", "local:/i/o2.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Delete) != 2 || p.Delete[0].Path != "/i/o2.qcow2" || p.Delete[1].Path != "/i/o1.qcow2" || p.Free != 10 {
		t.Fatalf("overlay first: %+v", p.Delete)
	}
	if len(p.Files) != 2 || p.Files[0].Change != FileDeleted || p.Virsh[0] != "rm -- /i/o2.qcow2" {
		t.Fatalf("files and commands: %+v %v", p.Files, p.Virsh)
	}
	all, err := PlanOrphanDelete(r, OrphanDeleteRequest{All: true})
	if err != nil || len(all.Delete) != 3 {
		t.Fatalf("all: %v %+v", err, all)
	}
	if SameOrphanPlan(p, all) || !SameOrphanPlan(all, all) {
		t.Fatal("SameOrphanPlan")
	}
	r.Unsure = []string{"chain of web vda: unreadable file /i/x"}
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{All: true}); err == nil || !strings.Contains(err.Error(), "cannot be sure") {
		t.Fatalf("unsure: %v", err)
	}
}

func TestPlanOrphanDeleteRemote(t *testing.T) {
	h := orphanHost("far", nil, OrphanImage{Path: "/i/o.qcow2", Format: "qcow2", Remote: true, Pool: "default", Allocation: 1})
	h.Remote = true
	p, err := PlanOrphanDelete(FindOrphans([]OrphanFacts{h}), OrphanDeleteRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Virsh[0] != "virsh vol-delete --pool default /i/o.qcow2" || p.Files[0].By != "libvirt" || !strings.Contains(p.Steps[0], "far:/i/o.qcow2") {
		t.Fatalf("remote plan: %+v", p.Plan)
	}
	// In no pool: deleted as a volume of a transient pool over its folder.
	h = orphanHost("far", nil, OrphanImage{Path: "/i/o.qcow2", Format: "qcow2", Remote: true, Allocation: 1})
	h.Remote = true
	if p, err = PlanOrphanDelete(FindOrphans([]OrphanFacts{h}), OrphanDeleteRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"virsh pool-create-as virtchain-tmp dir --target /i", "virsh vol-delete --pool virtchain-tmp /i/o.qcow2", "virsh pool-destroy virtchain-tmp"}; !slices.Equal(p.Virsh, want) ||
		len(p.Files) != 1 || p.Files[0].By != "libvirt" || p.Files[0].Change != FileDeleted {
		t.Fatalf("remote plan, no pool: %+v", p.Plan)
	}
}

func TestFindOrphansRecentAreNotOrphansYet(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	h := orphanHost("l", nil,
		OrphanImage{Path: "/i/old.qcow2", Format: "qcow2", Modified: now.Add(-2 * time.Hour)},
		OrphanImage{Path: "/i/new.qcow2", Format: "qcow2", Modified: now.Add(-time.Minute)},
		OrphanImage{Path: "/i/unknown.qcow2", Format: "qcow2"})
	r := FindOrphansAt([]OrphanFacts{h}, now, time.Hour)
	if r.Count != 2 || len(r.Recent) != 1 || r.Recent[0].Path != "/i/new.qcow2" {
		t.Fatalf("count %d recent %+v", r.Count, r.Recent)
	}
	if _, err := PlanOrphanDelete(r, OrphanDeleteRequest{Files: []string{"/i/new.qcow2"}}); err == nil || !strings.Contains(err.Error(), "changed within the last 1h0m0s") {
		t.Fatalf("a recent file: %v", err)
	}
	if r := FindOrphansAt([]OrphanFacts{h}, now, 0); r.Count != 3 {
		t.Fatalf("min age 0: %d", r.Count)
	}
}
