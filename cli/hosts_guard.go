package cli

import (
	"context"
	"os"
	"sync"

	"virtchain/libvirtx"
	"virtchain/model"
)

// Guards that span hosts. A command runs on one host, but its guards
// (who else uses this image) consult every other host of the fleet:
//
//   - every other host named with -c or --host;
//   - when --host is used, or the host the command runs on is in the
//     hosts file, every other host of that file, selected or not:
//     narrowing the selection must not narrow safety;
//   - except a hosts-file host with shared_storage = false, which says
//     it shares no storage with the others.
//
// With one host and no hosts file naming it, nothing changes. The peers
// are dialed only when a plan first reads them, so read-only commands
// never connect to them.

// guardHosts is the fleet of the command's host, without it.
func (e *Env) guardHosts() []hostSpec {
	var out []hostSpec
	seen := map[string]bool{e.URI: true}
	own := map[string]bool{}
	add := func(s hostSpec) {
		if !seen[s.URI] && !own[s.Name] {
			seen[s.URI] = true
			out = append(out, s)
		}
	}
	fileHosts, fileOwn := e.hostsFileFleet()
	for n := range fileOwn {
		own[n] = true
	}
	for _, s := range e.fleet {
		add(s)
	}
	for _, s := range fileHosts {
		add(s)
	}
	return out
}

// hostsFileFleet is the hosts file's hosts when the command's host is
// one of them or --host was used, and the ones marked shared_storage =
// false. A missing or unreadable file is no fleet: with --host it was
// already refused, and without it a broken file never gets in the way.
func (e *Env) hostsFileFleet() ([]hostSpec, map[string]bool) {
	path, err := hostsFilePath()
	if err != nil {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	specs, own, err := parseHostsDoc(path, data)
	if err != nil {
		return nil, nil
	}
	member := len(splitHostNames(e.global.hosts)) > 0
	for _, s := range specs {
		for _, f := range e.fleet {
			member = member || s.URI == f.URI
		}
		member = member || s.URI == e.URI
	}
	if !member {
		return nil, own
	}
	return specs, own
}

// lazyPeer is a peer host dialed on its first read, with the command's
// read-only setting (a writable connection lets discovery read a remote
// shut-off chain through a transient pool, as on the command's host).
type lazyPeer struct {
	spec     hostSpec
	readonly bool
	once     sync.Once
	conn     *libvirtx.Conn
	err      error
}

func (p *lazyPeer) open() error {
	p.once.Do(func() { p.conn, p.err = openConn(p.spec.URI, p.readonly) })
	return p.err
}

// Discover reads the peer's domains.
func (p *lazyPeer) Discover(ctx context.Context) ([]model.Domain, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	return p.conn.Discover(ctx)
}

// StoragePools reads the peer's pools.
func (p *lazyPeer) StoragePools(ctx context.Context) ([]model.StoragePool, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	return p.conn.StoragePools(ctx)
}

// SaveImageUsers reads which files the peer's save images use.
func (p *lazyPeer) SaveImageUsers(ctx context.Context, doms []model.Domain) map[string][]string {
	if err := p.open(); err != nil {
		return nil
	}
	return p.conn.SaveImageUsers(ctx, doms)
}

func (p *lazyPeer) close() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// setPeers hands conn the command's guard hosts.
func (e *Env) setPeers(conn *libvirtx.Conn) {
	if peers := e.lazyPeers(e.guardHosts()); len(peers) > 0 {
		conn.SetPeers(peers)
	}
}

// lazyPeers are specs as peers dialed on first read, closed with e.
func (e *Env) lazyPeers(specs []hostSpec) []model.Peer {
	var peers []model.Peer
	for _, s := range specs {
		lp := &lazyPeer{spec: s, readonly: e.ReadOnly}
		e.peers = append(e.peers, lp)
		peers = append(peers, model.Peer{Name: s.Name, Reader: lp})
	}
	return peers
}

// unshownPeers are the hosts file's hosts that the TUI does not show
// but whose domains the shown hosts' guards consult (the shown ones are
// each other's peers in the UI).
func (e *Env) unshownPeers(shown []hostSpec) []model.Peer {
	fileHosts, own := e.hostsFileFleet()
	seen := map[string]bool{}
	for _, s := range shown {
		seen[s.URI] = true
	}
	var out []hostSpec
	for _, s := range fileHosts {
		if !seen[s.URI] && !own[s.Name] {
			seen[s.URI] = true
			out = append(out, s)
		}
	}
	return e.lazyPeers(out)
}
