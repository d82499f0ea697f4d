package ui

import (
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// A form is a dialog of fields that ends in an Op: enter plans it (the
// plan then asks for confirmation), esc closes. The plan dialog returns to
// the form on cancel or refusal, with everything typed still there.

type fieldKind int

const (
	fieldText   fieldKind = iota
	fieldChoice           // one of options; ←/→ or space
	fieldToggle           // on/off; space
	fieldNote             // a line of text, not focusable
)

type formField struct {
	id      string
	label   string
	kind    fieldKind
	input   textinput.Model
	options []string
	choice  int
	on      bool
	note    string // fieldNote's text, or a hint under a focused field
	hidden  bool
	// edited is set once the user changed a text field; until then it
	// follows its default (an overlay path that contains the name). An
	// edited field left empty means the default too.
	edited bool
}

type form struct {
	dialog.Opener
	common        *common.Common
	width, height int
	title         string
	intro         []string
	fields        []*formField
	cursor        int
	err           string
	// onChange re-derives defaults and visibility after every key.
	onChange func(f *form)
	// submit turns the fields into an Op, or says what is wrong.
	submit func(f *form) (dialog.Op, error)
	keys   formKeys
}

type formKeys struct {
	Next, Prev, Change, Submit, Cancel key.Binding
}

func newForm(c *common.Common, title string) *form {
	return &form{common: c, title: title, keys: formKeys{
		Next:   common.Bind([]string{"tab", "down"}, "tab/↓", "next field"),
		Prev:   common.Bind([]string{"shift+tab", "up"}, "shift+tab/↑", "previous"),
		Change: common.Bind([]string{"left", "right", "space"}, "←→/space", "change choice"),
		Submit: common.Bind([]string{"enter"}, "enter", "show the plan"),
		Cancel: common.Bind([]string{"esc"}, "esc", "cancel"),
	}}
}

func (f *form) text(id, label, value, placeholder string) *formField {
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 4096
	ti.Placeholder = model.Escape(placeholder)
	ti.SetStyles(f.common.Styles.Input)
	ti.SetValue(offered(value))
	fl := &formField{id: id, label: label, kind: fieldText, input: ti}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *form) choice(id, label string, options ...string) *formField {
	fl := &formField{id: id, label: label, kind: fieldChoice, options: options}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *form) toggle(id, label, note string) *formField {
	fl := &formField{id: id, label: label, kind: fieldToggle, note: note}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *form) noteField(id, label, text string) *formField {
	fl := &formField{id: id, label: label, kind: fieldNote, note: text}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *form) field(id string) *formField {
	for _, fl := range f.fields {
		if fl.id == id {
			return fl
		}
	}
	return nil
}

func (f *form) value(id string) string { return strings.TrimSpace(f.field(id).input.Value()) }

// open finishes the form (defaults, focus) and opens it.
func (f *form) open(o *dialog.Opener) tea.Cmd {
	if f.onChange != nil {
		f.onChange(f)
	}
	f.cursor = -1
	f.move(1)
	o.Open(f)
	return nil
}

func (f *form) focusable(i int) bool {
	fl := f.fields[i]
	return !fl.hidden && fl.kind != fieldNote
}

// move walks to the next focusable field in direction d, wrapping.
func (f *form) move(d int) {
	n := len(f.fields)
	i := f.cursor
	for step := 0; step < n; step++ {
		i = (i + d + n) % n
		if f.focusable(i) {
			break
		}
	}
	f.cursor = i
	for j, fl := range f.fields {
		if fl.kind != fieldText {
			continue
		}
		if j == i {
			fl.input.Focus()
			fl.input.CursorEnd()
		} else {
			fl.input.Blur()
		}
	}
}

func (f *form) SetSize(w, h int) {
	f.width, f.height = w, h
	for _, fl := range f.fields {
		fl.input.SetWidth(max(w-f.labelW()-6, 8))
	}
}

func (f *form) labelW() int {
	w := 0
	for _, fl := range f.fields {
		w = max(w, common.TextWidth(fl.label))
	}
	return w
}

func (f *form) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	f.err = ""
	switch {
	case key.Matches(k, f.keys.Cancel):
		f.Close()
		return nil
	case key.Matches(k, f.keys.Submit):
		op, err := f.submit(f)
		if err != nil {
			f.err = err.Error()
			return nil
		}
		op.Back = f
		return dialog.Start(&f.Opener, f.common, op)
	case key.Matches(k, f.keys.Next):
		f.move(1)
		return nil
	case key.Matches(k, f.keys.Prev):
		f.move(-1)
		return nil
	}
	if f.cursor < 0 || f.cursor >= len(f.fields) {
		return nil
	}
	fl := f.fields[f.cursor]
	var cmd tea.Cmd
	switch fl.kind {
	case fieldChoice:
		switch k.String() {
		case "left", "h":
			fl.choice = (fl.choice + len(fl.options) - 1) % len(fl.options)
		case "right", "l", "space":
			fl.choice = (fl.choice + 1) % len(fl.options)
		}
	case fieldToggle:
		if k.String() == "space" || k.String() == "x" {
			fl.on = !fl.on
		}
	case fieldText:
		before := fl.input.Value()
		fl.input, cmd = fl.input.Update(k)
		if fl.input.Value() != before {
			fl.edited = true
		}
	}
	if f.onChange != nil {
		f.onChange(f)
	}
	return cmd
}

