package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"virtchain/model"
)

// FlagSet holds one command's flags. Each flag may have several names given
// as "c,connect": one-letter names print as -c, longer ones as --connect, and
// both spellings (-x and --x) are accepted on the command line, as in the
// standard flag package. Flags may appear before, between or after the
// positional arguments; "--" ends the flags.
type FlagSet struct {
	fs   *flag.FlagSet
	docs []flagDoc
}

type flagDoc struct {
	names []string
	arg   string // "" for a boolean flag
	usage string
}

func newFlagSet(name string) *FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become UsageErrors, printed once by Main
	fs.Usage = func() {}
	return &FlagSet{fs: fs}
}

func splitNames(names string) []string {
	var out []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func (f *FlagSet) add(v flag.Value, names, arg, usage string) {
	ns := splitNames(names)
	if len(ns) == 0 {
		panic("cli: flag without a name")
	}
	for _, n := range ns {
		f.fs.Var(v, n, usage)
	}
	f.docs = append(f.docs, flagDoc{names: ns, arg: arg, usage: usage})
}

// BoolVar defines a boolean flag (--name, or --name=false).
func (f *FlagSet) BoolVar(p *bool, names, usage string) {
	f.add((*boolValue)(p), names, "", usage)
}

// StringVar defines a flag taking one value; ARG names the value in help.
func (f *FlagSet) StringVar(p *string, names, arg, usage string) {
	f.add((*stringValue)(p), names, arg, usage)
}

// TextVar defines a flag taking free text (a description), which may hold
// newlines and tabs; StringVar values are names and paths and may not.
func (f *FlagSet) TextVar(p *string, names, arg, usage string) {
	f.add((*textValue)(p), names, arg, usage)
}

// StringsVar defines a repeatable flag: each use appends one value
// (--file vda=/a --file vdb=/b).
func (f *FlagSet) StringsVar(p *[]string, names, arg, usage string) {
	f.add((*stringsValue)(p), names, arg, usage)
}

// IntVar defines an integer flag.
func (f *FlagSet) IntVar(p *int, names, arg, usage string) {
	f.add((*intValue)(p), names, arg, usage)
}

// Uint64Var defines an unsigned integer flag.
func (f *FlagSet) Uint64Var(p *uint64, names, arg, usage string) {
	f.add((*uint64Value)(p), names, arg, usage)
}

// DurationVar defines a flag taking a Go duration such as 30s or 2m.
func (f *FlagSet) DurationVar(p *time.Duration, names, arg, usage string) {
	f.add((*durationValue)(p), names, arg, usage)
}

// Var defines a flag with a custom flag.Value. Values whose IsBoolFlag
// returns true take no argument.
func (f *FlagSet) Var(v flag.Value, names, arg, usage string) {
	f.add(v, names, arg, usage)
}

// Changed reports whether any of the flag's names was given on the command
// line, which tells "--bandwidth 0" from no --bandwidth at all.
func (f *FlagSet) Changed(names string) bool {
	want := map[string]bool{}
	for _, n := range splitNames(names) {
		want[n] = true
	}
	set := false
	f.fs.Visit(func(fl *flag.Flag) {
		if want[fl.Name] {
			set = true
		}
	})
	return set
}

// parse reads flags anywhere in args and returns the positional arguments
// in order. Errors are *UsageError.
func (f *FlagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, usageFromFlagError(err, args)
		}
		rest := f.fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// checkInput refuses a control character in any string flag that was given
// (model.CheckInput), naming the flag as typed. args is the command line.
func (f *FlagSet) checkInput(args []string) error {
	var err error
	f.fs.Visit(func(fl *flag.Flag) {
		if err != nil {
			return
		}
		what := typed(fl.Name, args)
		switch v := fl.Value.(type) {
		case *stringValue:
			err = model.CheckInput(what, string(*v))
		case *stringsValue:
			for _, s := range *v {
				if err = model.CheckInput(what, s); err != nil {
					break
				}
			}
		case *textValue:
			err = model.CheckText(what, string(*v))
		}
	})
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	return nil
}

// checkArgs refuses a control character in a positional argument, naming
// it by the command's Args spec (DOMAIN, NAME, FILE).
func checkArgs(spec string, pos []string) error {
	words := strings.Fields(spec)
	for i, a := range pos {
		what := "argument"
		if len(words) > 0 {
			w := words[min(i, len(words)-1)]
			what = strings.Trim(w, "[].")
		}
		if err := model.CheckInput(what, a); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	return nil
}

func usageFromFlagError(err error, args []string) error {
	if errors.Is(err, flag.ErrHelp) {
		// -help or -h that no FlagSet defined; every command defines -h, so
		// this is only a safety net.
		return &UsageError{Msg: "unknown flag -h"}
	}
	msg := err.Error()
	// The flag package says "flag provided but not defined: -x"; say it in
	// our words, with the spelling the user typed.
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return &UsageError{Msg: "unknown flag " + typed(name, args)}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return &UsageError{Msg: "flag " + typed(name, args) + " needs a value"}
	}
	// "invalid value "x" for flag -bandwidth: why": name the flag as typed.
	if val, rest, ok := strings.Cut(msg, " for flag -"); ok && strings.HasPrefix(val, "invalid value ") {
		if name, why, ok := strings.Cut(rest, ": "); ok {
			return &UsageError{Msg: val + " for " + typed(name, args) + ": " + why}
		}
	}
	return &UsageError{Msg: msg}
}

// typed returns the spelling of flag -name that the user typed (--name or
// -name), so the message quotes the command line.
func typed(name string, args []string) string {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			a, _, _ = strings.Cut(a, "=")
			return a
		}
	}
	return name
}

// write prints the flags for help, sorted by their first long name.
func (f *FlagSet) write(w io.Writer) {
	docs := append([]flagDoc(nil), f.docs...)
	sort.SliceStable(docs, func(i, j int) bool { return longName(docs[i]) < longName(docs[j]) })
	rows := make([][2]string, len(docs))
	width := 0
	for i, d := range docs {
		var parts []string
		for _, n := range d.names {
			if len(n) == 1 {
				parts = append(parts, "-"+n)
			} else {
				parts = append(parts, "--"+n)
			}
		}
		left := strings.Join(parts, ", ")
		if d.arg != "" {
			left += " " + d.arg
		}
		rows[i] = [2]string{left, d.usage}
		width = max(width, len(left))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
}

func longName(d flagDoc) string {
	for _, n := range d.names {
		if len(n) > 1 {
			return n
		}
	}
	return d.names[0]
}

type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, not %q", s)
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type textValue string

func (s *textValue) Set(v string) error { *s = textValue(v); return nil }
func (s *textValue) String() string     { return string(*s) }

type stringsValue []string

func (s *stringsValue) Set(v string) error { *s = append(*s, v); return nil }
func (s *stringsValue) String() string     { return strings.Join(*s, ",") }

type intValue int

func (i *intValue) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number, not %q", s)
	}
	*i = intValue(v)
	return nil
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }

type uint64Value uint64

func (u *uint64Value) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a whole number of at least 0, not %q", s)
	}
	*u = uint64Value(v)
	return nil
}
func (u *uint64Value) String() string { return strconv.FormatUint(uint64(*u), 10) }

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 30s or 2m, not %q", s)
	}
	*d = durationValue(v)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }
