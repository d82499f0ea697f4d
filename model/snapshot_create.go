package model

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Creating a snapshot: internal (inside the qcow2 images) or external (new
// overlays, and a memory file for a checkpoint).

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
	if err := refuseExternalRequest(d, req, f, diskOnly); err != nil {
		return err
	}
	p.Kind, p.DiskOnly, p.Quiesce = SnapshotExternal, diskOnly, req.Quiesce
	p.Memory = MemoryNo
	taken := map[string]string{}
	var first *Disk
	for i := range d.Disks {
		disk := &d.Disks[i]
		got, err := p.externalDisk(d, disk, req, f, refs, taken)
		if err != nil {
			return err
		}
		if got && first == nil {
			first = disk
		}
	}
	if first == nil {
		return Refuse(fmt.Sprintf("no disk of %s can have an external snapshot (readonly, shareable or not file-backed)", d.Name), "")
	}
	if !diskOnly {
		if err := p.externalMemory(d, first, req, f, refs, taken); err != nil {
			return err
		}
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

// refuseExternalRequest refuses options that do not go together, or that
// the domain's state or guest agent cannot honour.
func refuseExternalRequest(d *Domain, req SnapshotCreateRequest, f SnapshotFacts, diskOnly bool) error {
	active := d.State.Active()
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
	return nil
}

// externalDisk plans one disk of an external snapshot: a new overlay, or
// left out (readonly, shareable, not file-backed, no media). It says
// whether the disk gets an overlay.
func (p *SnapshotCreatePlan) externalDisk(d *Domain, disk *Disk, req SnapshotCreateRequest, f SnapshotFacts, refs Refs, taken map[string]string) (bool, error) {
	spec := SnapshotDiskSpec{Target: disk.Target, Image: activePath(disk), ImageFormat: activeFormat(disk)}
	if r := leftOutReason(disk); r != "" {
		if _, named := req.Files[disk.Target]; named {
			return false, Refuse(fmt.Sprintf("%s of %s is left out of external snapshots: %s", disk.Target, d.Name, r), "drop --file "+disk.Target+"=...")
		}
		spec.Snapshot, spec.Reason = "no", r
		p.Disks = append(p.Disks, spec)
		p.Steps = append(p.Steps, fmt.Sprintf("%s: left out (%s)", disk.Target, r))
		if r == "shareable" || strings.HasPrefix(r, "not file-backed") {
			p.Warn(Words(fmt.Sprintf("%s is left out (%s): its data is not part of snapshot %s", disk.Target, r, req.Name)))
		}
		return false, nil
	}
	spec.Snapshot = "external"
	spec.Overlay = req.Files[disk.Target]
	if spec.Overlay == "" {
		spec.Overlay = DefaultOverlayPath(d, disk, req.Name)
	}
	if err := checkNewFile(spec.Overlay, "overlay for "+disk.Target, refs, f, taken); err != nil {
		return false, err
	}
	spec.Overlay = filepath.Clean(spec.Overlay)
	p.addWrite(spec.Overlay, OverlayMetadata(activeLayer(disk).VirtualSize), "overlay "+filepath.Base(spec.Overlay),
		"put it on another filesystem (--file "+disk.Target+"=PATH)")
	p.Disks = append(p.Disks, spec)
	p.Steps = append(p.Steps, fmt.Sprintf("%s: create overlay %s on top of %s, which keeps the snapshot point and is no longer written; %s then writes the overlay",
		disk.Target, spec.Overlay, spec.Image, disk.Target))
	p.Kept = append(p.Kept, fmt.Sprintf("%s (%s) stays in the chain, below the new overlay", spec.Image, disk.Target))
	return true, nil
}

// externalMemory plans a checkpoint's memory file, next to the first
// snapshotted disk unless the request names one.
func (p *SnapshotCreatePlan) externalMemory(d *Domain, first *Disk, req SnapshotCreateRequest, f SnapshotFacts, refs Refs, taken map[string]string) error {
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
