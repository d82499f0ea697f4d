package qcow2

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"virtchain/libvirtx/qcow2/qcow2test"
)

// qemuBitmaps is the bitmap list `qemu-img info --output=json` prints.
func qemuBitmaps(t *testing.T, path string) []Bitmap {
	t.Helper()
	var qi struct {
		FormatSpecific struct {
			Data struct {
				Bitmaps []struct {
					Name        string   `json:"name"`
					Granularity int64    `json:"granularity"`
					Flags       []string `json:"flags"`
				} `json:"bitmaps"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal([]byte(qcow2test.QemuImg(t, "info", "-U", "--output=json", path)), &qi); err != nil {
		t.Fatal(err)
	}
	var out []Bitmap
	for _, b := range qi.FormatSpecific.Data.Bitmaps {
		out = append(out, Bitmap{Name: b.Name, Granularity: b.Granularity,
			InUse: slices.Contains(b.Flags, "in-use"), Auto: slices.Contains(b.Flags, "auto")})
	}
	return out
}

// bitmapImage is a 64 MiB qcow2 image with the bitmaps qemu-img adds:
// a (64 KiB, enabled), "b two" (1 MiB, disabled), and c (512 bytes), plus
// an internal snapshot so the bitmap directory is not the last thing.
func bitmapImage(t *testing.T, opts string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bm.qcow2")
	args := []string{"create", "-q", "-f", "qcow2"}
	if opts != "" {
		args = append(args, "-o", opts)
	}
	qcow2test.QemuImg(t, append(args, p, "64M")...)
	qcow2test.QemuImg(t, "bitmap", "--add", p, "a")
	qcow2test.QemuImg(t, "bitmap", "--add", "-g", "1M", "--disable", p, "b two")
	qcow2test.QemuImg(t, "snapshot", "-c", "s1", p)
	qcow2test.QemuImg(t, "bitmap", "--add", "-g", "512", p, "c")
	return p
}

func TestBitmapsMatchQemuImg(t *testing.T) {
	for _, opts := range []string{"", "cluster_size=512", "cluster_size=2M"} {
		t.Run("o="+opts, func(t *testing.T) {
			p := bitmapImage(t, opts)
			h, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			want := qemuBitmaps(t, p)
			if len(want) != 3 {
				t.Fatalf("qemu-img lists %d bitmaps, want 3: %+v", len(want), want)
			}
			if !slices.Equal(h.Bitmaps, want) || h.BitmapsProblem != "" {
				t.Errorf("bitmaps %+v (problem %q), qemu-img %+v", h.Bitmaps, h.BitmapsProblem, want)
			}
			if got := h.SnapshotNames(); !slices.Equal(got, []string{"s1"}) {
				t.Errorf("snapshots %v next to bitmaps", got)
			}
		})
	}
	// No bitmaps: nil, no problem.
	p := filepath.Join(t.TempDir(), "plain.qcow2")
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", p, "1M")
	if h, err := Open(p); err != nil || h.Bitmaps != nil || h.BitmapsProblem != "" {
		t.Errorf("plain image: %+v %v", h, err)
	}
	// Removing the last bitmap removes the extension.
	b := bitmapImage(t, "")
	for _, n := range []string{"a", "b two", "c"} {
		qcow2test.QemuImg(t, "bitmap", "--remove", b, n)
	}
	if h, err := Open(b); err != nil || h.Bitmaps != nil || h.BitmapsProblem != "" {
		t.Errorf("after --remove: %+v %v", h.Bitmaps, err)
	}
}

// bitmapExtAt finds the bitmaps extension: the offset of its data and the
// directory offset it holds.
func bitmapExtAt(t *testing.T, p string) (ext, dir int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	be32 := binary.BigEndian.Uint32
	be64 := binary.BigEndian.Uint64
	for off := int64(be32(b[100:])); off+8 <= int64(len(b)); {
		typ, n := be32(b[off:]), int64(be32(b[off+4:]))
		if typ == extBitmaps {
			return off + 8, int64(be64(b[off+8+16:]))
		}
		if typ == extEnd {
			break
		}
		off += 8 + (n+7)&^7
	}
	t.Fatalf("%s has no bitmaps extension", p)
	return 0, 0
}

// The in-use flag is what a running QEMU leaves on disk; qemu-img and
// the reader agree on it.
func TestBitmapInUse(t *testing.T) {
	p := bitmapImage(t, "")
	_, dir := bitmapExtAt(t, p)
	qcow2test.Patch(t, p, dir+12, qcow2test.BE32(bitmapFlagInUse|bitmapFlagAuto))
	h, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	want := qemuBitmaps(t, p)
	if !want[0].InUse || !slices.Equal(h.Bitmaps, want) {
		t.Errorf("bitmaps %+v, qemu-img %+v", h.Bitmaps, want)
	}
}

// Broken directories are a problem of the bitmaps only: the header reads.
func TestBitmapProblems(t *testing.T) {
	cases := []struct {
		name  string
		patch func(t *testing.T, p string, ext, dir int64)
		want  string
	}{
		{"autoclear cleared", func(t *testing.T, p string, _, _ int64) {
			qcow2test.Patch(t, p, 88, qcow2test.BE64(0))
		}, "inconsistent"},
		{"zero count", func(t *testing.T, p string, ext, _ int64) { qcow2test.Patch(t, p, ext, qcow2test.BE32(0)) }, "no bitmap"},
		{"too many", func(t *testing.T, p string, ext, _ int64) { qcow2test.Patch(t, p, ext, qcow2test.BE32(70000)) }, "70000 bitmaps"},
		{"more listed than found", func(t *testing.T, p string, ext, _ int64) { qcow2test.Patch(t, p, ext, qcow2test.BE32(4)) }, "4 bitmaps listed, 3 found"},
		{"unaligned", func(t *testing.T, p string, ext, dir int64) {
			qcow2test.Patch(t, p, ext+16, qcow2test.BE64(uint64(dir+8)))
		}, "not cluster aligned"},
		{"past EOF", func(t *testing.T, p string, ext, _ int64) {
			qcow2test.Patch(t, p, ext+16, qcow2test.BE64(1<<40))
		}, "past the end"},
		{"huge directory", func(t *testing.T, p string, ext, _ int64) {
			qcow2test.Patch(t, p, ext+8, qcow2test.BE64(1<<40))
		}, "QEMU accepts 1 to"},
		{"bad type", func(t *testing.T, p string, _, dir int64) { qcow2test.Patch(t, p, dir+16, []byte{2}) }, "bitmap type 2"},
		{"bad granularity", func(t *testing.T, p string, _, dir int64) { qcow2test.Patch(t, p, dir+17, []byte{40}) }, "granularity bits 40"},
		{"reserved flag", func(t *testing.T, p string, _, dir int64) { qcow2test.Patch(t, p, dir+12, qcow2test.BE32(1<<9)) }, "unknown bitmap flags"},
		{"long name", func(t *testing.T, p string, _, dir int64) { qcow2test.Patch(t, p, dir+18, []byte{0xff, 0xff}) }, "name of 65535 bytes"},
		{"entry past directory", func(t *testing.T, p string, _, dir int64) {
			qcow2test.Patch(t, p, dir+20, qcow2test.BE32(1<<20))
		}, "past the end of the directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := bitmapImage(t, "")
			ext, dir := bitmapExtAt(t, p)
			c.patch(t, p, ext, dir)
			h, err := Open(p)
			if err != nil {
				t.Fatalf("header fails with the bitmaps: %v", err)
			}
			if h.Bitmaps != nil || !strings.Contains(h.BitmapsProblem, c.want) {
				t.Errorf("bitmaps %+v, problem %q; want one with %q", h.Bitmaps, h.BitmapsProblem, c.want)
			}
			if got := h.SnapshotNames(); !slices.Equal(got, []string{"s1"}) {
				t.Errorf("snapshots %v", got)
			}
		})
	}
}

// Remote reading goes through io.ReaderAt at offsets; the directory costs
// one read more than the header, and only for an image with bitmaps.
func TestBitmapReadCount(t *testing.T) {
	p := bitmapImage(t, "")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	cr := &countingReader{f: f}
	h, err := Read(cr, st.Size())
	if err != nil || len(h.Bitmaps) != 3 {
		t.Fatalf("%+v %v", h, err)
	}
	// header, snapshot table, bitmap directory
	if n := cr.n.Load(); n != 3 {
		t.Errorf("%d reads, want 3", n)
	}
}

// The fuzz seed with bitmaps keeps the directory reader in the corpus.
func TestBitmapSeed(t *testing.T) {
	b, err := os.ReadFile("testdata/v3-bitmaps-c512.img")
	if err != nil {
		t.Fatal(err)
	}
	h, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Bitmap{{Name: "daily", Granularity: 4096, Auto: true}, {Name: "frozen", Granularity: 512}}
	if !slices.Equal(h.Bitmaps, want) {
		t.Errorf("seed bitmaps %+v, want %+v", h.Bitmaps, want)
	}
}
