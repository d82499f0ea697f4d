package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"virtchain/model"
)

// fakeBackend serves fixed domains and an event channel the test feeds.
// It counts calls so tests can assert that Update and View never reach it.
type fakeBackend struct {
	mu       sync.Mutex
	uri      string
	readOnly bool
	domains  []model.Domain
	err      error
	events   chan model.Event

	discoverCalls int
	domainCalls   []string

	snap fakeSnapState // snapshot and restore-point operations (fake_snap_test.go)
	orph fakeOrphans   // the orphans view's files (fake_orphans_test.go)

	history      []model.HistoryOp // the journal, every domain's
	historyErr   error
	historyCalls []string

	// checkFacts are the extra facts CheckDomain judges a domain with.
	checkFacts map[string]model.CheckFacts
	checkCalls []string
}

func (f *fakeBackend) History(_ context.Context, domain string) ([]model.HistoryOp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.historyCalls = append(f.historyCalls, domain)
	if f.historyErr != nil {
		return nil, f.historyErr
	}
	return model.FilterHistory(f.history, "", domain), nil
}

func newFake(ds ...model.Domain) *fakeBackend {
	return &fakeBackend{uri: "qemu:///system", domains: ds, events: make(chan model.Event, 16)}
}

func (f *fakeBackend) URI() string    { return f.uri }
func (f *fakeBackend) ReadOnly() bool { return f.readOnly }

func (f *fakeBackend) Discover(context.Context) ([]model.Domain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discoverCalls++
	if f.err != nil {
		return nil, f.err
	}
	return append([]model.Domain(nil), f.domains...), nil
}

func (f *fakeBackend) DiscoverDomain(_ context.Context, name string) (model.Domain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.domainCalls = append(f.domainCalls, name)
	for _, d := range f.domains {
		if d.Name == name {
			return d, nil
		}
	}
	return model.Domain{}, errors.New("Domain not found: no domain with matching name '" + name + "'")
}

func (f *fakeBackend) Events() <-chan model.Event { return f.events }

// CheckDomain judges the fake's domain with its checkFacts, as libvirtx
// does with the facts it reads.
func (f *fakeBackend) CheckDomain(_ context.Context, name string) (model.DomainHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkCalls = append(f.checkCalls, name)
	for _, d := range f.domains {
		if d.Name == name {
			return model.CheckDomain(d, f.checkFacts[name]), nil
		}
	}
	return model.DomainHealth{}, model.NoDomain(name)
}

func (f *fakeBackend) set(ds ...model.Domain) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.domains = ds
}

func ip(i int) *int { return &i }

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// classicDomain is the lab's lab-test2: the seed's six-layer chain with
// external snapshot metadata.
func classicDomain() model.Domain {
	dir := "/var/lib/libvirt/images/lab"
	names := []string{"test2_lsof", "test2_net-tools", "test2_nmap", "test2_test", "test2", "centos"}
	snaps := []string{"lsof", "net-tools", "nmap", "test", "", ""}
	var layers []model.Layer
	for i, n := range names {
		l := model.Layer{
			Index:             ip(len(names) - i),
			Path:              filepath.Join(dir, n+".qcow2"),
			Format:            "qcow2",
			VirtualSize:       64 * mib,
			Allocation:        int64(i+1) * 3 * mib,
			CreatedBySnapshot: snaps[i],
		}
		if i < len(names)-1 {
			l.BackingFile = filepath.Join(dir, names[i+1]+".qcow2")
			l.BackingFormat = "qcow2"
		}
		layers = append(layers, l)
	}
	t0 := time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)
	var ss []model.Snapshot
	parent := ""
	for i, s := range []string{"test", "nmap", "net-tools", "lsof"} {
		ss = append(ss, model.Snapshot{
			Name: s, Parent: parent, Kind: model.SnapshotExternal, Memory: model.MemoryNo,
			State: "disk-snapshot", Created: t0.Add(time.Duration(i) * time.Hour),
			Description: "before installing " + s,
			Disks:       []model.SnapshotDisk{{Target: "vda", Kind: "external", File: filepath.Join(dir, "test2_"+s+".qcow2")}},
		})
		parent = s
	}
	ss[3].Current = true
	return model.Domain{
		Name: "lab-test2", UUID: "6f1c", State: model.StateRunning, Persistent: true,
		Disks: []model.Disk{{
			Target: "vda", Device: "disk", Bus: "virtio", SourceType: "file",
			Source: layers[0].Path, Format: "qcow2", Layers: layers,
		}},
		Snapshots: ss, CurrentSnapshot: "lsof",
	}
}

// branchyDomain has a branching tree of internal snapshots and a broken
// second disk.
func branchyDomain() model.Domain {
	t0 := time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC)
	snap := func(name, parent string, h int) model.Snapshot {
		return model.Snapshot{Name: name, Parent: parent, Kind: model.SnapshotInternal, Memory: model.MemoryInternal,
			State: "running", Created: t0.Add(time.Duration(h) * time.Hour)}
	}
	ss := []model.Snapshot{
		snap("fresh", "", 0), snap("a1", "fresh", 1), snap("a2", "a1", 2),
		snap("b1", "fresh", 3), snap("b2", "b1", 4), snap("b3", "b1", 5),
	}
	ss[4].Current = true
	return model.Domain{
		Name: "lab-tree", State: model.StateShutoff, Persistent: true, ManagedSave: true,
		Disks: []model.Disk{
			{Target: "vda", Device: "disk", Bus: "virtio", Format: "qcow2", Source: "/var/lib/libvirt/images/lab/tree.qcow2",
				Layers: []model.Layer{{Path: "/var/lib/libvirt/images/lab/tree.qcow2", Format: "qcow2", VirtualSize: 64 * mib,
					Allocation: 40 * mib, InternalSnapshots: []string{"fresh", "a1", "a2", "b1", "b2", "b3"}}}},
			{Target: "vdb", Device: "disk", Bus: "virtio", Format: "qcow2", Source: "/var/lib/libvirt/images/lab/broken.qcow2",
				Layers: []model.Layer{
					{Path: "/var/lib/libvirt/images/lab/broken.qcow2", Format: "qcow2", VirtualSize: 64 * mib, Allocation: mib,
						BackingFile: "gone.qcow2"},
					{Path: "/var/lib/libvirt/images/lab/gone.qcow2", Problem: model.ProblemMissing},
				}},
		},
		Snapshots: ss, CurrentSnapshot: "b2",
	}
}

