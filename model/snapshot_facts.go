package model

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// This file holds what the snapshot and restore-point rules share: the
// host facts they read, and lookups of domains, snapshots and their points.
// Each operation has its own file: snapshot_create.go, snapshot_revert.go
// (with revert_keep.go), snapshot_delete.go and saverestore.go. Each
// builder returns a plan from model values and host facts only; libvirtx
// runs the plan it returns.

// ErrPlanChanged is returned when the host moved on between the plan a user
// confirmed and the moment it was to run: the operation plans again before
// it acts, and refuses when the fresh plan differs. Nothing was changed.
var ErrPlanChanged = errors.New("the domain changed since this plan was made (state, chain, snapshots or files); nothing was done: look at the new plan and try again")

// FileState is what the host says about a path.
type FileState int

// File states. FileUnknown is the answer over a remote connection, where
// virtchain cannot look: libvirt then has the last word.
const (
	FileUnknown FileState = iota
	FileMissing
	// FileExists is a regular file, or a symlink to one.
	FileExists
	// FileNotRegular is a FIFO, socket, character device or folder, a
	// symlink to one, or a symlink to nothing: libvirtd can block for good
	// opening a FIFO, so no rule lets libvirt near one.
	FileNotRegular
	// FileBlockDevice is a block device: a disk may live there, but virtchain
	// writes or restores no file of its own onto one.
	FileBlockDevice
	// FileRemoteDevice is a path under /dev on a remote host that no pool lists:
	// a device node of a kind the storage API does not tell. A disk may be
	// one; a file virtchain is handed may not.
	FileRemoteDevice
)

// AgentState is the state of a domain's QEMU guest agent channel.
type AgentState string

// Guest agent states, as libvirt's live XML spells them.
const (
	AgentNone         AgentState = ""             // no org.qemu.guest_agent.0 channel
	AgentDisconnected AgentState = "disconnected" // channel present, nothing answers
	AgentConnected    AgentState = "connected"
)

// StartMode says how a domain comes back after a revert or restore.
type StartMode string

// Start modes. StartDefault follows the snapshot or save image.
const (
	StartDefault StartMode = ""
	StartRunning StartMode = "running"
	StartPaused  StartMode = "paused"
)

// SnapshotFacts are what the snapshot rules need beyond the domain list.
// libvirtx gathers them from the host; tests fill them in by hand.
type SnapshotFacts struct {
	// Stat says whether a path exists and what it is; nil answers
	// FileUnknown.
	Stat func(path string) FileState
	// ExternalRevert is set when libvirt reverts external snapshots itself
	// (<externalSnapshot/> in the host capabilities, libvirt 9.9 and later).
	// That libvirt also deletes files the older one left: its revert
	// deletes the current snapshot's overlays, and deleting a checkpoint
	// deletes its memory file (measured on 11.3; 9.0 keeps both).
	ExternalRevert bool
	// Jobs are the block jobs known on the host.
	Jobs []Job
	// Agent is the guest agent state of the domain being snapshotted.
	Agent AgentState
	// Space is free space per filesystem and the domain's memory size.
	Space SpaceFacts
}

func (f SnapshotFacts) stat(path string) FileState {
	if f.Stat == nil || path == "" {
		return FileUnknown
	}
	return f.Stat(path)
}

// PointDisk is one disk of the domain definition libvirt saved with a
// snapshot: the image that holds the disk's state at the snapshot point.
// For an external snapshot it is the backing image of the overlay the
// snapshot created; for an internal one it is the image the snapshot lives in.
type PointDisk struct {
	Target string `json:"target"`
	Path   string `json:"path"`
	Format string `json:"format"`
}

func activePath(disk *Disk) string {
	if a := disk.Active(); a != nil && a.Path != "" {
		return a.Path
	}
	return disk.Source
}

// activeLayer is the disk's active layer, or a zero Layer (sizes unknown).
func activeLayer(disk *Disk) Layer {
	if a := disk.Active(); a != nil {
		return *a
	}
	return Layer{}
}

