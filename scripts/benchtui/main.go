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

func run(bin, uri, domain string, dur time.Duration) error {
	master, slave, err := openPTY()
	if err != nil {
		return fmt.Errorf("pseudo-terminal: %w", err)
	}
	defer master.Close()
	args := []string{"-c", uri}
	if domain != "" {
		args = append(args, "--domain", domain)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "COLORTERM=truecolor")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return err
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()

	var (
		mu     sync.Mutex
		all    bytes.Buffer
		chunks []chunk
	)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				mu.Lock()
				all.Write(buf[:n])
				chunks = append(chunks, chunk{time.Now(), n})
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(all.Bytes(), []byte(s))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !seen("Block jobs") {
		if time.Now().After(deadline) {
			return fmt.Errorf("the jobs panel did not show within 30 s (is a job running on %s?)", domain)
		}
		select {
		case err := <-done:
			return fmt.Errorf("virtchain ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(time.Second) // the first full frames are not the steady state
	mu.Lock()
	from := len(chunks)
	mu.Unlock()
	start := time.Now()
	time.Sleep(dur)
	end := time.Now()
	mu.Lock()
	window := append([]chunk(nil), chunks[from:]...)
	mu.Unlock()
	// ctrl+c quits whatever dialog is open (a job that just ended opens one).
	if _, err := master.Write([]byte{3}); err != nil {
		return err
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		tail := all.Bytes()[max(all.Len()-600, 0):]
		mu.Unlock()
		return fmt.Errorf("ctrl+c did not quit; the terminal's last output: %q", tail)
	}

	var bytesN, frames, maxPerSec int
	var last time.Time
	var starts []time.Time
	for _, c := range window {
		if c.at.After(end) {
			break
		}
		bytesN += c.n
		if last.IsZero() || c.at.Sub(last) > gap {
			frames++
			starts = append(starts, c.at)
		}
		last = c.at
	}
	for i := range starts {
		n := 0
		for j := i; j < len(starts) && starts[j].Sub(starts[i]) < time.Second; j++ {
			n++
		}
		maxPerSec = max(maxPerSec, n)
	}
	secs := end.Sub(start).Seconds()
	fps, bps := float64(frames)/secs, float64(bytesN)/secs
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
