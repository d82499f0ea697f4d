package ui

// Several hosts at once: each is dialed in its own Cmd, read, followed and
// reconnected on its own, so a slow or unreachable host never holds back
// the others. With one host nothing here shows: the screen is the
// single-host one.

import (
	"context"
	"errors"
	"sort"
	"time"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/domainlist"
)

// Host is one libvirt connection for Run: its name in the list, its URI,
// and either an open Backend (the caller's, which it closes) or Dial,
// which Run calls in a Cmd of its own (and closes what it returned).
type Host struct {
	Name, URI string
	Backend   Backend
	Dial      func(ctx context.Context) (Backend, error)
}

// Versioner is the side of a Backend that tells the host's versions,
// shown in its header row; a Backend without it shows none.
type Versioner interface {
	Versions(ctx context.Context) (libvirtVersion, hypervisorVersion string, err error)
}

// host is the root's state of one host.
type host struct {
	Host
	b Backend // nil until dialed
	// dialErr is why the last dial failed; dialTries counts them.
	dialErr   string
	dialTries int
	readErr   string // why the last full read failed
	libvirtV  string
	qemuV     string

	domains  []model.Domain
	loaded   bool
	loading  bool
	conn     connState
	inflight map[string]bool
	dirty    map[string]bool
	// afterLoad are domains to read again once the full read ends (focus.go).
	afterLoad map[string]bool
}

func newHost(h Host) *host {
	return &host{Host: h, b: h.Backend, inflight: map[string]bool{}, dirty: map[string]bool{}, afterLoad: map[string]bool{}}
}

// uri is the host's URI, as its connection says once there is one.
func (hs *host) uri() string {
	if hs.b != nil {
		return hs.b.URI()
	}
	return hs.URI
}

// Messages of dialing and versions.
type (
	// dialedMsg is the end of one dial of host h.
	dialedMsg struct {
		h   int
		b   Backend
		err error
	}
	// redialMsg asks for the next dial of host h after a failed one.
	redialMsg struct{ h int }
	// versionsMsg carries host h's versions.
	versionsMsg struct {
		h, gen          int
		libvirt, hyperv string
	}
)

// multi reports whether the screen shows several hosts.
func (m *Model) multi() bool { return len(m.hosts) > 1 }

// dial opens host h's connection in a Cmd.
func (m *Model) dial(h int) tea.Cmd {
	hs, ctx := m.hosts[h], m.common.Ctx
	dial := hs.Dial
	return func() tea.Msg {
		if dial == nil {
			return dialedMsg{h: h, err: errors.New("no connection to open")}
		}
		b, err := dial(ctx)
		return dialedMsg{h: h, b: b, err: err}
	}
}

