package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"virtchain/libvirtx/testhost"
)

// Integration tests run cli.Main in-process against the real libvirtd on a
// small domain of their own (prefix vct-cli-), behind VIRTCHAIN_INTEGRATION=1.
// They share the lab test's helpers (labTool, labVirsh, labDisk, labQemuInfo).

// systemURI is the connection under test of this pass of the suite (make
// test runs it once per host, directly and over the host's qemu+ssh URI);
// hostURI is the host's own socket, for the tests' setup and checks with
// virsh.
var systemURI, hostURI = testhost.URI(), testhost.DirectURI()

func needIntegration(t *testing.T) {
	t.Helper()
	testhost.Need(t)
}

// remoteFilesRefused reports, in a pass over ssh, that the cleanup args
// (with --delete-files or file arguments) is refused as local-only, and
// fails t when it is not; the caller then cleans the metadata alone. In a
// direct pass it runs nothing and reports false.
func remoteFilesRefused(t *testing.T, args ...string) bool {
	t.Helper()
	if !testhost.OverSSH() {
		return false
	}
	code, _, stderr := runMain(t, append([]string{"-c", systemURI}, args...)...)
	if code != 1 || !strings.Contains(stderr, "over a remote connection virtchain cannot look at the files on") || !strings.Contains(stderr, " orphans --delete --dry-run ") {
		t.Fatalf("%q over ssh: exit %d, want the remote refusal: %s", args, code, stderr)
	}
	return true
}

// withoutDeleteFiles is args without --delete-files.
func withoutDeleteFiles(args []string) []string {
	var out []string
	for _, a := range args {
		if a != "--delete-files" {
			out = append(out, a)
		}
	}
	return out
}

// cliJSON runs Main with --json and decodes its output into v.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	code, stdout, stderr := runMain(t, append([]string{"-c", systemURI, "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("%q: bad JSON: %v\n%s", args, err, stdout)
	}
}

func cliText(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runMain(t, append([]string{"-c", systemURI}, args...)...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", args, code, stderr)
	}
	return stdout
}

// sweepStale removes what an earlier run killed mid-test left behind, so a
// crash never leaves domains running for the next run to trip on. Only this
// test's own prefix is touched.
func sweepStale(t *testing.T) {
	t.Helper()
	out, err := exec.Command("virsh", "-c", hostURI, "list", "--all", "--name").Output()
	if err != nil {
		t.Fatalf("virsh list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		// Names carry their creation time: leave a run in progress alone.
		var born, nonce int64
		if n, _ := fmt.Sscanf(d, "vct-cli-%d-%d", &born, &nonce); n == 2 && time.Since(time.Unix(born, 0)) > 30*time.Minute {
			_ = exec.Command("virsh", "-c", hostURI, "destroy", d).Run()
			_ = exec.Command("virsh", "-c", hostURI, "undefine", d, "--snapshots-metadata", "--managed-save").Run()
		}
	}
	old, _ := filepath.Glob("/var/tmp/vct-cli-*")
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > 30*time.Minute {
			_ = os.RemoveAll(p)
		}
	}
}

// makeChainDomain defines and starts a 64 MiB domain whose vda is a 2-layer
// qcow2 chain made by qemu-img, each layer holding its own data.
func makeChainDomain(t *testing.T) (name, dir string) {
	t.Helper()
	sweepStale(t)
	name = fmt.Sprintf("vct-cli-%d-%d", time.Now().Unix(), time.Now().UnixNano()%1_000_000)
	dir = scratchDomain(t, name, "vct-cli-")
	base, top := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "top.qcow2")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
	labTool(t, "qemu-io", "-c", "write -P 0x11 0 1M", base)
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
	labTool(t, "qemu-io", "-c", "write -P 0x22 1M 1M", top)

	defineDiskDomain(t, name, dir, top)
	labVirsh(t, "start", name)
	return name, dir
}

// runningRemote: a running domain (its layers have indexes) read over ssh,
// where virtchain reads the chain from the live XML and the block stats
// alone, a bounded number of calls whatever the chain's length, and no
// layer's header: the internal snapshots of its layers are not there.
func runningRemote(indexed bool) bool { return indexed && testhost.OverSSH() }

