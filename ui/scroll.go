package ui

import (
	"virtchain/ui/common"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// scroller is a cursor over n rows shown in a window of height rows. Views
// render only rows[offset:offset+height], which keeps a 1000-layer chain as
// cheap to draw as a 10-layer one.
type scroller struct {
	cursor, offset, n, height int
}

func (s *scroller) setCount(n int) {
	s.n = n
	s.fix()
}

func (s *scroller) setHeight(h int) {
	s.height = max(h, 1)
	s.fix()
}

func (s *scroller) moveTo(i int) {
	s.cursor = i
	s.fix()
}

func (s *scroller) move(d int) { s.moveTo(s.cursor + d) }

// scroll moves the window without moving the cursor off screen, as a
// mouse wheel does.
func (s *scroller) scroll(d int) {
	s.offset = common.Clamp(s.offset+d, 0, max(s.n-s.height, 0))
	s.cursor = common.Clamp(s.cursor, s.offset, s.offset+s.height-1)
	s.fix()
}

// wheel scrolls three rows per notch of the mouse wheel.
func (s *scroller) wheel(msg tea.MouseWheelMsg) {
	switch msg.Button {
	case tea.MouseWheelUp:
		s.scroll(-3)
	case tea.MouseWheelDown:
		s.scroll(3)
	}
}

func (s *scroller) fix() {
	if s.height <= 0 {
		s.height = 1
	}
	s.cursor = common.Clamp(s.cursor, 0, s.n-1)
	if s.cursor < s.offset {
		s.offset = s.cursor
	}
	if s.cursor >= s.offset+s.height {
		s.offset = s.cursor - s.height + 1
	}
	s.offset = common.Clamp(s.offset, 0, max(s.n-s.height, 0))
}

// visible is the half-open range of rows on screen.
func (s *scroller) visible() (from, to int) {
	return s.offset, min(s.offset+s.height, s.n)
}

// navigate applies the shared movement keys; it reports whether msg was one.
func (s *scroller) navigate(km *common.KeyMap, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, km.Up):
		s.move(-1)
	case key.Matches(msg, km.Down):
		s.move(1)
	case key.Matches(msg, km.PageUp):
		s.move(-max(s.height-1, 1))
	case key.Matches(msg, km.PageDown):
		s.move(max(s.height-1, 1))
	case key.Matches(msg, km.Home):
		s.moveTo(0)
	case key.Matches(msg, km.End):
		s.moveTo(s.n - 1)
	default:
		return false
	}
	return true
}
