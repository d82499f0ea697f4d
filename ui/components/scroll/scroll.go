// Package scroll is the cursor and window of a list that draws only its
// Visible rows, shared by the domain list, the chain view and the
// snapshot tree.
package scroll

import (
	"virtchain/ui/common"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Scroller is a cursor over n rows shown in a window of height rows. Views
// render only rows[Offset:Offset+height], which keeps a 1000-layer chain as
// cheap to draw as a 10-layer one. Cursor and Offset are read freely; they
// change through the methods, which keep them in range.
type Scroller struct {
	Cursor, Offset int
	n, height      int
}

// SetCount sets the number of rows.
func (s *Scroller) SetCount(n int) {
	s.n = n
	s.fix()
}

// SetHeight sets the window's height in rows.
func (s *Scroller) SetHeight(h int) {
	s.height = max(h, 1)
	s.fix()
}

// MoveTo puts the cursor on row i.
func (s *Scroller) MoveTo(i int) {
	s.Cursor = i
	s.fix()
}

// Move moves the cursor d rows.
func (s *Scroller) Move(d int) { s.MoveTo(s.Cursor + d) }

// Scroll moves the window without moving the cursor off screen, as a
// mouse wheel does.
func (s *Scroller) Scroll(d int) {
	s.Offset = common.Clamp(s.Offset+d, 0, max(s.n-s.height, 0))
	s.Cursor = common.Clamp(s.Cursor, s.Offset, s.Offset+s.height-1)
	s.fix()
}

// Wheel scrolls three rows per notch of the mouse wheel.
func (s *Scroller) Wheel(msg tea.MouseWheelMsg) {
	switch msg.Button {
	case tea.MouseWheelUp:
		s.Scroll(-3)
	case tea.MouseWheelDown:
		s.Scroll(3)
	}
}

func (s *Scroller) fix() {
	if s.height <= 0 {
		s.height = 1
	}
	s.Cursor = common.Clamp(s.Cursor, 0, s.n-1)
	if s.Cursor < s.Offset {
		s.Offset = s.Cursor
	}
	if s.Cursor >= s.Offset+s.height {
		s.Offset = s.Cursor - s.height + 1
	}
	s.Offset = common.Clamp(s.Offset, 0, max(s.n-s.height, 0))
}

// Visible is the half-open range of rows on screen.
func (s *Scroller) Visible() (from, to int) {
	return s.Offset, min(s.Offset+s.height, s.n)
}

// Navigate applies the shared movement keys; it reports whether msg was one.
func (s *Scroller) Navigate(km *common.KeyMap, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, km.Up):
		s.Move(-1)
	case key.Matches(msg, km.Down):
		s.Move(1)
	case key.Matches(msg, km.PageUp):
		s.Move(-max(s.height-1, 1))
	case key.Matches(msg, km.PageDown):
		s.Move(max(s.height-1, 1))
	case key.Matches(msg, km.Home):
		s.MoveTo(0)
	case key.Matches(msg, km.End):
		s.MoveTo(s.n - 1)
	default:
		return false
	}
	return true
}

// Len is the number of rows.
func (s *Scroller) Len() int { return s.n }
