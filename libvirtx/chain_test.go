package libvirtx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"virtchain/libvirtx/qcow2/qcow2test"
	"virtchain/model"
)

// walkQemuLayer is one element of `qemu-img info --backing-chain --output=json`.
type walkQemuLayer struct {
	Filename      string `json:"filename"`
	Format        string `json:"format"`
	VirtualSize   int64  `json:"virtual-size"`
	ActualSize    int64  `json:"actual-size"`
	ClusterSize   int64  `json:"cluster-size"`
	BackingFile   string `json:"backing-filename"`
	BackingFormat string `json:"backing-filename-format"`
	Dirty         bool   `json:"dirty-flag"`
	Snapshots     []struct {
		Name string `json:"name"`
	} `json:"snapshots"`
}

// walkCompare checks WalkChain against qemu-img layer by layer.
func walkCompare(t *testing.T, top, format string) []model.Layer {
	t.Helper()
	args := []string{"info", "-U", "--backing-chain", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	var want []walkQemuLayer
	if err := json.Unmarshal([]byte(qcow2test.QemuImg(t, append(args, top)...)), &want); err != nil {
		t.Fatal(err)
	}
	got := WalkChain(top, format)
	if len(got) != len(want) {
		t.Fatalf("%d layers, qemu-img %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Problem != "" {
			t.Errorf("layer %d %s: problem %q", i, g.Path, g.Problem)
		}
		var snaps []string
		for _, s := range w.Snapshots {
			snaps = append(snaps, s.Name)
		}
		if g.InternalSnapshots == nil {
			t.Errorf("layer %d: nil InternalSnapshots", i)
		}
		for _, c := range []struct {
			field     string
			got, want any
		}{
			{"path", g.Path, w.Filename},
			{"format", g.Format, w.Format},
			{"virtual size", g.VirtualSize, w.VirtualSize},
			{"allocation", g.Allocation, w.ActualSize},
			{"cluster size", g.ClusterSize, w.ClusterSize},
			{"backing file", g.BackingFile, w.BackingFile},
			{"backing format", g.BackingFormat, w.BackingFormat},
			{"dirty", g.Dirty, w.Dirty},
			{"snapshots", strings.Join(g.InternalSnapshots, ","), strings.Join(snaps, ",")},
		} {
			if c.got != c.want {
				t.Errorf("layer %d %s: %s %v, qemu-img %v", i, g.Path, c.field, c.got, c.want)
			}
		}
		if g.Index != nil || g.CreatedBySnapshot != "" {
			t.Errorf("layer %d: index or created-by filled in: %+v", i, g)
		}
	}
	return got
}

// walkChainOf makes base.raw <- b/mid.qcow2 <- a/top.qcow2 ... with
// relative names through sibling folders, and returns the top.
func walkFixture(t testing.TB, dir string) string {
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	qcow2test.QemuImg(t, "create", "-f", "raw", filepath.Join(dir, "b", "base.raw"), "64M")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw", filepath.Join(dir, "b", "mid.qcow2"))
	qcow2test.QemuImg(t, "snapshot", "-c", "before", filepath.Join(dir, "b", "mid.qcow2"))
	qcow2test.QemuImg(t, "snapshot", "-c", "after update", filepath.Join(dir, "b", "mid.qcow2"))
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-b", "../b/mid.qcow2", "-F", "qcow2", filepath.Join(dir, "a", "top.qcow2"))
	// data written so allocations differ from layer to layer
	if out, err := exec.Command("qemu-io", "-c", "write -P 0x5a 0 1M", filepath.Join(dir, "a", "top.qcow2")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	return filepath.Join(dir, "a", "top.qcow2")
}

func TestWalkChainMatchesQemuImg(t *testing.T) {
	dir := t.TempDir()
	top := walkFixture(t, dir)
	layers := walkCompare(t, top, "qcow2")
	if want := dir + "/a/../b/base.raw"; layers[2].Path != want {
		t.Errorf("base path %q, want %q (joined like QEMU, not cleaned)", layers[2].Path, want)
	}
	// Probed top, and a relative top path.
	walkCompare(t, top, "")
	t.Chdir(dir)
	walkCompare(t, "a/top.qcow2", "")

	// No backing format stored: the backing file is probed.
	nofmt := filepath.Join(dir, "nofmt.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-b", "b/mid.qcow2", "-F", "qcow2", nofmt)
	raw, _ := os.ReadFile(nofmt)
	at := bytes.Index(raw[:4096], []byte{0xe2, 0x79, 0x2a, 0xca})
	qcow2test.Patch(t, nofmt, int64(at), []byte{0x12, 0x34, 0x56, 0x78})
	got := walkCompare(t, nofmt, "qcow2")
	if got[0].BackingFormat != "" || got[1].Format != "qcow2" {
		t.Errorf("probed backing: %+v", got[:2])
	}
}

func TestWalkChainDirtyCorruptDataFile(t *testing.T) {
	dir := t.TempDir()
	top := filepath.Join(dir, "top.qcow2")
	// qemu-img creates a relative data file in its working folder; libvirt
	// resolves it against the image's folder, as WalkChain does.
	t.Chdir(dir)
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-o", "data_file=top.data", top, "16M")
	qcow2test.Patch(t, top, 72, qcow2test.BE64(1|1<<2)) // dirty, keeps external data
	l := walkCompare(t, top, "qcow2")[0]
	if !l.Dirty || l.Corrupt || l.DataFile != "top.data" {
		t.Errorf("dirty/data file layer: %+v", l)
	}
	qcow2test.Patch(t, top, 72, qcow2test.BE64(2|1<<2)) // corrupt
	if l := LayerInfo(top, "qcow2"); l.Dirty || !l.Corrupt || l.Problem != "" {
		t.Errorf("corrupt layer: %+v", l)
	}
	os.Remove(filepath.Join(dir, "top.data"))
	if l := LayerInfo(top, "qcow2"); !strings.HasPrefix(l.Problem, model.ProblemMissing+": external data file "+dir+"/top.data") {
		t.Errorf("missing data file: problem %q", l.Problem)
	}
}

// walkWant checks the last layer of a broken walk.
func walkWant(t *testing.T, layers []model.Layer, n int, path, problem string) {
	t.Helper()
	if len(layers) != n {
		t.Fatalf("%d layers, want %d: %+v", len(layers), n, layers)
	}
	last := layers[n-1]
	if last.Path != path || !strings.HasPrefix(last.Problem, problem) {
		t.Errorf("last layer %q problem %q, want %q problem %q", last.Path, last.Problem, path, problem)
	}
	for i, l := range layers[:n-1] {
		if l.Problem != "" {
			t.Errorf("layer %d %s: problem %q", i, l.Path, l.Problem)
		}
	}
	if last.InternalSnapshots == nil {
		t.Error("nil InternalSnapshots on the problem layer")
	}
}

func TestWalkChainBroken(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	mk := func(name string, args ...string) string {
		qcow2test.QemuImg(t, append(append([]string{"create"}, args...), p(name), "1M")...)
		return p(name)
	}

	t.Run("missing", func(t *testing.T) {
		top := mk("miss.qcow2", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2")
		walkWant(t, WalkChain(top, "qcow2"), 2, p("gone.qcow2"), model.ProblemMissing)
		walkWant(t, WalkChain(p("nothing.qcow2"), ""), 1, p("nothing.qcow2"), model.ProblemMissing)
	})
	t.Run("loop", func(t *testing.T) {
		a := mk("la.qcow2", "-f", "qcow2")
		b := mk("lb.qcow2", "-f", "qcow2", "-b", "la.qcow2", "-F", "qcow2")
		qcow2test.QemuImg(t, "rebase", "-u", "-b", "lb.qcow2", "-F", "qcow2", a)
		walkWant(t, WalkChain(a, "qcow2"), 3, a, model.ProblemLoop)
		// The same file through another name is still a loop.
		if err := os.Symlink(a, p("alias.qcow2")); err != nil {
			t.Fatal(err)
		}
		qcow2test.QemuImg(t, "rebase", "-u", "-b", "alias.qcow2", "-F", "qcow2", b)
		walkWant(t, WalkChain(a, "qcow2"), 3, p("alias.qcow2"), model.ProblemLoop)
		// A layer naming itself.
		self := mk("self.qcow2", "-f", "qcow2", "-u", "-b", "self.qcow2", "-F", "qcow2")
		walkWant(t, WalkChain(self, "qcow2"), 2, self, model.ProblemLoop)
	})
	t.Run("unknown format", func(t *testing.T) {
		vmdk := mk("x.vmdk", "-f", "vmdk")
		walkWant(t, WalkChain(vmdk, ""), 1, vmdk, model.ProblemUnknownFormat)
		top := mk("onvmdk.qcow2", "-f", "qcow2", "-b", "x.vmdk", "-F", "vmdk")
		l := WalkChain(top, "qcow2")
		walkWant(t, l, 2, p("x.vmdk"), model.ProblemUnknownFormat)
		if l[1].Format != "vmdk" {
			t.Errorf("format %q", l[1].Format)
		}
		walkWant(t, WalkChain(top, "floppy-disk"), 1, top, model.ProblemUnknownFormat)
		// The XML says qcow2, the file is raw.
		raw := mk("plain.raw", "-f", "raw")
		walkWant(t, WalkChain(raw, "qcow2"), 1, raw, model.ProblemUnknownFormat+": qcow2 expected, the file looks raw")
	})
	t.Run("raw base", func(t *testing.T) {
		mk("base.img", "-f", "raw")
		top := mk("onraw.qcow2", "-f", "qcow2", "-b", "base.img", "-F", "raw")
		walkCompare(t, top, "qcow2")
		// raw named by the caller is not probed: a qcow2 read as raw has
		// no backing.
		l := WalkChain(top, "raw")
		if len(l) != 1 || l[0].Format != "raw" || l[0].BackingFile != "" {
			t.Errorf("qcow2 read as raw: %+v", l)
		}
		st, _ := os.Stat(top)
		if l[0].VirtualSize != st.Size() {
			t.Errorf("raw virtual size %d, file size %d", l[0].VirtualSize, st.Size())
		}
	})
	t.Run("past end of file", func(t *testing.T) {
		top := mk("snap.qcow2", "-f", "qcow2", "-b", "base.img", "-F", "raw")
		qcow2test.Patch(t, top, 60, append(qcow2test.BE32(1), qcow2test.BE64(1<<30)...))
		l := WalkChain(top, "qcow2")
		walkWant(t, l, 1, top, model.ProblemPastEOF)
		// One reason, then where: the reader's own prefix is not repeated.
		if want := model.ProblemPastEOF + ": snapshot table at 1073741824, file is "; !strings.HasPrefix(l[0].Problem, want) {
			t.Errorf("problem %q, want it to start %q", l[0].Problem, want)
		}
	})
	t.Run("name too long", func(t *testing.T) {
		top := mk("long.qcow2", "-f", "qcow2", "-u", "-b", "x.qcow2", "-F", "qcow2")
		qcow2test.Patch(t, top, 16, qcow2test.BE32(1024))
		l := WalkChain(top, "qcow2")
		walkWant(t, l, 1, top, model.ProblemNameTooLong)
	})
	t.Run("not a local file", func(t *testing.T) {
		for name, reason := range map[string]string{
			"nbd://host:10809/export":        "an NBD export",
			`json:{"driver":"qcow2"}`:        "a json: block-device description",
			"rbd:pool/image":                 "rbd protocol",
			"https://example.com/disk.qcow2": "https protocol",
		} {
			top := p("net.qcow2")
			os.Remove(top)
			qcow2test.QemuImg(t, "create", "-f", "qcow2", "-u", "-b", name, "-F", "qcow2", top, "1M")
			walkWant(t, WalkChain(top, "qcow2"), 2, name, ProblemNotLocal+": "+reason)
		}
	})
	t.Run("folder and fifo", func(t *testing.T) {
		os.Mkdir(p("adir"), 0o755)
		walkWant(t, WalkChain(p("adir"), ""), 1, p("adir"), model.ProblemNotRegular+": a folder")
		if err := syscall.Mkfifo(p("fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		walkWant(t, WalkChain(p("fifo"), ""), 1, p("fifo"), model.ProblemNotRegular+": a FIFO")
	})
	t.Run("permission", func(t *testing.T) {
		mk("secret.qcow2", "-f", "qcow2")
		top := mk("perm.qcow2", "-f", "qcow2", "-b", "secret.qcow2", "-F", "qcow2")
		os.Chmod(p("secret.qcow2"), 0o600)
		os.Chmod(dir, 0o755)
		os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's parent is 0700 too
		asNobody(t, func() {
			walkWant(t, WalkChain(top, "qcow2"), 2, p("secret.qcow2"), model.ProblemUnreadable+": permission denied")
		})
	})
}

// asNobody runs f with the filesystem uid of nobody on this thread only,
// so root (which reads everything) meets permission errors too.
func asNobody(t *testing.T, f func()) {
	if os.Geteuid() != 0 {
		f()
		return
	}
	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_SETFSUID, 65534, 0, 0)
	defer func() {
		syscall.RawSyscall(syscall.SYS_SETFSUID, 0, 0, 0)
		// setfsuid returns the previous id: check that the thread is root
		// again before handing it back to the scheduler.
		if prev, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, 0, 0, 0); prev == 0 {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

// walkDeepChain makes n tiny qcow2 images l0000 <- l0001 <- ... (l0000 on
// top) by patching the backing name of one template, and returns the top.
func walkDeepChain(t testing.TB, dir string, n int) string {
	tmpl := filepath.Join(dir, "template")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-o", "cluster_size=512", "-u", "-b", "l0000.qcow2", "-F", "qcow2", tmpl, "1M")
	b, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte("l0000.qcow2"))
	for i := range n {
		img := bytes.Clone(b)
		if i == n-1 {
			binary.BigEndian.PutUint64(img[8:], 0) // the base: no backing
			binary.BigEndian.PutUint32(img[16:], 0)
		}
		copy(img[at:], fmt.Sprintf("l%04d.qcow2", i+1))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("l%04d.qcow2", i)), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "l0000.qcow2")
}

func TestWalkChainDepth(t *testing.T) {
	dir := t.TempDir()
	top := walkDeepChain(t, dir, model.MaxChainDepth+1)
	layers := WalkChain(top, "qcow2")
	walkWant(t, layers, model.MaxChainDepth+1, filepath.Join(dir, "l1000.qcow2"), model.ProblemTooDeep)

	// Exactly MaxChainDepth layers is fine, and qemu-img agrees layer by
	// layer on a shorter one made the same way.
	os.Remove(filepath.Join(dir, "l1000.qcow2"))
	b, _ := os.ReadFile(filepath.Join(dir, "l0999.qcow2"))
	binary.BigEndian.PutUint64(b[8:], 0)
	binary.BigEndian.PutUint32(b[16:], 0)
	os.WriteFile(filepath.Join(dir, "l0999.qcow2"), b, 0o644)
	layers = WalkChain(top, "qcow2")
	if len(layers) != model.MaxChainDepth || layers[len(layers)-1].Problem != "" {
		t.Errorf("%d layers, last %+v", len(layers), layers[len(layers)-1])
	}
	walkCompare(t, walkDeepChain(t, t.TempDir(), 5), "qcow2")
}

func TestLayerInfo(t *testing.T) {
	dir := t.TempDir()
	top := walkFixture(t, dir)
	chain := WalkChain(top, "qcow2")
	for _, want := range chain {
		if got := LayerInfo(want.Path, want.Format); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("LayerInfo(%s) = %+v, walk gave %+v", want.Path, got, want)
		}
	}
	if l := LayerInfo(filepath.Join(dir, "absent"), "qcow2"); l.Problem != model.ProblemMissing || l.InternalSnapshots == nil {
		t.Errorf("absent: %+v", l)
	}
}

// BenchmarkWalkChain walks a 16-layer qcow2 chain, the depth of the
// discovery benchmark's disks.
func BenchmarkWalkChain(b *testing.B) {
	top := walkDeepChain(b, b.TempDir(), 16)
	if l := WalkChain(top, "qcow2"); len(l) != 16 || l[15].Problem != "" {
		b.Fatalf("bad fixture: %d layers", len(l))
	}
	b.ReportAllocs()
	for b.Loop() {
		WalkChain(top, "qcow2")
	}
}
