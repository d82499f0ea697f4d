package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
)

// `virtchain check` against the real libvirtd: one shut-off domain (vc11c-)
// per finding, its images made by qemu-img and its faults made by hand
// (header bytes written here, files removed, a FIFO, a loop, a deep chain).

type checkFindingJSON struct {
	Kind     string `json:"kind"`
	Verdict  string `json:"verdict"`
	Disk     string `json:"disk"`
	Path     string `json:"path"`
	Snapshot string `json:"snapshot"`
	Text     string `json:"text"`
	Fix      string `json:"fix"`
}

type checkLayerJSON struct {
	Path     string             `json:"path"`
	Verdict  string             `json:"verdict"`
	Checked  []string           `json:"checked"`
	Notes    []string           `json:"notes"`
	Findings []checkFindingJSON `json:"findings"`
}

type checkDomainJSON struct {
	Domain  string `json:"domain"`
	Verdict string `json:"verdict"`
	Disks   []struct {
		Target string           `json:"target"`
		Layers []checkLayerJSON `json:"layers"`
	} `json:"disks"`
	Findings []checkFindingJSON `json:"findings"`
	Notes    []string           `json:"notes"`
}

type checkOutJSON struct {
	Healthy bool              `json:"healthy"`
	Domains []checkDomainJSON `json:"domains"`
}

// runCheckJSON runs check --json on uri and returns its exit status and
// the one domain's report.
func runCheckJSON(t *testing.T, uri, name string) (int, checkDomainJSON, string) {
	t.Helper()
	code, stdout, stderr := runMain(t, "-c", uri, "--json", "check", name)
	var out checkOutJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Domains) != 1 {
		t.Fatalf("check %s: exit %d, bad JSON (%v):\n%s\n%s", name, code, err, stdout, stderr)
	}
	if out.Healthy != (code == 0) {
		t.Errorf("healthy %v with exit %d", out.Healthy, code)
	}
	return code, out.Domains[0], stderr
}

// runCheckRO is runCheckJSON over a read-only connection.
func runCheckRO(t *testing.T, uri, name string) (int, checkDomainJSON, string) {
	t.Helper()
	code, stdout, stderr := runMain(t, "-c", uri, "--readonly", "--json", "check", name)
	var out checkOutJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Domains) != 1 {
		t.Fatalf("check --readonly %s: exit %d, bad JSON (%v):\n%s\n%s", name, code, err, stdout, stderr)
	}
	return code, out.Domains[0], stderr
}

// findingOf is the first finding of kind in d (layers, then metadata).
func findingOf(d checkDomainJSON, kind string) *checkFindingJSON {
	for _, disk := range d.Disks {
		for _, l := range disk.Layers {
			for i := range l.Findings {
				if l.Findings[i].Kind == kind {
					return &l.Findings[i]
				}
			}
		}
	}
	for i := range d.Findings {
		if d.Findings[i].Kind == kind {
			return &d.Findings[i]
		}
	}
	return nil
}

// wantFinding checks that check exits 1 with a finding of kind at path
// (any path when ""), whose fix contains fix.
func wantFinding(t *testing.T, uri, name, kind, path, fix string) checkDomainJSON {
	t.Helper()
	code, d, stderr := runCheckJSON(t, uri, name)
	f := findingOf(d, kind)
	switch {
	case f == nil:
		t.Fatalf("exit %d, no %s finding: %+v", code, kind, d)
	case path != "" && f.Path != path:
		t.Errorf("%s finding on %s, want %s", kind, f.Path, path)
	case !strings.Contains(f.Fix, fix):
		t.Errorf("%s fix %q lacks %q", kind, f.Fix, fix)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (%s)", code, stderr)
	} else {
		wantOneLine(t, stderr, "findings on 1 of 1 domains", name)
	}
	t.Logf("%s: %s; fix: %s", kind, f.Text, f.Fix)
	return d
}

