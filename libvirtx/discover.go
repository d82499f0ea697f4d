package libvirtx

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// discoverWorkers bounds the domains read at once: enough to overlap RPC
// round trips and header reads, few enough not to crowd a 2-core host or a
// remote daemon's worker pool.
const discoverWorkers = 8

// ProblemRemoteNoPool is a layer's problem when the chain of a shut-off
// domain cannot be read: over a remote connection libvirt only describes
// images that belong to a storage pool.
const ProblemRemoteNoPool = "chain cannot be read over a remote connection: image is in no storage pool (define a pool for its folder)"

// domainFacts are what Discover learns for all domains in a few bulk calls
// and DiscoverDomain asks one domain for.
type domainFacts struct {
	state        model.DomainState
	persistent   bool
	managedSave  bool
	autostart    bool
	hasSnapshots bool
	// blocks are GetAllDomainStats block entries (with backing layers),
	// fetched only for active domains over a remote connection.
	blocks   []libvirt.DomainStatsBlock
	problems []string
}

var stateNames = map[libvirt.DomainState]model.DomainState{
	libvirt.DOMAIN_NOSTATE:     model.StateNoState,
	libvirt.DOMAIN_RUNNING:     model.StateRunning,
	libvirt.DOMAIN_BLOCKED:     model.StateBlocked,
	libvirt.DOMAIN_PAUSED:      model.StatePaused,
	libvirt.DOMAIN_SHUTDOWN:    model.StateShutdown,
	libvirt.DOMAIN_SHUTOFF:     model.StateShutoff,
	libvirt.DOMAIN_CRASHED:     model.StateCrashed,
	libvirt.DOMAIN_PMSUSPENDED: model.StatePMSuspended,
}

func stateName(s libvirt.DomainState) model.DomainState {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return model.StateNoState
}

func freeDomains(doms []libvirt.Domain) {
	for i := range doms {
		_ = doms[i].Free()
	}
}

func freeStats(stats []libvirt.DomainStats) {
	for i := range stats {
		if stats[i].Domain != nil {
			_ = stats[i].Domain.Free()
		}
	}
}

