package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"charm.land/fang/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewCmdHelp builds `virtchain help [COMMAND]...`.
func NewCmdHelp(env *Env, root *cobra.Command) *cobra.Command {
	cmd := newCommand(env, cmdSpec{
		Use:   "help [COMMAND]...",
		Short: "list the commands, or show one command's flags",
	}, nil, func(args []string) error {
		if len(args) == 0 {
			return writeHelp(env.Stdout, root)
		}
		// A group lists its commands whatever words follow it, as always.
		c, n := findWords(root, args)
		if n == 0 || (n < len(args) && !c.HasSubCommands()) {
			return Usagef("no command named %q", strings.Join(args, " "))
		}
		return writeCommandOrGroupHelp(env.Stdout, c)
	})
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return commandWords(root, args), cobra.ShellCompDirectiveNoFileComp
	}
	return cmd
}

// commandWords completes `help WORDS`: the subcommands of what args name.
func commandWords(root *cobra.Command, args []string) []cobra.Completion {
	c, rest, err := root.Find(args)
	if err != nil || len(rest) > 0 {
		return nil
	}
	var out []cobra.Completion
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, cobra.CompletionWithDesc(s.Name(), s.Short))
		}
	}
	return out
}

// helpCommands lists every command a user can run, sorted by name: the
// leaves of the tree, so "snapshot create" rather than "snapshot".
func helpCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			switch {
			case !s.IsAvailableCommand() && s.Name() != "help":
			case s.HasAvailableSubCommands():
				walk(s)
			default:
				out = append(out, s)
			}
		}
	}
	walk(root)
	sort.Slice(out, func(i, j int) bool { return commandName(out[i]) < commandName(out[j]) })
	return out
}

// useLine is a command's name and ARGS: "snapshot create DOMAIN NAME".
func useLine(c *cobra.Command) string {
	return strings.TrimSpace(commandName(c) + " " + argSpec(c.Use))
}

// writeHelp prints the overview: usage, every command, the global flags.
func writeHelp(w io.Writer, root *cobra.Command) error {
	var b strings.Builder
	b.WriteString(`virtchain: explore and reshape the backing chains and snapshots of libvirt domains.

` + helpTitle("Usage:") + `
  virtchain [-c URI] [--readonly] [--domain NAME]   open the terminal UI
  virtchain COMMAND [ARGS] [FLAGS]                  flags may come before or after ARGS
  virtchain -v, --version                           print virtchain's version

` + helpTitle("Commands:") + `
`)
	t := newTable(&b)
	for _, c := range helpCommands(root) {
		t.Row("  "+useLine(c), c.Short)
	}
	_ = t.Flush()
	b.WriteString("\n" + helpTitle("Global flags:") + "\n")
	writeFlags(&b, root.PersistentFlags(), nil, nil)
	b.WriteString("\n" + helpTitle("Terminal UI flags (without a command):") + "\n")
	writeFlags(&b, root.LocalNonPersistentFlags(), func(f *pflag.Flag) bool { return f.Annotations[tuiAnnotation] != nil }, nil)
	b.WriteString("\n'virtchain help COMMAND' shows a command's own flags; 'virtchain completion bash'\n" +
		"prints the shell completion and 'virtchain man' the manual page.\n" +
		"Exit status: 0 ok, 1 error, 2 bad usage.\n")
	return writeStyled(w, root, b.String())
}

func writeCommandOrGroupHelp(w io.Writer, c *cobra.Command) error {
	if c.HasAvailableSubCommands() {
		return writeGroupHelp(w, c)
	}
	return writeCommandHelp(w, c)
}

// writeGroupHelp lists a group's commands ("virtchain help snapshot").
func writeGroupHelp(w io.Writer, g *cobra.Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", helpTitle("'"+commandName(g)+"' commands:"))
	t := newTable(&b)
	for _, s := range helpCommands(g) {
		t.Row("  "+useLine(s), s.Short)
	}
	_ = t.Flush()
	return writeStyled(w, g, b.String())
}

// writeCommandHelp prints one command's usage and flags, and only the
// global flags it honours.
func writeCommandHelp(w io.Writer, c *cobra.Command) error {
	var b strings.Builder
	// Two spaces before [FLAGS] for a command without ARGS, as always.
	fmt.Fprintf(&b, "%s virtchain %s %s [FLAGS]\n\n%s\n", helpTitle("Usage:"), commandName(c), argSpec(c.Use), c.Short)
	if c.Long != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
	own := c.LocalNonPersistentFlags()
	if own.HasAvailableFlags() {
		b.WriteString("\n" + helpTitle("Flags:") + "\n")
		writeFlags(&b, own, nil, nil)
	}
	b.WriteString("\n" + helpTitle("Global flags:") + "\n")
	writeFlags(&b, c.Root().PersistentFlags(), func(f *pflag.Flag) bool {
		switch f.Name {
		case "json":
			return c.Annotations[traitJSON] != ""
		case "dry-run":
			return c.Annotations[traitDryRun] != ""
		}
		return true
	}, map[string]string{"help": "show this help"})
	return writeStyled(w, c, b.String())
}

// writeFlags prints flags for help, sorted by name: "-c, --connect URI".
// usage replaces a flag's usage text by its name (a command's own help
// says "show this help").
func writeFlags(w io.Writer, fs *pflag.FlagSet, keep func(*pflag.Flag) bool, usage map[string]string) {
	var rows [][2]string
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || (keep != nil && !keep(f)) {
			return
		}
		left := helpFlag(flagLeft(f))
		u := f.Usage
		if o, ok := usage[f.Name]; ok {
			u = o
		}
		rows = append(rows, [2]string{left, u})
		width = max(width, lipgloss.Width(left))
	})
	for _, r := range rows {
		fmt.Fprintf(w, "  %s%s  %s\n", r[0], strings.Repeat(" ", width-lipgloss.Width(r[0])), r[1])
	}
}

// flagLeft is how help names a flag: "-c, --connect URI".
func flagLeft(f *pflag.Flag) string {
	left := "--" + f.Name
	if f.Shorthand != "" {
		left = "-" + f.Shorthand + ", " + left
	}
	if arg := f.Annotations[argAnnotation]; len(arg) > 0 {
		left += " " + arg[0]
	} else if f.NoOptDefVal == "" {
		left += " " + strings.ToUpper(f.Value.Type())
	}
	return left
}

// Help is styled with fang's ANSI colour scheme (the terminal's own
// palette, so it reads on light and dark backgrounds alike, and nothing
// asks the terminal for its background). writeStyled drops every escape,
// bold included, unless w is a terminal and neither NO_COLOR (any value but
// empty), TERM=dumb nor --no-color says otherwise; CLICOLOR_FORCE does not
// colour a pipe, as help never had escapes there.
var helpColors = fang.AnsiColorScheme(lipgloss.LightDark(true))

func helpTitle(s string) string {
	return lipgloss.NewStyle().Bold(true).Foreground(helpColors.Title).Render(s)
}

func helpFlag(s string) string { return lipgloss.NewStyle().Foreground(helpColors.Flag).Render(s) }

func writeStyled(w io.Writer, c *cobra.Command, s string) error {
	out := &colorprofile.Writer{Forward: w, Profile: colorprofile.NoTTY}
	if helpInColour(w, c) {
		out = colorprofile.NewWriter(w, os.Environ())
	}
	_, err := io.WriteString(out, s)
	return err
}

func helpInColour(w io.Writer, c *cobra.Command) bool {
	if !isTerminal(w) || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f := c.Root().Flags().Lookup("no-color")
	return f == nil || f.Value.String() != "true"
}
