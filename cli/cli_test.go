package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"virtchain/model"
)

// probe records what the test commands saw.
var probe struct {
	args  []string
	files []string
	bw    uint64
	force bool
	env   Env
	bwSet bool
}

// testCommands are the commands these tests run, added to the real tree.
func testCommands(env *Env) []*cobra.Command {
	var files []string
	var bw uint64
	var force bool
	run := newCommand(env, cmdSpec{
		Use:    "run DOMAIN [TARGET]",
		Short:  "test command",
		JSON:   true,
		DryRun: true,
	}, func(f *FlagSet) {
		f.StringsVar(&files, "file", "TARGET=PATH", "overlay path")
		f.Uint64Var(&bw, "bandwidth", "MIB", "limit")
		f.BoolVar(&force, "f,force", "force")
	}, func(args []string) error {
		probe.args, probe.files, probe.bw, probe.force = args, files, bw, force
		probe.env = *env
		probe.bwSet = env.Flags.Changed("bandwidth")
		return nil
	})
	fail := newCommand(env, cmdSpec{Use: "fail [WHAT]", Short: "test command that fails"}, nil, func(args []string) error {
		switch {
		case len(args) == 0:
			return errors.New("first line\n  second line")
		case args[0] == "panic":
			panic("boom\nwith a second line")
		case args[0] == "usage":
			return Usagef("bad value %q", "x")
		}
		return nil
	})
	many := newCommand(env, cmdSpec{Use: "many FILE...", Short: "variadic"},
		nil, func(args []string) error { probe.args = args; return nil })
	return []*cobra.Command{newGroup(env, "vcttest", "test commands", run, fail, many)}
}

// testRoot is the tree Main runs in these tests.
func testRoot() *cobra.Command {
	env := &Env{}
	root := NewCmdRoot(env)
	root.AddCommand(testCommands(env)...)
	return root
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e, testCommands)
	return code, o.String(), e.String()
}

// wantOneLine checks the contract for errors: one line, prefixed.
func wantOneLine(t *testing.T, stderr string, parts ...string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "virtchain: ") {
		t.Fatalf("stderr is not one 'virtchain: ' line: %q", stderr)
	}
	for _, p := range parts {
		if !strings.Contains(stderr, p) {
			t.Errorf("stderr %q lacks %q", stderr, p)
		}
	}
}

func TestFlagsAnywhere(t *testing.T) {
	cases := [][]string{
		{"vcttest", "run", "dom", "vda", "--json", "--file", "vda=/a", "--file=vdb=/b", "--bandwidth", "5", "-f"},
		{"--json", "vcttest", "run", "--file", "vda=/a", "dom", "-bandwidth=5", "vda", "--force", "--file", "vdb=/b"},
		{"vcttest", "run", "-f", "dom", "--file", "vda=/a", "--json", "vda", "--file", "vdb=/b", "--bandwidth", "5"},
	}
	for _, args := range cases {
		code, _, stderr := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d, %s", args, code, stderr)
		}
		if !reflect.DeepEqual(probe.args, []string{"dom", "vda"}) ||
			!reflect.DeepEqual(probe.files, []string{"vda=/a", "vdb=/b"}) ||
			probe.bw != 5 || !probe.force || !probe.env.JSON || !probe.bwSet {
			t.Fatalf("%q: got args %q files %q bw %d force %v json %v", args,
				probe.args, probe.files, probe.bw, probe.force, probe.env.JSON)
		}
	}
	// A second run in the same process starts from zero values.
	if code, _, stderr := runMain(t, "vcttest", "run", "dom"); code != 0 {
		t.Fatal(stderr)
	}
	if probe.files != nil || probe.bw != 0 || probe.force || probe.env.JSON || probe.bwSet {
		t.Fatalf("flags leaked between runs: %+v", probe)
	}
}

