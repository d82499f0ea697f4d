package libvirtx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// Polling limits for GetBlockJobInfo: only while a job is live, at most 4
// reads a second while it copies, once a second while it sits at READY.
const (
	pollRunning = 250 * time.Millisecond
	pollReady   = time.Second
	// goneGrace is how long a job that GetBlockJobInfo no longer reports
	// waits for libvirt's final event before virtchain decides by itself.
	goneGrace = 2 * time.Second
)

// jobHint adds what to do for the libvirt errors a block job commonly meets.
func jobHint(domain, disk string, err error) model.Hint {
	msg := strings.ToLower(errorText(err))
	switch {
	case strings.Contains(msg, "not ready for pivot"):
		return model.Hint{model.Words("wait for READY ("), model.Do(model.DoListJobs), model.Words("), or abort without --pivot")}
	case strings.Contains(msg, "already in active block job"), strings.Contains(msg, "block job") && strings.Contains(msg, "already"):
		return model.Hint{model.Words("one job per disk: wait for it, or "), model.Do(model.DoAbortJob, domain, disk)}
	case strings.Contains(msg, "no active block job"), strings.Contains(msg, "no job"):
		return model.Hint{model.Words("list running jobs with "), model.Do(model.DoListJobs)}
	case strings.Contains(msg, "domain is not running"):
		return model.Say("start the domain, or merge it offline while it is shut off")
	case virtCode(err) == libvirt.ERR_OPERATION_DENIED || strings.Contains(msg, "read-only"):
		return model.ReadOnlyHint
	}
	return nil
}

func jobErr(op, domain, disk string, err error) error {
	return &LibvirtError{Op: op + " on " + domain + " " + disk, Err: err, Fix: jobHint(domain, disk, err)}
}

// kindOf maps libvirt's job type to virtchain's words.
func kindOf(t libvirt.DomainBlockJobType) model.JobKind {
	switch t {
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_PULL:
		return model.JobPull
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_COMMIT:
		return model.JobCommit
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT:
		return model.JobActiveCommit
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_COPY:
		return model.JobCopy
	case libvirt.DOMAIN_BLOCK_JOB_TYPE_BACKUP:
		return model.JobBackup
	}
	return model.JobUnknown
}

// lookupDomain returns a domain the caller must Free.
func (c *Conn) lookupDomain(name string) (*libvirt.Domain, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN {
		return nil, model.NoDomain(name)
	}
	if err != nil {
		return nil, &LibvirtError{Op: "find domain " + name, Err: err}
	}
	return dom, nil
}