// redialWait is the wait before dial try n+1 of a host that answered
// none of n: doubling from 1 s up to 30 s, so an unreachable host costs
// almost nothing while the others work.
func redialWait(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// dialed installs a new connection, or says why there is none and tries
// again later.
func (m *Model) dialed(msg dialedMsg) tea.Cmd {
	hs := m.hosts[msg.h]
	if msg.err != nil || msg.b == nil {
		if m.common.Ctx.Err() != nil {
			return nil
		}
		if msg.err == nil {
			msg.err = errors.New("no connection")
		}
		hs.dialTries++
		hs.dialErr = model.OneLine(msg.err.Error())
		if hs.dialTries == 1 {
			// The header row cuts it at the pane's edge: the footer has
			// the whole line until the next key.
			m.status.SetErr(hs.Name + ": " + hs.dialErr)
		}
		m.hostsChanged()
		h := msg.h
		return tea.Tick(redialWait(hs.dialTries), func(time.Time) tea.Msg { return redialMsg{h: h} })
	}
	hs.b, hs.dialErr = msg.b, ""
	hs.conn.opened = append(hs.conn.opened, msg.b) // dialed here: Run closes it
	hs.loading = true
	m.syncLoading()
	m.hostsChanged()
	return tea.Batch(m.hostUp(msg.h), m.spinner.Tick)
}

// hostUp starts what an open connection feeds: its domains, events,
// loss, versions, and with several hosts its block jobs.
func (m *Model) hostUp(h int) tea.Cmd {
	cmds := []tea.Cmd{m.discover(h), m.waitEvent(h), m.waitLost(h)}
	if m.multi() {
		cmds = append(cmds, m.versions(h), m.mux.add(m.hosts[h].Name, m.hosts[h].b))
	}
	return tea.Batch(cmds...)
}

// versions reads host h's versions, when its Backend tells them.
func (m *Model) versions(h int) tea.Cmd {
	v, ok := m.hosts[h].b.(Versioner)
	if !ok {
		return nil
	}
	ctx, gen := m.common.Ctx, m.hosts[h].conn.gen
	return func() tea.Msg {
		lv, qv, err := v.Versions(ctx)
		if err != nil {
			return nil // the header shows no versions; the state line says why
		}
		return versionsMsg{h: h, gen: gen, libvirt: lv, hyperv: qv}
	}
}

// allRead reports whether every host was read once.
func (m *Model) allRead() bool {
	for _, hs := range m.hosts {
		if !hs.loaded {
			return false
		}
	}
	return true
}

// syncLoading sets the header's loading flag from the hosts.
func (m *Model) syncLoading() {
	m.loading = false
	for _, hs := range m.hosts {
		m.loading = m.loading || hs.loading
	}
}

// hostState words host h's connection for its header row; bad draws it
// as a warning.
func (hs *host) state() (text string, bad bool) {
	switch {
	case hs.b == nil && hs.dialErr == "":
		return "connecting…", false
	case hs.b == nil:
		return "unreachable: " + hs.dialErr + "; retrying", true
	case hs.conn.lost && hs.conn.tryErr != "":
		return "lost; reconnecting… (unreachable: " + hs.conn.tryErr + ")", true
	case hs.conn.lost:
		return "lost; reconnecting…", true
	case hs.readErr != "":
		return "read failed: " + hs.readErr, true
	case !hs.loaded:
		return "reading…", false
	}
	return "connected", false
}

// hostsChanged rebuilds the list from every host's domains, keeping the
// selection, and points the shared Backend at the selected domain's host.
func (m *Model) hostsChanged() {
	var all []model.Domain
	var groups []domainlist.Host
	for _, hs := range m.hosts {
		sort.SliceStable(hs.domains, func(i, j int) bool { return hs.domains[i].Name < hs.domains[j].Name })
		all = append(all, hs.domains...)
		st, bad := hs.state()
		groups = append(groups, domainlist.Host{Name: hs.Name, Libvirt: hs.libvirtV, QEMU: hs.qemuV,
			State: st, Bad: bad, Domains: hs.domains})
	}
	m.domains = all
	if m.multi() {
		m.list.SetHosts(groups)
	} else {
		m.list.SetDomains(m.domains)
	}
	m.jobs.SetDomains(m.jobDomains())
	m.syncPeers()
	m.layout()
	m.syncDetail()
	m.noteSelection()
}

// peerSetter is a Backend whose guards can read other hosts
// (libvirtx.Conn.SetPeers).
type peerSetter interface{ SetPeers([]model.Peer) }

// syncPeers gives each connected host's Backend the other hosts as the
// peers its guards read, so a plan made on one host, and its re-plan
// before it runs, see the domains of all: a host not connected now is a
// peer that cannot be read, and the plan says so. It only sets fields:
// the reads happen in the plans' Cmds.
func (m *Model) syncPeers() {
	if !m.multi() && len(m.opts.Peers) == 0 {
		return
	}
	for i, hs := range m.hosts {
		ps, ok := hs.b.(peerSetter)
		if !ok {
			continue
		}
		var peers []model.Peer
		for j, o := range m.hosts {
			if j == i {
				continue
			}
			p := model.Peer{Name: o.Name}
			if r, ok := o.b.(model.PeerReader); ok {
				p.Reader = r
			} else {
				p.Err, _ = o.state()
			}
			peers = append(peers, p)
		}
		ps.SetPeers(append(peers, m.opts.Peers...))
	}
}

// selHost is the host of the selected domain, else the first connected
// one, else host 0.
func (m *Model) selHost() int {
	if h := m.list.SelectedHost(); h >= 0 {
		return h
	}
	for i, hs := range m.hosts {
		if hs.b != nil {
			return i
		}
	}
	return 0
}

// routeBackend points the shared Common at the selected domain's host, so
// every operation a key starts goes to that host's connection.
func (m *Model) routeBackend() {
	if !m.multi() {
		return
	}
	m.common.Host = m.selHost()
	hs := m.hosts[m.common.Host]
	if hs.b != nil {
		m.common.Backend = hs.b
	} else {
		m.common.Backend = noHost{uri: hs.URI}
	}
}

// qualify names host h's domain as HOST:DOMAIN, the way the jobs panel
// shows several hosts' jobs; with one host a name stays as it is.
func (m *Model) qualify(h int, name string) string {
	if !m.multi() || name == "" {
		return name
	}
	return m.hosts[h].Name + ":" + name
}

// unqualify splits HOST:DOMAIN back into the host and the domain.
func (m *Model) unqualify(name string) (int, string) {
	if !m.multi() {
		return 0, name
	}
	for i, hs := range m.hosts {
		if p := hs.Name + ":"; len(name) > len(p) && name[:len(p)] == p {
			return i, name[len(p):]
		}
	}
	return -1, name
}

// jobDomains are the domains as the jobs panel names them.
func (m *Model) jobDomains() []model.Domain {
	if !m.multi() {
		return m.domains
	}
	var ds []model.Domain
	for i, hs := range m.hosts {
		for _, d := range hs.domains {
			d.Name = m.qualify(i, d.Name)
			ds = append(ds, d)
		}
	}
	return ds
}

// detailJobs are the jobs of the selected domain's host, named as that
// host names them, for the detail pane.
func (m *Model) detailJobs() []model.Job {
	js := m.jobs.Jobs()
	if !m.multi() {
		return js
	}
	sel := m.selHost()
	var out []model.Job
	for _, j := range js {
		if h, name := m.unqualify(j.Domain); h == sel {
			j.Domain = name
			out = append(out, j)
		}
	}
	return out
}

// noHost stands in for a host not connected yet: it names the URI and
// refuses the rest. Only header and title code reaches it; keys that act
// need a selected domain, which only a connected host has.
type noHost struct {
	common.Backend
	uri string
}

var errNoHost = errors.New("not connected yet")

func (n noHost) URI() string                { return n.uri }
func (n noHost) ReadOnly() bool             { return false }
func (n noHost) Events() <-chan model.Event { return nil }
func (n noHost) Discover(context.Context) ([]model.Domain, error) {
	return nil, errNoHost
}
func (n noHost) DiscoverDomain(context.Context, string) (model.Domain, error) {
	return model.Domain{}, errNoHost
}
func (n noHost) RescanBlockJobs(context.Context) error { return nil }
func (n noHost) CloseBlockJobs()                       {}
func (n noHost) History(context.Context, string) ([]model.HistoryOp, error) {
	return nil, errNoHost
}
