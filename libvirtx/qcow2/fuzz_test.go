package qcow2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtchain/libvirtx/qcow2/qcow2test"
)

// Seeds are the first bytes of images qemu-img made (whole images for the
// tiny 512-byte-cluster ones). Rebuild them with
// VIRTCHAIN_REGEN_TESTDATA=1 go test -run TestRegenTestdata ./libvirtx/qcow2/
const seedGlob = "testdata/*.img"

func FuzzReadHeader(f *testing.F) {
	seeds, err := filepath.Glob(seedGlob)
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds under %s: %v", seedGlob, err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bytes.NewReader(b), int64(len(b)))
		_ = ProbeBytes(b)
		if err != nil {
			if h != nil {
				t.Fatalf("header %+v with error %v", h, err)
			}
			return
		}
		if len(h.BackingFile) > MaxBackingNameLen {
			t.Errorf("backing name of %d bytes accepted", len(h.BackingFile))
		}
		if int(h.NbSnapshots) != len(h.Snapshots) {
			t.Errorf("%d snapshots parsed, header says %d", len(h.Snapshots), h.NbSnapshots)
		}
		if h.ClusterSize < 1<<minClusterBits || h.ClusterSize > 1<<maxClusterBits {
			t.Errorf("cluster size %d accepted", h.ClusterSize)
		}
		if h.Version != 2 && h.Version != 3 {
			t.Errorf("version %d accepted", h.Version)
		}
		if h.VirtualSize < 0 {
			t.Errorf("virtual size %d", h.VirtualSize)
		}
		checkBitmaps(t, h)
	})
}

// checkBitmaps holds the bitmap list to QEMU's limits: a list or a
// problem, never both, and nothing QEMU would refuse.
func checkBitmaps(t *testing.T, h *Header) {
	if h.Bitmaps != nil && h.BitmapsProblem != "" {
		t.Errorf("bitmaps %+v with problem %q", h.Bitmaps, h.BitmapsProblem)
	}
	if len(h.Bitmaps) > MaxBitmaps {
		t.Errorf("%d bitmaps accepted", len(h.Bitmaps))
	}
	for _, b := range h.Bitmaps {
		if b.Name == "" || len(b.Name) > MaxBitmapNameLen {
			t.Errorf("bitmap name of %d bytes accepted", len(b.Name))
		}
		if b.Granularity < 1<<MinBitmapGranularityBits || b.Granularity > 1<<MaxBitmapGranularityBits {
			t.Errorf("granularity %d accepted", b.Granularity)
		}
	}
}

// TestSeedsParse keeps the committed seeds meaningful: each is a real
// header that reads without error.
func TestSeedsParse(t *testing.T) {
	seeds, _ := filepath.Glob(seedGlob)
	if len(seeds) < 4 {
		t.Fatalf("only %d seeds under %s", len(seeds), seedGlob)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Read(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestRegenTestdata rewrites the seed blobs from fresh qemu-img images.
func TestRegenTestdata(t *testing.T) {
	if os.Getenv("VIRTCHAIN_REGEN_TESTDATA") != "1" {
		t.Skip("set VIRTCHAIN_REGEN_TESTDATA=1 to rewrite testdata/*.img")
	}
	out, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir) // qemu-img creates a relative data_file in its working folder
	p := func(n string) string { return filepath.Join(dir, n) }
	type seed struct {
		name   string
		create []string
		snaps  []string
		keep   int // bytes kept; 0 = the whole image
	}
	seeds := []seed{
		{"v2-backing.img", []string{"-f", "qcow2", "-o", "compat=0.10", "-u", "-b", "base.qcow2", "-F", "qcow2", p("a"), "64M"}, nil, 1024},
		{"v3-backing.img", []string{"-f", "qcow2", "-u", "-b", "../images/base image.qcow2", "-F", "qcow2", p("b"), "64M"}, nil, 1024},
		{"v3-datafile.img", []string{"-f", "qcow2", "-o", "data_file=data.raw", p("c"), "64M"}, nil, 1024},
		{"v3-snapshots-c512.img", []string{"-f", "qcow2", "-o", "cluster_size=512", "-u", "-b", "base.raw", "-F", "raw", p("d"), "1M"}, []string{"fresh", "after-update"}, 0},
		{"v2-snapshots-c512.img", []string{"-f", "qcow2", "-o", "compat=0.10,cluster_size=512", p("e"), "1M"}, []string{"one"}, 0},
		{"v3-bitmaps-c512.img", []string{"-f", "qcow2", "-o", "cluster_size=512", p("f"), "1M"}, []string{"one"}, 0},
	}
	qcow2test.QemuImg(t, "create", "-f", "raw", p("base.raw"), "1M")
	for _, s := range seeds {
		qcow2test.QemuImg(t, append([]string{"create"}, s.create...)...)
		img := s.create[len(s.create)-2]
		for _, n := range s.snaps {
			qcow2test.QemuImg(t, "snapshot", "-c", n, img)
		}
		if strings.Contains(s.name, "bitmaps") {
			qcow2test.QemuImg(t, "bitmap", "--add", img, "daily")
			qcow2test.QemuImg(t, "bitmap", "--add", "-g", "512", "--disable", img, "frozen")
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if s.keep > 0 {
			b = b[:s.keep]
		}
		if err := os.WriteFile(filepath.Join(out, s.name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