// discoverAll reads every domain: one ListAllDomains, seven filtered lists
// for states and yes/no facts, then one XML per domain (and snapshots only
// where there are some) in a bounded worker pool.
func (c *Conn) discoverAll(ctx context.Context) ([]model.Domain, error) {
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		le := &LibvirtError{Op: "list domains on " + c.uri, Err: err}
		if lostConnection(err) {
			le.Hint = "the connection to libvirt was lost: check `virsh -c " + c.uri + " version`, then start virtchain again"
		}
		return nil, le
	}
	defer freeDomains(doms)

	uuids := make([]string, len(doms))
	for i := range doms {
		uuids[i], _ = doms[i].GetUUIDString()
	}
	bulk := c.bulkFacts(doms, uuids)

	out := make([]model.Domain, len(doms))
	gone := make([]bool, len(doms))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(discoverWorkers, len(doms)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				f, ok := bulk[uuids[i]]
				if !ok {
					f = c.oneFacts(&doms[i])
				}
				out[i], gone[i] = c.buildDomain(ctx, &doms[i], uuids[i], f)
			}
		}()
	}
	for i := range doms {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i := range out {
		if !gone[i] {
			kept = append(kept, out[i])
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	return kept, nil
}

// discoverOne reads one domain by name with per-domain calls.
func (c *Conn) discoverOne(ctx context.Context, name string) (model.Domain, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_DOMAIN {
			return model.Domain{}, model.NoDomain(name)
		}
		return model.Domain{}, &LibvirtError{Op: "look up domain " + name, Err: err}
	}
	defer dom.Free()
	uuid, _ := dom.GetUUIDString()
	f := c.oneFacts(dom)
	f.hasSnapshots = true
	if !c.local && f.state.Active() {
		f.blocks = c.blockStats([]*libvirt.Domain{dom})[uuid]
	}
	d, gone := c.buildDomain(ctx, dom, uuid, f)
	if err := ctx.Err(); err != nil {
		return model.Domain{}, err
	}
	if gone {
		return model.Domain{}, fmt.Errorf("domain %q was undefined while being read on %s", name, c.uri)
	}
	return d, nil
}

// stateLists are the ListAllDomains filters that tell most states apart.
// The rest (blocked, in shutdown, crashed, pmsuspended) share the OTHER
// filter and are asked one by one, which is rare.
var stateLists = map[libvirt.ConnectListAllDomainsFlags]model.DomainState{
	libvirt.CONNECT_LIST_DOMAINS_RUNNING: model.StateRunning,
	libvirt.CONNECT_LIST_DOMAINS_PAUSED:  model.StatePaused,
	libvirt.CONNECT_LIST_DOMAINS_SHUTOFF: model.StateShutoff,
}

// bulkFacts answers state, persistence, managed save, autostart and "has
// snapshots" for every domain with filtered ListAllDomains calls, one
// round trip each, handled by the daemon without taking any domain job.
// (GetAllDomainStats would give exact states in one call but is ten times
// slower and waits for, or skips, busy domains.) It returns nil, and the
// caller asks each domain, if the daemon refuses a filter.
func (c *Conn) bulkFacts(doms []libvirt.Domain, uuids []string) map[string]domainFacts {
	flags := []libvirt.ConnectListAllDomainsFlags{
		libvirt.CONNECT_LIST_DOMAINS_PERSISTENT,
		libvirt.CONNECT_LIST_DOMAINS_MANAGEDSAVE,
		libvirt.CONNECT_LIST_DOMAINS_AUTOSTART,
		libvirt.CONNECT_LIST_DOMAINS_HAS_SNAPSHOT,
	}
	for f := range stateLists {
		flags = append(flags, f)
	}
	sets := map[libvirt.ConnectListAllDomainsFlags]map[string]bool{}
	for _, flag := range flags {
		list, err := c.virt.ListAllDomains(flag)
		if err != nil {
			return nil
		}
		set := map[string]bool{}
		for i := range list {
			if u, err := list[i].GetUUIDString(); err == nil {
				set[u] = true
			}
		}
		freeDomains(list)
		sets[flag] = set
	}

	out := map[string]domainFacts{}
	anyActive := false
	for i, u := range uuids {
		f := domainFacts{
			persistent:   sets[libvirt.CONNECT_LIST_DOMAINS_PERSISTENT][u],
			managedSave:  sets[libvirt.CONNECT_LIST_DOMAINS_MANAGEDSAVE][u],
			autostart:    sets[libvirt.CONNECT_LIST_DOMAINS_AUTOSTART][u],
			hasSnapshots: sets[libvirt.CONNECT_LIST_DOMAINS_HAS_SNAPSHOT][u],
		}
		for flag, st := range stateLists {
			if sets[flag][u] {
				f.state = st
			}
		}
		if f.state == "" {
			st, _, err := doms[i].GetState()
			if err != nil {
				continue // undefined meanwhile, or odd: oneFacts decides
			}
			f.state = stateName(st)
		}
		anyActive = anyActive || f.state.Active()
		out[u] = f
	}
	if !c.local && anyActive {
		for u, blocks := range c.blockStats(nil) {
			if f, ok := out[u]; ok {
				f.blocks = blocks
				out[u] = f
			}
		}
	}
	return out
}

// blockStats returns, per domain UUID, the block statistics of every
// layer of every disk (the BACKING flag), for active domains only. nil
// doms means all domains.
func (c *Conn) blockStats(doms []*libvirt.Domain) map[string][]libvirt.DomainStatsBlock {
	flags := libvirt.CONNECT_GET_ALL_DOMAINS_STATS_BACKING
	if doms == nil {
		flags |= libvirt.CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
	}
	stats, err := c.virt.GetAllDomainStats(doms, libvirt.DOMAIN_STATS_BLOCK, flags)
	if err != nil {
		return nil
	}
	defer freeStats(stats)
	out := map[string][]libvirt.DomainStatsBlock{}
	for _, s := range stats {
		if s.Domain == nil {
			continue
		}
		if u, err := s.Domain.GetUUIDString(); err == nil {
			out[u] = s.Block
		}
	}
	return out
}

// oneFacts asks a single domain, one call per fact.
func (c *Conn) oneFacts(dom *libvirt.Domain) domainFacts {
	var f domainFacts
	note := func(what string, err error) {
		f.problems = append(f.problems, what+": "+errorText(err))
	}
	if st, _, err := dom.GetState(); err == nil {
		f.state = stateName(st)
	} else {
		note("state", err)
	}
	if p, err := dom.IsPersistent(); err == nil {
		f.persistent = p
	} else {
		note("persistent", err)
	}
	// A transient domain has neither managed save nor autostart; libvirt
	// may refuse to answer for it, which is not a problem.
	if ms, err := dom.HasManagedSaveImage(0); err == nil {
		f.managedSave = ms
	} else if f.persistent {
		note("managed save", err)
	}
	if as, err := dom.GetAutostart(); err == nil {
		f.autostart = as
	} else if f.persistent {
		note("autostart", err)
	}
	if n, err := dom.SnapshotNum(0); err == nil {
		f.hasSnapshots = n > 0
	} else {
		f.hasSnapshots = true // let ListAllSnapshots report the error
	}
	return f
}

// buildDomain turns one domain into a model value. It never fails: what
// cannot be read lands in Domain.Problem or Layer.Problem. gone reports a
// domain undefined since it was listed, which is dropped, not flagged.
func (c *Conn) buildDomain(ctx context.Context, dom *libvirt.Domain, uuid string, f domainFacts) (d model.Domain, gone bool) {
	name, _ := dom.GetName()
	d = model.Domain{
		Name:        name,
		UUID:        uuid,
		State:       f.state,
		Persistent:  f.persistent,
		ManagedSave: f.managedSave,
		Autostart:   f.autostart,
		Disks:       []model.Disk{},
	}
	problems := append([]string(nil), f.problems...)
	defer func() {
		// Runs in a worker goroutine, where a panic would kill the process
		// with a stack trace: one odd domain becomes a flagged domain.
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("internal error while reading this domain: %v (please report it)", r))
			gone = false
		}
		d.Problem = strings.Join(problems, "; ")
	}()
	if ctx.Err() != nil {
		problems = append(problems, "discovery cancelled")
		return d, false
	}

	// Flags 0: the live definition for an active domain, which is the one
	// carrying <backingStore index=..>; the persistent one otherwise.
	doc, err := dom.GetXMLDesc(0)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN {
		return d, true
	}
	if err != nil {
		problems = append(problems, "domain XML: "+errorText(err))
	} else {
		var x libvirtxml.Domain
		if err := x.Unmarshal(doc); err != nil {
			problems = append(problems, "domain XML: "+oneLine(err.Error()))
		} else {
			if x.Devices != nil {
				for _, xd := range x.Devices.Disks {
					d.Disks = append(d.Disks, c.buildDisk(xd, f))
				}
			}
			if x.Metadata != nil {
				d.PointMarks = parseMarks(x.Metadata.XML, false)
			}
		}
	}

	if f.hasSnapshots {
		snaps, current, formats, err := readSnapshots(dom)
		if err != nil {
			problems = append(problems, err.Error())
		}
		d.Snapshots, d.CurrentSnapshot = snaps, current
		markCreatedBy(&d)
		c.fillPointBacking(&d, formats)
		// Every consumer sees which snapshots are stale or on a kept branch.
		model.Reconcile(&d)
	}
	return d, false
}

