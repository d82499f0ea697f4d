package libvirtx

import (
	"sync"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// domainFacts are what Discover learns for all domains in a few bulk calls
// and DiscoverDomain asks one domain for.
type domainFacts struct {
	state        model.DomainState
	persistent   bool
	managedSave  bool
	autostart    bool
	hasSnapshots bool
	// hasCheckpoints is set for a domain with libvirt checkpoints (or
	// when that could not be asked in bulk).
	hasCheckpoints bool
	// blocks are GetAllDomainStats block entries (with backing layers),
	// fetched only for active domains over a remote connection.
	blocks   []libvirt.DomainStatsBlock
	problems []string
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
	// The lists are asked at once: each is a round trip that waits on the
	// daemon, and the daemon answers a client's calls in parallel. The
	// checkpoint filter's answer stands apart: a daemon that refuses it
	// still answers the others in bulk, and each domain is then asked for
	// its checkpoints.
	all := append(flags, libvirt.CONNECT_LIST_DOMAINS_HAS_CHECKPOINT)
	lists := make([]map[uuidKey]bool, len(all))
	var wg sync.WaitGroup
	for k, flag := range all {
		wg.Go(func() { lists[k] = c.uuidSet(flag) })
	}
	wg.Wait()
	sets := map[libvirt.ConnectListAllDomainsFlags]map[uuidKey]bool{}
	for k, flag := range flags {
		if lists[k] == nil {
			return nil
		}
		sets[flag] = lists[k]
	}
	withCheckpoints := lists[len(flags)]
	out := map[string]domainFacts{}
	anyActive := false
	for i, u := range uuids {
		k, ok := keyOf(&doms[i])
		if !ok {
			continue // odd: oneFacts decides
		}
		f := domainFacts{
			persistent:   sets[libvirt.CONNECT_LIST_DOMAINS_PERSISTENT][k],
			managedSave:  sets[libvirt.CONNECT_LIST_DOMAINS_MANAGEDSAVE][k],
			autostart:    sets[libvirt.CONNECT_LIST_DOMAINS_AUTOSTART][k],
			hasSnapshots: sets[libvirt.CONNECT_LIST_DOMAINS_HAS_SNAPSHOT][k],
		}
		f.hasCheckpoints = withCheckpoints == nil || withCheckpoints[k]
		for flag, st := range stateLists {
			if sets[flag][k] {
				f.state = st
			}
		}
		if f.state == "" {
			c.called(1)
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
	c.called(1)
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
	// Five round trips, whatever they answer.
	c.called(5)
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
	f.hasCheckpoints = true // readCheckpoints lists them in one call
	if n, err := dom.SnapshotNum(0); err == nil {
		f.hasSnapshots = n > 0
	} else {
		f.hasSnapshots = true // let ListAllSnapshots report the error
	}
	return f
}

// uuidKey is a domain's UUID as its 16 bytes: the lists are joined on it
// without formatting a string per domain and list (4,500 of them on 500
// domains).
type uuidKey [16]byte

func keyOf(d *libvirt.Domain) (uuidKey, bool) {
	var k uuidKey
	b, err := d.GetUUID()
	if err != nil || len(b) != len(k) {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

// uuidSet is the UUIDs of the domains one ListAllDomains filter gives, or
// nil when the daemon refuses it.
func (c *Conn) uuidSet(flag libvirt.ConnectListAllDomainsFlags) map[uuidKey]bool {
	c.called(1)
	list, err := c.virt.ListAllDomains(flag)
	if err != nil {
		return nil
	}
	defer freeDomains(list)
	set := make(map[uuidKey]bool, len(list))
	for i := range list {
		if k, ok := keyOf(&list[i]); ok {
			set[k] = true
		}
	}
	return set
}