func (f *form) ShortHelp() []key.Binding {
	bs := []key.Binding{f.keys.Submit, f.keys.Cancel, f.keys.Next}
	if f.cursor >= 0 && f.cursor < len(f.fields) && f.fields[f.cursor].kind == fieldChoice {
		bs = append(bs, f.keys.Change)
	}
	if f.cursor >= 0 && f.cursor < len(f.fields) && f.fields[f.cursor].kind == fieldToggle {
		bs = append(bs, common.Bind([]string{"space"}, "space", "toggle"))
	}
	return bs
}

func (f *form) FullHelp() [][]key.Binding {
	return [][]key.Binding{{f.keys.Submit, f.keys.Cancel, f.keys.Next, f.keys.Prev, f.keys.Change}}
}

func (f *form) View() string {
	st := f.common.Styles
	lw := f.labelW()
	lines := []string{st.TabActive.Render(common.Truncate(f.title, max(f.width-2, 1)))}
	for _, l := range f.intro {
		lines = append(lines, " "+st.Dim.Render(common.Truncate(l, f.width-1)))
	}
	lines = append(lines, "")
	focusLine := -1
	for i, fl := range f.fields {
		if fl.hidden {
			continue
		}
		mark := "  "
		if i == f.cursor {
			mark = "› "
			focusLine = len(lines)
		}
		label := common.PadRight(fl.label, lw)
		if i == f.cursor {
			label = st.Bold.Render(label)
		}
		head := " " + mark + label + "  "
		room := max(f.width-3-lw-2-1, 4)
		var val string
		switch fl.kind {
		case fieldText:
			val = fl.input.View()
		case fieldChoice:
			parts := make([]string, len(fl.options))
			for j, o := range fl.options {
				if j == fl.choice {
					parts[j] = st.Selected.Render(" " + o + " ")
				} else {
					parts[j] = st.Dim.Render(" " + o + " ")
				}
			}
			val = strings.Join(parts, " ")
		case fieldToggle:
			box := "[ ] "
			if fl.on {
				box = "[x] "
			}
			val = box + st.Dim.Render(common.Truncate(fl.note, room-4))
		case fieldNote:
			val = st.Dim.Render(common.Truncate(fl.note, room))
		}
		lines = append(lines, head+val)
	}
	_ = focusLine
	if f.err != "" {
		lines = append(lines, "")
		lines = append(lines, common.Indent(common.WrapText("✖ "+f.err, f.width-2), st.Error)...)
	}
	h := max(f.height, 1)
	if len(lines) > h {
		// Keep the title and the focused field on screen.
		start := common.Clamp(focusLine-h/2, 1, len(lines)-h+1)
		lines = append(lines[:1], lines[start:start+h-1]...)
	}
	return common.Block(lines, f.width, f.height)
}

