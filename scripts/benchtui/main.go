// Command benchtui measures what virtchain's terminal UI writes while a
// block job runs: it starts the UI in an 80x24 pseudo-terminal, waits for
// the jobs panel (the UI re-attaches to the running job), then counts for
// a while the bytes written to the terminal and the redraws (bursts of
// output separated by a quiet gap). Targets (issue 4): at most 10 redraws
// and 4 KiB a second. It exits 1 when a target is missed.
//
//	go run ./scripts/benchtui -bin ./virtchain -domain vct-uijob-bench-test2
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// gap is the quiet time that ends one redraw: a frame is written in one go,
// frames come at least 1/60 s apart.
const gap = 8 * time.Millisecond

type chunk struct {
	at time.Time
	n  int
}

func main() {
	bin := flag.String("bin", "./virtchain", "the virtchain binary")
	uri := flag.String("c", "qemu:///system", "libvirt URI")
	domain := flag.String("domain", "", "domain to open (its job should be running)")
	secs := flag.Float64("seconds", 10, "how long to measure")
	flag.Parse()
	if err := run(*bin, *uri, *domain, time.Duration(*secs*float64(time.Second))); err != nil {
		fmt.Fprintln(os.Stderr, "benchtui:", err)
		os.Exit(1)
	}
}

func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return nil, nil, err
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	err = unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	return master, slave, err
}

// screen records what the UI writes to its terminal, with the time each
// read returned.
type screen struct {
	mu     sync.Mutex
	all    bytes.Buffer
	chunks []chunk
}

func (s *screen) record(master *os.File) {
	buf := make([]byte, 1<<16)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.all.Write(buf[:n])
			s.chunks = append(s.chunks, chunk{time.Now(), n})
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (s *screen) seen(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.all.Bytes(), []byte(text))
}

// mark is where a measuring window starts; since returns the chunks read
// after it.
func (s *screen) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunks)
}

func (s *screen) since(mark int) []chunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]chunk(nil), s.chunks[mark:]...)
}

func (s *screen) tail(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.all.Bytes()[max(s.all.Len()-n, 0):]...)
}

// ui is virtchain running in a pseudo-terminal of its own.
type ui struct {
	master *os.File
	cmd    *exec.Cmd
	done   chan error
	screen *screen
}

func startUI(bin, uri, domain string) (*ui, error) {
	master, slave, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("pseudo-terminal: %w", err)
	}
	args := []string{"-c", uri}
	if domain != "" {
		args = append(args, "--domain", domain)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "COLORTERM=truecolor")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, err
	}
	slave.Close()
	u := &ui{master: master, cmd: cmd, done: make(chan error, 1), screen: &screen{}}
	go func() { u.done <- cmd.Wait() }()
	go u.screen.record(master)
	return u, nil
}

// close kills the UI if it is still running.
func (u *ui) close() {
	if u.cmd.ProcessState == nil {
		_ = u.cmd.Process.Kill()
		<-u.done
	}
	u.master.Close()
}

// waitFor waits until text is on the screen, the UI ends, or limit passes.
func (u *ui) waitFor(text string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !u.screen.seen(text) {
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case err := <-u.done:
			return fmt.Errorf("virtchain ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

var errTimeout = errors.New("timed out")

// quit sends ctrl+c, which quits whatever dialog is open (a job that just
// ended opens one), and waits for the UI to end.
func (u *ui) quit() error {
	if _, err := u.master.Write([]byte{3}); err != nil {
		return err
	}
	select {
	case <-u.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("ctrl+c did not quit; the terminal's last output: %q", u.screen.tail(600))
	}
}

func run(bin, uri, domain string, dur time.Duration) error {
	u, err := startUI(bin, uri, domain)
	if err != nil {
		return err
	}
	defer u.close()
	if err := u.waitFor("Block jobs", 30*time.Second); errors.Is(err, errTimeout) {
		return fmt.Errorf("the jobs panel did not show within 30 s (is a job running on %s?)", domain)
	} else if err != nil {
		return err
	}
	time.Sleep(time.Second) // the first full frames are not the steady state
	from := u.screen.mark()
	start := time.Now()
	time.Sleep(dur)
	end := time.Now()
	window := u.screen.since(from)
	if err := u.quit(); err != nil {
		return err
	}

	bytesN, starts := redraws(window, end)
	frames := len(starts)
	secs := end.Sub(start).Seconds()
	fps, bps := float64(frames)/secs, float64(bytesN)/secs
	maxPerSec := mostInASecond(starts)
	fmt.Printf("tui: %.1f s of a running block job at 80x24: %d redraws (%.1f/s, at most %d in any second), %d bytes (%.0f B/s)\n",
		secs, frames, fps, maxPerSec, bytesN, bps)
	if frames == 0 {
		return fmt.Errorf("no redraw at all: the job's progress did not reach the screen")
	}
	if maxPerSec > 10 || bps > 4096 {
		return fmt.Errorf("over budget: at most 10 redraws and 4096 bytes a second")
	}
	return nil
}

// redraws counts the bytes written up to end and finds where each redraw
// starts: a chunk after a quiet gap.
func redraws(window []chunk, end time.Time) (bytesN int, starts []time.Time) {
	var last time.Time
	for _, c := range window {
		if c.at.After(end) {
			break
		}
		bytesN += c.n
		if last.IsZero() || c.at.Sub(last) > gap {
			starts = append(starts, c.at)
		}
		last = c.at
	}
	return bytesN, starts
}

// mostInASecond is the most redraws that start within any one second.
func mostInASecond(starts []time.Time) int {
	most := 0
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}