// Over ssh, libvirt's storage API is check's only view of the host: it
// reads headers and first bytes there, but runs no qemu-img and shows no
// folder modes, nor where a symlink leads. These are the report's words.
const (
	remoteCheckNote = "qemu-img check and QEMU's access to the images were not checked: over a remote connection libvirt's storage API runs no qemu-img on the host and shows neither QEMU's user nor the folders' modes on the way; run virtchain check on the host itself for them"
	remoteRelative  = "not compared with the image's real folder: over a remote connection libvirt's storage API does not show whether the image's path is a symlink, or where it leads, so whether the name means another file beside the real image cannot be told; run virtchain check on the host itself"
)

// checkedBy is what a layer's report says was checked, given what a
// direct check looks at: over ssh the same, but no qemu-img check.
func checkedBy(direct ...string) []string {
	if !testhost.OverSSH() {
		return direct
	}
	var out []string
	for _, c := range direct {
		if !strings.HasPrefix(c, "qemu-img check") {
			out = append(out, c)
		}
	}
	return out
}

// wantChecked checks a layer's "checked" list against checkedBy(direct...).
func wantChecked(t *testing.T, l checkLayerJSON, direct ...string) {
	t.Helper()
	if want := checkedBy(direct...); !slices.Equal(l.Checked, want) {
		t.Errorf("%s over %s: checked %q, want %q", l.Path, testhost.Via(), l.Checked, want)
	}
}

// wantRemoteNote checks that the domain's notes hold remoteCheckNote over
// ssh, and not directly.
func wantRemoteNote(t *testing.T, d checkDomainJSON) {
	t.Helper()
	if has := slices.Contains(d.Notes, remoteCheckNote); has != testhost.OverSSH() {
		t.Errorf("over %s: notes %q (remote note there: %v)", testhost.Via(), d.Notes, has)
	}
}

// wantHealthy checks that check finds nothing in the shut-off domain and
// exits 0, having checked each layer's chain, header and (directly) with
// qemu-img check, and that over ssh its notes say what was not checked
// and where it can be: what a fault that only qemu-img check or a look
// at the host's folders finds gives over ssh.
func wantHealthy(t *testing.T, name string) checkDomainJSON {
	t.Helper()
	code, d, stderr := runCheckJSON(t, systemURI, name)
	if code != 0 || d.Verdict != "ok" || stderr != "" || len(d.Disks) != 1 {
		t.Fatalf("over %s: exit %d, verdict %s (%s): %+v", testhost.Via(), code, d.Verdict, stderr, d)
	}
	wantRemoteNote(t, d)
	for _, l := range d.Disks[0].Layers {
		wantChecked(t, l, "chain", "header", "qemu-img check")
	}
	return d
}

// checkScratch makes a folder and a domain name of this test's own.
func checkScratch(t *testing.T, what string) (name, dir string) {
	t.Helper()
	name = fmt.Sprintf("vc11c-%s-%d", what, time.Now().UnixNano()%1_000_000_000)
	return name, scratchDomain(t, name, "vc11c-")
}

// twoLayers makes base.qcow2 (with data) and top.qcow2 over it in dir.
func twoLayers(t *testing.T, dir string) (base, top string) {
	t.Helper()
	base, top = filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "top.qcow2")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
	labTool(t, "qemu-io", "-c", "write -P 0x11 0 1M", base)
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
	return base, top
}

