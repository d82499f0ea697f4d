package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/libvirtx"
	"virtchain/libvirtx/lab"
	"virtchain/libvirtx/testhost"
)

// The lab integration test builds a whole lab of its own (prefix
// vct-lab-cli-, a folder under /var/tmp) with `virtchain lab up`, checks
// discovery of every disk and snapshot tree against qemu-img and virsh,
// breaks two chains on purpose, and checks that `lab down` leaves nothing.

// The helpers below are the lab test's own, so it does not depend on the
// other integration tests of this package.

var labURI = testhost.URI()

// labMain runs Main in-process.
func labMain(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

// labTool runs an external program from argv and fails the test on error.
func labTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func labVirsh(t *testing.T, args ...string) string {
	t.Helper()
	return labTool(t, "virsh", append([]string{"-c", testhost.DirectURI()}, args...)...)
}

// labLayer and labDisk read the JSON contract of `virtchain chain --json`.
type labLayer struct {
	Index             *int     `json:"index"`
	Path              string   `json:"path"`
	Format            string   `json:"format"`
	VirtualSize       int64    `json:"virtual_size"`
	Allocation        int64    `json:"allocation"`
	BackingFormat     string   `json:"backing_format"`
	CreatedBySnapshot string   `json:"created_by_snapshot"`
	InternalSnapshots []string `json:"internal_snapshots"`
	Problem           *string  `json:"problem"`
}

type labDisk struct {
	Target string     `json:"target"`
	Source string     `json:"source"`
	Layers []labLayer `json:"layers"`
}

// labQemuLayer is one element of `qemu-img info -U --backing-chain
// --output=json`: the reference for a layer.
type labQemuLayer struct {
	Filename      string `json:"filename"`
	Format        string `json:"format"`
	VirtualSize   int64  `json:"virtual-size"`
	ActualSize    int64  `json:"actual-size"`
	BackingFormat string `json:"backing-filename-format"`
	Snapshots     []struct {
		Name string `json:"name"`
	} `json:"snapshots"`
}

func labQemuInfo(t *testing.T, top string) []labQemuLayer {
	t.Helper()
	var out []labQemuLayer
	if err := json.Unmarshal([]byte(labTool(t, "qemu-img", "info", "-U", "--backing-chain", "--output=json", top)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type labChainJSON struct {
	Domain string    `json:"domain"`
	Disks  []labDisk `json:"disks"`
}

type labSnapJSON struct {
	Current   string `json:"current"`
	Snapshots []struct {
		Name   string `json:"name"`
		Parent string `json:"parent"`
		Kind   string `json:"kind"`
	} `json:"snapshots"`
}

// labCLI runs Main against the host under test and fails on a non-zero exit.
// labBuild runs `lab up` or `lab down` (args) on the host's own socket:
// the lab makes its images with qemu-img where virtchain runs, so over
// ssh it refuses (TestIntegrationLab checks that) and a test builds its
// lab there, then runs what it tests through labURI.
func labBuild(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := labMain(append([]string{"-c", hostURI}, args...)...)
	if code != 0 {
		t.Fatalf("virtchain -c %s %s: exit %d: %s", hostURI, strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func labCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := labMain(append([]string{"-c", labURI}, args...)...)
	if code != 0 {
		t.Fatalf("virtchain %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// virshTree reads `virsh snapshot-list --tree` into child -> parent. Each
// level indents the "+- " marker by four more columns.
func virshTree(t *testing.T, domain string) map[string]string {
	t.Helper()
	parents := map[string]string{}
	var stack []string // stack[d] is the last snapshot seen at depth d
	for _, line := range strings.Split(labVirsh(t, "snapshot-list", "--tree", "--domain", domain), "\n") {
		name, depth := strings.TrimSpace(line), 0
		if i := strings.Index(line, "+- "); i >= 0 {
			name, depth = strings.TrimSpace(line[i+3:]), (i+2)/4
		} else if name == "" || name == "|" || strings.HasPrefix(line, " ") {
			continue
		}
		if depth > len(stack) {
			t.Fatalf("cannot read virsh tree line %q", line)
		}
		stack = append(stack[:depth], name)
		parents[name] = ""
		if depth > 0 {
			parents[name] = stack[depth-1]
		}
	}
	return parents
}

func TestIntegrationLab(t *testing.T) {
	if os.Getenv("VIRTCHAIN_INTEGRATION") != "1" {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 (make test does) to run it against the real libvirtd")
	}
	dir, err := os.MkdirTemp("/var/tmp", "vct-lab-cli-")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "vct-lab-cli-"
	up := []string{"lab", "up", "--prefix", prefix, "--dir", dir}
	down := []string{"lab", "down", "--prefix", prefix, "--dir", dir}
	// The lab makes its images with qemu-img where virtchain runs: over
	// ssh it refuses, saying so, and is built on the host's socket; the
	// rest reads it through the connection under test.
	labHost := labURI
	if testhost.OverSSH() {
		if code, _, stderr := labMain(append([]string{"-c", labURI}, up...)...); code != 1 || !strings.Contains(stderr, "is not this host's libvirt") {
			t.Fatalf("lab up over ssh: exit %d: %s", code, stderr)
		}
		labHost = testhost.DirectURI()
	}
	t.Cleanup(func() {
		labMain(append([]string{"-c", labHost}, down...)...)
		os.RemoveAll(dir)
	})
	code, out, stderr := labMain(append([]string{"-c", labHost}, up...)...)
	if code != 0 {
		t.Fatalf("virtchain lab up: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "lab: up: 6 domains") {
		t.Errorf("lab up output lacks its summary:\n%s", out)
	}
	names := lab.DomainNames(prefix)

	// Running domains keep qcow2 metadata in memory: flush every disk so
	// qemu-img reads what QEMU wrote.
	conn, err := libvirtx.Open(labHost, false) // the test's own flush
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, name := range names {
		if strings.TrimSpace(labVirsh(t, "domstate", name)) != "running" {
			continue
		}
		for _, target := range []string{"vda", "vdb"} {
			if strings.Contains(labVirsh(t, "domblklist", name), target) {
				if err := conn.GuestQemuIO(name, target, "flush"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	t.Run("chains match qemu-img", func(t *testing.T) {
		disks := 0
		for _, name := range names {
			running := strings.TrimSpace(labVirsh(t, "domstate", name)) == "running"
			var c labChainJSON
			if err := json.Unmarshal([]byte(labCLI(t, "chain", name, "--json")), &c); err != nil {
				t.Fatal(err)
			}
			if c.Domain != name || len(c.Disks) == 0 {
				t.Fatalf("chain %s: %+v", name, c)
			}
			for _, d := range c.Disks {
				disks++
				ref := labQemuInfo(t, d.Source)
				if len(d.Layers) != len(ref) {
					t.Errorf("%s %s: %d layers, qemu-img has %d", name, d.Target, len(d.Layers), len(ref))
					continue
				}
				for i, l := range d.Layers {
					r := ref[i]
					where := name + " " + d.Target + " layer " + filepath.Base(r.Filename)
					if l.Path != r.Filename || l.Format != r.Format || l.VirtualSize != r.VirtualSize ||
						l.Allocation != r.ActualSize || l.BackingFormat != r.BackingFormat {
						t.Errorf("%s: ours path %s format %s virtual %d allocation %d backing format %q;\n"+
							"  qemu-img: %s %s %d %d %q", where, l.Path, l.Format, l.VirtualSize, l.Allocation, l.BackingFormat,
							r.Filename, r.Format, r.VirtualSize, r.ActualSize, r.BackingFormat)
					}
					var snaps []string
					for _, s := range r.Snapshots {
						snaps = append(snaps, s.Name)
					}
					if strings.Join(l.InternalSnapshots, ",") != strings.Join(snaps, ",") && !runningRemote(running) {
						t.Errorf("%s: internal snapshots %q, qemu-img %q", where, l.InternalSnapshots, snaps)
					}
					if (l.Index != nil) != running {
						t.Errorf("%s: index %v on a domain running=%v", where, l.Index, running)
					}
					if l.Problem == nil || *l.Problem != "" {
						t.Errorf("%s: problem %v, want \"\"", where, l.Problem)
					}
				}
			}
		}
		if disks != 7 {
			t.Errorf("checked %d disks, the lab has 7", disks)
		}

		// The classic chain names the snapshot that made each overlay.
		var c labChainJSON
		if err := json.Unmarshal([]byte(labCLI(t, "chain", prefix+"test2", "vda", "--json")), &c); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range c.Disks[0].Layers {
			got = append(got, filepath.Base(l.Path)+"="+l.CreatedBySnapshot)
		}
		want := "test2_lsof.qcow2=lsof test2_net-tools.qcow2=net-tools test2_nmap.qcow2=nmap test2_test.qcow2=test test2.qcow2= centos.qcow2="
		if strings.Join(got, " ") != want {
			t.Errorf("test2 layers and their snapshots:\n got %s\nwant %s", strings.Join(got, " "), want)
		}
	})

	t.Run("snapshot trees match virsh", func(t *testing.T) {
		for _, name := range names {
			var s labSnapJSON
			if err := json.Unmarshal([]byte(labCLI(t, "snapshots", name, "--json")), &s); err != nil {
				t.Fatal(err)
			}
			ours := map[string]string{}
			for _, sn := range s.Snapshots {
				ours[sn.Name] = sn.Parent
			}
			ref := virshTree(t, name)
			if len(ours) != len(ref) {
				t.Errorf("%s: %d snapshots %v, virsh has %d %v", name, len(ours), ours, len(ref), ref)
			}
			for n, p := range ref {
				if q, ok := ours[n]; !ok || q != p {
					t.Errorf("%s: snapshot %s parent %q (present %v), virsh says %q", name, n, q, ok, p)
				}
			}
			cur := ""
			if len(ref) > 0 {
				cur = strings.TrimSpace(labVirsh(t, "snapshot-current", "--name", name))
			}
			if s.Current != cur {
				t.Errorf("%s: current %q, virsh says %q", name, s.Current, cur)
			}
		}
		// The lab's tree really branches.
		if ref := virshTree(t, prefix+"tree"); ref["app-v1"] != "configured" || ref["app-v2"] != "configured" || ref["experiment"] != "installed" {
			t.Errorf("tree is not branched: %v", ref)
		}
	})

	t.Run("broken chains are data", func(t *testing.T) {
		// A missing backing file: shared-b's base moves away.
		base := filepath.Join(dir, "shared-base.qcow2")
		if err := os.Rename(base, base+".away"); err != nil {
			t.Fatal(err)
		}
		checkProblem(t, prefix+"shared-b", base, "missing")
		if err := os.Rename(base+".away", base); err != nil {
			t.Fatal(err)
		}

		// A loop: deep_1's backing file becomes deep_5, the active layer.
		labTool(t, "qemu-img", "rebase", "-u", "-F", "qcow2", "-b", filepath.Join(dir, "deep_5.qcow2"), filepath.Join(dir, "deep_1.qcow2"))
		checkProblem(t, prefix+"deep", "", "loop")
	})

	if code, _, stderr := labMain(append([]string{"-c", labHost}, down...)...); code != 0 {
		t.Fatalf("virtchain lab down: exit %d: %s", code, stderr)
	}
	if out := labVirsh(t, "list", "--all", "--name"); strings.Contains(out, prefix) {
		t.Errorf("lab down left domains:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab down left %s (%v)", dir, err)
	}
}

// checkProblem runs `chain D --json`, which must exit 0, and wants a layer
// whose problem mentions word (and whose path is path, when given).
func checkProblem(t *testing.T, domain, path, word string) {
	t.Helper()
	code, stdout, stderr := labMain("-c", labURI, "chain", domain, "--json")
	if code != 0 {
		t.Fatalf("chain %s on a broken chain: exit %d: %s", domain, code, stderr)
	}
	var c labChainJSON
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("chain %s: %v\n%s", domain, err, stdout)
	}
	for _, d := range c.Disks {
		if len(d.Layers) > 1001 {
			t.Fatalf("%s %s: %d layers: the walk did not stop", domain, d.Target, len(d.Layers))
		}
		for _, l := range d.Layers {
			if l.Problem != nil && strings.Contains(*l.Problem, word) && (path == "" || l.Path == path) {
				return
			}
		}
	}
	t.Errorf("chain %s: no layer flagged %q (path %q):\n%s", domain, word, path, stdout)
}
