package model

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func checkDisk(layers ...Layer) Domain {
	return Domain{Name: "d", State: StateShutoff, Disks: []Disk{{Target: "vda", Layers: layers}}}
}

func kinds(h DomainHealth) []FindingKind {
	var out []FindingKind
	for _, f := range h.All() {
		out = append(out, f.Kind)
	}
	return out
}

func TestCheckHealthyIsOK(t *testing.T) {
	d := checkDisk(Layer{Path: "/i/top", Format: "qcow2", BackingFile: "/i/base", BackingFormat: "qcow2"}, Layer{Path: "/i/base", Format: "qcow2"})
	f := CheckFacts{Layers: map[string]LayerFacts{"/i/top": {BackingRealFormat: "qcow2", ImageCheck: &ImageCheck{}}}}
	h := CheckDomain(d, f)
	if h.Verdict != VerdictOK || len(h.All()) != 0 || h.Verdict.Wrong() {
		t.Fatalf("healthy: %+v", h)
	}
	if got := strings.Join(h.Disks[0].Layers[0].Checked, ","); got != "chain,header,qemu-img check" {
		t.Errorf("checked %q", got)
	}
}

func TestCheckHeaderBits(t *testing.T) {
	d := checkDisk(Layer{Path: "/i/a", Format: "qcow2", Dirty: true, Corrupt: true})
	h := CheckDomain(d, CheckFacts{Layers: map[string]LayerFacts{"/i/a": {UnknownIncompatible: 1 << 9}}})
	if got := kinds(h); len(got) != 3 || got[0] != FindDirty || got[1] != FindCorrupt || got[2] != FindUnknownFeatures {
		t.Fatalf("kinds %v", got)
	}
	if h.Verdict != VerdictBad {
		t.Errorf("verdict %s", h.Verdict)
	}
	if fix := h.All()[0].Fix.String(); fix != "with nothing using it, qemu-img check -r all /i/a" {
		t.Errorf("dirty fix %q", fix)
	}
	if !strings.Contains(h.All()[2].Text, "0x200") {
		t.Errorf("unknown features text %q", h.All()[2].Text)
	}
}

// A running domain's active layer is QEMU's: its dirty bit is in-memory
// state, and qemu-img check is not run on it.
func TestCheckRunningActiveLayerIsNotAFault(t *testing.T) {
	d := checkDisk(Layer{Path: "/i/a", Format: "qcow2", Dirty: true})
	d.State = StateRunning
	h := CheckDomain(d, CheckFacts{Layers: map[string]LayerFacts{"/i/a": {NoImageCheck: "running domain d writes it"}}})
	if h.Verdict != VerdictOK || len(h.All()) != 0 {
		t.Fatalf("running active layer: %+v", h)
	}
	notes := strings.Join(h.Disks[0].Layers[0].Notes, "|")
	if !strings.Contains(notes, "lazy refcounts") || !strings.Contains(notes, "qemu-img check not run: running domain d writes it") {
		t.Errorf("notes %q", notes)
	}
	// The corrupt bit is QEMU's own verdict on disk: still bad.
	d.Disks[0].Layers[0].Corrupt = true
	if h := CheckDomain(d, CheckFacts{}); h.Verdict != VerdictBad || !strings.HasPrefix(h.All()[0].Fix.String(), "shut d off, then ") {
		t.Errorf("corrupt running: %+v", h.All())
	}
}

func TestCheckBackingNames(t *testing.T) {
	d := checkDisk(Layer{Path: "/l/top", Format: "qcow2", BackingFile: "base", BackingFormat: "qcow2"}, Layer{Path: "/l/base", Format: "qcow2"})
	f := CheckFacts{Layers: map[string]LayerFacts{"/l/top": {BackingRealFormat: "raw", RelativeRuns: "/l/base", RelativeBeside: "/r/base"}}}
	all := CheckDomain(d, f).All()
	if len(all) != 2 || all[0].Kind != FindBackingFormat || all[1].Kind != FindRelativeBacking {
		t.Fatalf("findings %+v", all)
	}
	if fix := all[0].Fix.String(); fix != "record the real format: qemu-img rebase -u -F raw -b base /l/top" {
		t.Errorf("format fix %q", fix)
	}
	if fix := all[1].Fix.String(); fix != "make it absolute: qemu-img rebase -u -F qcow2 -b /l/base /l/top" {
		t.Errorf("relative fix %q", fix)
	}
	// Not compared (over a remote connection): a note, not a finding.
	f = CheckFacts{Layers: map[string]LayerFacts{"/l/top": {BackingRealFormat: "qcow2", RelativeSkipped: "why"}}}
	h := CheckDomain(d, f)
	if h.Verdict != VerdictOK || len(h.All()) != 0 || !slices.Contains(h.Disks[0].Layers[0].Notes, "relative backing name base not compared with the image's real folder: why") {
		t.Errorf("relative name not compared: %+v", h)
	}
}

