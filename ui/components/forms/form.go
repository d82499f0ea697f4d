// Package forms holds the dialogs of fields that end in an operation: a
// new snapshot, a revert, a save to a file and a restore from one, and the
// operations (dialog.Op) they and the other snapshot keys plan.
package forms

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// A Form is a dialog of fields that ends in an Op: enter plans it (the
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

type Form struct {
	dialog.Opener
	common        *common.Common
	width, height int
	title         string
	intro         []string
	fields        []*formField
	cursor        int
	err           string
	// onChange re-derives defaults and visibility after every key.
	onChange func(f *Form)
	// submit turns the fields into an Op, or says what is wrong.
	submit func(f *Form) (dialog.Op, error)
	keys   formKeys
}

type formKeys struct {
	Next, Prev, Change, Submit, Cancel key.Binding
}

func newForm(c *common.Common, title string) *Form {
	return &Form{common: c, title: title, keys: formKeys{
		Next:   common.Bind([]string{"tab", "down"}, "tab/↓", "next field"),
		Prev:   common.Bind([]string{"shift+tab", "up"}, "shift+tab/↑", "previous"),
		Change: common.Bind([]string{"left", "right", "space"}, "←→/space", "change choice"),
		Submit: common.Bind([]string{"enter"}, "enter", "show the plan"),
		Cancel: common.Bind([]string{"esc"}, "esc", "cancel"),
	}}
}

func (f *Form) text(id, label, value, placeholder string) *formField {
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

func (f *Form) choice(id, label string, options ...string) *formField {
	fl := &formField{id: id, label: label, kind: fieldChoice, options: options}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *Form) toggle(id, label, note string) *formField {
	fl := &formField{id: id, label: label, kind: fieldToggle, note: note}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *Form) noteField(id, label, text string) *formField {
	fl := &formField{id: id, label: label, kind: fieldNote, note: text}
	f.fields = append(f.fields, fl)
	return fl
}

func (f *Form) field(id string) *formField {
	for _, fl := range f.fields {
		if fl.id == id {
			return fl
		}
	}
	return nil
}

func (f *Form) value(id string) string { return strings.TrimSpace(f.field(id).input.Value()) }

// open finishes the form (defaults, focus) and opens it.
func (f *Form) open(o *dialog.Opener) tea.Cmd {
	if f.onChange != nil {
		f.onChange(f)
	}
	f.cursor = -1
	f.move(1)
	o.Open(f)
	return nil
}

func (f *Form) focusable(i int) bool {
	fl := f.fields[i]
	return !fl.hidden && fl.kind != fieldNote
}

// move walks to the next focusable field in direction d, wrapping.
func (f *Form) move(d int) {
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

func (f *Form) SetSize(w, h int) {
	f.width, f.height = w, h
	for _, fl := range f.fields {
		fl.input.SetWidth(max(w-f.labelW()-6, 8))
	}
}

func (f *Form) labelW() int {
	w := 0
	for _, fl := range f.fields {
		w = max(w, common.TextWidth(fl.label))
	}
	return w
}

func (f *Form) Update(msg tea.Msg) tea.Cmd {
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

func (f *Form) ShortHelp() []key.Binding {
	bs := []key.Binding{f.keys.Submit, f.keys.Cancel, f.keys.Next}
	if f.cursor >= 0 && f.cursor < len(f.fields) && f.fields[f.cursor].kind == fieldChoice {
		bs = append(bs, f.keys.Change)
	}
	if f.cursor >= 0 && f.cursor < len(f.fields) && f.fields[f.cursor].kind == fieldToggle {
		bs = append(bs, common.Bind([]string{"space"}, "space", "toggle"))
	}
	return bs
}

func (f *Form) FullHelp() [][]key.Binding {
	return [][]key.Binding{{f.keys.Submit, f.keys.Cancel, f.keys.Next, f.keys.Prev, f.keys.Change}}
}

func (f *Form) View() string {
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

// Value is the text of field id, as typed.
func (f *Form) Value(id string) string { return f.field(id).input.Value() }

var _ dialog.Dialog = (*Form)(nil)
