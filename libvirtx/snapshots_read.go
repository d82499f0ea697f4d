package libvirtx

import (
	"encoding/xml"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// readSnapshots lists a domain's snapshots (one call), reads each one's
// XML and the current snapshot's name, and returns them parents first.
// A snapshot whose XML cannot be read is still listed, by name. formats
// maps each image at a snapshot point to its format in the saved
// definition.
func readSnapshots(dom *libvirt.Domain, called func(int)) (snaps []model.Snapshot, current string, formats map[string]string, err error) {
	called(1)
	list, err := dom.ListAllSnapshots(0)
	if err != nil {
		return nil, "", nil, &LibvirtError{Op: "list snapshots", Err: err}
	}
	formats = map[string]string{}
	var problems []string
	snaps = make([]model.Snapshot, 0, len(list))
	for i := range list {
		name, _ := list[i].GetName()
		called(1)
		doc, err := list[i].GetXMLDesc(0)
		_ = list[i].Free()
		if err != nil {
			problems = append(problems, "snapshot "+name+": "+errorText(err))
			snaps = append(snaps, model.Snapshot{Name: name, Disks: []model.SnapshotDisk{}})
			continue
		}
		s, points, err := parseSnapshotPoints(doc)
		for _, pt := range points {
			formats[pt.Path] = pt.Format
		}
		if err != nil {
			problems = append(problems, "snapshot "+name+": "+model.OneLine(err.Error()))
			s = model.Snapshot{Name: name, Disks: []model.SnapshotDisk{}}
		}
		if s.Name == "" {
			s.Name = name
		}
		snaps = append(snaps, s)
	}

	if len(snaps) > 0 {
		called(1)
		cur, err := dom.SnapshotCurrent(0)
		switch {
		case err == nil:
			current, _ = cur.GetName()
			_ = cur.Free()
		case virtCode(err) != libvirt.ERR_NO_DOMAIN_SNAPSHOT:
			problems = append(problems, "current snapshot: "+errorText(err))
		}
	}
	snaps = orderSnapshots(snaps)
	for i := range snaps {
		snaps[i].Current = snaps[i].Name == current
	}
	if len(problems) > 0 {
		return snaps, current, formats, errors.New(strings.Join(problems, "; "))
	}
	return snaps, current, formats, nil
}

// parseSnapshot turns one <domainsnapshot> document into a model value.
func parseSnapshot(doc string) (model.Snapshot, error) {
	s, _, err := parseSnapshotPoints(doc)
	return s, err
}

// parseSnapshotPoints is parseSnapshot that also returns the images at the
// snapshot point (with their formats) that it put into the disks' Point.
func parseSnapshotPoints(doc string) (model.Snapshot, []model.PointDisk, error) {
	x, rest, err := decodeSnapshot(doc)
	if err != nil {
		return model.Snapshot{}, nil, err
	}
	return snapshotOf(&x, rest)
}

// decodeSnapshot decodes a snapshot document, of whose saved domain
// definitions (<domain>, <inactiveDomain>) only the disks, which is all
// discovery reads of them: a definition is most of the document. rest is
// the document without them, for revertDisks. A document the scan does not
// follow is decoded whole.
func decodeSnapshot(doc string) (x libvirtxml.DomainSnapshot, rest string, err error) {
	type cut struct {
		name, text string
		start, end int
	}
	var cuts []cut
	if _, serr := scanElements(doc, "domainsnapshot", func(depth int, _, name string) bool {
		return depth == 1 && (name == "domain" || name == "inactiveDomain")
	}, func(name, text string, start, end int) {
		cuts = append(cuts, cut{name, text, start, end})
	}); serr != nil {
		err = x.Unmarshal(doc)
		return x, doc, err
	}
	var b strings.Builder
	at := 0
	for _, c := range cuts {
		b.WriteString(doc[at:c.start])
		at = c.end
	}
	b.WriteString(doc[at:])
	rest = b.String()
	if err := x.Unmarshal(rest); err != nil {
		return x, rest, err
	}
	for _, c := range cuts {
		parts, err := decodeDiskParts(c.text, c.name)
		if err != nil {
			return x, rest, err
		}
		def := libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Disks: parts.disks}}
		if c.name == "domain" {
			x.Domain = &def
		} else {
			x.InactiveDomain = &libvirtxml.DomainSnapshotInactiveDomain{Domain: def}
		}
	}
	return x, rest, nil
}

