package ui

import (
	"virtchain/model"
	"virtchain/ui/common"
)

// session is common.Common plus what the components of this package still
// hand each other through it: the jobs steered here and the live job of a
// disk.
type session struct {
	*common.Common

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