// checkChain compares our layers with qemu-img's, and checks the snapshot
// marks our test put there.
func checkChain(t *testing.T, disk labDisk, ref []labQemuLayer, wantIndex bool, ext string) {
	t.Helper()
	if len(disk.Layers) != len(ref) {
		t.Fatalf("%d layers, qemu-img says %d: %+v", len(disk.Layers), len(ref), disk.Layers)
	}
	for i, l := range disk.Layers {
		r := ref[i]
		if l.Path != r.Filename || l.Format != r.Format || l.VirtualSize != r.VirtualSize {
			t.Errorf("layer %d: %s %s %d; qemu-img: %s %s %d", i, l.Path, l.Format, l.VirtualSize, r.Filename, r.Format, r.VirtualSize)
		}
		if (l.Index != nil) != wantIndex {
			t.Errorf("layer %d: index %v, want present=%v", i, l.Index, wantIndex)
		}
		if l.InternalSnapshots == nil {
			t.Errorf("layer %d: internal_snapshots is null", i)
		}
		var refSnaps []string
		for _, s := range r.Snapshots {
			refSnaps = append(refSnaps, s.Name)
		}
		if (len(refSnaps) > 0 || len(l.InternalSnapshots) > 0) && !runningRemote(wantIndex) {
			if !reflect.DeepEqual(l.InternalSnapshots, refSnaps) {
				t.Errorf("layer %d: internal snapshots %q, qemu-img %q", i, l.InternalSnapshots, refSnaps)
			}
		}
		if l.Problem == nil || *l.Problem != "" {
			t.Errorf("layer %d: problem %v, want \"\"", i, l.Problem)
		}
		if l.Allocation <= 0 {
			t.Errorf("layer %d: allocation %d", i, l.Allocation)
		}
	}
	if disk.Layers[0].Path != ext || disk.Layers[0].CreatedBySnapshot != "vct-ext" {
		t.Errorf("top layer %s created by %q, want %s by vct-ext", disk.Layers[0].Path, disk.Layers[0].CreatedBySnapshot, ext)
	}
	if len(disk.Layers) > 1 && !runningRemote(wantIndex) && !reflect.DeepEqual(disk.Layers[1].InternalSnapshots, []string{"vct-int"}) {
		t.Errorf("middle layer internal snapshots %q, want [vct-int]", disk.Layers[1].InternalSnapshots)
	}
	if wantIndex {
		seen := map[int]bool{}
		for _, l := range disk.Layers {
			if seen[*l.Index] {
				t.Errorf("index %d used twice", *l.Index)
			}
			seen[*l.Index] = true
		}
	}
}