// snapshotOf turns a decoded snapshot into a model value; doc is (at
// least) its document outside the saved definitions.
func snapshotOf(x *libvirtxml.DomainSnapshot, doc string) (model.Snapshot, []model.PointDisk, error) {
	s := model.Snapshot{
		Name:        x.Name,
		State:       x.State,
		Description: x.Description,
		Disks:       []model.SnapshotDisk{},
	}
	if x.Parent != nil {
		s.Parent = x.Parent.Name
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(x.CreationTime), 10, 64); err == nil {
		s.Created = time.Unix(secs, 0).UTC()
	}
	points := pointDisks(x)
	if x.Disks != nil {
		for _, xd := range x.Disks.Disks {
			sd := snapshotDisk(xd)
			for _, pt := range points {
				if pt.Target == sd.Target {
					sd.Point = pt.Path
				}
			}
			s.Disks = append(s.Disks, sd)
		}
	}
	revert, err := revertDisks(doc)
	if err != nil {
		return model.Snapshot{}, nil, err
	}
	for _, xd := range revert {
		s.RevertDisks = append(s.RevertDisks, snapshotDisk(xd))
	}
	s.Memory, s.MemoryFile = snapshotMemory(x, s.Disks)
	s.Kind = model.SnapshotInternal
	if s.Memory == model.MemoryExternal || slices.ContainsFunc(s.Disks, isExternal) {
		s.Kind = model.SnapshotExternal
	}
	return s, points, nil
}

func snapshotDisk(xd libvirtxml.DomainSnapshotDisk) model.SnapshotDisk {
	sd := model.SnapshotDisk{Target: xd.Name, Kind: xd.Snapshot}
	if src := describeSource(xd.Source); src.name != "" {
		sd.File = src.name
	}
	return sd
}

func isExternal(sd model.SnapshotDisk) bool { return sd.Kind == "external" }

// snapshotMemory decides where a snapshot keeps the domain's memory:
// what <memory> says, or, when it says nothing, none for a snapshot of a
// shut-off domain or with an external disk, inside the images otherwise.
func snapshotMemory(x *libvirtxml.DomainSnapshot, disks []model.SnapshotDisk) (model.MemoryKind, string) {
	switch {
	case x.Memory != nil && x.Memory.Snapshot != "":
		return model.MemoryKind(x.Memory.Snapshot), x.Memory.File
	case x.State == "disk-snapshot" || x.State == "shutoff" || x.State == "":
		return model.MemoryNo, ""
	case slices.ContainsFunc(disks, isExternal):
		// Old libvirt omitted <memory>; an external snapshot of a running
		// domain then had no memory part unless a file was named.
		return model.MemoryNo, ""
	default:
		return model.MemoryInternal, ""
	}
}

// orderSnapshots returns the tree flattened parents first (depth first),
// siblings by creation time, then name. A snapshot whose parent is not in
// the list is treated as a root, so nothing is lost.
func orderSnapshots(snaps []model.Snapshot) []model.Snapshot {
	byName := map[string]bool{}
	for _, s := range snaps {
		byName[s.Name] = true
	}
	children := map[string][]int{}
	for i, s := range snaps {
		parent := s.Parent
		if !byName[parent] || parent == s.Name {
			parent = ""
		}
		children[parent] = append(children[parent], i)
	}
	for _, kids := range children {
		sort.Slice(kids, func(a, b int) bool {
			sa, sb := snaps[kids[a]], snaps[kids[b]]
			if !sa.Created.Equal(sb.Created) {
				return sa.Created.Before(sb.Created)
			}
			return sa.Name < sb.Name
		})
	}
	out := make([]model.Snapshot, 0, len(snaps))
	visited := make([]bool, len(snaps))
	var walk func(parent string)
	walk = func(parent string) {
		for _, i := range children[parent] {
			if visited[i] {
				continue
			}
			visited[i] = true
			out = append(out, snaps[i])
			walk(snaps[i].Name)
		}
	}
	walk("")
	// A parent cycle (corrupt metadata) has no root; list it anyway.
	for i := range snaps {
		if !visited[i] {
			visited[i] = true
			out = append(out, snaps[i])
			walk(snaps[i].Name)
		}
	}
	return out
}