// setRefcount writes a 16-bit refcount for cluster n of a fresh qcow2
// image: the first refcount block covers it.
func setRefcount(t *testing.T, path string, n int64, refcount uint16) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [104]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		t.Fatal(err)
	}
	if order := binary.BigEndian.Uint32(hdr[96:]); order != 4 {
		t.Fatalf("refcount order %d, want 4", order)
	}
	var e [8]byte
	if _, err := f.ReadAt(e[:], int64(binary.BigEndian.Uint64(hdr[48:]))); err != nil {
		t.Fatal(err)
	}
	block := int64(binary.BigEndian.Uint64(e[:]))
	var r [2]byte
	binary.BigEndian.PutUint16(r[:], refcount)
	if _, err := f.WriteAt(r[:], block+2*n); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationCheckHealthy(t *testing.T) {
	needIntegration(t)
	name, dir := checkScratch(t, "ok")
	base, top := twoLayers(t, dir)
	defineDiskDomain(t, name, dir, top)
	// Over ssh the same verdict, without qemu-img check, which the
	// domain's note says; no layer has a note (no relative backing name).
	d := wantHealthy(t, name)
	for i, l := range d.Disks[0].Layers {
		if l.Path != []string{top, base}[i] || len(l.Findings) != 0 || len(l.Notes) != 0 {
			t.Errorf("layer %d: %+v", i, l)
		}
	}
	text := cliText(t, "check", name)
	if !strings.Contains(text, name+" (shut off): ok") {
		t.Errorf("text:\n%s", text)
	}

	// Running: the active layer is QEMU's and is not checked from outside,
	// its base is checked with -U; still healthy, still exit 0.
	labVirsh(t, "start", name)
	code, d, stderr := runCheckJSON(t, systemURI, name)
	if code != 0 || d.Verdict != "ok" {
		t.Fatalf("healthy running domain: exit %d, verdict %s: %s %+v", code, d.Verdict, stderr, d)
	}
	wantRemoteNote(t, d)
	active, below := d.Disks[0].Layers[0], d.Disks[0].Layers[1]
	wantChecked(t, active, "chain", "header")
	wantChecked(t, below, "chain", "header", "qemu-img check -U")
	if writes := strings.Contains(strings.Join(active.Notes, " "), "writes it"); writes == testhost.OverSSH() {
		// Directly the layer says why qemu-img check skipped it; over
		// ssh the domain's note says why none ran.
		t.Errorf("active layer of a running domain: %+v", active)
	}
	// A dirty bit on the image QEMU writes is its in-memory state, not a
	// fault (over ssh the header is read through the folder's pool all the
	// same).
	testhost.SetIncompatible(t, top, 1)
	code, d, _ = runCheckJSON(t, systemURI, name)
	if code != 0 || findingOf(d, "dirty") != nil || !strings.Contains(strings.Join(d.Disks[0].Layers[0].Notes, " "), "dirty bit set while "+name+"'s QEMU has it open") {
		t.Errorf("dirty active layer of a running domain: exit %d %+v", code, d)
	}
	labVirsh(t, "destroy", name)
}

func TestIntegrationCheckHeader(t *testing.T) {
	needIntegration(t)
	for _, c := range []struct {
		what, kind string
		bits       uint64
		fix        string
	}{
		{"dirty", "dirty", 1, "qemu-img check -r all"},
		{"corrupt", "corrupt", 2, "qemu-img check -r all"},
		{"unknown", "unknown-features", 1<<20 | 1<<21, "qemu-img info"},
	} {
		t.Run(c.what, func(t *testing.T) {
			name, dir := checkScratch(t, c.what)
			base, top := twoLayers(t, dir)
			testhost.SetIncompatible(t, base, c.bits)
			if c.kind == "unknown-features" {
				// As a newer QEMU would: its table names bit 20 (not 21).
				nameFeature(t, base, 20, "vc11c future feature")
			}
			defineDiskDomain(t, name, dir, top)
			d := wantFinding(t, systemURI, name, c.kind, base, c.fix+" "+base)
			if f := findingOf(d, c.kind); c.kind == "unknown-features" && !strings.Contains(f.Text, "0x300000 (vc11c future feature, bit 21)") {
				t.Errorf("text %q does not name the bits from the image's table", f.Text)
			}
		})
	}
}

