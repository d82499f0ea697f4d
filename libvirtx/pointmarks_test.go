package libvirtx

import (
	"reflect"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// The form libvirt gives back inside <metadata>: every element prefixed.
func TestParseMarksAsLibvirtWritesThem(t *testing.T) {
	doc := `<other:x xmlns:other="https://example.org/x"><points><mark snapshot="no"/></points></other:x>
	<virtchain:points xmlns:virtchain="https://virtchain.dev/xmlns/points/1">
	  <virtchain:mark snapshot="s1" created="1796156226" disk="vda" merge="active-commit" when="2026-12-01T20:17:06Z">
	    <virtchain:point>/img/base.qcow2</virtchain:point>
	    <virtchain:top>/img/ov.qcow2</virtchain:top>
	    <virtchain:base>/img/base.qcow2</virtchain:base>
	  </virtchain:mark>
	</virtchain:points>`
	want := []model.PointMark{{Snapshot: "s1", Created: 1796156226, Target: "vda", Point: "/img/base.qcow2",
		Merge: model.JobActiveCommit, Top: "/img/ov.qcow2", Base: "/img/base.qcow2", When: time.Date(2026, 12, 1, 20, 17, 6, 0, time.UTC)}}
	if got := parseMarks(doc, false); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if got := parseMarks(`<points xmlns="https://example.org/x"><mark snapshot="s1"/></points>`, false); got != nil {
		t.Fatalf("read marks from another namespace: %+v", got)
	}
}

// Marks go into the domain's metadata next to other tools' elements,
// discovery reads them, and dropping one snapshot's marks keeps the rest.
func TestIntegrationPointMarksRoundTrip(t *testing.T) {
	l := newDiscLab(t, "vc7s-marks")
	l.qcow2("base.qcow2", "")
	dom := l.define(discFileDisk("vda", l.path("base.qcow2"), "qcow2"))
	defer dom.Free()
	const otherNS = "https://example.org/vc7s"
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, "<keep/>", "vc7s", otherNS, libvirt.DOMAIN_AFFECT_CONFIG); err != nil {
		t.Fatal(err)
	}
	marks := []model.PointMark{
		{Snapshot: "s1", Created: 11, Target: "vda", Point: l.path("base.qcow2"), Merge: model.JobCommit, Top: l.path("ov.qcow2"), Base: l.path("base.qcow2"),
			When: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Snapshot: "s2", Created: 22, Target: "vda", Point: l.path("ov.qcow2"), Merge: model.JobPull, Top: l.path("ov.qcow2")},
	}
	if err := writeMarks(dom, marks); err != nil {
		t.Fatal(err)
	}
	if got := l.discover().PointMarks; !reflect.DeepEqual(got, marks) {
		t.Fatalf("discovered marks %+v, want %+v", got, marks)
	}
	if err := dropMarks(dom, "s1"); err != nil {
		t.Fatal(err)
	}
	if got, err := readMarks(dom); err != nil || !reflect.DeepEqual(got, marks[1:]) {
		t.Fatalf("after dropping s1: %+v %v", got, err)
	}
	if _, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, otherNS, libvirt.DOMAIN_AFFECT_CONFIG); err != nil {
		t.Errorf("another tool's metadata was lost: %v", err)
	}
	if err := dropMarks(dom, "s2"); err != nil {
		t.Fatal(err)
	}
	if got := l.discover().PointMarks; got != nil {
		t.Errorf("marks left after dropping all: %+v", got)
	}
}
