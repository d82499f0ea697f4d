package model

import (
	"encoding/json"
	"time"
)

// JobPhase is where a block job is in its life.
type JobPhase string

// Job phases. Running and ready are live; the others are final.
const (
	PhaseRunning   JobPhase = "running"
	PhaseReady     JobPhase = "ready" // mirror in sync, waiting for a pivot or abort
	PhaseCompleted JobPhase = "completed"
	PhaseFailed    JobPhase = "failed"
	PhaseCancelled JobPhase = "cancelled"
)

// Live reports whether the job still occupies its disk.
func (p JobPhase) Live() bool { return p == PhaseRunning || p == PhaseReady }

// rateWindow is how far back Rate looks: long enough to smooth the steps
// QEMU reports progress in, short enough to follow a bandwidth change.
const rateWindow = 5 * time.Second

type jobSample struct {
	at  time.Time
	cur int64
}

// Job is one block job (or one offline qemu-img run) on one disk. It is a
// plain value: copies sent to the UI never change underneath it.
type Job struct {
	Domain string   `json:"domain"`
	Disk   string   `json:"disk"`
	Kind   JobKind  `json:"kind"`
	Phase  JobPhase `json:"phase"`
	// Cur and End are QEMU's progress counters (bytes, roughly). End grows
	// during an active commit while the guest writes.
	Cur int64 `json:"cur"`
	End int64 `json:"end"`
	// Bandwidth is the limit in bytes per second; 0 is no limit.
	Bandwidth int64 `json:"bandwidth"`
	// Top and Base name the range, when known (jobs found on the
	// connection only say their kind).
	Top  string `json:"top,omitempty"`
	Base string `json:"base,omitempty"`
	// Offline is set for merges of a shut-off domain: qemu-img runs, or,
	// with StartPaused, a block job in the domain started paused.
	Offline     bool `json:"offline,omitempty"`
	StartPaused bool `json:"start_paused,omitempty"`
	// AfterReady is what happens at READY (AfterReadyPivot, ...).
	AfterReady string `json:"after_ready,omitempty"`
	// WasReady is set once the job has reached READY.
	WasReady bool      `json:"was_ready,omitempty"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Error    string    `json:"error,omitempty"`

	frac    float64
	samples [16]jobSample
	n, head int
}

// Key identifies the disk a job runs on.
func (j Job) Key() string { return JobKey(j.Domain, j.Disk) }

// JobKey is the key of a job on domain's disk target.
func JobKey(domain, disk string) string { return domain + "/" + disk }

// Observe records a progress reading taken at the given time.
func (j *Job) Observe(cur, end int64, at time.Time) {
	if j.Started.IsZero() {
		j.Started = at
	}
	j.Cur, j.End, j.Updated = cur, end, at
	if end > 0 {
		f := float64(cur) / float64(end)
		if f > 1 {
			f = 1
		}
		// An active commit's end grows while the guest writes; the bar
		// holds its place instead of jumping back.
		if f > j.frac {
			j.frac = f
		}
	}
	// A reading with the same position as the last one at nearly the same
	// instant adds nothing.
	if j.n > 0 {
		last := j.samples[(j.head+j.n-1)%len(j.samples)]
		if at.Sub(last.at) < 50*time.Millisecond {
			j.samples[(j.head+j.n-1)%len(j.samples)] = jobSample{at, cur}
			return
		}
	}
	if j.n == len(j.samples) {
		j.head = (j.head + 1) % len(j.samples)
		j.n--
	}
	j.samples[(j.head+j.n)%len(j.samples)] = jobSample{at, cur}
	j.n++
}

// SetPhase moves the job to phase p at the given time.
func (j *Job) SetPhase(p JobPhase, at time.Time) {
	j.Phase, j.Updated = p, at
	switch p {
	case PhaseReady:
		j.WasReady = true
		j.frac = 1
	case PhaseCompleted:
		j.frac = 1
		if j.End > 0 {
			j.Cur = j.End
		}
	}
}

// Fraction is the share done, from 0 to 1. It never goes backwards.
func (j Job) Fraction() float64 { return j.frac }

// Rate is the copy speed in bytes per second over the last few seconds,
// or 0 when it is not known yet.
func (j Job) Rate() float64 {
	if j.n < 2 {
		return 0
	}
	last := j.samples[(j.head+j.n-1)%len(j.samples)]
	first := last
	for i := j.n - 2; i >= 0; i-- {
		s := j.samples[(j.head+i)%len(j.samples)]
		if last.at.Sub(s.at) > rateWindow {
			break
		}
		first = s
	}
	dt := last.at.Sub(first.at).Seconds()
	if dt <= 0 || last.cur < first.cur {
		return 0
	}
	return float64(last.cur-first.cur) / dt
}

// ETA is the time left at the current rate; ok is false when it cannot be
// told (no rate yet, or the job is not running).
func (j Job) ETA() (eta time.Duration, ok bool) {
	if j.Phase != PhaseRunning {
		return 0, false
	}
	r := j.Rate()
	if r <= 0 || j.End <= 0 {
		return 0, false
	}
	left := j.End - j.Cur
	if left < 0 {
		left = 0
	}
	return time.Duration(float64(left) / r * float64(time.Second)), true
}

// Succeeded reports whether a finished job did what was asked: completed,
// or an active commit cancelled at READY on purpose to keep the overlay.
func (j Job) Succeeded() bool {
	return j.Phase == PhaseCompleted ||
		(j.Phase == PhaseCancelled && j.WasReady && j.AfterReady == AfterReadyKeepOverlay)
}

// MarshalJSON adds the derived progress, rate and ETA, which `virtchain
// jobs --json` prints.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	out := struct {
		plain
		Progress   float64  `json:"progress"`
		Rate       float64  `json:"rate"`
		ETASeconds *float64 `json:"eta_seconds"`
	}{plain: plain(j), Progress: j.Fraction(), Rate: j.Rate()}
	if eta, ok := j.ETA(); ok {
		s := eta.Seconds()
		out.ETASeconds = &s
	}
	return json.Marshal(out)
}

// BandwidthText spells a job's limit for plans and tables: "unlimited"
// for none, else "10 MiB/s".
func BandwidthText(bps int64) string { return bandwidthText(bps, FormatBytes) }

// BandwidthTextShort is BandwidthText for dense columns: "10M/s".
func BandwidthTextShort(bps int64) string { return bandwidthText(bps, FormatBytesShort) }

func bandwidthText(bps int64, format func(int64) string) string {
	if bps <= 0 {
		return "unlimited"
	}
	return format(bps) + "/s"
}
