package model

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A health check gives every layer of every disk one verdict and its
// reasons, and the domain's snapshot and managed-save metadata its own
// findings. libvirtx gathers the facts (header bits, qemu-img check, file
// modes, the managed-save definition); CheckDomain turns them into
// findings, each with the fix as a Hint.

// Verdict is how healthy a layer, a disk or a domain is.
type Verdict string

// Verdicts, from good to bad. Only warning and bad are "something wrong".
const (
	VerdictOK      Verdict = "ok"
	VerdictWarning Verdict = "warning"
	VerdictBad     Verdict = "bad"
)

func (v Verdict) rank() int {
	switch v {
	case VerdictBad:
		return 2
	case VerdictWarning:
		return 1
	}
	return 0
}

// Worse is the worse of v and w.
func (v Verdict) Worse(w Verdict) Verdict {
	if w.rank() > v.rank() {
		return w
	}
	if v == "" {
		return VerdictOK
	}
	return v
}

// Wrong says whether the verdict means something is wrong.
func (v Verdict) Wrong() bool { return v.rank() > 0 }

// FindingKind names a finding for scripts (`check --json`).
type FindingKind string

// Finding kinds.
const (
	FindDirty              FindingKind = "dirty"
	FindCorrupt            FindingKind = "corrupt"
	FindUnknownFeatures    FindingKind = "unknown-features"
	FindBackingFormat      FindingKind = "backing-format"
	FindRelativeBacking    FindingKind = "relative-backing"
	FindImageCorruptions   FindingKind = "image-corruptions"
	FindImageLeaks         FindingKind = "image-leaks"
	FindImageCheckFailed   FindingKind = "image-check-failed"
	FindMissing            FindingKind = "missing"
	FindUnreadable         FindingKind = "unreadable"
	FindNotRegular         FindingKind = "not-regular"
	FindLoop               FindingKind = "loop"
	FindTooDeep            FindingKind = "too-deep"
	FindBadHeader          FindingKind = "bad-header"
	FindQEMUCannotRead     FindingKind = "qemu-cannot-read"
	FindStaleSnapshot      FindingKind = "stale-snapshot"
	FindSnapshotFileGone   FindingKind = "snapshot-file-missing"
	FindManagedSaveChanged FindingKind = "managed-save-changed"
	FindDomainProblem      FindingKind = "domain-problem"
)

// Finding is one thing wrong, where it is, and what fixes it.
type Finding struct {
	Kind     FindingKind `json:"kind"`
	Verdict  Verdict     `json:"verdict"`
	Disk     string      `json:"disk,omitempty"`
	Path     string      `json:"path,omitempty"`
	Snapshot string      `json:"snapshot,omitempty"`
	Text     string      `json:"text"`
	// Fix says what to do; each front end words its remedies.
	Fix Hint `json:"-"`
}

// MarshalJSON adds the fix in the CLI's words as "fix".
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	return json.Marshal(struct {
		plain
		Fix string `json:"fix"`
	}{plain(f), f.Fix.String()})
}

// LayerHealth is one layer's verdict. Checked names what was looked at
// ("header", "qemu-img check", ...); Notes say what could not be checked
// and why, which is not something wrong.
type LayerHealth struct {
	Path     string    `json:"path"`
	Verdict  Verdict   `json:"verdict"`
	Checked  []string  `json:"checked"`
	Notes    []string  `json:"notes"`
	Findings []Finding `json:"findings"`
}

// DiskHealth is the layers of one disk, active layer first.
type DiskHealth struct {
	Target  string        `json:"target"`
	Verdict Verdict       `json:"verdict"`
	Layers  []LayerHealth `json:"layers"`
}

// DomainHealth is a domain's check: its disks, and the findings about its
// metadata (snapshots, managed save).
type DomainHealth struct {
	Domain   string       `json:"domain"`
	State    DomainState  `json:"state"`
	Verdict  Verdict      `json:"verdict"`
	Disks    []DiskHealth `json:"disks"`
	Findings []Finding    `json:"findings"`
	Notes    []string     `json:"notes"`
}

// All is every finding of the domain, layers first.
func (h DomainHealth) All() []Finding {
	var out []Finding
	for _, d := range h.Disks {
		for _, l := range d.Layers {
			out = append(out, l.Findings...)
		}
	}
	return append(out, h.Findings...)
}

// Layer is the health of the layer at path on disk target, or nil.
func (h *DomainHealth) Layer(target, path string) *LayerHealth { return h.LayerAt(target, -1, path) }