// diskSource names a disk's (or layer's) source.
type diskSource struct {
	typ string // file, block, volume, network, dir, nvme, vhostuser, vhostvdpa
	// name is what a user sees: a path, pool/volume, or a network URL.
	name string
	// path is a host path that qcow2 headers can be read from, or "".
	path string
}

func describeSource(src *libvirtxml.DomainDiskSource) diskSource {
	switch {
	case src == nil:
		return diskSource{}
	case src.File != nil:
		return diskSource{typ: "file", name: src.File.File, path: src.File.File}
	case src.Block != nil:
		return diskSource{typ: "block", name: src.Block.Dev, path: src.Block.Dev}
	case src.Volume != nil:
		return diskSource{typ: "volume", name: src.Volume.Pool + "/" + src.Volume.Volume}
	case src.Network != nil:
		return diskSource{typ: "network", name: networkName(src.Network)}
	case src.Dir != nil:
		return diskSource{typ: "dir", name: src.Dir.Dir}
	case src.NVME != nil:
		name := "nvme"
		if p := src.NVME.PCI; p != nil && p.Address != nil && p.Address.Bus != nil && p.Address.Slot != nil && p.Address.Function != nil {
			dom := uint(0)
			if p.Address.Domain != nil {
				dom = *p.Address.Domain
			}
			name = fmt.Sprintf("nvme://%04x:%02x:%02x.%x/%d", dom, *p.Address.Bus, *p.Address.Slot, *p.Address.Function, p.Namespace)
		}
		return diskSource{typ: "nvme", name: name}
	case src.VHostUser != nil:
		name := "vhost-user"
		if src.VHostUser.UNIX != nil {
			name = src.VHostUser.UNIX.Path
		}
		return diskSource{typ: "vhostuser", name: name}
	case src.VHostVDPA != nil:
		return diskSource{typ: "vhostvdpa", name: src.VHostVDPA.Dev}
	}
	return diskSource{}
}