// nameFeature renames the image's feature name table entry of the
// incompatible bit 4 (extended L2 entries, unset in these images) to bit
// bit, named name: the table of a QEMU that knows that bit.
func nameFeature(t *testing.T, path string, bit uint8, name string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 65536)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	for off := int(be.Uint32(hdr[100:])); off+8 <= len(hdr); {
		typ, n := be.Uint32(hdr[off:]), int(be.Uint32(hdr[off+4:]))
		off += 8
		if typ == 0 {
			break
		}
		for e := off; typ == 0x6803f857 && e+48 <= off+n; e += 48 {
			if hdr[e] == 0 && hdr[e+1] == 4 {
				entry := make([]byte, 48)
				entry[1] = bit
				copy(entry[2:], name)
				if _, err := f.WriteAt(entry, int64(e)); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		off += (n + 7) &^ 7
	}
	t.Fatal("no feature name table entry for incompatible bit 4 in " + path)
}

func TestIntegrationCheckBackingNames(t *testing.T) {
	needIntegration(t)
	t.Run("format", func(t *testing.T) {
		name, dir := checkScratch(t, "fmt")
		base, top := filepath.Join(dir, "base.raw"), filepath.Join(dir, "top.qcow2")
		labTool(t, "qemu-img", "create", "-q", "-f", "raw", base, "64M")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", base, "-F", "qcow2", top, "64M")
		defineDiskDomain(t, name, dir, top)
		wantFinding(t, systemURI, name, "backing-format", top, "qemu-img rebase -u -F raw -b "+base+" "+top)
	})
	t.Run("relative", func(t *testing.T) {
		// The domain opens link/top.qcow2, a symlink to real/top.qcow2
		// whose relative backing name base.qcow2 means link/base.qcow2
		// there and real/base.qcow2 beside the file.
		name, dir := checkScratch(t, "rel")
		real, link := filepath.Join(dir, "real"), filepath.Join(dir, "link")
		for _, d := range []string{real, link} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(real, "base.qcow2"), "64M")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", filepath.Join(link, "base.qcow2"), "64M")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", filepath.Join(real, "top.qcow2"))
		if err := os.Symlink("../real/top.qcow2", filepath.Join(link, "top.qcow2")); err != nil {
			t.Fatal(err)
		}
		top := filepath.Join(link, "top.qcow2")
		defineDiskDomain(t, name, dir, top)
		if testhost.OverSSH() {
			// The storage API names the volume by the link's path and
			// never says where it leads: the top's note says what was not
			// compared, and why; nothing is found.
			code, d, stderr := runCheckJSON(t, systemURI, name)
			if code != 0 || d.Verdict != "ok" {
				t.Errorf("relative name over ssh: exit %d (%s) %+v", code, stderr, d)
			}
			wantRemoteNote(t, d)
			top, below := d.Disks[0].Layers[0], d.Disks[0].Layers[1]
			if want := []string{"relative backing name base.qcow2 " + remoteRelative}; !slices.Equal(top.Notes, want) || len(below.Notes) != 0 {
				t.Errorf("notes of %s %q and %s %q, want %q on the top only", top.Path, top.Notes, below.Path, below.Notes, want)
			}
			return
		}
		f := findingOf(wantFinding(t, systemURI, name, "relative-backing", top, "-b "+filepath.Join(link, "base.qcow2")+" "+top), "relative-backing")
		if !strings.Contains(f.Text, filepath.Join(real, "base.qcow2")) {
			t.Errorf("text does not name the file beside: %s", f.Text)
		}
	})
}

func TestIntegrationCheckImageCheck(t *testing.T) {
	needIntegration(t)
	t.Run("corruptions", func(t *testing.T) {
		name, dir := checkScratch(t, "corr")
		base, top := twoLayers(t, dir)
		setRefcount(t, base, 0, 0) // the header cluster, in use, counted 0
		defineDiskDomain(t, name, dir, top)
		if testhost.OverSSH() {
			wantHealthy(t, name)
			return
		}
		wantFinding(t, systemURI, name, "image-corruptions", base, "qemu-img check -r all "+base)
	})
	t.Run("leaks", func(t *testing.T) {
		name, dir := checkScratch(t, "leak")
		_, top := twoLayers(t, dir)
		// A cluster past the last one in use, counted 1 and used by
		// nothing: the file grows to hold it.
		st, err := os.Stat(top)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(top, st.Size()+4<<16); err != nil {
			t.Fatal(err)
		}
		setRefcount(t, top, st.Size()>>16+1, 1)
		defineDiskDomain(t, name, dir, top)
		if testhost.OverSSH() {
			wantHealthy(t, name)
			return
		}
		d := wantFinding(t, systemURI, name, "image-leaks", top, "qemu-img check -r leaks "+top)
		if d.Verdict != "warning" {
			t.Errorf("leaks only: verdict %s, want warning", d.Verdict)
		}
	})
}

