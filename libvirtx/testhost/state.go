package testhost

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RunWithOwnState runs a package's tests with VIRTCHAIN_STATE_HOME set to a
// fresh folder, removed afterwards, unless the caller set one. The journal
// and job intents the tests write then stay out of root's real ones, which
// an admin reads with `virtchain history`. The binaries and TUIs the tests
// start inherit it.
func RunWithOwnState(m *testing.M) int {
	if _, set := os.LookupEnv("VIRTCHAIN_STATE_HOME"); set {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "virtchain-test-state-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testhost: no state folder of the tests' own (%v): set VIRTCHAIN_STATE_HOME\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("VIRTCHAIN_STATE_HOME", dir); err != nil {
		fmt.Fprintf(os.Stderr, "testhost: %v\n", err)
		return 1
	}
	return m.Run()
}

// WithoutStateHome unsets VIRTCHAIN_STATE_HOME for the test (restored at
// its end), for a test of where virtchain keeps its state by default, and
// returns the folder virtchain then uses as its state base.
func WithoutStateHome(t testing.TB) string {
	t.Helper()
	old, had := os.LookupEnv("VIRTCHAIN_STATE_HOME")
	if err := os.Unsetenv("VIRTCHAIN_STATE_HOME"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv("VIRTCHAIN_STATE_HOME", old)
		}
	})
	return StateBase()
}

// StateBase is the folder under which virtchain keeps its state (its
// virtchain/ folder) in the tests' environment: VIRTCHAIN_STATE_HOME, else
// /var/lib for root, else XDG_STATE_HOME or ~/.local/state.
func StateBase() string {
	if d, ok := os.LookupEnv("VIRTCHAIN_STATE_HOME"); ok {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib"
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return x
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state")
}
