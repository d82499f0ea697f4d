package model

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ip(n int) *int { return &n }

// seed builds the classic chain of the design card on a running domain:
// centos (base) <- test2 <- test2_test <- test2_nmap <- test2_net-tools <-
// test2_lsof (active), with snapshots s1..s4 that created the overlays.
func seed(state DomainState) Domain {
	dir := "/var/lib/libvirt/images/"
	files := []string{"test2_lsof", "test2_net-tools", "test2_nmap", "test2_test", "test2", "centos"}
	var layers []Layer
	for i, f := range files {
		l := Layer{Path: dir + f + ".qcow2", Format: "qcow2", Allocation: int64(i+1) << 20}
		if state.Active() {
			l.Index = ip(len(files) - i)
		}
		if i+1 < len(files) {
			l.BackingFile = files[i+1] + ".qcow2" // stored relative
			l.BackingFormat = "qcow2"
		}
		layers = append(layers, l)
	}
	snaps := []Snapshot{
		{Name: "s1", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: dir + "test2_test.qcow2"}}},
		{Name: "s2", Parent: "s1", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: dir + "test2_nmap.qcow2"}}},
		{Name: "s3", Parent: "s2", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: dir + "test2_net-tools.qcow2"}}},
		{Name: "s4", Parent: "s3", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: dir + "test2_lsof.qcow2"}}},
	}
	for _, s := range snaps {
		for i := range layers {
			if layers[i].Path == s.Disks[0].File {
				layers[i].CreatedBySnapshot = s.Name
			}
		}
	}
	return Domain{
		Name: "vm", State: state, Persistent: true,
		Disks:     []Disk{{Target: "vda", Device: "disk", SourceType: "file", Source: layers[0].Path, Format: "qcow2", Layers: layers}},
		Snapshots: snaps,
	}
}

const img = "/var/lib/libvirt/images/"

func refusal(t *testing.T, err error, want string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal containing %q, got %v", want, err)
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("refusal %q: want one line containing %q", err, want)
	}
	if r.Instead.Empty() {
		t.Fatalf("refusal %q has no fix", err)
	}
}

func TestResolveLayer(t *testing.T) {
	d := seed(StateRunning)
	disk := &d.Disks[0]
	cases := []struct {
		spec string
		want int
	}{
		{"vda[6]", 0}, {"vda[1]", 5},
		{img + "test2_nmap.qcow2", 2},
		{"test2_nmap.qcow2", 2}, // stored backing name / file name
		{"s1", 3},               // snapshot that created test2_test
		{"s4", 0},
	}
	for _, c := range cases {
		got, err := ResolveLayer(&d, disk, c.spec)
		if err != nil || got != c.want {
			t.Errorf("ResolveLayer(%q) = %d, %v; want %d", c.spec, got, err, c.want)
		}
	}
	for spec, want := range map[string]string{
		"vda[9]": `no layer "vda[9]"`, "vdb[1]": "names disk vdb", "nosuch": "no layer \"nosuch\"", "": "empty layer name",
	} {
		_, err := ResolveLayer(&d, disk, spec)
		refusal(t, err, want)
	}
	off := seed(StateShutoff)
	_, err := ResolveLayer(&off, &off.Disks[0], "vda[3]")
	refusal(t, err, "no libvirt index")
}

func TestResolveLayerAmbiguous(t *testing.T) {
	d := seed(StateRunning)
	// A snapshot named like another layer's file name.
	d.Disks[0].Layers[0].CreatedBySnapshot = "centos.qcow2"
	_, err := ResolveLayer(&d, &d.Disks[0], "centos.qcow2")
	refusal(t, err, "more than one layer")
}

// fileChanges is a plan's file list as "CHANGE by WHO PATH".
func fileChanges(fs []FileChange) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Change+" by "+f.By+" "+f.Path)
	}
	return out
}

