package libvirtx

import (
	"context"
	"sync"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// SetPeers sets the other hosts whose domains this connection's guards
// consult: every plan and every re-plan before an action reads them too
// (model.PeerDomains). Front ends call it whenever their set of open
// hosts changes; nil goes back to this host alone.
func (c *Conn) SetPeers(peers []model.Peer) {
	c.peersMu.Lock()
	c.peers = append([]model.Peer(nil), peers...)
	c.peersMu.Unlock()
}

// Peers is what SetPeers set.
func (c *Conn) Peers() []model.Peer {
	c.peersMu.Lock()
	defer c.peersMu.Unlock()
	return append([]model.Peer(nil), c.peers...)
}

// StoragePools reads this host's active storage pools: type, target and
// source, which say whether two hosts' folders are the same storage.
// It works over a remote connection (the storage API, no files read).
func (c *Conn) StoragePools(ctx context.Context) ([]model.StoragePool, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.virt == nil {
		return nil, c.errClosed()
	}
	pools, err := c.virt.ListAllStoragePools(libvirt.CONNECT_LIST_STORAGE_POOLS_ACTIVE)
	if err != nil {
		return nil, opErr("list storage pools on "+c.uri, err)
	}
	out := make([]model.StoragePool, 0, len(pools))
	for i := range pools {
		if ctx.Err() == nil {
			if sp, ok := poolFacts(&pools[i]); ok {
				out = append(out, sp)
			}
		}
		_ = pools[i].Free()
	}
	return out, ctx.Err()
}

// poolFacts turns one pool's XML into the facts the guards compare.
func poolFacts(p *libvirt.StoragePool) (model.StoragePool, bool) {
	doc, err := p.GetXMLDesc(0)
	if err != nil {
		return model.StoragePool{}, false
	}
	var x libvirtxml.StoragePool
	if x.Unmarshal(doc) != nil {
		return model.StoragePool{}, false
	}
	sp := model.StoragePool{Name: x.Name, Type: x.Type}
	if x.Target != nil {
		sp.Target = x.Target.Path
	}
	if s := x.Source; s != nil {
		for _, h := range s.Host {
			sp.SourceHosts = append(sp.SourceHosts, h.Name)
		}
		if s.Dir != nil {
			sp.SourceDir = s.Dir.Path
		}
		for _, d := range s.Device {
			sp.SourceDevices = append(sp.SourceDevices, d.Path)
		}
		sp.SourceName = s.Name
	}
	return sp, true
}

// PeerViews reads every peer at once (domains with snapshots and points,
// and pools); one that fails has Err set. It takes as long as the
// slowest peer.
func (c *Conn) PeerViews(ctx context.Context) []model.HostView {
	peers := c.Peers()
	out := make([]model.HostView, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		out[i].Name = p.Name
		if p.Reader == nil {
			out[i].Err = p.Err
			if out[i].Err == "" {
				out[i].Err = "not connected"
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			doms, err := p.Reader.Discover(ctx)
			if err == nil {
				out[i].Pools, err = p.Reader.StoragePools(ctx)
			}
			if err != nil {
				out[i].Err = model.OneLine(err.Error())
				return
			}
			out[i].Domains = doms
			if sr, ok := p.Reader.(SaveImageReader); ok {
				out[i].Saved = sr.SaveImageUsers(ctx, doms)
			}
		}()
	}
	wg.Wait()
	return out
}

// guardDiscover is Discover of this host with every peer read at the
// same time: this host's domains followed by the peers' in this host's
// terms, and the report a plan applies (model.PeerReport.Apply). It
// takes about as long as the slowest host. Without peers it is Discover
// and an empty report.
func (c *Conn) guardDiscover(ctx context.Context) ([]model.Domain, model.PeerReport, error) {
	if len(c.Peers()) == 0 {
		doms, err := c.Discover(ctx)
		return doms, model.PeerReport{}, err
	}
	type peerRead struct {
		doms []model.Domain
		rep  model.PeerReport
		err  error
	}
	ch := make(chan peerRead, 1)
	go func() {
		doms, rep, err := c.PeerDomains(ctx)
		ch <- peerRead{doms, rep, err}
	}()
	doms, err := c.Discover(ctx)
	pr := <-ch
	if err != nil {
		return nil, model.PeerReport{}, err
	}
	if pr.err != nil {
		return nil, model.PeerReport{}, pr.err
	}
	return model.WithPeers(doms, pr.doms), pr.rep, nil
}

// PeerDomains is every peer's domains in this host's terms (Host set),
// for a front end that builds references over all hosts itself
// (model.BuildRefs(model.WithPeers(local, peers))). Without peers it is
// nil.
func (c *Conn) PeerDomains(ctx context.Context) ([]model.Domain, model.PeerReport, error) {
	if len(c.Peers()) == 0 {
		return nil, model.PeerReport{}, nil
	}
	local, err := c.StoragePools(ctx)
	if err != nil {
		return nil, model.PeerReport{}, err
	}
	peers, report := model.PeerDomains(local, c.PeerViews(ctx))
	return peers, report, nil
}

// SaveImageReader is a peer that also tells which files its save images
// use (Conn.SaveImageUsers); a peer without it is read without them.
type SaveImageReader interface {
	SaveImageUsers(ctx context.Context, doms []model.Domain) map[string][]string
}

// SaveImageUsers maps the files that the managed-save images of doms use
// (each image, and the images its saved definition names) to who uses
// them. It reads the saved definitions through libvirt, so it works over
// a remote connection.
func (c *Conn) SaveImageUsers(ctx context.Context, doms []model.Domain) map[string][]string {
	saved := map[string][]string{}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.virt == nil {
		return saved
	}
	for _, d := range doms {
		if ctx.Err() != nil {
			break
		}
		if d.ManagedSave && d.Host == "" {
			c.managedSaveUsers(d.Name, saved)
		}
	}
	return saved
}
