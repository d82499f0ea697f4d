package model

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// OrphanHost is one host's side of the orphan search and deletion;
// libvirtx.Conn implements it.
type OrphanHost interface {
	OrphanFacts(ctx context.Context, dirs []string) (OrphanFacts, error)
	DeleteOrphan(ctx context.Context, img OrphanImage) error
}

// OrphanSource is a host by the name the user knows it by.
type OrphanSource struct {
	Name string
	Host OrphanHost
}

// GatherOrphans asks every host at once and finds the orphans over all
// of them. A host that cannot answer fails the search: a file it uses
// would look orphaned.
func GatherOrphans(ctx context.Context, srcs []OrphanSource, q OrphanQuery) (*OrphanReport, error) {
	facts := make([]OrphanFacts, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			facts[i], errs[i] = s.Host.OrphanFacts(ctx, q.Dirs)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			if len(srcs) > 1 {
				return nil, fmt.Errorf("host %s: %w", srcs[i].Name, err)
			}
			return nil, err
		}
		facts[i].Host = srcs[i].Name
		for j := range facts[i].Images {
			facts[i].Images[j].Host = srcs[i].Name
		}
	}
	return FindOrphansAt(facts, time.Now(), q.MinAge), nil
}

// DeleteOrphans carries out a plan shown to the user: it searches and
// plans again and refuses when the fresh plan differs (something started
// using a file, or a file was replaced), then deletes each file on its
// host, which checks once more that it is the very file found. It returns
// the files deleted, also when it stops at an error.
func DeleteOrphans(ctx context.Context, srcs []OrphanSource, shown *OrphanPlan) ([]OrphanImage, error) {
	deleted := []OrphanImage{}
	r, err := GatherOrphans(ctx, srcs, shown.Request.OrphanQuery)
	if err != nil {
		return deleted, err
	}
	fresh, err := PlanOrphanDelete(r, shown.Request)
	if err != nil {
		return deleted, err
	}
	if !SameOrphanPlan(shown, fresh) {
		return deleted, ErrPlanChanged
	}
	hosts := map[string]OrphanHost{}
	for _, s := range srcs {
		hosts[s.Name] = s.Host
	}
	for _, img := range fresh.Delete {
		h := hosts[img.Host]
		if h == nil {
			return deleted, ErrPlanChanged
		}
		if err := h.DeleteOrphan(ctx, img); err != nil {
			return deleted, err
		}
		deleted = append(deleted, img)
	}
	return deleted, nil
}
