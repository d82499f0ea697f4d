package snaptree

import (
	"testing"

	"virtchain/model"
)

func TestSnapshotRowsLongLineDoesNotIndent(t *testing.T) {
	var ss []model.Snapshot
	parent := ""
	for _, n := range []string{"s1", "s2", "s3", "s4"} {
		ss = append(ss, model.Snapshot{Name: n, Parent: parent})
		parent = n
	}
	ss = append(ss, model.Snapshot{Name: "orphan", Parent: "missing"}, model.Snapshot{Name: "loopy", Parent: "loopy"})
	rows := snapshotRows(ss, nil)
	if len(rows) != len(ss) {
		t.Fatalf("%d rows for %d snapshots", len(rows), len(ss))
	}
	// Three roots (s1, the orphan, the self-parent) branch; s1's line of
	// children continues under it at one indentation.
	if rows[3].prefix != "│ " || rows[0].prefix != "├─" || rows[5].prefix != "└─" {
		t.Errorf("a linear run must not indent: prefixes %q", []string{rows[0].prefix, rows[3].prefix})
	}
}
