package ui

import (
	"context"
	"strings"
	"sync"
	"unicode/utf8"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"virtchain/model"
)

// Common is what every component shares: the context backend calls run
// under, the backend itself (used only inside tea.Cmds), the styles and the
// keymap. Sizes are per component, set through SetSize.
type Common struct {
	Ctx     context.Context
	Backend Backend
	Styles  *Styles
	KeyMap  *KeyMap

	// dialog hands a dialog to open or close to the root within the
	// Update that decided it (dialog.go).
	dialog dialogSlot

	// steered holds the keys (model.JobKey) of block jobs this session
	// started, aborted or pivoted. Only their endings open a dialog: a job
	// someone else runs on the host only earns a footer line.
	steered map[string]bool

	// lost is set while the connection to the host is lost: keys that
	// need the host say so instead of starting anything (conn.go).
	lost bool

	// liveJob finds the running block job of a domain's disk, as the jobs
	// panel shows it; nil until the root wires the panel in.
	liveJob func(domain, disk string) (model.Job, bool)
}

// steer records that the user acted on the job of domain's disk here.
func (c *Common) steer(domain, disk string) {
	if c.steered == nil {
		c.steered = map[string]bool{}
	}
	c.steered[model.JobKey(domain, disk)] = true
}

// component is one part of the screen. Each renders exactly the size it was
// given, which lets the root join panes line by line without measuring.
type component interface {
	help.KeyMap
	SetSize(width, height int)
	Update(msg tea.Msg) tea.Cmd
	View() string
}

// truncate shortens plain (unstyled) text to w cells, ending in an ellipsis
// when it had to cut. It is where host data (names, paths, libvirt's text)
// becomes screen text, so it escapes control characters (model.Escape): a
// name cannot drive the terminal. truncateLeft and wrapText do the same.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = model.Escape(s)
	if isASCII(s) {
		if len(s) <= w {
			return s
		}
		if w == 1 {
			return "…"
		}
		return s[:w-1] + "…"
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		rw := lipgloss.Width(string(r))
		if used+rw > w-1 {
			break
		}
		b.WriteRune(r)
		used += rw
	}
	b.WriteString("…")
	return b.String()
}

// truncateLeft keeps the end of plain text (the useful part of a path).
func truncateLeft(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = model.Escape(s)
	if lipgloss.Width(s) <= w {
		return s
	}
	rs := []rune(s)
	used := 0
	i := len(rs)
	for i > 0 {
		rw := lipgloss.Width(string(rs[i-1]))
		if used+rw > w-1 {
			break
		}
		used += rw
		i--
	}
	return "…" + string(rs[i:])
}

// truncateMiddle shortens s to w cells by cutting its middle, so names
// that share a long prefix (prod-db-replica-a, prod-db-replica-b) stay
// apart.
func truncateMiddle(s string, w int) string {
	if lipgloss.Width(s) <= w || w < 5 {
		return truncate(s, w)
	}
	tail := (w - 1) / 2
	head := w - 1 - tail
	return strings.TrimSuffix(truncate(s, head+1), "…") + "…" + strings.TrimPrefix(truncateLeft(s, tail+1), "…")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// textWidth is the display width of plain text.
func textWidth(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return cellWidth(s)
}

// cellWidth is the display width of styled text. The UI's own glyphs (box
// drawing, blocks, arrows, Latin text) take a table lookup; anything else
// goes to lipgloss's grapheme-aware measure, which is exact but slow.
func cellWidth(s string) int {
	w := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0x1b { // skip a CSI sequence: ESC [ params final
			i++
			if i < len(s) && s[i] == '[' {
				i++
				for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
					i++
				}
			}
			i++
			continue
		}
		if c < 0x80 {
			if c >= 0x20 {
				w++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r >= 0xa0 && r < 0x300:
			w++
		case r >= glyphLo && r < glyphHi:
			w += glyphWidth(r)
		default:
			return lipgloss.Width(s)
		}
		i += size
	}
	return w
}

// Punctuation, arrows, box drawing, blocks, shapes and dingbats.
const glyphLo, glyphHi = 0x2000, 0x2800

var (
	glyphOnce   sync.Once
	glyphWidths [glyphHi - glyphLo]int8
)

func glyphWidth(r rune) int {
	glyphOnce.Do(func() {
		for g := rune(glyphLo); g < glyphHi; g++ {
			glyphWidths[g-glyphLo] = int8(lipgloss.Width(string(g)))
		}
	})
	return int(glyphWidths[r-glyphLo])
}

// padRight pads plain text with spaces to w cells (truncating if longer).
func padRight(s string, w int) string {
	s = truncate(s, w)
	if n := w - textWidth(s); n > 0 {
		return s + spaces(n)
	}
	return s
}

// padLeft right-aligns plain text in w cells.
func padLeft(s string, w int) string {
	s = truncate(s, w)
	if n := w - textWidth(s); n > 0 {
		return spaces(n) + s
	}
	return s
}

const spaceRun = "                                                                                                                                "

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(spaceRun) {
		return spaceRun[:n]
	}
	return strings.Repeat(" ", n)
}

// fitLine makes a styled line exactly w cells wide. Components build lines
// whose width they know; the slow ANSI-aware cut is only a safety net.
func fitLine(s string, w int) string {
	lw := cellWidth(s)
	switch {
	case lw == w:
		return s
	case lw < w:
		return s + spaces(w-lw)
	default:
		return lipgloss.NewStyle().MaxWidth(w).Render(s)
	}
}

// block joins lines into exactly h lines of w cells.
func block(lines []string, w, h int) string {
	var b strings.Builder
	for i := 0; i < h; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(lines) {
			b.WriteString(fitLine(lines[i], w))
		} else {
			b.WriteString(spaces(w))
		}
	}
	return b.String()
}

// barCells renders the filled and empty parts of a w-cell bar for frac in
// [0,1], using eighth blocks so small allocations still show.
func barCells(frac float64, w int) (full, empty string) {
	if w <= 0 {
		return "", ""
	}
	if frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	eighths := int(frac*float64(w*8) + 0.5)
	if eighths == 0 && frac > 0 {
		eighths = 1 // anything allocated is visible
	}
	whole := eighths / 8
	rem := eighths % 8
	var b strings.Builder
	for i := 0; i < whole; i++ {
		b.WriteString("█")
	}
	cells := whole
	if rem > 0 {
		b.WriteString(partialBlocks[rem])
		cells++
	}
	return b.String(), strings.Repeat("·", w-cells)
}

var partialBlocks = [8]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// clamp keeps v within [lo, hi]; hi < lo yields lo.
func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}
