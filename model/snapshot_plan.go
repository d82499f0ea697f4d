package model

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// This file holds the rules for snapshots and restore points: what a
// create, revert, delete, save, restore, managed save or start will do, or
// why it must be refused. Each builder returns a plan from model values and
// host facts only; libvirtx runs the plan it returns.

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

// CheckSnapshotName applies libvirt's rules for a snapshot name, so a form
// can say no before anything runs.
func CheckSnapshotName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Refuse("empty snapshot name", "give the snapshot a name such as fresh")
	case CheckInput("snapshot name", name) != nil:
		return CheckInput("snapshot name", name)
	case strings.Contains(name, "/"):
		return Refuse(fmt.Sprintf("invalid snapshot name %q: libvirt does not allow '/' in a name", name), "choose a name without '/'")
	case strings.HasPrefix(name, "."):
		return Refuse(fmt.Sprintf("invalid snapshot name %q: libvirt does not allow a name starting with '.'", name), "choose a name that starts with a letter or digit")
	}
	return nil
}

// DefaultOverlayPath is where an external snapshot's overlay for a disk
// goes unless the user says otherwise: next to the disk's active layer.
func DefaultOverlayPath(d *Domain, disk *Disk, snapshot string) string {
	return filepath.Join(filepath.Dir(activePath(disk)), d.Name+"_"+snapshot+"."+disk.Target+".qcow2")
}

