package main

import (
	"strings"
	"testing"
)

// TestParseKeepsStateAndReverse: SGR state carries over line ends as tmux
// writes it, reverse swaps the colours, and 256 and true colours parse.
func TestParseKeepsStateAndReverse(t *testing.T) {
	in := "a\x1b[7mb\x1b[32m●\n" + "c\x1b[0m d\x1b[38;5;196me\x1b[48;2;1;2;3mf\n"
	g, err := parse(strings.NewReader(in), 6, 2)
	if err != nil {
		t.Fatal(err)
	}
	if g[0][0].a != plain || !g[0][1].a.reverse || g[0][2].a.fg != 2 || g[0][2].r != '●' {
		t.Errorf("row 0: %+v", g[0][:3])
	}
	if c := g[1][0]; !c.a.reverse || c.a.fg != 2 {
		t.Errorf("state did not carry to the next line: %+v", c)
	}
	if g[1][2].a != plain || g[1][3].a.fg != 196 || g[1][4].a.bg != 1<<24|1<<16|2<<8|3 {
		t.Errorf("row 1: %+v", g[1][2:5])
	}
	fg, bg := g[0][2].a.colours()
	if fg != defaultBG || bg != ansi16[2] {
		t.Errorf("reverse green: fg %v bg %v", fg, bg)
	}
	// The rest of a line keeps the background in force.
	if g[1][5].a.bg != 1<<24|1<<16|2<<8|3 {
		t.Errorf("trailing cell: %+v", g[1][5])
	}
}
