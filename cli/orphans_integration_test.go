package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// orphanDir makes this test's 0755 folder under /var/tmp with a base in
// use by a shut-off domain (vc11o-cli-*), an orphan overlay on it and an
// orphaned chain.
func orphanDir(t *testing.T, uri, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "vc11o-cli-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	img := func(name, backing string) {
		args := []string{"create", "-q", "-f", "qcow2", filepath.Join(dir, name)}
		if backing != "" {
			args = append(args, "-b", backing, "-F", "qcow2")
		} else {
			args = append(args, "16M")
		}
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v %s", args, err, out)
		}
	}
	img("base.qcow2", "")
	img("left.qcow2", "base.qcow2")
	img("ob.qcow2", "")
	img("oo.qcow2", "ob.qcow2")
	orphanDefine(t, uri, name, filepath.Join(dir, "base.qcow2"))
	return dir
}

// orphanDefine defines a shut-off domain on uri whose vda is file.
func orphanDefine(t *testing.T, uri, name, file string) {
	t.Helper()
	xml := fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices>
</domain>`, name, file)
	xf := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(xf, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command("virsh", "-c", uri, "undefine", name).Run()
	if out, err := exec.Command("virsh", "-c", uri, "define", xf).CombinedOutput(); err != nil {
		t.Fatalf("virsh -c %s define: %v %s", uri, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("virsh", "-c", uri, "undefine", name).Run() })
}

func orphanNames(r *model.OrphanReport, dir string) []string {
	var out []string
	var walk func(n *model.OrphanNode)
	walk = func(n *model.OrphanNode) {
		if filepath.Dir(n.Path) == dir {
			out = append(out, filepath.Base(n.Path))
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, tr := range r.Trees {
		walk(tr.Root)
	}
	sort.Strings(out)
	return out
}

// orphanShown is a file as the orphans output names it: over a remote
// connection with its host (the URI given), else its path alone.
func orphanShown(p string) string {
	if testhost.OverSSH() {
		return systemURI + ":" + p
	}
	return p
}

func TestIntegrationOrphansCLI(t *testing.T) {
	needIntegration(t)
	name := fmt.Sprintf("vc11o-cli-%d", time.Now().UnixNano()%1e9)
	dir := orphanDir(t, systemURI, name)
	var r model.OrphanReport
	cliJSON(t, &r, "orphans", "--min-age", "0", "--dir", dir)
	if got := orphanNames(&r, dir); !slices.Equal(got, []string{"left.qcow2", "ob.qcow2", "oo.qcow2"}) {
		t.Fatalf("orphans %v", got)
	}
	text := cliText(t, "orphans", "--min-age", "0", "--dir", dir)
	for _, want := range []string{
		"orphan overlays on an image in use",
		filepath.Join(dir, "base.qcow2") + " (in use: chain of " + name + " vda)",
		"└─ " + orphanShown(filepath.Join(dir, "left.qcow2")) + "  qcow2",
		"a whole orphaned chain",
		"└─ " + orphanShown(filepath.Join(dir, "oo.qcow2")),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// By default fresh files are not orphans yet.
	fresh := cliText(t, "orphans", "--dir", dir)
	if !strings.Contains(fresh, "not orphans yet:") || !strings.Contains(fresh, "  "+orphanShown(filepath.Join(dir, "oo.qcow2"))+"  qcow2") || strings.Contains(fresh, "└─ "+orphanShown(filepath.Join(dir, "left.qcow2"))) {
		t.Fatalf("fresh files:\n%s", fresh)
	}
	// Bad input: one line, nothing done.
	for _, bad := range [][]string{
		{"orphans", filepath.Join(dir, "left.qcow2")},
		{"orphans", "--all"},
		{"orphans", "--delete"},
		{"orphans", "--min-age", "0", "--delete", "--dir", dir, filepath.Join(dir, "base.qcow2")},
		{"orphans", "--min-age", "0", "--delete", "--dir", dir, filepath.Join(dir, "ob.qcow2")},
		{"--readonly", "orphans", "--delete", "--all"},
		{"orphans", "--min-age", "-1m"},
		{"orphans", "--delete", "--dir", dir, filepath.Join(dir, "oo.qcow2")}, // fresh
		{"orphans", "--dir", "relative"},
		{"orphans", "--dir", filepath.Join(dir, "typo")}, // checked on the host, also a remote one
	} {
		code, _, stderr := runMain(t, append([]string{"-c", systemURI}, bad...)...)
		if code == 0 {
			t.Fatalf("%q: exit 0", bad)
		}
		wantOneLine(t, stderr)
	}
	before := testhost.List(t, dir, testhost.ListOptions{})
	var plan model.OrphanPlan
	cliJSON(t, &plan, "orphans", "--min-age", "0", "--delete", "--dry-run", "--dir", dir, filepath.Join(dir, "ob.qcow2"), filepath.Join(dir, "oo.qcow2"))
	var planned []string
	for _, f := range plan.Files {
		planned = append(planned, f.Path)
	}
	if want := []string{filepath.Join(dir, "oo.qcow2"), filepath.Join(dir, "ob.qcow2")}; !slices.Equal(planned, want) ||
		len(plan.Delete) != 2 || plan.Delete[0].Path != want[0] || plan.Free != plan.Delete[0].Allocation+plan.Delete[1].Allocation || plan.Free == 0 {
		t.Fatalf("plan files %v, want %v: %+v", planned, want, plan)
	}
	if after := testhost.List(t, dir, testhost.ListOptions{}); len(after) != len(before) {
		t.Fatal("--dry-run deleted something")
	}
	if testhost.OverSSH() {
		// No pool covers the folder: libvirt deletes each file as a
		// volume of a transient pool virtchain makes over it.
		for _, f := range plan.Files {
			if f.By != "libvirt" || !slices.Contains(plan.Virsh, "virsh vol-delete --pool "+model.TransientPoolWord+" "+f.Path) {
				t.Fatalf("remote plan for %s: %+v", f.Path, plan.Plan)
			}
		}
	}
	out := cliText(t, "orphans", "--min-age", "0", "--delete", "--dir", dir, filepath.Join(dir, "ob.qcow2"), filepath.Join(dir, "oo.qcow2"))
	after := testhost.List(t, dir, testhost.ListOptions{})
	var gone []string
	for p := range before {
		if _, ok := after[p]; !ok {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	sort.Strings(planned)
	if !slices.Equal(gone, planned) || !strings.Contains(out, "deleted "+orphanShown(filepath.Join(dir, "oo.qcow2"))+" (") {
		t.Fatalf("gone %v, planned %v; output %s", gone, planned, out)
	}
}

// With both hosts named, an image on shared storage that only the other
// host's domain uses is no orphan; with this host alone it is.
func TestIntegrationOrphansCLITwoHosts(t *testing.T) {
	needIntegration(t)
	otherName, otherURI := testhost.Other(t)
	if otherURI == systemURI {
		t.Skip("the second host is the host under test")
	}
	stamp := time.Now().UnixNano() % 1e9
	dir := orphanDir(t, systemURI, fmt.Sprintf("vc11o-cli-a-%d", stamp))
	shared := filepath.Join(dir, "shared.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", shared, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	orphanDefine(t, otherURI, fmt.Sprintf("vc11o-cli-b-%d", stamp), shared)
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	hosts := fmt.Sprintf("[[host]]\nname = \"here\"\nuri = %q\n\n[[host]]\nname = %q\nuri = %q\n", systemURI, otherName+"x", otherURI)
	_ = os.MkdirAll(filepath.Join(cfg, "virtchain"), 0o755)
	if err := os.WriteFile(filepath.Join(cfg, "virtchain", "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	decode := func(args ...string) *model.OrphanReport {
		t.Helper()
		code, stdout, stderr := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		var r model.OrphanReport
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	alone := decode("--host", "here", "orphans", "--min-age", "0", "--json", "--dir", dir)
	if !slices.Contains(orphanNames(alone, dir), "shared.qcow2") {
		t.Fatalf("this host alone: %v", orphanNames(alone, dir))
	}
	both := decode("--host", "here,"+otherName+"x", "orphans", "--min-age", "0", "--json", "--dir", dir)
	want := []string{"left.qcow2", "ob.qcow2", "oo.qcow2"}
	if testhost.OverSSH() {
		// A remote host's paths are its own: the shared folder's
		// orphans are listed once for each host, as HOST:PATH.
		want = []string{"left.qcow2", "left.qcow2", "ob.qcow2", "ob.qcow2", "oo.qcow2", "oo.qcow2"}
		for _, tr := range both.Trees {
			if n := tr.Root; filepath.Dir(n.Path) == dir && n.Remote != (n.Host == "here") {
				t.Fatalf("%s:%s: remote %v", n.Host, n.Path, n.Remote)
			}
		}
	}
	if got := orphanNames(both, dir); slices.Contains(got, "shared.qcow2") || !slices.Equal(got, want) {
		t.Fatalf("both hosts: %v", got)
	}
	if !slices.Equal(both.Hosts, []string{"here", otherName + "x"}) {
		t.Fatalf("hosts %v", both.Hosts)
	}
	code, _, stderr := runMain(t, "--host", "here,"+otherName+"x", "orphans", "--min-age", "0", "--delete", "--dir", dir, "here:"+shared)
	if code == 0 || !strings.Contains(stderr, "not an orphan") || !strings.Contains(stderr, otherName+"x:vc11o-cli-b-") {
		t.Fatalf("deleting a file the other host uses: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(shared); err != nil {
		t.Fatal("shared.qcow2 is kept")
	}
	// The orphans of this host go, on it (over ssh, as volumes through
	// StorageVolDelete), while both hosts are asked.
	oo, ob := filepath.Join(dir, "oo.qcow2"), filepath.Join(dir, "ob.qcow2")
	code, out, stderr := runMain(t, "--host", "here,"+otherName+"x", "orphans", "--min-age", "0", "--delete", "--dir", dir, "here:"+oo, "here:"+ob)
	if code != 0 || !strings.Contains(out, "deleted here:"+oo+" (") || !strings.Contains(out, "deleted here:"+ob+" (") {
		t.Fatalf("deleting this host's orphans with both hosts asked: exit %d %s %s", code, out, stderr)
	}
	for _, p := range []string{oo, ob} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s is still there: %v", p, err)
		}
	}
	if _, err := os.Stat(shared); err != nil {
		t.Fatal("shared.qcow2 is kept")
	}
}
