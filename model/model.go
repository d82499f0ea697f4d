// Package model is virtchain's pure domain: domains, disks, backing chains,
// snapshot trees, block jobs and plans, plus the rules that decide what an
// operation will do or must refuse. It does no I/O and imports only the
// standard library, so every rule here is unit-testable without a host.
//
// The JSON tags are a contract: `virtchain list|chain|snapshots --json`
// print these structs and other tools parse them.
package model

import (
	"strconv"
	"time"
)

// DomainState is libvirt's domain state, spelled as virsh prints it.
type DomainState string

// Domain states as virsh names them.
const (
	StateNoState     DomainState = "no state"
	StateRunning     DomainState = "running"
	StateBlocked     DomainState = "blocked"
	StatePaused      DomainState = "paused"
	StateShutdown    DomainState = "in shutdown"
	StateShutoff     DomainState = "shut off"
	StateCrashed     DomainState = "crashed"
	StatePMSuspended DomainState = "pmsuspended"
)

// Active reports whether a QEMU process exists for the domain, which is what
// decides between live XML and block jobs on one side, and qcow2 headers and
// qemu-img on the other.
func (s DomainState) Active() bool {
	switch s {
	case StateShutoff, StateCrashed, StateNoState, "":
		return false
	}
	return true
}

// Domain is one libvirt domain with its disks and snapshot tree.
type Domain struct {
	Name        string      `json:"name"`
	UUID        string      `json:"uuid"`
	State       DomainState `json:"state"`
	Persistent  bool        `json:"persistent"`
	ManagedSave bool        `json:"managed_save"`
	Autostart   bool        `json:"autostart"`
	Disks       []Disk      `json:"disks"`
	// Snapshots is the domain's snapshot tree, flattened in libvirt's
	// topological order (parents before children).
	Snapshots []Snapshot `json:"-"`
	// CurrentSnapshot names libvirt's current snapshot, or is empty.
	CurrentSnapshot string `json:"-"`
	// Checkpoints are the domain's libvirt checkpoints, oldest first
	// (chain --json prints them; see ApplyCheckpoints).
	Checkpoints []Checkpoint `json:"-"`
	// PointMarks are the destroyed points recorded in the domain's
	// metadata (see PointMark); Reconcile applies them to Snapshots.
	PointMarks []PointMark `json:"-"`
	// Problem is set when discovery of this domain failed partway; the
	// domain is still listed so one bad domain never hides the others.
	Problem string `json:"problem,omitempty"`
	// Host is empty for a domain of the connection an operation runs on,
	// else the name of the peer host it lives on: its paths are then
	// already in this host's terms (PeerDomains) and only the guards
	// read it.
	Host string `json:"-"`
	// Shared says, for a peer's domain, how each of its paths was taken
	// to be this host's file of that path (see PeerDomains).
	Shared map[string]string `json:"-"`
}

// Disk is one <disk> of a domain, with its backing chain.
type Disk struct {
	Target     string `json:"target"`
	Device     string `json:"device"`      // disk, cdrom, floppy, lun
	Bus        string `json:"bus"`         // virtio, sata, scsi, ...
	SourceType string `json:"source_type"` // file, block, network, volume, dir
	Source     string `json:"source"`
	Format     string `json:"format"`
	ReadOnly   bool   `json:"readonly"`
	Shareable  bool   `json:"shareable"`
	// Layers is the backing chain, the active layer first and the base last.
	Layers []Layer `json:"layers"`
}

// Layer is one image of a backing chain.
type Layer struct {
	// Index is libvirt's node id from the live XML (vda[N]). It is nil when
	// libvirt gives none, which is always the case for a shut-off domain.
	Index         *int   `json:"index"`
	Path          string `json:"path"`
	Format        string `json:"format"`
	VirtualSize   int64  `json:"virtual_size"`
	Allocation    int64  `json:"allocation"`
	BackingFile   string `json:"backing_file"` // the name as stored in the image
	BackingFormat string `json:"backing_format"`
	ClusterSize   int64  `json:"cluster_size,omitempty"`
	Dirty         bool   `json:"dirty,omitempty"`
	Corrupt       bool   `json:"corrupt,omitempty"`
	DataFile      string `json:"data_file,omitempty"`
	// CreatedBySnapshot names the external snapshot whose creation made this
	// layer (the snapshot's <disk><source file> is this path).
	CreatedBySnapshot string   `json:"created_by_snapshot"`
	InternalSnapshots []string `json:"internal_snapshots"`
	// Bitmaps are the image's persistent dirty bitmaps (see Bitmap).
	Bitmaps []Bitmap `json:"bitmaps"`
	// BitmapsProblem says why the bitmaps could not be read; the layer is
	// otherwise fine.
	BitmapsProblem string `json:"bitmaps_problem,omitempty"`
	// Problem is empty when the layer is fine, else a one-line reason:
	// a broken chain is data, not a failure.
	Problem string `json:"problem"`
}

