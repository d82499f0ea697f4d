package model

import "strconv"

// scaleBytes expresses n in the largest binary unit that keeps it at least
// 1 (unit -1 means plain bytes), the one scale both spellings share.
func scaleBytes(n int64) (v float64, unit int) {
	v, unit = float64(n), -1
	for v >= 1024 && unit < 5 {
		v /= 1024
		unit++
	}
	return v, unit
}

// FormatBytes spells a size as people read it in tables and plans:
// "512 B", "5.3 MiB", "256 MiB"; a negative size (unknown) is "-".
func FormatBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	v, u := scaleBytes(n)
	if u < 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	unit := " " + string("KMGTPE"[u]) + "iB"
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10) + unit
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + unit
}

// FormatBytesShort is the compact spelling for dense columns: "512B",
// "5.3M", "256M" (no decimal from 100 up).
func FormatBytesShort(n int64) string {
	v, u := scaleBytes(n)
	if u < 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	unit := string("KMGTPE"[u])
	if v >= 100 || v == float64(int64(v)) {
		return strconv.FormatInt(int64(v+0.5), 10) + unit
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + unit
}