// markCreatedBy sets Layer.CreatedBySnapshot for each layer that an
// external snapshot of the same domain created: the snapshot's <disk>
// <source file> names the overlay it made. If several snapshots name the
// same file (a name reused after a delete), the newest wins.
func markCreatedBy(d *model.Domain) {
	type creator struct {
		name    string
		created time.Time
	}
	by := map[string]creator{}
	for _, s := range d.Snapshots {
		for _, sd := range s.Disks {
			if sd.Kind != "external" || sd.File == "" {
				continue
			}
			if old, ok := by[sd.File]; ok && old.created.After(s.Created) {
				continue
			}
			by[sd.File] = creator{s.Name, s.Created}
		}
	}
	if len(by) == 0 {
		return
	}
	for i := range d.Disks {
		for j := range d.Disks[i].Layers {
			l := &d.Disks[i].Layers[j]
			if cr, ok := by[l.Path]; ok {
				l.CreatedBySnapshot = cr.name
			}
		}
	}
}

// fillPointBacking sets each snapshot disk's PointBacking: from the disk's
// chain when the point is in it (no I/O), else from the image headers
// (local) or the storage pools (remote), once per image.
func (c *Conn) fillPointBacking(d *model.Domain, formats map[string]string) {
	type at struct{ disk, pos int }
	var where map[string]at // built on first need: chains can be long
	known := map[string][]string{}
	for i := range d.Snapshots {
		for j := range d.Snapshots[i].Disks {
			sd := &d.Snapshots[i].Disks[j]
			if sd.Point == "" || !filepath.IsAbs(sd.Point) {
				continue
			}
			b, ok := known[sd.Point]
			if !ok {
				if where == nil {
					where = map[string]at{}
					for di, disk := range d.Disks {
						for li, l := range disk.Layers {
							if _, dup := where[l.Path]; l.Path != "" && l.Problem == "" && !dup {
								where[l.Path] = at{di, li}
							}
						}
					}
				}
				switch w, in := where[sd.Point]; {
				case in:
					b = pathsOf(d.Disks[w.disk].Layers[w.pos+1:])
				case c.local:
					b = pathsOf(WalkChain(sd.Point, formats[sd.Point])[1:])
				default:
					if ls := c.poolChain(sd.Point, formats[sd.Point]); len(ls) > 0 {
						b = pathsOf(ls[1:])
					}
				}
				known[sd.Point] = b
			}
			sd.PointBacking = b
		}
	}
}

// pathsOf lists the layers' paths, leaving out empty ones.
func pathsOf(ls []model.Layer) []string {
	var out []string
	for _, l := range ls {
		if l.Path != "" {
			out = append(out, l.Path)
		}
	}
	return out
}

// revertDisks reads <revertDisks>, which libvirt 9.9 and later write for a
// snapshot with children that its own external revert went to: the
// overlays that revert made, deleted by the next revert away. libvirtxml
// has no field for it; its children are <disk> elements as in <disks>.
func revertDisks(doc string) ([]libvirtxml.DomainSnapshotDisk, error) {
	dec := xml.NewDecoder(strings.NewReader(doc))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 1 && t.Name.Local == "revertDisks" {
				var disks libvirtxml.DomainSnapshotDisks
				if err := dec.DecodeElement(&disks, &t); err != nil {
					return nil, err
				}
				return disks.Disks, nil
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}