// Layer problems, as shown to the user.
const (
	ProblemMissing       = "missing file"
	ProblemUnreadable    = "unreadable file"
	ProblemLoop          = "backing chain loop"
	ProblemTooDeep       = "chain deeper than 1000 layers"
	ProblemUnknownFormat = "unknown image format"
	ProblemPastEOF       = "header offset past end of file"
	ProblemNameTooLong   = "backing file name longer than 1023 bytes"
	// ProblemNotRegular: a FIFO, socket, character device or folder.
	ProblemNotRegular = "not a regular file or block device"
)

// MaxChainDepth is the deepest chain virtchain follows, as QEMU does.
const MaxChainDepth = 1000

// IndexString renders a layer's index as virsh does (vda[3]), or "" when
// libvirt gave no index.
func (l Layer) IndexString(target string) string {
	if l.Index == nil {
		return ""
	}
	return target + "[" + strconv.Itoa(*l.Index) + "]"
}

// Depth is the length of the disk's chain.
func (d Disk) Depth() int { return len(d.Layers) }

// Active is the disk's active layer, or nil for an empty chain.
func (d Disk) Active() *Layer {
	if len(d.Layers) == 0 {
		return nil
	}
	return &d.Layers[0]
}

// Pos is the position of path in the disk's chain (0 is the active layer),
// or -1 when no layer has that path.
func (d Disk) Pos(path string) int {
	for i, l := range d.Layers {
		if l.Path == path {
			return i
		}
	}
	return -1
}

// Broken reports whether any layer of the chain has a problem.
func (d Disk) Broken() bool {
	for _, l := range d.Layers {
		if l.Problem != "" {
			return true
		}
	}
	return false
}

// DeepestChain is the longest chain among the domain's disks.
func (d Domain) DeepestChain() int {
	n := 0
	for _, disk := range d.Disks {
		if disk.Depth() > n {
			n = disk.Depth()
		}
	}
	return n
}

// Disk returns the disk with the given target, or nil.
func (d *Domain) Disk(target string) *Disk {
	for i := range d.Disks {
		if d.Disks[i].Target == target {
			return &d.Disks[i]
		}
	}
	return nil
}

// SnapshotKind tells internal (inside qcow2) from external (overlay files).
type SnapshotKind string

// Snapshot kinds.
const (
	SnapshotInternal SnapshotKind = "internal"
	SnapshotExternal SnapshotKind = "external"
)

// MemoryKind says where a snapshot keeps guest memory.
type MemoryKind string

// Memory kinds.
const (
	MemoryNo       MemoryKind = "no"
	MemoryInternal MemoryKind = "internal"
	MemoryExternal MemoryKind = "external"
)

// Snapshot is one libvirt domain snapshot.
type Snapshot struct {
	Name        string         `json:"name"`
	Parent      string         `json:"parent"`
	Kind        SnapshotKind   `json:"kind"`
	Memory      MemoryKind     `json:"memory"`
	MemoryFile  string         `json:"memory_file"`
	State       string         `json:"state"`
	Created     time.Time      `json:"created"`
	Description string         `json:"description"`
	Disks       []SnapshotDisk `json:"disks"`
	// RevertDisks are the overlays libvirt's own external revert made for
	// a snapshot with children (<revertDisks>); its next revert away
	// deletes them.
	RevertDisks []SnapshotDisk `json:"revert_disks,omitempty"`
	Current     bool           `json:"-"`
	// Stale lists disks whose file no longer is in the domain's chain,
	// filled by Reconcile after a commit or pull (only on the line the
	// disks descend from: the current snapshot and its ancestors), and
	// disks whose point a merge wrote over (Destroyed), anywhere.
	Stale []string `json:"stale,omitempty"`
	// Destroyed are the marks of merges that wrote over this snapshot's
	// point; a marked disk is stale whatever the line.
	Destroyed []PointMark `json:"destroyed,omitempty"`
	// Branch is set by Reconcile for a snapshot off that line whose
	// overlays are not in the chain: a newer branch that a revert kept on
	// disk. It is never stale, and its files stay.
	Branch bool `json:"branch,omitempty"`
}

// SnapshotDisk is one <disk> of a snapshot.
type SnapshotDisk struct {
	Target string `json:"target"`
	Kind   string `json:"kind"` // internal, external, no, manual
	File   string `json:"file"`
	// Point is the image holding this disk's state at the snapshot point,
	// from the domain definition libvirt saved with the snapshot: the
	// backing image of an external snapshot's overlay, or the image an
	// internal snapshot lives in. Reverting to the snapshot reads it.
	Point string `json:"point,omitempty"`
	// PointBacking is Point's backing chain, nearest first: files the
	// point needs as well.
	PointBacking []string `json:"point_backing,omitempty"`
}

// Event says that something about a domain changed, from libvirt's event
// loop; the UI re-reads that domain. Kind is libvirt's event name.
type Event struct {
	Domain string `json:"domain"`
	Kind   string `json:"kind"`
	// Detail is what the user must be told, in words (a full filesystem).
	Detail string `json:"detail,omitempty"`
}
