package soak

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoak draws random steps. Under `make test` it runs a few short
// worlds from fixed seeds, so a landing is judged on the same sequences
// every time (make soak draws new seeds to find new failures); with
// SOAK_STEPS (make soak) as many steps as asked, in worlds of segLen
// steps, and prints the figures.
func TestSoak(t *testing.T) {
	bin := needSoak(t)
	seed := int64(testSeed)
	if s := os.Getenv("SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SOAK_SEED=%q: %v", s, err)
		}
	}
	total, segLen, long, budget := 64, 16, false, 10
	if s := os.Getenv("SOAK_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SOAK_STEPS=%q: want a number of steps", s)
		}
		total, segLen, long, budget = n, 40, true, 24
	}
	fmt.Printf("soak: seed %d, %d steps (rerun: make soak SEED=%d STEPS=%d)\n", seed, total, seed, total)
	st := newStats()
	start := time.Now()
	shrunk := map[string]bool{}
	var failed []string
	for i := 0; total > 0; i++ {
		n := min(segLen, total)
		s := seed + int64(i)
		steps, f := segment(bin, s, nil, n, st, func(l string) {
			if long || testing.Verbose() {
				fmt.Println(l)
			}
		})
		total -= max(len(steps), 1)
		if err := dog.dead(); err != nil {
			// The next worlds cannot run: fail now, with the step it died in.
			if f != nil {
				err = f
			}
			t.Fatalf("seed %d: %v\n  steps: %s", s, err, goLiteral(steps))
		}
		if f == nil {
			continue
		}
		st.add(func(st *stats) { st.failures[f.kind]++ })
		msg := fmt.Sprintf("seed %d: %v\n  steps: %s", s, f, goLiteral(steps))
		fmt.Println("FAIL " + msg)
		// make test shrinks its first failure only, to stay within minutes.
		key := f.kind
		if len(steps) > 0 {
			key += " " + steps[len(steps)-1].Op
		}
		// A harness failure (the shared daemon went away, a tool failed)
		// is not virtchain's: it is not worth shrinking.
		if !shrunk[key] && len(steps) > 1 && f.kind != fHarness && (long || len(shrunk) == 0) {
			shrunk[key] = true
			short := shrink(bin, s, steps, f.kind, budget, func(l string) { fmt.Println("  " + l) })
			msg += fmt.Sprintf("\n  shortest (paste into regress_test.go): {%q, %d, %s},", f.kind, s, goLiteral(short))
			fmt.Println("  shortest: " + goLiteral(short))
		}
		failed = append(failed, msg)
	}
	st.elapsed = time.Since(start)
	fmt.Print(st.String())
	for _, m := range failed {
		t.Error(m)
	}
}

// TestRegressions replays the sequences that once failed.
func TestRegressions(t *testing.T) {
	bin := needSoak(t)
	for _, c := range regressions {
		t.Run(c.name, func(t *testing.T) {
			st := newStats()
			steps, f := segment(bin, c.seed, c.steps, 0, st, func(l string) { t.Log(l) })
			if f != nil {
				t.Fatalf("seed %d: %v\n  ran: %s", c.seed, f, goLiteral(steps))
			}
			if len(steps) != len(c.steps) {
				t.Fatalf("only %d of %d steps applied: %s", len(steps), len(c.steps), goLiteral(steps))
			}
		})
		if err := dog.dead(); err != nil {
			t.Fatalf("after %s: %v", c.name, err)
		}
	}
}

// TestReplay replays SOAK_REPLAY ("op N, op N, ...") in a world of seed
// SOAK_SEED: a failure's step list, by hand.
func TestReplay(t *testing.T) {
	bin := needSoak(t)
	spec := os.Getenv("SOAK_REPLAY")
	if spec == "" {
		t.Skip("set SOAK_REPLAY to a step list, e.g. SOAK_REPLAY='esnap 0, write 2'")
	}
	var steps []Step
	for _, f := range strings.Split(spec, ",") {
		var s Step
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%s %d", &s.Op, &s.N); err != nil || findOp(s.Op) == nil {
			t.Fatalf("bad step %q: want 'op N' with op one of the soak's operations", f)
		}
		steps = append(steps, s)
	}
	seed, _ := strconv.ParseInt(os.Getenv("SOAK_SEED"), 10, 64)
	st := newStats()
	ran, f := segment(bin, seed, steps, 0, st, func(l string) { t.Log(l) })
	if f != nil {
		t.Fatalf("seed %d: %v\n  ran: %s", seed, f, goLiteral(ran))
	}
	t.Log(st.String())
}

// testSeed is the first seed of make test's worlds.
const testSeed = 7001
