package qcow2

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"virtchain/libvirtx/qcow2/qcow2test"
)

// QEMU writes a feature name table into every v3 image; the reader finds
// its names, and names an unknown bit from an image's table.
func TestReadFeatureNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.qcow2")
	qcow2test.QemuImg(t, "create", "-q", "-f", "qcow2", path, "16M")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	table, err := ReadFeatureNames(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(table, FeatureName{Type: FeatureIncompatible, Bit: 1, Name: "corrupt bit"}) {
		t.Fatalf("table %+v lacks QEMU's corrupt bit", table)
	}
	// Bit 20 set by hand: Read reports it as unknown, and with no name
	// for it in the table it is "bit 20".
	var b [8]byte
	if _, err := f.ReadAt(b[:], 72); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(b[:], binary.BigEndian.Uint64(b[:])|1<<20|1)
	if _, err := f.WriteAt(b[:], 72); err != nil {
		t.Fatal(err)
	}
	h, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.UnknownIncompatible() != 1<<20 || !h.Dirty {
		t.Errorf("unknown 0x%x, dirty %v", h.UnknownIncompatible(), h.Dirty)
	}
	if got := strings.Join(IncompatibleNames(h.IncompatibleFeatures, table), ", "); got != "dirty bit, bit 20" {
		t.Errorf("names %q", got)
	}
	table = append(table, FeatureName{Type: FeatureIncompatible, Bit: 20, Name: "future thing"})
	if got := IncompatibleNames(1<<20, table); len(got) != 1 || got[0] != "future thing" {
		t.Errorf("names from the table %q", got)
	}
}
