package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"virtchain/model"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "10": 10 << 20, "0.5": 512 << 10, " 2M": 2 << 20} {
		if got, err := parseBandwidth(in); err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "fast", "NaN", "Inf", "1e20"} {
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