// The design card's "commit 2-3 into 1".
func TestPlanCommitIntermediate(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "test2_net-tools.qcow2", Base: "test2_test.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Kind != JobCommit || bp.Offline || bp.TopPos != 1 || bp.BasePos != 3 {
		t.Fatalf("kind %s offline %v top %d base %d", bp.Kind, bp.Offline, bp.TopPos, bp.BasePos)
	}
	if bp.TopArg != "vda[5]" || bp.BaseArg != "vda[3]" {
		t.Fatalf("libvirt args %q %q", bp.TopArg, bp.BaseArg)
	}
	if want := []string{img + "test2_net-tools.qcow2", img + "test2_nmap.qcow2"}; !reflect.DeepEqual(bp.LeavingChain, want) {
		t.Fatalf("leaving %v", bp.LeavingChain)
	}
	if bp.BytesToCopy != 2<<20+3<<20 {
		t.Fatalf("bytes %d", bp.BytesToCopy)
	}
	if want := []string{"s2", "s3"}; !reflect.DeepEqual(bp.StaleSnapshots, want) {
		t.Fatalf("stale %v", bp.StaleSnapshots)
	}
	if want := []string{img + "test2_lsof.qcow2", img + "test2_test.qcow2", img + "test2.qcow2", img + "centos.qcow2"}; !reflect.DeepEqual(bp.NewChain, want) {
		t.Fatalf("new chain %v", bp.NewChain)
	}
	want := "virsh blockcommit --domain vm --path vda --base " + img + "test2_test.qcow2 --top " + img + "test2_net-tools.qcow2 --wait --verbose"
	if len(bp.Virsh) != 1 || bp.Virsh[0] != want {
		t.Fatalf("virsh %q", bp.Virsh)
	}
	if bp.AbovePath != img+"test2_lsof.qcow2" || !strings.Contains(strings.Join(bp.Steps, "\n"), "test2_lsof.qcow2's backing file becomes "+img+"test2_test.qcow2") {
		t.Fatalf("steps %q", bp.Steps)
	}
	if j := bp.Job(); j.Phase != PhaseRunning || j.Key() != "vm/vda" || j.End != bp.BytesToCopy {
		t.Fatalf("job %+v", j)
	}
	// The base takes the data in; the overlay above the top gets a new
	// backing file name in its header (measured on libvirt 9.0 and 11.3).
	if got := fileChanges(bp.Files); !reflect.DeepEqual(got, []string{
		"rewritten by libvirt " + img + "test2_test.qcow2", "rewritten by libvirt " + img + "test2_lsof.qcow2"}) {
		t.Fatalf("files %q", got)
	}
	// The warning is about what may happen, not a report that it did.
	if want := "if it stops midway (abort, crash), the chain stays as it is but test2_test.qcow2 keeps part of the moved data"; !reflect.DeepEqual(bp.Warnings, []string{want}) {
		t.Fatalf("warnings %q", bp.Warnings)
	}
}

func TestPlanCommitShallowDefaultsAndBandwidth(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s2", Shallow: true, Bandwidth: 3<<20 + 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.BasePath != img+"test2_test.qcow2" || !strings.Contains(bp.Virsh[0], "--shallow") || !strings.Contains(bp.Virsh[0], "--bandwidth 4 ") {
		t.Fatalf("base %s virsh %q", bp.BasePath, bp.Virsh)
	}
	// No base: the bottom of the chain.
	bp, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "vda[4]"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.BasePath != img+"centos.qcow2" || len(bp.LeavingChain) != 3 {
		t.Fatalf("base %s leaving %v", bp.BasePath, bp.LeavingChain)
	}
	_, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s2", Base: "centos.qcow2", Shallow: true}, nil)
	refusal(t, err, "--shallow commits into the image directly below")
}

