package testhost

import (
	"fmt"
	"os"
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
