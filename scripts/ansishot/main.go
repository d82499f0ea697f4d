// Command ansishot renders a terminal screen captured with
// `tmux capture-pane -e -p` (text with SGR colour codes) into a PNG, cell
// by cell, with the DejaVu fonts Debian's fonts-dejavu-core installs:
// `make screenshots` turns the TUI's real output into the README's images.
// It draws reverse video and background colours, which the selection and
// the active tab need.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

const fontDir = "/usr/share/fonts/truetype/dejavu/"

func main() {
	out := flag.String("o", "", "PNG file to write")
	cols := flag.Int("cols", 80, "terminal width in cells")
	rows := flag.Int("rows", 24, "terminal height in cells")
	size := flag.Float64("size", 16, "font size in pixels")
	flag.Parse()
	if *out == "" || flag.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: ansishot -o OUT.png [-cols 80 -rows 24] [CAPTURE.ansi] (stdin without it)")
		os.Exit(2)
	}
	in := io.Reader(os.Stdin)
	if flag.NArg() == 1 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in = f
	}
	g, err := parse(in, *cols, *rows)
	if err != nil {
		fail(err)
	}
	fs, err := loadFonts(*size)
	if err != nil {
		fail(err)
	}
	f, err := os.Create(*out)
	if err != nil {
		fail(err)
	}
	if err := png.Encode(f, fs.render(g)); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ansishot:", err)
	os.Exit(1)
}

// attr is a cell's look. Colours are palette indexes (0-255), -1 for the
// default, or 1<<24|RGB for true colour.
type attr struct {
	fg, bg                   int
	bold, dim, italic, under bool
	reverse                  bool
}

var plain = attr{fg: -1, bg: -1}

type cell struct {
	r rune
	a attr
}

type grid [][]cell

// parse reads the capture into a cols x rows grid; SGR state carries
// over line ends, as tmux writes it.
func parse(in io.Reader, cols, rows int) (grid, error) {
	g := make(grid, rows)
	for i := range g {
		g[i] = make([]cell, cols)
		for j := range g[i] {
			g[i][j] = cell{' ', plain}
		}
	}
	a := plain
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for y := 0; sc.Scan() && y < rows; y++ {
		x := 0
		rs := []rune(sc.Text())
		for i := 0; i < len(rs); i++ {
			if rs[i] == 0x1b && i+1 < len(rs) && rs[i+1] == '[' {
				j := i + 2
				for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';' || rs[j] == ':') {
					j++
				}
				if j < len(rs) && rs[j] == 'm' {
					a = sgr(a, string(rs[i+2:j]))
				}
				i = j
				continue
			}
			if x < cols {
				g[y][x] = cell{rs[i], a}
			}
			x++
		}
		// The rest of a line keeps the background in force (tmux trims
		// trailing blanks).
		for ; x < cols; x++ {
			g[y][x] = cell{' ', attr{fg: a.fg, bg: a.bg, reverse: a.reverse}}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

// sgr applies one Select Graphic Rendition sequence's parameters.
func sgr(a attr, params string) attr {
	if params == "" {
		return plain
	}
	ps := strings.FieldsFunc(params, func(r rune) bool { return r == ';' || r == ':' })
	n := make([]int, len(ps))
	for i, p := range ps {
		n[i], _ = strconv.Atoi(p)
	}
	for i := 0; i < len(n); i++ {
		p := n[i]
		switch {
		case p == 38 || p == 48:
			var c int
			c, i = extColour(n, i)
			if p == 38 {
				a.fg = c
			} else {
				a.bg = c
			}
		case p >= 30 && p <= 49 || p >= 90 && p <= 107:
			a = basicColour(a, p)
		default:
			a = setFlag(a, p)
		}
	}
	return a
}

// flags set or clear one attribute each (0 resets them all).
var flags = map[int]func(*attr){
	0:  func(a *attr) { *a = plain },
	1:  func(a *attr) { a.bold = true },
	2:  func(a *attr) { a.dim = true },
	3:  func(a *attr) { a.italic = true },
	4:  func(a *attr) { a.under = true },
	7:  func(a *attr) { a.reverse = true },
	22: func(a *attr) { a.bold, a.dim = false, false },
	23: func(a *attr) { a.italic = false },
	24: func(a *attr) { a.under = false },
	27: func(a *attr) { a.reverse = false },
}

func setFlag(a attr, p int) attr {
	if f, ok := flags[p]; ok {
		f(&a)
	}
	return a
}

// basicColour applies 30-37, 39, 40-47, 49, 90-97 and 100-107.
func basicColour(a attr, p int) attr {
	switch {
	case p >= 30 && p <= 37:
		a.fg = p - 30
	case p == 39:
		a.fg = -1
	case p >= 40 && p <= 47:
		a.bg = p - 40
	case p == 49:
		a.bg = -1
	case p >= 90 && p <= 97:
		a.fg = p - 90 + 8
	case p >= 100:
		a.bg = p - 100 + 8
	}
	return a
}

// extColour reads 38;5;N / 38;2;R;G;B (48 likewise) at n[i] and returns
// the colour and the index of its last parameter.
func extColour(n []int, i int) (int, int) {
	switch {
	case i+2 < len(n) && n[i+1] == 5:
		return n[i+2], i + 2
	case i+4 < len(n) && n[i+1] == 2:
		return 1<<24 | n[i+2]<<16 | n[i+3]<<8 | n[i+4], i + 4
	}
	return -1, len(n)
}

// Colours: a dark theme with the xterm-like 16 colours.
var (
	defaultFG = color.RGBA{0xd4, 0xd4, 0xd4, 0xff}
	defaultBG = color.RGBA{0x1c, 0x1c, 0x1e, 0xff}
	ansi16    = [16]color.RGBA{
		{0x2e, 0x34, 0x36, 0xff}, {0xe0, 0x55, 0x55, 0xff}, {0x5f, 0xc8, 0x6a, 0xff}, {0xe0, 0xc0, 0x4c, 0xff},
		{0x5c, 0x9c, 0xf5, 0xff}, {0xc6, 0x78, 0xdd, 0xff}, {0x4c, 0xc9, 0xd0, 0xff}, {0xd4, 0xd4, 0xd4, 0xff},
		{0x80, 0x80, 0x88, 0xff}, {0xff, 0x6e, 0x6e, 0xff}, {0x7e, 0xe0, 0x87, 0xff}, {0xf5, 0xd8, 0x6a, 0xff},
		{0x7a, 0xb4, 0xff, 0xff}, {0xdd, 0x92, 0xf2, 0xff}, {0x6e, 0xe0, 0xe6, 0xff}, {0xff, 0xff, 0xff, 0xff},
	}
)

func rgb(c int, def color.RGBA) color.RGBA {
	switch {
	case c < 0:
		return def
	case c < 16:
		return ansi16[c]
	case c < 232:
		c -= 16
		lv := func(v int) uint8 {
			if v == 0 {
				return 0
			}
			return uint8(55 + v*40)
		}
		return color.RGBA{lv(c / 36), lv(c / 6 % 6), lv(c % 6), 0xff}
	case c < 256:
		v := uint8(8 + (c-232)*10)
		return color.RGBA{v, v, v, 0xff}
	default:
		return color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 0xff}
	}
}

func blend(a, b color.RGBA, t float64) color.RGBA {
	m := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t) }
	return color.RGBA{m(a.R, b.R), m(a.G, b.G), m(a.B, b.B), 0xff}
}

