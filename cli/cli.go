// Package cli holds virtchain's subcommands and starts the TUI when none is
// given. It uses the same model and libvirtx code as the TUI.
//
// Each file registers its commands with register (see Command) from init();
// Main parses the global flags, finds the command, parses its flags (which
// may appear anywhere), checks the number of positional arguments, and runs
// it with an *Env that opens the libvirt connection on first use.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"virtchain/libvirtx"
	"virtchain/model"
)

// UsageError is bad usage: an unknown command or flag, or a wrong number of
// arguments. Main prints it with a pointer to `virtchain help` and exits 2.
type UsageError struct {
	Msg string
	// Cmd is the command's name when known, so the hint can point at
	// `virtchain help CMD`.
	Cmd string
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError (exit status 2).
func Usagef(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// Env is what a command runs with: where to write, the global flags, and
// the libvirt connection, opened on first use and closed when Main returns.
type Env struct {
	// Ctx is cancelled on SIGINT or SIGTERM, so waits (--wait) can stop.
	Ctx            context.Context
	Stdout, Stderr io.Writer
	// URI is the resolved connection URI (-c, LIBVIRT_DEFAULT_URI,
	// qemu:///system).
	URI      string
	ReadOnly bool // --readonly: open a read-only connection
	JSON     bool // --json, for commands with JSON: true
	DryRun   bool // --dry-run, for commands with DryRun: true
	// Flags is the running command's flag set (for Changed).
	Flags *FlagSet

	conn    *libvirtx.Conn
	connErr error
	// signals ends virtchain when a signal comes during a blocked call.
	signals *interrupt
}

// Conn opens the connection on first use and returns the same one after.
// Its error is already one line naming the URI, the cause and the fix
// (*libvirtx.ConnectError): return it as it is.
func (e *Env) Conn() (*libvirtx.Conn, error) {
	if e.conn == nil && e.connErr == nil {
		if e.signals != nil {
			e.signals.uri.Store(&e.URI)
		}
		e.conn, e.connErr = libvirtx.Open(e.URI, e.ReadOnly)
		if e.signals != nil {
			e.signals.conn.Store(e.conn)
		}
	}
	return e.conn, e.connErr
}

func (e *Env) close() {
	if e.conn != nil {
		_ = e.conn.Close()
		e.conn = nil
	}
}

// StdoutIsTerminal reports whether Stdout is a terminal, for commands that
// draw progress there and print plain lines when piped.
func (e *Env) StdoutIsTerminal() bool { return isTerminal(e.Stdout) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// terminalWidth is w's column count when it is a terminal, else 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// global holds the flags every command accepts.
type global struct {
	connect  string
	readonly bool
	json     bool
	dryRun   bool
	help     bool
}

func (g *global) define(f *FlagSet) {
	f.StringVar(&g.connect, "c,connect", "URI", "libvirt URI (default: $LIBVIRT_DEFAULT_URI, else qemu:///system)")
	f.BoolVar(&g.readonly, "readonly", "open a read-only connection: nothing can change")
	f.BoolVar(&g.json, "json", "print JSON instead of a table")
	f.BoolVar(&g.dryRun, "dry-run", "print the plan and the equivalent virsh command; change nothing")
	f.BoolVar(&g.help, "h,help", "show help")
}

// Main runs virtchain with args (without the program name) and returns the
// exit status: 0 when it worked, 1 on an error, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) (status int) {
	ctx, signals := watchSignals(stderr)
	defer signals.stop()
	env := &Env{Ctx: ctx, Stdout: stdout, Stderr: stderr, signals: signals}
	// A panic anywhere is a bug, but the user still gets one line, not a
	// stack trace.
	defer func() {
		if r := recover(); r != nil {
			env.close()
			printf(stderr, "virtchain: internal error: %s\n", oneLine(fmt.Sprint(r)))
			status = 1
		}
	}()
	defer env.close()

	err := run(env, args)
	return signals.last(func() int { return report(ctx, stderr, err, signals) })
}

// report prints err as Main's last line and returns the exit status.
func report(ctx context.Context, stderr io.Writer, err error, in *interrupt) int {
	if err == nil {
		return 0
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		hint := "virtchain help"
		if ue.Cmd != "" {
			hint += " " + ue.Cmd
		}
		printf(stderr, "virtchain: %s (see '%s')\n", oneLine(ue.Msg), hint)
		return 2
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C or SIGTERM: say so rather than "context canceled", and
		// name a call libvirtd may still be running (the TUI's).
		fmt.Fprintln(stderr, in.interrupted())
		return 1
	}
	printf(stderr, "virtchain: %s\n", oneLine(err.Error()))
	return 1
}

// oneLine folds a multi-line message (some libvirt errors have several) into
// one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.TrimSpace(s)), " ")
}

func run(env *Env, args []string) error {
	// Global flags before the command name.
	var g global
	var tf tuiFlags
	gf := newFlagSet("virtchain")
	g.define(gf)
	tf.define(gf)
	if err := gf.fs.Parse(args); err != nil {
		return usageFromFlagError(err, args)
	}
	if err := gf.checkInput(args); err != nil {
		return err
	}
	rest := gf.fs.Args()
	if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" && len(rest) > 0 {
		return Usagef("unknown command %q", rest[0])
	}

	if len(rest) == 0 {
		if g.help {
			writeHelp(env.Stdout)
			return nil
		}
		if g.json || g.dryRun {
			return Usagef("--json and --dry-run need a command, such as 'virtchain list --json'")
		}
		env.URI, env.ReadOnly = libvirtx.ResolveURI(g.connect), g.readonly
		return runTUI(env, tf)
	}
	if tf.set() {
		return Usagef("--domain, --no-color, --inline and --no-mouse are for the terminal UI, not for '%s'", rest[0])
	}

	// The command's words are the leading non-flag arguments.
	words := 0
	for words < len(rest) && words < 3 && !strings.HasPrefix(rest[words], "-") {
		words++
	}
	cmd, _, group := lookup(rest[:words])
	if cmd == nil {
		if group != "" {
			var names []string
			for _, c := range subcommands(group) {
				names = append(names, strings.TrimPrefix(c.Name, group+" "))
			}
			if words > 1 {
				return &UsageError{Msg: fmt.Sprintf("unknown command '%s %s'; '%s' takes one of: %s", group, rest[1], group, strings.Join(names, ", "))}
			}
			return &UsageError{Msg: fmt.Sprintf("'%s' needs a subcommand: %s", group, strings.Join(names, ", "))}
		}
		return Usagef("unknown command %q", rest[0])
	}
	nameWords := len(strings.Fields(cmd.Name))

	// The command's flags, the globals again, then its own.
	var cg global
	cf := newFlagSet(cmd.Name)
	cg.define(cf)
	if cmd.Flags != nil {
		cmd.Flags(cf)
	}
	pos, err := cf.parse(rest[nameWords:])
	if err == nil {
		err = cf.checkInput(rest[nameWords:])
	}
	if err == nil {
		err = checkArgs(cmd.Args, pos)
	}
	if err != nil {
		err.(*UsageError).Cmd = cmd.Name
		return err
	}
	if g.help || cg.help {
		writeCommandHelp(env.Stdout, cmd)
		return nil
	}
	uerr := func(format string, a ...any) error {
		return &UsageError{Msg: fmt.Sprintf(format, a...), Cmd: cmd.Name}
	}
	if cf.Changed("c,connect") {
		g.connect = cg.connect
	}
	env.URI = libvirtx.ResolveURI(g.connect)
	env.ReadOnly = g.readonly || cg.readonly
	env.JSON = g.json || cg.json
	env.DryRun = g.dryRun || cg.dryRun
	env.Flags = cf
	if env.JSON && !cmd.JSON {
		return uerr("'%s' does not print JSON; drop --json", cmd.Name)
	}
	if env.DryRun && !cmd.DryRun {
		return uerr("'%s' changes nothing, so it has no --dry-run", cmd.Name)
	}
	if cmd.Changes && env.ReadOnly && !env.DryRun {
		return model.RefuseReadOnly("run virtchain " + cmd.Name)
	}
	if len(pos) < cmd.minArgs {
		return uerr("'%s' needs %s", cmd.Name, strings.Join(missingArgs(cmd.Args, len(pos)), " "))
	}
	if cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs {
		extra := pos[cmd.maxArgs:]
		return uerr("'%s' takes %s; unexpected %q", cmd.Name, argsOrNothing(cmd.Args), strings.Join(extra, " "))
	}
	err = cmd.Run(env, pos)
	var ue *UsageError
	if errors.As(err, &ue) && ue.Cmd == "" {
		ue.Cmd = cmd.Name
	}
	return err
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