func TestPlanCommitActive(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	_, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Base: "s1"}, nil)
	refusal(t, err, "is the active layer, so this is an active commit")

	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Base: "s1", Active: true, AfterReady: AfterReadyPivot}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Kind != JobActiveCommit || bp.TopArg != "vda[6]" || len(bp.LeavingChain) != 3 || bp.NewChain[0] != img+"test2_test.qcow2" {
		t.Fatalf("%+v", bp)
	}
	if !strings.Contains(bp.Virsh[0], "--active --pivot") {
		t.Fatalf("virsh %q", bp.Virsh)
	}
	if want := []string{"s2", "s3", "s4"}; !reflect.DeepEqual(bp.StaleSnapshots, want) {
		t.Fatalf("stale %v", bp.StaleSnapshots)
	}

	bp, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Base: "s1", Active: true, AfterReady: AfterReadyKeepOverlay}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.LeavingChain) != 0 || len(bp.StaleSnapshots) != 0 || len(bp.NewChain) != 6 || len(bp.Warnings) == 0 || !strings.Contains(bp.Virsh[0], "--keep-overlay") {
		t.Fatalf("keep-overlay plan %+v", bp)
	}
	// --active on a range below the active layer is a mistake.
	_, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s3", Base: "s1", Active: true}, nil)
	refusal(t, err, "not the active layer")
	_, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Base: "s1", Active: true, AfterReady: "later"}, nil)
	refusal(t, err, "unknown action")
}

func TestPlanCommitRangeRefusals(t *testing.T) {
	cases := map[string]CommitRequest{
		"is above top":                    {Top: "s1", Base: "s3"},
		"the same layer":                  {Top: "s2", Base: "vda[4]"},
		"no backing image":                {Top: "centos.qcow2"},
		"negative bandwidth":              {Top: "s3", Bandwidth: -1},
		"has no disk vdz":                 {Target: "vdz", Top: "s3"},
		"no domain \"nope\"":              {Domain: "nope", Top: "s3"},
		"already has a block job: commit": {Top: "s3", Base: "s1"},
		"repair the chain first":          {Top: "s3", Base: "centos.qcow2"},
		"have no libvirt index":           {},
		"is a network disk":               {},
		"managed save image":              {},
		"on a shut-off domain, where ":    {},
	}
	jobs := []Job{{Domain: "other", Disk: "vda", Phase: PhaseRunning}, {Domain: "vm", Disk: "vda", Phase: PhaseCompleted}}
	for want, req := range cases {
		ds := []Domain{seed(StateRunning)}
		js := jobs
		switch want {
		case "already has a block job: commit":
			js = append(js, Job{Domain: "vm", Disk: "vda", Kind: JobCommit, Phase: PhaseReady})
		case "repair the chain first":
			ds[0].Disks[0].Layers[4].Problem = ProblemMissing
		case "have no libvirt index":
			ds[0] = seed(StateShutoff)
			req = CommitRequest{Top: "vda[3]"}
		case "is a network disk":
			ds[0] = seed(StateShutoff)
			ds[0].Disks[0].SourceType = "network"
			req = CommitRequest{Top: "s3"}
		case "managed save image":
			ds[0] = seed(StateShutoff)
			ds[0].ManagedSave = true
			req = CommitRequest{Top: "s3"}
		case "on a shut-off domain, where ":
			ds[0] = seed(StateShutoff)
			req = CommitRequest{Active: true, AfterReady: AfterReadyPivot}
		}
		if req.Domain == "" {
			req.Domain = "vm"
		}
		if req.Target == "" {
			req.Target = "vda"
		}
		_, err := PlanCommit(ds, req, js)
		refusal(t, err, want)
	}
}

// Two domains share one base: committing into it (or through it) would
// change the other's disk; pulling away from it is fine.
func TestSharedBaseGuard(t *testing.T) {
	a := seed(StateRunning)
	b := Domain{Name: "other", State: StateShutoff, Disks: []Disk{{Target: "vdb", SourceType: "file", Layers: []Layer{
		{Path: "/srv/other.qcow2", Format: "qcow2"},
		{Path: img + "test2.qcow2", Format: "qcow2"},
		{Path: img + "centos.qcow2", Format: "qcow2"},
	}}}}
	c := Domain{Name: "third", State: StateShutoff, Snapshots: []Snapshot{
		{Name: "keep", Kind: SnapshotExternal, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: img + "test2_test.qcow2"}}},
	}}
	doms := []Domain{a, b, c}
	_, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s1", Base: "centos.qcow2"}, nil)
	refusal(t, err, "chain of other vdb")
	if !strings.Contains(err.Error(), "snapshot keep of third (vda)") {
		t.Fatalf("refusal does not list every user: %v", err)
	}
	_, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "test2.qcow2"}, nil)
	refusal(t, err, "others still need: chain of other vdb")
	// Above the shared part, nobody else is involved.
	if _, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s3", Base: "s2"}, nil); err != nil {
		t.Fatal(err)
	}
	// Own snapshots do not block; they become stale.
	bp, err := PlanPull(doms, PullRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.UsedBy) != 2 || !strings.Contains(strings.Join(bp.Warnings, "\n"), "stay in use by") {
		t.Fatalf("used by %v warnings %v", bp.UsedBy, bp.Warnings)
	}
}

