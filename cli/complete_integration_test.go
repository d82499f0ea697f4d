package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"virtchain/libvirtx"
)

// Completion against the real libvirtd: domain names, disk targets,
// snapshot names and the three ways to name a layer, all over read-only
// connections, and nothing on the host changes.
func TestIntegrationCompletionIsLive(t *testing.T) {
	name, dir := snapCLIDomainAs(t, fmt.Sprintf("vc9c-complete-%d", time.Now().UnixNano()%1_000_000_000))
	overlay := filepath.Join(dir, "s1.qcow2")
	labVirsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+overlay)
	labVirsh(t, "snapshot-create-as", name, "s2", "--disk-only", "--atomic", "--diskspec", "vda,snapshot=external,file="+filepath.Join(dir, "s2.qcow2"))

	var mu sync.Mutex
	var opened []bool
	old := openConn
	openConn = func(uri string, readonly bool) (*libvirtx.Conn, error) {
		mu.Lock()
		opened = append(opened, readonly)
		mu.Unlock()
		return old(uri, readonly)
	}
	t.Cleanup(func() { openConn = old })

	xml, snaps := labVirsh(t, "dumpxml", name), labVirsh(t, "snapshot-list", name, "--name")
	has := func(args []string, want ...string) {
		t.Helper()
		got := complete(t, append([]string{"-c", systemURI}, args...)...)
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("__complete %q: %q lacks %q", args, got, w)
			}
		}
	}
	has([]string{"chain", ""}, name)
	has([]string{"chain", "vc9c-complete-"}, name)
	has([]string{"chain", name, ""}, "vda")
	has([]string{"snapshot", "revert", name, ""}, "s1", "s2")
	has([]string{"snapshot", "delete", name, "s"}, "s1", "s2")
	has([]string{"commit", name, "vda", "--top", ""}, overlay, filepath.Join(dir, "base.qcow2"), "s1", "s2")
	has([]string{"pull", name, "vda", "--base", "s"}, "s1", "s2")
	has([]string{"--domain", ""}, name)
	// A running domain's layers are offered by index too.
	if got := strings.Join(complete(t, "-c", systemURI, "commit", name, "vda", "--top", "vda["), " "); !strings.Contains(got, "vda[") {
		t.Errorf("no index offered: %q", got)
	}
	// Flags given for the command do not make completion read-write.
	has([]string{"snapshot", "create", "--description", "x", ""}, name)

	if len(opened) == 0 {
		t.Fatal("completion never connected")
	}
	for i, ro := range opened {
		if !ro {
			t.Errorf("connection %d for completion was read-write", i)
		}
	}
	if labVirsh(t, "dumpxml", name) != xml || labVirsh(t, "snapshot-list", name, "--name") != snaps {
		t.Error("completing changed the domain")
	}
}
