package cli

import (
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
