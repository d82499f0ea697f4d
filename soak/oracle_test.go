package soak

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// failure is a broken promise; kind is one of the figures the soak counts.
type failure struct{ kind, msg string }

func (f *failure) Error() string { return f.kind + ": " + f.msg }

func fail(kind, format string, a ...any) *failure {
	return &failure{kind, fmt.Sprintf(format, a...)}
}

// The kinds of failure, as the figures name them.
const (
	fDataLost     = "data lost"
	fWrongRevert  = "wrong revert"
	fDeleted      = "unexpected deletion"
	fHang         = "hang"
	fNotRefused   = "not refused"
	fBadRefusal   = "bad refusal"
	fCorrupt      = "corrupt layer"
	fUnplanned    = "change not in the plan"
	fStaleCleared = "stale mark cleared"
	fLostPivot    = "lost pivot"
	fRace         = "race"
	fState        = "wrong domain state"
	fHarness      = "harness"
)

// stats are the figures a soak prints at the end.
type stats struct {
	mu         sync.Mutex
	steps      map[string]int
	faults     map[string]int
	failures   map[string]int
	refusedOK  int
	refusedBad int
	unexpected map[string]int // unexpected refusals by their text
	skipped    int
	worlds     int
	elapsed    time.Duration
}

func newStats() *stats {
	return &stats{steps: map[string]int{}, faults: map[string]int{}, failures: map[string]int{}, unexpected: map[string]int{}}
}