// startBlockJob asks libvirt to start the commit or pull of bp on a running
// domain. Paths are given the way libvirt accepts them: vda[N] from the live
// XML, or the file path.
func (c *Conn) startBlockJob(bp *model.BlockPlan) error {
	dom, err := c.lookupDomain(bp.Domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	// The points this merge writes over are marked before it writes.
	marksBefore, err := markPoints(dom, bp)
	if err != nil {
		return err
	}
	if err := c.blockJobCall(dom, bp); err != nil {
		undoMarks(dom, bp, marksBefore)
		return err
	}
	return nil
}

// blockJobCall is the libvirt call that starts bp's commit or pull on the
// running dom; its points are already marked.
func (c *Conn) blockJobCall(dom *libvirt.Domain, bp *model.BlockPlan) error {
	bw := uint64(bp.Bandwidth)
	doing, check := "starting the "+string(bp.Kind)+" of "+bp.Domain+" "+bp.Target, blockJobInfo(bp.Domain, bp.Target)
	switch bp.Kind {
	case model.JobCommit, model.JobActiveCommit:
		var flags libvirt.DomainBlockCommitFlags
		if bp.Shallow {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_SHALLOW
		}
		if bp.Kind == model.JobActiveCommit {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_ACTIVE
		}
		if bp.Relative {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_RELATIVE
		}
		if bw > 0 {
			flags |= libvirt.DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES
		}
		if err := c.during(doing, check, func() error { return dom.BlockCommit(bp.Target, bp.BaseArg, bp.TopArg, bw, flags) }); err != nil {
			return jobErr("start commit", bp.Domain, bp.Target, err)
		}
	case model.JobPull:
		var err error
		if bp.BaseArg == "" && !bp.Relative {
			var flags libvirt.DomainBlockPullFlags
			if bw > 0 {
				flags |= libvirt.DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES
			}
			err = c.during(doing, check, func() error { return dom.BlockPull(bp.Target, bw, flags) })
		} else {
			var flags libvirt.DomainBlockRebaseFlags
			if bp.Relative {
				flags |= libvirt.DOMAIN_BLOCK_REBASE_RELATIVE
			}
			if bw > 0 {
				flags |= libvirt.DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES
			}
			err = c.during(doing, check, func() error { return dom.BlockRebase(bp.Target, bp.BaseArg, bw, flags) })
		}
		if err != nil {
			return jobErr("start pull", bp.Domain, bp.Target, err)
		}
	default:
		return fmt.Errorf("virtchain does not start %s jobs", bp.Kind)
	}
	return nil
}

// AbortJob stops the block job on domain's disk without waiting. With
// pivot, a READY mirror (active commit, copy) switches to its new image;
// without, the chain stays as it was. The outcome arrives as an event.
func (c *Conn) AbortJob(domain, disk string, pivot bool) error {
	dom, err := c.lookupDomain(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	if err := refuseNoJob(dom, domain, disk); err != nil {
		return err
	}
	flags := libvirt.DOMAIN_BLOCK_JOB_ABORT_ASYNC
	op, doing := "abort the block job", "aborting the block job"
	if pivot {
		flags |= libvirt.DOMAIN_BLOCK_JOB_ABORT_PIVOT
		op, doing = "pivot the block job", "pivoting the block job"
	}
	// Journaled here, where every abort and pivot ends up: the CLI's, the
	// TUI's, and the watcher's own at READY.
	return c.journaled(model.JobActionPlan(domain, disk, pivot, -1), func() error {
		if err := c.during(doing+" of "+domain+" "+disk, blockJobInfo(domain, disk), func() error { return dom.BlockJobAbort(disk, flags) }); err != nil {
			return jobErr(op, domain, disk, err)
		}
		return nil
	})
}

// SetJobBandwidth changes a running job's limit, in bytes per second
// (0 removes it).
func (c *Conn) SetJobBandwidth(domain, disk string, bytesPerSec int64) error {
	if bytesPerSec < 0 {
		return model.RefuseBandwidth()
	}
	dom, err := c.lookupDomain(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	if err := refuseNoJob(dom, domain, disk); err != nil {
		return err
	}
	return c.journaled(model.JobActionPlan(domain, disk, false, bytesPerSec), func() error {
		if err := c.during("setting the bandwidth of the block job of "+domain+" "+disk, blockJobInfo(domain, disk), func() error {
			return dom.BlockJobSetSpeed(disk, uint64(bytesPerSec), libvirt.DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES)
		}); err != nil {
			return jobErr("set the bandwidth", domain, disk, err)
		}
		return nil
	})
}

// refuseNoJob says "no block job" in virtchain's words when the disk has
// none; libvirt's own answer differs between abort and set-speed. A disk
// libvirt cannot read is left to the call that follows, with its own text.
func refuseNoJob(dom *libvirt.Domain, domain, disk string) error {
	if _, ok, err := jobInfo(dom, disk); err == nil && !ok {
		return model.NoJob(domain, disk)
	}
	return nil
}

// jobInfo reads one disk's job. ok is false when there is none: libvirt
// then answers with a zero struct and no error.
func jobInfo(dom *libvirt.Domain, disk string) (info *libvirt.DomainBlockJobInfo, ok bool, err error) {
	info, err = dom.GetBlockJobInfo(disk, libvirt.DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES)
	if err != nil {
		return nil, false, err
	}
	if info.Type == 0 && info.Cur == 0 && info.End == 0 && info.Bandwidth == 0 {
		return info, false, nil
	}
	return info, true, nil
}

// ListJobs reads every block job on the connection now, including jobs
// started by virsh or another virtchain: one GetBlockJobInfo per disk of
// each running domain.
func (c *Conn) ListJobs(ctx context.Context) ([]model.Job, error) {
	doms, err := c.virt.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return nil, &LibvirtError{Op: "list running domains on " + c.uri, Err: err}
	}
	defer freeDomains(doms)
	var out []model.Job
	now := time.Now()
	for i := range doms {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		name, err := doms[i].GetName()
		if err != nil {
			continue
		}
		out = append(out, domainJobs(&doms[i], name, now)...)
	}
	sortJobs(out)
	return out, nil
}

// domainJobs reads the live jobs of one running domain. A domain that
// stopped meanwhile simply has none.
func domainJobs(dom *libvirt.Domain, name string, now time.Time) []model.Job {
	var out []model.Job
	for _, d := range liveDisks(dom) {
		if d.Target == nil || d.Target.Dev == "" {
			continue
		}
		info, ok, err := jobInfo(dom, d.Target.Dev)
		if err != nil || !ok {
			continue
		}
		j := model.Job{Domain: name, Disk: d.Target.Dev, Kind: kindOf(info.Type), Phase: model.PhaseRunning,
			Bandwidth: int64(info.Bandwidth)}
		j.Observe(int64(info.Cur), int64(info.End), now)
		// libvirt marks a mirror that reached READY in the live XML; the
		// READY event itself was sent before we were listening.
		if d.Mirror != nil && d.Mirror.Ready == "yes" {
			j.SetPhase(model.PhaseReady, now)
		}
		// The mirror names the image an active commit writes into: its base.
		if d.Mirror != nil && d.Mirror.Source != nil && d.Mirror.Source.File != nil {
			j.Base = d.Mirror.Source.File.File
		}
		out = append(out, j)
	}
	return out
}

func sortJobs(js []model.Job) {
	sort.Slice(js, func(a, b int) bool { return js[a].Key() < js[b].Key() })
}
