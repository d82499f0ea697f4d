package libvirtx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// What the user asked to happen at READY (pivot, or abort keeping the
// overlay) lives only in the virtchain that started the job: libvirt keeps
// no such wish. So it is also written to a small file, one per domain UUID
// and disk, when the job starts, and removed when the job ends. A virtchain
// started later (the TUI, 'virtchain jobs --wait') reads it when it finds
// the job running and carries the action out.

// jobIntent is one such file.
type jobIntent struct {
	Domain     string        `json:"domain"`
	UUID       string        `json:"uuid"`
	Disk       string        `json:"disk"`
	Kind       model.JobKind `json:"kind"`
	Top        string        `json:"top"`
	Base       string        `json:"base"`
	AfterReady string        `json:"after_ready"`
	Started    time.Time     `json:"started"`
}

// intentName is the file of a job on one disk of the domain with uuid.
func intentName(uuid, disk string) string {
	if uuid == "" || disk == "" || strings.ContainsAny(disk, `/\`) || strings.HasPrefix(disk, ".") {
		return ""
	}
	return uuid + "_" + disk + ".json"
}

// wantsIntent reports whether job j has a READY action to keep.
func wantsIntent(j model.Job) bool {
	return !j.Offline && j.Kind == model.JobActiveCommit && j.Base != "" &&
		(j.AfterReady == model.AfterReadyPivot || j.AfterReady == model.AfterReadyKeepOverlay)
}

// jobRecords is what virtchain wrote about a job before starting it.
type jobRecords struct {
	intent *stagedIntent
	left   string
}

// recordJob writes the record of the files bp takes out of the chain and
// stages the job's READY intent. An error means the job must not start.
func (c *Conn) recordJob(bp *model.BlockPlan, j model.Job) (*jobRecords, error) {
	dom, err := c.lookupDomain(bp.Domain)
	if err != nil {
		return nil, err
	}
	uuid, err := dom.GetUUIDString()
	_ = dom.Free()
	if err != nil {
		return nil, &LibvirtError{Op: "read the UUID of " + bp.Domain, Err: err}
	}
	rec := &jobRecords{}
	if c.local && len(bp.LeavingChain) > 0 {
		lr := leftRecord{Domain: bp.Domain, UUID: uuid, Disk: bp.Target, Kind: bp.Kind, Started: time.Now()}
		for _, p := range bp.LeavingChain {
			lr.Files = append(lr.Files, model.LeftFile{Path: filepath.Clean(p), ID: identify(p), Job: string(bp.Kind) + " on " + bp.Target})
		}
		if rec.left, err = writeLeftRecord(lr); err != nil {
			return nil, err
		}
	}
	if rec.intent, err = stageIntent(uuid, j); err != nil {
		rec.notStarted()
		return nil, err
	}
	return rec, nil
}

// started puts the intent in place once the job exists (so a sweep never
// takes it for a leftover) and returns its path.
func (r *jobRecords) started() string { return r.intent.commit() }

// notStarted removes what was written for a job that did not start.
func (r *jobRecords) notStarted() {
	r.intent.abandon()
	if r.left != "" {
		_ = os.Remove(r.left)
	}
}

// stagedIntent is an intent written to a temporary file before its job
// starts: a job whose READY action cannot be kept safely does not start.
// Once the job exists, commit renames it into place.
type stagedIntent struct{ tmp, path string }

// stageIntent writes the READY action of job j, about to start on the
// domain with uuid. It returns nil (and no error) when j has none.
func stageIntent(uuid string, j model.Job) (*stagedIntent, error) {
	if !wantsIntent(j) {
		return nil, nil
	}
	name := intentName(uuid, j.Disk)
	if name == "" {
		return nil, model.Refuse("cannot name the intent file of "+j.Domain+" "+j.Disk, "start the job with virsh and pivot it with 'virtchain abort DOMAIN TARGET --pivot'")
	}
	dir, err := stateDir("jobs")
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(jobIntent{Domain: j.Domain, UUID: uuid, Disk: j.Disk, Kind: j.Kind,
		Top: j.Top, Base: j.Base, AfterReady: j.AfterReady, Started: time.Now()})
	if err != nil {
		return nil, err
	}
	tmp, err := stageStateFile(dir, name, data)
	if err != nil {
		return nil, err
	}
	return &stagedIntent{tmp: tmp, path: filepath.Join(dir, name)}, nil
}

// commit puts the staged intent in place and returns its path ("" when
// there is none or it failed: then only a re-attach loses the action).
func (s *stagedIntent) commit() string {
	if s == nil || commitStateFile(s.tmp, s.path) != nil {
		return ""
	}
	return s.path
}

// abandon removes the staged intent of a job that did not start.
func (s *stagedIntent) abandon() {
	if s != nil {
		_ = os.Remove(s.tmp)
	}
}

// saveIntent records the READY action of job j, already running on dom
// (a pivot asked for later). It is best effort: the job runs anyway, and
// without the file only a re-attach loses the action.
func saveIntent(dom *libvirt.Domain, j model.Job) string {
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return ""
	}
	s, err := stageIntent(uuid, j)
	if err != nil {
		return ""
	}
	return s.commit()
}

// loadIntent returns the READY action recorded for the job j found running
// on dom, and the file's path. A file that does not describe this job (its
// base is not the image the mirror writes into) is left behind by a job
// that ended while no virtchain watched: it is removed.
func loadIntent(dom *libvirt.Domain, j model.Job) (afterReady, path string) {
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return "", ""
	}
	dir, err := stateDir("jobs")
	name := intentName(uuid, j.Disk)
	if err != nil || name == "" {
		return "", ""
	}
	path = filepath.Join(dir, name)
	data, err := readStateFile(path)
	if err != nil {
		return "", ""
	}
	var in jobIntent
	if json.Unmarshal(data, &in) != nil || in.UUID != uuid || in.Disk != j.Disk ||
		in.Kind != j.Kind || j.Base == "" || in.Base != j.Base {
		_ = os.Remove(path)
		return "", ""
	}
	return in.AfterReady, path
}

// dropIntent removes a job's file once it has ended.
func dropIntent(path string) {
	if path != "" {
		_ = os.Remove(path)
	}
}

// sweepIntents removes the files of jobs that ended while no virtchain
// watched: the domain is on this connection and has no job on that disk
// (live holds the keys of the jobs running now). Files written after the
// scan began belong to jobs it may have missed, and stay.
func (c *Conn) sweepIntents(live map[string]bool, scanned time.Time) {
	dir, err := stateDir("jobs")
	if err != nil {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := e.Info(); err != nil || !fi.ModTime().Before(scanned) {
			continue
		}
		var in jobIntent
		if data, err := readStateFile(path); err != nil || json.Unmarshal(data, &in) != nil {
			continue
		}
		dom, err := c.virt.LookupDomainByUUIDString(in.UUID)
		if err != nil {
			continue // another host's domain, or one undefined meanwhile
		}
		name, err := dom.GetName()
		_ = dom.Free()
		if err == nil && !live[model.JobKey(name, in.Disk)] {
			_ = os.Remove(path)
		}
	}
}
