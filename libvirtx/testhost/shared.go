package testhost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SharedDir is a new folder under /var/tmp, which every test host sees at
// the same path (shared storage), named prefix-XXXX, mode 0755 so QEMU can
// reach it, removed at the end.
func SharedDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// QemuImg runs qemu-img with args and fails t when it fails.
func QemuImg(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// OverlayDomain defines, on the libvirt at uri, a shut-off domain name
// whose vda is a new qcow2 overlay (in base's folder) on base; it is
// undefined at the end. It returns the overlay's path.
func OverlayDomain(t testing.TB, uri, name, base, overlay string) string {
	t.Helper()
	dir := filepath.Dir(base)
	img := filepath.Join(dir, overlay)
	QemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", img)
	for _, f := range []string{img, base} {
		_ = os.Chmod(f, 0o644)
	}
	xml := fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices>
</domain>`, name, img)
	xf := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(xf, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virsh", "-c", uri, "define", xf).CombinedOutput(); err != nil {
		t.Fatalf("virsh -c %s define: %v %s", uri, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("virsh", "-c", uri, "undefine", name).Run() })
	return img
}
