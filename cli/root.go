package cli

import (
	"context"
	"errors"
	"io"
	"strings"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"virtchain/libvirtx"
)

// globalOptions holds the flags every command accepts. They are the root's
// persistent flags, so they may come before or after the command's words.
type globalOptions struct {
	// connect is every -c URI in the order typed; hosts every --host word.
	connect  []string
	hosts    []string
	readonly bool
	json     bool
	dryRun   bool
	help     bool
}

// lastConnect is the last -c URI, or "". With several -c it is Env.URI,
// as when -c could be given once and the last one won; the commands that
// take several hosts use hostSpecs.
func (g *globalOptions) lastConnect() string {
	if n := len(g.connect); n > 0 {
		return g.connect[n-1]
	}
	return ""
}

func (g *globalOptions) define(f *FlagSet) {
	f.StringsVar(&g.connect, "c,connect", "URI", "libvirt URI (default: $LIBVIRT_DEFAULT_URI, else qemu:///system); repeat it for several hosts")
	f.StringsVar(&g.hosts, "host", "NAME", "a host from the hosts file ~/.config/virtchain/hosts.toml; repeat it or give a comma list; all: every host")
	f.BoolVar(&g.readonly, "readonly", "open a read-only connection: nothing can change")
	f.BoolVar(&g.json, "json", "print JSON instead of a table")
	f.BoolVar(&g.dryRun, "dry-run", "print the plan and the equivalent virsh command; change nothing")
	f.add((*helpValue)(&g.help), "h,help", "", "show help").NoOptDefVal = "true"
}

// helpValue is --help. It always reads "false" to cobra, so cobra never
// takes the help path itself (where fang would draw the root's help in a
// layout of its own); runChecked prints virtchain's help instead, after the
// same flag checks as any run.
type helpValue bool

func (h *helpValue) Set(s string) error { return (*boolValue)(h).Set(s) }
func (h *helpValue) String() string     { return "false" }
func (h *helpValue) Type() string       { return "bool" }

const tuiAnnotation = "virtchain_tui"

// applyGlobals copies the parsed global flags into the Env.
func (e *Env) applyGlobals() {
	e.URI = libvirtx.ResolveURI(e.global.lastConnect())
	e.ReadOnly = e.global.readonly
	e.JSON = e.global.json
	e.DryRun = e.global.dryRun
}

// NewCmdRoot builds the whole command tree on env. Nothing in it connects
// until a command's run function calls env.Conn.
func NewCmdRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "virtchain",
		Short: "explore and reshape the backing chains and snapshots of libvirt domains",
		Long: "Without a command virtchain opens the terminal UI; flags may come before or\n" +
			"after a command's ARGS. Exit status: 0 ok, 1 error, 2 bad usage.",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		SilenceErrors:     true,
		SilenceUsage:      true,
	}
	env.global.define(newFlagSet(root.PersistentFlags()))
	rf := newFlagSet(root.Flags())
	env.tui.define(rf)
	// Until now the root has only the terminal UI's flags; mark them, so a
	// bad one before a command is named as such.
	root.Flags().VisitAll(func(f *pflag.Flag) { _ = root.Flags().SetAnnotation(f.Name, tuiAnnotation, []string{"true"}) })
	var version bool
	rf.BoolVar(&version, "v,version", "print virtchain's version")
	root.SetVersionTemplate("virtchain {{.Version}}\n")
	root.RunE = func(c *cobra.Command, args []string) error { return env.runRoot(c, args) }
	root.SetFlagErrorFunc(env.flagError)
	_ = root.RegisterFlagCompletionFunc("domain", env.completeWith(completeDomain))
	_ = root.RegisterFlagCompletionFunc("connect", cobra.NoFileCompletions)

	root.SetHelpCommand(NewCmdHelp(env, root))
	root.AddCommand(
		NewCmdList(env), NewCmdChain(env), NewCmdSnapshots(env), NewCmdCheck(env),
		newGroup(env, "snapshot", "create, revert or delete a snapshot",
			NewCmdSnapshotCreate(env), NewCmdSnapshotRevert(env), NewCmdSnapshotDelete(env)),
		NewCmdSave(env), NewCmdRestore(env), NewCmdManagedSave(env), NewCmdManagedSaveRemove(env), NewCmdStart(env),
		NewCmdCommit(env), NewCmdPull(env), NewCmdJobs(env), NewCmdAbort(env), NewCmdBandwidth(env), NewCmdCleanup(env), NewCmdOrphans(env),
		newGroup(env, "lab", "build or remove the demo lab", NewCmdLabUp(env), NewCmdLabDown(env)),
		NewCmdHistory(env), NewCmdVersion(env), NewCmdMan(env, root),
	)
	// Made now rather than by cobra at Execute, so that it gets virtchain's
	// help like every other command; it keeps the writer it sees now.
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.InitDefaultCompletionCmd()
	wordCompletion(root)
	setHelp(root)
	return root
}

// wordCompletion words cobra's completion commands as the others are
// worded: lower case, what it prints, and how to load it.
func wordCompletion(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Short = "print a shell's completion script; it completes names from the connection"
		for _, sh := range c.Commands() {
			sh.Short = "the completion script for " + sh.Name()
		}
	}
}

