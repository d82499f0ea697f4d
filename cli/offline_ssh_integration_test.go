package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/libvirtx/testhost"
)

// The offline merges of TestIntegrationVc8wOfflineMerges, run by the
// command over a real qemu+ssh connection to the host under test: the
// domain is started paused and QEMU merges, and the guest-visible content,
// the chains and each plan's file list must come out as on the local path.
// A storage pool on the folder lets the shut-off domain's chain be read
// remotely. Domains and folders are vc8w-*, the pool vc10s-*.
func TestIntegrationOfflineMergesOverSSH(t *testing.T) {
	uri := testhost.NeedSSH(t)
	g := vc8wGuest{"vda": {}}
	name, dir := vc8wDomain(t, vc8wDeepChain(t, g))
	testhost.Virsh(t, "destroy", name)
	pool := strings.Replace(name, "vc8w-", "vc10s-", 1) + "-pool"
	testhost.Pool(t, pool, dir)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	chain := func(want ...string) {
		t.Helper()
		var c labChainJSON
		code, stdout, stderr := runMain(t, "-c", uri, "--json", "chain", name, "vda")
		if code != 0 || json.Unmarshal([]byte(stdout), &c) != nil {
			t.Fatalf("chain over %s: %s", uri, stderr)
		}
		var got []string
		for _, l := range c.Disks[0].Layers {
			got = append(got, strings.TrimSuffix(filepath.Base(l.Path), ".qcow2"))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: chain over ssh %q, want %q", testhost.Name(), got, want)
		}
		vc8wChain(t, name, want...) // and as the host itself reads it
	}
	shutOff := func(when string) {
		t.Helper()
		if st := vc8wState(t, name); st != "shut off" {
			t.Fatalf("%s: %s is %q %s", testhost.Name(), name, st, when)
		}
	}
	run := func(args ...string) {
		t.Helper()
		code, plan, stderr := runMain(t, append([]string{"-c", uri, "--json", "--dry-run"}, args...)...)
		if code != 0 || !strings.Contains(plan, `"start_paused": true`) || !strings.Contains(plan, "virsh start --paused") {
			t.Fatalf("%s: plan of %q over ssh: exit %d %s %s", testhost.Name(), args, code, plan, stderr)
		}
		claims := vc8wPlanClaims(t, []byte(plan))
		before := vc8wListing(t, dir)
		code, _, stderr = runMain(t, append([]string{"-c", uri}, args...)...)
		if code != 0 {
			t.Fatalf("%s: virtchain -c %s %s: exit %d: %s", testhost.Name(), uri, strings.Join(args, " "), code, stderr)
		}
		for _, m := range vc8wMismatches(claims, before, vc8wListing(t, dir)) {
			t.Errorf("%s: plan of %q lies: %s", testhost.Name(), strings.Join(args, " "), m)
		}
		shutOff("after " + strings.Join(args, " "))
	}
	g.check(t, name, dir, "the chain built")
	chain("test2_lsof", "test2_net-tools", "test2_nmap", "test2_test", "test2", "base")
	run("commit", name, "vda", "--base", p("test2_test"), "--top", p("test2_net-tools"))
	chain("test2_lsof", "test2_test", "test2", "base")
	g.check(t, name, dir, "after the offline commit of 2-3 into 1 over ssh")
	run("pull", name, "vda", "--base", p("test2"))
	chain("test2_lsof", "test2", "base")
	g.check(t, name, dir, "after the offline pull with a base over ssh")
	run("commit", name, "vda", "--top", p("test2_lsof"), "--base", p("test2"))
	chain("test2", "base")
	g.check(t, name, dir, "after the offline commit of the active layer over ssh")
	run("pull", name, "vda")
	chain("test2")
	g.check(t, name, dir, "after the offline full pull over ssh")
	testhost.Virsh(t, "start", name)
	g.write(t, name, "vda", 0x77, 9)
	g.check(t, name, dir, "a write after the offline merges over ssh")
}
