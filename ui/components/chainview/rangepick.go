package chainview

import (
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// rangeMarks is the range a user marks in the chain view: a top and a
// base on one disk of one domain. Marks are kept by path, so a re-read of
// the domain (whose indexes may change) keeps them on the same files.
type rangeMarks struct {
	domain, disk string
	top, base    string // paths; empty when not marked

	// Options for the job the range starts.
	shallow    bool
	afterReady string // model.AfterReady*: what an active commit does at READY
	bwStep     int    // index into common.BandwidthSteps
}

func newRangeMarks() rangeMarks { return rangeMarks{afterReady: model.AfterReadyPivot} }

// any reports whether a top or a base is marked.
func (r *rangeMarks) any() bool { return r.top != "" || r.base != "" }

// mark sets the top (or the base) to a layer of a disk. A mark on another
// disk or domain starts a new range; marking the same layer again unmarks it.
func (r *rangeMarks) mark(domain, disk, path string, base bool) {
	if r.domain != domain || r.disk != disk {
		r.domain, r.disk, r.top, r.base = domain, disk, "", ""
	}
	p := &r.top
	if base {
		p = &r.base
	}
	if *p == path {
		*p = ""
		return
	}
	*p = path
}

// markNext is the mouse's mark: the first click marks the top, the next
// one the base, a third starts over.
func (r *rangeMarks) markNext(domain, disk, path string) {
	switch {
	case r.domain != domain || r.disk != disk || r.top == "":
		r.mark(domain, disk, path, false)
	case r.base == "" && path != r.top:
		r.base = path
	default:
		r.domain, r.disk, r.top, r.base = domain, disk, path, ""
	}
}

func (r *rangeMarks) clear() { r.top, r.base = "", "" }

// forget drops marks whose disk or files are gone from d.
func (r *rangeMarks) forget(d *model.Domain) {
	if d == nil || d.Name != r.domain {
		return
	}
	disk := d.Disk(r.disk)
	if disk == nil {
		r.clear()
		return
	}
	if r.top != "" && disk.Pos(r.top) < 0 {
		r.top = ""
	}
	if r.base != "" && disk.Pos(r.base) < 0 {
		r.base = ""
	}
}

// on reports whether the marks belong to this domain's disk.
func (r *rangeMarks) on(domain, disk string) bool {
	return r.any() && r.domain == domain && r.disk == disk
}

// span is the marked range on disk as layer positions: from the top (or
// the active layer) to the base (or the bottom). ok is false when nothing
// is marked there.
func (r *rangeMarks) span(domain string, d *model.Disk) (top, base int, ok bool) {
	if !r.on(domain, d.Target) {
		return 0, 0, false
	}
	top, base = 0, len(d.Layers)-1
	if r.top != "" {
		if top = d.Pos(r.top); top < 0 {
			return 0, 0, false
		}
	}
	if r.base != "" {
		if base = d.Pos(r.base); base < 0 {
			return 0, 0, false
		}
	}
	return top, base, true
}

// role is what a layer is in the range: "top", "base", "moving" (data
// between them that moves) or "".
func (r *rangeMarks) role(domain string, d *model.Disk, li int) string {
	top, base, ok := r.span(domain, d)
	if !ok {
		return ""
	}
	l := d.Layers[li].Path
	switch {
	case r.top != "" && l == r.top:
		return "top"
	case r.base != "" && l == r.base:
		return "base"
	case top < base && li > top && li < base:
		return "moving"
	}
	return ""
}

func (r *rangeMarks) bandwidth() int64 { return common.BandwidthSteps[r.bwStep] << 20 }

func (r *rangeMarks) stepBandwidth(d int) {
	r.bwStep = common.Clamp(r.bwStep+d, 0, len(common.BandwidthSteps)-1)
}

// cycleAfterReady walks pivot -> wait for a key -> keep the overlay.
func (r *rangeMarks) cycleAfterReady() {
	switch r.afterReady {
	case model.AfterReadyPivot:
		r.afterReady = model.AfterReadyWait
	case model.AfterReadyWait:
		r.afterReady = model.AfterReadyKeepOverlay
	default:
		r.afterReady = model.AfterReadyPivot
	}
}

// commitRequest turns the marks into a commit of dom's disk. With no top
// marked the top is the active layer; the planner decides whether that is
// an active commit (AutoActive), and refuses what does not make sense.
func (r *rangeMarks) commitRequest(dom *model.Domain, disk *model.Disk) model.CommitRequest {
	req := model.CommitRequest{Domain: dom.Name, Target: disk.Target, Shallow: r.shallow, Bandwidth: r.bandwidth(),
		AutoActive: true, AfterReady: r.afterReady}
	if r.on(dom.Name, disk.Target) {
		req.Top, req.Base = r.top, r.base
	}
	if req.Shallow && req.Base != "" {
		// Shallow means "the image directly below the top"; a marked base
		// says the same thing or contradicts it, and the planner decides.
		if top, base, ok := r.span(dom.Name, disk); ok && base == top+1 {
			req.Base = ""
		}
	}
	return req
}

// pullRequest turns the marks into a pull into dom's disk's active layer,
// keeping the marked base (or none: a full pull).
func (r *rangeMarks) pullRequest(dom *model.Domain, disk *model.Disk) model.PullRequest {
	req := model.PullRequest{Domain: dom.Name, Target: disk.Target, Bandwidth: r.bandwidth()}
	if r.on(dom.Name, disk.Target) {
		req.Base = r.base
	}
	return req
}

// status is the one-line description of the marks and options for the
// chain view: "top test2_nmap → base centos · shallow · READY: pivot · 10 MiB/s".
func (r *rangeMarks) status(domain string, d *model.Disk) string {
	var parts []string
	if r.on(domain, d.Target) {
		top, base := "active", "bottom"
		if r.top != "" {
			top = filepath.Base(r.top)
		}
		if r.base != "" {
			base = filepath.Base(r.base)
		}
		parts = append(parts, "top "+top+" → base "+base)
	}
	if r.shallow {
		parts = append(parts, "shallow")
	}
	// What happens at READY matters only for an active commit: no top
	// marked, or the active layer marked as top.
	activeTop := len(d.Layers) > 0 && (!r.on(domain, d.Target) || r.top == "" || r.top == d.Layers[0].Path)
	switch {
	case !activeTop:
	case r.afterReady == model.AfterReadyPivot:
		parts = append(parts, "READY: pivot")
	case r.afterReady == model.AfterReadyKeepOverlay:
		parts = append(parts, "READY: keep overlay")
	default:
		parts = append(parts, "READY: wait for P")
	}
	if bw := common.BandwidthSteps[r.bwStep]; bw > 0 {
		parts = append(parts, "≤"+strconv.FormatInt(bw, 10)+" MiB/s")
	}
	return strings.Join(parts, " · ")
}

// RangeKeys are the chain view's keys for marking and merging.
type RangeKeys struct {
	Top, Base, Clear, Commit, Pull, Shallow, AfterReady, Faster, Slower key.Binding
}

func newRangeKeys() RangeKeys {
	return RangeKeys{
		Top:        common.Bind([]string{"t"}, "t", "mark top"),
		Base:       common.Bind([]string{"b"}, "b", "mark base"),
		Clear:      common.Bind([]string{"x"}, "x", "clear marks"),
		Commit:     common.Bind([]string{"c"}, "c", "commit range"),
		Pull:       common.Bind([]string{"p"}, "p", "pull into active"),
		Shallow:    common.Bind([]string{"s"}, "s", "shallow commit"),
		AfterReady: common.Bind([]string{"a"}, "a", "action at READY"),
		Faster:     common.Bind([]string{"+", "="}, "+/-", "bandwidth limit"),
		Slower:     common.Bind([]string{"-"}, "-", "lower limit"),
	}
}

// rangeKey handles the marking and merging keys on the chain view; ok is
// false for other keys.
func (v *Model) rangeKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := v.rkeys
	r := &v.marks
	disk, layer := v.Cursor()
	switch {
	case key.Matches(msg, k.Top), key.Matches(msg, k.Base):
		if layer == nil {
			return common.ErrCmd("put the cursor on a layer to mark it"), true
		}
		r.mark(v.dom.Name, disk.Target, layer.Path, key.Matches(msg, k.Base))
	case key.Matches(msg, k.Clear):
		r.clear()
	case key.Matches(msg, k.Shallow):
		r.shallow = !r.shallow
	case key.Matches(msg, k.AfterReady):
		r.cycleAfterReady()
	case key.Matches(msg, k.Faster):
		r.stepBandwidth(1)
	case key.Matches(msg, k.Slower):
		r.stepBandwidth(-1)
	case key.Matches(msg, k.Commit), key.Matches(msg, k.Pull):
		if disk == nil {
			return nil, true
		}
		if r.any() && r.domain == v.dom.Name {
			if d := v.dom.Disk(r.disk); d != nil {
				disk = d
			}
		}
		if key.Matches(msg, k.Commit) {
			if !r.on(v.dom.Name, disk.Target) && !r.shallow {
				return common.ErrCmd("mark a top (t) and/or a base (b) first, or s for a shallow commit of the cursor's layer"), true
			}
			req := r.commitRequest(v.dom, disk)
			if !r.on(v.dom.Name, disk.Target) && layer != nil {
				req.Top = layer.Path // shallow commit of the cursor's layer
			}
			return tea.Batch(common.Steer(v.dom.Name, disk.Target),
				dialog.Start(&v.opener, v.common, blockOp(v.common, blockRequest{commit: &req}))), true
		}
		req := r.pullRequest(v.dom, disk)
		return tea.Batch(common.Steer(v.dom.Name, disk.Target),
			dialog.Start(&v.opener, v.common, blockOp(v.common, blockRequest{pull: &req}))), true
	default:
		return nil, false
	}
	return nil, true
}

// markTag is the label a layer's role in the range adds to its tags.
func markTag(role string) string {
	switch role {
	case "top":
		return "▲TOP "
	case "base":
		return "▼BASE "
	case "moving":
		return "↓moves "
	}
	return ""
}
