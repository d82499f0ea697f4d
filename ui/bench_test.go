package ui

import (
	"context"
	"strconv"
	"testing"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
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

// Budget (issue 12): on a 500-domain host the TUI redraws within 50 ms of
// a lifecycle event. One op is what the program does between the event and
// the new frame: Update takes the event (and asks for that one domain
// only), the re-read's answer (here from the fake backend; the real
// DiscoverDomain is timed in libvirtx's BenchmarkIntegrationDiscoverPhases)
// goes through Update, and the frame is rendered. The event's domain is the
// selected one, so the detail pane is rebuilt too.
func BenchmarkEventRedraw500(b *testing.B) {
	f := newFake(fleet(500)...)
	m := benchModel(b, 200, 60, f)
	for range 250 {
		m.Update(keyMsg("j"))
	}
	name := m.list.SelectedName()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Update(eventMsg{ev: model.Event{Domain: name, Kind: "Started"}})
		if !m.hosts[0].inflight[name] {
			b.Fatal("the event did not start a re-read of its domain")
		}
		m.Update(m.rediscover(0, name)())
		_ = m.View()
	}
	b.StopTimer()
	if f.discoverCalls != 1 {
		b.Fatalf("events led to %d full discoveries, want none after the first", f.discoverCalls-1)
	}
	for _, n := range f.domainCalls {
		if n != name {
			b.Fatalf("an event on %s re-read %s", name, n)
		}
	}
}
