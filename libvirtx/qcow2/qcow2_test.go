package qcow2

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"virtchain/libvirtx/qcow2/qcow2test"
)

// qemuInfo is the part of `qemu-img info --output=json` we compare.
type qemuInfo struct {
	Filename        string `json:"filename"`
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	ClusterSize     int64  `json:"cluster-size"`
	BackingFilename string `json:"backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
	DirtyFlag       bool   `json:"dirty-flag"`
	Snapshots       []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		VMStateSize uint64 `json:"vm-state-size"`
		DateSec     int64  `json:"date-sec"`
	} `json:"snapshots"`
	FormatSpecific struct {
		Data struct {
			Compat   string `json:"compat"`
			Corrupt  bool   `json:"corrupt"`
			DataFile string `json:"data-file"`
		} `json:"data"`
	} `json:"format-specific"`
}

func info(t testing.TB, path string) qemuInfo {
	t.Helper()
	var qi qemuInfo
	if err := json.Unmarshal([]byte(qcow2test.QemuImg(t, "info", "-U", "--output=json", path)), &qi); err != nil {
		t.Fatal(err)
	}
	return qi
}

// compare checks every field the reader shares with qemu-img info.
func compare(t *testing.T, path string) *Header {
	t.Helper()
	h, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	qi := info(t, path)
	if h.VirtualSize != qi.VirtualSize {
		t.Errorf("virtual size %d, qemu-img %d", h.VirtualSize, qi.VirtualSize)
	}
	if h.ClusterSize != qi.ClusterSize {
		t.Errorf("cluster size %d, qemu-img %d", h.ClusterSize, qi.ClusterSize)
	}
	if h.BackingFile != qi.BackingFilename {
		t.Errorf("backing file %q, qemu-img %q", h.BackingFile, qi.BackingFilename)
	}
	if h.BackingFormat != qi.BackingFormat {
		t.Errorf("backing format %q, qemu-img %q", h.BackingFormat, qi.BackingFormat)
	}
	if h.Dirty != qi.DirtyFlag {
		t.Errorf("dirty %v, qemu-img %v", h.Dirty, qi.DirtyFlag)
	}
	if h.Corrupt != qi.FormatSpecific.Data.Corrupt {
		t.Errorf("corrupt %v, qemu-img %v", h.Corrupt, qi.FormatSpecific.Data.Corrupt)
	}
	if h.DataFile != qi.FormatSpecific.Data.DataFile {
		t.Errorf("data file %q, qemu-img %q", h.DataFile, qi.FormatSpecific.Data.DataFile)
	}
	wantVersion := map[string]uint32{"0.10": 2, "1.1": 3}[qi.FormatSpecific.Data.Compat]
	if h.Version != wantVersion {
		t.Errorf("version %d, qemu-img compat %q", h.Version, qi.FormatSpecific.Data.Compat)
	}
	if len(h.Snapshots) != len(qi.Snapshots) {
		t.Fatalf("%d snapshots, qemu-img %d", len(h.Snapshots), len(qi.Snapshots))
	}
	for i, s := range qi.Snapshots {
		got := h.Snapshots[i]
		if got.ID != s.ID || got.Name != s.Name || got.VMStateSize != s.VMStateSize || got.Date.Unix() != s.DateSec {
			t.Errorf("snapshot %d = %+v, qemu-img %+v", i, got, s)
		}
	}
	return h
}

func TestReadMatchesQemuImg(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	qcow2test.QemuImg(t, "create", "-f", "qcow2", p("base.qcow2"), "64M")
	qcow2test.QemuImg(t, "create", "-f", "raw", p("base.raw"), "1M")
	cases := []struct {
		name string
		args []string
		snap []string
	}{
		{"v3", []string{"-f", "qcow2", p("v3.qcow2"), "64M"}, nil},
		{"v2", []string{"-f", "qcow2", "-o", "compat=0.10", p("v2.qcow2"), "3G"}, nil},
		{"v3-backing-fmt", []string{"-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", p("top.qcow2")}, nil},
		{"v2-backing-fmt", []string{"-f", "qcow2", "-o", "compat=0.10", "-b", p("base.qcow2"), "-F", "qcow2", p("top2.qcow2")}, nil},
		{"raw-backing", []string{"-f", "qcow2", "-b", "./base.raw", "-F", "raw", p("onraw.qcow2")}, nil},
		{"relative-up", []string{"-f", "qcow2", "-u", "-b", "../elsewhere/x.qcow2", "-F", "qcow2", p("up.qcow2"), "1M"}, nil},
		{"data-file", []string{"-f", "qcow2", "-o", "data_file=" + p("data.raw"), p("ext.qcow2"), "8M"}, nil},
		{"cluster-512", []string{"-f", "qcow2", "-o", "cluster_size=512", p("c512.qcow2"), "1M"}, []string{"a", "second"}},
		{"cluster-2M", []string{"-f", "qcow2", "-o", "cluster_size=2M", "-b", "base.qcow2", "-F", "qcow2", p("c2m.qcow2")}, []string{"one"}},
		{"snapshots-v2", []string{"-f", "qcow2", "-o", "compat=0.10", p("s2.qcow2"), "1M"}, []string{"fresh", "after update", "x"}},
		{"huge", []string{"-f", "qcow2", p("huge.qcow2"), "16T"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qcow2test.QemuImg(t, append([]string{"create"}, c.args...)...)
			path := c.args[len(c.args)-1]
			if !strings.HasPrefix(path, dir) {
				path = c.args[len(c.args)-2]
			}
			for _, s := range c.snap {
				qcow2test.QemuImg(t, "snapshot", "-c", s, path)
			}
			h := compare(t, path)
			if !slices.Equal(h.SnapshotNames(), append([]string{}, c.snap...)) {
				t.Errorf("snapshot names %q, want %q", h.SnapshotNames(), c.snap)
			}
		})
	}
}

func TestFeatureBits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", path, "1M")
	for _, c := range []struct {
		bits           uint64
		dirty, corrupt bool
	}{{IncompatDirty, true, false}, {IncompatCorrupt, false, true}, {IncompatDirty | IncompatCorrupt, true, true}, {0, false, false}} {
		qcow2test.Patch(t, path, 72, qcow2test.BE64(c.bits))
		h := compare(t, path)
		if h.Dirty != c.dirty || h.Corrupt != c.corrupt || h.IncompatibleFeatures != c.bits {
			t.Errorf("bits %x: dirty %v corrupt %v", c.bits, h.Dirty, h.Corrupt)
		}
	}
	qcow2test.Patch(t, path, 72, qcow2test.BE64(1<<40))
	h, err := Open(path)
	if err != nil || h.UnknownIncompatible() != 1<<40 {
		t.Errorf("unknown bit 40: %v, %x", err, h.UnknownIncompatible())
	}
}

// TestExtensionsSkippedAndBackingFormatMissing renames the backing-format
// extension to an unknown type: the reader must skip it, as QEMU does,
// and report no backing format.
func TestExtensionsSkippedAndBackingFormatMissing(t *testing.T) {
	dir := t.TempDir()
	qcow2test.QemuImg(t, "create", "-f", "qcow2", filepath.Join(dir, "b.qcow2"), "1M")
	path := filepath.Join(dir, "t.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", path)
	raw, _ := os.ReadFile(path)
	at := bytes.Index(raw[:4096], qcow2test.BE32(extBackingFormat))
	if at < 0 {
		t.Fatal("no backing format extension in a fresh image")
	}
	qcow2test.Patch(t, path, int64(at), qcow2test.BE32(0x12345678))
	h := compare(t, path)
	if h.BackingFile != "b.qcow2" || h.BackingFormat != "" {
		t.Errorf("backing %q format %q", h.BackingFile, h.BackingFormat)
	}
}

// TestSnapshotTablePadding writes a snapshot table by hand with entries of
// odd lengths and no extra data, and checks both QEMU and us parse it.
func TestSnapshotTablePadding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-o", "compat=0.10", path, "1M")
	qcow2test.QemuImg(t, "snapshot", "-c", "real", path)
	h, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	real := raw[h.SnapshotsOffset : h.SnapshotsOffset+40]
	entry := func(id, name string, extra []byte, vmstate uint32) []byte {
		e := append([]byte{}, real[:12]...) // keep QEMU's L1 table
		e = binary.BigEndian.AppendUint16(e, uint16(len(id)))
		e = binary.BigEndian.AppendUint16(e, uint16(len(name)))
		e = append(e, real[16:32]...)
		e = binary.BigEndian.AppendUint32(e, vmstate)
		e = binary.BigEndian.AppendUint32(e, uint32(len(extra)))
		e = append(e, extra...)
		e = append(e, id...)
		e = append(e, name...)
		for len(e)%8 != 0 {
			e = append(e, 0)
		}
		return e
	}
	var table []byte
	table = append(table, entry("1", "abc", nil, 0)...)
	table = append(table, entry("22", "a name with spaces", make([]byte, 16), 0)...)
	table = append(table, entry("333", "seven77", make([]byte, 5), 0)...)
	qcow2test.Patch(t, path, h.SnapshotsOffset, table)
	qcow2test.Patch(t, path, 60, qcow2test.BE32(3))
	got := compare(t, path)
	if want := []string{"abc", "a name with spaces", "seven77"}; !slices.Equal(got.SnapshotNames(), want) {
		t.Errorf("names %q, want %q", got.SnapshotNames(), want)
	}
}

// countingReader counts ReadAt calls, to hold Read to its read budget.
type countingReader struct {
	f *os.File
	n atomic.Int32
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	c.n.Add(1)
	return c.f.ReadAt(b, off)
}

func TestReadCount(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "p.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", "-u", "-b", "/some/base.qcow2", "-F", "qcow2", plain, "1M")
	snap := filepath.Join(dir, "s.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", snap, "1M")
	qcow2test.QemuImg(t, "snapshot", "-c", "a", snap)
	qcow2test.QemuImg(t, "snapshot", "-c", "b", snap)
	// Extensions and backing name reaching past FirstRead: the rest of
	// the first cluster takes one more read.
	far := filepath.Join(dir, "far.qcow2")
	qcow2test.QemuImg(t, "create", "-f", "qcow2", far, "1M")
	ext := func(typ uint32, data []byte) []byte {
		b := append(qcow2test.BE32(typ), qcow2test.BE32(uint32(len(data)))...)
		b = append(b, data...)
		return append(b, make([]byte, (8-len(data)%8)%8)...)
	}
	area := ext(0x12345678, bytes.Repeat([]byte{0xee}, 6001))
	area = append(area, ext(extBackingFormat, []byte("raw"))...)
	area = append(area, ext(extEnd, nil)...)
	name := "../far away/base.img"
	qcow2test.Patch(t, far, v3HeaderLen+8, append(area, name...))
	qcow2test.Patch(t, far, 8, append(qcow2test.BE64(uint64(v3HeaderLen+8+len(area))), qcow2test.BE32(uint32(len(name)))...))
	if h := compare(t, far); h.BackingFile != name || h.BackingFormat != "raw" {
		t.Errorf("far header: backing %q format %q", h.BackingFile, h.BackingFormat)
	}
	for path, want := range map[string]int32{plain: 1, snap: 2, far: 2} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		cr := &countingReader{f: f}
		if _, err := Read(cr, st.Size()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if cr.n.Load() != want {
			t.Errorf("%s: %d reads, want %d", filepath.Base(path), cr.n.Load(), want)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		qcow2test.QemuImg(t, append(append([]string{"create"}, args...), p, "1M")...)
		return p
	}
	tooLong := mk("long.qcow2", "-f", "qcow2", "-u", "-b", "/b.qcow2", "-F", "qcow2")
	qcow2test.Patch(t, tooLong, 16, qcow2test.BE32(1024))
	// 1023 bytes is still fine (the name then runs into zero padding).
	edge := mk("edge.qcow2", "-f", "qcow2", "-u", "-b", "/b.qcow2", "-F", "qcow2")
	qcow2test.Patch(t, edge, 16, qcow2test.BE32(1023))
	snapPast := mk("snap.qcow2", "-f", "qcow2")
	qcow2test.Patch(t, snapPast, 60, append(qcow2test.BE32(1), qcow2test.BE64(1<<30)...))
	snapShort := mk("snaptrunc.qcow2", "-f", "qcow2")
	st, _ := os.Stat(snapShort)
	qcow2test.Patch(t, snapShort, 60, append(qcow2test.BE32(65536), qcow2test.BE64(uint64(st.Size())&^0xffff)...))
	badCluster := mk("cl.qcow2", "-f", "qcow2")
	qcow2test.Patch(t, badCluster, 20, qcow2test.BE32(30))
	badExt := mk("ext.qcow2", "-f", "qcow2", "-u", "-b", "/b.qcow2", "-F", "qcow2")
	qcow2test.Patch(t, badExt, 112+4, qcow2test.BE32(60000))
	qcow1 := mk("v1.qcow", "-f", "qcow")
	v4 := mk("v4.qcow2", "-f", "qcow2")
	qcow2test.Patch(t, v4, 4, qcow2test.BE32(4))
	raw := mk("r.raw", "-f", "raw")
	cut := filepath.Join(dir, "cut.qcow2")
	b, _ := os.ReadFile(mk("whole.qcow2", "-f", "qcow2"))
	os.WriteFile(cut, b[:90], 0o644)
	backingPastEOF := filepath.Join(dir, "bpast.qcow2")
	b, _ = os.ReadFile(mk("b2.qcow2", "-f", "qcow2", "-u", "-b", "/b.qcow2", "-F", "qcow2"))
	bo := binary.BigEndian.Uint64(b[8:])
	os.WriteFile(backingPastEOF, b[:bo+3], 0o644)

	for _, c := range []struct {
		path string
		want error
	}{
		{tooLong, ErrBackingNameTooLong},
		{edge, nil},
		{snapPast, ErrPastEOF},
		{snapShort, ErrPastEOF},
		{badCluster, ErrInvalid},
		{badExt, ErrInvalid},
		{qcow1, ErrUnsupportedVersion},
		{v4, ErrUnsupportedVersion},
		{raw, ErrNotQcow2},
		{cut, ErrPastEOF},
		{backingPastEOF, ErrPastEOF},
	} {
		_, err := Open(c.path)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: error %v, want %v", filepath.Base(c.path), err, c.want)
		}
	}
	if _, err := Open(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"qcow2", "qcow", "raw", "vmdk", "vdi", "vhdx", "vpc", "qed", "parallels"} {
		p := filepath.Join(dir, "img."+format)
		qcow2test.QemuImg(t, "create", "-f", format, p, "1M")
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := Probe(f); got != format {
			t.Errorf("Probe(%s image) = %q", format, got)
		}
		f.Close()
	}
	for in, want := range map[string]string{
		"":                        "raw",
		"QFI\xfb":                 "raw",
		"LUKS\xba\xbe\x00\x01":    "luks",
		"# Disk DescriptorFile\n": "vmdk",
	} {
		if got := ProbeBytes([]byte(in)); got != want {
			t.Errorf("ProbeBytes(%q) = %q, want %q", in, got, want)
		}
	}
}
