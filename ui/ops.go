package ui

import (
	"context"
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// The snapshot and restore-point operations as Ops (see package dialog): each
// plans through the Backend in a Cmd, shows its plan, and runs it on y.
// They mirror the CLI's commands in cli/snapshot_cmds.go.

func snapshotCreateOp(c *common.Common, req model.SnapshotCreateRequest) dialog.Op {
	b := c.Backend
	return dialog.Planned("New snapshot "+req.Name+" of "+req.Domain,
		func(ctx context.Context) (*model.SnapshotCreatePlan, error) { return b.PlanSnapshotCreate(ctx, req) },
		func(p *model.SnapshotCreatePlan) model.Plan { return p.Plan },
		func(ctx context.Context, p *model.SnapshotCreatePlan) error { return b.CreateSnapshot(ctx, p) },
		func(p *model.SnapshotCreatePlan) string {
			return fmt.Sprintf("Created %s snapshot %s of %s.", p.Kind, req.Name, req.Domain)
		})
}

func snapshotRevertOp(c *common.Common, req model.SnapshotRevertRequest) dialog.Op {
	b := c.Backend
	return dialog.Planned("Revert "+req.Domain+" to snapshot "+req.Name,
		func(ctx context.Context) (*model.SnapshotRevertPlan, error) { return b.PlanSnapshotRevert(ctx, req) },
		func(p *model.SnapshotRevertPlan) model.Plan { return p.Plan },
		func(ctx context.Context, p *model.SnapshotRevertPlan) error { return b.RevertSnapshot(ctx, p) },
		func(p *model.SnapshotRevertPlan) string {
			how := "shut off"
			if p.Start != model.StartDefault {
				how = string(p.Start)
			}
			return fmt.Sprintf("Reverted %s to snapshot %s; it is %s.", req.Domain, req.Name, how)
		})
}

func snapshotDeleteOp(c *common.Common, req model.SnapshotDeleteRequest) dialog.Op {
	b := c.Backend
	title := "Delete snapshot " + req.Name + " of " + req.Domain
	done := "Deleted snapshot %s of %s."
	if req.MetadataOnly {
		title = "Remove the metadata of snapshot " + req.Name + " of " + req.Domain
		done = "Removed snapshot %s of %s from libvirt's metadata; every file stays."
	}
	return dialog.Planned(title,
		func(ctx context.Context) (*model.SnapshotDeletePlan, error) { return b.PlanSnapshotDelete(ctx, req) },
		func(p *model.SnapshotDeletePlan) model.Plan { return p.Plan },
		func(ctx context.Context, p *model.SnapshotDeletePlan) error { return b.DeleteSnapshot(ctx, p) },
		func(*model.SnapshotDeletePlan) string { return fmt.Sprintf(done, req.Name, req.Domain) })
}

func saveOp(c *common.Common, req model.SaveRequest) dialog.Op {
	b := c.Backend
	return dialog.Planned("Save "+req.Domain+" to "+req.File,
		func(ctx context.Context) (*model.Plan, error) { return b.PlanSave(ctx, req) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return b.Save(ctx, req) },
		func(*model.Plan) string { return fmt.Sprintf("Saved %s to %s; it is shut off.", req.Domain, req.File) })
}

func restoreOp(c *common.Common, req model.RestoreRequest) dialog.Op {
	b := c.Backend
	// Reread stays empty: the plan's Domain is the one in the file, or ""
	// (everything is read again) when the file's header was unreadable.
	return dialog.Planned("Restore from "+req.File,
		func(ctx context.Context) (*model.Plan, error) { return b.PlanRestore(ctx, req) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return b.Restore(ctx, req) },
		func(p *model.Plan) string { return fmt.Sprintf("Restored %s from %s.", p.Domain, req.File) })
}

// domainOp is an Op on one domain with no request beyond its name.
func domainOp(title, dom string, plan func(context.Context, string) (*model.Plan, error),
	act func(context.Context, string) error, done string) dialog.Op {
	return dialog.Planned(title,
		func(ctx context.Context) (*model.Plan, error) { return plan(ctx, dom) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return act(ctx, dom) },
		func(*model.Plan) string { return fmt.Sprintf(done, dom) })
}

func plainPlan(p *model.Plan) model.Plan { return *p }

// opKey handles the keys that change a domain: in the domain list (save,
// restore, managed save, start) and on the snapshot tab (new, revert,
// delete). ok is false when msg is none of them here.
func (m *Model) opKey(msg tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	km, c := m.common.KeyMap, m.common
	b := c.Backend
	type action struct {
		bind key.Binding
		what string
		run  func() tea.Cmd
	}
	var acts []action
	switch {
	case m.focus == focusList:
		d := m.list.Selected()
		onDomain := func(f func(d *model.Domain) tea.Cmd) func() tea.Cmd {
			return func() tea.Cmd {
				if d == nil {
					return common.ErrCmd("no domain selected")
				}
				return f(d)
			}
		}
		acts = []action{
			{km.Save, "save a domain", onDomain(func(d *model.Domain) tea.Cmd {
				def := m.saveFiles[d.Name]
				if def == "" {
					def = defaultSaveFile(d)
				}
				name := d.Name
				return saveForm(&m.opener, c, d, def, func(file string) { m.saveFiles[name] = file })
			})},
			{km.Restore, "restore a domain", func() tea.Cmd {
				def := ""
				if d != nil {
					def = m.saveFiles[d.Name]
				}
				return restoreForm(&m.opener, c, def)
			}},
			{km.ManagedSave, "managed-save a domain", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, domainOp("Managed save of "+d.Name, d.Name, b.PlanManagedSave, b.ManagedSave,
					"Saved %s to its managed-save image; it is shut off."))
			})},
			{km.ManagedSaveRemove, "remove a managed-save image", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, domainOp("Remove the managed-save image of "+d.Name, d.Name, b.PlanManagedSaveRemove,
					b.ManagedSaveRemove, "Removed the managed-save image of %s."))
			})},
			{km.Start, "start a domain", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, domainOp("Start "+d.Name, d.Name, b.PlanStart, b.Start, "Started %s."))
			})},
		}
	case m.focus == focusDetail && m.detail.active == tabSnapshots && m.detail.dom != nil:
		d := m.detail.dom
		onSnap := func(f func(s *model.Snapshot) tea.Cmd) func() tea.Cmd {
			return func() tea.Cmd {
				s := m.detail.snaps.Selected()
				if s == nil {
					return common.ErrCmd(d.Name + " has no snapshot to act on: n makes one")
				}
				return f(s)
			}
		}
		acts = []action{
			{km.SnapNew, "create a snapshot", func() tea.Cmd { return newSnapshotForm(&m.opener, c, d) }},
			{km.SnapRevert, "revert to a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd { return revertForm(&m.opener, c, d, s) })},
			{km.SnapDelete, "delete a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd {
				return dialog.Start(&m.opener, c, snapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name}))
			})},
			{km.SnapDeleteMetadata, "delete snapshot metadata", onSnap(func(s *model.Snapshot) tea.Cmd {
				return dialog.Start(&m.opener, c, snapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name, MetadataOnly: true}))
			})},
		}
	}
	for _, a := range acts {
		if !key.Matches(msg, a.bind) {
			continue
		}
		if c.Lost() {
			return common.NotConnected(c), true
		}
		if b.ReadOnly() {
			return dialog.ReadOnly(c, a.what), true
		}
		return a.run(), true
	}
	return nil, false
}

// opHelp is the key groups of the operations, for the full help.
func (m *Model) opHelp() [][]key.Binding {
	km := m.common.KeyMap
	return [][]key.Binding{
		{km.Save, km.Restore, km.ManagedSave, km.ManagedSaveRemove, km.Start},
		{km.SnapNew, km.SnapRevert, km.SnapDelete, km.SnapDeleteMetadata},
	}
}
