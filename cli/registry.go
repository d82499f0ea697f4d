package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// Command is one virtchain subcommand. Each file of package cli registers its
// commands from init():
//
//	func init() {
//		var external bool
//		register(Command{
//			Name:    "snapshot create",
//			Args:    "DOMAIN NAME",
//			Summary: "create an internal or external snapshot",
//			JSON:    true,
//			DryRun:  true,
//			Flags: func(f *FlagSet) {
//				f.BoolVar(&external, "external", "make overlays instead of internal snapshots")
//			},
//			Run: func(env *Env, args []string) error { ... },
//		})
//	}
//
// Flag variables captured by the closures are safe: Main runs one command
// per process (tests call Main sequentially, and Flags is called afresh on
// every run so each run starts from the zero values the closure sets).
type Command struct {
	// Name is the words that select the command: "list", "snapshot create".
	Name string
	// Args documents the positional arguments and sets how many are
	// allowed: "DOMAIN [TARGET]" takes one or two, "FILE..." one or more,
	// "[NAME]..." any number. Flags are not listed here.
	Args string
	// Summary is one line for `virtchain help`.
	Summary string
	// Help is optional longer text for `virtchain help NAME`.
	Help string
	// JSON says the command accepts --json (env.JSON).
	JSON bool
	// DryRun says the command accepts --dry-run (env.DryRun).
	DryRun bool
	// Changes says the command changes the host: under --readonly Main
	// refuses it (but not its --dry-run) before libvirt is called.
	Changes bool
	// Flags defines the command's own flags. It must reset the variables it
	// binds, because Main may run the same command twice in one process.
	Flags func(f *FlagSet)
	// Run does the work. Return Usagef(...) for bad input that the parser
	// could not catch (exit 2), any other error for a failure (exit 1).
	Run func(env *Env, args []string) error

	minArgs, maxArgs int // from Args; maxArgs < 0 means no limit
}

var registry = map[string]*Command{}

// register adds a command; it panics on a duplicate name or a malformed
// command so a mistake shows at the first test run.
func register(c Command) {
	c.Name = strings.Join(strings.Fields(c.Name), " ")
	if c.Name == "" || c.Run == nil || c.Summary == "" {
		panic(fmt.Sprintf("cli: command %q needs a Name, Summary and Run", c.Name))
	}
	if _, dup := registry[c.Name]; dup {
		panic("cli: command registered twice: " + c.Name)
	}
	c.minArgs, c.maxArgs = argBounds(c.Args)
	registry[c.Name] = &c
}

// argBounds reads "DOMAIN [TARGET]"-style specs.
func argBounds(spec string) (lo, hi int) {
	for _, w := range strings.Fields(spec) {
		variadic := strings.HasSuffix(w, "...")
		optional := strings.HasPrefix(w, "[")
		if !optional {
			lo++
		}
		if variadic {
			hi = -1
		} else if hi >= 0 {
			hi++
		}
	}
	return lo, hi
}

// lookup finds the command named by the leading words of pos, preferring the
// longest name ("snapshot create" over "snapshot"). It returns the command
// and the remaining positional arguments. When the first word is only a
// group ("snapshot"), group is set to it.
func lookup(pos []string) (cmd *Command, rest []string, group string) {
	for n := min(len(pos), 3); n >= 1; n-- {
		if c, ok := registry[strings.Join(pos[:n], " ")]; ok {
			return c, pos[n:], ""
		}
	}
	if len(pos) > 0 && len(subcommands(pos[0])) > 0 {
		return nil, nil, pos[0]
	}
	return nil, nil, ""
}