func TestDoubleDashEndsFlags(t *testing.T) {
	code, _, stderr := runMain(t, "vcttest", "run", "--dry-run", "--", "-odd-name", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	if !reflect.DeepEqual(probe.args, []string{"-odd-name", "--json"}) || probe.env.JSON || !probe.env.DryRun {
		t.Fatalf("args %q json %v dry %v", probe.args, probe.env.JSON, probe.env.DryRun)
	}
}

func TestConnectFlag(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"vcttest", "run", "d"}, "", "qemu:///system"},
		{[]string{"vcttest", "run", "d"}, "test:///env", "test:///env"},
		{[]string{"-c", "test:///default", "vcttest", "run", "d"}, "test:///env", "test:///default"},
		{[]string{"vcttest", "run", "d", "--connect", "qemu:///session"}, "test:///env", "qemu:///session"},
		{[]string{"--connect=a:///", "vcttest", "run", "d", "-c", "b:///"}, "", "b:///"},
	} {
		t.Setenv("LIBVIRT_DEFAULT_URI", tc.env)
		code, _, stderr := runMain(t, tc.args...)
		if code != 0 {
			t.Fatalf("%q: %s", tc.args, stderr)
		}
		if probe.env.URI != tc.want {
			t.Errorf("%q with LIBVIRT_DEFAULT_URI=%q: URI %q, want %q", tc.args, tc.env, probe.env.URI, tc.want)
		}
	}
	if code, _, stderr := runMain(t, "--readonly", "vcttest", "run", "d"); code != 0 || !probe.env.ReadOnly {
		t.Fatalf("--readonly not seen: %d %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		parts []string
	}{
		{[]string{"nosuch"}, []string{`unknown command "nosuch"`, "'virtchain help'"}},
		{[]string{"--bogus"}, []string{"unknown flag --bogus"}},
		{[]string{"-x=1", "list"}, []string{"unknown flag -x"}},
		{[]string{"--no-mouse", "list"}, []string{"for the terminal UI, not for 'list'"}},
		{[]string{"list", "--no-mouse"}, []string{"unknown flag --no-mouse"}},
		{[]string{"chain"}, []string{"'chain' needs DOMAIN", "'virtchain help chain'"}},
		{[]string{"chain", "a", "b", "c"}, []string{`unexpected "c"`}},
		{[]string{"snapshots", "a", "--bogus"}, []string{"unknown flag --bogus", "help snapshots"}},
		{[]string{"list", "--dry-run"}, []string{"no --dry-run"}},
		{[]string{"help", "--json"}, []string{"does not print JSON"}},
		{[]string{"list", "-c"}, []string{"flag -c needs a value"}},
		{[]string{"list", "--connect"}, []string{"flag --connect needs a value"}},
		{[]string{"vcttest"}, []string{"'vcttest' needs a subcommand: fail, many, run"}},
		{[]string{"vcttest", "nope"}, []string{"unknown command 'vcttest nope'"}},
		{[]string{"vcttest", "run", "d", "--bandwidth", "x"}, []string{"invalid value"}},
		{[]string{"vcttest", "many"}, []string{"needs FILE"}},
		{[]string{"vcttest", "fail", "usage"}, []string{`bad value "x"`, "help vcttest fail"}},
		{[]string{"--json"}, []string{"need a command"}},
		{[]string{"help", "nosuch"}, []string{`no command named "nosuch"`}},
	} {
		code, stdout, stderr := runMain(t, tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", tc.args, code, stderr)
			continue
		}
		if stdout != "" {
			t.Errorf("%q: wrote to stdout: %q", tc.args, stdout)
		}
		wantOneLine(t, stderr, tc.parts...)
	}
}

