package forms

import (
	"context"
	"fmt"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// The snapshot and restore-point operations as Ops (package dialog): each
// plans through the Backend in a Cmd, shows its plan, and runs it on y.
// They mirror the CLI's commands in cli/snapshot_cmds.go.

// SnapshotCreateOp creates the snapshot req asks for.
func SnapshotCreateOp(c *common.Common, req model.SnapshotCreateRequest) dialog.Op {
	b := c.Backend
	return dialog.Planned("New snapshot "+req.Name+" of "+req.Domain,
		func(ctx context.Context) (*model.SnapshotCreatePlan, error) { return b.PlanSnapshotCreate(ctx, req) },
		func(p *model.SnapshotCreatePlan) model.Plan { return p.Plan },
		func(ctx context.Context, p *model.SnapshotCreatePlan) error { return b.CreateSnapshot(ctx, p) },
		func(p *model.SnapshotCreatePlan) string {
			return fmt.Sprintf("Created %s snapshot %s of %s.", p.Kind, req.Name, req.Domain)
		})
}

// SnapshotRevertOp reverts to the snapshot req names.
func SnapshotRevertOp(c *common.Common, req model.SnapshotRevertRequest) dialog.Op {
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

// SnapshotDeleteOp deletes a snapshot, or only its metadata.
func SnapshotDeleteOp(c *common.Common, req model.SnapshotDeleteRequest) dialog.Op {
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

// SaveOp saves a domain to a file.
func SaveOp(c *common.Common, req model.SaveRequest) dialog.Op {
	b := c.Backend
	return dialog.Planned("Save "+req.Domain+" to "+req.File,
		func(ctx context.Context) (*model.Plan, error) { return b.PlanSave(ctx, req) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return b.Save(ctx, req) },
		func(*model.Plan) string { return fmt.Sprintf("Saved %s to %s; it is shut off.", req.Domain, req.File) })
}

// RestoreOp restores a domain from a save file.
func RestoreOp(c *common.Common, req model.RestoreRequest) dialog.Op {
	b := c.Backend
	// Reread stays empty: the plan's Domain is the one in the file, or ""
	// (everything is read again) when the file's header was unreadable.
	return dialog.Planned("Restore from "+req.File,
		func(ctx context.Context) (*model.Plan, error) { return b.PlanRestore(ctx, req) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return b.Restore(ctx, req) },
		func(p *model.Plan) string { return fmt.Sprintf("Restored %s from %s.", p.Domain, req.File) })
}

// DomainOp is an Op on one domain with no request beyond its name.
func DomainOp(title, dom string, plan func(context.Context, string) (*model.Plan, error),
	act func(context.Context, string) error, done string) dialog.Op {
	return dialog.Planned(title,
		func(ctx context.Context) (*model.Plan, error) { return plan(ctx, dom) },
		plainPlan,
		func(ctx context.Context, _ *model.Plan) error { return act(ctx, dom) },
		func(*model.Plan) string { return fmt.Sprintf(done, dom) })
}

func plainPlan(p *model.Plan) model.Plan { return *p }
