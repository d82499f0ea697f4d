package libvirtx

import (
	"encoding/xml"
	"io"
	"strings"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// Destroyed snapshot points (model.PointMark) live in the domain's own
// custom metadata, so every virtchain on every connection sees them and
// they outlive the chain changes that would hide them. libvirt stores the
// element as <virtchain:points xmlns:virtchain="..."> inside <metadata>.

const (
	marksNS  = "https://virtchain.dev/xmlns/points/1"
	marksKey = "virtchain"
)

type xmlPoints struct {
	XMLName xml.Name  `xml:"points"`
	Marks   []xmlMark `xml:"mark"`
}

type xmlMark struct {
	Snapshot string `xml:"snapshot,attr"`
	Created  int64  `xml:"created,attr"`
	Disk     string `xml:"disk,attr"`
	Merge    string `xml:"merge,attr"`
	When     string `xml:"when,attr,omitempty"`
	Point    string `xml:"point"`
	Top      string `xml:"top"`
	Base     string `xml:"base,omitempty"`
}

// parseMarks reads the marks from the inner XML of a domain's <metadata>;
// anything else there is ignored. virDomainGetMetadata answers with the
// element alone, already chosen by namespace: anyNS takes that.
func parseMarks(doc string, anyNS bool) []model.PointMark {
	dec := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return nil
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "points" || (se.Name.Space != marksNS && !anyNS) {
			continue
		}
		var px xmlPoints
		if dec.DecodeElement(&px, &se) != nil {
			return nil
		}
		out := make([]model.PointMark, 0, len(px.Marks))
		for _, m := range px.Marks {
			pm := model.PointMark{Snapshot: m.Snapshot, Created: m.Created, Target: m.Disk, Point: m.Point,
				Merge: model.JobKind(m.Merge), Top: m.Top, Base: m.Base}
			pm.When, _ = time.Parse(time.RFC3339, m.When)
			out = append(out, pm)
		}
		return out
	}
}

// marksImpact is where marks are written: the persistent definition, and
// the live one while the domain runs.
func marksImpact(dom *libvirt.Domain) libvirt.DomainModificationImpact {
	var flags libvirt.DomainModificationImpact
	if p, err := dom.IsPersistent(); err != nil || p {
		flags |= libvirt.DOMAIN_AFFECT_CONFIG
	}
	if a, err := dom.IsActive(); err == nil && a {
		flags |= libvirt.DOMAIN_AFFECT_LIVE
	}
	return flags
}

// readMarks reads the marks libvirt holds for dom (the live definition of a
// running domain, else the persistent one).
func readMarks(dom *libvirt.Domain) ([]model.PointMark, error) {
	var flags libvirt.DomainModificationImpact
	if a, err := dom.IsActive(); err == nil && !a {
		flags = libvirt.DOMAIN_AFFECT_CONFIG
	}
	doc, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, marksNS, flags)
	if virtCode(err) == libvirt.ERR_NO_DOMAIN_METADATA {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseMarks(doc, true), nil
}

// writeMarks replaces dom's marks; none removes the element.
func writeMarks(dom *libvirt.Domain, marks []model.PointMark) error {
	doc := ""
	if len(marks) > 0 {
		px := xmlPoints{}
		for _, m := range marks {
			xm := xmlMark{Snapshot: m.Snapshot, Created: m.Created, Disk: m.Target, Merge: string(m.Merge),
				Point: m.Point, Top: m.Top, Base: m.Base}
			if !m.When.IsZero() {
				xm.When = m.When.UTC().Format(time.RFC3339)
			}
			px.Marks = append(px.Marks, xm)
		}
		b, err := xml.Marshal(px)
		if err != nil {
			return err
		}
		doc = string(b)
	}
	return dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, doc, marksKey, marksNS, marksImpact(dom))
}

// markPoints records the points bp will write over, before it starts; it
// returns the marks that were there, for undoMarks when the merge does not
// start. An error means the merge must not start.
func markPoints(dom *libvirt.Domain, bp *model.BlockPlan) (before []model.PointMark, err error) {
	if len(bp.Destroys) == 0 {
		return nil, nil
	}
	fail := func(err error) error {
		return &LibvirtError{Op: "record in " + bp.Domain + "'s metadata that snapshot points will be written over (the merge was not started)", Err: err}
	}
	before, err = readMarks(dom)
	if err != nil {
		return nil, fail(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	marks := append([]model.PointMark(nil), before...)
	for _, m := range bp.Destroys {
		if !hasMark(marks, m) {
			m.When = now
			marks = append(marks, m)
		}
	}
	if err := writeMarks(dom, marks); err != nil {
		return nil, fail(err)
	}
	return before, nil
}

// undoMarks puts back the marks from before a merge that did not start.
func undoMarks(dom *libvirt.Domain, bp *model.BlockPlan, before []model.PointMark) {
	if len(bp.Destroys) > 0 {
		_ = writeMarks(dom, before)
	}
}

func hasMark(marks []model.PointMark, m model.PointMark) bool {
	for _, o := range marks {
		if o.Snapshot == m.Snapshot && o.Created == m.Created && o.Target == m.Target {
			return true
		}
	}
	return false
}

// keepMarks re-applies marks after a revert replaced the domain's
// definition with the one saved in a snapshot, which has none of them.
func keepMarks(dom *libvirt.Domain, domain string, marks []model.PointMark) error {
	if len(marks) == 0 {
		return nil
	}
	if err := writeMarks(dom, marks); err != nil {
		return &LibvirtError{Op: "write the destroyed-point marks back into " + domain + "'s metadata after the revert", Err: err}
	}
	return nil
}

// dropMarks removes the marks of a deleted snapshot. libvirt names are
// unique, so every mark with that name is of this or an older snapshot.
func dropMarks(dom *libvirt.Domain, snapshot string) error {
	marks, err := readMarks(dom)
	if err != nil || len(marks) == 0 {
		return err
	}
	keep := marks[:0]
	for _, m := range marks {
		if m.Snapshot != snapshot {
			keep = append(keep, m)
		}
	}
	if len(keep) == len(marks) {
		return nil
	}
	return writeMarks(dom, keep)
}
