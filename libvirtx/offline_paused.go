package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// A shut-off domain on a remote host is merged the way libvirt itself
// merges an external snapshot of a shut-off domain when it deletes one:
// start the domain paused, run the block job, destroy the domain. Over a
// remote connection virtchain cannot run qemu-img on the images, and the
// storage API has no commit or rebase; QEMU's block jobs are the remote
// way to move the data.
//
// The domain is started with AUTODESTROY: libvirtd destroys it as soon as
// the connection that started it closes. A virtchain that is killed, or
// whose connection is lost (the ssh session cut), leaves the domain shut off
// all the same, with nobody left to stop it by hand; QEMU's job ends with
// it, and the chain is as it was (a commit may have written part of the data
// into its base, as a stopped qemu-img commit does) or, if the job had
// finished, as planned. The guest runs no instruction at any point: its
// CPUs stay paused from start to destroy.

// pausedPoll is how often the job of a domain started paused is read.
const pausedPoll = 250 * time.Millisecond

// errLostPaused is the error of a merge whose connection was lost.
func errLostPaused(bp *model.BlockPlan, host string) error {
	return &LibvirtError{Op: "merge " + bp.Domain + " " + bp.Target + " in the domain started paused",
		Err: errors.New("the connection to " + host + " was lost"),
		Fix: model.Say("libvirt destroys " + bp.Domain + " when its connection closes (it was started with autodestroy); connect again and check the chain with 'virtchain chain " + model.ShellQuote(bp.Domain) + " " + bp.Target + "'")}
}

// runPaused carries out the offline plan bp in dom started paused. started
// is false when the domain could not be started: nothing changed then.
func (c *Conn) runPaused(ctx context.Context, dom *libvirt.Domain, bp *model.BlockPlan, progress func(float64)) (started bool, err error) {
	if err := c.startPaused(dom, bp.Domain); err != nil {
		return false, err
	}
	defer func() {
		if derr := c.stopPaused(dom, bp); derr != nil && err == nil {
			err = derr
		}
	}()
	live := pausedJob(bp)
	if err := c.blockJobCall(dom, live); err != nil {
		return true, c.pausedErr(bp, err)
	}
	return true, c.followPaused(ctx, dom, live, progress)
}

// refreshPools has libvirt's storage driver read again the pools that
// hold the images bp rewrote: a volume's description (its backing store,
// which the remote chain is read from) is kept from the last refresh.
// Best effort: an image in no pool has nothing to refresh.
func (c *Conn) refreshPools(bp *model.BlockPlan) {
	done := map[string]bool{}
	for _, f := range bp.Files {
		vol, err := c.virt.LookupStorageVolByPath(f.Path)
		if err != nil {
			continue
		}
		pool, err := vol.LookupPoolByVolume()
		_ = vol.Free()
		if err != nil {
			continue
		}
		if name, err := pool.GetName(); err == nil && !done[name] {
			done[name] = true
			_ = pool.Refresh(0)
		}
		_ = pool.Free()
	}
}

// pausedJob is bp as a block job of the running domain: a commit whose top
// is the active layer is an active commit that pivots at READY.
func pausedJob(bp *model.BlockPlan) *model.BlockPlan {
	live := *bp
	live.Offline = false
	if bp.Kind == model.JobCommit && bp.TopPos == 0 {
		live.Kind, live.AfterReady = model.JobActiveCommit, model.AfterReadyPivot
	}
	return &live
}

// startPaused starts the shut-off dom with its CPUs paused and tied to this
// connection. A domain that cannot start (a host device another domain
// holds, an image another QEMU has locked, an inactive network) is refused
// in one line with libvirt's reason.
func (c *Conn) startPaused(dom *libvirt.Domain, name string) error {
	flags := libvirt.DOMAIN_START_PAUSED | libvirt.DOMAIN_START_AUTODESTROY
	err := c.during("starting "+name+" paused to merge its disk", "virsh domstate "+model.ShellQuote(name), func() error {
		return dom.CreateWithFlags(flags)
	})
	if err == nil {
		return nil
	}
	if c.lostErr(err) {
		return &LibvirtError{Op: "start " + name + " paused for the merge", Err: err,
			Fix: model.Say("if it started, libvirt destroys it as the connection closed (autodestroy); nothing was merged")}
	}
	return model.Refuse(name+" cannot be started paused for the merge: "+qemuReason(errorText(err)),
		"free what is named and plan again, or run virtchain on the host itself, where qemu-img merges without starting the domain")
}

// qemuReason shortens libvirt's report of a QEMU that would not start
// ("qemu unexpectedly closed the monitor: TIME qemu-system-x86_64: -blockdev
// {...}: Failed to get "write" lock ...", or "process exited while
// connecting to monitor: ..." when QEMU dies sooner) to QEMU's own words,
// which say what is in the way.
func qemuReason(msg string) string {
	i := strings.LastIndex(msg, "qemu-system-")
	died := strings.Contains(msg, "closed the monitor") || strings.Contains(msg, "exited while connecting to monitor")
	if !died || i < 0 {
		return msg
	}
	_, rest, ok := strings.Cut(msg[i:], ": ")
	if !ok {
		return msg
	}
	if strings.HasPrefix(rest, "-") {
		if j := strings.LastIndex(rest, "}: "); j >= 0 {
			rest = rest[j+3:]
		} else if _, r, ok := strings.Cut(rest, ": "); ok {
			rest = r
		}
	}
	return "QEMU says: " + rest
}