// setHelp gives every command below the root virtchain's help. (fang sets
// the root's own, which --help never reaches: see helpValue.)
func setHelp(root *cobra.Command) {
	for _, c := range root.Commands() {
		c.SetHelpFunc(func(c *cobra.Command, _ []string) { _ = writeCommandOrGroupHelp(c.OutOrStdout(), c) })
		setHelp(c)
	}
}

// execute runs the tree on args through fang, which adds --version (the
// same line as 'virtchain version') and the completion command. Errors are
// left to Main, which prints one plain line under the signal lock.
//
// fang never sees an error: on one it asks the terminal for its background
// colour (and waits for the answer) before its error handler runs, which
// stalls every failing command on a terminal. So every error cobra can
// return is caught on its way out (catchErrors) and returned from here.
func execute(ctx context.Context, env *Env, root *cobra.Command, args []string) error {
	norm, err := normalizeArgs(root, args)
	if err != nil {
		return err
	}
	root.SetArgs(norm)
	root.InitDefaultHelpCmd()
	if _, _, err := root.Find(norm); err != nil {
		return err
	}
	failed := catchErrors(root, env)
	err = fang.Execute(ctx, root,
		fang.WithVersion(versionInfo().line()),
		fang.WithoutManpage(), // 'virtchain man' writes to the command's stdout
		fang.WithErrorHandler(func(io.Writer, fang.Styles, error) {}),
	)
	if *failed != nil {
		return *failed
	}
	return err
}

// catchErrors makes every command in the tree keep its error (of flags,
// arguments, hooks or run) in the returned place and report none to
// cobra; once one is kept, nothing more runs.
func catchErrors(root *cobra.Command, env *Env) *error {
	var failed error
	keep := func(err error) error {
		if failed == nil {
			failed = err
		}
		return nil
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return keep(env.flagError(c, err)) })
	wrap := func(f func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		return func(c *cobra.Command, args []string) error {
			if failed != nil {
				return nil
			}
			return keep(f(c, args))
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error { return keep(args(c, a)) }
		}
		c.PersistentPreRunE, c.PreRunE = wrap(c.PersistentPreRunE), wrap(c.PreRunE)
		c.RunE, c.PostRunE, c.PersistentPostRunE = wrap(c.RunE), wrap(c.PostRunE), wrap(c.PersistentPostRunE)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return &failed
}

// runRoot is virtchain without a command: the terminal UI.
func (e *Env) runRoot(c *cobra.Command, args []string) error {
	if err := checkInput(c.Flags(), e.args); err != nil {
		return err
	}
	if len(args) > 0 {
		if e.tui.set() {
			return tuiOnly(args[0])
		}
		return Usagef("unknown command %q", args[0])
	}
	if e.global.help {
		return writeHelp(e.Stdout, c)
	}
	if e.global.json || e.global.dryRun {
		return Usagef("--json and --dry-run need a command, such as 'virtchain list --json'")
	}
	e.applyGlobals()
	// One host named by --host is the TUI's connection, as with -c; the
	// TUI reads several from hostSpecs itself.
	specs, err := e.hostSpecs()
	if err != nil {
		return err
	}
	if len(specs) == 1 {
		e.URI = specs[0].URI
	}
	return runTUI(e, e.tui)
}

func tuiOnly(cmd string) error {
	return Usagef("--domain, --no-color, --inline and --no-mouse are for the terminal UI, not for '%s'", cmd)
}

// flagError words cobra's flag errors as virtchain's usage errors. A
// terminal UI flag before a command's name is named as such.
func (e *Env) flagError(c *cobra.Command, err error) error {
	ue := usageFromFlagError(err, e.args)
	var ne *pflag.NotExistError
	if c.HasParent() && errors.As(err, &ne) {
		first := strings.Fields(commandName(c))[0]
		if fl := c.Root().Flags().Lookup(ne.GetSpecifiedName()); fl != nil && fl.Annotations[tuiAnnotation] != nil &&
			typedBefore(e.args, fl.Name, first) {
			return tuiOnly(first)
		}
	}
	if c.HasParent() {
		ue.Cmd = commandName(c)
	}
	return ue
}

// typedBefore reports whether flag name appears in args before word.
func typedBefore(args []string, name, word string) bool {
	for _, a := range args {
		switch {
		case a == word || a == "--":
			return false
		case strings.HasPrefix(a, "-"):
			if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == name {
				return true
			}
		}
	}
	return false
}

// normalizeArgs is the argument pre-pass: it reads args as virtchain has
// always read them (parseOld, in flags.go: Go's flag rules, global flags
// before the command's name and its own anywhere after it) and hands cobra
// the result in one shape it cannot read differently: the command's words,
// every flag as --name=value in the order typed, "--", the positional
// arguments. Bad usage found there is returned as virtchain words it;
// cobra's own completion requests and the completion commands pass through
// as typed.
func normalizeArgs(root *cobra.Command, args []string) ([]string, error) {
	if len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		return args, nil
	}
	p, err := parseOld(root, args)
	if err != nil || p.passThrough {
		return args, err
	}
	out := append([]string(nil), p.words...)
	for _, f := range p.flags {
		out = append(out, "--"+f.name+"="+f.value)
	}
	if len(p.words) == 0 {
		return out, nil
	}
	return append(append(out, "--"), p.pos...), nil
}
