package model

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"vda":                  "vda",
		"/var/tmp/é ü/a.qcow2": "/var/tmp/é ü/a.qcow2",
		`back\slash`:           `back\slash`,
		"vc7i-\x1b[31mred":     `vc7i-\x1b[31mred`,
		"a\nb\tc\rd":           `a\nb\tc\rd`,
		"del\x7f":              `del\x7f`,
		"csi\u009b31m":         `csi\u009b31m`,
		"bad\xffbyte\xc2":      `bad\xffbyte\xc2`,
		"\x00":                 `\x00`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if Escape(Escape(in)) != Escape(in) {
			t.Errorf("Escape is not idempotent on %q", in)
		}
	}
	if got := EscapeText("line 1\nline\t2\x1b[2J"); got != "line 1\nline\t2\\x1b[2J" {
		t.Errorf("EscapeText = %q", got)
	}
}

func TestCheckInput(t *testing.T) {
	for _, ok := range []string{"", "s1", "/var/lib/libvirt/images/vm é.qcow2", "vda=/a b", `a\b`} {
		if err := CheckInput("snapshot name", ok); err != nil {
			t.Errorf("CheckInput(%q) = %v", ok, err)
		}
	}
	for in, part := range map[string]string{
		"s\n1":      `holds a control character (\n)`,
		"s\t1":      `(\t)`,
		"\x1b[31m":  `(\x1b)`,
		"x\x7f":     `(\x7f)`,
		"x\u0085":   `(\u0085)`,
		"x\xff":     `not UTF-8 (\xff)`,
		"x\x00y":    `(\x00)`,
		"x\u009b2J": `(\u009b)`,
	} {
		err := CheckInput("snapshot name", in)
		if err == nil {
			t.Errorf("CheckInput(%q) accepted it", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, part) || !strings.HasPrefix(msg, "snapshot name ") || strings.ContainsAny(msg, "\n\t\x1b\x7f") {
			t.Errorf("CheckInput(%q) = %q, want %q in one printable line", in, msg, part)
		}
	}
	if err := CheckText("description", "two\nlines\tand a tab"); err != nil {
		t.Errorf("CheckText refused newlines: %v", err)
	}
	if err := CheckText("description", "x\x1b[2J"); err == nil {
		t.Error("CheckText accepted ESC")
	}
}

func TestShellQuoteControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"it's":             `'it'\''s'`,
		"a\nb":             `$'a\x0ab'`,
		"vc7i-\x1b[31mred": `$'vc7i-\x1b[31mred'`,
		"c1\u009b 'q' \\":  `$'c1\xc2\x9b \'q\' \\'`,
		"bad\xff":          `$'bad\xff'`,
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// The planners apply the same rule to names and to the paths they derive,
// so a host name with a control character never becomes a file name.
func TestPlansRefuseControlCharacters(t *testing.T) {
	doms := snapFixture()
	doms[0].Name = "vm\u009b"
	for _, req := range []SnapshotCreateRequest{
		{Domain: "vm\u009b", Name: "s3", External: true, DiskOnly: true},       // default overlay from the name
		{Domain: "vm\u009b", Name: "s\n3"},                                     // snapshot name
		{Domain: "vm\u009b", Name: "s3", Description: "x\x1b[2J"},              // description
		{Domain: "vm\u009b", Name: "s3", External: true, MemoryFile: "/m\x07"}, // memory file
	} {
		_, err := PlanSnapshotCreate(doms, req, hostFacts)
		if err == nil || !strings.Contains(err.Error(), "holds a control character") {
			t.Errorf("%#v: %q", req, err)
		}
	}
	if _, err := PlanSave(doms, SaveRequest{Domain: "vm\u009b", File: "/s\nave"}, hostFacts); err == nil || !strings.Contains(err.Error(), `save file path "/s\nave" holds`) {
		t.Errorf("save: %v", err)
	}
	if _, err := PlanRestore(doms, RestoreRequest{File: "/r\x1b"}, "vm\u009b", hostFacts); err == nil || !strings.Contains(err.Error(), "holds a control character") {
		t.Errorf("restore: %v", err)
	}
	if _, err := PlanSnapshotCreate(doms, SnapshotCreateRequest{Domain: "vm\u009b", Name: "s3", Description: "two\nlines"}, hostFacts); err != nil && strings.Contains(err.Error(), "control") {
		t.Errorf("a two-line description was refused: %v", err)
	}
}
