package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestJobProgressNeverGoesBack(t *testing.T) {
	t0 := time.Unix(1000, 0)
	j := Job{Domain: "vm", Disk: "vda", Kind: JobActiveCommit, Phase: PhaseRunning}
	j.Observe(50, 100, t0)
	if f := j.Fraction(); f != 0.5 {
		t.Fatalf("fraction %v", f)
	}
	// The guest writes: end grows faster than cur.
	j.Observe(60, 200, t0.Add(time.Second))
	if f := j.Fraction(); f != 0.5 {
		t.Fatalf("fraction went back to %v", f)
	}
	j.Observe(190, 200, t0.Add(2*time.Second))
	if f := j.Fraction(); f != 0.95 {
		t.Fatalf("fraction %v", f)
	}
	j.SetPhase(PhaseReady, t0.Add(3*time.Second))
	j.Observe(200, 260, t0.Add(4*time.Second))
	if j.Fraction() != 1 || !j.WasReady {
		t.Fatalf("ready job at %v", j.Fraction())
	}
	if _, ok := j.ETA(); ok {
		t.Fatal("a READY job has no ETA")
	}
	// cur past end (QEMU rounds) is clamped.
	k := Job{Phase: PhaseRunning}
	k.Observe(120, 100, t0)
	if k.Fraction() != 1 {
		t.Fatalf("fraction %v", k.Fraction())
	}
}

func TestJobRateAndETA(t *testing.T) {
	t0 := time.Unix(1000, 0)
	j := Job{Phase: PhaseRunning}
	if r := j.Rate(); r != 0 {
		t.Fatalf("rate without samples %v", r)
	}
	if _, ok := j.ETA(); ok {
		t.Fatal("ETA without samples")
	}
	// 10 MiB/s for 20 s, then 1 MiB/s: the window follows the change.
	for i := 0; i <= 20*4; i++ {
		j.Observe(int64(i)*(10<<20)/4, 1<<30, t0.Add(time.Duration(i)*250*time.Millisecond))
	}
	if r := j.Rate(); r != 10<<20 {
		t.Fatalf("rate %v", r)
	}
	eta, ok := j.ETA()
	want := time.Duration(float64((1<<30)-(200<<20)) / float64(10<<20) * float64(time.Second))
	if !ok || eta != want {
		t.Fatalf("eta %v %v, want %v", eta, ok, want)
	}
	base := int64(200 << 20)
	t1 := t0.Add(20 * time.Second)
	for i := 1; i <= 40; i++ {
		j.Observe(base+int64(i)*(1<<20)/4, 1<<30, t1.Add(time.Duration(i)*250*time.Millisecond))
	}
	if r := j.Rate(); r < 0.99*(1<<20) || r > 1.01*(1<<20) {
		t.Fatalf("rate after slowdown %v", r)
	}
	// Readings closer than 50 ms replace the last one.
	n := j.n
	last := j.Updated
	j.Observe(base+11<<20, 1<<30, last.Add(10*time.Millisecond))
	if j.n != n || j.Cur != base+11<<20 {
		t.Fatalf("burst reading added a sample: %d -> %d", n, j.n)
	}
}

func TestJobCompletedAndJSON(t *testing.T) {
	t0 := time.Unix(1000, 0)
	j := Job{Domain: "vm", Disk: "vda", Kind: JobPull, Phase: PhaseRunning}
	j.Observe(10, 100, t0)
	j.Observe(20, 100, t0.Add(time.Second))
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"progress":0.2`, `"rate":10`, `"eta_seconds":8`, `"phase":"running"`, `"disk":"vda"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s lacks %s", b, want)
		}
	}
	j.SetPhase(PhaseCompleted, t0.Add(2*time.Second))
	if j.Fraction() != 1 || j.Cur != 100 || !j.Succeeded() || j.Phase.Live() {
		t.Fatalf("%+v", j)
	}
	b, _ = json.Marshal(j)
	if !strings.Contains(string(b), `"eta_seconds":null`) {
		t.Fatalf("%s", b)
	}
	keep := Job{Kind: JobActiveCommit, AfterReady: AfterReadyKeepOverlay, Phase: PhaseRunning}
	keep.SetPhase(PhaseCancelled, t0)
	if keep.Succeeded() {
		t.Fatal("cancelled before READY is not success")
	}
	keep.SetPhase(PhaseReady, t0)
	keep.SetPhase(PhaseCancelled, t0)
	if !keep.Succeeded() {
		t.Fatal("keep-overlay cancel after READY is success")
	}
}
