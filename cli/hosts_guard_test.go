package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"virtchain/libvirtx"
)

func TestVc10gGuardHostsAreTheFleet(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	_ = os.MkdirAll(filepath.Join(cfg, "virtchain"), 0o755)
	file := filepath.Join(cfg, "virtchain", "hosts.toml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`[[host]]
name = "hv1"
uri = "qemu+ssh://root@hv1/system"

[[host]]
name = "hv2"
uri = "qemu+ssh://root@hv2/system"

[[host]]
name = "lonely"
uri = "qemu+ssh://root@lonely/system"
shared_storage = false
`)
	hv1 := hostSpec{"hv1", "qemu+ssh://root@hv1/system"}
	hv2 := hostSpec{"hv2", "qemu+ssh://root@hv2/system"}
	other := hostSpec{"hv9", "qemu+ssh://root@hv9/system"}
	names := func(specs []hostSpec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		e     Env
		wants []string
	}{
		// --host hv1 selects one host; the file's hv2 is still read, lonely not.
		{"--host", Env{URI: hv1.URI, fleet: []hostSpec{hv1}, global: globalOptions{hosts: []string{"hv1"}}}, []string{"hv2"}},
		// -c with a URI the file lists: the same.
		{"-c in the file", Env{URI: hv2.URI, fleet: []hostSpec{hv2}}, []string{"hv1"}},
		// -c A -c B where A is not in the file and B is: B's fleet counts.
		{"-c A -c B", Env{URI: other.URI, fleet: []hostSpec{other, hv2}}, []string{"hv2", "hv1"}},
		// A host the file does not list, alone: nothing changes.
		{"-c not in the file", Env{URI: other.URI, fleet: []hostSpec{other}}, nil},
		// A host marked shared_storage = false is read by no guard, even named.
		{"-c lonely", Env{URI: hv1.URI, fleet: []hostSpec{hv1, {"lonely", "qemu+ssh://root@lonely/system"}}}, []string{"hv2"}},
	} {
		if got := names(tc.e.guardHosts()); !reflect.DeepEqual(got, tc.wants) {
			t.Errorf("%s: guard hosts %q, want %q", tc.name, got, tc.wants)
		}
	}
	// A broken hosts file is no fleet, and no error, without --host.
	write("[[host]]\nname = \"hv1\n")
	e := Env{URI: hv1.URI, fleet: []hostSpec{hv1, hv2}}
	if got := names(e.guardHosts()); !reflect.DeepEqual(got, []string{"hv2"}) {
		t.Errorf("broken file: %q", got)
	}
}

func TestVc10gPeersAreDialedOnFirstReadWithTheCommandsMode(t *testing.T) {
	var dialed []string
	old := openConn
	t.Cleanup(func() { openConn = old })
	openConn = func(uri string, readonly bool) (*libvirtx.Conn, error) {
		if !readonly {
			dialed = append(dialed, uri+" rw")
		} else {
			dialed = append(dialed, uri+" ro")
		}
		return nil, errors.New("no such host")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	e := &Env{URI: "qemu:///system", fleet: []hostSpec{{"local", "qemu:///system"}, {"hv2", "qemu+ssh://hv2/system"}}, ReadOnly: true}
	peers := e.lazyPeers(e.guardHosts())
	if len(peers) != 1 || peers[0].Name != "hv2" || len(dialed) != 0 {
		t.Fatalf("peers %+v, dialed %q: none dialed before a plan reads them", peers, dialed)
	}
	if _, err := peers[0].Reader.Discover(context.Background()); err == nil {
		t.Fatal("a peer that cannot be opened reads nothing")
	}
	_, _ = peers[0].Reader.StoragePools(context.Background())
	if !reflect.DeepEqual(dialed, []string{"qemu+ssh://hv2/system ro"}) {
		t.Fatalf("dialed %q: once, read-only like the command", dialed)
	}
	e.close()
}
