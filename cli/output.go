package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"virtchain/model"
)

// PrintJSON writes v as indented JSON with a trailing newline. HTML is not
// escaped: paths and names print as they are.
func (e *Env) PrintJSON(v any) error { return writeJSON(e.Stdout, v) }

func writeJSON(w io.Writer, v any) error {
	b, err := compactJSON(v)
	if err != nil {
		return err
	}
	// encoding/json's own indenting re-scans every byte through its
	// validating state machine: for a large host's list it cost more than
	// the encoding. The encoder's output is valid, so indentJSON only
	// follows strings and punctuation, and writes the same bytes.
	out := append(indentJSON(make([]byte, 0, len(b)*2+1), b, 0), '\n')
	_, err = w.Write(escapeC1(out))
	return err
}

// compactJSON is encoding/json's output for v, without HTML escapes and
// without the Encoder's newline.
func compactJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// escapeC1 gives DEL and C1 (U+0080-U+009F), which encoding/json writes
// raw, as \u escapes: that keeps the names exact and the terminal
// undisturbed. They can only occur inside strings, so a plain replacement
// is safe, and it is needed only where a DEL or a C1 lead byte (0xc2)
// occurs.
func escapeC1(out []byte) []byte {
	if bytes.IndexByte(out, 0x7f) < 0 && bytes.IndexByte(out, 0xc2) < 0 {
		return out
	}
	return []byte(jsonControls.Replace(string(out)))
}

// indentJSON appends src, valid compact JSON, indented as json.Indent(dst,
// src, "", "  ") would: two spaces a level, "{}" and "[]" kept empty.
// depth is the level src starts at, for a value inside a larger document.
func indentJSON(dst, src []byte, depth int) []byte {
	needIndent := false
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, ' ', ' ')
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			newline()
		}
		switch c {
		case '"':
			end := stringEnd(src, i)
			dst = append(dst, src[i:end]...)
			i = end - 1
		case '{', '[':
			needIndent = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				newline()
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// stringEnd returns the index just past the JSON string that starts at
// src[i] (a '"').
func stringEnd(src []byte, i int) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(src)
}

var jsonControls = func() *strings.Replacer {
	var pairs []string
	for r := rune(0x7f); r <= 0x9f; r++ {
		pairs = append(pairs, string(r), fmt.Sprintf(`\u%04x`, r))
	}
	return strings.NewReplacer(pairs...)
}()

// printf is fmt.Fprintf for text meant for a terminal. The format is
// virtchain's own; every string or error argument is data (a name, a path,
// libvirt's text) and is escaped (model.Escape), so a name can neither
// drive the terminal nor break a line. Text output goes through it, Row
// and writePlan; JSON does not.
func printf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, format, escapeArgs(a)...)
}

func escapeArgs(a []any) []any {
	out := make([]any, len(a))
	for i, v := range a {
		switch s := v.(type) {
		case string:
			out[i] = model.Escape(s)
		case error:
			out[i] = model.Escape(s.Error())
		default:
			out[i] = v
		}
	}
	return out
}

// Emit prints v as JSON with --json, else calls text to write the readable
// form to Stdout. Most commands end with it.
func (e *Env) Emit(v any, text func(w io.Writer) error) error {
	if e.JSON {
		return e.PrintJSON(v)
	}
	return text(e.Stdout)
}

// Table prints aligned columns. Create it with env.Table(headers...), add
// rows with Row, and call Flush once.
type Table struct {
	tw *tabwriter.Writer
}

// Table starts a table on Stdout with the given column headers (none for a
// table without a header line).
func (e *Env) Table(headers ...string) *Table { return newTable(e.Stdout, headers...) }

func newTable(w io.Writer, headers ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.Row(headers...)
	}
	return t
}

// Row adds one row. Control characters inside a cell are escaped
// (model.Escape), so a cell never breaks the columns or drives the terminal.
func (t *Table) Row(cells ...string) {
	clean := make([]string, len(cells))
	for i, c := range cells {
		clean[i] = model.Escape(c)
	}
	fmt.Fprintln(t.tw, strings.Join(clean, "\t"))
}

// Flush writes the table out.
func (t *Table) Flush() error { return t.tw.Flush() }

// yesNo renders a flag for tables.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDash shows "-" for an empty cell so columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PrintPlan prints what an operation will do: the plan as JSON with --json,
// else a readable list ending with the equivalent virsh commands. Mutating
// commands call it for --dry-run and before they act.
func (e *Env) PrintPlan(p model.Plan) error {
	if e.JSON {
		return e.PrintJSON(p)
	}
	return writePlan(e.Stdout, p)
}

func writePlan(w io.Writer, p model.Plan) error {
	var b strings.Builder
	head := p.Op + " on " + p.Domain
	if p.Target != "" {
		head += " " + p.Target
	}
	printf(&b, "Plan: %s\n", head)
	if p.Summary != "" {
		printf(&b, "  %s\n", p.Summary)
	}
	list := func(title string, items []string, numbered bool) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for i, it := range items {
			if numbered {
				printf(&b, "  %d. %s\n", i+1, it)
			} else {
				printf(&b, "  - %s\n", it)
			}
		}
	}
	list("Steps", p.Steps, true)
	list("Kept", p.Kept, false)
	list("Leaving the chain", p.LeavingChain, false)
	list("Files", p.FileLines(), false)
	if p.BytesToCopy > 0 {
		fmt.Fprintf(&b, "Data to copy: %s\n", model.FormatBytes(p.BytesToCopy))
	}
	list("Snapshot metadata that becomes stale", p.StaleSnapshots, false)
	list("Stale metadata to remove", p.StaleRemoved, false)
	list("Also used by", p.UsedBy, false)
	list("Space", p.SpaceLines(), false)
	list("Bitmaps and backups", p.BackupLines(), false)
	list("Warnings", p.Warnings, false)
	list("Equivalent commands", p.Virsh, false)
	_, err := io.WriteString(w, b.String())
	return err
}
