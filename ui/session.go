package ui

import (
	"virtchain/model"
	"virtchain/ui/common"
)

// session is common.Common plus what the components of this package still
// hand each other through it: the dialog to open, the jobs steered here,
// the live job of a disk.
type session struct {
	*common.Common

	// dialog hands a dialog to open or close to the root within the
	// Update that decided it (dialog.go).
	dialog dialogSlot

	// steered holds the keys (model.JobKey) of block jobs this session
	// started, aborted or pivoted. Only their endings open a dialog: a job
	// someone else runs on the host only earns a footer line.
	steered map[string]bool

	// liveJob finds the running block job of a domain's disk, as the jobs
	// panel shows it; nil until the root wires the panel in.
	liveJob func(domain, disk string) (model.Job, bool)
}

// steer records that the user acted on the job of domain's disk here.
func (c *session) steer(domain, disk string) {
	if c.steered == nil {
		c.steered = map[string]bool{}
	}
	c.steered[model.JobKey(domain, disk)] = true
}
