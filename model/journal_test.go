package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var jt0 = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func jbegin(id, domain, target string, at time.Duration, virsh ...string) JournalEntry {
	e := BeginEntry(id, jt0.Add(at), "qemu:///system", &Plan{Op: "commit", Domain: domain, Target: target, Summary: "commit s2 into s1", Virsh: virsh})
	e.User, e.PID, e.Machine = "root", 4242, "hv1"
	return e
}

func TestJournalLineIsOneLineAndRoundTrips(t *testing.T) {
	e := jbegin("a", "vm\nx", "vda", 0, "virsh blockcommit 'vm\nx'")
	e.Summary = "two\nlines\r and \x1b[31m"
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(line), "\n") != 1 || !strings.HasSuffix(string(line), "\n") {
		t.Fatalf("not one line: %q", line)
	}
	got, skipped := ParseJournal(append(line, []byte("{torn")...))
	if skipped != 1 || len(got) != 1 || got[0].Domain != "vm\nx" || got[0].Summary != e.Summary || got[0].PID != 4242 {
		t.Fatalf("round trip: %+v skipped %d", got, skipped)
	}
}

func TestFoldHistoryStates(t *testing.T) {
	jobEnd := Job{Phase: PhaseCompleted, Cur: 3 << 20, End: 3 << 20, Started: jt0.Add(time.Second)}
	entries := []JournalEntry{
		jbegin("ok", "a", "", 0, "virsh snapshot-create-as --domain a --name s1"),
		EndEntry("ok", jt0.Add(time.Second), nil),
		jbegin("err", "a", "", 2*time.Second),
		EndEntry("err", jt0.Add(3*time.Second), errors.New("libvirt: boom")),
		jbegin("job", "a", "vda", 4*time.Second),
		{ID: "job", Event: JournalRunning, Time: jt0.Add(5 * time.Second)},
		JobEndEntry("job", jobEnd, jt0.Add(9*time.Second)),
		JobEndEntry("job", Job{Phase: PhaseFailed}, jt0.Add(10*time.Second)), // a second watcher: ignored
		jbegin("left", "a", "vda", 11*time.Second),
		{ID: "left", Event: JournalRunning, Time: jt0.Add(12 * time.Second)},
		{ID: "left", Event: JournalDetached, Time: jt0.Add(12 * time.Second)},
		jbegin("killed", "a", "vda", 13*time.Second),
		{ID: "killed", Event: JournalRunning, Time: jt0.Add(14 * time.Second)},
		jbegin("crash", "b", "", 15*time.Second),
		{ID: "orphan", Event: JournalEnd, Result: ResultOK, Time: jt0},
	}
	ops := FoldHistory(entries, nil)
	want := map[string]OpState{"ok": StateOK, "err": StateError, "job": StateOK, "left": StateStarted, "killed": StateInterrupted, "crash": StateInterrupted}
	if len(ops) != len(want) {
		t.Fatalf("%d operations, want %d: %+v", len(ops), len(want), ops)
	}
	for _, o := range ops {
		if o.State != want[o.ID] {
			t.Errorf("%s: state %q, want %q", o.ID, o.State, want[o.ID])
		}
	}
	job := ops[2]
	if job.Bytes != 3<<20 || job.Seconds != 8 || job.Error != "" || !strings.Contains(job.Outcome(), "ok (3 MiB in 8s)") {
		t.Errorf("job: %+v, outcome %q", job, job.Outcome())
	}
	if ops[1].Outcome() != "error: libvirt: boom" {
		t.Errorf("error outcome %q", ops[1].Outcome())
	}
	killed, crash := ops[4], ops[5]
	if !strings.Contains(killed.Outcome(), "while the job ran") || !strings.Contains(strings.Join(killed.Check, "|"), "virsh -c qemu:///system blockjob a vda --info") {
		t.Errorf("killed: %q %q", killed.Outcome(), killed.Check)
	}
	if len(crash.Check) == 0 || !strings.Contains(crash.Check[0], "domstate b") {
		t.Errorf("crash checks %q", crash.Check)
	}
	// The same journal while the crashed begin's process still runs.
	alive := func(machine string, pid int, since time.Time) bool { return machine == "hv1" && pid == 4242 }
	for _, o := range FoldHistory(entries, alive) {
		if !o.Finished() && o.State != StateInProgress {
			t.Errorf("%s: %q while its virtchain runs", o.ID, o.State)
		}
	}
	if got := FilterHistory(ops, "", "b"); len(got) != 1 || got[0].ID != "crash" {
		t.Errorf("filter by domain: %+v", got)
	}
	if got := FilterHistory(ops, "qemu+ssh://x/system", ""); len(got) != 0 {
		t.Errorf("filter by host: %+v", got)
	}
}

