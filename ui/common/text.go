package common

import (
	"strings"
	"sync"
	"unicode/utf8"

	"charm.land/lipgloss/v2"

	"virtchain/model"
)

// Truncate shortens plain (unstyled) text to w cells, ending in an ellipsis
// when it had to cut. It is where host data (names, paths, libvirt's text)
// becomes screen text, so it escapes control characters (model.Escape): a
// name cannot drive the terminal. truncateLeft and wrapText do the same.
func Truncate(s string, w int) string {
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

// TruncateLeft keeps the end of plain text (the useful part of a path).
func TruncateLeft(s string, w int) string {
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

// TruncateMiddle shortens s to w cells by cutting its middle, so names
// that share a long prefix (prod-db-replica-a, prod-db-replica-b) stay
// apart.
func TruncateMiddle(s string, w int) string {
	if lipgloss.Width(s) <= w || w < 5 {
		return Truncate(s, w)
	}
	tail := (w - 1) / 2
	head := w - 1 - tail
	return strings.TrimSuffix(Truncate(s, head+1), "…") + "…" + strings.TrimPrefix(TruncateLeft(s, tail+1), "…")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TextWidth is the display width of plain text.
func TextWidth(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return CellWidth(s)
}

// CellWidth is the display width of styled text. The UI's own glyphs (box
// drawing, blocks, arrows, Latin text) take a table lookup; anything else
// goes to lipgloss's grapheme-aware measure, which is exact but slow.
func CellWidth(s string) int {
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

// PadRight pads plain text with spaces to w cells (truncating if longer).
func PadRight(s string, w int) string {
	s = Truncate(s, w)
	if n := w - TextWidth(s); n > 0 {
		return s + Spaces(n)
	}
	return s
}

// PadLeft right-aligns plain text in w cells.
func PadLeft(s string, w int) string {
	s = Truncate(s, w)
	if n := w - TextWidth(s); n > 0 {
		return Spaces(n) + s
	}
	return s
}

const spaceRun = "                                                                                                                                "

func Spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(spaceRun) {
		return spaceRun[:n]
	}
	return strings.Repeat(" ", n)
}

// FitLine makes a styled line exactly w cells wide. Components build lines
// whose width they know; the slow ANSI-aware cut is only a safety net.
func FitLine(s string, w int) string {
	lw := CellWidth(s)
	switch {
	case lw == w:
		return s
	case lw < w:
		return s + Spaces(w-lw)
	default:
		return lipgloss.NewStyle().MaxWidth(w).Render(s)
	}
}

// Block joins lines into exactly h lines of w cells.
func Block(lines []string, w, h int) string {
	var b strings.Builder
	for i := 0; i < h; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(lines) {
			b.WriteString(FitLine(lines[i], w))
		} else {
			b.WriteString(Spaces(w))
		}
	}
	return b.String()
}

// BarCells renders the filled and empty parts of a w-cell bar for frac in
// [0,1], using eighth blocks so small allocations still show.
func BarCells(frac float64, w int) (full, empty string) {
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

// Clamp keeps v within [lo, hi]; hi < lo yields lo.
func Clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// WrapText breaks plain text into lines of at most w cells at spaces,
// cutting words (long paths) that do not fit a line of their own.
func WrapText(s string, w int) []string {
	w = max(w, 4)
	var lines []string
	var cur []rune
	curW := 0
	flush := func() {
		lines = append(lines, string(cur))
		cur, curW = cur[:0:0], 0
	}
	// Line breaks and tabs are spaces here (libvirt's messages have some);
	// any other control character is escaped, as in truncate.
	for _, word := range strings.Fields(s) {
		word = model.Escape(word)
		ww := TextWidth(word)
		if curW > 0 && curW+1+ww > w {
			flush()
		}
		if curW > 0 {
			cur = append(cur, ' ')
			curW++
		}
		for _, r := range word {
			rw := TextWidth(string(r))
			if curW+rw > w {
				flush()
			}
			cur = append(cur, r)
			curW += rw
		}
	}
	if curW > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}

// Hanging is a bulleted item wrapped with its continuation lines indented
// under the text.
func Hanging(bullet, text string, w int, style Style) []string {
	pad := TextWidth(bullet) + 3
	ls := WrapText(text, w-pad)
	for i, l := range ls {
		if i == 0 {
			ls[i] = "  " + bullet + " " + style.Render(l)
		} else {
			ls[i] = Spaces(pad) + style.Render(l)
		}
	}
	return ls
}

func Indent(ls []string, style Style) []string {
	for i, l := range ls {
		ls[i] = style.Render(l)
	}
	return ls
}

// BandwidthSteps are the block-job limits offered, in MiB/s (0 is none):
// the chain view's marks and the jobs panel step through them with + and
// -, which beats typing a number mid-incident.
var BandwidthSteps = []int64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
