package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"virtchain/libvirtx"
)

// signalGrace is how long virtchain waits, after SIGINT or SIGTERM, for a
// command to end on its own (waits stop when Env.Ctx is cancelled). A
// libvirt C call cannot be cancelled, so after that virtchain says what may
// still be running in libvirtd and exits: within 2 seconds in all.
const signalGrace = time.Second

// interrupt is the signal side of one Main: it cancels the context on the
// first SIGINT or SIGTERM and, when Main has not ended after signalGrace
// (or on a second signal), ends the process itself.
type interrupt struct {
	cancel context.CancelFunc
	stderr io.Writer
	sigs   chan os.Signal
	done   chan struct{}

	// mu is held by whoever ends virtchain: Main printing its own last
	// line, or the signal side exiting. Only one of them speaks.
	mu       sync.Mutex
	finished bool
	status   int

	conn atomic.Pointer[libvirtx.Conn]
	// tty is the terminal state before the TUI took it, while the TUI runs.
	tty atomic.Pointer[unix.Termios]
	uri atomic.Pointer[string]
}

func watchSignals(stderr io.Writer) (context.Context, *interrupt) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &interrupt{cancel: cancel, stderr: stderr, sigs: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(in.sigs, os.Interrupt, syscall.SIGTERM)
	go in.wait()
	return ctx, in
}

func (in *interrupt) wait() {
	select {
	case <-in.done:
		return
	case <-in.sigs:
	}
	in.cancel()
	select {
	case <-in.done:
		return
	case <-in.sigs:
	case <-time.After(signalGrace):
	}
	in.mu.Lock()
	if in.finished {
		// Main has said its last line; only its cleanup is stuck.
		os.Exit(in.status)
	}
	// Never unlocked: Main's own last line waits until the process is gone.
	in.restoreTerminal()
	fmt.Fprintln(in.stderr, in.line())
	os.Exit(1)
}

// last runs Main's last words (which print and return the exit status)
// unless the signal side has taken over; then it waits for the exit, so
// only one last line is printed.
func (in *interrupt) last(words func() int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.status = words()
	in.finished = true
	return in.status
}

// stop ends the watch when Main returns.
func (in *interrupt) stop() {
	signal.Stop(in.sigs)
	close(in.done)
	in.cancel()
}

// interrupted is the last line of a command a signal ended: the call it
// leaves running in libvirtd, if any.
func (in *interrupt) interrupted() string {
	if call, ok := in.conn.Load().InFlight(); ok {
		return inFlightLine(call)
	}
	return "virtchain: interrupted"
}

func inFlightLine(call libvirtx.Call) string {
	return fmt.Sprintf("virtchain: interrupted while libvirtd was %s; it may still be running there (check with %s)", call.Doing, call.Check)
}

// line says what virtchain leaves running in libvirtd when it must exit
// in the middle of a libvirt call.
func (in *interrupt) line() string {
	if call, ok := in.conn.Load().InFlight(); ok {
		return inFlightLine(call)
	}
	where := "libvirtd"
	if u := in.uri.Load(); u != nil && *u != "" {
		where = "libvirtd (" + *u + ")"
	}
	return "virtchain: interrupted while waiting for " + where + "; the call it was answering may still be running there (check with virsh list --all)"
}

// holdTerminal records the terminal state before the TUI takes it, so an
// exit on a signal can give the terminal back even when the TUI could not.
func (in *interrupt) holdTerminal(fd int) (release func()) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	in.tty.Store(t)
	return func() { in.tty.Store(nil) }
}

// restoreTerminal gives the terminal back as the TUI found it: cooked
// mode, main screen, cursor shown, mouse reporting off.
func (in *interrupt) restoreTerminal() {
	t := in.tty.Load()
	if t == nil {
		return
	}
	_ = unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, t)
	fmt.Fprint(os.Stdout, "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?25h\x1b[?1049l")
}