// DefaultMemoryPath is where an external checkpoint's memory goes unless
// the user says otherwise: next to the first snapshotted disk's active layer.
func DefaultMemoryPath(d *Domain, disk *Disk, snapshot string) string {
	return filepath.Join(filepath.Dir(activePath(disk)), d.Name+"_"+snapshot+".mem")
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
		if domains[i].Name == name {
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

// SnapshotCreateRequest is a user's intent to create a snapshot.
type SnapshotCreateRequest struct {
	Domain      string `json:"domain"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// External makes overlays (and a memory file for a checkpoint) instead
	// of internal snapshots inside the qcow2 images.
	External bool `json:"external"`
	// DiskOnly makes an external snapshot without memory. An external
	// snapshot of a shut-off domain is always disk-only.
	DiskOnly bool `json:"disk_only,omitempty"`
	// MemoryFile names a checkpoint's memory file; empty picks the default.
	MemoryFile string `json:"memory_file,omitempty"`
	// Files maps a disk target to its overlay path; a disk not named gets
	// DefaultOverlayPath.
	Files map[string]string `json:"files,omitempty"`
	// Quiesce freezes the guest's filesystems through the guest agent.
	Quiesce bool `json:"quiesce,omitempty"`
}

// SnapshotDiskSpec is what happens to one disk in a snapshot.
type SnapshotDiskSpec struct {
	Target string `json:"target"`
	// Snapshot is libvirt's disk snapshot mode: internal, external or no.
	Snapshot string `json:"snapshot"`
	// Image is the disk's active layer now: it holds an internal snapshot,
	// or becomes the backing image of the new overlay.
	Image       string `json:"image,omitempty"`
	ImageFormat string `json:"image_format,omitempty"`
	// Overlay is the new overlay of an external snapshot.
	Overlay string `json:"overlay,omitempty"`
	// Reason says why a disk is left out (Snapshot is "no").
	Reason string `json:"reason,omitempty"`
}

// SnapshotCreatePlan is a snapshot creation resolved against the domain:
// the Plan the user sees plus what libvirtx needs to run it.
type SnapshotCreatePlan struct {
	Plan
	Request    SnapshotCreateRequest `json:"request"`
	Kind       SnapshotKind          `json:"kind"`
	Memory     MemoryKind            `json:"memory"`
	MemoryFile string                `json:"memory_file,omitempty"`
	DiskOnly   bool                  `json:"disk_only"`
	Quiesce    bool                  `json:"quiesce,omitempty"`
	Disks      []SnapshotDiskSpec    `json:"disks"`
}

// leftOutReason says why a disk cannot get an external snapshot, or "".
func leftOutReason(disk *Disk) string {
	switch {
	case disk.Source == "" && disk.Active() == nil:
		return "no media"
	case disk.Device == "cdrom" || disk.Device == "floppy":
		return "readonly (" + disk.Device + ")"
	case disk.ReadOnly:
		return "readonly"
	case disk.Shareable:
		return "shareable"
	case disk.SourceType != "" && disk.SourceType != "file":
		return "not file-backed (" + disk.SourceType + ")"
	}
	return ""
}

// LeftOutReason says why a disk gets no external snapshot (readonly,
// shareable, not file-backed, no media), or "" when it gets an overlay.
// The TUI's form offers overlay paths only for the disks that get one.
func LeftOutReason(disk *Disk) string { return leftOutReason(disk) }

// PlanSnapshotCreate resolves a snapshot creation, or refuses it.
func PlanSnapshotCreate(domains []Domain, req SnapshotCreateRequest, f SnapshotFacts) (*SnapshotCreatePlan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	if err := CheckSnapshotName(req.Name); err != nil {
		return nil, err
	}
	if err := CheckText("description", req.Description); err != nil {
		return nil, err
	}
	for _, s := range d.Snapshots {
		if s.Name == req.Name {
			return nil, Refuse(fmt.Sprintf("%s already has a snapshot named %q", d.Name, req.Name), "choose another name, or delete that snapshot first")
		}
	}
	if err := snapJobBusy(f.Jobs, d, "a snapshot"); err != nil {
		return nil, err
	}
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	for _, t := range sortedTargets(req.Files) {
		if d.Disk(t) == nil {
			return nil, NoDisk(d, t)
		}
	}
	p := &SnapshotCreatePlan{Request: req}
	p.Op, p.Domain = "snapshot-create", d.Name
	if req.External {
		err = planExternalCreate(d, req, f, BuildRefs(domains), p)
	} else {
		err = planInternalCreate(d, req, p)
	}
	if err != nil {
		return nil, err
	}
	parent := "it has no parent"
	if d.CurrentSnapshot != "" {
		parent = "child of " + d.CurrentSnapshot
	}
	p.Steps = append(p.Steps, fmt.Sprintf("snapshot %s becomes the current snapshot (%s)", req.Name, parent))
	p.Virsh = []string{createCommand(d, p)}
	createFiles(p)
	if err := CheckSpace(&p.Plan, f.Space); err != nil {
		return nil, err
	}
	return p, nil
}

func planInternalCreate(d *Domain, req SnapshotCreateRequest, p *SnapshotCreatePlan) error {
	switch {
	case len(req.Files) > 0:
		return Refuse("--file names overlays, which only external snapshots make", "add --external, or drop --file")
	case req.MemoryFile != "":
		return Refuse("--memory-file is for external checkpoints", "add --external, or drop --memory-file")
	case req.DiskOnly:
		return Refuse("--disk-only goes with --external", "add --external, or drop --disk-only")
	case req.Quiesce:
		return Refuse("--quiesce needs an external disk-only snapshot", "use --external --disk-only --quiesce")
	}
	active := d.State.Active()
	p.Kind, p.Memory = SnapshotInternal, MemoryNo
	if active {
		p.Memory = MemoryInternal
	}
	n := 0
	for i := range d.Disks {
		disk := &d.Disks[i]
		spec := SnapshotDiskSpec{Target: disk.Target, Image: activePath(disk), ImageFormat: activeFormat(disk)}
		switch r := leftOutReason(disk); {
		case r == "no media" || strings.HasPrefix(r, "readonly"):
			spec.Snapshot, spec.Reason = "no", r
			p.Steps = append(p.Steps, fmt.Sprintf("%s: left out (%s)", disk.Target, r))
		case spec.ImageFormat != "qcow2":
			return RefuseDo(fmt.Sprintf("%s %s of %s is %s, and internal snapshots live inside qcow2 images", disk.Target, spec.Image, d.Name, OrRaw(spec.ImageFormat)),
				Words("make an external snapshot instead ("), Do(DoExternal), Words("), or convert the image with qemu-img convert -O qcow2"))
		case !active && disk.SourceType != "" && disk.SourceType != "file":
			return RefuseDo(fmt.Sprintf("%s of %s is a %s disk, and libvirt makes internal snapshots of a shut-off domain only on files", disk.Target, d.Name, disk.SourceType),
				Words("start the domain first, or make an external snapshot ("), Do(DoExternal), Words(")"))
		default:
			spec.Snapshot = "internal"
			n++
			fix := "make an external snapshot with its overlay on another filesystem (--external --file " + disk.Target + "=PATH)"
			if active && n == 1 {
				// savevm writes the memory into the first image.
				p.addMemoryWrite(spec.Image, internalSnapshotMetadata(activeLayer(disk)), "internal snapshot "+req.Name+" with memory in "+filepath.Base(spec.Image), fix)
			} else {
				p.addWrite(spec.Image, internalSnapshotMetadata(activeLayer(disk)), "internal snapshot "+req.Name+" in "+filepath.Base(spec.Image), fix)
			}
			p.Steps = append(p.Steps, fmt.Sprintf("%s: store the disk state as internal snapshot %s inside %s", disk.Target, req.Name, spec.Image))
		}
		p.Disks = append(p.Disks, spec)
	}
	if n == 0 {
		return RefuseDo(fmt.Sprintf("%s has no writable qcow2 disk to hold an internal snapshot", d.Name),
			Words("make an external snapshot instead ("), Do(DoExternal), Words(")"))
	}
	if active {
		p.Summary = fmt.Sprintf("internal snapshot %s of %s: disks, memory and device state inside the qcow2 images", req.Name, d.Name)
		p.Steps = append([]string{fmt.Sprintf("pause %s while QEMU writes its memory and device state into %s (savevm), then let it run on", d.Name, p.Disks[firstSnapshotted(p.Disks)].Image)}, p.Steps...)
	} else {
		p.Summary = fmt.Sprintf("internal snapshot %s of shut-off %s: disk state inside the qcow2 images", req.Name, d.Name)
	}
	p.Kept = append(p.Kept, "every image stays where it is: an internal snapshot adds no file")
	return nil
}

func firstSnapshotted(disks []SnapshotDiskSpec) int {
	for i, s := range disks {
		if s.Snapshot != "no" {
			return i
		}
	}
	return 0
}

func planExternalCreate(d *Domain, req SnapshotCreateRequest, f SnapshotFacts, refs Refs, p *SnapshotCreatePlan) error {
	active := d.State.Active()
	diskOnly := req.DiskOnly || !active
	switch {
	case req.DiskOnly && req.MemoryFile != "":
		return Refuse("--disk-only and --memory-file contradict each other", "drop --disk-only for a checkpoint with memory, or drop --memory-file")
	case !active && req.MemoryFile != "":
		return Refuse(fmt.Sprintf("%s is shut off, so there is no memory to put in %s", d.Name, req.MemoryFile), "start it first, or drop --memory-file for a disk-only snapshot")
	case req.Quiesce && !active:
		return RefuseDo(fmt.Sprintf("%s is shut off, so there is nothing to quiesce", d.Name), Do(DoDropQuiesce))
	case req.Quiesce && !diskOnly:
		return RefuseDo("libvirt quiesces only disk-only snapshots", Words("add --disk-only, or "), Do(DoDropQuiesce))
	case req.Quiesce && f.Agent == AgentNone:
		return RefuseDo(fmt.Sprintf("%s has no guest agent channel (org.qemu.guest_agent.0), so it cannot be quiesced", d.Name),
			Words("add the channel and run qemu-guest-agent in the guest, or "), Do(DoDropQuiesce))
	case req.Quiesce && f.Agent != AgentConnected:
		return RefuseDo(fmt.Sprintf("the guest agent of %s is not connected, so it cannot be quiesced", d.Name),
			Words("start qemu-guest-agent in the guest, or "), Do(DoDropQuiesce))
	}
	p.Kind, p.DiskOnly, p.Quiesce = SnapshotExternal, diskOnly, req.Quiesce
	p.Memory = MemoryNo
	taken := map[string]string{}
	var first *Disk
	for i := range d.Disks {
		disk := &d.Disks[i]
		spec := SnapshotDiskSpec{Target: disk.Target, Image: activePath(disk), ImageFormat: activeFormat(disk)}
		if r := leftOutReason(disk); r != "" {
			if _, named := req.Files[disk.Target]; named {
				return Refuse(fmt.Sprintf("%s of %s is left out of external snapshots: %s", disk.Target, d.Name, r), "drop --file "+disk.Target+"=...")
			}
			spec.Snapshot, spec.Reason = "no", r
			p.Disks = append(p.Disks, spec)
			p.Steps = append(p.Steps, fmt.Sprintf("%s: left out (%s)", disk.Target, r))
			if r == "shareable" || strings.HasPrefix(r, "not file-backed") {
				p.Warn(Words(fmt.Sprintf("%s is left out (%s): its data is not part of snapshot %s", disk.Target, r, req.Name)))
			}
			continue
		}
		spec.Snapshot = "external"
		spec.Overlay = req.Files[disk.Target]
		if spec.Overlay == "" {
			spec.Overlay = DefaultOverlayPath(d, disk, req.Name)
		}
		if err := checkNewFile(spec.Overlay, "overlay for "+disk.Target, refs, f, taken); err != nil {
			return err
		}
		spec.Overlay = filepath.Clean(spec.Overlay)
		p.addWrite(spec.Overlay, OverlayMetadata(activeLayer(disk).VirtualSize), "overlay "+filepath.Base(spec.Overlay),
			"put it on another filesystem (--file "+disk.Target+"=PATH)")
		if first == nil {
			first = disk
		}
		p.Disks = append(p.Disks, spec)
		p.Steps = append(p.Steps, fmt.Sprintf("%s: create overlay %s on top of %s, which keeps the snapshot point and is no longer written; %s then writes the overlay",
			disk.Target, spec.Overlay, spec.Image, disk.Target))
		p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays in the chain, below the new overlay", spec.Image, disk.Target))
	}
	if first == nil {
		return Refuse(fmt.Sprintf("no disk of %s can have an external snapshot (readonly, shareable or not file-backed)", d.Name), "")
	}
	if !diskOnly {
		p.Memory = MemoryExternal
		p.MemoryFile = req.MemoryFile
		if p.MemoryFile == "" {
			p.MemoryFile = DefaultMemoryPath(d, first, req.Name)
		}
		if err := checkNewFile(p.MemoryFile, "memory file", refs, f, taken); err != nil {
			return err
		}
		p.MemoryFile = filepath.Clean(p.MemoryFile)
		p.addMemoryWrite(p.MemoryFile, 0, "memory file "+filepath.Base(p.MemoryFile), "put it on another filesystem (--memory-file PATH)")
		p.Steps = append([]string{fmt.Sprintf("pause %s and write its memory and device state to %s", d.Name, p.MemoryFile)}, p.Steps...)
		p.Steps = append(p.Steps, "let "+d.Name+" run on")
		p.Summary = fmt.Sprintf("external checkpoint %s of %s: memory to a file, a new overlay on every disk", req.Name, d.Name)
	} else {
		if req.Quiesce {
			p.Steps = append([]string{"freeze the guest's filesystems through the guest agent"}, p.Steps...)
			p.Steps = append(p.Steps, "thaw the guest's filesystems")
		}
		p.Summary = fmt.Sprintf("external disk-only snapshot %s of %s: a new overlay on every disk", req.Name, d.Name)
		if active && !req.Quiesce {
			p.Warn(Words("the guest is not quiesced: the snapshot point is crash-consistent, like pulling the power plug"))
		}
	}
	if n := len(p.Disks) - countLeftOut(p.Disks); n > 1 {
		p.Steps = append(p.Steps, fmt.Sprintf("all %d disks switch at once (atomic): if one overlay fails, no disk changes", n))
	}
	return nil
}

func countLeftOut(disks []SnapshotDiskSpec) int {
	n := 0
	for _, s := range disks {
		if s.Snapshot == "no" {
			n++
		}
	}
	return n
}

// virshDiskspec escapes a value for a virsh --diskspec or --memspec field,
// where a comma is written twice.
func virshDiskspec(s string) string { return strings.ReplaceAll(s, ",", ",,") }

func createCommand(d *Domain, p *SnapshotCreatePlan) string {
	argv := []string{"virsh", "snapshot-create-as", "--domain", d.Name, "--name", p.Request.Name}
	if p.Request.Description != "" {
		argv = append(argv, "--description", p.Request.Description)
	}
	if p.Kind == SnapshotExternal {
		if p.DiskOnly {
			argv = append(argv, "--disk-only")
		}
		argv = append(argv, "--atomic")
		if p.Quiesce {
			argv = append(argv, "--quiesce")
		}
		if p.MemoryFile != "" {
			argv = append(argv, "--memspec", "file="+virshDiskspec(p.MemoryFile)+",snapshot=external")
		}
		for _, s := range p.Disks {
			spec := s.Target + ",snapshot=" + s.Snapshot
			if s.Overlay != "" {
				spec += ",file=" + virshDiskspec(s.Overlay)
			}
			argv = append(argv, "--diskspec", spec)
		}
	} else {
		argv = append(argv, "--atomic")
	}
	return ShellJoin(argv)
}

// RevertMethod says who reverts a snapshot.
type RevertMethod string

// Revert methods.
const (
	// RevertLibvirt is virDomainRevertToSnapshot: every internal snapshot,
	// and external ones when libvirt advertises <externalSnapshot/>.
	RevertLibvirt RevertMethod = "libvirt"
	// RevertVirtchain is virtchain's own external revert for libvirt
	// before 9.9: new overlays on the snapshot point, a redefined domain,
	// a memory restore for a checkpoint, the snapshot made current.
	RevertVirtchain RevertMethod = "virtchain"
)

// SnapshotRevertRequest is a user's intent to revert to a snapshot.
type SnapshotRevertRequest struct {
	Domain string    `json:"domain"`
	Name   string    `json:"name"`
	Start  StartMode `json:"start,omitempty"`
	Force  bool      `json:"force,omitempty"`
	// DiscardCurrent skips the snapshot of the current state a revert
	// takes first (KeepSnapshotName), so that state is lost.
	DiscardCurrent bool `json:"discard_current,omitempty"`
}

// RevertOverlay is one disk of virtchain's own external revert: a new
// overlay on top of the image that holds the snapshot point.
type RevertOverlay struct {
	Target      string `json:"target"`
	Point       string `json:"point"`
	PointFormat string `json:"point_format"`
	Overlay     string `json:"overlay"`
}

// SnapshotRevertPlan is a revert resolved against the domain.
type SnapshotRevertPlan struct {
	Plan
	Request  SnapshotRevertRequest `json:"request"`
	Snapshot Snapshot              `json:"-"`
	Method   RevertMethod          `json:"method"`
	// Start is how the domain ends up: running, paused, or StartDefault
	// for shut off.
	Start StartMode `json:"start"`
	// StopFirst: virtchain's revert destroys the active domain first.
	StopFirst bool            `json:"stop_first,omitempty"`
	Overlays  []RevertOverlay `json:"overlays,omitempty"`
	// MemoryFile is restored for a checkpoint (virtchain's revert).
	MemoryFile string `json:"memory_file,omitempty"`
	// Keep is the snapshot of the current state taken before the revert,
	// unless the request says DiscardCurrent.
	Keep *SnapshotCreatePlan `json:"keep,omitempty"`
}

func snapPoint(points []PointDisk, target string) *PointDisk {
	for i := range points {
		if points[i].Target == target {
			return &points[i]
		}
	}
	return nil
}

// snapshotEndState is how a revert leaves the domain when the user does
// not choose: as the snapshot was, shut off for a disk-only one.
func snapshotEndState(s *Snapshot, req StartMode) StartMode {
	if req != StartDefault {
		return req
	}
	switch s.State {
	case "running":
		return StartRunning
	case "paused":
		return StartPaused
	}
	return StartDefault
}

func startWords(m StartMode) string {
	if m == StartDefault {
		return "shut off"
	}
	return string(m)
}

// PlanSnapshotRevert resolves a revert, or refuses it. points is the disk
// list of the domain definition saved with the snapshot.
func PlanSnapshotRevert(domains []Domain, req SnapshotRevertRequest, points []PointDisk, f SnapshotFacts) (*SnapshotRevertPlan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	s, err := snapFind(d, req.Name)
	if err != nil {
		return nil, err
	}
	if req.Start != StartDefault && req.Start != StartRunning && req.Start != StartPaused {
		return nil, Refuse(fmt.Sprintf("unknown start mode %q", req.Start), "use running or paused")
	}
	if err := snapJobBusy(f.Jobs, d, "a revert"); err != nil {
		return nil, err
	}
	if err := refuseStaleRevert(d, s.Name); err != nil {
		return nil, err
	}
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	if err := refuseHangingPoints(s, points, f); err != nil {
		return nil, err
	}
	if s.Memory == MemoryExternal {
		if err := refuseNotRegular("memory file of checkpoint "+s.Name, s.MemoryFile, f, false); err != nil {
			return nil, err
		}
	}
	p := &SnapshotRevertPlan{Request: req, Snapshot: *s, Start: snapshotEndState(s, req.Start)}
	p.Op, p.Domain = "snapshot-revert", d.Name
	if !req.DiscardCurrent {
		if p.Keep, err = planKeep(domains, d, s, f); err != nil {
			return nil, err
		}
	}
	refs := BuildRefs(domains)
	switch {
	case s.Kind == SnapshotExternal && !f.ExternalRevert:
		err = planOwnRevert(d, s, req, points, f, refs, p)
	case s.Kind == SnapshotExternal:
		err = planLibvirtRevert(d, s, req, points, p)
		if err == nil {
			err = libvirtExternalRevertFiles(d, s, points, refs, p)
		}
	default:
		err = planLibvirtRevert(d, s, req, points, p)
	}
	if err != nil {
		return nil, err
	}
	if p.Keep != nil {
		keepFirst(p)
	}
	if err := CheckSpace(&p.Plan, f.Space); err != nil {
		return nil, err
	}
	if kids := snapChildren(d, s.Name); len(kids) > 0 {
		p.Kept = append(p.Kept, fmt.Sprintf("snapshots %s stay in the tree below %s: a sibling branch of what comes next", strings.Join(kids, ", "), s.Name))
	}
	return p, nil
}

func planLibvirtRevert(d *Domain, s *Snapshot, req SnapshotRevertRequest, points []PointDisk, p *SnapshotRevertPlan) error {
	p.Method = RevertLibvirt
	if !d.Persistent && p.Start == StartDefault {
		return RefuseDo(fmt.Sprintf("%s is transient and snapshot %s is of a shut-off domain: a transient domain cannot be left shut off", d.Name, s.Name),
			Do(DoStartMode))
	}
	if s.Kind == SnapshotInternal {
		for _, sd := range s.Disks {
			if sd.Kind != "internal" {
				continue
			}
			disk, pt := d.Disk(sd.Target), snapPoint(points, sd.Target)
			if disk == nil || pt == nil || pt.Path == "" {
				continue
			}
			if now := activePath(disk); now != "" && now != pt.Path {
				return RefuseDo(fmt.Sprintf("internal snapshot %s lives inside %s, but %s of %s now writes %s", s.Name, pt.Path, sd.Target, d.Name, now),
					Words("revert or merge the layers above it first, or remove its metadata with "), Do(DoDeleteMetadata))
			}
			p.Steps = append(p.Steps, fmt.Sprintf("%s: %s returns to the state stored in it as %s; later writes to it are discarded", sd.Target, pt.Path, s.Name))
			p.addFile(FileRewritten, "libvirt", pt.Path, "returns to internal snapshot "+s.Name)
		}
		if p.Keep == nil {
			p.Warn(Words(discardWarning(d, s.Name)))
		}
		p.Summary = fmt.Sprintf("revert %s to internal snapshot %s; it ends up %s", d.Name, s.Name, startWords(p.Start))
	} else {
		p.Summary = fmt.Sprintf("revert %s to external snapshot %s through libvirt; it ends up %s", d.Name, s.Name, startWords(p.Start))
		p.Steps = append(p.Steps, "libvirt creates new overlays on the images at the snapshot point and points the domain at them")
		for _, sd := range s.Disks {
			// libvirt names each new overlay IMAGE.<epoch>, next to the image
			// at the point (measured on 11.3).
			if pt := snapPoint(points, sd.Target); sd.Kind == "external" && pt != nil && pt.Path != "" {
				p.addWrite(libvirtRevertOverlay(pt.Path), OverlayMetadata(pointSize(d.Disk(sd.Target), pt.Path)), "libvirt's new overlay on "+filepath.Base(pt.Path), "")
			}
		}
		if p.Keep == nil {
			since := d.CurrentSnapshot
			if since == "" {
				since = s.Name
			}
			p.Warn(Words(discardWarning(d, since)))
		}
	}
	p.Steps = append(p.Steps, s.Name+" becomes the current snapshot")
	if s.Memory != MemoryNo || p.Start != StartDefault {
		p.Steps = append(p.Steps, fmt.Sprintf("%s ends up %s", d.Name, startWords(p.Start)))
	}
	argv := []string{"virsh", "snapshot-revert", "--domain", d.Name, "--snapshotname", s.Name}
	switch req.Start {
	case StartRunning:
		argv = append(argv, "--running")
	case StartPaused:
		argv = append(argv, "--paused")
	}
	if req.Force {
		argv = append(argv, "--force")
	}
	p.Virsh = []string{ShellJoin(argv)}
	return nil
}

// revertOverlayPath picks a new file for virtchain's revert of one disk,
// next to the overlay the snapshot created, never reusing a known path.
func revertOverlayPath(d *Domain, s *Snapshot, target, near string, refs Refs, f SnapshotFacts, taken map[string]string) string {
	dir := filepath.Dir(near)
	for n := 1; ; n++ {
		p := filepath.Join(dir, fmt.Sprintf("%s_%s-revert%d.%s.qcow2", d.Name, s.Name, n, target))
		if _, used := refs[p]; used {
			continue
		}
		if _, used := taken[p]; used || f.stat(p) != FileMissing && f.stat(p) != FileUnknown {
			continue
		}
		taken[p] = "revert overlay for " + target
		return p
	}
}

func planOwnRevert(d *Domain, s *Snapshot, req SnapshotRevertRequest, points []PointDisk, f SnapshotFacts, refs Refs, p *SnapshotRevertPlan) error {
	p.Method = RevertVirtchain
	if !d.Persistent {
		return Refuse(fmt.Sprintf("%s is transient, and virtchain's external revert redefines the domain", d.Name),
			"make it persistent first (virsh dumpxml "+ShellQuote(d.Name)+" > "+ShellQuote(d.Name+".xml")+"; virsh define "+ShellQuote(d.Name+".xml")+")")
	}
	if req.Force {
		p.Warn(Do(DoForce), Words(" changes nothing for virtchain's external revert"))
	}
	taken := map[string]string{}
	for _, sd := range s.Disks {
		if sd.Kind != "external" {
			continue
		}
		pt, err := externalPoint(s, sd, points)
		if err != nil {
			return err
		}
		if f.stat(pt.Path) == FileMissing {
			return Refuse(fmt.Sprintf("image %s, which holds %s of snapshot %s, is missing", pt.Path, sd.Target, s.Name), "restore the file; nothing was changed")
		}
		near := sd.File
		if near == "" || f.stat(filepath.Dir(near)) == FileMissing {
			near = pt.Path
		}
		ov := RevertOverlay{Target: sd.Target, Point: pt.Path, PointFormat: pt.Format, Overlay: revertOverlayPath(d, s, sd.Target, near, refs, f, taken)}
		p.addWrite(ov.Overlay, OverlayMetadata(pointSize(d.Disk(sd.Target), pt.Path)), "revert overlay "+filepath.Base(ov.Overlay), "")
		if ov.PointFormat == "" {
			ov.PointFormat = "qcow2"
		}
		p.Overlays = append(p.Overlays, ov)
	}
	if len(p.Overlays) == 0 {
		return Refuse(fmt.Sprintf("snapshot %s has no external disk to revert", s.Name), "")
	}
	checkpoint := s.Memory == MemoryExternal
	if checkpoint {
		if s.MemoryFile == "" {
			return Refuse(fmt.Sprintf("checkpoint %s names no memory file", s.Name), "revert it by hand")
		}
		if f.stat(s.MemoryFile) == FileMissing {
			return Refuse(fmt.Sprintf("memory file %s of checkpoint %s is missing", s.MemoryFile, s.Name), "restore the file; nothing was changed")
		}
		p.MemoryFile = s.MemoryFile
		if p.Start == StartDefault {
			p.Start = StartRunning
		}
	}

	var virsh []string
	if d.State.Active() {
		p.StopFirst = true
		p.Steps = append(p.Steps, fmt.Sprintf("stop %s (virsh destroy): its memory state is discarded", d.Name))
		if p.Keep == nil {
			p.Warn(Words(fmt.Sprintf("--discard-current: %s is %s: its memory state is lost; its disk writes stay in the old overlays", d.Name, d.State)))
		}
		virsh = append(virsh, ShellJoin([]string{"virsh", "destroy", d.Name}))
	}
	var switches []string
	for _, ov := range p.Overlays {
		p.Steps = append(p.Steps, fmt.Sprintf("%s: create %s (qcow2) on top of %s (%s), the image at snapshot %s", ov.Target, ov.Overlay, ov.Point, ov.PointFormat, s.Name))
		p.addFile(FileCreated, "virtchain", ov.Overlay, "new overlay of "+ov.Target+" on "+ov.Point)
		virsh = append(virsh, ShellJoin([]string{"qemu-img", "create", "-f", "qcow2", "-b", ov.Point, "-F", ov.PointFormat, ov.Overlay}))
		switches = append(switches, ov.Target+" -> "+ov.Overlay)
		if disk := d.Disk(ov.Target); disk != nil {
			leaving := layersAbove(disk, ov.Point)
			for _, l := range leaving {
				p.LeavingChain = append(p.LeavingChain, l)
				p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays on disk with the writes made after %s", l, ov.Target, s.Name))
				// After the revert s names the new overlay; a layer no other
				// snapshot names or reads is in no tree, and nothing guards it.
				if p.Keep == nil && len(refs.UsersExcept(l, func(r Ref) bool {
					return r.Domain == d.Name && (r.Kind == "chain" || r.Kind == "snapshot-disk" && r.Snapshot == s.Name)
				})) == 0 {
					p.Warn(Words(fmt.Sprintf("no snapshot will name %s (%s): those writes show in no snapshot tree, and a later merge below it (deleting %s, a commit) leaves it without its backing file; to keep them as a branch, create a snapshot of %s first",
						l, ov.Target, s.Name, d.Name)))
				}
			}
		}
	}
	p.Steps = append(p.Steps, fmt.Sprintf("define %s from the configuration saved with %s, with %s", d.Name, s.Name, strings.Join(switches, ", ")))
	virsh = append(virsh, "virsh dumpxml --inactive "+ShellQuote(d.Name)+" > "+ShellQuote(d.Name+".xml")+"   # edit: "+strings.Join(switches, ", "),
		"virsh define "+ShellQuote(d.Name+".xml"))
	restoreArg := ""
	switch p.Start {
	case StartRunning:
		restoreArg = " --running"
	case StartPaused:
		restoreArg = " --paused"
	}
	if checkpoint {
		p.Steps = append(p.Steps, fmt.Sprintf("restore memory and device state from %s with the new overlays; %s comes back %s", s.MemoryFile, d.Name, startWords(p.Start)))
		p.Kept = append(p.Kept, fmt.Sprintf("memory file %s stays (restore only reads it)", s.MemoryFile))
		virsh = append(virsh, "virsh save-image-dumpxml "+ShellQuote(s.MemoryFile)+" > mem.xml   # edit: "+strings.Join(switches, ", "),
			"virsh restore "+ShellQuote(s.MemoryFile)+" --xml mem.xml"+restoreArg)
	} else if p.Start != StartDefault {
		p.Steps = append(p.Steps, fmt.Sprintf("start %s %s", d.Name, startWords(p.Start)))
		argv := []string{"virsh", "start", d.Name}
		if p.Start == StartPaused {
			argv = append(argv, "--paused")
		}
		virsh = append(virsh, ShellJoin(argv))
	} else {
		p.Steps = append(p.Steps, d.Name+" stays shut off")
	}
	p.Steps = append(p.Steps, fmt.Sprintf("make %s the current snapshot, its disks naming the new overlays (its metadata is redefined with --redefine --current); the overlays it named before stay for the snapshots below it", s.Name))
	virsh = append(virsh, "virsh snapshot-dumpxml "+ShellQuote(d.Name)+" "+ShellQuote(s.Name)+" > snap.xml   # edit <disks>: "+strings.Join(switches, ", "),
		"virsh snapshot-create "+ShellQuote(d.Name)+" snap.xml --redefine --current")
	p.Kept = append(p.Kept, "nothing is deleted")
	if p.Keep != nil {
		for _, kd := range p.Keep.Disks {
			if kd.Snapshot == "external" {
				p.Kept = append(p.Kept, fmt.Sprintf("%s (%s), the overlay of %s, stays on disk and leaves the chain", kd.Overlay, kd.Target, p.Keep.Request.Name))
			}
		}
	}
	p.Virsh = virsh
	p.Summary = fmt.Sprintf("revert %s to external snapshot %s (libvirt %s cannot, so virtchain does it); it ends up %s", d.Name, s.Name, "before 9.9", startWords(p.Start))
	return nil
}

// layersAbove lists the chain layers above path (all of them when path is
// not in the chain, except that the base is never assumed to leave).
func layersAbove(disk *Disk, path string) []string {
	var out []string
	for _, l := range disk.Layers {
		if l.Path == path {
			return out
		}
		out = append(out, l.Path)
	}
	if len(disk.Layers) > 0 {
		return []string{disk.Layers[0].Path}
	}
	return nil
}

// SnapshotDeleteRequest is a user's intent to delete a snapshot.
type SnapshotDeleteRequest struct {
	Domain string `json:"domain"`
	Name   string `json:"name"`
	// MetadataOnly removes libvirt's record and leaves every file alone.
	MetadataOnly bool `json:"metadata_only,omitempty"`
}

// SnapshotMerge is what deleting an external snapshot does to one disk:
// the overlay it created is committed into the image below, then removed.
type SnapshotMerge struct {
	Target  string `json:"target"`
	Overlay string `json:"overlay"`
	Into    string `json:"into"`
	// Active is set when the overlay is the running domain's active layer
	// (an active commit with a pivot).
	Active bool `json:"active,omitempty"`
}

// SnapshotDeletePlan is a delete resolved against the domain.
type SnapshotDeletePlan struct {
	Plan
	Request  SnapshotDeleteRequest `json:"request"`
	Snapshot Snapshot              `json:"-"`
	Merges   []SnapshotMerge       `json:"merges,omitempty"`
}

// PlanSnapshotDelete resolves a delete, or refuses it with the reason and
// what can be done instead. points is the disk list of the definition saved
// with the snapshot (for internal snapshots).
func PlanSnapshotDelete(domains []Domain, req SnapshotDeleteRequest, points []PointDisk, f SnapshotFacts) (*SnapshotDeletePlan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	s, err := snapFind(d, req.Name)
	if err != nil {
		return nil, err
	}
	p := &SnapshotDeletePlan{Request: req, Snapshot: *s}
	p.Op, p.Domain = "snapshot-delete", d.Name
	argv := []string{"virsh", "snapshot-delete", "--domain", d.Name, "--snapshotname", s.Name}
	kids := snapChildren(d, s.Name)
	parent := "the root"
	if s.Parent != "" {
		parent = s.Parent
	}
	moveUp := ""
	if len(kids) > 0 {
		moveUp = fmt.Sprintf("; its children %s move up to %s", strings.Join(kids, ", "), parent)
	}
	metaOnlyFix := Hint{Words("remove only its metadata with "), Do(DoDeleteMetadata, d.Name, s.Name), Words(" (every file stays)")}

	if req.MetadataOnly {
		p.Summary = fmt.Sprintf("remove snapshot %s from libvirt's metadata of %s; no file changes", s.Name, d.Name)
		p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+moveUp)
		for _, sd := range s.Disks {
			switch {
			case sd.Kind == "external" && sd.File != "":
				where := "no longer in any chain of " + d.Name
				if disk := d.Disk(sd.Target); disk != nil && disk.Pos(sd.File) >= 0 {
					where = "still in " + sd.Target + "'s chain, unmerged"
				}
				p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays on disk, %s", sd.File, sd.Target, where))
			case sd.Kind == "internal":
				img := ""
				if pt := snapPoint(points, sd.Target); pt != nil {
					img = pt.Path
				} else if disk := d.Disk(sd.Target); disk != nil {
					img = activePath(disk)
				}
				p.Kept = append(p.Kept, fmt.Sprintf("internal snapshot %s stays inside %s (qemu-img snapshot -l lists it)", s.Name, img))
				p.Warn(Words(fmt.Sprintf("libvirt can no longer revert to or delete %s's data inside %s; only qemu-img can", s.Name, img)))
			}
		}
		if s.MemoryFile != "" {
			p.Kept = append(p.Kept, "memory file "+s.MemoryFile+" stays on disk")
		}
		p.Virsh = []string{ShellJoin(append(argv, "--metadata"))}
		return p, nil
	}

	// A metadata-only delete opens no file, so it stays the way out.
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	if err := refuseHangingPoints(s, points, f); err != nil {
		return nil, err
	}
	if s.Kind == SnapshotInternal {
		refs := BuildRefs(domains)
		for _, sd := range s.Disks {
			if sd.Kind != "internal" {
				continue
			}
			img := ""
			if pt := snapPoint(points, sd.Target); pt != nil {
				img = pt.Path
			} else if disk := d.Disk(sd.Target); disk != nil {
				img = activePath(disk)
			}
			others := refs.UsersExcept(img, func(r Ref) bool { return r.Domain == d.Name })
			if len(others) > 0 {
				return nil, RefuseDo(fmt.Sprintf("deleting %s writes into %s, which %s also uses", s.Name, img, strings.Join(others, ", ")), metaOnlyFix...)
			}
			p.Steps = append(p.Steps, fmt.Sprintf("%s: delete internal snapshot %s from %s, freeing the space it holds", sd.Target, s.Name, img))
			p.addFile(FileRewritten, "libvirt", img, "internal snapshot "+s.Name+" removed from it")
			p.Kept = append(p.Kept, img+" stays; only the snapshot's data inside it goes")
		}
		p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+moveUp)
		if s.Memory == MemoryInternal {
			p.Steps = append(p.Steps, "its saved memory state goes with it")
		}
		p.Summary = fmt.Sprintf("delete internal snapshot %s of %s", s.Name, d.Name)
		p.Virsh = []string{ShellJoin(argv)}
		return p, nil
	}

	// External: libvirt (9.0 and later) commits each overlay the snapshot
	// created into the image below it, then deletes the overlay.
	if err := snapJobBusy(f.Jobs, d, "deleting an external snapshot"); err != nil {
		return nil, err
	}
	if s.Parent != "" {
		if ps, err := snapFind(d, s.Parent); err == nil && ps.Kind == SnapshotInternal {
			return nil, RefuseDo(fmt.Sprintf("libvirt cannot delete external snapshot %s because its parent %s is internal", s.Name, s.Parent), metaOnlyFix...)
		}
	}
	if len(kids) > 1 {
		return nil, RefuseDo(fmt.Sprintf("snapshot %s has children on several branches (%s): merging it would change the image each branch reads", s.Name, strings.Join(kids, ", ")),
			append(Hint{Words("delete the snapshots of all branches but one first, or ")}, metaOnlyFix...)...)
	}
	refs := BuildRefs(domains)
	for _, sd := range s.Disks {
		if sd.Kind != "external" {
			continue
		}
		disk := d.Disk(sd.Target)
		if disk == nil {
			return nil, RefuseDo(fmt.Sprintf("%s no longer has disk %s, which snapshot %s names", d.Name, sd.Target, s.Name), metaOnlyFix...)
		}
		pos := disk.Pos(sd.File)
		if pos < 0 {
			return nil, RefuseDo(fmt.Sprintf("overlay %s of snapshot %s is not in %s's chain any more (a commit, pull or revert changed it)", sd.File, s.Name, sd.Target), metaOnlyFix...)
		}
		if pos+1 >= len(disk.Layers) {
			return nil, RefuseDo(fmt.Sprintf("overlay %s of snapshot %s has no image below it in %s's chain to merge into", sd.File, s.Name, sd.Target), metaOnlyFix...)
		}
		for _, ds := range snapDescendants(d, s.Name) {
			for _, dd := range ds.Disks {
				if dd.Target == sd.Target && dd.Kind == "external" && dd.File != "" && disk.Pos(dd.File) < 0 {
					return nil, RefuseDo(fmt.Sprintf("snapshot %s below %s is on another branch: its overlay %s is not in %s's chain, and merging %s would change the image it reads",
						ds.Name, s.Name, dd.File, sd.Target, s.Name), metaOnlyFix...)
				}
			}
		}
		into := disk.Layers[pos+1]
		if br := branchReaders(d, sd.Target, into.Path, sd.File); len(br) > 0 {
			return nil, RefuseDo(fmt.Sprintf("merging %s into %s would change what snapshots %s read at their point, on a branch a revert kept",
				sd.File, into.Path, strings.Join(br, ", ")), metaOnlyFix...)
		}
		// The points of snapshots below s read its overlay; libvirt points
		// their saved definitions at the image it merges into (9.0).
		below := map[string]bool{}
		for _, ds := range snapDescendants(d, s.Name) {
			below[ds.Name] = true
		}
		if others := refs.UsersExcept(sd.File, func(r Ref) bool {
			return r.Domain == d.Name && (r.Kind == "chain" && r.Target == sd.Target || r.Snapshot == s.Name ||
				r.Kind == "snapshot-point" && r.Target == sd.Target && below[r.Snapshot])
		}); len(others) > 0 {
			return nil, RefuseDo(fmt.Sprintf("deleting %s removes %s, which %s also uses", s.Name, sd.File, strings.Join(others, ", ")), metaOnlyFix...)
		}
		if others := refs.UsersExcept(into.Path, func(r Ref) bool { return r.Domain == d.Name }); len(others) > 0 {
			return nil, RefuseDo(fmt.Sprintf("deleting %s merges %s into %s, which %s also uses", s.Name, sd.File, into.Path, strings.Join(others, ", ")), metaOnlyFix...)
		}
		m := SnapshotMerge{Target: sd.Target, Overlay: sd.File, Into: into.Path, Active: pos == 0 && d.State.Active()}
		p.Merges = append(p.Merges, m)
		how := "commit"
		if m.Active {
			how = "active commit (with a pivot)"
		}
		p.Steps = append(p.Steps, fmt.Sprintf("%s: %s of %s into %s; %s then reads %s in its place", sd.Target, how, sd.File, into.Path, sd.Target, into.Path))
		p.Steps = append(p.Steps, fmt.Sprintf("%s: libvirt deletes %s, which left the chain", sd.Target, sd.File))
		p.addFile(FileRewritten, "libvirt", into.Path, "takes in "+sd.File)
		p.addFile(FileDeleted, "libvirt", sd.File, "merged into "+into.Path)
		p.LeavingChain = append(p.LeavingChain, sd.File)
		p.BytesToCopy += disk.Layers[pos].Allocation
		p.addWriteDo(into.Path, mergeBound(disk.Layers[pos:pos+1], into), "merging "+filepath.Base(sd.File)+" into "+filepath.Base(into.Path), metaOnlyFix)
		p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays, now holding %s's data too", into.Path, sd.Target, sd.File))
	}
	p.Steps = append(p.Steps, "remove "+s.Name+" from libvirt's snapshot metadata"+moveUp)
	switch {
	case s.MemoryFile != "" && f.ExternalRevert:
		// The libvirt with its own external revert also unlinks a deleted
		// checkpoint's memory file (measured: 11.3 does, 9.0 does not).
		if others := refs.UsersExcept(s.MemoryFile, func(r Ref) bool { return r.Domain == d.Name && r.Snapshot == s.Name }); len(others) > 0 {
			return nil, RefuseDo(fmt.Sprintf("deleting %s makes libvirt delete memory file %s, which %s also uses", s.Name, s.MemoryFile, strings.Join(others, ", ")), metaOnlyFix...)
		}
		p.Steps = append(p.Steps, "libvirt deletes memory file "+s.MemoryFile)
		p.addFile(FileDeleted, "libvirt", s.MemoryFile, "memory of checkpoint "+s.Name)
	case s.MemoryFile != "":
		p.Kept = append(p.Kept, "memory file "+s.MemoryFile+" stays on disk (libvirt leaves it; remove it yourself when nothing needs it)")
	}
	p.Summary = fmt.Sprintf("delete external snapshot %s of %s: merge its overlays into the images below", s.Name, d.Name)
	p.Virsh = []string{ShellJoin(argv)}
	if err := CheckSpace(&p.Plan, f.Space); err != nil {
		return nil, err
	}
	return p, nil
}

// SaveRequest is a user's intent to save a running domain to a file.
type SaveRequest struct {
	Domain string `json:"domain"`
	File   string `json:"file"`
}

// PlanSave resolves a save (virsh save), or refuses it.
func PlanSave(domains []Domain, req SaveRequest, f SnapshotFacts) (*Plan, error) {
	d, err := snapDomain(domains, req.Domain)
	if err != nil {
		return nil, err
	}
	if !d.State.Active() {
		return nil, Refuse(fmt.Sprintf("%s is %s: there is no running state to save", d.Name, d.State), "start it first")
	}
	if err := snapJobBusy(f.Jobs, d, "a save"); err != nil {
		return nil, err
	}
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	if err := checkNewFile(req.File, "save file", BuildRefs(domains), f, map[string]string{}); err != nil {
		return nil, err
	}
	file := filepath.Clean(req.File)
	p := &Plan{Op: "save", Domain: d.Name,
		Summary: fmt.Sprintf("save %s's memory and device state to %s and stop it", d.Name, file)}
	p.addMemoryWrite(file, 0, "save file "+filepath.Base(file), "save to another filesystem")
	p.addFile(FileCreated, "libvirt", file, "memory and device state of "+d.Name)
	if err := CheckSpace(p, f.Space); err != nil {
		return nil, err
	}
	p.Steps = []string{
		fmt.Sprintf("pause %s and write its memory and device state to %s", d.Name, file),
		fmt.Sprintf("stop %s; its disks keep their state", d.Name),
	}
	p.Kept = []string{"every disk image stays as it is"}
	p.Warn(Words("start "+d.Name+" only through "), Do(DoRestore, file), Words(": booting it fresh moves the disks on, and the save file no longer matches them"))
	if !d.Persistent {
		p.Warn(Words(fmt.Sprintf("%s is transient: it disappears from libvirt until it is restored from %s", d.Name, file)))
	}
	p.Virsh = []string{ShellJoin([]string{"virsh", "save", d.Name, file})}
	return p, nil
}

// RestoreRequest is a user's intent to start a domain from a save file.
type RestoreRequest struct {
	File  string    `json:"file"`
	Start StartMode `json:"start,omitempty"`
}

// PlanRestore resolves a restore, or refuses it. imageDomain is the domain
// name recorded in the save file (empty when it could not be read).
func PlanRestore(domains []Domain, req RestoreRequest, imageDomain string, f SnapshotFacts) (*Plan, error) {
	if err := CheckInput("save file path", req.File); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(req.File) {
		return nil, NotAbsolute("save file path", req.File)
	}
	file := filepath.Clean(req.File)
	if err := CheckRestoreFile(file, f); err != nil {
		return nil, err
	}
	if req.Start != StartDefault && req.Start != StartRunning && req.Start != StartPaused {
		return nil, Refuse(fmt.Sprintf("unknown start mode %q", req.Start), "use running or paused")
	}
	name := imageDomain
	if name == "" {
		name = "the saved domain"
	}
	p := &Plan{Op: "restore", Domain: imageDomain}
	for i := range domains {
		d := &domains[i]
		if d.Name != imageDomain {
			continue
		}
		if d.State.Active() {
			return nil, Refuse(fmt.Sprintf("%s is %s; a save file can only be restored into a stopped domain", d.Name, d.State),
				"stop it first (virsh destroy "+ShellQuote(d.Name)+" discards its current state)")
		}
		if err := refuseHangingChains(d); err != nil {
			return nil, err
		}
		if d.ManagedSave {
			p.Warn(Words(fmt.Sprintf("%s also has a managed-save image; restoring %s leaves it in place", d.Name, file)))
		}
	}
	how := "as it was saved"
	argv := []string{"virsh", "restore", file}
	switch req.Start {
	case StartRunning:
		how = "running"
		argv = append(argv, "--running")
	case StartPaused:
		how = "paused"
		argv = append(argv, "--paused")
	}
	p.Summary = fmt.Sprintf("start %s from save file %s, %s", name, file, how)
	p.Steps = []string{fmt.Sprintf("start %s from the memory and device state in %s; it comes back %s", name, file, how)}
	p.Kept = []string{file + " stays on disk (restore only reads it)"}
	p.Warn(Words("restore a save file only onto the disks as they were when it was saved: once the domain runs on, the file no longer matches them"))
	p.Virsh = []string{ShellJoin(argv)}
	return p, nil
}

// PlanManagedSave resolves virsh managedsave, or refuses it.
func PlanManagedSave(domains []Domain, name string, f SnapshotFacts) (*Plan, error) {
	d, err := snapDomain(domains, name)
	if err != nil {
		return nil, err
	}
	if !d.State.Active() {
		return nil, Refuse(fmt.Sprintf("%s is %s: there is no running state to save", d.Name, d.State), "start it first")
	}
	if !d.Persistent {
		return nil, RefuseDo(fmt.Sprintf("%s is transient, and libvirt keeps managed-save images only for persistent domains", d.Name), Do(DoSaveInstead))
	}
	if err := snapJobBusy(f.Jobs, d, "a managed save"); err != nil {
		return nil, err
	}
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	// libvirt brings a domain saved while paused back paused.
	comesBack, fromImage := "resumes it", "resumes it from the image"
	if d.State == StatePaused {
		comesBack, fromImage = "brings it back paused, as it is now", "brings it back paused from the image"
	}
	p := &Plan{Op: "managedsave", Domain: d.Name,
		Summary: fmt.Sprintf("save %s's state to libvirt's managed-save image and stop it; the next start %s", d.Name, comesBack),
		Steps: []string{
			fmt.Sprintf("pause %s and write its memory and device state to libvirt's managed-save image", d.Name),
			fmt.Sprintf("stop %s; the next start %s, which libvirt then removes", d.Name, fromImage),
		},
		Kept:  []string{"every disk image stays as it is"},
		Virsh: []string{ShellJoin([]string{"virsh", "managedsave", d.Name})},
	}
	p.addMemoryWrite(ManagedSavePath(d.Name), 0, "managed-save image "+d.Name+".save",
		"save to a file on another filesystem (virtchain save "+ShellQuote(d.Name)+" FILE)")
	if err := CheckSpace(p, f.Space); err != nil {
		return nil, err
	}
	return p, nil
}

// ManagedSavePath is where libvirt's QEMU driver keeps a managed-save image
// (its default save_image_dir).
func ManagedSavePath(domain string) string {
	return "/var/lib/libvirt/qemu/save/" + domain + ".save"
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

// PlanManagedSaveRemove resolves virsh managedsave-remove, or refuses it.
// libvirt only unlinks its own image here and opens no chain, so a broken
// chain does not stop it: it stays a way out.
func PlanManagedSaveRemove(domains []Domain, name string) (*Plan, error) {
	d, err := snapDomain(domains, name)
	if err != nil {
		return nil, err
	}
	if !d.ManagedSave {
		return nil, Refuse(fmt.Sprintf("%s has no managed-save image", d.Name), "nothing to remove")
	}
	return &Plan{Op: "managedsave-remove", Domain: d.Name,
		Summary:  fmt.Sprintf("remove %s's managed-save image; the next start boots fresh", d.Name),
		Steps:    []string{fmt.Sprintf("delete libvirt's managed-save image of %s", d.Name)},
		Kept:     []string{"every disk image stays as it is"},
		Warnings: []string{fmt.Sprintf("the saved memory state of %s is lost: the guest boots as after a power cut", d.Name)},
		Virsh:    []string{ShellJoin([]string{"virsh", "managedsave-remove", d.Name})},
	}, nil
}

// PlanStart resolves virsh start, or refuses it.
func PlanStart(domains []Domain, name string) (*Plan, error) {
	d, err := snapDomain(domains, name)
	if err != nil {
		return nil, err
	}
	if d.State.Active() {
		fix := ""
		if d.State == StatePaused {
			// A restore --paused ends here; virtchain has no resume of its own.
			fix = "resume it with " + ShellJoin([]string{"virsh", "resume", d.Name})
		}
		return nil, Refuse(fmt.Sprintf("%s is already %s", d.Name, d.State), fix)
	}
	if err := refuseHangingChains(d); err != nil {
		return nil, err
	}
	p := &Plan{Op: "start", Domain: d.Name, Virsh: []string{ShellJoin([]string{"virsh", "start", d.Name})}}
	if d.ManagedSave {
		p.Summary = fmt.Sprintf("start %s from its managed-save image", d.Name)
		p.Steps = []string{fmt.Sprintf("resume %s from its managed-save image, which libvirt then removes", d.Name)}
	} else {
		p.Summary = fmt.Sprintf("start %s", d.Name)
		p.Steps = []string{fmt.Sprintf("boot %s", d.Name)}
	}
	return p, nil
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

// externalPoint is the image at the point of external snapshot disk sd,
// or the refusal when libvirt's metadata names none.
func externalPoint(s *Snapshot, sd SnapshotDisk, points []PointDisk) (*PointDisk, error) {
	pt := snapPoint(points, sd.Target)
	if pt == nil || pt.Path == "" {
		return nil, RefuseDo(fmt.Sprintf("libvirt's metadata of snapshot %s names no image for %s at the snapshot point", s.Name, sd.Target),
			Words("revert it by hand, or remove its metadata with "), Do(DoDeleteMetadata))
	}
	return pt, nil
}
