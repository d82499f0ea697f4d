package ui

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/forms"
)

// hostileDomain carries control characters wherever host data can: the
// domain name (libvirt accepts C1 and tab), snapshot names and
// descriptions, layer paths read from qcow2 headers, a layer's problem.
func hostileDomain() model.Domain {
	d := classicDomain()
	d.Name = "vc7i-\x1b[31mred\u009b2J\tx"
	l := d.Disks[0].Layers
	l[0].Path = "/img/top\x1b]0;pwned\a.qcow2"
	l[1].Path = "/img/mid\x1b[2J\r.qcow2"
	l[1].Problem = "unreadable: bad \x1b[5m header"
	d.Snapshots = append(d.Snapshots, model.Snapshot{Name: "s\x1b[2Jx", Kind: model.SnapshotInternal,
		Description: "line one\nline \x1b[31mtwo", Disks: []model.SnapshotDisk{{Target: "vda", Kind: "internal"}}})
	return d
}

// onlySGR fails when the frame holds a control character other than a
// newline or the SGR colour codes the styles write.
func onlySGR(t *testing.T, where, frame string) {
	t.Helper()
	rest := regexp.MustCompile("\x1b\\[[0-9;:]*m").ReplaceAllString(frame, "")
	rest = strings.ReplaceAll(rest, "\n", "")
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }); i >= 0 {
		t.Errorf("%s: a raw control character reaches the terminal: %q", where, rest[max(i-20, 0):min(i+20, len(rest))])
	}
	for _, bad := range []string{"\x1b[31mred", "\x1b[2J", "\x1b]0;", "\x1b[5m"} {
		if strings.Contains(frame, bad) {
			t.Errorf("%s: frame carries %q from host data", where, bad)
		}
	}
}

func TestHostDataIsEscapedOnScreen(t *testing.T) {
	f := newFake(hostileDomain())
	f.uri = "qemu:///system\x1b[31m"
	h := newHarness(t, f, 100, 30)
	onlySGR(t, "domain list", h.m.View().Content)
	h.contains(`vc7i-\x1b[31mred\u009b2J\tx`)
	if strings.Contains(h.m.View().WindowTitle, "\x1b") {
		t.Errorf("window title %q carries ESC", h.m.View().WindowTitle)
	}
	h.press("s") // the save form's placeholder holds the domain name
	onlySGR(t, "save form", h.m.View().Content)
	h.contains(`Save vc7i-\x1b[31mred`, `save/vc7i-\x1b[31mred\u009b2J\tx.save`)
	if v := strings.TrimSpace(h.m.dialog.(*forms.Form).Value("file")); v != "" {
		t.Errorf("the save form offers %q, a default stripped of its control characters", v)
	}
	h.press("esc")
	h.keys("enter")
	onlySGR(t, "chain view", h.m.View().Content)
	h.contains(`top\x1b]0;pwned\a.qcow2`)
	h.keys("j")
	onlySGR(t, "chain view, broken layer", h.m.View().Content)
	h.keys("2")
	onlySGR(t, "snapshot tree", h.m.View().Content)
	h.keys("G")
	onlySGR(t, "snapshot info", h.m.View().Content)
	h.contains(`s\x1b[2Jx`)

	p := samplePlan()
	p.Summary = "revert " + hostileDomain().Name
	p.Steps = []string{"write " + hostileDomain().Disks[0].Layers[0].Path}
	ran := 0
	h.openOp(testOp(p, nil, nil, &ran))
	onlySGR(t, "plan dialog", h.m.View().Content)
	h.press("esc")
	h.openOp(testOp(p, errors.New("libvirt: no \x1b[31mway\nsecond line"), nil, &ran))
	onlySGR(t, "error dialog", h.m.View().Content)
	h.press("esc")
	h.send(common.ErrorMsg{Err: errors.New("footer \x1b[31merror")})
	onlySGR(t, "footer", h.m.View().Content)
}
