package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"virtchain/model"
)

// progressPrinter draws one bar line per job on a terminal, at most 10
// times a second, and plain "DOMAIN DISK KIND NN%" lines when piped, one
// per whole percent or phase change.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	quiet    bool
	last     map[string]string
	order    []string
	jobs     map[string]model.Job
	drawn    int
	lastDraw time.Time
	dirty    bool // an update came in too soon after a draw
	// width reports the terminal's columns: a line that wraps would break
	// the cursor-up redraw into a stream of new lines.
	width func() int
}

func newProgressPrinter(w io.Writer, tty, quiet bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty, quiet: quiet, last: map[string]string{}, jobs: map[string]model.Job{},
		width: func() int { return terminalWidth(w) }}
}

func (p *progressPrinter) update(j model.Job) {
	if p.quiet {
		return
	}
	k := j.Key()
	if _, ok := p.jobs[k]; !ok {
		p.order = append(p.order, k)
	}
	prev, seen := p.jobs[k]
	p.jobs[k] = j
	if !p.tty {
		line := fmt.Sprintf("%s %s %s %d%% %s", escapeArgs([]any{j.Domain, j.Disk, j.Kind, int(j.Fraction() * 100), j.Phase})...)
		if j.Error != "" {
			line += ": " + model.Escape(j.Error)
		}
		// A new error (a full filesystem) is news even at the same percent.
		if p.last[k] != line {
			p.last[k] = line
			fmt.Fprintln(p.w, line)
		}
		return
	}
	phaseChange := !seen || prev.Phase != j.Phase
	if !phaseChange && time.Since(p.lastDraw) < 100*time.Millisecond {
		p.dirty = true
		return
	}
	p.draw()
}

func (p *progressPrinter) draw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	cols := p.width()
	for _, k := range p.order {
		b.WriteString("\r\x1b[2K")
		b.WriteString(fitProgressLine(p.jobs[k], cols))
		b.WriteString("\n")
	}
	p.drawn = len(p.order)
	p.lastDraw = time.Now()
	p.dirty = false
	_, _ = io.WriteString(p.w, b.String())
}

func (p *progressPrinter) finish() {
	if p.tty && !p.quiet && p.dirty {
		p.draw()
	}
}

// fitProgressLine is progressLine within cols-1 cells (the last column
// would wrap on some terminals): the bar shrinks first, then the tail goes.
func fitProgressLine(j model.Job, cols int) string {
	if cols <= 0 {
		cols = 80
	}
	line := progressLine(j, 30)
	for bar := 30; bar > 10 && utf8.RuneCountInString(line) > cols-1; bar -= 2 {
		line = progressLine(j, bar-2)
	}
	if r := []rune(line); len(r) > cols-1 {
		line = string(r[:max(cols-1, 0)])
	}
	return line
}

// progressLine is "vm vda commit [#####-----]  45%  12 MiB/26 MiB  5 MiB/s  ETA 3s  running".
func progressLine(j model.Job, width int) string {
	f := j.Fraction()
	n := int(f * float64(width))
	bar := strings.Repeat("#", n) + strings.Repeat("-", width-n)
	s := fmt.Sprintf("%s %s %s [%s] %3d%%  %s/%s", model.Escape(j.Domain), model.Escape(j.Disk), j.Kind, bar, int(f*100), model.FormatBytes(j.Cur), model.FormatBytes(j.End))
	if r := j.Rate(); r > 0 {
		s += "  " + model.FormatBytes(int64(r)) + "/s"
	}
	if eta, ok := j.ETA(); ok {
		s += "  ETA " + eta.Round(time.Second).String()
	}
	s += "  " + string(j.Phase)
	if j.Error != "" {
		s += ": " + model.Escape(j.Error)
	}
	return s
}
