// Package qcow2test holds helpers for tests that build images with
// qemu-img and patch their headers: the qcow2 reader's tests and the
// chain walker's share them.
package qcow2test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// QemuImg runs qemu-img with args and fails the test on error.
func QemuImg(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Patch overwrites bytes of the file at off.
func Patch(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// BE32 encodes a 32-bit header field (headers are big endian).
func BE32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// BE64 encodes a 64-bit header field.
func BE64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
