package testhost

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// QemuLayer is one image of `qemu-img info -U --backing-chain
// --output=json`: what qemu-img itself says of a chain, for tests to hold
// virtchain's reading against.
type QemuLayer struct {
	Filename    string `json:"filename"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	BackingFile string `json:"backing-filename"`
	Snapshots   []struct {
		Name string `json:"name"`
	} `json:"snapshots"`
}

// QemuChain is the chain below top as qemu-img reads it, top first.
func QemuChain(t testing.TB, top string) []QemuLayer {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-U", "--backing-chain", "--output=json", top).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", top, err)
	}
	var layers []QemuLayer
	if err := json.Unmarshal(out, &layers); err != nil {
		t.Fatal(err)
	}
	return layers
}

// ReadPattern checks with qemu-io that the guest-visible content of top
// holds pattern at off..off+length.
func ReadPattern(t testing.TB, top, pattern, off, length string) {
	t.Helper()
	out, err := exec.Command("qemu-io", "-U", "-r", "-f", "qcow2", "-c", "read -P "+pattern+" "+off+" "+length, top).CombinedOutput()
	if err != nil || strings.Contains(string(out), "failed") {
		t.Errorf("%s: want %s at %s+%s: %s %v", filepath.Base(top), pattern, off, length, out, err)
	}
}

// SetIncompatible ors bits into a qcow2 image's incompatible features
// field (offset 72 of a version 3 header), as QEMU does when it marks an
// image dirty (bit 0) or corrupt (bit 1).
func SetIncompatible(t testing.TB, path string, bits uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], 72); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint64(b[:], binary.BigEndian.Uint64(b[:])|bits)
	if _, err := f.WriteAt(b[:], 72); err != nil {
		t.Fatal(err)
	}
}
