package chainview

import (
	"context"
	"path/filepath"
	"strings"
	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// blockRequest is a marked range plus options, not yet checked.
type blockRequest struct {
	commit *model.CommitRequest
	pull   *model.PullRequest
}

// blockOp is a commit or pull from the chain view: the backend plans it
// from one read of the host, the user confirms, the backend starts it.
func blockOp(c *common.Common, req blockRequest) dialog.Op {
	b := c.Backend
	title := "Pull"
	if req.commit != nil {
		title = "Commit"
	}
	return dialog.Planned(title,
		func(ctx context.Context) (*model.BlockPlan, error) {
			if req.commit != nil {
				return b.PlanCommit(ctx, *req.commit)
			}
			return b.PlanPull(ctx, *req.pull)
		},
		blockPlanView,
		func(ctx context.Context, bp *model.BlockPlan) error {
			_, err := b.StartBlockJob(ctx, bp)
			return err
		},
		func(bp *model.BlockPlan) string {
			return "Started " + string(bp.Kind) + " on " + bp.Domain + " " + bp.Target + "; the jobs panel (J) follows it."
		})
}

// blockPlanView is the plan as a person reads it, with the chain
// afterwards and the limit added to the steps.
func blockPlanView(bp *model.BlockPlan) model.Plan {
	p := bp.Plan
	p.Steps = append([]string(nil), p.Steps...)
	var names []string
	for _, n := range bp.NewChain {
		names = append(names, filepath.Base(n))
	}
	p.Steps = append(p.Steps, "chain afterwards (active first): "+strings.Join(names, " → "))
	if bp.Bandwidth > 0 {
		p.Steps = append(p.Steps, "copy at most "+model.BandwidthTextShort(bp.Bandwidth))
	}
	if bp.Offline && !bp.StartPaused {
		p.Steps = append(p.Steps, "the domain is shut off: qemu-img does the work")
	}
	return p
}
