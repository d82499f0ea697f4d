package libvirtx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// QemuImg is the qemu-img program offline merges run.
var QemuImg = "qemu-img"

// runOffline carries out bp with qemu-img and reports to the watcher.
func (w *JobWatcher) runOffline(ctx context.Context, bp *model.BlockPlan) {
	key := model.JobKey(bp.Domain, bp.Target)
	err := w.c.RunOffline(ctx, bp, func(pct float64) { w.offlineProgress(key, pct) })
	w.offlineDone(key, err, ctx.Err() != nil)
}

// RunOffline does a commit or pull on a shut-off domain: `qemu-img commit`
// or `qemu-img rebase` (plus `qemu-img rebase -u` to point the layer above
// a committed range at the base), then updates the domain definition so the
// domain starts on the new chain. progress gets qemu-img's percentage.
// Stopping ctx stops qemu-img; what the guest sees is unchanged then, since
// data only moves into images it already reads through. Over a remote
// connection QEMU does the work instead, in the domain started paused
// (runPaused); the definition is updated the same way afterwards.
func (c *Conn) RunOffline(ctx context.Context, bp *model.BlockPlan, progress func(pct float64)) error {
	if !bp.Offline {
		return errors.New("internal: RunOffline given a plan for a running domain")
	}
	dom, err := c.lookupDomain(bp.Domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	// qemu-img and QEMU must never write the same image; the image locks
	// would catch it too, but say it plainly.
	if active, err := dom.IsActive(); err != nil {
		return &LibvirtError{Op: "read the state of " + bp.Domain, Err: err}
	} else if active {
		return model.Refuse(bp.Domain+" was started after the plan was made", "plan again: a running domain uses a block job")
	}
	if progress == nil {
		progress = func(float64) {}
	}
	marksBefore, err := markPoints(dom, bp)
	if err != nil {
		return err
	}
	if !c.local {
		// The images are on the remote host, out of qemu-img's reach.
		started, err := c.runPaused(ctx, dom, bp, progress)
		if started {
			c.refreshPools(bp)
		} else {
			undoMarks(dom, bp, marksBefore)
		}
		if err != nil {
			return err
		}
		return c.updateDiskDefinition(dom, bp.Domain, bp.Target, offlineSource(bp), bp.BaseFormat)
	}
	switch bp.Kind {
	case model.JobCommit:
		argv := []string{"commit", "-p", "-f", model.OrRaw(bp.TopFormat), "-b", bp.BasePath}
		if bp.Bandwidth > 0 {
			argv = append(argv, "-r", strconv.FormatInt(bp.Bandwidth, 10))
		}
		if err := runQemuImg(ctx, append(argv, bp.TopPath), progress); err != nil {
			return err
		}
		source := ""
		if bp.AbovePath != "" {
			backing := bp.BasePath
			if bp.Relative {
				if rel, err := filepath.Rel(filepath.Dir(bp.AbovePath), bp.BasePath); err == nil {
					backing = rel
				}
			}
			// The data is already where the layer above reads it, so only
			// the pointer changes (-u).
			if err := runQemuImg(ctx, []string{"rebase", "-u", "-f", model.OrRaw(bp.AboveFormat), "-b", backing, "-F", model.OrRaw(bp.BaseFormat), bp.AbovePath}, nil); err != nil {
				return err
			}
		} else {
			source = bp.BasePath
		}
		return c.updateDiskDefinition(dom, bp.Domain, bp.Target, source, bp.BaseFormat)
	case model.JobPull:
		argv := []string{"rebase", "-p", "-f", model.OrRaw(bp.TopFormat), "-b", bp.BasePath}
		if bp.BasePath != "" {
			argv = append(argv, "-F", model.OrRaw(bp.BaseFormat))
		}
		if err := runQemuImg(ctx, append(argv, bp.TopPath), progress); err != nil {
			return err
		}
		return c.updateDiskDefinition(dom, bp.Domain, bp.Target, "", "")
	}
	return fmt.Errorf("virtchain does not run %s jobs offline", bp.Kind)
}

// offlineSource is the disk's new source in the definition after an
// offline merge: the base when a commit's top was the active layer, else
// unchanged ("").
func offlineSource(bp *model.BlockPlan) string {
	if bp.Kind == model.JobCommit && bp.AbovePath == "" {
		return bp.BasePath
	}
	return ""
}

// runQemuImg runs qemu-img with argv, feeding the percentages that -p
// prints ("    (42.00/100%)\r") to progress. Its error is one line with
// qemu-img's own message.
func runQemuImg(ctx context.Context, argv []string, progress func(float64)) error {
	cmd := exec.CommandContext(ctx, QemuImg, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return &LibvirtError{Op: "run " + QemuImg, Err: err, Fix: model.Say("install qemu-utils (make setup)")}
	}
	// All output is read before Wait, as os/exec requires.
	scanProgress(out, progress)
	err = cmd.Wait()
	if err == nil {
		if progress != nil {
			progress(100)
		}
		return nil
	}
	op := model.ShellJoin(append([]string{QemuImg}, argv...))
	if ctx.Err() != nil {
		return &LibvirtError{Op: op, Err: errors.New("stopped"), Fix: model.Say("the chain is as it was")}
	}
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		msg = err.Error()
	}
	return &LibvirtError{Op: op, Err: errors.New(lastLine(msg)), Fix: errorHint(msg)}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// scanProgress reads qemu-img -p output, where each update ends in a
// carriage return rather than a newline.
func scanProgress(r io.Reader, progress func(float64)) {
	sc := bufio.NewScanner(r)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		if pct, ok := parseProgress(sc.Text()); ok && progress != nil {
			progress(pct)
		}
	}
	// Drain whatever remains so qemu-img never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// parseProgress reads "(42.50/100%)".
func parseProgress(line string) (float64, bool) {
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "(")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "/100%)")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v > 100 {
		return 0, false
	}
	return v, true
}

// updateDiskDefinition points the persistent definition's disk at source
// (when given) and drops any <backingStore> written in it, so libvirt reads
// the new chain from the image headers at the next start.
func (c *Conn) updateDiskDefinition(dom *libvirt.Domain, name, target, source, format string) error {
	xml, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE | libvirt.DOMAIN_XML_SECURE)
	if err != nil {
		return &LibvirtError{Op: "read the definition of " + name, Err: err}
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(xml); err != nil {
		return &LibvirtError{Op: "parse the definition of " + name, Err: err}
	}
	changed := false
	if def.Devices != nil {
		for i := range def.Devices.Disks {
			d := &def.Devices.Disks[i]
			if d.Target == nil || d.Target.Dev != target {
				continue
			}
			if source != "" && d.Source != nil && d.Source.File != nil && d.Source.File.File != source {
				d.Source.File.File = source
				changed = true
				if format != "" {
					if d.Driver == nil {
						d.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu"}
					}
					d.Driver.Type = format
				}
			}
			if d.BackingStore != nil {
				d.BackingStore = nil
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	out, err := def.Marshal()
	if err != nil {
		return &LibvirtError{Op: "write the definition of " + name, Err: err}
	}
	nd, err := c.virt.DomainDefineXML(out)
	if err != nil {
		return &LibvirtError{Op: "update the definition of " + name, Err: err,
			Fix: model.Say("the images are merged; point " + target + " at " + source + " with 'virsh edit " + name + "'")}
	}
	return nd.Free()
}
