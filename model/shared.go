package model

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Shared storage: how a path on a peer host is known to be a file of this
// host. The rules, in order, for a path P that a peer's domain uses:
//
//  1. P is under the target of one of the peer's storage pools whose
//     source (netfs/glusterfs host and dir, fs/logical/disk device, rbd or
//     iscsi name) is also the source of a pool here: P is this pool's
//     target joined with P's place under the peer's target. Known.
//  2. Else P counts as this host's file of the same path: assumed, not
//     known (the usual NFS export mounted at the same path on every host;
//     for a guard, wrongly taking two files for one only refuses more).
//  3. A file here whose path differs from P, with no shared pool mapping
//     one to the other, is taken to be another file: assumed too.
//
// Every plan that consulted peers says which of them was read and that
// rules 2 and 3 are assumptions; a reference found by rule 2 says so
// where it is named.

// StoragePool is what the guards need of a libvirt storage pool: its
// type, the folder it is mounted on and where its data comes from.
type StoragePool struct {
	Name   string
	Type   string // dir, fs, netfs, logical, disk, iscsi, rbd, gluster, ...
	Target string // <target><path>
	// Source: <source><host name>s, <dir path>, <device path>s, <name>.
	SourceHosts   []string
	SourceDir     string
	SourceDevices []string
	SourceName    string
}

// sourceKey is what makes two pools on two hosts the same storage, or ""
// when the pool has no source of its own (a dir pool is only a folder).
func (p StoragePool) sourceKey() string {
	clean := func(s string) string {
		if s == "" {
			return ""
		}
		return filepath.Clean(s)
	}
	switch {
	case len(p.SourceHosts) > 0 && (p.SourceDir != "" || p.SourceName != ""):
		hosts := append([]string(nil), p.SourceHosts...)
		sort.Strings(hosts)
		return p.Type + " " + strings.Join(hosts, ",") + ":" + clean(p.SourceDir) + p.SourceName
	case len(p.SourceDevices) > 0:
		devs := append([]string(nil), p.SourceDevices...)
		sort.Strings(devs)
		return p.Type + " " + strings.Join(devs, ",")
	case p.SourceName != "":
		return p.Type + " " + p.SourceName
	}
	return ""
}

// sourceText names a pool's source for a plan: "nfs1:/export".
func (p StoragePool) sourceText() string {
	switch {
	case len(p.SourceHosts) > 0:
		return strings.Join(p.SourceHosts, ",") + ":" + p.SourceDir + p.SourceName
	case len(p.SourceDevices) > 0:
		return strings.Join(p.SourceDevices, ",")
	}
	return p.SourceName
}

// HostView is one peer host as its guards read it: its name, its domains
// (with their snapshots and points), its pools, or why it could not be
// read.
type HostView struct {
	Name    string
	Domains []Domain
	Pools   []StoragePool
	// Saved maps the files the host's save images use (managed-save
	// images and the images their saved definitions name) to who.
	Saved map[string][]string
	Err   string
}

// PeerReport says which peers a plan's guards consulted and how.
type PeerReport struct {
	// Read are the peers whose domains were consulted, each with what
	// it said about path identity.
	Read []PeerRead
	// Unreachable are the peers that could not be read, with why.
	Unreachable []HostView
	// Saved is every peer's HostView.Saved in this host's terms, each
	// user naming its host (for CleanupFacts.Saved).
	Saved map[string][]string
}

// PeerRead is one consulted peer.
type PeerRead struct {
	Host    string
	Domains int
	// Pools names the pools matched through a shared source, "there
	// NAME = here NAME (SOURCE)".
	Pools []string
	// Hidden names the peer's chains that could not be read to their
	// end ("DOMAIN TARGET (PROBLEM)"): the files below are unknown, and
	// the plan says so.
	Hidden []string
}

// SamePath is the match of rule 2, as a reference names it.
const SamePath = "same path there; assumed the same file"