func TestPlanPull(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	// The design card's "pull 1-3 into 4" with base test2.
	bp, err := PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "test2.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Kind != JobPull || bp.BaseArg != "vda[2]" || bp.TopArg != "vda[6]" {
		t.Fatalf("%+v", bp)
	}
	if want := []string{img + "test2_net-tools.qcow2", img + "test2_nmap.qcow2", img + "test2_test.qcow2"}; !reflect.DeepEqual(bp.LeavingChain, want) {
		t.Fatalf("leaving %v", bp.LeavingChain)
	}
	if bp.BytesToCopy != (2+3+4)<<20 {
		t.Fatalf("bytes %d", bp.BytesToCopy)
	}
	if got := fileChanges(bp.Files); !reflect.DeepEqual(got, []string{"rewritten by libvirt " + img + "test2_lsof.qcow2"}) {
		t.Fatalf("files %q", got)
	}
	if want := []string{"s1", "s2", "s3"}; !reflect.DeepEqual(bp.StaleSnapshots, want) {
		t.Fatalf("stale %v", bp.StaleSnapshots)
	}
	if want := "virsh blockpull --domain vm --path vda --base " + img + "test2.qcow2 --wait --verbose"; bp.Virsh[0] != want {
		t.Fatalf("virsh %q", bp.Virsh[0])
	}
	// Full pull.
	bp, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Bandwidth: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.BasePath != "" || bp.BasePos != 6 || len(bp.LeavingChain) != 5 || len(bp.NewChain) != 1 || !strings.Contains(bp.Summary, "no backing image") {
		t.Fatalf("%+v", bp)
	}
	if want := "virsh blockpull --domain vm --path vda --bandwidth 1 --wait --verbose"; bp.Virsh[0] != want {
		t.Fatalf("virsh %q", bp.Virsh[0])
	}
	// One layer leaves: the step says so in the singular.
	bp, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "s2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "test2_net-tools.qcow2 leaves the chain; the file stays on disk"; !reflect.DeepEqual(bp.Steps[2], want) {
		t.Fatalf("steps %q", bp.Steps)
	}
	_, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "vda[6]"}, nil)
	refusal(t, err, "below the active layer")
	_, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda", Base: "s3"}, nil)
	refusal(t, err, "already the active layer's backing image")
	one := seed(StateRunning)
	one.Disks[0].Layers = one.Disks[0].Layers[:1]
	_, err = PlanPull([]Domain{one}, PullRequest{Domain: "vm", Target: "vda"}, nil)
	refusal(t, err, "no backing image to pull from")
}

