package cli

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// onTerminal runs bin with args on a new terminal that never answers a
// query, with env added, and returns what the terminal got. It fails when
// virtchain takes more than two seconds: waiting for an answer.
func onTerminal(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), env...)
	var got syncBuffer
	go func() { _, _ = io.Copy(&got, master) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%q with %q still running after 2s; the terminal got %q", args, env, got.String())
	}
	time.Sleep(100 * time.Millisecond) // the rest of the output
	return got.String()
}

// An error on a terminal is one line, at once: nothing asks the terminal
// for its colours (fang does on its error path) and waits for an answer.
func TestErrorsNeverQueryTheTerminal(t *testing.T) {
	bin := virtchainBin(t)
	for _, env := range [][]string{nil, {"NO_COLOR=1"}, {"TERM=dumb"}} {
		for _, args := range [][]string{
			{"-c", "test:///default", "chain", "nosuch"}, // exit 1
			{"bogus"},                         // exit 2, found before cobra
			{"list", "--json=yes"},            // exit 2
			{"-c", "test:///default", "help"}, // help
			{"-c", "test:///default", "list", "--help"},
		} {
			got := onTerminal(t, bin, env, args...)
			if strings.Contains(got, "\x1b]11;?") || strings.Contains(got, "\x1b[c") {
				t.Errorf("%q with %q asked the terminal: %q", args, env, got)
			}
		}
	}
}

// Help on a terminal may be coloured, but NO_COLOR (any value but empty),
// TERM=dumb and --no-color leave no escape at all.
func TestHelpWithoutColour(t *testing.T) {
	bin := virtchainBin(t)
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"NO_COLOR=1"}, []string{"help"}},
		{[]string{"NO_COLOR=0"}, []string{"help", "list"}},
		{[]string{"TERM=dumb"}, []string{"list", "--help"}},
		{[]string{"TERM=dumb"}, []string{"help", "snapshot"}},
		{nil, []string{"--no-color", "--help"}},
	} {
		if got := onTerminal(t, bin, tc.env, tc.args...); strings.Contains(got, "\x1b") || strings.TrimSpace(got) == "" {
			t.Errorf("%q with %q: %q, want help without escapes", tc.args, tc.env, got)
		}
	}
	if got := onTerminal(t, bin, nil, "help"); !strings.Contains(got, "\x1b[") {
		t.Errorf("help on a terminal has no colour: %q", got)
	}
}

// A pipe never gets escapes, CLICOLOR_FORCE or not.
func TestPipedHelpIsPlain(t *testing.T) {
	t.Setenv("CLICOLOR_FORCE", "1")
	for _, args := range [][]string{{"help"}, {"help", "list"}, {"help", "lab"}, {"chain", "--help"}} {
		if _, stdout, _ := runMain(t, args...); strings.Contains(stdout, "\x1b") {
			t.Errorf("%q: escapes in a pipe: %q", args, stdout)
		}
	}
}
