package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The journal remembers every change virtchain makes: an entry is
// appended before an operation starts and another when it ends, both with
// the operation's ID. A block job started without --wait has a third kind
// of entry in between ("running": libvirt took the job), one when its
// virtchain stops following it on purpose ("detached"), and its end is
// written by whichever virtchain sees the job end. An operation whose
// begin has no end was cut short (a crash, kill -9).

// JournalEvent is what a journal entry records about its operation.
type JournalEvent string

// Journal events, in the order an operation writes them.
const (
	JournalBegin   JournalEvent = "begin"
	JournalRunning JournalEvent = "running" // a block job libvirt started
	// JournalDetached: the virtchain that followed the job stopped
	// following it on purpose (started without --wait, the TUI quit).
	JournalDetached JournalEvent = "detached"
	JournalEnd      JournalEvent = "end"
)

// Results of an ended operation.
const (
	ResultOK        = "ok"
	ResultError     = "error"
	ResultCancelled = "cancelled"
)

// JournalEntry is one line of the journal. Begin entries carry what the
// operation is; running and end entries only their ID, time and outcome.
type JournalEntry struct {
	ID    string       `json:"id"`
	Event JournalEvent `json:"event"`
	Time  time.Time    `json:"time"`
	// Who and where: the user and process that wrote the entry, the
	// machine virtchain ran on and the libvirt URI it changed.
	User    string `json:"user,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Machine string `json:"machine,omitempty"`
	Host    string `json:"host,omitempty"`

	Op      string   `json:"op,omitempty"`
	Domain  string   `json:"domain,omitempty"`
	Target  string   `json:"target,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Virsh   []string `json:"virsh,omitempty"`

	// Result is ok, error or cancelled (end entries); Error its text.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	// Bytes moved and Seconds taken by a block job (end entries).
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
}

// BeginEntry is the begin entry of operation id running plan p on host.
func BeginEntry(id string, at time.Time, host string, p *Plan) JournalEntry {
	e := JournalEntry{ID: id, Event: JournalBegin, Time: at.UTC(), Host: host}
	if p != nil {
		e.Op, e.Domain, e.Target, e.Summary = p.Op, p.Domain, p.Target, p.Summary
		e.Virsh = append([]string(nil), p.Virsh...)
	}
	return e
}

// EndEntry is the end entry of operation id: ok when err is nil.
func EndEntry(id string, at time.Time, err error) JournalEntry {
	e := JournalEntry{ID: id, Event: JournalEnd, Time: at.UTC(), Result: ResultOK}
	if err != nil {
		e.Result, e.Error = ResultError, err.Error()
	}
	return e
}

// JobEndEntry is the end entry of the block job j, started as operation
// id: its phase as the result, the bytes it moved and how long it ran.
func JobEndEntry(id string, j Job, at time.Time) JournalEntry {
	e := JournalEntry{ID: id, Event: JournalEnd, Time: at.UTC(), Result: ResultOK, Error: j.Error, Bytes: j.Cur}
	switch j.Phase {
	case PhaseFailed:
		e.Result = ResultError
		if e.Error == "" {
			e.Error = "the job failed"
		}
	case PhaseCancelled:
		e.Result = ResultCancelled
	}
	if !j.Started.IsZero() && !at.Before(j.Started) {
		e.Seconds = at.Sub(j.Started).Round(time.Millisecond).Seconds()
	}
	return e
}

// Line is the entry as one journal line, newline included. Every string
// is JSON-escaped, so no name can split a line.
func (e JournalEntry) Line() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseJournal reads journal lines. A line that is not an entry (a torn
// last line, after the disk filled) is skipped and counted.
func ParseJournal(data []byte) (entries []JournalEntry, skipped int) {
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e JournalEntry
		if json.Unmarshal(line, &e) != nil || e.ID == "" || e.Event == "" {
			skipped++
			continue
		}
		entries = append(entries, e)
	}
	return entries, skipped
}

// OpState is where a journaled operation stands.
type OpState string

// Operation states. Started is a block job that libvirt took and whose
// end no virtchain saw (started without --wait, and no virtchain watched
// when it ended); interrupted is an operation whose virtchain stopped
// before it could say how it went.
const (
	StateOK          OpState = "ok"
	StateError       OpState = "error"
	StateCancelled   OpState = "cancelled"
	StateInProgress  OpState = "in progress"
	StateStarted     OpState = "started"
	StateInterrupted OpState = "interrupted"
)

