package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// Styles is every style the UI draws with, built once by NewStyles so that
// View never allocates a style and NO_COLOR is decided in one place.
type Styles struct {
	NoColor bool

	Header      lipgloss.Style
	HeaderURI   lipgloss.Style
	ReadOnly    lipgloss.Style
	Dim         lipgloss.Style
	Bold        lipgloss.Style
	Error       lipgloss.Style
	Warning     lipgloss.Style
	Selected    lipgloss.Style // the cursor row in the focused pane
	SelectedDim lipgloss.Style // the cursor row in an unfocused pane
	ColumnHead  lipgloss.Style
	Separator   lipgloss.Style

	TabActive   lipgloss.Style
	TabInactive lipgloss.Style
	PaneTitle   lipgloss.Style

	// Domain states.
	Running lipgloss.Style
	Paused  lipgloss.Style
	Shutoff lipgloss.Style
	Crashed lipgloss.Style

	// Chain view.
	Tree       lipgloss.Style
	Index      lipgloss.Style
	BarFull    lipgloss.Style
	BarEmpty   lipgloss.Style
	Format     lipgloss.Style
	SnapTag    lipgloss.Style // external snapshot that created a layer
	InternTag  lipgloss.Style // internal snapshots stored in a layer
	ActiveTag  lipgloss.Style
	BaseTag    lipgloss.Style
	DiskHeader lipgloss.Style

	// Snapshot view.
	Current lipgloss.Style

	Help  help.Styles
	Input textinput.Styles
}

// NewStyles builds the styles. With noColor every distinction that colour
// would carry is also carried by a glyph, bold or reverse video, so the
// screen stays readable on a monochrome terminal.
func NewStyles(noColor bool) *Styles {
	c := func(ansi string) color.Color {
		if noColor {
			return lipgloss.NoColor{}
		}
		return lipgloss.Color(ansi)
	}
	// ANSI 16-colour indices follow the user's terminal theme, which keeps
	// the UI legible on both dark and light backgrounds and over SSH.
	var (
		red     = c("1")
		green   = c("2")
		yellow  = c("3")
		blue    = c("4")
		magenta = c("5")
		cyan    = c("6")
		grey    = c("8")
	)
	s := lipgloss.NewStyle
	st := &Styles{
		NoColor:     noColor,
		Header:      s().Bold(true),
		HeaderURI:   s().Foreground(cyan),
		ReadOnly:    s().Foreground(yellow).Bold(true),
		Dim:         s().Foreground(grey),
		Bold:        s().Bold(true),
		Error:       s().Foreground(red).Bold(true),
		Warning:     s().Foreground(yellow).Bold(true),
		Selected:    s().Reverse(true),
		SelectedDim: s().Underline(true),
		ColumnHead:  s().Foreground(grey).Bold(true),
		Separator:   s().Foreground(grey),
		TabActive:   s().Bold(true).Reverse(true).Padding(0, 1),
		TabInactive: s().Foreground(grey).Padding(0, 1),
		PaneTitle:   s().Bold(true),
		Running:     s().Foreground(green),
		Paused:      s().Foreground(yellow),
		Shutoff:     s().Foreground(grey),
		Crashed:     s().Foreground(red).Bold(true),
		Tree:        s().Foreground(grey),
		Index:       s().Foreground(magenta),
		BarFull:     s().Foreground(blue),
		BarEmpty:    s().Foreground(grey),
		Format:      s().Foreground(grey),
		SnapTag:     s().Foreground(cyan),
		InternTag:   s().Foreground(magenta),
		ActiveTag:   s().Foreground(green).Bold(true),
		BaseTag:     s().Foreground(grey),
		DiskHeader:  s().Bold(true),
		Current:     s().Foreground(green).Bold(true),
	}
	if noColor {
		// Without colour the dim grey would vanish into plain text; keep
		// hierarchy with faint and bold, which monochrome terminals show.
		st.Dim = s().Faint(true)
		st.TabInactive = s().Padding(0, 1)
		st.Shutoff = s()
		st.Tree = s()
		st.BarFull = s()
		st.BarEmpty = s().Faint(true)
		st.Format = s()
	}
	key := s().Bold(true)
	desc := st.Dim
	if !noColor {
		key = s().Foreground(cyan)
	}
	st.Help = help.Styles{
		Ellipsis:       st.Dim,
		ShortKey:       key,
		ShortDesc:      desc,
		ShortSeparator: st.Dim,
		FullKey:        key,
		FullDesc:       desc,
		FullSeparator:  st.Dim,
	}
	plain := s()
	state := textinput.StyleState{Text: plain, Placeholder: st.Dim, Suggestion: st.Dim, Prompt: st.Bold}
	st.Input = textinput.Styles{
		Focused: state,
		Blurred: state,
		// No blink: a blinking cursor is a timer, and nothing should tick
		// while nothing happens.
		Cursor: textinput.CursorStyle{Color: c("7"), Shape: tea.CursorBlock, Blink: false},
	}
	return st
}
