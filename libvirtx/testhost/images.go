package testhost

import (
	"encoding/json"
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