// stopPaused destroys the domain started for bp. It never ran guest code,
// so nothing of the guest is lost.
func (c *Conn) stopPaused(dom *libvirt.Domain, bp *model.BlockPlan) error {
	if active, err := dom.IsActive(); err == nil && !active {
		return nil
	}
	err := c.during("destroying "+bp.Domain+", started paused for the merge", "virsh domstate "+model.ShellQuote(bp.Domain), dom.Destroy)
	if err == nil {
		return nil
	}
	if c.lostErr(err) {
		return errLostPaused(bp, uriHost(c.uri))
	}
	return &LibvirtError{Op: "destroy " + bp.Domain + " after the merge", Err: err,
		Fix: model.Say("it was started paused and never ran: 'virsh destroy " + model.ShellQuote(bp.Domain) + "'")}
}

// pausedErr is err of a call on the domain started paused, with the lost
// connection said as such.
func (c *Conn) pausedErr(bp *model.BlockPlan, err error) error {
	if c.lostErr(err) {
		return errLostPaused(bp, uriHost(c.uri))
	}
	return err
}

// followPaused reads the job until it ends, pivoting an active commit at
// READY, and checks that the chain is the planned one. Stopping ctx aborts
// the job without a pivot: the chain stays as it was.
func (c *Conn) followPaused(ctx context.Context, dom *libvirt.Domain, bp *model.BlockPlan, progress func(float64)) error {
	tick := time.NewTicker(pausedPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = dom.BlockJobAbort(bp.Target, 0)
			return &LibvirtError{Op: string(bp.Kind) + " of " + bp.Domain + " " + bp.Target, Err: errors.New("stopped"), Fix: model.Say("the chain is as it was")}
		case <-c.Lost():
			return errLostPaused(bp, uriHost(c.uri))
		case <-tick.C:
		}
		info, ok, err := jobInfo(dom, bp.Target)
		if err != nil {
			return c.pausedErr(bp, jobErr("read the job", bp.Domain, bp.Target, err))
		}
		if !ok {
			return c.checkPausedChain(dom, bp)
		}
		if info.End > 0 {
			progress(100 * float64(info.Cur) / float64(info.End))
		}
		if bp.Kind == model.JobActiveCommit && info.End > 0 && info.Cur == info.End && mirrorReady(dom, bp.Target) {
			err := c.during("pivoting the active commit of "+bp.Domain+" "+bp.Target, blockJobInfo(bp.Domain, bp.Target), func() error {
				return dom.BlockJobAbort(bp.Target, libvirt.DOMAIN_BLOCK_JOB_ABORT_PIVOT)
			})
			if err != nil {
				return c.pausedErr(bp, jobErr("pivot", bp.Domain, bp.Target, err))
			}
		}
	}
}

// mirrorReady reads the live XML's mark of a mirror at READY.
func mirrorReady(dom *libvirt.Domain, target string) bool {
	d := liveDisk(dom, target)
	return d != nil && d.Mirror != nil && d.Mirror.Ready == "yes"
}

func liveDisk(dom *libvirt.Domain, target string) *libvirtxml.DomainDisk {
	disks := liveDisks(dom)
	for i, d := range disks {
		if d.Target != nil && d.Target.Dev == target {
			return &disks[i]
		}
	}
	return nil
}

// liveDisks is the disks of dom's live XML; none when it cannot be read
// (the domain stopped meanwhile).
func liveDisks(dom *libvirt.Domain) []libvirtxml.DomainDisk {
	xml, err := dom.GetXMLDesc(0)
	if err != nil {
		return nil
	}
	var def libvirtxml.Domain
	if def.Unmarshal(xml) != nil || def.Devices == nil {
		return nil
	}
	return def.Devices.Disks
}

// liveChain is the files of the disk's chain in the live XML, active
// layer first.
func liveChain(d *libvirtxml.DomainDisk) []string {
	var out []string
	if d == nil || d.Source == nil || d.Source.File == nil {
		return nil
	}
	out = append(out, d.Source.File.File)
	for b := d.BackingStore; b != nil && b.Source != nil && b.Source.File != nil; b = b.BackingStore {
		out = append(out, b.Source.File.File)
	}
	return out
}

// checkPausedChain decides how a job that libvirt no longer reports ended:
// the live chain is the planned one when it completed. libvirt updates the
// live XML as it takes the job down; it gets a moment to do so.
func (c *Conn) checkPausedChain(dom *libvirt.Domain, bp *model.BlockPlan) error {
	var got []string
	for deadline := time.Now().Add(goneGrace); ; time.Sleep(pausedPoll) {
		got = liveChain(liveDisk(dom, bp.Target))
		if slices.Equal(got, bp.NewChain) || time.Now().After(deadline) {
			break
		}
	}
	if slices.Equal(got, bp.NewChain) {
		return nil
	}
	base := make([]string, len(got))
	for i, p := range got {
		base[i] = filepath.Base(p)
	}
	return &LibvirtError{Op: string(bp.Kind) + " of " + bp.Domain + " " + bp.Target,
		Err: fmt.Errorf("the block job ended but the chain is %v, not the planned one", base),
		Fix: model.Say("QEMU's reason is in /var/log/libvirt/qemu/" + bp.Domain + ".log on " + uriHost(c.uri))}
}
