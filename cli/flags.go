package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
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

// parsedArgs is a command line as parseOld reads it.
type parsedArgs struct {
	words []string  // the command's name words; none for the terminal UI
	flags []setFlag // every flag given, in order, by its long name
	pos   []string  // the positional arguments
	// passThrough: hand cobra the command line as typed (the completion
	// commands).
	passThrough bool
}

type setFlag struct{ name, value string }

// flagRecorder stands for one of cobra's flags in a Go flag.FlagSet. It
// checks each value on a fresh value of the flag's own type, so a bad one
// is refused in the flag's words, and records it for cobra.
type flagRecorder struct {
	fl  *pflag.Flag
	out *[]setFlag
}

func (r flagRecorder) String() string   { return "" }
func (r flagRecorder) IsBoolFlag() bool { return r.fl.NoOptDefVal != "" }
func (r flagRecorder) Set(s string) error {
	fresh := reflect.New(reflect.TypeOf(r.fl.Value).Elem()).Interface().(pflag.Value)
	if err := fresh.Set(s); err != nil {
		return err
	}
	*r.out = append(*r.out, setFlag{r.fl.Name, s})
	return nil
}

// goFlags is a Go flag.FlagSet with every flag of sets under each of its
// names (-c and -connect, each also with two dashes, as Go reads them).
func goFlags(out *[]setFlag, sets ...*pflag.FlagSet) *flag.FlagSet {
	fs := flag.NewFlagSet("virtchain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range sets {
		s.VisitAll(func(fl *pflag.Flag) {
			for _, n := range []string{fl.Name, fl.Shorthand} {
				if n != "" && fs.Lookup(n) == nil {
					fs.Var(flagRecorder{fl: fl, out: out}, n, fl.Usage)
				}
			}
		})
	}
	return fs
}

// parseOld reads args as virtchain always has: Go's flag rules (one or two
// dashes, -name=value or -name value, no grouped one-letter flags), the
// global and terminal UI flags before the command's name, which is its
// leading words, and then the command's own flags and the globals anywhere
// among its arguments until "--". Its errors are virtchain's usage errors.
func parseOld(root *cobra.Command, args []string) (*parsedArgs, error) {
	pre, rest, err := parseGlobals(root, args)
	if err != nil {
		return nil, err
	}
	if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" && len(rest) > 0 {
		return nil, Usagef("unknown command %q", rest[0])
	}
	if len(rest) == 0 {
		return &parsedArgs{flags: pre}, nil
	}
	if tuiFlagSet(root, pre) {
		return nil, tuiOnly(rest[0])
	}
	words := 0
	for words < len(rest) && words < 3 && !strings.HasPrefix(rest[words], "-") {
		words++
	}
	root.InitDefaultHelpCmd()
	c, n := findWords(root, rest[:words])
	switch {
	case n == 0:
		return nil, Usagef("unknown command %q", rest[0])
	case strings.Fields(commandName(c))[0] == "completion":
		return &parsedArgs{passThrough: true}, nil
	case c.HasSubCommands():
		if p := groupHelp(c, pre, rest[1:]); n == 1 && p != nil {
			return p, nil
		}
		return nil, groupError(c, rest[:words])
	}
	var kept []setFlag
	for _, f := range pre {
		if root.PersistentFlags().Lookup(f.name) != nil {
			kept = append(kept, f)
		}
	}
	own, pos, uerr := parseCommand(c, rest[n:])
	if uerr != nil {
		uerr.Cmd = commandName(c)
		return nil, uerr
	}
	return &parsedArgs{words: strings.Fields(commandName(c)), flags: globalsFirst(root, kept, own), pos: pos}, nil
}

// parseGlobals reads the flags before the command's name: the globals and
// the terminal UI's. -v and --version (new with cobra) are read only when
// no command follows; before a command they are unknown, as they were.
func parseGlobals(root *cobra.Command, args []string) ([]setFlag, []string, error) {
	tui := pflag.NewFlagSet("virtchain", pflag.ContinueOnError)
	root.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Annotations[tuiAnnotation] != nil {
			tui.AddFlag(f)
		}
	})
	var pre []setFlag
	gfs := goFlags(&pre, root.PersistentFlags(), tui)
	err := gfs.Parse(args)
	if err == nil {
		return pre, gfs.Args(), nil
	}
	var all []setFlag
	afs := goFlags(&all, root.PersistentFlags(), root.Flags())
	if afs.Parse(args) == nil && afs.NArg() == 0 {
		return all, nil, nil
	}
	return nil, nil, goFlagError(err, args)
}