func TestVariadicArgs(t *testing.T) {
	if code, _, stderr := runMain(t, "vcttest", "many", "a", "b", "c"); code != 0 {
		t.Fatal(stderr)
	}
	if len(probe.args) != 3 {
		t.Fatalf("args %q", probe.args)
	}
	for spec, want := range map[string][2]int{
		"": {0, 0}, "DOMAIN": {1, 1}, "DOMAIN [TARGET]": {1, 2}, "FILE...": {1, -1}, "[NAME]...": {0, -1},
	} {
		lo, hi := argBounds(spec)
		if lo != want[0] || hi != want[1] {
			t.Errorf("argBounds(%q) = %d, %d; want %v", spec, lo, hi, want)
		}
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	code, stdout, stderr := runMain(t, "vcttest", "fail")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d stdout %q", code, stdout)
	}
	wantOneLine(t, stderr, "virtchain: first line second line")

	code, _, stderr = runMain(t, "vcttest", "fail", "panic")
	if code != 1 {
		t.Fatalf("panic: exit %d", code)
	}
	wantOneLine(t, stderr, "internal error: boom with a second line")
	if strings.Contains(stderr, "goroutine") {
		t.Fatalf("stack trace leaked: %q", stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%q: exit %d %q", args, code, stderr)
		}
		for _, c := range helpCommands(testRoot()) {
			name, cargs := commandName(c), argSpec(c.Use)
			if !strings.Contains(stdout, name+" "+cargs) {
				t.Errorf("%q: help lacks %q", args, name+" "+cargs)
			}
		}
		for _, f := range []string{"-c, --connect URI", "--readonly", "--json", "--dry-run", "-h, --help"} {
			if !strings.Contains(stdout, f) {
				t.Errorf("%q: help lacks global flag %q", args, f)
			}
		}
	}
	for _, args := range [][]string{{"help", "vcttest", "run"}, {"vcttest", "run", "-h"}, {"-h", "vcttest", "run", "x"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 || stderr != "" {
			t.Fatalf("%q: exit %d %q", args, code, stderr)
		}
		for _, want := range []string{"Usage: virtchain vcttest run DOMAIN [TARGET] [FLAGS]", "--file TARGET=PATH", "-f, --force", "--dry-run", "--json"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%q: lacks %q in\n%s", args, want, stdout)
			}
		}
	}
	// Help for a command without JSON does not offer --json.
	_, stdout, _ := runMain(t, "help", "vcttest", "fail")
	if strings.Contains(stdout, "--json") || strings.Contains(stdout, "--dry-run") {
		t.Errorf("help offers flags the command refuses:\n%s", stdout)
	}
	// A group lists its subcommands.
	code, stdout, _ := runMain(t, "help", "vcttest")
	if code != 0 || !strings.Contains(stdout, "vcttest many FILE...") {
		t.Errorf("group help: %d\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runMain(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "virtchain ") {
		t.Fatalf("version: %d %q", code, stdout)
	}
	code, stdout, _ = runMain(t, "version", "--json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v["version"] == "" || v["go"] == "" {
		t.Fatalf("version --json: %d %q", code, stdout)
	}
}

func TestNoCommandNeedsTerminal(t *testing.T) {
	// stdout is a buffer, so the TUI must refuse before connecting.
	code, _, stderr := runMain(t, "-c", "test:///default")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	wantOneLine(t, stderr, "needs a terminal", "virtchain list")
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a JSON object: %#v", v)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasKeys(t *testing.T, what string, v any, want ...string) map[string]any {
	t.Helper()
	got := keys(t, v)
	set := map[string]bool{}
	for _, k := range got {
		set[k] = true
	}
	for _, k := range want {
		if !set[k] {
			t.Errorf("%s: missing key %q (have %v)", what, k, got)
		}
	}
	return v.(map[string]any)
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "}\n") {
		t.Fatalf("JSON lacks its trailing newline: %q", b.String())
	}
	var out any
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sampleDomain() model.Domain {
	three := 3
	return model.Domain{
		Name: "vm1", UUID: "u-1", State: model.StateRunning, Persistent: true,
		Disks: []model.Disk{{
			Target: "vda", Device: "disk", Bus: "virtio", SourceType: "file", Source: "/img/top.qcow2", Format: "qcow2",
			Layers: []model.Layer{
				{Index: &three, Path: "/img/top.qcow2", Format: "qcow2", VirtualSize: 64 << 20, Allocation: 200 << 10,
					BackingFile: "base.qcow2", BackingFormat: "qcow2", CreatedBySnapshot: "s2"},
				{Path: "/img/base.qcow2", Format: "qcow2", VirtualSize: 64 << 20, Allocation: 1 << 20,
					InternalSnapshots: []string{"i1"}, Problem: model.ProblemMissing},
			},
		}, {Target: "hdc", Device: "cdrom"}},
		Snapshots: []model.Snapshot{
			{Name: "s1", Kind: model.SnapshotInternal, Memory: model.MemoryInternal, State: "running",
				Created: time.Unix(1700000000, 0).UTC()},
			{Name: "s2", Parent: "s1", Kind: model.SnapshotExternal, Memory: model.MemoryNo, State: "disk-snapshot",
				Disks: []model.SnapshotDisk{{Target: "vda", Kind: "external", File: "/img/top.qcow2"}}},
			{Name: "s3", Parent: "s1", Kind: model.SnapshotExternal, Memory: model.MemoryExternal, MemoryFile: "/img/mem"},
		},
		CurrentSnapshot: "s2",
	}
}

func TestListJSONShape(t *testing.T) {
	out := roundTrip(t, listJSON{URI: "test:///default", Domains: []model.Domain{normalizeDomain(sampleDomain())}})
	top := hasKeys(t, "list", out, "uri", "domains")
	doms := top["domains"].([]any)
	d := hasKeys(t, "domain", doms[0], "name", "uuid", "state", "persistent", "managed_save", "disks")
	if d["state"] != "running" || d["persistent"] != true || d["managed_save"] != false {
		t.Errorf("domain fields: %v", d)
	}
	disks := d["disks"].([]any)
	hasKeys(t, "disk", disks[0], "target", "source", "format", "layers")
	// A disk with no chain still has an array of layers.
	if l, ok := disks[1].(map[string]any)["layers"].([]any); !ok || len(l) != 0 {
		t.Errorf("empty chain is %#v, want []", disks[1].(map[string]any)["layers"])
	}
	// An empty fleet is an empty array.
	out = roundTrip(t, listJSON{URI: "x", Domains: []model.Domain{}})
	if a, ok := out.(map[string]any)["domains"].([]any); !ok || len(a) != 0 {
		t.Errorf("no domains: %#v", out)
	}
}

func TestChainJSONShape(t *testing.T) {
	d := normalizeDomain(sampleDomain())
	out := roundTrip(t, chainJSON{Domain: d.Name, Disks: d.Disks, Checkpoints: d.Checkpoints})
	top := hasKeys(t, "chain", out, "domain", "disks")
	layers := top["disks"].([]any)[0].(map[string]any)["layers"].([]any)
	want := []string{"index", "path", "format", "virtual_size", "allocation", "backing_format",
		"created_by_snapshot", "internal_snapshots", "problem"}
	l0 := hasKeys(t, "layer", layers[0], want...)
	l1 := hasKeys(t, "layer", layers[1], want...)
	if l0["index"] != 3.0 || l1["index"] != nil {
		t.Errorf("index: %v and %v, want 3 and null", l0["index"], l1["index"])
	}
	if a, ok := l0["internal_snapshots"].([]any); !ok || len(a) != 0 {
		t.Errorf("internal_snapshots is %#v, want []", l0["internal_snapshots"])
	}
	if l0["problem"] != "" || l1["problem"] != model.ProblemMissing {
		t.Errorf("problems %q %q", l0["problem"], l1["problem"])
	}
	if l0["virtual_size"] != float64(64<<20) || l0["created_by_snapshot"] != "s2" {
		t.Errorf("layer 0: %v", l0)
	}
	// Bitmaps and checkpoints are added fields: an array each, never null.
	if a, ok := l0["bitmaps"].([]any); !ok || len(a) != 0 {
		t.Errorf("bitmaps is %#v, want []", l0["bitmaps"])
	}
	if a, ok := top["checkpoints"].([]any); !ok || len(a) != 0 {
		t.Errorf("checkpoints is %#v, want []", top["checkpoints"])
	}
}

func TestChainJSONBitmapsAndCheckpoints(t *testing.T) {
	d := sampleDomain()
	d.Disks[0].Layers[1].Bitmaps = []model.Bitmap{{Name: "nightly", Granularity: 65536, Enabled: true, Source: model.BitmapFromImage}}
	d.Checkpoints = []model.Checkpoint{
		{Name: "cp1", Created: time.Unix(1700000000, 0).UTC(), Disks: []model.CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "nightly"}}},
		{Name: "cp2", Parent: "cp1", Disks: []model.CheckpointDisk{{Target: "vda", Kind: "bitmap", Bitmap: "cp2", Size: 4096, Live: true}}},
	}
	model.ApplyCheckpoints(&d)
	d = normalizeDomain(d)
	out := roundTrip(t, chainJSON{Domain: d.Name, Disks: d.Disks, Checkpoints: d.Checkpoints})
	top := hasKeys(t, "chain", out, "domain", "disks", "checkpoints")
	layers := top["disks"].([]any)[0].(map[string]any)["layers"].([]any)
	// The running domain's live checkpoint shows on the active layer.
	b0 := hasKeys(t, "bitmap", layers[0].(map[string]any)["bitmaps"].([]any)[0], "name", "enabled", "source", "checkpoint")
	if b0["name"] != "cp2" || b0["source"] != model.BitmapFromQEMU {
		t.Errorf("active layer's bitmap %v", b0)
	}
	b1 := hasKeys(t, "bitmap", layers[1].(map[string]any)["bitmaps"].([]any)[0], "name", "granularity", "enabled", "source", "checkpoint")
	if b1["name"] != "nightly" || b1["granularity"] != 65536.0 || b1["checkpoint"] != "cp1" || b1["source"] != "image" {
		t.Errorf("base's bitmap %v", b1)
	}
	cps := top["checkpoints"].([]any)
	c0 := hasKeys(t, "checkpoint", cps[0], "name", "parent", "created", "description", "disks")
	if c0["created"] != "2023-11-14T22:13:20Z" || c0["broken"] != nil {
		t.Errorf("checkpoint %v", c0)
	}
	disk := hasKeys(t, "checkpoint disk", cps[1].(map[string]any)["disks"].([]any)[0], "target", "kind", "bitmap", "size", "live")
	if disk["size"] != 4096.0 || disk["live"] != true {
		t.Errorf("checkpoint disk %v", disk)
	}
	// The text output shows both.
	var b strings.Builder
	if err := writeChain(&b, chainJSON{Domain: d.Name, Disks: d.Disks, Checkpoints: d.Checkpoints}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"bitmaps: nightly (64 KiB, checkpoint cp1)", "bitmaps: cp2 (checkpoint cp2, held by QEMU, not in the image yet)", "Checkpoints (2):", "cp1  ", "vda bitmap nightly"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("chain text lacks %q:\n%s", s, b.String())
		}
	}
}

func TestSnapshotsJSONShape(t *testing.T) {
	d := normalizeDomain(sampleDomain())
	out := roundTrip(t, snapshotsJSON{Domain: d.Name, Current: d.CurrentSnapshot, Snapshots: d.Snapshots})
	top := hasKeys(t, "snapshots", out, "domain", "current", "snapshots")
	if top["current"] != "s2" {
		t.Errorf("current %v", top["current"])
	}
	snaps := top["snapshots"].([]any)
	for _, s := range snaps {
		m := hasKeys(t, "snapshot", s, "name", "parent", "kind", "memory", "memory_file", "state", "created", "description", "disks")
		if _, ok := m["disks"].([]any); !ok {
			t.Errorf("%v: disks is %#v, want an array", m["name"], m["disks"])
		}
	}
	if snaps[0].(map[string]any)["created"] != "2023-11-14T22:13:20Z" {
		t.Errorf("created: %v", snaps[0].(map[string]any)["created"])
	}
	disk := snaps[1].(map[string]any)["disks"].([]any)[0]
	hasKeys(t, "snapshot disk", disk, "target", "kind", "file")
}

func TestChainText(t *testing.T) {
	d := normalizeDomain(sampleDomain())
	var b bytes.Buffer
	if err := writeChain(&b, chainJSON{Domain: d.Name, Disks: d.Disks}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"vm1 vda (disk, virtio, file): 2 layers",
		"├─ vda[3]  /img/top.qcow2  [active]",
		"qcow2, 64 MiB virtual, 200 KiB allocated, created by snapshot s2",
		"└─ /img/base.qcow2\n",
		"internal snapshots: i1",
		"! missing file",
		"vm1 hdc (cdrom): 0 layers",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("chain text lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "[base]") {
		t.Errorf("a missing layer is labelled base:\n%s", s)
	}
}

// A lone layer whose header cannot be read may well have a backing file:
// it is the active layer, not a base.
func TestChainTextBrokenLoneLayerIsNotBase(t *testing.T) {
	disk := model.Disk{Target: "vda", Device: "disk", Bus: "virtio", SourceType: "file", Source: "/img/long.qcow2", Format: "qcow2",
		Layers: []model.Layer{{Path: "/img/long.qcow2", Format: "qcow2", InternalSnapshots: []string{}, Problem: model.ProblemNameTooLong}}}
	var b bytes.Buffer
	if err := writeChain(&b, chainJSON{Domain: "vm1", Disks: []model.Disk{disk}}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.Contains(s, "└─ /img/long.qcow2  [active]\n") || strings.Contains(s, "base]") ||
		!strings.Contains(s, "! "+model.ProblemNameTooLong) {
		t.Errorf("broken lone layer:\n%s", s)
	}
}

func TestSnapshotsText(t *testing.T) {
	d := normalizeDomain(sampleDomain())
	var b bytes.Buffer
	if err := writeSnapshots(&b, snapshotsJSON{Domain: d.Name, Current: d.CurrentSnapshot, Snapshots: d.Snapshots}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 4 {
		t.Fatalf("too short:\n%s", b.String())
	}
	for i, prefix := range []string{"NAME", "s1 ", "├─ s2 *", "└─ s3 "} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], prefix)
		}
	}
	if !strings.Contains(lines[3], "memory=/img/mem") || !strings.Contains(lines[2], "vda=external") {
		t.Errorf("disk columns:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "* current snapshot: s2") {
		t.Errorf("no current marker:\n%s", b.String())
	}
}

