package ui

import (
	"context"
	"slices"

	"virtchain/model"
)

// fakeOrphans is a fake host's files for the orphans view: the images in
// its folders, what it deleted, and how often it was asked.
type fakeOrphans struct {
	images     []model.OrphanImage
	deleted    []string
	factsCalls int
}

func (f *fakeBackend) OrphanFacts(context.Context, []string) (model.OrphanFacts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orph.factsCalls++
	if f.err != nil {
		return model.OrphanFacts{}, f.err
	}
	return model.OrphanFacts{Host: f.uri, Domains: append([]model.Domain(nil), f.domains...),
		Images: append([]model.OrphanImage(nil), f.orph.images...)}, nil
}

func (f *fakeBackend) DeleteOrphan(_ context.Context, img model.OrphanImage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.orph.images, func(o model.OrphanImage) bool { return o.Path == img.Path })
	if i < 0 {
		return model.ErrPlanChanged
	}
	f.orph.images = slices.Delete(f.orph.images, i, i+1)
	f.orph.deleted = append(f.orph.deleted, img.Path)
	return nil
}

func (f *fakeBackend) orphanState() fakeOrphans {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeOrphans{images: slices.Clone(f.orph.images), deleted: slices.Clone(f.orph.deleted), factsCalls: f.orph.factsCalls}
}