// PeerDomains turns the peers' domains into domains in this host's terms
// (Host set, every path mapped by the rules above, Shared saying how),
// and reports what it read.
func PeerDomains(local []StoragePool, peers []HostView) ([]Domain, PeerReport) {
	var out []Domain
	var r PeerReport
	for _, v := range peers {
		if v.Err != "" {
			r.Unreachable = append(r.Unreachable, v)
			continue
		}
		m := newPathMap(local, v)
		pr := PeerRead{Host: v.Name, Domains: len(v.Domains)}
		for _, d := range v.Domains {
			out = append(out, m.domain(d))
			pr.Hidden = append(pr.Hidden, hiddenChains(d)...)
		}
		for p, who := range v.Saved {
			q, how := m.path(p)
			if r.Saved == nil {
				r.Saved = map[string][]string{}
			}
			for _, w := range who {
				r.Saved[q] = append(r.Saved[q], w+" on host "+v.Name+" ("+how+")")
			}
		}
		pr.Pools = m.matched()
		r.Read = append(r.Read, pr)
	}
	return out, r
}

// hiddenChains are d's chains with a layer whose backing chain could not
// be read. A missing file hides nothing (nothing reads through it), nor
// does a loop (its files are all known). A hidden chain is named in the
// plan, not refused: one broken domain on a peer would otherwise block
// every merge on every host, and the plan says what was not checked.
func hiddenChains(d Domain) []string {
	var out []string
	for _, disk := range d.Disks {
		for _, l := range disk.Layers {
			if l.Problem != "" && !strings.HasPrefix(l.Problem, ProblemMissing) && !strings.HasPrefix(l.Problem, ProblemLoop) {
				out = append(out, d.Name+" "+disk.Target+" ("+OneLine(l.Problem)+")")
				break
			}
		}
	}
	return out
}

// pathMap maps one peer's paths to this host's.
type pathMap struct {
	host  string
	pairs []poolPair // longest peer target first
	used  map[int]bool
}

type poolPair struct {
	there, here StoragePool
}

func newPathMap(local []StoragePool, v HostView) *pathMap {
	m := &pathMap{host: v.Name, used: map[int]bool{}}
	for _, p := range v.Pools {
		k := p.sourceKey()
		if k == "" || p.Target == "" {
			continue
		}
		for _, l := range local {
			if l.sourceKey() == k && l.Target != "" {
				m.pairs = append(m.pairs, poolPair{there: p, here: l})
				break
			}
		}
	}
	sort.SliceStable(m.pairs, func(i, j int) bool { return len(m.pairs[i].there.Target) > len(m.pairs[j].there.Target) })
	return m
}