func TestIntegrationCheckChainFiles(t *testing.T) {
	needIntegration(t)
	t.Run("missing", func(t *testing.T) {
		name, dir := checkScratch(t, "miss")
		base, top := twoLayers(t, dir)
		if err := os.Remove(base); err != nil {
			t.Fatal(err)
		}
		defineDiskDomain(t, name, dir, top)
		d := wantFinding(t, systemURI, name, "missing", base, "qemu-img rebase -u -F FORMAT -b BACKING "+top)
		// qemu-img checks the top on its own, without the chain below
		// (over ssh its header is read, and qemu-img not run).
		wantRemoteNote(t, d)
		wantChecked(t, d.Disks[0].Layers[0], "chain", "header", "qemu-img check")
		if top := d.Disks[0].Layers[0]; len(top.Findings) != 0 {
			t.Errorf("the top over a missing base: %+v", top)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		name, dir := checkScratch(t, "fifo")
		base, top := twoLayers(t, dir)
		if err := os.Remove(base); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(base, 0o644); err != nil {
			t.Fatal(err)
		}
		defineDiskDomain(t, name, dir, top)
		d := wantFinding(t, systemURI, name, "not-regular", base, top)
		// Over ssh the folder's pool leaves the FIFO out; that it exists
		// all the same is what libvirt says when asked for a pool there.
		want := "not a regular file or block device: a FIFO"
		if testhost.OverSSH() {
			want = "not a regular file or block device: its folder's storage pool does not list it, yet it exists and is no folder: a FIFO, a socket or a character device, which libvirt's pools leave out"
		}
		if f := findingOf(d, "not-regular"); f.Text != want {
			t.Errorf("text %q, want %q", f.Text, want)
		}
	})
	t.Run("loop", func(t *testing.T) {
		name, dir := checkScratch(t, "loop")
		a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", a, "64M")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", a, "-F", "qcow2", b)
		labTool(t, "qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", b, "-F", "qcow2", a)
		defineDiskDomain(t, name, dir, a)
		d := wantFinding(t, systemURI, name, "loop", a, "qemu-img rebase -u")
		for _, l := range d.Disks[0].Layers[:2] {
			wantChecked(t, l, "chain", "header", "qemu-img check")
			if len(l.Findings) != 0 {
				t.Errorf("a layer of the loop, checked on its own: %+v", l)
			}
		}
	})
	t.Run("qemu-cannot-enter", func(t *testing.T) {
		name, dir := checkScratch(t, "priv")
		private := filepath.Join(dir, "private")
		if err := os.Mkdir(private, 0o700); err != nil {
			t.Fatal(err)
		}
		_, top := twoLayers(t, private)
		defineDiskDomain(t, name, dir, top)
		if testhost.OverSSH() {
			// Folder modes are no part of the storage API.
			wantHealthy(t, name)
			return
		}
		conf := testhost.InRoot("/etc/libvirt/qemu.conf")
		if b, _ := os.ReadFile(conf); strings.Contains(string(b), "\nuser = \"root\"") {
			code, d, _ := runCheckJSON(t, systemURI, name)
			if code != 0 || !strings.Contains(strings.Join(d.Notes, " "), "QEMU runs as root") {
				t.Errorf("QEMU as root: exit %d, notes %v", code, d.Notes)
			}
			return
		}
		wantFinding(t, systemURI, name, "qemu-cannot-read", top, "chmod o+rX "+private)
	})
}