func TestCheckChainProblems(t *testing.T) {
	for _, c := range []struct {
		problem string
		kind    FindingKind
		fix     string
	}{
		{ProblemMissing, FindMissing, "qemu-img rebase -u -F FORMAT -b BACKING /i/top"},
		{ProblemNotRegular + ": a FIFO", FindNotRegular, "/i/top"},
		{ProblemLoop + ": same file as /i/top", FindLoop, "qemu-img rebase -u"},
		{ProblemTooDeep, FindTooDeep, "virtchain commit d vda --top X --base Y"},
		{ProblemUnreadable + ": permission denied", FindUnreadable, "root"},
		{ProblemPastEOF + ": x", FindBadHeader, "qemu-img info /i/b"},
	} {
		d := checkDisk(Layer{Path: "/i/top", Format: "qcow2", BackingFile: "/i/b"}, Layer{Path: "/i/b", Problem: c.problem})
		all := CheckDomain(d, CheckFacts{}).All()
		if len(all) != 1 || all[0].Kind != c.kind || all[0].Path != "/i/b" || !strings.Contains(all[0].Fix.String(), c.fix) {
			t.Errorf("%s: %+v (fix %q)", c.problem, all, all[0].Fix.String())
		}
	}
	// A problem at the top names the domain's definition as the fix.
	all := CheckDomain(checkDisk(Layer{Path: "/i/top", Problem: ProblemMissing}), CheckFacts{}).All()
	if len(all) != 1 || !strings.Contains(all[0].Fix.String(), "virsh edit d") {
		t.Errorf("missing top: %+v", all)
	}
	// Where virtchain cannot read, it says so and judges nothing.
	h := CheckDomain(checkDisk(Layer{Path: "nbd:x", Problem: "backing is not a local file: an NBD export"}), CheckFacts{})
	if h.Verdict != VerdictOK || len(h.Disks[0].Layers[0].Notes) != 1 {
		t.Errorf("not local: %+v", h)
	}
}

func TestCheckImageCheckResults(t *testing.T) {
	d := checkDisk(Layer{Path: "/i/a", Format: "qcow2"})
	for _, c := range []struct {
		ic      ImageCheck
		kinds   string
		verdict Verdict
	}{
		{ImageCheck{Leaks: 2}, "image-leaks", VerdictWarning},
		{ImageCheck{Corruptions: 1, Leaks: 2}, "image-corruptions,image-leaks", VerdictBad},
		{ImageCheck{CheckErrors: 1}, "image-check-failed", VerdictBad},
		{ImageCheck{Error: "Could not open"}, "image-check-failed", VerdictBad},
		{ImageCheck{Shared: true}, "", VerdictOK},
	} {
		ic := c.ic
		h := CheckDomain(d, CheckFacts{Layers: map[string]LayerFacts{"/i/a": {ImageCheck: &ic}}})
		var got []string
		for _, k := range kinds(h) {
			got = append(got, string(k))
		}
		if strings.Join(got, ",") != c.kinds || h.Verdict != c.verdict {
			t.Errorf("%+v: kinds %v verdict %s", c.ic, got, h.Verdict)
		}
	}
}

func TestCheckQEMUCannotRead(t *testing.T) {
	d := checkDisk(Layer{Path: "/p/a", Format: "raw"})
	all := CheckDomain(d, CheckFacts{Layers: map[string]LayerFacts{"/p/a": {QEMUCannotRead: "cannot enter /p", QEMUFix: "/p"}}}).All()
	if len(all) != 1 || all[0].Kind != FindQEMUCannotRead || all[0].Fix.String() != "let it in: chmod o+rX /p" {
		t.Fatalf("%+v", all)
	}
}

func TestCheckMetadata(t *testing.T) {
	d := checkDisk(Layer{Path: "/i/a", Format: "qcow2"})
	d.ManagedSave = true
	d.Snapshots = []Snapshot{
		{Name: "s1", Stale: []string{"vda"}, Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/s1", Point: "/i/a"}}},
		{Name: "s2", MemoryFile: "/i/s2.mem", Disks: []SnapshotDisk{{Target: "vda", Kind: "external", File: "/i/s2"}}},
	}
	f := CheckFacts{GoneFiles: map[string]bool{"/i/s2": true, "/i/s2.mem": true, "/i/s1": false}, ManagedSaveChanged: []string{"memory 1, now 2"}}
	h := CheckDomain(d, f)
	got := kinds(h)
	if len(got) != 3 || got[0] != FindStaleSnapshot || got[1] != FindSnapshotFileGone || got[2] != FindManagedSaveChanged {
		t.Fatalf("kinds %v", got)
	}
	if fix := h.Findings[0].Fix.String(); fix != "remove its metadata: virtchain snapshot delete d s1 --metadata-only" {
		t.Errorf("stale fix %q", fix)
	}
	if !strings.Contains(h.Findings[1].Text, "/i/s2, /i/s2.mem") || h.Findings[1].Snapshot != "s2" {
		t.Errorf("gone: %+v", h.Findings[1])
	}
	if fix := h.Findings[2].Fix.String(); !strings.HasSuffix(fix, "virtchain managedsave-remove d") {
		t.Errorf("managed save fix %q", fix)
	}
	// Without a managed-save image, a difference means nothing.
	d.ManagedSave = false
	if got := kinds(CheckDomain(d, f)); len(got) != 2 {
		t.Errorf("no managed save: %v", got)
	}
}

func TestFindingJSONCarriesTheFix(t *testing.T) {
	b, err := json.Marshal(Finding{Kind: FindDirty, Verdict: VerdictWarning, Path: "/i/a", Text: "t", Fix: Hint{Words("do "), Do(DoImageInfo, "/i/a b")}})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["fix"] != "do qemu-img info '/i/a b'" || back["kind"] != "dirty" || back["path"] != "/i/a" {
		t.Errorf("JSON %s", b)
	}
}

func TestVerdictWorse(t *testing.T) {
	if VerdictOK.Worse(VerdictBad) != VerdictBad || VerdictBad.Worse(VerdictWarning) != VerdictBad || Verdict("").Worse(VerdictOK) != VerdictOK {
		t.Error("Worse")
	}
}
