package cli

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"virtchain/model"
)

// oldWriteJSON is the encoder writeJSON replaced: encoding/json's own
// indenting, then the DEL/C1 escapes.
func oldWriteJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return jsonControls.Replace(b.String())
}

func sameJSON(t *testing.T, name string, v any) {
	t.Helper()
	var got bytes.Buffer
	if err := writeJSON(&got, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := oldWriteJSON(t, v); got.String() != want {
		t.Errorf("%s: writeJSON differs from encoding/json's indenting\n got %q\nwant %q", name, got.String(), want)
	}
}

// randomValue builds nested maps, slices and scalars, with strings that
// hold quotes, backslashes, controls, DEL, C1 and other UTF-8.
func randomValue(r *rand.Rand, depth int) any {
	pieces := []string{"", "a", `"`, `\`, "\\\"", "\n", "\t", "\x01", "\x7f", "\u0085", "\u009f", "é", "©", "<&>", "{}", "[,]", ": ", "vda[3]"}
	switch k := r.IntN(8); {
	case depth > 3 || k == 0:
		var s strings.Builder
		for range r.IntN(4) {
			s.WriteString(pieces[r.IntN(len(pieces))])
		}
		return s.String()
	case k == 1:
		return r.Int64N(1<<40) - 1<<39
	case k == 2:
		return r.IntN(2) == 0
	case k == 3:
		return nil
	case k < 6:
		n := r.IntN(4)
		l := make([]any, n)
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range r.IntN(4) {
			m[pieces[r.IntN(len(pieces))]+"k"] = randomValue(r, depth+1)
		}
		return m
	}
}

// writeJSON's own indenting writes exactly what encoding/json's did: the
// JSON contracts do not move by a byte.
func TestWriteJSONSameBytesAsEncodingJSON(t *testing.T) {
	idx := 3
	dom := model.Domain{Name: "vc12s-\u0085\x7f\"d\"", State: model.StateRunning, Disks: []model.Disk{{
		Target: "vda", Layers: []model.Layer{{Path: `/var/tmp/a\b "c".qcow2`, Index: &idx, InternalSnapshots: []string{}}, {Path: "/base", InternalSnapshots: []string{"s1"}}},
	}}}
	sameJSON(t, "domain", listJSON{URI: "qemu:///system", Domains: []model.Domain{dom, {Name: "empty", Disks: []model.Disk{}}}})
	sameJSON(t, "empties", map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{[]any{}, map[string]any{}}})
	for _, v := range []any{nil, "", 0, true, []int{}, map[string]int{}, "x\u009fy"} {
		sameJSON(t, "scalar", v)
	}
	r := rand.New(rand.NewPCG(12, 12))
	for i := range 2000 {
		sameJSON(t, "random", randomValue(r, 0))
		if t.Failed() {
			t.Fatalf("random value %d", i)
		}
	}
}

// randomDomain is a domain with the odd strings of randomValue in its
// names, paths and problems, and empty and absent lists.
func randomDomain(r *rand.Rand) model.Domain {
	str := func() string {
		s, _ := randomValue(r, 4).(string)
		return s
	}
	d := model.Domain{Name: str(), UUID: str(), State: model.StateShutoff, Persistent: r.IntN(2) == 0, Problem: str()}
	if r.IntN(3) > 0 {
		d.Disks = []model.Disk{}
	}
	for range r.IntN(3) {
		disk := model.Disk{Target: str(), Source: str()}
		for k := range r.IntN(4) {
			l := model.Layer{Path: str(), Format: "qcow2", VirtualSize: r.Int64(), BackingFile: str(), Problem: str()}
			if r.IntN(2) == 0 {
				idx := k
				l.Index = &idx
				l.InternalSnapshots = []string{str()}
			}
			disk.Layers = append(disk.Layers, l)
		}
		d.Disks = append(d.Disks, disk)
	}
	if r.IntN(2) == 0 {
		d.Snapshots = []model.Snapshot{{Name: str(), Parent: str()}}
	}
	return d
}

// writeListJSON, which encodes the domains side by side, writes what
// writeJSON and encoding/json write for the same list.
func TestWriteListJSONSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 40))
	for i := range 300 {
		l := listJSON{URI: "qemu+ssh://h\u0085/system", Domains: []model.Domain{}}
		for range r.IntN(12) {
			l.Domains = append(l.Domains, randomDomain(r))
		}
		if i == 1 {
			l.Domains = nil
		}
		var got bytes.Buffer
		if err := writeListJSON(&got, l); err != nil {
			t.Fatal(err)
		}
		if want := oldWriteJSON(t, l); got.String() != want {
			t.Fatalf("list %d (%d domains): writeListJSON differs\n got %q\nwant %q", i, len(l.Domains), got.String(), want)
		}
	}
}

// readOnce sets the one-shot reads' runtime settings to the same values
// however many commands one process runs (the tests run hundreds).
func TestReadOnceSettingsDoNotCompound(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" || os.Getenv("GOGC") != "" {
		t.Skip("GOMAXPROCS or GOGC is set: readOnce leaves them alone")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for range 3 {
		(&Env{}).readOnce()
	}
	if got := runtime.GOMAXPROCS(0); got != 2*defaultProcs {
		t.Errorf("GOMAXPROCS after three one-shot reads: %d, want %d", got, 2*defaultProcs)
	}
	if got := debug.SetGCPercent(400); got != 400 {
		t.Errorf("GOGC after three one-shot reads: %d, want 400", got)
	}
}