// networkName renders a network source the way qemu-img would accept it:
// protocol://host[:port]/name, or protocol:name without a host.
func networkName(n *libvirtxml.DomainDiskSourceNetwork) string {
	if len(n.Hosts) == 0 || (n.Hosts[0].Name == "" && n.Hosts[0].Socket == "") {
		return n.Protocol + ":" + n.Name
	}
	h := n.Hosts[0]
	host := h.Name
	if h.Socket != "" {
		host = "unix:" + h.Socket
	} else if h.Port != "" {
		host = net.JoinHostPort(h.Name, h.Port)
	}
	name := strings.TrimPrefix(n.Name, "/")
	return n.Protocol + "://" + host + "/" + name
}

func (c *Conn) buildDisk(x libvirtxml.DomainDisk, f domainFacts) model.Disk {
	disk := model.Disk{
		Device:    x.Device,
		ReadOnly:  x.ReadOnly != nil,
		Shareable: x.Shareable != nil,
		Layers:    []model.Layer{},
	}
	if disk.Device == "" {
		disk.Device = "disk"
	}
	if x.Target != nil {
		disk.Target, disk.Bus = x.Target.Dev, x.Target.Bus
	}
	if x.Driver != nil {
		disk.Format = x.Driver.Type
	}
	src := describeSource(x.Source)
	if src.typ == "volume" {
		c.resolveVolume(&src)
	}
	disk.SourceType, disk.Source = src.typ, src.name
	if src.name == "" {
		return disk // an empty CD-ROM drive: no chain at all
	}

	switch {
	case f.state.Active():
		disk.Layers = c.liveChain(x, src, disk.Format, disk.Target, f.blocks)
	case src.path == "":
		disk.Layers = []model.Layer{{Path: src.name, Format: disk.Format}}
	case c.local:
		disk.Layers = WalkChain(src.path, disk.Format)
	default:
		disk.Layers = c.poolChain(src.path, disk.Format)
	}
	normalizeLayers(disk.Layers)
	return disk
}