// parseCommand reads c's own flags and the globals anywhere in args.
func parseCommand(c *cobra.Command, args []string) ([]setFlag, []string, *UsageError) {
	sets := []*pflag.FlagSet{c.Flags()}
	for p := c; p != nil; p = p.Parent() {
		sets = append(sets, p.PersistentFlags())
	}
	var own []setFlag
	pos, err := parseAnywhere(goFlags(&own, sets...), args)
	return own, pos, err
}

// globalsFirst is the flags given before the command's name and then its
// own. A global switch turned on before the name stays on whatever follows
// (--json list --json=false prints JSON), as it always has.
func globalsFirst(root *cobra.Command, pre, own []setFlag) []setFlag {
	out := append(append([]setFlag(nil), pre...), own...)
	on := map[string]bool{}
	for _, f := range pre {
		if fl := root.PersistentFlags().Lookup(f.name); fl != nil && fl.NoOptDefVal != "" {
			on[f.name], _ = strconv.ParseBool(f.value)
		}
	}
	for _, f := range pre {
		if on[f.name] {
			out, on[f.name] = append(out, setFlag{f.name, "true"}), false
		}
	}
	return out
}

// groupHelp reads "snapshot --help [create]", which shows the help of the
// group or of the command named (new with cobra; the old parser refused
// any flag after a group). It is nil unless args parse and ask for help.
func groupHelp(g *cobra.Command, pre []setFlag, args []string) *parsedArgs {
	own, pos, err := parseCommand(g, args)
	if err != nil {
		return nil
	}
	help := false
	for _, f := range append(append([]setFlag(nil), pre...), own...) {
		if f.name == "help" {
			help, _ = strconv.ParseBool(f.value)
		}
	}
	if !help {
		return nil
	}
	words := []string{g.Name()}
	if c, n := findWords(g, pos); n > 0 && !c.HasSubCommands() {
		words, pos = append(words, c.Name()), pos[1:]
	}
	var kept []setFlag
	for _, f := range pre {
		if g.Root().PersistentFlags().Lookup(f.name) != nil {
			kept = append(kept, f)
		}
	}
	return &parsedArgs{words: words, flags: append(kept, own...), pos: pos}
}

// parseAnywhere reads flags anywhere in args and returns the positional
// arguments in order; "--" ends the flags.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, *UsageError) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, goFlagError(err, args)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// findWords follows words down the tree as far as they name commands and
// returns the last command and how many words named one.
func findWords(root *cobra.Command, words []string) (*cobra.Command, int) {
	c, n := root, 0
	for _, w := range words {
		var next *cobra.Command
		for _, s := range c.Commands() {
			if s.Name() == w || s.HasAlias(w) {
				next = s
			}
		}
		if next == nil {
			break
		}
		c, n = next, n+1
	}
	return c, n
}

// groupError is a group ("snapshot") without one of its commands.
func groupError(g *cobra.Command, words []string) error {
	var names []string
	for _, s := range g.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	sort.Strings(names)
	name := g.Name()
	if len(words) > 1 {
		return &UsageError{Msg: fmt.Sprintf("unknown command '%s %s'; '%s' takes one of: %s", name, words[1], name, strings.Join(names, ", "))}
	}
	return &UsageError{Msg: fmt.Sprintf("'%s' needs a subcommand: %s", name, strings.Join(names, ", "))}
}

// tuiFlagSet reports whether a terminal UI flag was given a value other
// than its default.
func tuiFlagSet(root *cobra.Command, set []setFlag) bool {
	last := map[string]string{}
	for _, f := range set {
		last[f.name] = f.value
	}
	for name, v := range last {
		fl := root.Flags().Lookup(name)
		if fl == nil || fl.Annotations[tuiAnnotation] == nil {
			continue
		}
		if fl.NoOptDefVal != "" {
			b, _ := strconv.ParseBool(v)
			if b {
				return true
			}
		} else if v != fl.DefValue {
			return true
		}
	}
	return false
}

// goFlagError words the flag package's errors, with the spelling typed.
func goFlagError(err error, args []string) *UsageError {
	if errors.Is(err, flag.ErrHelp) {
		return &UsageError{Msg: "unknown flag -h"}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return &UsageError{Msg: "unknown flag " + goTyped(name, args)}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return &UsageError{Msg: "flag " + goTyped(name, args) + " needs a value"}
	}
	// "invalid value "x" for flag -bandwidth: why": name the flag as typed.
	if val, rest, ok := strings.Cut(msg, " for flag -"); ok && strings.HasPrefix(val, "invalid value ") {
		if name, why, ok := strings.Cut(rest, ": "); ok {
			return &UsageError{Msg: val + " for " + goTyped(name, args) + ": " + why}
		}
	}
	return &UsageError{Msg: msg}
}

// goTyped returns the spelling of flag -name that the user typed (--name
// or -name); name is as the flag package gives it.
func goTyped(name string, args []string) string {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			a, _, _ = strings.Cut(a, "=")
			return a
		}
	}
	return name
}
