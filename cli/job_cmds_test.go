package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"virtchain/model"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "10": 10 << 20, "0.5": 512 << 10, " 2M": 2 << 20} {
		if got, err := parseBandwidth(in); err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "-1", "fast", "NaN", "Inf", "1e20"} {
		if _, err := parseBandwidth(in); err == nil {
			t.Errorf("parseBandwidth(%q) accepted", in)
		}
	}
}

// Usage mistakes are caught before any connection is opened: exit 2.
func TestJobUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"commit", "vm", "vda", "--pivot"},
		{"commit", "vm", "vda", "--active", "--pivot", "--keep-overlay"},
		{"commit", "vm", "vda", "--bandwidth", "fast"},
		{"pull", "vm"},
		{"abort", "vm"},
		{"bandwidth", "vm", "vda", "-3"},
		{"bandwidth", "vm", "vda", ""},
		{"commit", "vm", "vda", "--bandwidth", ""},
		{"pull", "vm", "vda", "--bandwidth="},
	} {
		code, _, stderr := runMain(t, append([]string{"-c", "test:///default"}, args...)...)
		if code != 2 {
			t.Errorf("%q: exit %d (%s), want 2", args, code, stderr)
			continue
		}
		wantOneLine(t, stderr)
	}
}

func TestProgressPrinterPiped(t *testing.T) {
	var b bytes.Buffer
	p := newProgressPrinter(&b, false, false)
	j := model.Job{Domain: "vm", Disk: "vda", Kind: model.JobCommit, Phase: model.PhaseRunning}
	t0 := time.Unix(100, 0)
	for i, cur := range []int64{0, 10, 10, 11, 50} {
		j.Observe(cur, 100, t0.Add(time.Duration(i)*time.Second))
		p.update(j)
	}
	j.SetPhase(model.PhaseCompleted, t0.Add(6*time.Second))
	p.update(j)
	p.finish()
	want := "vm vda commit 0% running\nvm vda commit 10% running\nvm vda commit 11% running\nvm vda commit 50% running\nvm vda commit 100% completed\n"
	if b.String() != want {
		t.Fatalf("piped output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestProgressPrinterTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgressPrinter(&b, true, false)
	p.width = func() int { return 120 } // wide enough for the whole bar
	j := model.Job{Domain: "vm", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}
	now := time.Now()
	// A burst of updates is drawn at most every 100 ms.
	for i := 0; i < 50; i++ {
		j.Observe(int64(i), 100, now.Add(time.Duration(i)*time.Second))
		p.update(j)
	}
	if n := strings.Count(b.String(), "\x1b[2K"); n > 2 {
		t.Fatalf("%d draws for a burst", n)
	}
	p.finish()
	last := b.String()[strings.LastIndex(b.String(), "\x1b[2K"):]
	if !strings.Contains(last, "[##############") || !strings.Contains(last, " 49%") || !strings.Contains(last, "1 B/s") {
		t.Fatalf("last frame %q", last)
	}
	if line := progressLine(j, 10); strings.Contains(line, "\n") || !strings.HasPrefix(line, "vm vda pull") {
		t.Fatalf("line %q", line)
	}
}

// TestProgressLineFitsTheTerminal: a bar line that wraps turns the
// cursor-up redraw into a stream of new lines, so every line fits.
func TestProgressLineFitsTheTerminal(t *testing.T) {
	j := model.Job{Domain: "prod-database-cluster-replica-a", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseRunning}
	t0 := time.Unix(100, 0)
	j.Observe(10<<20, 256<<20, t0)
	j.Observe(30<<20, 256<<20, t0.Add(time.Second))
	for _, cols := range []int{200, 100, 80, 60, 20} {
		line := fitProgressLine(j, cols)
		if n := utf8.RuneCountInString(line); n > cols-1 {
			t.Errorf("%d columns: line of %d runes: %q", cols, n, line)
		}
		if !strings.HasPrefix(line, "prod-database-cluster-replica-a"[:min(cols-1, 31)]) {
			t.Errorf("%d columns: line %q", cols, line)
		}
	}
	if line := fitProgressLine(j, 200); !strings.Contains(line, strings.Repeat("#", 3)+strings.Repeat("-", 26)) {
		t.Errorf("wide terminal keeps the full bar: %q", line)
	}
	if line := fitProgressLine(j, 120); !strings.Contains(line, "ETA") || !strings.Contains(line, "running") {
		t.Errorf("120 columns: the bar shrinks before the tail goes: %q", line)
	}
	var b bytes.Buffer
	p := newProgressPrinter(&b, true, false)
	p.width = func() int { return 60 }
	p.update(j)
	for _, l := range strings.Split(b.String(), "\n") {
		if l = strings.TrimPrefix(l, "\r\x1b[2K"); utf8.RuneCountInString(l) > 59 {
			t.Errorf("drawn line of %d runes at 60 columns: %q", utf8.RuneCountInString(l), l)
		}
	}
}

// The files a merge left are deleted with cleanup on the host itself and
// with orphans over a remote connection, whose cleanup cannot delete them.
func TestAfterJobNamesTheWayToDeleteLeftFiles(t *testing.T) {
	out := blockJobJSON{Job: &model.Job{Kind: model.JobCommit, Domain: "vm", Disk: "vda"}, LeftFiles: []string{"/img/a b.qcow2", "/img/c.qcow2"}, KeptFiles: []string{"/img/c.qcow2 (used by vm2)"}}
	var local, remote bytes.Buffer
	writeAfterJob(&local, "vm", "", out)
	writeAfterJob(&remote, "vm", "qemu+ssh://hv/system", out)
	if want := "Delete the ones nothing uses with 'virtchain cleanup vm --delete-files '/img/a b.qcow2''"; !strings.Contains(local.String(), want) {
		t.Errorf("local:\n%s\nwant %s", local.String(), want)
	}
	if want := "Delete the ones nothing uses with 'virtchain -c qemu+ssh://hv/system orphans --delete --min-age 0 '/img/a b.qcow2''"; !strings.Contains(remote.String(), want) {
		t.Errorf("remote:\n%s\nwant %s", remote.String(), want)
	}
}