// LayerAt is Layer for the layer at position pos of the chain, found at
// once when the check read the chain as it is now (a 1000-layer chain
// is drawn a row at a time), else by path.
func (h *DomainHealth) LayerAt(target string, pos int, path string) *LayerHealth {
	for i := range h.Disks {
		if h.Disks[i].Target != target {
			continue
		}
		if ls := h.Disks[i].Layers; pos >= 0 && pos < len(ls) && ls[pos].Path == path {
			return &ls[pos]
		}
		for j := range h.Disks[i].Layers {
			if h.Disks[i].Layers[j].Path == path {
				return &h.Disks[i].Layers[j]
			}
		}
	}
	return nil
}

// ImageCheck is what `qemu-img check --output=json` said of one image.
type ImageCheck struct {
	Corruptions int64
	Leaks       int64
	CheckErrors int64
	// Shared: read with -U, beside a QEMU that has it open read-only.
	Shared bool
	// Error is qemu-img's own text when it could not check at all.
	Error string
}

// LayerFacts is what libvirtx read about one image beyond discovery.
type LayerFacts struct {
	// Header says the qcow2 header was read for this check; HeaderSkipped
	// says why it could not be (the verdict then rests on discovery).
	Header              bool
	HeaderSkipped       string
	UnknownIncompatible uint64
	// UnknownNames names those bits (from the image's feature table).
	UnknownNames []string
	// BackingRealFormat is the format the backing file's own bytes show
	// ("" when it was not read).
	BackingRealFormat string
	// RelativeSkipped says why a relative backing name was not compared
	// with the image's real folder (RelativeRuns and RelativeBeside are
	// then unset).
	RelativeSkipped string
	// RelativeRuns is where the backing name resolves from the path the
	// domain opens the image by; RelativeBeside where it resolves from
	// the image's real folder. Set only when they are different files.
	RelativeRuns, RelativeBeside string
	// WrittenBy names the running domain whose QEMU writes this image.
	WrittenBy string
	// QEMUCannotRead says why QEMU's user cannot reach or read the image
	// (a folder it cannot enter, a mode that shuts it out), or "".
	QEMUCannotRead string
	// QEMUFix is the folder or file whose mode keeps QEMU's user out.
	QEMUFix string
	// ImageCheck is nil when qemu-img check did not run; NoImageCheck
	// says why not.
	ImageCheck   *ImageCheck
	NoImageCheck string
}

// CheckFacts is what libvirtx read about one domain for its check.
type CheckFacts struct {
	Layers map[string]LayerFacts
	// GoneFiles are files that snapshots name and that were looked for
	// and not found.
	GoneFiles map[string]bool
	// ManagedSaveChanged lists what differs between the definition in the
	// managed-save image and the domain's definition now.
	ManagedSaveChanged []string
	// Notes are what could not be checked for the whole domain.
	Notes []string
}

// CheckDomain gives the domain's verdicts from what discovery read (d)
// and the extra facts f. An empty f still judges everything discovery
// knows: broken chains, dirty and corrupt bits, stale snapshots.
func CheckDomain(d Domain, f CheckFacts) DomainHealth {
	h := DomainHealth{Domain: d.Name, State: d.State, Verdict: VerdictOK,
		Disks: []DiskHealth{}, Findings: []Finding{}, Notes: append([]string{}, f.Notes...)}
	if d.Problem != "" {
		h.Findings = append(h.Findings, Finding{Kind: FindDomainProblem, Verdict: VerdictBad, Text: d.Problem,
			Fix: Say("see what libvirt says: virsh dumpxml " + ShellQuote(d.Name))})
	}
	for _, disk := range d.Disks {
		dh := DiskHealth{Target: disk.Target, Verdict: VerdictOK, Layers: []LayerHealth{}}
		for i := range disk.Layers {
			lh := checkLayer(d, disk, i, f.Layers[disk.Layers[i].Path])
			dh.Verdict = dh.Verdict.Worse(lh.Verdict)
			dh.Layers = append(dh.Layers, lh)
		}
		h.Verdict = h.Verdict.Worse(dh.Verdict)
		h.Disks = append(h.Disks, dh)
	}
	h.Findings = append(h.Findings, checkMetadata(d, f)...)
	for _, x := range h.Findings {
		h.Verdict = h.Verdict.Worse(x.Verdict)
	}
	return h
}

// layerCheck collects one layer's findings.
type layerCheck struct {
	d    Domain
	disk Disk
	i    int
	l    Layer
	lh   *LayerHealth
}

func (c *layerCheck) add(kind FindingKind, v Verdict, text string, fix Hint) {
	c.lh.Findings = append(c.lh.Findings, Finding{Kind: kind, Verdict: v, Disk: c.disk.Target, Path: c.l.Path, Text: text, Fix: fix})
	c.lh.Verdict = c.lh.Verdict.Worse(v)
}

// overlay is the layer above this one (which names it as its backing).
func (c *layerCheck) overlay() string {
	if c.i == 0 {
		return ""
	}
	return c.disk.Layers[c.i-1].Path
}