// A chain over 1000 layers. qemu-img makes one overlay; the other 1000
// are copies of its bytes with the backing name (same length in each)
// changed, which takes milliseconds where 1001 qemu-img runs take a minute.
func TestIntegrationCheckTooDeep(t *testing.T) {
	needIntegration(t)
	name, dir := checkScratch(t, "deep")
	layer := func(i int) string { return filepath.Join(dir, fmt.Sprintf("l%04d.qcow2", i)) }
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", layer(0), "64M")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", filepath.Base(layer(0)), "-F", "qcow2", layer(1), "64M")
	tmpl, err := os.ReadFile(layer(1))
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(tmpl), filepath.Base(layer(0)))
	if at < 0 {
		t.Fatal("backing name not in the header")
	}
	prev := layer(1)
	for i := 2; i <= 1001; i++ {
		b := append([]byte(nil), tmpl...)
		copy(b[at:], filepath.Base(layer(i-1)))
		prev = layer(i)
		if err := os.WriteFile(prev, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defineDiskDomain(t, name, dir, prev)
	start := time.Now()
	d := wantFinding(t, systemURI, name, "too-deep", "", "virtchain commit "+name+" vda")
	t.Logf("check of a 1002-layer chain: %v", time.Since(start))
	if n := len(d.Disks[0].Layers); n != 1001 {
		t.Errorf("%d layers, want the 1000 read plus the one where the walk stopped", n)
	}
}

func TestIntegrationCheckMetadata(t *testing.T) {
	needIntegration(t)
	t.Run("stale-and-gone", func(t *testing.T) {
		name, dir := checkScratch(t, "snap")
		base := filepath.Join(dir, "base.qcow2")
		labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
		defineDiskDomain(t, name, dir, base)
		overlay := filepath.Join(dir, "s1.qcow2")
		labVirsh(t, "snapshot-create-as", "--domain", name, "--name", "s1", "--disk-only",
			"--diskspec", "vda,snapshot=external,file="+overlay)
		// Back on the base: the overlay s1 made left the chain.
		xml := strings.Replace(labVirsh(t, "dumpxml", "--inactive", name), overlay, base, 1)
		path := filepath.Join(dir, "back.xml")
		if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		labVirsh(t, "define", path)
		f := findingOf(wantFinding(t, systemURI, name, "stale-snapshot", "", "virtchain snapshot delete "+name+" s1 --metadata-only"), "stale-snapshot")
		if f.Snapshot != "s1" {
			t.Errorf("stale finding names %q", f.Snapshot)
		}
		if code, d, _ := runCheckJSON(t, systemURI, name); code != 1 || findingOf(d, "snapshot-file-missing") != nil {
			t.Errorf("the overlay still exists: %+v", d.Findings)
		}
		if err := os.Remove(overlay); err != nil {
			t.Fatal(err)
		}
		f = findingOf(wantFinding(t, systemURI, name, "snapshot-file-missing", overlay, "--metadata-only"), "snapshot-file-missing")
		if f.Snapshot != "s1" || f.Verdict != "bad" {
			t.Errorf("gone finding: %+v", f)
		}
	})
	t.Run("managed-save", func(t *testing.T) {
		name, dir := checkScratch(t, "msave")
		_, top := twoLayers(t, dir)
		defineDiskDomain(t, name, dir, top)
		labVirsh(t, "start", name)
		labVirsh(t, "managedsave", name)
		if code, d, _ := runCheckJSON(t, systemURI, name); code != 0 {
			t.Fatalf("managed save of the same definition: exit %d %+v", code, d)
		}
		// Redefine it with more memory: starting would resume the old one.
		xml := labVirsh(t, "dumpxml", "--inactive", name)
		xml = strings.Replace(xml, "<memory unit='KiB'>65536</memory>", "<memory unit='KiB'>131072</memory>", 1)
		xml = strings.Replace(xml, "<currentMemory unit='KiB'>65536</currentMemory>", "<currentMemory unit='KiB'>131072</currentMemory>", 1)
		path := filepath.Join(dir, "bigger.xml")
		if err := os.WriteFile(path, []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		labVirsh(t, "define", path)
		f := findingOf(wantFinding(t, systemURI, name, "managed-save-changed", "", "virtchain managedsave-remove "+name), "managed-save-changed")
		if !strings.Contains(f.Text, "memory 65536 KiB, now 131072 KiB") {
			t.Errorf("text: %s", f.Text)
		}
	})
}

// Over ssh the headers are read through storage pools, and qemu-img check
// is not run: the report says so, and a healthy domain still exits 0.
func TestIntegrationCheckRemote(t *testing.T) {
	needIntegration(t)
	ssh := testhost.NeedSSH(t)
	name, dir := checkScratch(t, "ssh")
	base, top := twoLayers(t, dir)
	defineDiskDomain(t, name, dir, top)
	code, d, stderr := runCheckJSON(t, ssh, name)
	if code != 0 || !slices.Contains(d.Notes, remoteCheckNote) {
		t.Fatalf("healthy remote: exit %d %s %+v", code, stderr, d)
	}
	for _, l := range d.Disks[0].Layers {
		if strings.Contains(strings.Join(l.Checked, ","), "qemu-img") || !strings.Contains(strings.Join(l.Checked, ","), "header") {
			t.Errorf("remote layer: %+v", l)
		}
	}
	// Read-only, libvirt gives no image bytes (and no pool for a folder
	// without one): the report says what was not read, and judges nothing
	// it did not see.
	if code, ro, stderr := runCheckRO(t, ssh, name); code != 0 || !strings.Contains(strings.Join(ro.Disks[0].Layers[0].Notes, " "), "read-only remote connection") {
		t.Errorf("read-only remote: exit %d %s %+v", code, stderr, ro)
	}
	testhost.SetIncompatible(t, base, 1<<1|1<<20)
	wantFinding(t, ssh, name, "corrupt", base, "qemu-img check -r all "+base)
	wantFinding(t, ssh, name, "unknown-features", base, "qemu-img info "+base)
	if err := os.Remove(base); err != nil {
		t.Fatal(err)
	}
	wantFinding(t, ssh, name, "missing", base, top)
}

func TestIntegrationCheckUsage(t *testing.T) {
	needIntegration(t)
	code, _, stderr := runMain(t, "-c", systemURI, "check", "vc11c-no-such-domain")
	if code != 1 {
		t.Errorf("unknown domain: exit %d", code)
	}
	wantOneLine(t, stderr, `no domain "vc11c-no-such-domain"`, "virtchain list")
	code, _, stderr = runMain(t, "-c", systemURI, "check", "--dry-run")
	if code != 2 {
		t.Errorf("--dry-run: exit %d", code)
	}
	wantOneLine(t, stderr, "has no --dry-run")
}

// With two hosts, check runs on each; a domain only one host has is
// checked there.
func TestIntegrationCheckHosts(t *testing.T) {
	needIntegration(t)
	_, other := testhost.Other(t)
	name, dir := checkScratch(t, "hosts")
	_, top := twoLayers(t, dir)
	defineDiskDomain(t, name, dir, top)
	code, stdout, stderr := runMain(t, "-c", systemURI, "-c", other, "--json", "check", name)
	var out checkHostsJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 || len(out.Hosts) != 2 {
		t.Fatalf("exit %d (%s), %v:\n%s", code, stderr, err, stdout)
	}
	if len(out.Hosts[0].Domains) != 1 || len(out.Hosts[1].Domains) != 0 || !out.Healthy {
		t.Errorf("hosts: %+v", out.Hosts)
	}
	code, _, stderr = runMain(t, "-c", systemURI, "-c", other, "check", "vc11c-nowhere")
	if code != 1 {
		t.Errorf("a domain on no host: exit %d", code)
	}
	wantOneLine(t, stderr, "no domain vc11c-nowhere on hosts")
}

// A block job rewriting a disk's chain: its images are not qemu-img
// checked meanwhile, and the report says why; still exit 0.
func TestIntegrationCheckBlockJob(t *testing.T) {
	needIntegration(t)
	name, dir := checkScratch(t, "job")
	base, top := twoLayers(t, dir)
	labTool(t, "qemu-io", "-c", "write -P 0x33 0 32M", top)
	defineDiskDomain(t, name, dir, top)
	labVirsh(t, "start", name)
	// 1 MiB/s: the 32 MiB take half a minute, long enough to look.
	labVirsh(t, "blockcommit", name, "vda", "--active", "--bandwidth", "1")
	t.Cleanup(func() { _ = exec.Command("virsh", "-c", hostURI, "blockjob", name, "vda", "--abort").Run() })
	code, d, stderr := runCheckJSON(t, systemURI, name)
	if code != 0 {
		t.Fatalf("exit %d: %s %+v", code, stderr, d)
	}
	// Over ssh no qemu-img check runs at all (the domain's note), and the
	// headers are read through the pool during the job all the same.
	wantRemoteNote(t, d)
	below := d.Disks[0].Layers[1]
	wantChecked(t, below, "chain", "header")
	if below.Path != base || strings.Contains(strings.Join(below.Notes, " "), "block job") == testhost.OverSSH() {
		t.Errorf("the base a commit writes into: %+v", below)
	}
}
