package model

import (
	"fmt"
	"path/filepath"
)

// Save, restore, managed save and start: the restore points that are not
// snapshots.

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
		if d.Name != imageDomain || d.Host != "" {
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
