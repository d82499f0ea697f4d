package jobs

// The plan dialogs of the jobs panel: abort, pivot and the metadata
// cleanup. (Commit and pull start in the chain view.)

import (
	"context"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// abortOp confirms and sends an abort: the chain stays as it was.
func abortOp(o *dialog.Opener, c *common.Common, j model.Job) tea.Cmd {
	jb := c.Backend
	p := model.Plan{Op: "abort", Domain: j.Domain, Target: j.Disk,
		Summary: "Abort the " + string(j.Kind) + " on " + j.Domain + " " + j.Disk,
		Virsh:   []string{model.ShellJoin([]string{"virsh", "blockjob", "--domain", j.Domain, "--path", j.Disk, "--abort"})}}
	switch {
	case j.Phase == model.PhaseReady && j.Kind == model.JobActiveCommit:
		p.Steps = []string{"stop the mirror and keep the overlay: the chain stays as it is",
			"the base keeps a copy of the data committed so far"}
	case j.Offline:
		p.Steps = []string{"stop qemu-img; the chain stays as it is"}
		p.Virsh = nil
	default:
		p.Steps = []string{"stop the job; the chain stays as it is"}
		if j.Kind == model.JobCommit || j.Kind == model.JobActiveCommit {
			p.Warnings = []string{"the base keeps the part of the data already written into it"}
		}
	}
	return dialog.Confirm(o, c, "Abort "+string(j.Kind)+" on "+j.Domain+" "+j.Disk, p, func(ctx context.Context) (string, error) {
		if err := jb.AbortBlockJob(ctx, j.Domain, j.Disk, false); err != nil {
			return "", err
		}
		return "Abort requested on " + j.Domain + " " + j.Disk + "; the jobs panel shows when it is done.", nil
	}, j.Domain)
}

// pivotOp confirms and pivots an active commit now (READY) or at READY.
func pivotOp(o *dialog.Opener, c *common.Common, j model.Job) tea.Cmd {
	jb := c.Backend
	if j.Kind != model.JobActiveCommit && j.Kind != model.JobCopy {
		return common.ErrCmd("a " + string(j.Kind) + " job has no pivot: it completes by itself")
	}
	p := model.Plan{Op: "pivot", Domain: j.Domain, Target: j.Disk,
		Summary: "Pivot the " + string(j.Kind) + " on " + j.Domain + " " + j.Disk,
		Virsh:   []string{model.ShellJoin([]string{"virsh", "blockjob", "--domain", j.Domain, "--path", j.Disk, "--pivot"})}}
	into := "the base"
	if j.Base != "" {
		into = filepath.Base(j.Base)
	}
	if j.Phase == model.PhaseReady {
		p.Steps = []string{into + " becomes the active layer now; the layers above it leave the chain"}
	} else {
		p.Steps = []string{"wait for READY, then " + into + " becomes the active layer; the layers above it leave the chain"}
	}
	return dialog.Confirm(o, c, "Pivot "+j.Domain+" "+j.Disk, p, func(ctx context.Context) (string, error) {
		if err := jb.PivotBlockJob(ctx, j.Domain, j.Disk); err != nil {
			return "", err
		}
		return "Pivot requested on " + j.Domain + " " + j.Disk + ".", nil
	}, j.Domain)
}

// cleanupOp removes the stale snapshot metadata of domain (metadata only:
// the TUI never deletes image files).
func cleanupOp(o *dialog.Opener, c *common.Common, domain string) tea.Cmd {
	b := c.Backend
	return dialog.Start(o, c, dialog.Planned("Clean stale snapshot metadata of "+domain,
		func(ctx context.Context) (*model.CleanupPlan, error) {
			// Metadata only: no file arguments.
			return b.PlanCleanup(ctx, model.CleanupRequest{Domain: domain})
		},
		func(cp *model.CleanupPlan) model.Plan { return cp.Plan },
		func(ctx context.Context, cp *model.CleanupPlan) error {
			if len(cp.Snapshots) == 0 {
				return nil
			}
			_, _, err := b.CleanupStale(ctx, cp)
			return err
		},
		func(cp *model.CleanupPlan) string {
			if len(cp.Snapshots) == 0 {
				return "Nothing to clean on " + domain + "."
			}
			return "Removed the metadata of " + strings.Join(cp.Snapshots, ", ") + "."
		}))
}
