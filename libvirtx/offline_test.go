package libvirtx

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseProgress(t *testing.T) {
	for in, want := range map[string]float64{"    (0.00/100%)": 0, "(42.50/100%)": 42.5, "  (100.00/100%)  ": 100} {
		if got, ok := parseProgress(in); !ok || got != want {
			t.Errorf("parseProgress(%q) = %v %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "Image committed.", "(x/100%)", "(101.00/100%)", "(-1/100%)", "(5.00/50%)"} {
		if _, ok := parseProgress(in); ok {
			t.Errorf("parseProgress(%q) accepted", in)
		}
	}
	var got []float64
	scanProgress(strings.NewReader("    (0.00/100%)\r    (33.33/100%)\r    (100.00/100%)\rImage committed.\n"), func(p float64) { got = append(got, p) })
	if len(got) != 3 || got[1] != 33.33 {
		t.Fatalf("scanProgress %v", got)
	}
}

// runQemuImg against the real qemu-img: progress arrives through a pipe,
// and a failure is one line with qemu-img's own words.
func TestRunQemuImg(t *testing.T) {
	if _, err := exec.LookPath(QemuImg); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	base, top := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "top.qcow2")
	for _, argv := range [][]string{
		{"qemu-img", "create", "-q", "-f", "qcow2", base, "16M"},
		{"qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top},
		{"qemu-io", "-f", "qcow2", "-c", "write -P 0x42 0 4M", top},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", argv, err, out)
		}
	}
	var got []float64
	if err := runQemuImg(context.Background(), []string{"commit", "-p", "-f", "qcow2", "-b", base, top}, func(p float64) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || got[len(got)-1] != 100 {
		t.Fatalf("progress %v", got)
	}
	if out, err := exec.Command("qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0x42 0 4M", base).CombinedOutput(); err != nil || strings.Contains(string(out), "fail") {
		t.Fatalf("data not in base: %v %s", err, out)
	}
	err := runQemuImg(context.Background(), []string{"commit", "-p", "-b", base, filepath.Join(dir, "missing.qcow2")}, nil)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "missing.qcow2") {
		t.Fatalf("error %v", err)
	}
}
