package model

import "testing"

func TestFormatBytes(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for n, want := range map[int64]string{-1: "-", 0: "0 B", 512: "512 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 * mib: "64 MiB", 3 * gib: "3 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0B", 512: "512B", 1024: "1K", 1536: "1.5K", 64 * mib: "64M", 20 * gib: "20G", 100*mib + 1: "100M"} {
		if got := FormatBytesShort(n); got != want {
			t.Errorf("FormatBytesShort(%d) = %q, want %q", n, got, want)
		}
	}
}
