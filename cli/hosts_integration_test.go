package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
)

// Integration tests of several hosts at once: the host under test and a
// second one (testhost.Other), each with its own shut-off domains named
// vc10h-*, defined by virsh and removed afterwards. The images live under
// /var/tmp, which both hosts see at the same path.

// twoHosts is the pair under test, named in a hosts file of the test's own
// ($XDG_CONFIG_HOME points at it).
type twoHosts struct {
	a, b       hostSpec
	dir, stamp string
}

func newTwoHosts(t *testing.T) *twoHosts {
	t.Helper()
	bName, bURI := testhost.Other(t)
	h := &twoHosts{
		a:     hostSpec{Name: "here", URI: systemURI},
		b:     hostSpec{Name: bName + "x", URI: bURI},
		stamp: fmt.Sprintf("%d", time.Now().UnixNano()%1e9),
	}
	if h.a.URI == h.b.URI {
		t.Skip("test of two hosts: the second host is the host under test")
	}
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	hosts := fmt.Sprintf("[[host]]\nname = %q\nuri = %q\n\n[[host]]\nname = %q\nuri = %q\n", h.a.Name, h.a.URI, h.b.Name, h.b.URI)
	if err := os.MkdirAll(filepath.Join(cfg, "virtchain"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "virtchain", "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "vc10h-")
	if err != nil {
		t.Fatal(err)
	}
	h.dir = dir
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return h
}

// define makes a shut-off domain name on host whose vda is a fresh qcow2
// image file (its path tells the hosts apart), undefined at the end.
func (h *twoHosts) define(t *testing.T, host hostSpec, name, file string) string {
	t.Helper()
	img := filepath.Join(h.dir, file)
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v %s", err, out)
	}
	_ = os.Chmod(img, 0o644)
	xml := fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices>
</domain>`, name, img)
	xf := filepath.Join(h.dir, name+"-"+host.Name+".xml")
	if err := os.WriteFile(xf, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virsh", "-c", host.URI, "define", xf).CombinedOutput(); err != nil {
		t.Fatalf("virsh -c %s define: %v %s", host.URI, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("virsh", "-c", host.URI, "undefine", name, "--snapshots-metadata").Run() })
	return img
}

func TestHostsListJSON(t *testing.T) {
	h := newTwoHosts(t)
	onA := "vc10h-a-" + h.stamp
	onB := "vc10h-b-" + h.stamp
	h.define(t, h.a, onA, "a.qcow2")
	h.define(t, h.b, onB, "b.qcow2")
	bad := "qemu+unix:///system?socket=" + h.dir + "/no-such.sock"

	code, stdout, stderr := runMain(t, "list", "--json", "--host", h.a.Name+","+h.b.Name, "-c", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one host unreachable): %s", code, stderr)
	}
	wantOneLine(t, stderr, "1 of 3 hosts could not be listed: local")
	var got hostsListJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, stdout)
	}
	var names []string
	for _, hl := range got.Hosts {
		names = append(names, hl.Name)
	}
	// -c URIs come first, then the --host names in the order typed.
	if !reflect.DeepEqual(names, []string{"local", h.a.Name, h.b.Name}) {
		t.Fatalf("hosts %q", names)
	}
	if e := got.Hosts[0]; e.Error == "" || !strings.Contains(e.Error, "no-such.sock") || strings.Contains(e.Error, "\n") ||
		e.URI != bad || e.LibvirtVersion != "" || e.Domains == nil || len(e.Domains) != 0 {
		t.Fatalf("unreachable host: %+v", e)
	}
	for i, want := range map[int]string{1: onA, 2: onB} {
		hl := got.Hosts[i]
		if hl.Error != "" || hl.LibvirtVersion == "" || !strings.Contains(hl.LibvirtVersion, ".") {
			t.Fatalf("host %s: %+v", hl.Name, hl)
		}
		var doms []string
		for _, d := range hl.Domains {
			doms = append(doms, d.Name)
		}
		if !slices.Contains(doms, want) || slices.Contains(doms, map[int]string{1: onB, 2: onA}[i]) {
			t.Fatalf("host %s lists %q; want %s and not the other host's", hl.Name, doms, want)
		}
	}
	// Every key of the contract is there for every host.
	var raw struct {
		Hosts []map[string]json.RawMessage `json:"hosts"`
	}
	_ = json.Unmarshal([]byte(stdout), &raw)
	for _, hl := range raw.Hosts {
		if keys := slices.Sorted(maps.Keys(hl)); !reflect.DeepEqual(keys, []string{"domains", "error", "libvirt_version", "name", "uri"}) {
			t.Fatalf("keys %q", keys)
		}
	}

	// The text groups by host, a header line each.
	code, stdout, _ = runMain(t, "list", "--host", "all")
	if code != 0 {
		t.Fatalf("text list: exit %d", code)
	}
	ia, ib := strings.Index(stdout, "\n"+h.b.Name+"  "), strings.Index(stdout, onA)
	if !strings.HasPrefix(stdout, h.a.Name+"  "+h.a.URI+"  libvirt ") || ia < 0 || ib < 0 || ib > ia ||
		!strings.Contains(stdout[ia:], onB) {
		t.Fatalf("text list not grouped by host:\n%s", stdout)
	}
}

// TestHostsSingleJSONUnchanged: with one connection list --json is the
// {"uri", "domains"} it has always been, whether the host comes from -c,
// from the environment or from one --host.
func TestHostsSingleJSONUnchanged(t *testing.T) {
	h := newTwoHosts(t)
	for _, args := range [][]string{
		{"list", "--json", "-c", h.a.URI},
		{"list", "--json", "--host", h.a.Name},
		{"list", "--json", "-c", h.a.URI, "-c", h.a.URI},
	} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d %s", args, code, stderr)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
			t.Fatal(err)
		}
		if keys := slices.Sorted(maps.Keys(raw)); !reflect.DeepEqual(keys, []string{"domains", "uri"}) || string(raw["uri"]) != fmt.Sprintf("%q", h.a.URI) {
			t.Fatalf("%q: keys %q uri %s", args, keys, raw["uri"])
		}
	}
}

// TestHostsDomainResolution: the same name on both hosts needs HOST:; a
// name on one host alone finds it.
func TestHostsDomainResolution(t *testing.T) {
	h := newTwoHosts(t)
	same := "vc10h-same-" + h.stamp
	imgA := h.define(t, h.a, same, "same-a.qcow2")
	imgB := h.define(t, h.b, same, "same-b.qcow2")
	only := "vc10h-only-" + h.stamp
	imgOnly := h.define(t, h.b, only, "only-b.qcow2")
	two := []string{"--host", h.a.Name, "--host", h.b.Name}

	chainSource := func(domArg string) string {
		t.Helper()
		code, stdout, stderr := runMain(t, append([]string{"chain", domArg, "--json"}, two...)...)
		if code != 0 {
			t.Fatalf("chain %s: exit %d %s", domArg, code, stderr)
		}
		var c chainJSON
		if err := json.Unmarshal([]byte(stdout), &c); err != nil || len(c.Disks) != 1 || len(c.Disks[0].Layers) == 0 {
			t.Fatalf("chain %s: %v\n%s", domArg, err, stdout)
		}
		// The JSON is today's, with the bare domain name.
		if !strings.HasPrefix(c.Domain, "vc10h-") {
			t.Fatalf("chain %s: domain %q", domArg, c.Domain)
		}
		return c.Disks[0].Layers[0].Path
	}
	if got := chainSource(h.a.Name + ":" + same); got != imgA {
		t.Fatalf("%s:%s reads %s, want %s", h.a.Name, same, got, imgA)
	}
	if got := chainSource(h.b.Name + ":" + same); got != imgB {
		t.Fatalf("%s:%s reads %s, want %s", h.b.Name, same, got, imgB)
	}
	if got := chainSource(only); got != imgOnly {
		t.Fatalf("%s reads %s, want %s", only, got, imgOnly)
	}

	code, _, stderr := runMain(t, append([]string{"chain", same}, two...)...)
	if code != 2 {
		t.Fatalf("ambiguous: exit %d, want 2: %s", code, stderr)
	}
	wantOneLine(t, stderr, "is on hosts "+h.a.Name+", "+h.b.Name, "HOST:DOMAIN")

	code, _, stderr = runMain(t, append([]string{"snapshots", "vc10h-none-" + h.stamp}, two...)...)
	if code != 1 {
		t.Fatalf("unknown: exit %d, want 1: %s", code, stderr)
	}
	wantOneLine(t, stderr, "no domain", "on hosts "+h.a.Name+", "+h.b.Name)

	// Completion offers HOST:DOMAIN for each, and a plain name only where
	// one host has it; a disk completes after HOST:DOMAIN.
	got := complete(t, append([]string{"chain"}, append(two, "")...)...)
	for _, w := range []string{h.a.Name + ":" + same, h.b.Name + ":" + same, h.b.Name + ":" + only, only} {
		if !slices.Contains(got, w) {
			t.Errorf("completion %q lacks %s", got, w)
		}
	}
	if slices.Contains(got, same) || slices.Contains(got, h.a.Name+":"+only) {
		t.Errorf("completion %q offers a name that is not one host's", got)
	}
	if got := complete(t, append([]string{"chain"}, append(two, h.b.Name+":"+same, "")...)...); !reflect.DeepEqual(got, []string{"vda"}) {
		t.Errorf("disk completion after HOST:DOMAIN: %q", got)
	}

	// A change goes to the host named, and only there.
	if code, _, stderr := runMain(t, append([]string{"snapshot", "create", h.b.Name + ":" + same, "s1"}, two...)...); code != 0 {
		t.Fatalf("snapshot create on %s: exit %d %s", h.b.Name, code, stderr)
	}
	for host, want := range map[hostSpec]string{h.a: "", h.b: "s1"} {
		out, err := exec.Command("virsh", "-c", host.URI, "snapshot-list", same, "--name").Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("snapshots of %s on %s: %q %v, want %q", same, host.Name, out, err, want)
		}
	}

	// A host that cannot be asked leaves a plain name undecided.
	bad := "qemu+unix:///system?socket=" + h.dir + "/no-such.sock"
	code, _, stderr = runMain(t, "chain", only, "--host", h.b.Name, "-c", bad)
	if code != 1 {
		t.Fatalf("one host down: exit %d, want 1: %s", code, stderr)
	}
	wantOneLine(t, stderr, "is on host "+h.b.Name, "could not be asked", h.b.Name+":"+only)
	// ... while HOST:DOMAIN goes ahead without asking the others.
	code, _, stderr = runMain(t, "chain", h.b.Name+":"+only, "--host", h.b.Name, "-c", bad)
	if code != 0 {
		t.Fatalf("HOST:DOMAIN with another host down: exit %d %s", code, stderr)
	}
}

// TestHostsAskedAtOnce: list opens every host's connection before any of
// them answers. Two fake hosts (sockets that accept and say nothing) each
// hold their connection until the other's has arrived too, then hang up;
// were the hosts asked one after the other, the first would be held until
// it gives up, and the second never reached in that time.
func TestHostsAskedAtOnce(t *testing.T) {
	testhost.Need(t)
	dir := t.TempDir()
	var uris []string
	// Both channels exist before either listener can look at the other's.
	arrived := []chan struct{}{make(chan struct{}), make(chan struct{})}
	held := make(chan string, 2)
	for i := range arrived {
		sock := filepath.Join(dir, fmt.Sprintf("h%d.sock", i))
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		uris = append(uris, "qemu+unix:///system?socket="+sock)
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			close(arrived[i])
			select {
			case <-arrived[1-i]:
				held <- ""
			case <-time.After(20 * time.Second):
				held <- fmt.Sprintf("host %d was asked alone", i)
			}
		}()
	}
	code, stdout, stderr := runMain(t, "list", "--json", "-c", uris[0], "-c", uris[1])
	if code != 1 {
		t.Fatalf("exit %d, want 1 (both hosts hang up): %s", code, stderr)
	}
	for range arrived {
		if msg := <-held; msg != "" {
			t.Fatal(msg)
		}
	}
	var got hostsListJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got.Hosts) != 2 || got.Hosts[0].Error == "" || got.Hosts[1].Error == "" {
		t.Fatalf("%v %+v", err, got)
	}
}