// snapshotKinds are the kind choices of the new-snapshot form.
const (
	kindInternal   = "internal"
	kindDiskOnly   = "external disk-only"
	kindCheckpoint = "external checkpoint"
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

// newSnapshotForm is `n` on the snapshot tab.
func newSnapshotForm(o *dialog.Opener, c *common.Common, d *model.Domain) tea.Cmd {
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
	f.submit = func(f *form) (dialog.Op, error) {
		req, err := snapshotFormRequest(f, &dom, defName)
		if err != nil {
			return dialog.Op{}, err
		}
		return snapshotCreateOp(c, req), nil
	}
	return f.open(o)
}

// snapshotFormDefaults shows the fields the chosen kind uses and keeps
// the file fields following the name until edited.
func snapshotFormDefaults(dom *model.Domain, defName string, first *model.Disk) func(*form) {
	return func(f *form) {
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
func snapshotFormRequest(f *form, dom *model.Domain, defName string) (model.SnapshotCreateRequest, error) {
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
func overlayFiles(f *form, dom *model.Domain) (map[string]string, error) {
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

// revertForm is `r` on the snapshot tab.
func revertForm(o *dialog.Opener, c *common.Common, d *model.Domain, s *model.Snapshot) tea.Cmd {
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
	f.submit = func(f *form) (dialog.Op, error) {
		req := model.SnapshotRevertRequest{Domain: dom, Name: snap.Name,
			Start: startMode(f.field("start").choice), Force: f.field("force").on,
			DiscardCurrent: f.field("current").choice == 1}
		return snapshotRevertOp(c, req), nil
	}
	return f.open(o)
}

// saveForm is `s` in the domain list.
func saveForm(o *dialog.Opener, c *common.Common, d *model.Domain, def string, remember func(string)) tea.Cmd {
	dom := d.Name
	f := newForm(c, "Save "+dom+" to a file")
	f.intro = []string{"memory and device state go to the file; " + dom + " stops until it is restored"}
	f.text("file", "Save file", def, "/var/lib/libvirt/qemu/save/"+dom+".save")
	f.submit = func(f *form) (dialog.Op, error) {
		file := f.value("file")
		if err := absolute(file, "save file"); err != nil {
			return dialog.Op{}, err
		}
		remember(file)
		return saveOp(c, model.SaveRequest{Domain: dom, File: file}), nil
	}
	return f.open(o)
}

// restoreForm is `r` in the domain list.
func restoreForm(o *dialog.Opener, c *common.Common, def string) tea.Cmd {
	f := newForm(c, "Restore a domain from a save file")
	f.intro = []string{"the save file names its domain; it must be shut off"}
	f.text("file", "Save file", def, "/var/lib/libvirt/qemu/save/NAME.save")
	f.choice("start", "Start it", startChoices...)
	f.submit = func(f *form) (dialog.Op, error) {
		file := f.value("file")
		if err := absolute(file, "save file"); err != nil {
			return dialog.Op{}, err
		}
		return restoreOp(c, model.RestoreRequest{File: file, Start: startMode(f.field("start").choice)}), nil
	}
	return f.open(o)
}

// defaultSaveFile is next to the domain's first disk, where its images
// (and so enough space) already are.
func defaultSaveFile(d *model.Domain) string {
	for i := range d.Disks {
		if src := d.Disks[i].Source; src != "" && filepath.IsAbs(src) && model.LeftOutReason(&d.Disks[i]) == "" {
			return filepath.Join(filepath.Dir(src), d.Name+".save")
		}
	}
	return ""
}
