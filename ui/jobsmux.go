package ui

// With several hosts the jobs panel follows every host's block jobs
// through one jobMux: a Backend whose job stream merges the hosts'
// streams, naming each job's domain HOST:DOMAIN, and whose job actions go
// to the host that name says.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

type jobMux struct {
	noHost
	ctx context.Context
	out chan model.Job

	mu    sync.Mutex
	hosts map[string]Backend // by host name, the connection followed now
	names []string
	plans map[*model.CleanupPlan]Backend
}

func newJobMux(ctx context.Context, names []string) *jobMux {
	return &jobMux{noHost: noHost{uri: strconv.Itoa(len(names)) + " hosts"}, ctx: ctx,
		out: make(chan model.Job, 64), hosts: map[string]Backend{}, names: names,
		plans: map[*model.CleanupPlan]Backend{}}
}

// muxAttachedMsg says host's jobs are followed (again, after a
// reconnect); found are the ones running then, named HOST:DOMAIN.
type muxAttachedMsg struct {
	host  string
	found []model.Job
}

// add follows b's block jobs as host name's (after a reconnect, in place
// of the lost connection's), in a Cmd: WatchBlockJobs calls libvirt. The
// jobs running now arrive on the merged stream like any change.
func (x *jobMux) add(name string, b Backend) tea.Cmd {
	return func() tea.Msg {
		ch, running, err := b.WatchBlockJobs(x.ctx)
		if err != nil {
			return nil // the host's own state line says what is wrong
		}
		x.mu.Lock()
		x.hosts[name] = b
		x.mu.Unlock()
		found := make([]model.Job, len(running))
		for i, j := range running {
			j.Domain = name + ":" + j.Domain
			found[i] = j
		}
		go x.forward(name, ch, running)
		return muxAttachedMsg{host: name, found: found}
	}
}

func (x *jobMux) forward(name string, ch <-chan model.Job, running []model.Job) {
	send := func(j model.Job) bool {
		j.Domain = name + ":" + j.Domain
		select {
		case x.out <- j:
			return true
		case <-x.ctx.Done():
			return false
		}
	}
	for _, j := range running {
		if !send(j) {
			return
		}
	}
	if ch == nil {
		return
	}
	for j := range ch {
		if !send(j) {
			return
		}
	}
}

// route splits HOST:DOMAIN and finds that host's connection.
func (x *jobMux) route(name string) (Backend, string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, h := range x.names {
		if p := h + ":"; strings.HasPrefix(name, p) {
			if b := x.hosts[h]; b != nil {
				return b, name[len(p):], nil
			}
			return nil, "", errors.New("host " + h + " is not connected")
		}
	}
	return nil, "", errors.New("no host for " + name)
}

func (x *jobMux) each(f func(Backend)) {
	x.mu.Lock()
	bs := make([]Backend, 0, len(x.hosts))
	for _, b := range x.hosts {
		bs = append(bs, b)
	}
	x.mu.Unlock()
	for _, b := range bs {
		f(b)
	}
}

func (x *jobMux) ReadOnly() bool {
	ro := true
	x.each(func(b Backend) { ro = ro && b.ReadOnly() })
	return ro && len(x.hosts) > 0
}

func (x *jobMux) WatchBlockJobs(context.Context) (<-chan model.Job, []model.Job, error) {
	return x.out, nil, nil
}

func (x *jobMux) RescanBlockJobs(ctx context.Context) error {
	var errs []error
	x.each(func(b Backend) { errs = append(errs, b.RescanBlockJobs(ctx)) })
	return errors.Join(errs...)
}

func (x *jobMux) CloseBlockJobs() {} // each host's connection stops its own

func (x *jobMux) AbortBlockJob(ctx context.Context, domain, disk string, pivot bool) error {
	b, name, err := x.route(domain)
	if err != nil {
		return err
	}
	return b.AbortBlockJob(ctx, name, disk, pivot)
}

func (x *jobMux) PivotBlockJob(ctx context.Context, domain, disk string) error {
	b, name, err := x.route(domain)
	if err != nil {
		return err
	}
	return b.PivotBlockJob(ctx, name, disk)
}

func (x *jobMux) SetBlockJobBandwidth(ctx context.Context, domain, disk string, bps int64) error {
	b, name, err := x.route(domain)
	if err != nil {
		return err
	}
	return b.SetBlockJobBandwidth(ctx, name, disk, bps)
}

func (x *jobMux) PlanCleanup(ctx context.Context, req model.CleanupRequest) (*model.CleanupPlan, error) {
	b, name, err := x.route(req.Domain)
	if err != nil {
		return nil, err
	}
	req.Domain = name
	cp, err := b.PlanCleanup(ctx, req)
	if cp != nil {
		x.mu.Lock()
		x.plans[cp] = b
		x.mu.Unlock()
	}
	return cp, err
}

func (x *jobMux) CleanupStale(ctx context.Context, cp *model.CleanupPlan) ([]string, []string, error) {
	x.mu.Lock()
	b := x.plans[cp]
	delete(x.plans, cp)
	x.mu.Unlock()
	if b == nil {
		return nil, nil, errors.New("the cleanup plan belongs to no connected host")
	}
	return b.CleanupStale(ctx, cp)
}