// subcommands lists the commands whose name starts with group + " ".
func subcommands(group string) []*Command {
	var out []*Command
	for name, c := range registry {
		if strings.HasPrefix(name, group+" ") {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// commands lists every registered command, sorted by name.
func commands() []*Command {
	out := make([]*Command, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// writeHelp prints the overview: usage, every command, the global flags.
func writeHelp(w io.Writer) {
	fmt.Fprint(w, `virtchain: explore and reshape the backing chains and snapshots of libvirt domains.

Usage:
  virtchain [-c URI] [--readonly] [--domain NAME]   open the terminal UI
  virtchain COMMAND [ARGS] [FLAGS]                  flags may come before or after ARGS

Commands:
`)
	t := newTable(w)
	for _, c := range commands() {
		t.Row("  "+strings.TrimSpace(c.Name+" "+c.Args), c.Summary)
	}
	_ = t.Flush()
	fmt.Fprint(w, "\nGlobal flags:\n")
	var g global
	f := newFlagSet("virtchain")
	g.define(f)
	f.write(w)
	fmt.Fprint(w, "\nTerminal UI flags (without a command):\n")
	var tf tuiFlags
	tfs := newFlagSet("virtchain")
	tf.define(tfs)
	tfs.write(w)
	fmt.Fprint(w, "\n'virtchain help COMMAND' shows a command's own flags.\nExit status: 0 ok, 1 error, 2 bad usage.\n")
}

// writeCommandHelp prints one command's usage and flags.
func writeCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "Usage: virtchain %s\n\n%s\n", strings.TrimSpace(c.Name+" "+c.Args+" [FLAGS]"), c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Help, "\n"))
	}
	var g global
	f := newFlagSet(c.Name)
	if c.Flags != nil {
		c.Flags(f)
	}
	if len(f.docs) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		f.write(w)
	}
	// Only the globals this command honours.
	gf := newFlagSet(c.Name)
	var sink global
	gf.StringVar(&sink.connect, "c,connect", "URI", "libvirt URI (default: $LIBVIRT_DEFAULT_URI, else qemu:///system)")
	gf.BoolVar(&sink.readonly, "readonly", "open a read-only connection: nothing can change")
	if c.JSON {
		gf.BoolVar(&sink.json, "json", "print JSON instead of a table")
	}
	if c.DryRun {
		gf.BoolVar(&sink.dryRun, "dry-run", "print the plan and the equivalent virsh command; change nothing")
	}
	gf.BoolVar(&g.help, "h,help", "show this help")
	fmt.Fprint(w, "\nGlobal flags:\n")
	gf.write(w)
}

func init() {
	register(Command{
		Name:    "help",
		Args:    "[COMMAND]...",
		Summary: "list the commands, or show one command's flags",
		Run: func(env *Env, args []string) error {
			if len(args) == 0 {
				writeHelp(env.Stdout)
				return nil
			}
			c, rest, group := lookup(args)
			if c == nil && group != "" {
				fmt.Fprintf(env.Stdout, "'%s' commands:\n", group)
				t := newTable(env.Stdout)
				for _, s := range subcommands(group) {
					t.Row("  "+strings.TrimSpace(s.Name+" "+s.Args), s.Summary)
				}
				return t.Flush()
			}
			if c == nil || len(rest) > 0 {
				return Usagef("no command named %q", strings.Join(args, " "))
			}
			writeCommandHelp(env.Stdout, c)
			return nil
		},
	})
	register(Command{
		Name:    "version",
		Summary: "print virtchain's version",
		JSON:    true,
		Run: func(env *Env, _ []string) error {
			v := versionInfo()
			if env.JSON {
				return env.PrintJSON(v)
			}
			fmt.Fprintf(env.Stdout, "virtchain %s (%s, %s)\n", v.Version, v.Go, v.Revision)
			return nil
		},
	})
}

// Version is set at build time with -ldflags "-X virtchain/cli.Version=...".
var Version = "dev"

type versionJSON struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Revision string `json:"revision"`
}

func versionInfo() versionJSON {
	v := versionJSON{Version: Version, Go: runtime.Version(), Revision: "unknown revision"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v.Revision = s.Value[:12]
			}
		}
	}
	return v
}
