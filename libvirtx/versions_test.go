package libvirtx

import "testing"

func TestVersionText(t *testing.T) {
	for v, want := range map[uint32]string{9000000: "9.0.0", 11003000: "11.3.0", 10000001: "10.0.1", 7002005: "7.2.5"} {
		if got := versionText(v); got != want {
			t.Errorf("versionText(%d) = %q, want %q", v, got, want)
		}
	}
}
