package ui

import (
	"context"
	"testing"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

// peered is a fake whose guards can read peers, as libvirtx.Conn's do.
type peered struct {
	*fakeBackend
	peers []model.Peer
}

func (p *peered) SetPeers(ps []model.Peer) { p.peers = ps }
func (p *peered) StoragePools(context.Context) ([]model.StoragePool, error) {
	return nil, nil
}

// namedHosts is a harness on hosts with their names, f the first one's
// fake; the connected ones are read.
func namedHosts(t *testing.T, f *fakeBackend, hosts []Host, opts Options) *harness {
	t.Helper()
	opts.NoColor = true
	m := NewHosts(context.Background(), hosts, opts)
	h := &harness{t: t, m: m, f: f}
	h.send(tea.WindowSizeMsg{Width: 80, Height: 30})
	for i, hs := range m.hosts {
		if hs.b != nil {
			h.send(m.discover(i)())
		}
	}
	return h
}

func TestVc10gFilterMatchesHostNames(t *testing.T) {
	fa := newFake(classicDomain(), branchyDomain())
	fb := newFake(chainDomain("web1", 3), classicDomain())
	h := namedHosts(t, fa, []Host{{Name: "hv-one", Backend: fa}, {Name: "hv-two", Backend: fb}}, Options{})
	h.contains("Domains on 2 hosts (4)")
	// A host's name keeps its domains, and only those.
	h.keys("/", "h", "v", "-", "t", "w", "o")
	h.contains("Domains on 2 hosts (2/4)", "▾ hv-one 0/2 domains", "▾ hv-two 2 domains", "web1")
	if h.m.list.SelectedHost() != 1 {
		t.Errorf("filtering on hv-two selected host %d", h.m.list.SelectedHost())
	}
	h.lacks("lab-tree")
	// HOST:DOMAIN narrows to one host's domain.
	h.keys("esc", "/")
	h.typeText("hv-one:lab-t")
	h.contains("Domains on 2 hosts (2/4)", "▾ hv-one 2 domains", "▾ hv-two 0/2 domains", "lab-tree")
	h.lacks("web1")
	// A name on both hosts still matches on both.
	h.keys("esc", "/")
	h.typeText("test2")
	h.contains("Domains on 2 hosts (2/4)", "▾ hv-one 1/2 domains", "▾ hv-two 1/2 domains")
}

func TestVc10gEachHostsGuardsReadTheOtherHosts(t *testing.T) {
	pa := &peered{fakeBackend: newFake(classicDomain())}
	pb := &peered{fakeBackend: newFake(chainDomain("web1", 3))}
	extra := model.Peer{Name: "hv-file-only", Err: "not dialed"}
	h := namedHosts(t, pa.fakeBackend, []Host{{Name: "a", Backend: pa}, {Name: "b", Backend: pb},
		{Name: "down", URI: "qemu+ssh://nowhere/system"}}, Options{Peers: []model.Peer{extra}})
	for _, tc := range []struct {
		self  *peered
		other Backend
		name  string
	}{{pa, pb, "b"}, {pb, pa, "a"}} {
		ps := tc.self.peers
		if len(ps) != 3 {
			t.Fatalf("peers %+v, want the two other hosts and the hosts file's one", ps)
		}
		if ps[0].Name != tc.name || ps[0].Reader != model.PeerReader(tc.other.(*peered)) {
			t.Errorf("first peer %+v, want host %s read through its own Backend", ps[0], tc.name)
		}
		// A host not connected is a peer that cannot be read: plans say
		// so, and refuse to rewrite or delete a file meanwhile.
		if ps[1].Name != "down" || ps[1].Reader != nil || ps[1].Err == "" {
			t.Errorf("unconnected peer %+v", ps[1])
		}
		if ps[2] != extra {
			t.Errorf("hosts file peer %+v", ps[2])
		}
	}
	// The shared Backend a key uses is the selected domain's host, whose
	// peers are the others.
	h.keys("down")
	if h.m.common.Backend != Backend(pb) {
		t.Fatalf("b's domain selected, backend %v", h.m.common.Backend.URI())
	}
}