// path maps one peer path, and says how.
func (m *pathMap) path(p string) (string, string) {
	for i, pp := range m.pairs {
		rel, err := filepath.Rel(filepath.Clean(pp.there.Target), filepath.Clean(p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		m.used[i] = true
		return filepath.Join(pp.here.Target, rel), fmt.Sprintf("pool %s there and %s here share %s", pp.there.Name, pp.here.Name, pp.there.sourceText())
	}
	return p, SamePath
}

func (m *pathMap) matched() []string {
	var out []string
	for i, pp := range m.pairs {
		if m.used[i] {
			out = append(out, fmt.Sprintf("there %s = here %s (%s)", pp.there.Name, pp.here.Name, pp.there.sourceText()))
		}
	}
	return out
}

// domain copies d with every path the guards read mapped.
func (m *pathMap) domain(d Domain) Domain {
	d.Host, d.Shared = m.host, map[string]string{}
	conv := func(p string) string {
		if p == "" {
			return ""
		}
		q, how := m.path(p)
		d.Shared[q] = how
		return q
	}
	disks := make([]Disk, len(d.Disks))
	for i, disk := range d.Disks {
		disk.Layers = append([]Layer(nil), disk.Layers...)
		for j := range disk.Layers {
			disk.Layers[j].Path = conv(disk.Layers[j].Path)
		}
		disks[i] = disk
	}
	d.Disks = disks
	snaps := make([]Snapshot, len(d.Snapshots))
	for i, s := range d.Snapshots {
		s.MemoryFile = conv(s.MemoryFile)
		s.Disks = append([]SnapshotDisk(nil), s.Disks...)
		for j := range s.Disks {
			sd := &s.Disks[j]
			sd.File, sd.Point = conv(sd.File), conv(sd.Point)
			pb := make([]string, len(sd.PointBacking))
			for k, b := range sd.PointBacking {
				pb[k] = conv(b)
			}
			sd.PointBacking = pb
		}
		snaps[i] = s
	}
	d.Snapshots = snaps
	return d
}

// Apply tells the plan which peers its guards consulted and what was
// assumed, and refuses a plan that deletes or rewrites a file while a
// peer could not be read: that peer's domains may use the file through
// shared storage. deleting are files the plan deletes that p.Files does
// not list (a cleanup's).
func (r PeerReport) Apply(p *Plan, deleting ...string) error {
	for _, pr := range r.Read {
		how := "paths there count as the same paths here (assumed: the same file when the path is the same, another file when it differs)"
		if len(pr.Pools) > 0 {
			how = "paths under shared pools map through them (" + strings.Join(pr.Pools, "; ") + "); other " + how
		}
		p.Warn(Words(fmt.Sprintf("guards also read host %s (%s): %s", pr.Host, plural(pr.Domains, "domain"), how)))
	}
	var touched []string
	for _, f := range p.Files {
		if f.Change == FileRewritten || f.Change == FileDeleted {
			touched = append(touched, f.Path)
		}
	}
	touched = append(touched, deleting...)
	if len(touched) > 0 {
		if err := r.refuseUnchecked(filepath.Base(touched[0])); err != nil {
			return err
		}
	}
	for _, u := range r.Unreachable {
		p.Warn(Words(fmt.Sprintf("host %s could not be read (%s): its domains were not checked", u.Name, OneLine(u.Err))))
	}
	for _, pr := range r.Read {
		for _, h := range pr.Hidden {
			p.Warn(Words(fmt.Sprintf("on host %s the chain of %s could not be read to its end, so the files below it were not checked", pr.Host, h)))
		}
	}
	return nil
}

// refuseUnchecked is the refusal of a plan that rewrites or deletes file
// while a peer could not be read: that peer's domains may use the file
// through shared storage.
func (r PeerReport) refuseUnchecked(file string) error {
	if len(r.Unreachable) == 0 {
		return nil
	}
	u := r.Unreachable[0]
	return Refuse(fmt.Sprintf("host %s could not be read (%s), so virtchain cannot check that none of its domains uses %s through shared storage",
		u.Name, OneLine(u.Err), file),
		"bring "+u.Name+" back (virsh -c URI version) and try again; if it shares no storage with this host, drop its -c, or set shared_storage = false in its [[host]] entry of hosts.toml")
}

// WithPeers is this host's domains followed by the peers', the list every
// planner takes: lookups by name find only this host's (Host is empty),
// the references come from all.
func WithPeers(local, peers []Domain) []Domain {
	if len(peers) == 0 {
		return local
	}
	out := make([]Domain, 0, len(local)+len(peers))
	return append(append(out, local...), peers...)
}

// PeerReader is what the guards read of a peer host: a libvirtx.Conn, or
// a fake in tests. Declared here so that every front end can hand one
// host's connections to another's without knowing libvirtx.
type PeerReader interface {
	Discover(ctx context.Context) ([]Domain, error)
	StoragePools(ctx context.Context) ([]StoragePool, error)
}

// Peer is another host whose domains an operation's guards consult:
// its name as the front end shows it, and its reader, or nil and Err
// when it could not be opened.
type Peer struct {
	Name   string
	Reader PeerReader
	Err    string
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