func activeFormat(disk *Disk) string {
	if a := disk.Active(); a != nil && a.Format != "" {
		return a.Format
	}
	return disk.Format
}

// snapDomain finds a domain by name.
func snapDomain(domains []Domain, name string) (*Domain, error) {
	for i := range domains {
		if domains[i].Name == name && domains[i].Host == "" {
			return &domains[i], nil
		}
	}
	return nil, NoDomain(name)
}

// snapFind finds a snapshot of d by name.
func snapFind(d *Domain, name string) (*Snapshot, error) {
	for i := range d.Snapshots {
		if d.Snapshots[i].Name == name {
			return &d.Snapshots[i], nil
		}
	}
	return nil, NoSnapshot(d.Name, name)
}

// snapChildren lists the direct children of a snapshot, in tree order.
func snapChildren(d *Domain, name string) []string {
	var out []string
	for _, s := range d.Snapshots {
		if s.Parent == name && s.Name != name {
			out = append(out, s.Name)
		}
	}
	return out
}

// snapDescendants lists every snapshot below name.
func snapDescendants(d *Domain, name string) []*Snapshot {
	var out []*Snapshot
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for i := range d.Snapshots {
			s := &d.Snapshots[i]
			if s.Parent == p && !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s)
				queue = append(queue, s.Name)
			}
		}
	}
	return out
}

// snapJobBusy refuses when any disk of the domain has a live block job.
func snapJobBusy(jobs []Job, d *Domain, what string) error {
	for _, j := range jobs {
		if j.Domain == d.Name && j.Phase.Live() {
			return Refuse(fmt.Sprintf("%s %s has a %s job running, so %s must wait", d.Name, j.Disk, j.Kind, what),
				"wait for it to finish, or stop it with virsh blockjob "+ShellQuote(d.Name)+" "+j.Disk+" --abort")
		}
	}
	return nil
}

// checkNewFile refuses a path virtchain is about to create when it is not
// absolute, is already used by a chain or snapshot, already exists, or sits
// in a missing folder. taken holds the files this plan already creates.
func checkNewFile(path, what string, refs Refs, f SnapshotFacts, taken map[string]string) error {
	if err := CheckInput(what+" path", path); err != nil {
		return err
	}
	if !filepath.IsAbs(path) {
		return NotAbsolute(what+" path", path)
	}
	path = filepath.Clean(path)
	if other, ok := taken[path]; ok {
		return Refuse(fmt.Sprintf("%s and %s would both be written to %s", other, what, path), "give each file its own path")
	}
	if users := refs.UsersExcept(path, nil); len(users) > 0 {
		return Refuse(fmt.Sprintf("%s %s is already used by %s", what, path, strings.Join(users, ", ")), "choose a new file name")
	}
	if err := refuseNotRegular(what, path, f, false); err != nil {
		return err
	}
	if f.stat(path) == FileExists {
		return Refuse(fmt.Sprintf("%s %s already exists", what, path), "choose a new file name: virtchain never overwrites a file")
	}
	if dir := filepath.Dir(path); f.stat(dir) == FileMissing {
		return Refuse(fmt.Sprintf("%s %s: folder %s does not exist", what, path, dir),
			"create it (mkdir -p "+ShellQuote(dir)+"; mode 0755 so QEMU can reach it) or choose another path")
	}
	taken[path] = what
	return nil
}

func snapPoint(points []PointDisk, target string) *PointDisk {
	for i := range points {
		if points[i].Target == target {
			return &points[i]
		}
	}
	return nil
}

// pointSize is the virtual size of the image at a snapshot point, from the
// disk's chain when it is there, else the active layer's.
func pointSize(disk *Disk, path string) int64 {
	if disk == nil || len(disk.Layers) == 0 {
		return 0
	}
	for _, l := range disk.Layers {
		if l.Path == path {
			return l.VirtualSize
		}
	}
	return disk.Layers[0].VirtualSize
}

// sortedTargets is the disk targets of a map in order, for stable plans.
func sortedTargets(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
