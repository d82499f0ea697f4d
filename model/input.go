package model

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Names and paths come from the user (arguments, flags, form fields) and
// from the host (domain and snapshot names, backing-file names inside qcow2
// headers). A control character in one can create a file nobody can type,
// and printed raw it can drive the terminal. So input with one is refused
// (CheckInput), and output shows it escaped (Escape).

// controlAt returns the byte offset and length of the first control
// character in s: C0 (U+0000-U+001F), DEL, C1 (U+0080-U+009F), or a byte
// that is not valid UTF-8. keep lists C0 characters allowed through.
func controlAt(s, keep string) (at, size int) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < 0x80 {
			if strings.IndexByte(keep, c) >= 0 {
				i++
				continue
			}
			return i, 1
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r <= 0x9f {
			return i, n
		}
		i += n
	}
	return -1, 0
}

// escapeOne spells one control character the way Go source would: \n, \t,
// \x1b, \u009b, and \xff for a byte that is not UTF-8.
func escapeOne(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return fmt.Sprintf(`\x%02x`, s[0])
	}
	return strings.Trim(strconv.QuoteRune(r), "'")
}

// Escape makes s safe to print on a terminal: every control character (C0
// including newline and tab, DEL, C1) and every byte that is not UTF-8 is
// replaced by its Go escape, so "a\x1b[31m" prints as a\x1b[31m. Other text,
// backslashes included, is unchanged. JSON output does not use it: JSON keeps
// names exact.
func Escape(s string) string { return escape(s, "") }

// EscapeText is Escape for multi-line text (descriptions): newlines and tabs
// stay, every other control character is escaped.
func EscapeText(s string) string { return escape(s, "\n\t") }

func escape(s, keep string) string {
	at, size := controlAt(s, keep)
	if at < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for at >= 0 {
		b.WriteString(s[:at])
		b.WriteString(escapeOne(s[at : at+size]))
		s = s[at+size:]
		at, size = controlAt(s, keep)
	}
	b.WriteString(s)
	return b.String()
}

// CheckInput refuses a name or path given to virtchain (a domain or
// snapshot name, a file path, a --top/--base spec, a URI) that holds a
// control character or is not UTF-8. what names the input for the user:
// "--file", "snapshot name". The CLI and the TUI forms both call it.
func CheckInput(what, s string) error {
	return checkInput(what, s, "", "use only printable characters in names and paths")
}

// CheckText is CheckInput for free text (a snapshot description): lines
// and tabs are text there, libvirt keeps them, and every view escapes or
// folds them, so only the other control characters are refused.
func CheckText(what, s string) error {
	return checkInput(what, s, "\n\t", "use only printable characters, newlines and tabs")
}

func checkInput(what, s, keep, fix string) error {
	at, size := controlAt(s, keep)
	if at < 0 {
		return nil
	}
	kind := "a control character (" + escapeOne(s[at:at+size]) + ")"
	if size == 1 && s[at] >= 0x80 {
		kind = "a byte that is not UTF-8 (" + escapeOne(s[at:at+size]) + ")"
	}
	return Refuse(fmt.Sprintf("%s %q holds %s", what, s, kind), fix)
}

// NoDomain is the one refusal for a domain name that the host does not
// have, whichever layer finds out.
func NoDomain(name string) error {
	return RefuseDo("no domain "+strconv.Quote(name), Words("list domains with "), Do(DoListDomains))
}

// NoDisk is the one refusal for a disk target the domain does not have.
func NoDisk(d *Domain, target string) error {
	ts := make([]string, len(d.Disks))
	for i, dk := range d.Disks {
		ts[i] = dk.Target
	}
	fix := "it has no disks"
	if len(ts) > 0 {
		fix = "its disks are: " + strings.Join(ts, ", ")
	}
	return Refuse(fmt.Sprintf("%s has no disk %s", d.Name, target), fix)
}

// NoSnapshot is the one refusal for a snapshot name the domain does not
// have, whether the model or libvirt finds out.
func NoSnapshot(domain, name string) error {
	return RefuseDo(fmt.Sprintf("domain %s has no snapshot named %q", domain, name),
		Words("see its snapshots with "), Do(DoListSnapshots, domain))
}

// NotAbsolute is the one refusal for a relative path where a file is
// named: libvirtd resolves paths on its own host, from its own folder.
func NotAbsolute(what, path string) error {
	return Refuse(fmt.Sprintf("%s %q is not absolute", what, path), "give a full path that starts with /")
}

// RefuseBusy is the one refusal of a second job on a disk whose job j
// still runs.
func RefuseBusy(j Job) error {
	return RefuseDo(fmt.Sprintf("%s %s already has a block job: %s, %s", j.Domain, j.Disk, j.Kind, j.Phase),
		Words("wait for it, or stop it with "), Do(DoAbortJob, j.Domain, j.Disk))
}

// RefuseBandwidth is the one refusal of a negative speed limit.
func RefuseBandwidth() error {
	return Refuse("negative bandwidth", "give MiB/s of at least 0 (0 is no limit)")
}

// NoJob is the one refusal for a disk without a block job.
func NoJob(domain, disk string) error {
	return RefuseDo("no block job on "+domain+" "+disk, Words("list running jobs with "), Do(DoListJobs))
}

// ReadOnlyHint is the fix for anything a read-only connection refuses.
var ReadOnlyHint = Hint{Do(DoWritable)}

// RefuseReadOnly is the one refusal of a change on a read-only connection
// (--readonly). what is a verb phrase: "run virtchain commit", "save".
func RefuseReadOnly(what string) error {
	return RefuseDo("read-only connection: cannot "+what, ReadOnlyHint...)
}
