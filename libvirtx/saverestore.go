package libvirtx

import (
	"context"
	"path/filepath"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// Save, restore, managed save and start. Each Plan call reads the host and
// returns the plan (or a *model.Refusal); each action plans again and runs
// only what that fresh plan allows.

// PlanSave plans virsh save DOMAIN FILE.
func (c *Conn) PlanSave(ctx context.Context, req model.SaveRequest) (*model.Plan, error) {
	w, err := c.world(ctx, req.Domain)
	if err != nil {
		return nil, err
	}
	p, err := model.PlanSave(w.domains, req, w.facts)
	return planned(w, p, err)
}

// Save writes the domain's memory and device state to req.File and stops it.
func (c *Conn) Save(ctx context.Context, req model.SaveRequest) error {
	if err := c.refuseReadOnly("save"); err != nil {
		return err
	}
	p, err := c.PlanSave(ctx, req)
	if err != nil {
		return err
	}
	dom, err := c.domainHandle(req.Domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	file := filepath.Clean(req.File)
	return c.journaled(p, func() error {
		if err := c.during("saving "+req.Domain+" to "+file, domJobInfo(req.Domain), func() error { return dom.SaveFlags(file, "", 0) }); err != nil {
			return opErr("save "+req.Domain+" to "+req.File, err)
		}
		return nil
	})
}

// SaveImageDomain reads the name of the domain recorded in a save file.
func (c *Conn) SaveImageDomain(file string) (string, error) {
	doc, err := c.virt.DomainSaveImageGetXMLDesc(file, 0)
	if err != nil {
		return "", opErr("read save file "+file, err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		return "", opErr("parse the definition in save file "+file, err)
	}
	return def.Name, nil
}

// PlanRestore plans virsh restore FILE.
func (c *Conn) PlanRestore(ctx context.Context, req model.RestoreRequest) (*model.Plan, error) {
	w, err := c.world(ctx, "")
	if err != nil {
		return nil, err
	}
	// libvirtd reads the file's header: refuse a missing file, or a FIFO
	// that would block it, first.
	name := ""
	if filepath.IsAbs(req.File) {
		if err := model.CheckRestoreFile(filepath.Clean(req.File), w.facts); err != nil {
			return nil, err
		}
		if name, err = c.SaveImageDomain(req.File); err != nil {
			return nil, err
		}
	}
	p, err := model.PlanRestore(w.domains, req, name, w.facts)
	return planned(w, p, err)
}

// Restore starts a domain from a save file, running or paused as asked.
func (c *Conn) Restore(ctx context.Context, req model.RestoreRequest) error {
	if err := c.refuseReadOnly("restore"); err != nil {
		return err
	}
	p, err := c.PlanRestore(ctx, req)
	if err != nil {
		return err
	}
	var flags libvirt.DomainSaveRestoreFlags
	switch req.Start {
	case model.StartRunning:
		flags = libvirt.DOMAIN_SAVE_RUNNING
	case model.StartPaused:
		flags = libvirt.DOMAIN_SAVE_PAUSED
	}
	file := filepath.Clean(req.File)
	check := "virsh list --all"
	if p.Domain != "" {
		check = "virsh domstate " + model.ShellQuote(p.Domain)
	}
	return c.journaled(p, func() error {
		if err := c.during("restoring from "+file, check, func() error { return c.virt.DomainRestoreFlags(file, "", flags) }); err != nil {
			return opErr("restore from "+req.File, err)
		}
		return nil
	})
}

// PlanManagedSave plans virsh managedsave DOMAIN.
func (c *Conn) PlanManagedSave(ctx context.Context, domain string) (*model.Plan, error) {
	w, err := c.world(ctx, domain)
	if err != nil {
		return nil, err
	}
	p, err := model.PlanManagedSave(w.domains, domain, w.facts)
	return planned(w, p, err)
}

// ManagedSave saves the domain to libvirt's managed-save image and stops it.
func (c *Conn) ManagedSave(ctx context.Context, domain string) error {
	return c.domainAction(ctx, "managed save", "saving "+domain+" to its managed-save image", domain, c.PlanManagedSave, func(dom *libvirt.Domain) error { return dom.ManagedSave(0) })
}

// PlanManagedSaveRemove plans virsh managedsave-remove DOMAIN.
func (c *Conn) PlanManagedSaveRemove(ctx context.Context, domain string) (*model.Plan, error) {
	w, err := c.world(ctx, domain)
	if err != nil {
		return nil, err
	}
	return model.PlanManagedSaveRemove(w.domains, domain)
}

// ManagedSaveRemove deletes the domain's managed-save image.
func (c *Conn) ManagedSaveRemove(ctx context.Context, domain string) error {
	return c.domainAction(ctx, "remove the managed-save image of", "removing the managed-save image of "+domain, domain, c.PlanManagedSaveRemove, func(dom *libvirt.Domain) error { return dom.ManagedSaveRemove(0) })
}

// PlanStart plans virsh start DOMAIN.
func (c *Conn) PlanStart(ctx context.Context, domain string) (*model.Plan, error) {
	w, err := c.world(ctx, domain)
	if err != nil {
		return nil, err
	}
	return model.PlanStart(w.domains, domain)
}

// Start boots the domain, or resumes it from its managed-save image.
func (c *Conn) Start(ctx context.Context, domain string) error {
	return c.domainAction(ctx, "start", "starting "+domain, domain, c.PlanStart, func(dom *libvirt.Domain) error { return dom.Create() })
}

// domainAction plans, then runs one libvirt call on the domain; doing
// names the call while it is in flight.
func (c *Conn) domainAction(ctx context.Context, op, doing, domain string,
	plan func(context.Context, string) (*model.Plan, error), act func(*libvirt.Domain) error) error {
	if err := c.refuseReadOnly(op); err != nil {
		return err
	}
	p, err := plan(ctx, domain)
	if err != nil {
		return err
	}
	dom, err := c.domainHandle(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	return c.journaled(p, func() error {
		if err := c.during(doing, domJobInfo(domain), func() error { return act(dom) }); err != nil {
			return opErr(op+" "+domain, err)
		}
		return nil
	})
}