func (s *stats) add(f func(s *stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	total := 0
	for _, n := range s.steps {
		total += n
	}
	fmt.Fprintf(&b, "steps: %d in %d worlds, %s", total, s.worlds, s.elapsed.Round(time.Second))
	if m := s.elapsed.Minutes(); m > 0 {
		fmt.Fprintf(&b, " (%.0f steps/minute)", float64(total)/m)
	}
	fmt.Fprintf(&b, "; skipped on replay: %d\nsteps per operation:\n", s.skipped)
	for _, k := range sortedKeys(s.steps) {
		fmt.Fprintf(&b, "  %-14s %d\n", k, s.steps[k])
	}
	fmt.Fprintf(&b, "refusals: %d expected, %d unexpected\n", s.refusedOK, s.refusedBad)
	for _, k := range sortedKeys(s.unexpected) {
		fmt.Fprintf(&b, "  %3d x %s\n", s.unexpected[k], k)
	}
	fmt.Fprintf(&b, "faults:")
	for _, k := range sortedKeys(s.faults) {
		fmt.Fprintf(&b, " %s %d,", k, s.faults[k])
	}
	b.WriteString("\n")
	for _, k := range []string{fDataLost, fWrongRevert, fDeleted, fHang} {
		fmt.Fprintf(&b, "%s: %d\n", k, s.failures[k])
	}
	for _, k := range sortedKeys(s.failures) {
		if k != fDataLost && k != fWrongRevert && k != fDeleted && k != fHang {
			fmt.Fprintf(&b, "%s: %d\n", k, s.failures[k])
		}
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// expect is what the oracle allows a step to do.
type expect int

const (
	must   expect = iota // must succeed (a refusal is counted as unexpected)
	either               // may succeed or be refused cleanly
	refuse               // must be refused: exit 1, one line, nothing changed
)

func oneLine(s string) bool {
	t := strings.TrimRight(s, "\n")
	return t != "" && !strings.Contains(t, "\n")
}

// do runs one virtchain operation the way the oracle checks every one:
// first its --dry-run plan (the files it names), then the operation, then
// the folder is compared with what the plan said.
func (w *world) do(e expect, timeout time.Duration, args ...string) (result, *failure) {
	before := w.listing()
	named := map[string]bool{}
	dry := true
	switch args[0] {
	case "abort", "bandwidth", "jobs", "chain", "snapshots":
		dry = false
	}
	if dry {
		r := w.vc(timeout, append([]string{"--json", "--dry-run"}, args...)...)
		if r.hang {
			w.openFIFO(5 * time.Second)
			return r, fail(fHang, "--dry-run %s", strings.Join(args, " "))
		}
		if r.code == 0 && e == refuse {
			return r, fail(fNotRefused, "the plan of %s accepts it: %s", strings.Join(args, " "), firstLine(r.out))
		}
		w.pathsIn(r.out, named)
	} else {
		for _, a := range args {
			named[a] = true
		}
	}
	r := w.vc(timeout, args...)
	if r.hang {
		w.openFIFO(5 * time.Second)
		return r, fail(fHang, "%s did not end within %s", strings.Join(args, " "), timeout)
	}
	after := w.listing()
	// The images of the chain before the step are written by the guest,
	// QEMU and jobs; any other file that changes must be in the plan.
	inChain := map[string]bool{}
	for _, p := range w.cur {
		inChain[p] = true
	}
	if r.code != 0 {
		if r.code != 1 || !oneLine(r.errs) {
			return r, fail(fBadRefusal, "%s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.errs)
		}
		w.note = "refused: " + strings.TrimSpace(r.errs)
		w.stats.add(func(s *stats) {
			if e == refuse {
				s.refusedOK++
			} else {
				s.refusedBad++
				s.unexpected[args[0]+": "+scrub(strings.TrimSpace(r.errs))]++
			}
		})
		// A refusal changes nothing (the images in the chain keep their
		// size; only QEMU's own metadata writes touch their mtime).
		for p, b := range before {
			a, ok := after[p]
			if !ok {
				return r, fail(fDeleted, "refused %s, yet %s vanished", strings.Join(args, " "), p)
			}
			if a != b && !inChain[p] {
				return r, fail(fUnplanned, "refused %s, yet %s changed", strings.Join(args, " "), p)
			}
		}
		for p := range after {
			if _, ok := before[p]; !ok {
				return r, fail(fUnplanned, "refused %s, yet %s appeared", strings.Join(args, " "), p)
			}
		}
		return r, nil
	}
	if e == refuse {
		return r, fail(fNotRefused, "%s succeeded: %s", strings.Join(args, " "), firstLine(r.out))
	}
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok && !named[p]:
			return r, fail(fDeleted, "%s deleted %s, which its plan did not name", strings.Join(args, " "), p)
		case ok && a != b && !named[p] && !inChain[p]:
			return r, fail(fUnplanned, "%s changed %s, which is in no chain and not in its plan", strings.Join(args, " "), p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !named[p] {
			return r, fail(fUnplanned, "%s created %s, which its plan did not name", strings.Join(args, " "), p)
		}
	}
	return r, nil
}

var digits = regexp.MustCompile(`[0-9]+`)

// scrub makes refusal texts of different worlds count as one.
func scrub(s string) string {
	return digits.ReplaceAllString(s, "N")
}

// firstLine shortens an output for a message: a plan's summary, or its
// first line.
func firstLine(s string) string {
	var p struct {
		Summary string `json:"summary"`
		Plan    struct {
			Summary string `json:"summary"`
		} `json:"plan"`
	}
	if json.Unmarshal([]byte(s), &p) == nil && p.Summary+p.Plan.Summary != "" {
		return p.Summary + p.Plan.Summary
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// pathsIn collects every path inside the folder that a JSON plan mentions.
func (w *world) pathsIn(js string, into map[string]bool) {
	var v any
	if json.Unmarshal([]byte(js), &v) != nil {
		return
	}
	re := regexp.MustCompile(regexp.QuoteMeta(w.dir) + `/[^\s"',;:()]+`)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, m := range re.FindAllString(x, -1) {
				into[m] = true
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		case map[string]any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
}

// flush makes QEMU write its cached qcow2 metadata, so outside readers
// (-U) see what the guest sees.
func (w *world) flush() *failure {
	if w.state != "running" {
		return nil
	}
	r := virsh("qemu-monitor-command", w.dom, "--hmp", `qemu-io -d `+qdev+` "flush"`)
	if r.code != 0 || strings.TrimSpace(r.out) != "" {
		return fail(fHarness, "flush: %v", r)
	}
	return nil
}

// raw writes the content as a raw image the oracle compares with.
func (w *world) raw(c [blocks]byte, name string) (string, error) {
	buf := make([]byte, blocks*blockSz)
	for i, p := range c {
		for j := 0; j < blockSz; j++ {
			buf[i*blockSz+j] = p
		}
	}
	p := w.path("oracle-" + name + ".raw")
	return p, os.WriteFile(p, buf, 0o644)
}

// same says whether img (read through its backing chain; with -l SNAP an
// internal snapshot of it) holds content c.
func (w *world) same(img string, c [blocks]byte, internal string) (bool, error) {
	ref, err := w.raw(c, "want")
	if err != nil {
		return false, err
	}
	if internal != "" {
		conv := w.path("oracle-internal.raw")
		r := run(60*time.Second, "qemu-img", "convert", "-U", "-l", "snapshot.name="+internal, "-O", "raw", img, conv)
		if r.code != 0 {
			return false, nil
		}
		img = conv
	}
	r := run(60*time.Second, "qemu-img", "compare", "-U", "-F", "raw", img, ref)
	switch r.code {
	case 0:
		return true, nil
	case 1:
		return false, nil
	}
	return false, fmt.Errorf("qemu-img compare %s: %v", img, r)
}

// check is the oracle, run after every step.
func (w *world) check(last string) *failure {
	wantState := map[string]string{"running": "running", "shutoff": "shut off", "saved": "shut off", "msaved": "shut off"}[w.state]
	if r := virsh("domstate", w.dom); strings.TrimSpace(r.out) != wantState {
		return fail(fState, "%s is %q, the oracle says %q (%v)", w.dom, strings.TrimSpace(r.out), wantState, r)
	}
	if f := w.flush(); f != nil {
		return f
	}
	c, err := w.chain()
	if err != nil {
		return fail(fDeleted, "%v", err)
	}
	w.cur = c
	ok, err := w.same(c[0], w.content, "")
	if err != nil {
		return fail(fCorrupt, "%v", err)
	}
	if !ok {
		kind := fDataLost
		if last == "revert" {
			kind = fWrongRevert
		}
		return fail(kind, "the guest does not see what it must (top %s)", c[0])
	}
	var sj snapsJSON
	if err := w.vcJSON(&sj, "snapshots", w.dom); err != nil {
		return fail(fHarness, "%v", err)
	}
	refs := map[string]string{}
	for _, p := range c {
		refs[p] = "vda's chain"
	}
	actual := map[string]bool{}
	for _, s := range sj.Snapshots {
		actual[s.Name] = true
		if s.MemoryFile != "" {
			refs[s.MemoryFile] = "memory of " + s.Name
		}
		for _, d := range s.Disks {
			if d.Kind != "external" {
				continue
			}
			for _, p := range append([]string{d.File, d.Point}, d.PointBacking...) {
				if p != "" {
					refs[p] = "snapshot " + s.Name
				}
			}
		}
		if m := w.snap(s.Name); m != nil {
			if m.stale && len(s.Stale) == 0 {
				return fail(fStaleCleared, "snapshot %s, whose point was destroyed, is no longer marked stale (after %s)", s.Name, last)
			}
			// Only a destroyed point is stale for good: a snapshot marked
			// because its files left the chain may get them back.
			if len(s.Stale) > 0 && !m.stale {
				ok, f := w.intact(m)
				if f != nil {
					return f
				}
				m.stale = !ok
			}
		} else {
			return fail(fHarness, "snapshot %s exists, the oracle does not know it", s.Name)
		}
	}
	for _, s := range w.snaps {
		if !actual[s.name] {
			return fail(fDeleted, "snapshot %s vanished (after %s)", s.name, last)
		}
	}
	if w.state == "saved" {
		refs[w.saveFile] = "the save file"
	}
	refs[w.outside] = "nobody (outside the folder)"
	refs[w.path("notes.txt")] = "nobody (unrelated)"
	for p, who := range refs {
		st, err := os.Stat(p)
		if err != nil {
			return fail(fDeleted, "%s, used by %s, is gone: %v", p, who, err)
		}
		if !st.Mode().IsRegular() || !strings.HasSuffix(p, ".qcow2") {
			continue
		}
		// An image that did not change since its last check is not read again.
		fi := fileInfo{st.Size(), st.ModTime()}
		if w.checked[p] == fi {
			continue
		}
		r := run(60*time.Second, "qemu-img", "check", "-U", "-q", p)
		if r.code != 0 && r.code != 3 { // 3: leaked clusters only, harmless
			return fail(fCorrupt, "qemu-img check %s (%s): %v", p, who, r)
		}
		w.checked[p] = fi
	}
	return nil
}

func (w *world) snap(name string) *snap {
	for _, s := range w.snaps {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (w *world) dropSnap(name string) {
	for i, s := range w.snaps {
		if s.name == name {
			w.snaps = append(w.snaps[:i], w.snaps[i+1:]...)
			return
		}
	}
}
