package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"virtchain/model"
)

// cmdSpec is what a command declares besides its flags. Every NewCmdX
// builds its command with newCommand from one:
//
//	func NewCmdChain(env *Env) *cobra.Command {
//		opts := &chainOptions{Env: env}
//		return newCommand(env, cmdSpec{Use: "chain DOMAIN [TARGET]", Short: "...", JSON: true},
//			nil, func(args []string) error {
//				opts.Domain = args[0]
//				return runChain(opts)
//			})
//	}
type cmdSpec struct {
	// Use is the command's last name word and its positional arguments:
	// "create DOMAIN NAME". The arguments set how many are allowed:
	// "DOMAIN [TARGET]" takes one or two, "FILE..." one or more,
	// "[NAME]..." any number. Flags are not listed here.
	Use string
	// Short is one line for `virtchain help`; Long is optional more.
	Short, Long string
	// JSON says the command accepts --json (env.JSON).
	JSON bool
	// DryRun says the command accepts --dry-run (env.DryRun).
	DryRun bool
	// Changes says the command changes the host: under --readonly it is
	// refused (but not its --dry-run) before libvirt is called.
	Changes bool
	// Complete completes the positional arguments (see complete.go).
	Complete []completer
	// OnDomain says the first argument is a domain: with several hosts it
	// may be HOST:DOMAIN, and picks the host the command runs on.
	OnDomain bool
}

// The traits of a command, kept in its Annotations for help.
const (
	traitJSON   = "virtchain_json"
	traitDryRun = "virtchain_dry_run"
)

// newCommand builds a command that runs run with the positional arguments
// after virtchain's checks: control characters in flags and arguments, help,
// --json and --dry-run only where they mean something, --readonly, and
// the number of arguments. run returns Usagef(...) for bad input the checks
// could not catch (exit 2), any other error for a failure (exit 1). flags
// declares the command's own flags on variables of its options struct.
func newCommand(env *Env, s cmdSpec, flags func(*FlagSet), run func(args []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   s.Use,
		Short: s.Short,
		Long:  s.Long,
		// Counted by runChecked, in virtchain's words.
		Args:        cobra.ArbitraryArgs,
		Annotations: map[string]string{},
	}
	if s.JSON {
		cmd.Annotations[traitJSON] = "true"
	}
	if s.DryRun {
		cmd.Annotations[traitDryRun] = "true"
	}
	fs := newFlagSet(cmd.Flags())
	if flags != nil {
		flags(fs)
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		env.Flags = fs
		err := env.runChecked(c, s, args, run)
		var ue *UsageError
		if errors.As(err, &ue) && ue.Cmd == "" {
			ue.Cmd = commandName(c)
		}
		return err
	}
	if len(s.Complete) > 0 {
		cmd.ValidArgsFunction = env.completeArgs(s)
	} else {
		cmd.ValidArgsFunction = cobra.NoFileCompletions
	}
	return cmd
}

// runChecked is the part of every command between cobra's parsing and
// its run function.
func (e *Env) runChecked(c *cobra.Command, s cmdSpec, pos []string, run func([]string) error) error {
	name := commandName(c)
	spec := argSpec(s.Use)
	if err := checkInput(c.Flags(), e.args); err != nil {
		return err
	}
	if err := checkArgs(spec, pos); err != nil {
		return err
	}
	if e.global.help {
		return writeCommandHelp(e.Stdout, c)
	}
	e.applyGlobals()
	if e.JSON && !s.JSON {
		return Usagef("'%s' does not print JSON; drop --json", name)
	}
	if e.DryRun && !s.DryRun {
		return Usagef("'%s' changes nothing, so it has no --dry-run", name)
	}
	if s.Changes && e.ReadOnly && !e.DryRun {
		return model.RefuseReadOnly("run virtchain " + name)
	}
	lo, hi := argBounds(spec)
	if len(pos) < lo {
		return Usagef("'%s' needs %s", name, strings.Join(missingArgs(spec, len(pos)), " "))
	}
	if hi >= 0 && len(pos) > hi {
		return Usagef("'%s' takes %s; unexpected %q", name, argsOrNothing(spec), strings.Join(pos[hi:], " "))
	}
	if err := e.pickHosts(s, pos); err != nil {
		return err
	}
	return run(pos)
}

// newGroup builds a command that only holds subcommands ("snapshot",
// "lab"): alone, or with a word that is none of them, it is bad usage.
func newGroup(env *Env, name, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: name, Short: short, Args: cobra.ArbitraryArgs, ValidArgsFunction: cobra.NoFileCompletions}
	g.AddCommand(subs...)
	g.RunE = func(c *cobra.Command, args []string) error {
		if err := checkInput(c.Flags(), env.args); err != nil {
			return err
		}
		if env.global.help {
			return writeGroupHelp(env.Stdout, c)
		}
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		if len(args) > 0 {
			return &UsageError{Msg: fmt.Sprintf("unknown command '%s %s'; '%s' takes one of: %s", name, args[0], name, strings.Join(names, ", "))}
		}
		return &UsageError{Msg: fmt.Sprintf("'%s' needs a subcommand: %s", name, strings.Join(names, ", "))}
	}
	return g
}

// commandName is the command's words without the program's: "snapshot
// create".
func commandName(c *cobra.Command) string {
	p := c.CommandPath()
	if c.HasParent() {
		p = strings.TrimPrefix(p, c.Root().Name()+" ")
	}
	return p
}

// argSpec is the ARGS part of a Use line.
func argSpec(use string) string {
	_, args, _ := strings.Cut(strings.TrimSpace(use), " ")
	return strings.TrimSpace(args)
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

func missingArgs(spec string, have int) []string {
	var need []string
	for _, w := range strings.Fields(spec) {
		if !strings.HasPrefix(w, "[") {
			need = append(need, strings.TrimSuffix(w, "..."))
		}
	}
	return need[min(have, len(need)):]
}

func argsOrNothing(spec string) string {
	if strings.TrimSpace(spec) == "" {
		return "no arguments"
	}
	return spec
}