func checkLayer(d Domain, disk Disk, i int, f LayerFacts) LayerHealth {
	l := disk.Layers[i]
	lh := LayerHealth{Path: l.Path, Verdict: VerdictOK, Checked: []string{}, Notes: []string{}, Findings: []Finding{}}
	c := &layerCheck{d: d, disk: disk, i: i, l: l, lh: &lh}
	written := f.WrittenBy
	if written == "" && i == 0 && d.State.Active() && !disk.ReadOnly {
		written = d.Name
	}
	if l.Problem != "" {
		c.chainProblem()
		return lh
	}
	lh.Checked = append(lh.Checked, "chain")
	switch {
	case f.HeaderSkipped != "":
		lh.Notes = append(lh.Notes, "header not read: "+f.HeaderSkipped)
	case l.Format == "qcow2":
		c.header(f, written)
	}
	if f.QEMUCannotRead != "" {
		c.add(FindQEMUCannotRead, VerdictBad, "QEMU's user cannot read it: "+f.QEMUCannotRead,
			Hint{Words("let it in: "), Do(DoChmodRead, f.QEMUFix)})
	}
	c.imageCheck(f)
	return lh
}

// header judges what the qcow2 header says.
func (c *layerCheck) header(f LayerFacts, written string) {
	l := c.l
	c.lh.Checked = append(c.lh.Checked, "header")
	repair := func(mode string) Hint {
		h := Hint{Words("with nothing using it, "), Do(DoImageRepair, l.Path, mode)}
		if written != "" {
			h = Hint{Words("shut " + written + " off, then "), Do(DoImageRepair, l.Path, mode)}
		}
		return h
	}
	switch {
	case l.Dirty && written != "":
		c.lh.Notes = append(c.lh.Notes, "dirty bit set while "+written+"'s QEMU has it open: normal with lazy refcounts, not a fault")
	case l.Dirty:
		c.add(FindDirty, VerdictWarning, "dirty bit set: the image was not closed cleanly (QEMU stopped with lazy refcounts); its refcounts may be wrong",
			repair("all"))
	}
	if l.Corrupt {
		c.add(FindCorrupt, VerdictBad, "corrupt bit set: QEMU found its metadata inconsistent and will open it read-only at most", repair("all"))
	}
	if u := f.UnknownIncompatible; u != 0 {
		names := ""
		if len(f.UnknownNames) > 0 {
			names = " (" + strings.Join(f.UnknownNames, ", ") + ")"
		}
		c.add(FindUnknownFeatures, VerdictBad, fmt.Sprintf("unknown incompatible features 0x%x%s: this QEMU refuses to open it", u, names),
			Hint{Words("open it with the QEMU that wrote it, or see "), Do(DoImageInfo, l.Path)})
	}
	if l.BackingFile != "" && f.BackingRealFormat != "" && l.BackingFormat != "" && l.BackingFormat != f.BackingRealFormat {
		c.add(FindBackingFormat, VerdictBad, fmt.Sprintf("declares its backing file %s as %s, but it is %s", l.BackingFile, l.BackingFormat, f.BackingRealFormat),
			Hint{Words("record the real format: "), Do(DoRebaseUnsafe, l.Path, l.BackingFile, f.BackingRealFormat)})
	}
	if f.RelativeSkipped != "" {
		c.lh.Notes = append(c.lh.Notes, "relative backing name "+l.BackingFile+" not compared with the image's real folder: "+f.RelativeSkipped)
	}
	if f.RelativeRuns != "" && f.RelativeBeside != "" {
		format := l.BackingFormat
		if format == "" {
			format = f.BackingRealFormat
		}
		c.add(FindRelativeBacking, VerdictWarning, fmt.Sprintf("relative backing name %s means %s where the domain opens it, but %s beside the file itself", l.BackingFile, f.RelativeRuns, f.RelativeBeside),
			Hint{Words("make it absolute: "), Do(DoRebaseUnsafe, l.Path, f.RelativeRuns, format)})
	}
}

// imageCheck judges qemu-img check's answer.
func (c *layerCheck) imageCheck(f LayerFacts) {
	ic := f.ImageCheck
	if ic == nil {
		if f.NoImageCheck != "" {
			c.lh.Notes = append(c.lh.Notes, "qemu-img check not run: "+f.NoImageCheck)
		}
		return
	}
	how := "qemu-img check"
	if ic.Shared {
		how += " -U"
	}
	c.lh.Checked = append(c.lh.Checked, how)
	path := c.l.Path
	switch {
	case ic.Error != "":
		c.add(FindImageCheckFailed, VerdictBad, "qemu-img check could not check it: "+ic.Error, Hint{Words("see "), Do(DoImageInfo, path)})
	case ic.Corruptions > 0:
		c.add(FindImageCorruptions, VerdictBad, fmt.Sprintf("qemu-img check found corruptions: %d", ic.Corruptions),
			Hint{Words("copy it aside, then with nothing using it "), Do(DoImageRepair, path, "all")})
	case ic.CheckErrors > 0:
		c.add(FindImageCheckFailed, VerdictBad, fmt.Sprintf("qemu-img check hit errors while checking: %d", ic.CheckErrors), Hint{Words("see "), Do(DoImageInfo, path)})
	}
	if ic.Error == "" && ic.Leaks > 0 {
		c.add(FindImageLeaks, VerdictWarning, fmt.Sprintf("qemu-img check found leaked clusters: %d (space lost, data safe)", ic.Leaks),
			Hint{Words("with nothing using it, "), Do(DoImageRepair, path, "leaks")})
	}
}

// chainProblem words a layer where discovery's walk stopped.
func (c *layerCheck) chainProblem() {
	l, p := c.l, c.l.Problem
	rebase := func(words string) Hint {
		if ov := c.overlay(); ov != "" {
			return Hint{Words(words + ", or point " + ov + " at the right backing image: "), Do(DoRebaseUnsafe, ov, "BACKING", "FORMAT")}
		}
		return Hint{Words(words + ", or change the disk's source: "), Do(DoVirshEdit, c.d.Name)}
	}
	switch {
	case strings.HasPrefix(p, ProblemMissing):
		c.add(FindMissing, VerdictBad, p, rebase("put the file back"))
	case strings.HasPrefix(p, ProblemUnreadable):
		c.add(FindUnreadable, VerdictBad, p, Say("run virtchain as a user that can read it (root), or fix its mode"))
	case strings.HasPrefix(p, ProblemNotRegular):
		c.add(FindNotRegular, VerdictBad, p, rebase("replace it with the image file"))
	case strings.HasPrefix(p, ProblemLoop):
		c.add(FindLoop, VerdictBad, p, rebase("break the loop"))
	case strings.HasPrefix(p, ProblemTooDeep):
		c.add(FindTooDeep, VerdictBad, fmt.Sprintf("%s: QEMU refuses to open it", p),
			Hint{Words("merge layers: "), Do(DoCommitDisk, c.d.Name, c.disk.Target)})
	case strings.HasPrefix(p, "backing is not a local file"), strings.HasPrefix(p, "chain cannot be read"):
		c.lh.Notes = append(c.lh.Notes, "not checked: "+p)
	default:
		c.add(FindBadHeader, VerdictBad, p, Hint{Words("see what QEMU makes of it: "), Do(DoImageInfo, l.Path)})
	}
}

// checkMetadata judges the snapshot and managed-save metadata.
func checkMetadata(d Domain, f CheckFacts) []Finding {
	var out []Finding
	for _, s := range d.Snapshots {
		if len(s.Stale) > 0 {
			out = append(out, Finding{Kind: FindStaleSnapshot, Verdict: VerdictWarning, Snapshot: s.Name,
				Text: fmt.Sprintf("snapshot %s is stale: its files for %s left the chain or a merge wrote over its point; it cannot be reverted", s.Name, strings.Join(s.Stale, ", ")),
				Fix:  Hint{Words("remove its metadata: "), Do(DoDeleteMetadata, d.Name, s.Name)}})
		}
		var gone []string
		for _, p := range SnapshotFiles(s) {
			if f.GoneFiles[p] && !containsStr(gone, p) {
				gone = append(gone, p)
			}
		}
		if len(gone) > 0 {
			out = append(out, Finding{Kind: FindSnapshotFileGone, Verdict: VerdictBad, Snapshot: s.Name, Path: gone[0],
				Text: fmt.Sprintf("snapshot %s names files that no longer exist: %s", s.Name, strings.Join(gone, ", ")),
				Fix:  Hint{Words("it cannot be reverted; remove its metadata: "), Do(DoDeleteMetadata, d.Name, s.Name)}})
		}
	}
	if d.ManagedSave && len(f.ManagedSaveChanged) > 0 {
		out = append(out, Finding{Kind: FindManagedSaveChanged, Verdict: VerdictWarning,
			Text: "the managed-save image was made from a definition that changed since (" + strings.Join(f.ManagedSaveChanged, "; ") +
				"): starting resumes the old one",
			Fix: Hint{Words("to boot the new definition, drop the saved state: "), Do(DoManagedSaveRemove, d.Name)}})
	}
	return out
}

// SnapshotFiles are the files a snapshot needs to be reverted: each
// disk's overlay and point, and its memory file.
func SnapshotFiles(s Snapshot) []string {
	var out []string
	for _, sd := range s.Disks {
		if sd.Kind == "external" && sd.File != "" {
			out = append(out, sd.File)
		}
		if sd.Point != "" {
			out = append(out, sd.Point)
		}
	}
	if s.MemoryFile != "" {
		out = append(out, s.MemoryFile)
	}
	return out
}
