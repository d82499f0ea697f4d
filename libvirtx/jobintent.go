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

// intentDir is $XDG_STATE_HOME/virtchain/jobs, /var/lib/virtchain/jobs for
// root, or ~/.local/state/virtchain/jobs.
func intentDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "virtchain", "jobs")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/virtchain/jobs"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "virtchain", "jobs")
	}
	return ""
}

func intentPath(uuid, disk string) string {
	dir := intentDir()
	if dir == "" || uuid == "" || disk == "" || strings.ContainsAny(disk, `/\`) {
		return ""
	}
	return filepath.Join(dir, uuid+"_"+disk+".json")
}

// saveIntent records the READY action of job j running on dom. It is best
// effort: without the file only a re-attach loses the action.
func saveIntent(dom *libvirt.Domain, j model.Job) string {
	if j.Offline || j.Kind != model.JobActiveCommit || j.Base == "" ||
		(j.AfterReady != model.AfterReadyPivot && j.AfterReady != model.AfterReadyKeepOverlay) {
		return ""
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return ""
	}
	path := intentPath(uuid, j.Disk)
	if path == "" {
		return ""
	}
	data, err := json.Marshal(jobIntent{Domain: j.Domain, UUID: uuid, Disk: j.Disk, Kind: j.Kind,
		Top: j.Top, Base: j.Base, AfterReady: j.AfterReady, Started: time.Now()})
	if err != nil || os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return ""
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, data, 0o644) != nil || os.Rename(tmp, path) != nil {
		_ = os.Remove(tmp)
		return ""
	}
	return path
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
	path = intentPath(uuid, j.Disk)
	if path == "" {
		return "", ""
	}
	data, err := os.ReadFile(path)
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
	dir := intentDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := e.Info(); err != nil || !fi.ModTime().Before(scanned) {
			continue
		}
		var in jobIntent
		if data, err := os.ReadFile(path); err != nil || json.Unmarshal(data, &in) != nil {
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
