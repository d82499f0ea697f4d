package libvirtx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// discoverWorkers bounds the domains read at once: enough to overlap RPC
// round trips and header reads, few enough not to crowd a 2-core host or a
// remote daemon's worker pool.
const discoverWorkers = 8

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
	c.called(1)
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		le := &LibvirtError{Op: "list domains on " + c.uri, Err: err}
		if lostConnection(err) {
			le.Fix = model.Say("the connection to libvirt was lost: check `virsh -c " + c.uri + " version`, then start virtchain again")
		}
		return nil, le
	}
	defer freeDomains(doms)
	timed("domains listed")

	uuids := make([]string, len(doms))
	for i := range doms {
		uuids[i], _ = doms[i].GetUUIDString()
	}
	bulk := c.bulkFacts(doms, uuids)
	timed("bulk facts")
	// Remote shut-off chains read through storage pools that the workers
	// share; transient ones are destroyed when discovery ends, however.
	pools := c.newPoolSession(ctx)
	defer pools.close()

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
				out[i], gone[i] = c.buildDomain(ctx, &doms[i], uuids[i], f, pools)
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
	timed("domains read")
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
	c.called(1)
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
	pools := c.newPoolSession(ctx)
	defer pools.close()
	d, gone := c.buildDomain(ctx, dom, uuid, f, pools)
	if err := ctx.Err(); err != nil {
		return model.Domain{}, err
	}
	if gone {
		return model.Domain{}, fmt.Errorf("domain %q was undefined while being read on %s", name, c.uri)
	}
	return d, nil
}

// buildDomain turns one domain into a model value. It never fails: what
// cannot be read lands in Domain.Problem or Layer.Problem. gone reports a
// domain undefined since it was listed, which is dropped, not flagged.
func (c *Conn) buildDomain(ctx context.Context, dom *libvirt.Domain, uuid string, f domainFacts, pools *poolSession) (d model.Domain, gone bool) {
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
	c.called(1)
	doc, err := dom.GetXMLDesc(0)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN {
		return d, true
	}
	if err != nil {
		problems = append(problems, "domain XML: "+errorText(err))
	} else {
		x, err := decodeDomainParts(doc)
		if err != nil {
			problems = append(problems, "domain XML: "+model.OneLine(err.Error()))
		} else {
			for _, xd := range x.disks {
				d.Disks = append(d.Disks, c.buildDisk(xd, f, pools))
			}
			if x.metadata != nil {
				d.PointMarks = parseMarks(x.metadata.XML, false)
			}
		}
	}

	if f.hasSnapshots {
		snaps, current, formats, err := readSnapshots(dom, c.called)
		if err != nil {
			problems = append(problems, err.Error())
		}
		d.Snapshots, d.CurrentSnapshot = snaps, current
		markCreatedBy(&d)
		c.fillPointBacking(&d, formats)
		// Every consumer sees which snapshots are stale or on a kept branch.
		model.Reconcile(&d)
	}
	if f.hasCheckpoints {
		cps, err := readCheckpoints(dom, f.state.Active(), c.called)
		if err != nil {
			problems = append(problems, err.Error())
		}
		d.Checkpoints = cps
	}
	model.ApplyCheckpoints(&d)
	return d, false
}