// HistoryOp is one operation of the journal, its entries folded together.
type HistoryOp struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	User    string    `json:"user,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Machine string    `json:"machine,omitempty"`
	Host    string    `json:"host,omitempty"`
	Op      string    `json:"op"`
	Domain  string    `json:"domain"`
	Target  string    `json:"target,omitempty"`
	Summary string    `json:"summary,omitempty"`
	Virsh   []string  `json:"virsh"`
	State   OpState   `json:"state"`
	Error   string    `json:"error,omitempty"`
	// JobStarted is when libvirt took the block job, Ended when the
	// operation ended.
	JobStarted *time.Time `json:"job_started,omitempty"`
	// Detached is set when virtchain left the job running on purpose.
	Detached bool       `json:"detached,omitempty"`
	Ended    *time.Time `json:"ended,omitempty"`
	Bytes    int64      `json:"bytes,omitempty"`
	Seconds  float64    `json:"seconds,omitempty"`
	// Check says what to look at for an operation whose end is unknown.
	Check []string `json:"check,omitempty"`
}

// Finished reports whether the operation's end was recorded.
func (o HistoryOp) Finished() bool { return o.Ended != nil }

// FoldHistory turns journal entries into operations, oldest first. alive
// says whether the process that wrote a begin entry still runs (nil: no
// process is known to run), so an operation under way in another
// virtchain is not taken for an interrupted one. The first end of an
// operation wins: two virtchains may both see a job end.
func FoldHistory(entries []JournalEntry, alive func(machine string, pid int, since time.Time) bool) []HistoryOp {
	byID := map[string]*HistoryOp{}
	var order []*HistoryOp
	for _, e := range entries {
		o := byID[e.ID]
		if e.Event == JournalBegin {
			if o != nil {
				continue
			}
			o = &HistoryOp{ID: e.ID, Time: e.Time, User: e.User, PID: e.PID, Machine: e.Machine, Host: e.Host,
				Op: e.Op, Domain: e.Domain, Target: e.Target, Summary: e.Summary, Virsh: e.Virsh}
			byID[e.ID] = o
			order = append(order, o)
			continue
		}
		if o == nil || o.Ended != nil {
			continue // an end without its begin, or a second end
		}
		at := e.Time
		switch e.Event {
		case JournalRunning:
			o.JobStarted = &at
		case JournalDetached:
			o.Detached = true
		case JournalEnd:
			o.Ended, o.Error, o.Bytes, o.Seconds = &at, e.Error, e.Bytes, e.Seconds
			o.State = OpState(e.Result)
			if o.State != StateOK && o.State != StateCancelled {
				o.State = StateError
			}
		}
	}
	out := make([]HistoryOp, 0, len(order))
	for _, o := range order {
		if o.Virsh == nil {
			o.Virsh = []string{}
		}
		if o.Ended == nil {
			o.State = unended(*o, alive)
			o.Check = checksFor(*o)
		}
		out = append(out, *o)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// unended is the state of an operation without an end entry.
func unended(o HistoryOp, alive func(string, int, time.Time) bool) OpState {
	switch {
	case alive != nil && o.PID > 0 && alive(o.Machine, o.PID, o.Time):
		return StateInProgress
	case o.JobStarted != nil && o.Detached:
		return StateStarted
	}
	return StateInterrupted
}

// checksFor says what to look at to learn how an unended operation went.
func checksFor(o HistoryOp) []string {
	conn := ""
	if o.Host != "" {
		conn = " -c " + ShellQuote(o.Host)
	}
	d := ShellQuote(o.Domain)
	var out []string
	if o.Target != "" {
		t := ShellQuote(o.Target)
		out = append(out, "virtchain"+conn+" jobs", "virsh"+conn+" blockjob "+d+" "+t+" --info", "virtchain"+conn+" chain "+d+" "+t)
	} else {
		out = append(out, "virsh"+conn+" domstate "+d, "virtchain"+conn+" chain "+d)
	}
	if strings.HasPrefix(o.Op, "snapshot") || strings.HasPrefix(o.Op, "cleanup") {
		out = append(out, "virsh"+conn+" snapshot-list "+d+" --tree")
	}
	return out
}

// Outcome is the state in words, with what is known of the end.
func (o HistoryOp) Outcome() string {
	switch o.State {
	case StateError:
		return "error: " + o.Error
	case StateStarted:
		return "started: the job was left running; no virtchain saw its end"
	case StateInterrupted:
		if o.JobStarted != nil {
			return "interrupted: virtchain stopped while the job ran; the job may still run, or have ended"
		}
		return "interrupted: virtchain stopped before the end"
	case StateInProgress:
		return fmt.Sprintf("in progress (virtchain pid %d)", o.PID)
	case StateOK, StateCancelled:
		if o.Bytes > 0 || o.Seconds > 0 {
			return fmt.Sprintf("%s (%s in %s)", o.State, FormatBytes(o.Bytes), formatSeconds(o.Seconds))
		}
	}
	return string(o.State)
}

func formatSeconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

// FilterHistory keeps the operations on domain (all for ""), and on host
// when host is set.
func FilterHistory(ops []HistoryOp, host, domain string) []HistoryOp {
	out := []HistoryOp{}
	for _, o := range ops {
		if (domain == "" || o.Domain == domain) && (host == "" || o.Host == host) {
			out = append(out, o)
		}
	}
	return out
}

// HistoryScript is the operations' equivalent commands as a bash script
// an admin can read, or replay elsewhere. Only operations that ended ok
// are commands; the others are comments, so a replay does not repeat
// what failed. Each host's commands run after an export of its URI.
func HistoryScript(ops []HistoryOp) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# virtchain history: the equivalent commands, oldest first.\n")
	b.WriteString("# Read it before replaying it: paths and names are those of the machine it ran on.\nset -euo pipefail\n")
	host := ""
	for _, o := range ops {
		b.WriteString("\n")
		if o.Host != host && o.Host != "" {
			host = o.Host
			fmt.Fprintf(&b, "export LIBVIRT_DEFAULT_URI=%s\n", ShellQuote(host))
		}
		on := "" // an orphan's deletion is no domain's
		if o.Domain != "" {
			on = " on " + commentText(o.Domain)
		}
		fmt.Fprintf(&b, "# %s %s %s%s: %s\n", o.Time.UTC().Format(time.RFC3339), commentText(o.User), commentText(o.Op),
			on, commentText(o.Summary))
		fmt.Fprintf(&b, "# result: %s\n", commentText(o.Outcome()))
		for _, c := range o.Virsh {
			line := oneLine(c)
			if o.State != StateOK {
				line = "# " + line
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// commentText makes s safe in a comment: one line, no control characters.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// oneLine keeps a command on one line: the planners quote their words
// (ShellQuote writes control characters as $'\xHH'), so a newline can only
// come from a damaged journal, and is not run.
func oneLine(c string) string {
	if strings.ContainsAny(c, "\n\r") {
		return "# (not one command line) " + commentText(c)
	}
	return c
}

// Job actions, as journal operations.
const (
	OpJobAbort     = "job-abort"
	OpJobPivot     = "job-pivot"
	OpJobBandwidth = "job-bandwidth"
)

// JobActionPlan is what an abort (a pivot with pivot set) or, with
// bytesPerSec >= 0, a bandwidth change of the job on domain's disk does,
// for the journal: no planner stands before them.
func JobActionPlan(domain, disk string, pivot bool, bytesPerSec int64) *Plan {
	argv := []string{"virsh", "blockjob", domain, disk}
	p := &Plan{Op: OpJobAbort, Domain: domain, Target: disk, Summary: "abort the block job on " + disk}
	switch {
	case bytesPerSec > 0:
		p.Op, p.Summary = OpJobBandwidth, "limit the block job on "+disk+" to "+FormatBytes(bytesPerSec)+"/s"
		argv = append(argv, "--bandwidth", strconv.FormatInt(bytesPerSec, 10), "--bytes")
	case bytesPerSec == 0:
		p.Op, p.Summary = OpJobBandwidth, "lift the bandwidth limit of the block job on "+disk
		argv = append(argv, "--bandwidth", "0")
	case pivot:
		p.Op, p.Summary = OpJobPivot, "pivot the block job on "+disk+" to its new image"
		argv = append(argv, "--pivot")
	default:
		argv = append(argv, "--abort")
	}
	p.Virsh = []string{ShellJoin(argv)}
	return p
}
