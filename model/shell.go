package model

import (
	"fmt"
	"strings"
)

// ShellQuote quotes s for a POSIX shell when it needs it, so printed
// commands can be pasted as they are.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r))
	}) < 0 {
		return s
	}
	if at, _ := controlAt(s, ""); at >= 0 {
		return ansiCQuote(s)
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ansiCQuote is bash's $'...' form, for a word holding control characters:
// the command stays exact when pasted, and printing it cannot drive the
// terminal. Each byte of a control character is written as \xHH.
func ansiCQuote(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for len(s) > 0 {
		at, size := controlAt(s, "")
		if at < 0 {
			at, size = len(s), 0
		}
		b.WriteString(strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s[:at]))
		for i := at; i < at+size; i++ {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		}
		s = s[at+size:]
	}
	b.WriteString("'")
	return b.String()
}

// ShellJoin quotes and joins an argument vector for display.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}
