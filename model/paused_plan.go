package model

// ByPausedDomain turns an offline plan into the way libvirt itself merges a
// shut-off domain's external snapshot, for a host where virtchain cannot
// run qemu-img on the images (a remote connection): start the domain
// paused, run QEMU's block job (a commit whose top is the active layer is
// an active commit with a pivot at READY), destroy the domain. The chain,
// the definition and what the guest sees afterwards are those of the
// qemu-img plan; what differs is who writes the images and that QEMU
// starts with the domain's devices.
func (bp *BlockPlan) ByPausedDomain() {
	if !bp.Offline || bp.StartPaused {
		return
	}
	bp.StartPaused = true
	if n := bp.bitmaps; n != nil {
		// QEMU's job through libvirt now merges: libvirt's rules apply.
		n.take(&bp.Plan)
		for i := range n.changes {
			n.changes[i].carried = bp.Kind == JobCommit
			n.changes[i].covered = bp.Kind == JobPull
			n.changes[i].by = commitTool(false)
			if bp.Kind == JobPull {
				n.changes[i].by = pullTool(false)
			}
		}
		bp.bitmaps = bp.noteBitmaps(n.d, n.changes...)
	}
	for i := range bp.Files {
		if bp.Files[i].By == mergeBy(true) {
			bp.Files[i].By = mergeBy(false)
		}
	}
	q := ShellQuote(bp.Domain)
	steps := []string{"start " + bp.Domain + " paused: QEMU starts with every device of its definition, and the guest runs no code"}
	for i, s := range bp.Steps {
		if i == 0 && bp.Kind == JobCommit && bp.TopPos == 0 {
			s += " (an active commit, as the top is the active layer; at READY, pivot: " + bp.BasePath + " becomes the active layer)"
		}
		steps = append(steps, s)
	}
	bp.Steps = append(steps, "destroy "+bp.Domain+": it never ran, so nothing of the guest is lost; it is shut off again")
	bp.Warnings = append(bp.Warnings,
		"the host's qemu-img is out of reach over this connection, so QEMU does the merge: "+bp.Domain+" is started paused with its devices, and the start is refused, with nothing changed, when one is not available (a host device another domain holds, an image another QEMU has locked, an inactive network)",
		"if virtchain or its connection stops midway, libvirt destroys "+bp.Domain+" (it is started with autodestroy): it ends shut off, with the chain as it was or as planned")
	if bp.Relative {
		bp.Warnings = append(bp.Warnings, "--keep-relative: libvirt keeps a backing name relative only where the chain's names are relative already; otherwise it refuses the job, the domain is destroyed again and nothing changes")
	}
	live := *bp
	live.Offline = false
	if bp.Kind == JobCommit && bp.TopPos == 0 {
		live.Kind, live.AfterReady = JobActiveCommit, AfterReadyPivot
	}
	d, disk := &Domain{Name: bp.Domain}, &Disk{Target: bp.Target}
	job := pullCommands(d, disk, &live)
	if bp.Kind == JobCommit {
		job = commitCommands(d, disk, &live)
	}
	bp.Virsh = append(append([]string{"virsh start --paused " + q}, job...), "virsh destroy "+q)
}
