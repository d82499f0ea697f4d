package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The built binary on a host where libvirt.so.0 cannot be loaded: this
// test runs itself again in a private mount namespace, lays an empty file
// over the real library there, and execs virtchain. The user must get one
// line with the install hint and status 1, never a stack trace.
func TestIntegrationNoLibvirtLibrary(t *testing.T) {
	if lib := os.Getenv("VCT_CLI_MASK_LIB"); lib != "" {
		// Child, alone in its mount namespace (Go made "/" private).
		empty := os.Getenv("VCT_CLI_MASK_WITH")
		if err := syscall.Mount(empty, lib, "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("bind %s over %s: %v", empty, lib, err)
		}
		argv := strings.Split(os.Getenv("VCT_CLI_MASK_ARGV"), "\x1f")
		err := syscall.Exec(argv[0], argv, []string{"PATH=/usr/bin:/bin", "LIBVIRT_DEFAULT_URI="})
		t.Fatalf("exec %s: %v", argv[0], err)
	}
	needIntegration(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind-mount over the library")
	}
	lib := libvirtSOPath(t)
	bin := virtchainBin(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "libvirt.so.0")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(self, "-test.run=^TestIntegrationNoLibvirtLibrary$")
		cmd.Env = []string{"VCT_CLI_MASK_LIB=" + lib, "VCT_CLI_MASK_WITH=" + empty,
			"VCT_CLI_MASK_ARGV=" + strings.Join(append([]string{bin}, args...), "\x1f")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	for _, args := range [][]string{{"list"}, {"-c", "test:///default", "chain", "test", "--json"}} {
		code, stdout, stderr := run(args...)
		if code != 1 || stdout != "" {
			t.Errorf("%q without libvirt.so.0: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			continue
		}
		wantOneLine(t, stderr, "cannot connect to ", "libvirt.so.0", "apt-get install libvirt0")
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%q: stack trace: %q", args, stderr)
		}
	}
	// The same binary with the library in place works: the mask, not
	// something else, made it fail.
	if out, err := exec.Command(bin, "-c", "test:///default", "--readonly", "list").CombinedOutput(); err != nil {
		t.Fatalf("with the library: %v\n%s", err, out)
	}
}

// libvirtSOPath is the file the dynamic loader opens for libvirt.so.0.
func libvirtSOPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ldconfig", "-p").Output()
	if err != nil {
		t.Fatalf("ldconfig -p: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "libvirt.so.0 ") {
			if i := strings.Index(line, "=> "); i >= 0 {
				p, err := filepath.EvalSymlinks(strings.TrimSpace(line[i+3:]))
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
		}
	}
	t.Fatalf("ldconfig -p lists no libvirt.so.0:\n%s", out)
	return ""
}

// The built binary as a user the system daemon refuses: one line naming
// the URI, libvirt's cause and a fix that can work; a read-only attempt is
// not told to pass --readonly.
func TestIntegrationDeniedAsNobody(t *testing.T) {
	needIntegration(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run virtchain as nobody")
	}
	src := virtchainBin(t)
	dir, err := os.MkdirTemp("/var/tmp", "vct-cli-denied-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "virtchain")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-c", "qemu:///system", "list"}, {"-c", "qemu:///system", "--readonly", "list"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stdout.Len() != 0 {
			t.Errorf("%q as nobody: %v, stdout %q, stderr %q", args, err, stdout.String(), stderr.String())
			continue
		}
		wantOneLine(t, stderr.String(), "cannot connect to qemu:///system: ", "as root")
		if args[2] == "--readonly" && strings.Contains(stderr.String(), "pass --readonly") {
			t.Errorf("read-only attempt told to pass --readonly: %q", stderr.String())
		}
	}
}