// resolveVolume turns a pool/volume source into the volume's path, so its
// chain can be read like a file's. Left as pool/volume when that fails.
func (c *Conn) resolveVolume(src *diskSource) {
	pool, vol, _ := strings.Cut(src.name, "/")
	p, err := c.virt.LookupStoragePoolByName(pool)
	if err != nil {
		return
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(vol)
	if err != nil {
		return
	}
	defer v.Free()
	if path, err := v.GetPath(); err == nil && path != "" {
		src.path, src.name = path, path
	}
}

// liveChain reads an active disk's chain from its live XML: <source
// index=N> and nested <backingStore index=N>. The indices are libvirt's
// node ids and are copied as they are. Sizes and headers come from the
// images themselves when local, from block stats when remote.
func (c *Conn) liveChain(x libvirtxml.DomainDisk, top diskSource, format, target string, blocks []libvirt.DomainStatsBlock) []model.Layer {
	type live struct {
		index  uint
		src    diskSource
		format string
	}
	var chain []live
	if x.Source != nil {
		chain = append(chain, live{x.Source.Index, top, format})
	}
	// The chain ends at an empty <backingStore/> (or none at all).
	for bs := x.BackingStore; bs != nil && len(chain) <= model.MaxChainDepth; bs = bs.BackingStore {
		src := describeSource(bs.Source)
		if src.name == "" {
			break
		}
		l := live{index: bs.Source.Index, src: src}
		if bs.Index != 0 {
			l.index = bs.Index
		}
		if bs.Format != nil {
			l.format = bs.Format.Type
		}
		chain = append(chain, l)
	}

	layers := make([]model.Layer, 0, len(chain))
	for i, l := range chain {
		var layer model.Layer
		if c.local && l.src.path != "" {
			layer = LayerInfo(l.src.path, l.format)
		}
		layer.Path = l.src.name
		if l.format != "" {
			layer.Format = l.format
		}
		if l.index != 0 {
			idx := int(l.index)
			layer.Index = &idx
		}
		if !c.local {
			applyBlockStats(&layer, target, blocks)
		}
		if layer.BackingFormat == "" && i+1 < len(chain) {
			layer.BackingFormat = chain[i+1].format
		}
		layers = append(layers, layer)
	}
	return layers
}

// applyBlockStats fills sizes of a remote active layer from the
// GetAllDomainStats block entry of the same disk and node index (or path).
func applyBlockStats(layer *model.Layer, target string, blocks []libvirt.DomainStatsBlock) {
	var match *libvirt.DomainStatsBlock
	for i := range blocks {
		b := &blocks[i]
		if b.Name != target {
			continue
		}
		if layer.Index != nil && b.BackingIndexSet && int(b.BackingIndex) == *layer.Index {
			match = b
			break
		}
		if match == nil && b.PathSet && b.Path == layer.Path {
			match = b
		}
	}
	if match == nil {
		return
	}
	if match.CapacitySet {
		layer.VirtualSize = int64(match.Capacity)
	}
	switch {
	case match.PhysicalSet:
		layer.Allocation = int64(match.Physical)
	case match.AllocationSet:
		layer.Allocation = int64(match.Allocation)
	}
}

// poolChain reads a shut-off domain's chain over a remote connection from
// storage volume descriptions, the only way libvirt describes an image
// there. An image outside every pool ends the chain with a problem.
func (c *Conn) poolChain(path, format string) []model.Layer {
	var layers []model.Layer
	seen := map[string]bool{}
	for path != "" {
		if len(layers) >= model.MaxChainDepth {
			layers = append(layers, model.Layer{Path: path, Format: format, Problem: model.ProblemTooDeep})
			break
		}
		if seen[path] {
			layers = append(layers, model.Layer{Path: path, Format: format, Problem: model.ProblemLoop})
			break
		}
		seen[path] = true
		layer, next, nextFormat := c.volumeLayer(path, format)
		layers = append(layers, layer)
		if layer.Problem != "" {
			break
		}
		path, format = next, nextFormat
	}
	return layers
}

func (c *Conn) volumeLayer(path, format string) (layer model.Layer, next, nextFormat string) {
	layer = model.Layer{Path: path, Format: format}
	vol, err := c.virt.LookupStorageVolByPath(path)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_STORAGE_VOL {
			layer.Problem = ProblemRemoteNoPool
		} else {
			layer.Problem = "storage volume: " + errorText(err)
		}
		return layer, "", ""
	}
	doc, err := vol.GetXMLDesc(0)
	_ = vol.Free()
	if err != nil {
		layer.Problem = "storage volume: " + errorText(err)
		return layer, "", ""
	}
	var v libvirtxml.StorageVolume
	if err := v.Unmarshal(doc); err != nil {
		layer.Problem = "storage volume XML: " + oneLine(err.Error())
		return layer, "", ""
	}
	if v.Target != nil && v.Target.Format != nil && v.Target.Format.Type != "" {
		layer.Format = v.Target.Format.Type
	}
	layer.VirtualSize = volumeBytes(v.Capacity)
	layer.Allocation = volumeBytes(v.Allocation)
	if v.BackingStore != nil && v.BackingStore.Path != "" {
		layer.BackingFile = v.BackingStore.Path
		if v.BackingStore.Format != nil {
			layer.BackingFormat = v.BackingStore.Format.Type
		}
		return layer, layer.BackingFile, layer.BackingFormat
	}
	return layer, "", ""
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1, "bytes": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
}

func volumeBytes(s *libvirtxml.StorageVolumeSize) int64 {
	if s == nil {
		return 0
	}
	mul, ok := sizeUnits[strings.ToLower(s.Unit)]
	if !ok {
		mul = 1
	}
	return int64(s.Value) * mul
}

// normalizeLayers makes empty lists encode as [] rather than null: the
// JSON output is a contract.
func normalizeLayers(layers []model.Layer) {
	for i := range layers {
		if layers[i].InternalSnapshots == nil {
			layers[i].InternalSnapshots = []string{}
		}
	}
}
