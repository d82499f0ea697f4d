package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
)

// lazyBin is the binary as `make build` makes it ($VIRTCHAIN_BIN, or a
// build through scripts/libvirt_lazy.sh): a plain `go build` keeps the
// module's eager init, which is what this test must catch.
func lazyBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("VIRTCHAIN_BIN"); b != "" {
		return b
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "libvirt_lazy.sh")).Output()
	if err != nil {
		t.Fatalf("scripts/libvirt_lazy.sh: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "virtchain")
	cmd := exec.Command("go", "build", "-modfile", strings.TrimSpace(string(out)), "-tags", "libvirt_dlopen", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// loadsLibvirt runs the binary with the dynamic loader's file trace on and
// reports whether libvirt.so.0 was loaded into the process.
func loadsLibvirt(t *testing.T, bin string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LD_DEBUG=files", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("virtchain %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.Contains(stderr.String(), "file=libvirt.so.0")
}

// Commands that never connect start without loading libvirt.so.0 (its 56
// libraries cost more than the whole 5 ms start-up budget); a command that
// connects loads it, and libvirt's own error printer stays silent.
func TestIntegrationStartupLoadsNoLibvirt(t *testing.T) {
	testhost.Need(t)
	bin := lazyBin(t)
	for _, args := range [][]string{{"version"}, {"help"}, {"completion", "bash"}, {"--version"}, {"list", "--help"}, {"man"}, {"history"}, {"-c", "qemu:///system", "help", "list"}} {
		if loadsLibvirt(t, bin, args...) {
			t.Errorf("virtchain %s loaded libvirt.so.0; it never talks to libvirt", strings.Join(args, " "))
		}
	}
	if !loadsLibvirt(t, bin, "-c", testhost.URI(), "list", "--json") {
		t.Errorf("virtchain list did not load libvirt.so.0: the loader trace is not what this test reads")
	}

	// The error printer the module's init used to silence: a failed
	// connection is virtchain's one line, with no "libvirt: ..." line.
	cmd := exec.Command(bin, "-c", "qemu:///vc12s-nowhere", "list")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("list on qemu:///vc12s-nowhere succeeded:\n%s", out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || strings.HasPrefix(lines[0], "libvirt:") {
		t.Errorf("a failed connection printed %d lines, want virtchain's one:\n%s", len(lines), out)
	}
}

// VIRTCHAIN_TIMINGS=1 makes a command say when each of its steps ended,
// in order, on stderr; without it nothing of the kind is printed, and the
// output is the same either way.
func TestIntegrationTimingsSteps(t *testing.T) {
	testhost.Need(t)
	bin := lazyBin(t)
	run := func(timings bool) (stdout, stderr string) {
		cmd := exec.Command(bin, "-c", testhost.URI(), "list", "--json")
		cmd.Env = os.Environ()
		if timings {
			cmd.Env = append(cmd.Env, "VIRTCHAIN_TIMINGS=1")
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("list --json (timings %v): %v\n%s", timings, err, errb.String())
		}
		return out.String(), errb.String()
	}
	plainOut, plainErr := run(false)
	if strings.Contains(plainErr, "timing") {
		t.Errorf("without VIRTCHAIN_TIMINGS, stderr has timings:\n%s", plainErr)
	}
	out, stderr := run(true)
	if !json.Valid([]byte(out)) || (len(out) == 0) != (len(plainOut) == 0) {
		t.Errorf("with VIRTCHAIN_TIMINGS, stdout is not the JSON list:\n%.300s", out)
	}
	want := []string{"libvirt loaded", "connected", "domains listed", "bulk facts", "domains read", "command done", "connections closed"}
	if testhost.OverSSH() {
		// A remote one-shot read keeps the event loop, for keepalive.
		want = append([]string{"libvirt loaded", "event loop"}, want[1:]...)
	}
	var got []string
	last := -1.0
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var ms float64
		var step string
		rest, ok := strings.CutPrefix(line, "virtchain: timing: ")
		if !ok {
			t.Errorf("stderr line that is not a timing: %q", line)
			continue
		}
		at, name, _ := strings.Cut(rest, " ms ")
		if _, err := fmt.Sscan(at, &ms); err != nil || ms < last {
			t.Errorf("timing %q: not a time at or after the one before (%.2f ms)", line, last)
		}
		last, step = ms, name
		got = append(got, step)
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("steps %q, want %q", got, want)
	}
}