// colours gives a cell's foreground and background.
func (a attr) colours() (fg, bg color.RGBA) {
	fg, bg = rgb(a.fg, defaultFG), rgb(a.bg, defaultBG)
	if a.reverse {
		fg, bg = bg, fg
	}
	if a.dim {
		fg = blend(fg, bg, 0.4)
	}
	return fg, bg
}

// fonts are the faces a cell is drawn with: DejaVu Sans Mono (bold for
// bold cells), and DejaVu Sans for the few symbols the mono face lacks.
type fonts struct {
	regular, bold, fallback font.Face
	mono, sans              *sfnt.Font
	cellW, cellH, ascent    int
}

func loadFonts(size float64) (*fonts, error) {
	load := func(name string) (*sfnt.Font, font.Face, error) {
		b, err := os.ReadFile(fontDir + name)
		if err != nil {
			return nil, nil, errors.New("font " + fontDir + name + " is missing: run `bash scripts/setup.sh` (Debian package fonts-dejavu-core)")
		}
		f, err := opentype.Parse(b)
		if err != nil {
			return nil, nil, fmt.Errorf("font %s: %w", name, err)
		}
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		return f, face, err
	}
	var fs fonts
	var err error
	if fs.mono, fs.regular, err = load("DejaVuSansMono.ttf"); err != nil {
		return nil, err
	}
	if _, fs.bold, err = load("DejaVuSansMono-Bold.ttf"); err != nil {
		return nil, err
	}
	if fs.sans, fs.fallback, err = load("DejaVuSans.ttf"); err != nil {
		return nil, err
	}
	adv, _ := fs.regular.GlyphAdvance('M')
	m := fs.regular.Metrics()
	fs.cellW = adv.Ceil()
	fs.cellH = (m.Ascent + m.Descent).Ceil()
	fs.ascent = m.Ascent.Ceil()
	return &fs, nil
}

func has(f *sfnt.Font, r rune) bool {
	var buf sfnt.Buffer
	i, err := f.GlyphIndex(&buf, r)
	return err == nil && i != 0
}

const pad = 14

func (fs *fonts) render(g grid) *image.RGBA {
	rows, cols := len(g), len(g[0])
	img := image.NewRGBA(image.Rect(0, 0, cols*fs.cellW+2*pad, rows*fs.cellH+2*pad))
	draw.Draw(img, img.Bounds(), image.NewUniform(defaultBG), image.Point{}, draw.Src)
	for y, row := range g {
		for x, c := range row {
			fg, bg := c.a.colours()
			x0, y0 := pad+x*fs.cellW, pad+y*fs.cellH
			r := image.Rect(x0, y0, x0+fs.cellW, y0+fs.cellH)
			draw.Draw(img, r, image.NewUniform(bg), image.Point{}, draw.Src)
			if c.r == ' ' {
				continue
			}
			face := fs.regular
			if c.a.bold {
				face = fs.bold
			}
			dx := 0
			if !has(fs.mono, c.r) && has(fs.sans, c.r) {
				face = fs.fallback
				if adv, ok := face.GlyphAdvance(c.r); ok {
					dx = (fs.cellW - adv.Round()) / 2
				}
			}
			d := font.Drawer{Dst: img, Src: image.NewUniform(fg), Face: face,
				Dot: fixed.P(x0+dx, y0+fs.ascent)}
			d.DrawString(string(c.r))
			if c.a.under {
				draw.Draw(img, image.Rect(x0, y0+fs.cellH-2, x0+fs.cellW, y0+fs.cellH-1), image.NewUniform(fg), image.Point{}, draw.Src)
			}
		}
	}
	return img
}
