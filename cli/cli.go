// Package cli holds virtchain's subcommands and starts the TUI when none is
// given. It uses the same model and libvirtx code as the TUI.
//
// The commands are a cobra tree run by fang (root.go): each NewCmdX builds
// one command around its own options struct (command.go), and its run
// function gets an *Env that opens the libvirt connection on first use.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
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

	// global and tui are bound to the root's flags; args is the command
	// line as typed, for messages that quote a flag.
	global globalOptions
	tui    tuiFlags
	args   []string

	// multi holds the hosts when several are named (-c, --host) and the
	// command has not picked one (see pickHosts); Conn refuses then.
	multi []hostSpec
	// fleet are all the hosts named, before pickHosts picks one; peers
	// the guard hosts dialed for the connection (hosts_guard.go).
	fleet   []hostSpec
	peers   []*lazyPeer
	conn    *libvirtx.Conn
	connErr error
	// query: the command reads once and ends (list, chain, snapshots,
	// check), so its connections open with libvirtx.OpenQuery.
	query bool
	// signals ends virtchain when a signal comes during a blocked call.
	signals *interrupt
}

// Conn opens the connection on first use and returns the same one after.
// Its error is already one line naming the URI, the cause and the fix
// (*libvirtx.ConnectError): return it as it is.
func (e *Env) Conn() (*libvirtx.Conn, error) {
	if len(e.multi) > 1 {
		return nil, e.severalHosts()
	}
	if e.conn == nil && e.connErr == nil {
		if e.signals != nil {
			e.signals.uri.Store(&e.URI)
		}
		e.conn, e.connErr = e.open(e.URI, e.ReadOnly)
		if e.conn != nil {
			e.setPeers(e.conn)
		}
		if e.signals != nil {
			e.signals.conn.Store(e.conn)
		}
	}
	return e.conn, e.connErr
}

// openConn is where every connection virtchain makes is opened; tests
// replace it to see which commands connect, and how. openQuery is the
// one-shot reads' (Env.query).
var (
	openConn  = libvirtx.Open
	openQuery = libvirtx.OpenQuery
)

// readOnce marks the running command as a one-shot read (Env.query). Its
// heap may also grow to five times what is live before a collection,
// not twice: such a command builds one model of the host, prints it and
// exits, so collections find little to free. On 500 domains that is a
// fifth of `list --json` (207 ms, 165 ms at 400) for 15 MB more memory.
// A GOGC the admin set stays.
//
// It also runs Go code on twice as many threads as it may use CPUs:
// discovery's workers wait in libvirt's calls (cgo), and a thread waiting
// there keeps its slot until Go's monitor hands it on, while another
// worker has headers to read. On 500 domains that is 7-10% of `list
// --json`. A GOMAXPROCS the admin set stays too.
func (e *Env) readOnce() {
	e.query = true
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * defaultProcs)
	}
}

// defaultProcs is Go's GOMAXPROCS before readOnce changed it (it counts
// the CPUs a cgroup allows); kept so that several commands in one
// process (the tests) do not double it each time.
var defaultProcs = runtime.GOMAXPROCS(0)

// open opens a connection of the running command: see Env.query.
func (e *Env) open(uri string, readonly bool) (*libvirtx.Conn, error) {
	if e.query {
		return openQuery(uri, readonly)
	}
	return openConn(uri, readonly)
}

func (e *Env) close() {
	for _, p := range e.peers {
		p.close()
	}
	e.peers = nil
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

// Main runs virtchain with args (without the program name) and returns the
// exit status: 0 when it worked, 1 on an error, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	return run(args, stdout, stderr, nil)
}

// run is Main with extra commands added to the tree (the tests' own).
func run(args []string, stdout, stderr io.Writer, extra func(*Env) []*cobra.Command) (status int) {
	ctx, signals := watchSignals(stderr)
	defer signals.stop()
	times := newTimings()
	defer times.print(stderr)
	env := &Env{Ctx: ctx, Stdout: stdout, Stderr: stderr, signals: signals, args: args}
	// A panic anywhere is a bug, but the user still gets one line, not a
	// stack trace.
	defer func() {
		if r := recover(); r != nil {
			env.close()
			printf(stderr, "virtchain: internal error: %s\n", model.OneLine(fmt.Sprint(r)))
			status = 1
		}
	}()
	defer func() {
		times.step("command done")
		env.close()
		times.step("connections closed")
	}()

	root := NewCmdRoot(env)
	if extra != nil {
		root.AddCommand(extra(env)...)
		setHelp(root)
	}
	err := execute(ctx, env, root, args)
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
		printf(stderr, "virtchain: %s (see '%s')\n", model.OneLine(ue.Msg), hint)
		return 2
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C or SIGTERM: say so rather than "context canceled", and
		// name a call libvirtd may still be running (the TUI's).
		fmt.Fprintln(stderr, in.interrupted())
		return 1
	}
	printf(stderr, "virtchain: %s\n", model.OneLine(err.Error()))
	return 1
}
