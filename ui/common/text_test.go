package common

import (
	"testing"

	"charm.land/lipgloss/v2"
)

func TestBarCells(t *testing.T) {
	full, empty := BarCells(0.5, 8)
	if full != "████" || empty != "····" {
		t.Errorf("half bar = %q %q", full, empty)
	}
	if full, _ := BarCells(0.0001, 8); full != "▏" {
		t.Errorf("a tiny allocation must still show, got %q", full)
	}
	if full, empty := BarCells(3, 4); full != "████" || empty != "" {
		t.Errorf("over-allocated bar = %q %q", full, empty)
	}
	if got := Truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("truncate = %q", got)
	}
	if got := TruncateLeft("/var/lib/libvirt/images/x.qcow2", 10); got != "…x.qcow2" && lipgloss.Width(got) != 10 {
		t.Errorf("truncateLeft = %q", got)
	}
}

func TestFastStyleMatchesLipgloss(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		st := NewStyles(noColor)
		for _, s := range []Style{st.Selected, st.Warning, st.TabActive, st.Dim, st.Plain, st.Index} {
			for _, text := range []string{"vda[3]", "├─ x", "a b"} {
				if got, want := s.Render(text), s.Style.Render(text); got != want {
					t.Errorf("fast render %q != lipgloss %q", got, want)
				}
			}
		}
	}
	for _, s := range []string{"plain", "\x1b[1mbold\x1b[m ├─ █▏· ⚠ ◆ ⊙ ● ○ ◐ ✖ ▸ … é", "日本語 names", "\x1b[7mx\x1b[m"} {
		if got, want := CellWidth(s), lipgloss.Width(s); got != want {
			t.Errorf("CellWidth(%q) = %d, lipgloss says %d", s, got, want)
		}
	}
}