func TestHistoryScript(t *testing.T) {
	entries := []JournalEntry{
		jbegin("1", "a", "", 0, ShellJoin([]string{"virsh", "snapshot-create-as", "--domain", "it's", "--name", "s\x1b1"})),
		EndEntry("1", jt0, nil),
		jbegin("2", "a", "", time.Second, "virsh save a /tmp/x"),
		EndEntry("2", jt0, errors.New("no\nspace")),
		jbegin("3", "a", "", 2*time.Second, "virsh broken\nrm -rf /"),
		EndEntry("3", jt0, nil),
	}
	entries[4].Summary = "evil\n`rm -rf /`"
	s := HistoryScript(FoldHistory(entries, nil))
	for _, want := range []string{"#!/bin/bash\n", "export LIBVIRT_DEFAULT_URI=qemu:///system\n",
		"\nvirsh snapshot-create-as --domain 'it'\\''s' --name $'s\\x1b1'\n", "\n# virsh save a /tmp/x\n", "# result: error: no?space\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "rm -rf") && !strings.HasPrefix(line, "#") {
			t.Errorf("a damaged entry runs: %q", line)
		}
		if strings.ContainsAny(line, "\x1b\r") {
			t.Errorf("control character in %q", line)
		}
	}
}

func TestJobActionPlan(t *testing.T) {
	cases := []struct {
		pivot bool
		bps   int64
		op    string
		virsh string
	}{
		{false, -1, OpJobAbort, "virsh blockjob 'my vm' vda --abort"},
		{true, -1, OpJobPivot, "virsh blockjob 'my vm' vda --pivot"},
		{false, 3 << 20, OpJobBandwidth, "virsh blockjob 'my vm' vda --bandwidth 3145728 --bytes"},
		{false, 0, OpJobBandwidth, "virsh blockjob 'my vm' vda --bandwidth 0"},
	}
	for _, c := range cases {
		p := JobActionPlan("my vm", "vda", c.pivot, c.bps)
		if p.Op != c.op || len(p.Virsh) != 1 || p.Virsh[0] != c.virsh || p.Domain != "my vm" || p.Target != "vda" || p.Summary == "" {
			t.Errorf("%+v: %+v", c, p)
		}
	}
}

func TestJobEndEntry(t *testing.T) {
	j := Job{Phase: PhaseCancelled, Cur: 10, Started: jt0}
	e := JobEndEntry("x", j, jt0.Add(1500*time.Millisecond))
	if e.Result != ResultCancelled || e.Bytes != 10 || e.Seconds != 1.5 || e.Event != JournalEnd {
		t.Errorf("%+v", e)
	}
	if e := JobEndEntry("x", Job{Phase: PhaseFailed}, jt0); e.Result != ResultError || e.Error == "" || e.Seconds != 0 {
		t.Errorf("failed: %+v", e)
	}
}

// BenchmarkFoldHistory10k folds a journal of 10000 operations (20000
// lines), as 'history' and the TUI's tab do on each read.
func BenchmarkFoldHistory10k(b *testing.B) {
	var data []byte
	for i := range 10000 {
		id := "op" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		e := jbegin(id, "vm"+string(rune('a'+i%20)), "vda", time.Duration(i)*time.Second, "virsh blockcommit --domain vm --path vda --wait")
		l1, _ := e.Line()
		l2, _ := EndEntry(id, jt0.Add(time.Duration(i)*time.Second), nil).Line()
		data = append(append(data, l1...), l2...)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		entries, _ := ParseJournal(data)
		if ops := FilterHistory(FoldHistory(entries, nil), "", "vma"); len(ops) == 0 {
			b.Fatal("none")
		}
	}
}

// An orphan's deletion is no domain's: its comment names none.
func TestVcbrkHistoryScriptNoDomain(t *testing.T) {
	img := OrphanImage{Host: "local", Path: "/var/tmp/vcbrk/o.qcow2", Format: "qcow2", Allocation: 4096}
	p := OrphanDeleteOne(img)
	if p.Domain != "" || len(p.Virsh) != 1 || p.Virsh[0] != "rm -- /var/tmp/vcbrk/o.qcow2" || !strings.Contains(p.Summary, img.Path) {
		t.Fatalf("plan %+v", p)
	}
	s := HistoryScript([]HistoryOp{{Op: p.Op, Summary: p.Summary, Virsh: p.Virsh, State: StateOK, Host: "qemu:///system"}})
	if strings.Contains(s, " on :") || !strings.Contains(s, " orphans-delete: delete orphan image /var/tmp/vcbrk/o.qcow2") {
		t.Fatalf("script:\n%s", s)
	}
}
