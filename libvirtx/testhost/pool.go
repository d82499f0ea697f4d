package testhost

import "testing"

// Pool creates a transient directory pool name over dir on the host
// (through its own socket) and destroys it in t.Cleanup: over a remote
// connection the storage API reads and creates images only in pools.
// Tests of remote connections in every package share it.
func Pool(t testing.TB, name, dir string) {
	t.Helper()
	Virsh(t, "pool-create-as", name, "dir", "--target", dir)
	t.Cleanup(func() { VirshQuiet("pool-destroy", name) })
}
