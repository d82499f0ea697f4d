package model

import (
	"path/filepath"
	"strings"
)

// FileChange is one file a plan creates, rewrites or deletes, and who does
// it. Tests compare a plan's list with the files that really changed.
type FileChange struct {
	Path   string `json:"path"`
	Change string `json:"change"` // created, rewritten, deleted
	By     string `json:"by"`     // libvirt or virtchain
	Why    string `json:"why,omitempty"`
}

// File changes.
const (
	FileCreated   = "created"
	FileRewritten = "rewritten"
	FileDeleted   = "deleted"
)

// EpochSuffix stands for the revert time libvirt puts in the names of the
// overlays its external revert creates (IMAGE.<epoch>, seconds).
const EpochSuffix = ".<epoch>"

// addFile records a change, in the order the plan makes it. A file the
// plan creates and later deletes is listed twice; a rewrite of a file it
// already created or rewrote is not listed again.
func (p *Plan) addFile(change, by, path, why string) {
	if path == "" {
		return
	}
	for _, fc := range p.Files {
		if fc.Path == path && (fc.Change == change || change == FileRewritten && fc.Change == FileCreated) {
			return
		}
	}
	p.Files = append(p.Files, FileChange{Path: path, Change: change, By: by, Why: why})
}

// libvirtRevertOverlay is the overlay libvirt's external revert creates on
// point: the point's name without its extension, then the revert time
// (measured on libvirt 11.3: base.qcow2 gives base.1796158348).
func libvirtRevertOverlay(point string) string {
	dir, base := filepath.Split(point)
	if i := strings.LastIndex(base, "."); i > 0 {
		base = base[:i]
	}
	return filepath.Join(dir, base+EpochSuffix)
}

// MatchesFile says whether a real path is the planned one, reading
// EpochSuffix as a run of digits.
func (fc FileChange) MatchesFile(path string) bool {
	stem, ok := strings.CutSuffix(fc.Path, EpochSuffix)
	if !ok {
		return fc.Path == path
	}
	rest, ok := strings.CutPrefix(path, stem+".")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// createFiles lists what a snapshot creation writes: new overlays and a
// memory file, or the images that take an internal snapshot.
func createFiles(p *SnapshotCreatePlan) {
	for _, d := range p.Disks {
		switch d.Snapshot {
		case "external":
			p.addFile(FileCreated, "libvirt", d.Overlay, "overlay of "+d.Target+" for snapshot "+p.Request.Name)
		case "internal":
			p.addFile(FileRewritten, "libvirt", d.Image, "internal snapshot "+p.Request.Name+" of "+d.Target+" stored inside")
		}
	}
	if p.Memory == MemoryExternal {
		p.addFile(FileCreated, "libvirt", p.MemoryFile, "memory of checkpoint "+p.Request.Name)
	}
}

// FileLines is the plan's file list as lines a person reads.
func (p *Plan) FileLines() []string {
	var out []string
	for _, fc := range p.Files {
		line := fc.Change + " by " + fc.By + ": " + fc.Path
		if fc.Why != "" {
			line += " (" + fc.Why + ")"
		}
		out = append(out, line)
	}
	return out
}
