package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// envOtherURI names a second libvirt host for tests that connect to two
// at once; without it Other asks scripts/testhost.sh for the Debian 13
// root (trixie), or the machine's own libvirtd when that is under test.
const envOtherURI = "VIRTCHAIN_TEST_OTHER_URI"

// Other is a second host beside the one under test, for tests of several
// hosts at once: its name and URI. It skips t (after Need) when that host
// does not answer, saying how to start it. It is never stopped here.
func Other(t testing.TB) (name, uri string) {
	t.Helper()
	Need(t)
	name, uri = "other", os.Getenv(envOtherURI)
	switch {
	case uri != "":
	case Name() != "local":
		name, uri = "local", "qemu:///system"
	default:
		name = "trixie"
		root, ok := repoRoot()
		if !ok {
			t.Skip("test of two hosts: cannot find scripts/testhost.sh above the test's folder; set " + envOtherURI)
		}
		out, err := exec.Command("bash", filepath.Join(root, "scripts", "testhost.sh"), "uri", "trixie").Output()
		if err != nil {
			t.Skip("test of two hosts: 'scripts/testhost.sh uri trixie' failed; set " + envOtherURI)
		}
		uri = strings.TrimSpace(string(out))
	}
	if exec.Command("timeout", "10", "virsh", "-c", uri, "version").Run() != nil {
		t.Skip("test of two hosts: the second host does not answer on " + uri + " (start it with 'bash scripts/testhost.sh up trixie', or set " + envOtherURI + ")")
	}
	return name, uri
}

// repoRoot is the nearest folder at or above the working directory that
// holds scripts/testhost.sh: the source tree.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "testhost.sh")); err == nil {
			return dir, true
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", false
		}
		dir = up
	}
}
