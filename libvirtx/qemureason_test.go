package libvirtx

import "testing"

// Both ways libvirt reports a QEMU that would not start come down to
// QEMU's own words (seen on libvirt 9.0 and 11.3).
func TestQemuReason(t *testing.T) {
	lock := `Failed to get "write" lock Is another process using the image [/var/tmp/x/data.qcow2]?`
	for _, msg := range []string{
		`internal error: qemu unexpectedly closed the monitor: 2026-12-02T00:39:07.742124Z qemu-system-x86_64: -blockdev {"node-name":"libvirt-1-format","backing":null}: ` + lock,
		`internal error: process exited while connecting to monitor: 2026-12-02T00:39:07.742124Z qemu-system-x86_64: -blockdev {"node-name":"libvirt-1-format","read-only":false,"backing":null}: ` + lock,
	} {
		if got := qemuReason(msg); got != "QEMU says: "+lock {
			t.Errorf("qemuReason(%q) = %q", msg, got)
		}
	}
	if got := qemuReason("Requested operation is not valid: domain is already running"); got != "Requested operation is not valid: domain is already running" {
		t.Errorf("other errors stay as they are: %q", got)
	}
}