// chainDomain has one disk with an n-layer chain.
func chainDomain(name string, n int) model.Domain {
	layers := make([]model.Layer, n)
	for i := range layers {
		layers[i] = model.Layer{
			Index:       ip(n - i),
			Path:        fmt.Sprintf("/var/lib/libvirt/images/deep/%s-layer-%04d.qcow2", name, n-i),
			Format:      "qcow2",
			VirtualSize: 20 * gib,
			Allocation:  int64(i%37+1) * 17 * mib,
		}
		if i%50 == 7 {
			layers[i].CreatedBySnapshot = fmt.Sprintf("snap-%d", n-i)
		}
	}
	return model.Domain{
		Name: name, State: model.StateRunning, Persistent: true,
		Disks: []model.Disk{{Target: "vda", Device: "disk", Bus: "virtio", Format: "qcow2", Source: layers[0].Path, Layers: layers}},
	}
}

// fleet is n small domains.
func fleet(n int) []model.Domain {
	ds := make([]model.Domain, n)
	states := []model.DomainState{model.StateRunning, model.StateShutoff, model.StatePaused}
	for i := range ds {
		ds[i] = chainDomain(fmt.Sprintf("guest-%03d", i), i%16+1)
		ds[i].State = states[i%3]
		ds[i].ManagedSave = i%7 == 0
	}
	return ds
}

func labDomains() []model.Domain {
	shared := chainDomain("lab-shared-a", 2)
	deep := chainDomain("lab-deep", 6)
	deep.State = model.StateShutoff
	for i := range deep.Disks[0].Layers {
		deep.Disks[0].Layers[i].Index = nil
	}
	return []model.Domain{classicDomain(), branchyDomain(), shared, deep}
}

// The job side of a backend that runs no block jobs: jobFake (jobs_test.go)
// replaces it with one that does.
func (f *fakeBackend) WatchBlockJobs(context.Context) (<-chan model.Job, []model.Job, error) {
	return nil, nil, nil
}
func (f *fakeBackend) RescanBlockJobs(context.Context) error               { return nil }
func (f *fakeBackend) ListJobs(context.Context) ([]model.Job, error)       { return nil, nil }
func (f *fakeBackend) CloseBlockJobs()                                     {}
func (f *fakeBackend) SpaceFacts(string) model.SpaceFacts                  { return model.SpaceFacts{} }
func (f *fakeBackend) PivotBlockJob(context.Context, string, string) error { return nil }
func (f *fakeBackend) AbortBlockJob(context.Context, string, string, bool) error {
	return nil
}
func (f *fakeBackend) SetBlockJobBandwidth(context.Context, string, string, int64) error {
	return nil
}
func (f *fakeBackend) PlanCommit(ctx context.Context, req model.CommitRequest) (*model.BlockPlan, error) {
	return planBlock(ctx, f, nil, model.SpaceFacts{}, func(ds []model.Domain, js []model.Job) (*model.BlockPlan, error) {
		return model.PlanCommit(ds, req, js)
	})
}
func (f *fakeBackend) PlanPull(ctx context.Context, req model.PullRequest) (*model.BlockPlan, error) {
	return planBlock(ctx, f, nil, model.SpaceFacts{}, func(ds []model.Domain, js []model.Job) (*model.BlockPlan, error) {
		return model.PlanPull(ds, req, js)
	})
}
func (f *fakeBackend) PlanCleanup(ctx context.Context, req model.CleanupRequest) (*model.CleanupPlan, error) {
	ds, err := f.Discover(ctx)
	if err != nil {
		return nil, err
	}
	return model.PlanCleanup(ds, req, model.CleanupFacts{})
}

// planBlock plans a merge the way libvirtx does: the domains, the jobs
// running now (when jobs is set), the space check.
func planBlock(ctx context.Context, f *fakeBackend, jobs func(context.Context) ([]model.Job, error), space model.SpaceFacts,
	plan func([]model.Domain, []model.Job) (*model.BlockPlan, error)) (*model.BlockPlan, error) {
	ds, err := f.Discover(ctx)
	if err != nil {
		return nil, err
	}
	var js []model.Job
	if jobs != nil {
		if js, err = jobs(ctx); err != nil {
			return nil, err
		}
	}
	bp, err := plan(ds, js)
	if err != nil {
		return nil, err
	}
	if err := model.CheckSpace(&bp.Plan, space); err != nil {
		return nil, err
	}
	return bp, nil
}
func (f *fakeBackend) StartBlockJob(context.Context, *model.BlockPlan) (model.Job, error) {
	return model.Job{}, errors.New("this fake runs no block jobs")
}
func (f *fakeBackend) CleanupStale(context.Context, *model.CleanupPlan) ([]string, []string, error) {
	return nil, nil, nil
}
