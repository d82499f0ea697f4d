package jobs

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
)

// Msg marks the messages of the block-job features, so the root routes
// them to the panel with one case.
type Msg interface{ isJobMsg() }

type (
	// jobsWatchMsg is the start of the job stream.
	jobsWatchMsg struct {
		ch   <-chan model.Job
		jobs []model.Job
		err  error
	}
	// UpdateMsg is one change of one job, from stream Ch.
	UpdateMsg struct {
		Job model.Job
		Ch  <-chan model.Job
	}
	// jobsClosedMsg says the job stream ch ended.
	jobsClosedMsg struct{ ch <-chan model.Job }
	// TickMsg applies held-back progress, at most 10 times a second.
	TickMsg struct{ Gen int }
	// rescanMsg is the end of a rescan for jobs started elsewhere.
	rescanMsg struct{ err error }
	// jobActionMsg answers a bandwidth change.
	jobActionMsg struct {
		what string
		err  error
	}
)

func (jobsWatchMsg) isJobMsg()  {}
func (UpdateMsg) isJobMsg()     {}
func (jobsClosedMsg) isJobMsg() {}
func (TickMsg) isJobMsg()       {}
func (rescanMsg) isJobMsg()     {}
func (jobActionMsg) isJobMsg()  {}

// watchJobsCmd starts the job stream; jobs found running are re-attached.
func watchJobsCmd(c *common.Common) tea.Cmd {
	jb, ctx := c.Backend, c.Ctx
	return func() tea.Msg {
		ch, jobs, err := jb.WatchBlockJobs(ctx)
		return jobsWatchMsg{ch: ch, jobs: jobs, err: err}
	}
}

// waitJobCmd waits for the next change and is issued again after each one
// (the realtime pattern): nothing runs while no job changes.
func waitJobCmd(ctx context.Context, ch <-chan model.Job) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case j, ok := <-ch:
			if !ok {
				return jobsClosedMsg{ch: ch}
			}
			return UpdateMsg{Job: j, Ch: ch}
		case <-ctx.Done():
			return nil
		}
	}
}

// redrawEvery is the shortest time between two progress redraws.
const redrawEvery = 100 * time.Millisecond

func jobTickCmd(gen int, d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return TickMsg{Gen: gen} })
}

func rescanCmd(c *common.Common) tea.Cmd {
	jb, ctx := c.Backend, c.Ctx
	return func() tea.Msg { return rescanMsg{err: jb.RescanBlockJobs(ctx)} }
}

// bandwidthCmd changes a running job's limit.
func bandwidthCmd(c *common.Common, j model.Job, bps int64) tea.Cmd {
	jb, ctx := c.Backend, c.Ctx
	return func() tea.Msg {
		return jobActionMsg{what: "bandwidth of " + j.Domain + " " + j.Disk, err: jb.SetBlockJobBandwidth(ctx, j.Domain, j.Disk, bps)}
	}
}
