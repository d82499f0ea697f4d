package ui

import (
	"context"
	"strconv"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// Budget (DESIGN.md): a frame of a 1000-layer chain or of a 500-domain list
// renders in under 2 ms. Each benchmark renders the whole frame, colours
// on, with the cursor mid-way so scrolling math is exercised too.

func benchModel(b *testing.B, w, h int, f *fakeBackend) *Model {
	b.Helper()
	m := New(context.Background(), f, Options{})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(m.discover(0)())
	return m
}

func BenchmarkChainView1000Layers(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {200, 60}} {
		b.Run(strconv.Itoa(sz[0])+"x"+strconv.Itoa(sz[1]), func(b *testing.B) {
			m := benchModel(b, sz[0], sz[1], newFake(chainDomain("deep", 1000)))
			m.Update(keyMsg("l"))
			for range 500 {
				m.Update(keyMsg("j"))
			}
			if _, l := m.detail.Chains().Cursor(); l == nil || *l.Index != 500 {
				b.Fatalf("cursor not mid-chain: %v", l)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

func BenchmarkDomainList500(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {200, 60}} {
		b.Run(strconv.Itoa(sz[0])+"x"+strconv.Itoa(sz[1]), func(b *testing.B) {
			m := benchModel(b, sz[0], sz[1], newFake(fleet(500)...))
			for range 250 {
				m.Update(keyMsg("j"))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}