// Stale and kept-branch snapshots are marked in the text and the JSON.
func TestSnapshotsStaleAndBranch(t *testing.T) {
	d := normalizeDomain(sampleDomain())
	d.Snapshots[1].Stale = []string{"vda"}
	d.Snapshots[1].Disks[0].Point = "/img/base.qcow2"
	d.Snapshots[2].Branch = true
	out := snapshotsJSON{Domain: d.Name, Current: d.CurrentSnapshot, Snapshots: d.Snapshots}
	var b bytes.Buffer
	if err := writeSnapshots(&b, out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "STATUS") ||
		!strings.Contains(lines[1], " - ") || !strings.Contains(lines[2], "stale: vda") || !strings.Contains(lines[3], "branch") {
		t.Errorf("status column:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "'virtchain cleanup vm1' removes the metadata") || !strings.Contains(b.String(), "branch: a newer branch a revert kept") {
		t.Errorf("legend:\n%s", b.String())
	}
	snaps := hasKeys(t, "snapshots", roundTrip(t, out), "snapshots")["snapshots"].([]any)
	hasKeys(t, "stale snapshot", snaps[1], "stale")
	hasKeys(t, "snapshot disk", snaps[1].(map[string]any)["disks"].([]any)[0], "point")
	if m := hasKeys(t, "branch snapshot", snaps[2], "branch"); m["branch"] != true {
		t.Errorf("branch %v", m["branch"])
	}
}

func TestListText(t *testing.T) {
	var b bytes.Buffer
	d := normalizeDomain(sampleDomain())
	if err := writeList(&b, listJSON{URI: "u", Domains: []model.Domain{d}}); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(strings.Split(b.String(), "\n")[1])
	want := []string{"vm1", "running", "yes", "no", "2", "2", "3", "vda:", "missing", "file"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("row %q, want %q", fields, want)
	}
}

func TestPlanText(t *testing.T) {
	var b bytes.Buffer
	p := model.Plan{Op: "commit", Domain: "vm1", Target: "vda", Summary: "merge s2 into base",
		Steps: []string{"copy", "drop"}, BytesToCopy: 2 << 20, Virsh: []string{"virsh blockcommit vm1 vda"}}
	if err := writePlan(&b, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Plan: commit on vm1 vda", "  1. copy", "  2. drop", "Data to copy: 2 MiB", "  - virsh blockcommit vm1 vda"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