func TestPlanOffline(t *testing.T) {
	doms := []Domain{seed(StateShutoff)}
	bp, err := PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Top: "s3", Base: "s1", Bandwidth: 5 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bp.Offline || bp.TopArg != img+"test2_net-tools.qcow2" {
		t.Fatalf("%+v", bp)
	}
	want := []string{
		"qemu-img commit -p -f qcow2 -b " + img + "test2_test.qcow2 -r 5242880 " + img + "test2_net-tools.qcow2",
		"qemu-img rebase -u -f qcow2 -b " + img + "test2_test.qcow2 -F qcow2 " + img + "test2_lsof.qcow2",
	}
	if !reflect.DeepEqual(bp.Virsh, want) {
		t.Fatalf("commands\n%q\nwant\n%q", bp.Virsh, want)
	}
	// Offline commit of the active layer: no --active needed; the
	// definition moves to the base.
	bp, err = PlanCommit(doms, CommitRequest{Domain: "vm", Target: "vda", Shallow: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Kind != JobCommit || bp.AbovePath != "" || !strings.Contains(strings.Join(bp.Steps, "\n"), "source becomes "+img+"test2_net-tools.qcow2") {
		t.Fatalf("%+v", bp)
	}
	bp, err = PlanPull(doms, PullRequest{Domain: "vm", Target: "vda"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "qemu-img rebase -p -f qcow2 -b '' " + img + "test2_lsof.qcow2"; bp.Virsh[0] != want {
		t.Fatalf("%q", bp.Virsh[0])
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path.qcow2": "plain/path.qcow2", "": "''", "a b": "'a b'", "it's": `'it'\''s'`, "vda[3]": "'vda[3]'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// AutoActive (the TUI's marks) lets the planner decide: the active layer
// of a running domain is an active commit with the asked READY action, the
// same plan as with --active; any other top, or a shut-off domain, is a
// plain commit and the READY action is dropped.
func TestPlanCommitAutoActive(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	auto := CommitRequest{Domain: "vm", Target: "vda", Base: "test2_test.qcow2", AutoActive: true, AfterReady: AfterReadyPivot}
	got, err := PlanCommit(doms, auto, nil)
	if err != nil {
		t.Fatal(err)
	}
	explicit := auto
	explicit.AutoActive, explicit.Active = false, true
	want, err := PlanCommit(doms, explicit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != JobActiveCommit || got.AfterReady != AfterReadyPivot || !reflect.DeepEqual(got.Plan, want.Plan) {
		t.Fatalf("auto active commit %s %q:\n%+v\nwant %+v", got.Kind, got.AfterReady, got.Plan, want.Plan)
	}
	if got.Commit == nil || !got.Commit.AutoActive || got.Commit.Active {
		t.Fatalf("the plan carries %+v, not the request asked", got.Commit)
	}

	auto.Top = "test2_net-tools.qcow2"
	mid, err := PlanCommit(doms, auto, nil)
	if err != nil || mid.Kind != JobCommit || mid.AfterReady != AfterReadyWait {
		t.Fatalf("auto commit of a middle layer: %v %+v", err, mid)
	}
	auto.Top = ""
	off := []Domain{seed(StateShutoff)}
	if bp, err := PlanCommit(off, auto, nil); err != nil || bp.Kind != JobCommit || !bp.Offline || bp.AfterReady != AfterReadyWait {
		t.Fatalf("auto commit of a shut-off domain's active layer: %v %+v", err, bp)
	}
	// Without it, the CLI's rule stands: the active layer needs --active.
	auto.AutoActive = false
	_, err = PlanCommit(doms, auto, nil)
	refusal(t, err, "add --active")
}

// A plan carries its request, so it can be made again before it runs.
func TestBlockPlanCarriesRequest(t *testing.T) {
	doms := []Domain{seed(StateRunning)}
	req := PullRequest{Domain: "vm", Target: "vda", Base: "test2.qcow2", Bandwidth: 1 << 20}
	bp, err := PlanPull(doms, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp.Pull == nil || *bp.Pull != req || bp.Commit != nil {
		t.Fatalf("pull plan carries %+v / %+v", bp.Pull, bp.Commit)
	}
	again, err := PlanPull(doms, *bp.Pull, nil)
	if err != nil || !reflect.DeepEqual(again, bp) {
		t.Fatalf("planned again: %v\n%+v\nwant %+v", err, again, bp)
	}
}

func TestBandwidthText(t *testing.T) {
	for bps, want := range map[int64][2]string{0: {"unlimited", "unlimited"}, -1: {"unlimited", "unlimited"},
		10 << 20: {"10 MiB/s", "10M/s"}, 1536 << 10: {"1.5 MiB/s", "1.5M/s"}} {
		if got := [2]string{BandwidthText(bps), BandwidthTextShort(bps)}; got != want {
			t.Errorf("BandwidthText(%d) = %q, want %q", bps, got, want)
		}
	}
}
