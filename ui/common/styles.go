package common

import (
	"image/color"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// Style is a lipgloss style whose escape codes are worked out once. Render
// then only concatenates, which keeps a frame well inside its 2 ms budget;
// lipgloss's own Render re-derives everything on every call.
type Style struct {
	lipgloss.Style
	pre, post string
	fast      bool
}

func newStyle(ls lipgloss.Style) Style {
	st := Style{Style: ls}
	const probe = "x"
	r := ls.Render(probe)
	if i := strings.Index(r, probe); i >= 0 && strings.Count(r, probe) == 1 {
		st.pre, st.post, st.fast = r[:i], r[i+len(probe):], true
	}
	return st
}

// Render styles single-line text.
func (s Style) Render(text string) string {
	if text == "" {
		return ""
	}
	if !s.fast || strings.IndexByte(text, '\n') >= 0 {
		return s.Style.Render(text)
	}
	return s.pre + text + s.post
}

// Styles is every style the UI draws with, built once by NewStyles so that
// View never builds a style and NO_COLOR is decided in one place.
type Styles struct {
	NoColor bool

	Plain      Style
	Header     Style
	HeaderURI  Style
	ReadOnly   Style
	Dim        Style
	Bold       Style
	Error      Style
	Warning    Style
	Selected   Style // the cursor row in the focused pane
	ColumnHead Style
	Separator  Style

	TabActive   Style
	TabInactive Style
	PaneTitle   Style

	// Domain states.
	Running Style
	Paused  Style
	Shutoff Style
	Crashed Style

	// Chain view.
	Tree       Style
	Index      Style
	BarFull    Style
	BarEmpty   Style
	Format     Style
	SnapTag    Style // the external snapshot that created a layer
	InternTag  Style // internal snapshots stored in a layer
	ActiveTag  Style
	BaseTag    Style
	DiskHeader Style

	// Snapshot view.
	Current Style

	Help  help.Styles
	Input textinput.Styles
}

// NewStyles builds the styles. With noColor every distinction that colour
// would carry is also carried by a glyph, bold, faint or reverse video, so
// the screen stays readable on a monochrome terminal.
func NewStyles(noColor bool) *Styles {
	c := func(ansi string) color.Color {
		if noColor {
			return lipgloss.NoColor{}
		}
		return lipgloss.Color(ansi)
	}
	// ANSI 16-colour indices follow the user's terminal theme, which keeps
	// the UI legible on dark and light backgrounds alike, and over SSH.
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
	dim := s().Foreground(grey)
	subtle := dim // decoration that may fade into the text without colour
	if noColor {
		dim = s().Faint(true)
		subtle = s()
	}
	n := newStyle
	st := &Styles{
		NoColor:     noColor,
		Plain:       n(s()),
		Header:      n(s().Bold(true)),
		HeaderURI:   n(s().Foreground(cyan)),
		ReadOnly:    n(s().Foreground(yellow).Bold(true)),
		Dim:         n(dim),
		Bold:        n(s().Bold(true)),
		Error:       n(s().Foreground(red).Bold(true)),
		Warning:     n(s().Foreground(yellow).Bold(true)),
		Selected:    n(s().Reverse(true)),
		ColumnHead:  n(dim.Bold(true)),
		Separator:   n(dim),
		TabActive:   n(s().Bold(true).Reverse(true).Padding(0, 1)),
		TabInactive: n(subtle.Padding(0, 1)),
		PaneTitle:   n(s().Bold(true)),
		Running:     n(s().Foreground(green)),
		Paused:      n(s().Foreground(yellow)),
		Shutoff:     n(subtle),
		Crashed:     n(s().Foreground(red).Bold(true)),
		Tree:        n(subtle),
		Index:       n(s().Foreground(magenta)),
		BarFull:     n(s().Foreground(blue)),
		BarEmpty:    n(dim),
		Format:      n(subtle),
		SnapTag:     n(s().Foreground(cyan)),
		InternTag:   n(s().Foreground(magenta)),
		ActiveTag:   n(s().Foreground(green).Bold(true)),
		BaseTag:     n(subtle),
		DiskHeader:  n(s().Bold(true)),
		Current:     n(s().Foreground(green).Bold(true)),
	}
	key := s().Bold(true)
	if !noColor {
		key = s().Foreground(cyan)
	}
	st.Help = help.Styles{
		Ellipsis:       dim,
		ShortKey:       key,
		ShortDesc:      dim,
		ShortSeparator: dim,
		FullKey:        key,
		FullDesc:       dim,
		FullSeparator:  dim,
	}
	state := textinput.StyleState{Text: s(), Placeholder: dim, Suggestion: dim, Prompt: s().Bold(true)}
	st.Input = textinput.Styles{
		Focused: state,
		Blurred: state,
		// No blink: a blinking cursor is a timer, and nothing should tick
		// while nothing happens.
		Cursor: textinput.CursorStyle{Color: c("7"), Shape: tea.CursorBlock, Blink: false},
	}
	return st
}
