package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"virtchain/model"
)

// FlagSet declares one command's flags on its pflag set. Each flag may have
// two names given as "c,connect": the one-letter name is the shorthand (-c),
// the longer one the name (--connect). ARG names the value in help. Every
// command builds its own FlagSet around variables in its options struct, so
// nothing is shared between commands or between runs.
type FlagSet struct {
	fs *pflag.FlagSet
}

// argAnnotation holds a flag's ARG (the value's name in help).
const argAnnotation = "virtchain_arg"

func newFlagSet(fs *pflag.FlagSet) *FlagSet { return &FlagSet{fs: fs} }

func (f *FlagSet) add(v pflag.Value, names, arg, usage string) *pflag.Flag {
	var long, short string
	for _, n := range strings.Split(names, ",") {
		switch n = strings.TrimSpace(n); {
		case len(n) == 1:
			short = n
		case n != "":
			long = n
		}
	}
	if long == "" {
		panic("cli: flag without a long name: " + names)
	}
	fl := f.fs.VarPF(v, long, short, usage)
	if arg != "" {
		_ = f.fs.SetAnnotation(long, argAnnotation, []string{arg})
	}
	return fl
}

// BoolVar defines a boolean flag (--name, or --name=false).
func (f *FlagSet) BoolVar(p *bool, names, usage string) {
	f.add((*boolValue)(p), names, "", usage).NoOptDefVal = "true"
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

// Var defines a flag with a custom value.
func (f *FlagSet) Var(v pflag.Value, names, arg, usage string) {
	f.add(v, names, arg, usage)
}

// Changed reports whether the flag (by its long name) was given on the
// command line, which tells "--bandwidth 0" from no --bandwidth at all.
func (f *FlagSet) Changed(name string) bool { return f.fs.Changed(name) }

// checkInput refuses a control character in any string flag that was given
// (model.CheckInput), naming the flag as typed. args is the command line.
func checkInput(fs *pflag.FlagSet, args []string) error {
	var err error
	fs.Visit(func(fl *pflag.Flag) {
		if err != nil {
			return
		}
		what := typed(fl.Name, fl.Shorthand, args)
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
// it by the command's ARGS spec (DOMAIN, NAME, FILE).
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

// usageFromFlagError words pflag's errors as virtchain always has, with the
// spelling the user typed (-c, --connect, -bandwidth).
func usageFromFlagError(err error, args []string) *UsageError {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var invalid *pflag.InvalidValueError
	switch {
	case errors.As(err, &notExist):
		if sh := notExist.GetSpecifiedShortnames(); sh != "" {
			sh, _, _ = strings.Cut(sh, "=")
			return &UsageError{Msg: "unknown flag -" + sh}
		}
		return &UsageError{Msg: "unknown flag " + typed(notExist.GetSpecifiedName(), "", args)}
	case errors.As(err, &noValue):
		fl := noValue.GetFlag()
		return &UsageError{Msg: "flag " + typed(fl.Name, fl.Shorthand, args) + " needs a value"}
	case errors.As(err, &invalid):
		fl := invalid.GetFlag()
		return &UsageError{Msg: fmt.Sprintf("invalid value %q for %s: %v", invalid.GetValue(),
			typed(fl.Name, fl.Shorthand, args), invalid.Unwrap())}
	}
	return &UsageError{Msg: err.Error()}
}

// typed returns the spelling of the flag that the user typed (--name,
// -name or -s), so a message quotes the command line.
func typed(name, short string, args []string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		a, _, _ = strings.Cut(a, "=")
		if a == "-"+name || a == "--"+name || (short != "" && a == "-"+short) {
			return a
		}
	}
	return "--" + name
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
func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Type() string   { return "bool" }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Type() string       { return "string" }

type textValue string

func (s *textValue) Set(v string) error { *s = textValue(v); return nil }
func (s *textValue) String() string     { return string(*s) }
func (s *textValue) Type() string       { return "string" }

type stringsValue []string

func (s *stringsValue) Set(v string) error { *s = append(*s, v); return nil }
func (s *stringsValue) String() string     { return strings.Join(*s, ",") }
func (s *stringsValue) Type() string       { return "stringArray" }

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
func (i *intValue) Type() string   { return "int" }

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
func (u *uint64Value) Type() string   { return "uint64" }

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
func (d *durationValue) Type() string   { return "duration" }
