package forms

import (
	"path/filepath"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// freeSnapshotName is the name a new snapshot gets when the form's name is
// left empty: snap1, snap2, ... whichever the domain does not have yet
// (virsh would pick a number of seconds, which says less).
func freeSnapshotName(d *model.Domain) string {
	taken := map[string]bool{}
	for _, s := range d.Snapshots {
		taken[s.Name] = true
	}
	for n := 1; ; n++ {
		if name := "snap" + strconv.Itoa(n); !taken[name] {
			return name
		}
	}
}

// NewSnapshot is `n` on the snapshot tab.
func NewSnapshot(o *dialog.Opener, c *common.Common, d *model.Domain) tea.Cmd {
	dom := *d
	f := newForm(c, "New snapshot of "+dom.Name)
	active := dom.State.Active()
	kinds := []string{kindInternal, kindDiskOnly}
	if active {
		kinds = append(kinds, kindCheckpoint)
		f.intro = []string{dom.Name + " is " + string(dom.State) + ": internal and checkpoint snapshots keep its memory too"}
	} else {
		f.intro = []string{dom.Name + " is " + string(dom.State) + ": a snapshot holds the disks only"}
	}
	// Left empty, the name is a free snapN, shown as the placeholder: enter
	// alone works, and typing starts a name rather than appending to one.
	defName := freeSnapshotName(&dom)
	f.text("name", "Name", "", defName)
	f.choice("kind", "Kind", kinds...)
	f.text("desc", "Description", "", "optional")
	var first *model.Disk
	for i := range dom.Disks {
		disk := &dom.Disks[i]
		label := disk.Target + " overlay"
		if r := model.LeftOutReason(disk); r != "" {
			f.noteField("disk:"+disk.Target, label, "left out: "+r)
			continue
		}
		if first == nil {
			first = disk
		}
		f.text("disk:"+disk.Target, label, "", "")
	}
	f.text("mem", "Memory file", "", "")
	if active {
		f.toggle("quiesce", "Quiesce", "freeze guest filesystems (needs qemu-guest-agent)")
	}

	f.onChange = snapshotFormDefaults(&dom, defName, first)
	f.submit = func(f *Form) (dialog.Op, error) {
		req, err := snapshotFormRequest(f, &dom, defName)
		if err != nil {
			return dialog.Op{}, err
		}
		return SnapshotCreateOp(c, req), nil
	}
	return f.open(o)
}

// snapshotFormDefaults shows the fields the chosen kind uses and keeps
// the file fields following the name until edited.
func snapshotFormDefaults(dom *model.Domain, defName string, first *model.Disk) func(*Form) {
	return func(f *Form) {
		kind := f.field("kind").options[f.field("kind").choice]
		external := kind != kindInternal
		name := f.value("name")
		shown := name
		if shown == "" {
			shown = defName
		}
		for i := range dom.Disks {
			disk := &dom.Disks[i]
			fl := f.field("disk:" + disk.Target)
			fl.hidden = !external
			if fl.kind == fieldText {
				follow(fl, name, model.DefaultOverlayPath(dom, disk, shown))
			}
		}
		mem := f.field("mem")
		mem.hidden = kind != kindCheckpoint || first == nil
		if first != nil {
			follow(mem, name, model.DefaultMemoryPath(dom, first, shown))
		}
		if q := f.field("quiesce"); q != nil {
			q.hidden = kind != kindDiskOnly
		}
	}
}

// snapshotFormRequest turns the snapshot form into a request, or says
// which field is wrong.
func snapshotFormRequest(f *Form, dom *model.Domain, defName string) (model.SnapshotCreateRequest, error) {
	name := f.value("name")
	if name == "" {
		name = defName
	}
	if err := model.CheckSnapshotName(name); err != nil {
		return model.SnapshotCreateRequest{}, err
	}
	kind := f.field("kind").options[f.field("kind").choice]
	req := model.SnapshotCreateRequest{Domain: dom.Name, Name: name, Description: f.value("desc")}
	var err error
	switch kind {
	case kindDiskOnly:
		req.DiskOnly = true
		if q := f.field("quiesce"); q != nil {
			req.Quiesce = q.on
		}
	case kindCheckpoint:
		req.MemoryFile = f.value("mem")
		if req.MemoryFile != "" { // else the planner's default
			err = absolute(req.MemoryFile, "memory file")
		}
	}
	if kind != kindInternal {
		req.External = true
		var ferr error
		req.Files, ferr = overlayFiles(f, dom)
		if ferr != nil {
			return model.SnapshotCreateRequest{}, ferr
		}
	}
	if err != nil {
		return model.SnapshotCreateRequest{}, err
	}
	return req, nil
}

// overlayFiles are the overlay paths typed for dom's disks; a disk left
// empty gets the planner's default.
func overlayFiles(f *Form, dom *model.Domain) (map[string]string, error) {
	files := map[string]string{}
	for i := range dom.Disks {
		fl := f.field("disk:" + dom.Disks[i].Target)
		if fl.kind != fieldText {
			continue
		}
		p := strings.TrimSpace(fl.input.Value())
		if p == "" {
			continue
		}
		if err := absolute(p, dom.Disks[i].Target+" overlay"); err != nil {
			return nil, err
		}
		files[dom.Disks[i].Target] = p
	}
	return files, nil
}

// follow keeps an untouched path field on its default, which changes with
// the snapshot name; with no name yet (or when emptied) the field shows the
// default as a hint.
func follow(fl *formField, name, def string) {
	fl.input.Placeholder = model.Escape(def)
	if fl.edited {
		return
	}
	if name == "" {
		def = ""
	}
	def = offered(def)
	if fl.input.Value() != def {
		fl.input.SetValue(def)
	}
}

// offered is a default as a field's value. One built from a host name with
// control characters is not offered: the text input would silently drop
// them and plan another path. The field stays empty (its placeholder shows
// the default escaped) and the plan refuses the default by the model's rule.
func offered(def string) string {
	if model.CheckInput("", def) != nil {
		return ""
	}
	return def
}

// absolute refuses an empty or relative path: the daemon may run on
// another host, and the TUI has no working directory to offer it.
func absolute(p, what string) error {
	switch {
	case p == "":
		return model.Refuse("the "+what+" is empty", "give a full path")
	case !filepath.IsAbs(p):
		return model.NotAbsolute(what, p)
	}
	return nil
}

// startChoices are the ways a domain can come back after a revert or a
// restore; the first follows the snapshot or save image.
var startChoices = []string{"as it was", "running", "paused"}

func startMode(choice int) model.StartMode {
	switch choice {
	case 1:
		return model.StartRunning
	case 2:
		return model.StartPaused
	}
	return model.StartDefault
}

// Revert is `r` on the snapshot tab.
func Revert(o *dialog.Opener, c *common.Common, d *model.Domain, s *model.Snapshot) tea.Cmd {
	dom, snap := d.Name, *s
	f := newForm(c, "Revert "+dom+" to snapshot "+snap.Name)
	mem := "disks only"
	if snap.Memory != model.MemoryNo && snap.Memory != "" {
		mem = "disks and memory"
	}
	f.intro = []string{
		"snapshot " + snap.Name + ": " + string(snap.Kind) + ", " + mem + ", taken while " + snap.State,
		dom + " is " + string(d.State) + " now; the plan says what is kept and what is lost",
	}
	f.choice("start", "Afterwards", startChoices...)
	f.choice("current", "Current state", "keep it as snapshot "+model.KeepSnapshotName(d, snap.Name), "discard it")
	f.toggle("force", "Force", "allow reverts libvirt calls risky (current state is lost)")
	f.submit = func(f *Form) (dialog.Op, error) {
		req := model.SnapshotRevertRequest{Domain: dom, Name: snap.Name,
			Start: startMode(f.field("start").choice), Force: f.field("force").on,
			DiscardCurrent: f.field("current").choice == 1}
		return SnapshotRevertOp(c, req), nil
	}
	return f.open(o)
}

// Save is `s` in the domain list.
func Save(o *dialog.Opener, c *common.Common, d *model.Domain, def string, remember func(string)) tea.Cmd {
	dom := d.Name
	f := newForm(c, "Save "+dom+" to a file")
	f.intro = []string{"memory and device state go to the file; " + dom + " stops until it is restored"}
	f.text("file", "Save file", def, "/var/lib/libvirt/qemu/save/"+dom+".save")
	f.submit = func(f *Form) (dialog.Op, error) {
		file := f.value("file")
		if err := absolute(file, "save file"); err != nil {
			return dialog.Op{}, err
		}
		remember(file)
		return SaveOp(c, model.SaveRequest{Domain: dom, File: file}), nil
	}
	return f.open(o)
}

// Restore is `r` in the domain list.
func Restore(o *dialog.Opener, c *common.Common, def string) tea.Cmd {
	f := newForm(c, "Restore a domain from a save file")
	f.intro = []string{"the save file names its domain; it must be shut off"}
	f.text("file", "Save file", def, "/var/lib/libvirt/qemu/save/NAME.save")
	f.choice("start", "Start it", startChoices...)
	f.submit = func(f *Form) (dialog.Op, error) {
		file := f.value("file")
		if err := absolute(file, "save file"); err != nil {
			return dialog.Op{}, err
		}
		return RestoreOp(c, model.RestoreRequest{File: file, Start: startMode(f.field("start").choice)}), nil
	}
	return f.open(o)
}

// DefaultSaveFile is next to the domain's first disk, where its images
// (and so enough space) already are.
func DefaultSaveFile(d *model.Domain) string {
	for i := range d.Disks {
		if src := d.Disks[i].Source; src != "" && filepath.IsAbs(src) && model.LeftOutReason(&d.Disks[i]) == "" {
			return filepath.Join(filepath.Dir(src), d.Name+".save")
		}
	}
	return ""
}