func TestIntegrationReadCommands(t *testing.T) {
	needIntegration(t)
	name, dir := makeChainDomain(t)
	ext := filepath.Join(dir, "ext.qcow2")
	// An internal snapshot (lands in top.qcow2), then an external one that
	// makes ext.qcow2 the active layer: a 3-layer chain, a 2-node tree.
	labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "vct-int", "--description", "inside top")
	labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "vct-ext", "--disk-only", "--atomic",
		"--diskspec", "vda,snapshot=external,file="+ext)
	// Flush so qemu-img -U reads current metadata.
	labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
	ref := labQemuInfo(t, ext)

	t.Run("list", func(t *testing.T) {
		var l struct {
			URI     string `json:"uri"`
			Domains []struct {
				Name        string    `json:"name"`
				UUID        string    `json:"uuid"`
				State       string    `json:"state"`
				Persistent  *bool     `json:"persistent"`
				ManagedSave *bool     `json:"managed_save"`
				Disks       []labDisk `json:"disks"`
			} `json:"domains"`
		}
		cliJSON(t, &l, "list")
		if l.URI != systemURI {
			t.Errorf("uri %q", l.URI)
		}
		found := false
		for _, d := range l.Domains {
			if d.Name != name {
				continue
			}
			found = true
			uuid := strings.TrimSpace(labVirsh(t, "domuuid", name))
			if d.UUID != uuid || d.State != "running" || d.Persistent == nil || !*d.Persistent ||
				d.ManagedSave == nil || *d.ManagedSave {
				t.Errorf("domain: %+v (uuid %s)", d, uuid)
			}
			if len(d.Disks) != 1 || d.Disks[0].Target != "vda" || len(d.Disks[0].Layers) != 3 {
				t.Errorf("disks: %+v", d.Disks)
			}
		}
		if !found {
			t.Fatalf("list lacks %s", name)
		}
		text := cliText(t, "list")
		var row []string
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				row = f
			}
		}
		// name, state (2 words), persistent, managed save, disks, deepest chain, snapshots, problem
		want := []string{name, "running", "yes", "no", "1", "3", "2", "-"}
		if !reflect.DeepEqual(row, want) {
			t.Errorf("list row %q, want %q\n%s", row, want, text)
		}
	})

	t.Run("chain", func(t *testing.T) {
		var c struct {
			Domain string    `json:"domain"`
			Disks  []labDisk `json:"disks"`
		}
		cliJSON(t, &c, "chain", name)
		if c.Domain != name || len(c.Disks) != 1 {
			t.Fatalf("chain: %+v", c)
		}
		if c.Disks[0].Source != ext {
			t.Errorf("disk source %s, want %s", c.Disks[0].Source, ext)
		}
		checkChain(t, c.Disks[0], ref, true, ext)

		// The same with the target named, flags after the arguments.
		var one struct {
			Disks []labDisk `json:"disks"`
		}
		code, stdout, stderr := runMain(t, "chain", name, "vda", "--json", "-c", systemURI)
		if code != 0 || json.Unmarshal([]byte(stdout), &one) != nil || len(one.Disks) != 1 {
			t.Fatalf("chain %s vda: %d %s", name, code, stderr)
		}
		checkChain(t, one.Disks[0], ref, true, ext)

		text := cliText(t, "chain", name)
		for _, want := range []string{
			name + " vda (disk, virtio, file): 3 layers",
			fmt.Sprintf("vda[%d]  %s  [active]", *c.Disks[0].Layers[0].Index, ext),
			"created by snapshot vct-ext",
			"internal snapshots: vct-int",
			filepath.Join(dir, "base.qcow2") + "  [base]",
			"64 MiB virtual",
		} {
			if strings.HasPrefix(want, "internal") && runningRemote(true) {
				continue
			}
			if !strings.Contains(text, want) {
				t.Errorf("chain text lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("snapshots", func(t *testing.T) {
		var s struct {
			Domain    string `json:"domain"`
			Current   string `json:"current"`
			Snapshots []struct {
				Name        string `json:"name"`
				Parent      string `json:"parent"`
				Kind        string `json:"kind"`
				Memory      string `json:"memory"`
				MemoryFile  string `json:"memory_file"`
				State       string `json:"state"`
				Created     string `json:"created"`
				Description string `json:"description"`
				Disks       []struct {
					Target, Kind, File string
				} `json:"disks"`
			} `json:"snapshots"`
		}
		cliJSON(t, &s, "snapshots", name)
		if s.Domain != name || s.Current != "vct-ext" || len(s.Snapshots) != 2 {
			t.Fatalf("snapshots: %+v", s)
		}
		in, ex := s.Snapshots[0], s.Snapshots[1]
		if in.Name != "vct-int" || in.Parent != "" || in.Kind != "internal" || in.Memory != "internal" ||
			in.Description != "inside top" || in.State != "running" {
			t.Errorf("vct-int: %+v", in)
		}
		if ex.Name != "vct-ext" || ex.Parent != "vct-int" || ex.Kind != "external" || ex.Memory != "no" ||
			ex.State != "disk-snapshot" || len(ex.Disks) != 1 || ex.Disks[0].Target != "vda" ||
			ex.Disks[0].Kind != "external" || ex.Disks[0].File != ext {
			t.Errorf("vct-ext: %+v", ex)
		}
		for _, sn := range s.Snapshots {
			if _, err := time.Parse(time.RFC3339, sn.Created); err != nil {
				t.Errorf("%s: created %q: %v", sn.Name, sn.Created, err)
			}
		}
		// virsh agrees on the parent.
		if p := strings.TrimSpace(labVirsh(t, "snapshot-parent", "--domain", name, "vct-ext")); p != "vct-int" {
			t.Errorf("virsh snapshot-parent: %q", p)
		}
		text := cliText(t, "snapshots", name)
		lines := strings.Split(text, "\n")
		if !strings.HasPrefix(lines[1], "vct-int ") || !strings.HasPrefix(lines[2], "└─ vct-ext *") ||
			!strings.Contains(lines[2], "vda=external") || !strings.Contains(lines[1], "internal") {
			t.Errorf("snapshot tree:\n%s", text)
		}
	})

	t.Run("shut off", func(t *testing.T) {
		labVirsh(t, "destroy", name)
		var c struct {
			Disks []labDisk `json:"disks"`
		}
		cliJSON(t, &c, "chain", name)
		if len(c.Disks) != 1 {
			t.Fatalf("disks: %+v", c.Disks)
		}
		// From the qcow2 headers now: same layers, no indexes.
		checkChain(t, c.Disks[0], labQemuInfo(t, ext), false, ext)
	})

	t.Run("errors", func(t *testing.T) {
		code, stdout, stderr := runMain(t, "-c", systemURI, "chain", "vct-cli-nosuch")
		if code != 1 || stdout != "" {
			t.Fatalf("unknown domain: exit %d stdout %q", code, stdout)
		}
		wantOneLine(t, stderr, `"vct-cli-nosuch"`, "virtchain list")
		code, _, stderr = runMain(t, "-c", systemURI, "chain", name, "vdz")
		if code != 1 {
			t.Fatalf("unknown target: exit %d", code)
		}
		wantOneLine(t, stderr, "has no disk vdz", "its disks are: vda")
		code, _, stderr = runMain(t, "-c", systemURI, "snapshots", "vct-cli-nosuch", "--json")
		if code != 1 {
			t.Fatalf("unknown domain (snapshots): exit %d", code)
		}
		wantOneLine(t, stderr, "virtchain list")
	})
}

// A chain with a missing backing file is data: exit 0 and a flagged layer.
func TestIntegrationBrokenChain(t *testing.T) {
	needIntegration(t)
	name, dir := makeChainDomain(t)
	labVirsh(t, "destroy", name)
	if err := os.Remove(filepath.Join(dir, "base.qcow2")); err != nil {
		t.Fatal(err)
	}
	var c struct {
		Disks []labDisk `json:"disks"`
	}
	cliJSON(t, &c, "chain", name)
	layers := c.Disks[0].Layers
	if len(layers) != 2 || layers[1].Problem == nil || *layers[1].Problem == "" || *layers[0].Problem != "" {
		t.Fatalf("layers: %+v", layers)
	}
	text := cliText(t, "chain", name, "vda")
	if !strings.Contains(text, "! "+*layers[1].Problem) {
		t.Errorf("text lacks the problem:\n%s", text)
	}
	if code, stdout, _ := runMain(t, "-c", systemURI, "list"); code != 0 || !strings.Contains(stdout, "vda: "+*layers[1].Problem) {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}
}

func TestIntegrationTestDriver(t *testing.T) {
	needIntegration(t)
	code, stdout, stderr := runMain(t, "-c", "test:///default", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var l struct {
		URI     string `json:"uri"`
		Domains []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"domains"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil {
		t.Fatal(err)
	}
	if l.URI != "test:///default" || len(l.Domains) != 1 || l.Domains[0].Name != "test" || l.Domains[0].State != "running" {
		t.Errorf("test driver: %+v", l)
	}
	// LIBVIRT_DEFAULT_URI is honoured when -c is absent.
	t.Setenv("LIBVIRT_DEFAULT_URI", "test:///default")
	if code, stdout, _ := runMain(t, "list", "--readonly"); code != 0 || !strings.Contains(stdout, "test ") {
		t.Errorf("LIBVIRT_DEFAULT_URI: exit %d\n%s", code, stdout)
	}
}

func TestIntegrationBadURI(t *testing.T) {
	needIntegration(t)
	for _, uri := range []string{"vct-bogus:///nowhere", "qemu+unix:///system?socket=/var/tmp/vct-cli-no-such.sock"} {
		code, stdout, stderr := runMain(t, "-c", uri, "list")
		if code != 1 || stdout != "" {
			t.Errorf("%s: exit %d stdout %q", uri, code, stdout)
		}
		wantOneLine(t, stderr, "cannot connect to "+uri)
	}
}
