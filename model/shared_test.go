package model

import (
	"strings"
	"testing"
)

// peerOf is a domain on a peer host whose one disk is an overlay on base.
func peerOf(name, overlay, base string) Domain {
	return Domain{Name: name, State: StateShutoff, Disks: []Disk{{Target: "vda", Layers: []Layer{
		{Path: overlay, Format: "qcow2", BackingFile: base}, {Path: base, Format: "qcow2"}}}}}
}

func TestPeerDomainsMapsSharedPoolsAndSaysWhatItAssumed(t *testing.T) {
	local := []StoragePool{
		{Name: "nfs-here", Type: "netfs", Target: "/mnt/images", SourceHosts: []string{"nfs1"}, SourceDir: "/export/"},
		{Name: "default", Type: "dir", Target: "/var/lib/libvirt/images"},
	}
	peer := HostView{Name: "hv2", Pools: []StoragePool{
		{Name: "nfs-there", Type: "netfs", Target: "/srv/nfs", SourceHosts: []string{"nfs1"}, SourceDir: "/export"},
		{Name: "default", Type: "dir", Target: "/var/lib/libvirt/images"},
	}, Domains: []Domain{
		peerOf("web", "/var/lib/libvirt/images/web.qcow2", "/srv/nfs/base.qcow2"),
		peerOf("vm", "/other/vm.qcow2", "/var/tmp/shared.qcow2"),
	}}
	doms, rep := PeerDomains(local, []HostView{peer})
	if len(doms) != 2 || doms[0].Host != "hv2" {
		t.Fatalf("peer domains: %+v", doms)
	}
	if got := doms[0].Disks[0].Layers[1].Path; got != "/mnt/images/base.qcow2" {
		t.Fatalf("a path under a pool with the same netfs source maps to this host's pool target: got %s", got)
	}
	if got := doms[0].Disks[0].Layers[0].Path; got != "/var/lib/libvirt/images/web.qcow2" {
		t.Fatalf("a dir pool has no source of its own: the path stays as it is: got %s", got)
	}
	if how := doms[0].Shared["/mnt/images/base.qcow2"]; !strings.Contains(how, "share nfs1:/export") {
		t.Fatalf("the match says which pools: %q", how)
	}
	if how := doms[1].Shared["/var/tmp/shared.qcow2"]; how != SamePath {
		t.Fatalf("a path under no shared pool is assumed the same file, and says so: %q", how)
	}
	if len(rep.Read) != 1 || rep.Read[0].Domains != 2 || len(rep.Read[0].Pools) != 1 {
		t.Fatalf("report: %+v", rep)
	}

	// The guard: a commit into the shared base on this host's vm is
	// refused, naming the host, the domain and how the path matched.
	here := peerOf("vm", "/mnt/images/vm.qcow2", "/mnt/images/base.qcow2")
	_, err := PlanCommit(WithPeers([]Domain{here}, doms), CommitRequest{Domain: "vm", Target: "vda"}, nil)
	refusal(t, err, "chain of web vda on host hv2 (pool nfs-there there and nfs-here here share nfs1:/export)")

	// The namesake vm on hv2 is another domain: its disk is a user, not
	// this domain's own disk.
	shared := peerOf("vm", "/var/tmp/mine.qcow2", "/var/tmp/shared.qcow2")
	_, err = PlanCommit(WithPeers([]Domain{shared}, doms), CommitRequest{Domain: "vm", Target: "vda"}, nil)
	refusal(t, err, "chain of vm vda on host hv2 ("+SamePath+")")

	// Different paths under no shared pool: another file; the plan says
	// what was assumed.
	alone := peerOf("vm", "/data/vm.qcow2", "/data/base.qcow2")
	bp, err := PlanCommit(WithPeers([]Domain{alone}, doms), CommitRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Apply(&bp.Plan); err != nil {
		t.Fatal(err)
	}
	w := strings.Join(bp.Warnings, "\n")
	for _, want := range []string{"guards also read host hv2 (2 domains)", "there nfs-there = here nfs-here", "another file when it differs"} {
		if !strings.Contains(w, want) {
			t.Fatalf("warnings %q: want %q", w, want)
		}
	}
}

func TestPeerReportRefusesDestructivePlansWhileAPeerIsUnreachable(t *testing.T) {
	_, rep := PeerDomains(nil, []HostView{{Name: "hv3", Err: "connection refused"}})
	d := peerOf("vm", "/data/vm.qcow2", "/data/base.qcow2")
	bp, err := PlanCommit([]Domain{d}, CommitRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	refusal(t, rep.Apply(&bp.Plan), "host hv3 could not be read (connection refused), so virtchain cannot check that none of its domains uses base.qcow2")

	// A plan that only creates files goes ahead and says what it missed.
	p := &Plan{Files: []FileChange{{Path: "/data/new.qcow2", Change: FileCreated}}}
	if err := rep.Apply(p); err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "host hv3 could not be read (connection refused): its domains were not checked") {
		t.Fatalf("warnings: %q", p.Warnings)
	}
	// A cleanup's deletions count too.
	refusal(t, rep.Apply(&Plan{}, "/data/old.qcow2"), "uses old.qcow2")
}

func TestPeerDomainsLeaveThisHostsLookupsAlone(t *testing.T) {
	peers, _ := PeerDomains(nil, []HostView{{Name: "hv2", Domains: []Domain{peerOf("only-there", "/a.qcow2", "/b.qcow2")}}})
	_, err := PlanCommit(WithPeers(nil, peers), CommitRequest{Domain: "only-there", Target: "vda"}, nil)
	if err == nil || !strings.Contains(err.Error(), "only-there") {
		t.Fatalf("a peer's domain is never the one an operation runs on: %v", err)
	}
	if _, err := PlanCleanup(WithPeers(nil, peers), CleanupRequest{Domain: "only-there"}, CleanupFacts{}); err == nil {
		t.Fatal("cleanup found a peer's domain")
	}
}

func TestPeerReportNamesAPeersHiddenChain(t *testing.T) {
	hidden := peerOf("web", "/x/web.qcow2", "/x/base.qcow2")
	hidden.Disks[0].Layers = hidden.Disks[0].Layers[:1]
	hidden.Disks[0].Layers[0].Problem = "chain cannot be read over a remote connection: image is in no storage pool"
	gone := peerOf("old", "/x/gone.qcow2", "/x/base.qcow2")
	gone.Disks[0].Layers = gone.Disks[0].Layers[:1]
	gone.Disks[0].Layers[0].Problem = ProblemMissing
	loop := peerOf("loop", "/x/l.qcow2", "/x/l.qcow2")
	loop.Disks[0].Layers[1].Problem = ProblemLoop + ": same file as /x/l.qcow2"
	_, rep := PeerDomains(nil, []HostView{{Name: "hv2", Domains: []Domain{hidden, gone, loop}}})
	bp, err := PlanCommit([]Domain{peerOf("vm", "/data/vm.qcow2", "/data/base.qcow2")}, CommitRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Apply(&bp.Plan); err != nil {
		t.Fatal(err)
	}
	w := strings.Join(bp.Warnings, "\n")
	if !strings.Contains(w, "on host hv2 the chain of web vda (chain cannot be read over a remote connection: image is in no storage pool) could not be read to its end, so the files below it were not checked") ||
		strings.Contains(w, "old vda") || strings.Contains(w, "loop vda") {
		t.Fatalf("the plan names the hidden chain (a missing file or a loop hides none): %q", bp.Warnings)
	}
}

// A snapshot delete commits the overlay into the point: a domain of the
// same name on a peer host that reads that point is another domain, and
// blocks it; the same domain's own point does not.
func TestVc10gSnapshotDeleteSeesAPeerNamesake(t *testing.T) {
	d := pointedSeed()
	if _, err := PlanSnapshotDelete([]Domain{d}, SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, SnapshotFacts{}); err != nil {
		t.Fatal(err)
	}
	namesake := Domain{Name: "vm", Snapshots: []Snapshot{{Name: "o", Kind: SnapshotExternal,
		Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/o.qcow2", Point: img + "test2_nmap.qcow2"}}}}}
	peers, _ := PeerDomains(nil, []HostView{{Name: "hv2", Domains: []Domain{namesake}}})
	_, err := PlanSnapshotDelete(WithPeers([]Domain{d}, peers), SnapshotDeleteRequest{Domain: "vm", Name: "s2"}, nil, SnapshotFacts{})
	refusal(t, err, "point of snapshot o of vm (vda) on host hv2 ("+SamePath+")")
}

// A peer's save image that names a file here keeps cleanup from deleting
// it, and names the host; a peer's domain with the name of the domain
// cleaned up is another domain, whose chain keeps the file too.
func TestVc10gCleanupKeepsWhatAPeerUses(t *testing.T) {
	d := committed()
	left := "/srv/left.qcow2"
	f := CleanupFacts{Inspect: onHost(nil), Left: []LeftFile{{Path: left, ID: onHost(nil)(left).ID}}}
	if cp, err := PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{left}, DeleteFiles: true}, f); err != nil || len(cp.Files) == 0 {
		t.Fatalf("one host: %+v %v", cp, err)
	}
	pools := []StoragePool{{Name: "nfs", Type: "netfs", Target: "/srv", SourceHosts: []string{"nfs1"}, SourceDir: "/e"}}
	there := []StoragePool{{Name: "nfs", Type: "netfs", Target: "/mnt/e", SourceHosts: []string{"nfs1"}, SourceDir: "/e"}}
	_, rep := PeerDomains(pools, []HostView{{Name: "hv2", Pools: there, Saved: map[string][]string{"/mnt/e/left.qcow2": {"managed-save image of db (vda)"}}}})
	f.Saved = rep.Saved
	_, err := PlanCleanup([]Domain{d}, CleanupRequest{Domain: "vm", Files: []string{left}, DeleteFiles: true}, f)
	refusal(t, err, "still used by managed-save image of db (vda) on host hv2 (pool nfs there and nfs here share nfs1:/e)")

	namesake := Domain{Name: "vm", Disks: []Disk{{Target: "vda", Layers: []Layer{{Path: left}}}}}
	peers, _ := PeerDomains(nil, []HostView{{Name: "hv3", Domains: []Domain{namesake}}})
	f.Saved = nil
	_, err = PlanCleanup(WithPeers([]Domain{d}, peers), CleanupRequest{Domain: "vm", Files: []string{left}, DeleteFiles: true}, f)
	refusal(t, err, "still used by chain of vm vda on host hv3")
}
