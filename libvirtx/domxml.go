package libvirtx

import (
	"encoding/xml"
	"errors"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// domainParts is what discovery uses of a domain's XML.
type domainParts struct {
	disks    []libvirtxml.DomainDisk
	metadata *libvirtxml.DomainMetadata
}

// decodeDomainParts decodes only the <devices><disk> elements and the
// <metadata> of a domain document, each into libvirtxml's own type, and
// leaves the rest alone: the CPU, features and other devices are most of a
// document, and decoding all of it was a seventh of discovery's time. A
// light scan finds where those elements are; libvirtxml decodes them, so
// the values are the ones libvirtxml.Domain.Unmarshal gives. A document
// the scan does not understand goes through the full decoder, which also
// words the error.
func decodeDomainParts(doc string) (domainParts, error) {
	return decodeDiskParts(doc, "domain")
}

// decodeDiskParts is decodeDomainParts for a domain definition whose root
// element is root (a snapshot's <inactiveDomain> is one).
func decodeDiskParts(doc, root string) (domainParts, error) {
	var p domainParts
	spans, err := scanDomain(doc, root)
	if err != nil && root == "domain" {
		var x libvirtxml.Domain
		if err := x.Unmarshal(doc); err != nil {
			return p, err
		}
		if x.Devices != nil {
			p.disks = x.Devices.Disks
		}
		return domainParts{disks: p.disks, metadata: x.Metadata}, nil
	}
	if err != nil {
		return p, err
	}
	for _, s := range spans.disks {
		var x libvirtxml.DomainDisk
		if err := x.Unmarshal(s); err != nil {
			return p, err
		}
		p.disks = append(p.disks, x)
	}
	if spans.metadata != "" {
		var m libvirtxml.DomainMetadata
		if err := xml.Unmarshal([]byte(spans.metadata), &m); err != nil {
			return p, err
		}
		p.metadata = &m
	}
	return p, nil
}

// domainSpans are the texts of the elements decodeDomainParts decodes.
type domainSpans struct {
	disks    []string // each <disk> directly under <domain><devices>
	metadata string   // <metadata> directly under <domain>, or ""
}

var errScan = errors.New("not a document the scan reads")

// scanDomain finds the spans of a domain definition whose root element
// is root.
func scanDomain(doc, root string) (domainSpans, error) {
	var s domainSpans
	_, err := scanElements(doc, root, func(depth int, child, name string) bool {
		return (depth == 2 && child == "devices" && name == "disk") || (depth == 1 && name == "metadata")
	}, func(name, text string, _, _ int) {
		if name == "disk" {
			s.disks = append(s.disks, text)
		} else {
			s.metadata = text
		}
	})
	return s, err
}

// scanElements walks the markup of doc, whose root element must be root,
// and hands each element that pick chooses (by its depth, the root's open
// child and its name; not inside another chosen one) to found with its
// text and byte range. It follows markup only (libvirt escapes '<' in
// text and attribute values), skipping comments, CDATA, processing
// instructions and quoted attribute values, and counts open elements.
func scanElements(doc, root string, pick func(depth int, child, name string) bool, found func(name, text string, start, end int)) (int, error) {
	sc := domScan{doc: doc, root: root, pick: pick, found: found, open: span{start: -1}}
	for i := 0; ; {
		j := strings.IndexByte(doc[i:], '<')
		if j < 0 {
			break
		}
		i += j
		rest := doc[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			i = skipPast(doc, i+4, "-->")
		case strings.HasPrefix(rest, "<![CDATA["):
			i = skipPast(doc, i+9, "]]>")
		case strings.HasPrefix(rest, "<?"):
			i = skipPast(doc, i+2, "?>")
		case strings.HasPrefix(rest, "<!"):
			i = skipPast(doc, i+2, ">")
		case strings.HasPrefix(rest, "</"):
			i = sc.endTag(i)
		default:
			i = sc.startTag(i)
		}
		if i < 0 {
			return 0, errScan
		}
	}
	if sc.depth != 0 || !sc.seenRoot {
		return 0, errScan
	}
	return sc.picked, nil
}

// domScan is scanElements' state.
type domScan struct {
	doc      string
	root     string
	pick     func(depth int, child, name string) bool
	found    func(name, text string, start, end int)
	picked   int
	depth    int    // open elements
	child    string // the open child of <domain>
	open     span   // the open chosen element, start -1 when none
	seenRoot bool
}

// endTag takes the end tag at i and returns the index past it, or -1.
func (sc *domScan) endTag(i int) int {
	end := skipPast(sc.doc, i+2, ">")
	if end < 0 || sc.depth == 0 {
		return -1
	}
	sc.depth--
	if sc.open.start >= 0 && sc.depth == sc.open.depth {
		sc.emit(end)
	}
	return end
}

func (sc *domScan) emit(end int) {
	sc.picked++
	sc.found(sc.open.name, sc.doc[sc.open.start:end], sc.open.start, end)
	sc.open.start = -1
}

// startTag takes the start tag at i and returns the index past it, or -1.
func (sc *domScan) startTag(i int) int {
	name, end, empty := startTag(sc.doc, i)
	if end < 0 || (sc.depth == 0 && (name != sc.root || sc.seenRoot)) {
		return -1
	}
	sc.seenRoot = true
	if sc.depth == 1 {
		sc.child = name
	}
	if sc.open.start < 0 && sc.depth > 0 && sc.pick(sc.depth, sc.child, name) {
		sc.open = span{start: i, depth: sc.depth, name: name}
	}
	if !empty {
		sc.depth++
	} else if sc.open.start == i {
		sc.emit(end)
	}
	return end
}

// span is the chosen element scanElements has open: where it starts, at
// which depth, its name.
type span struct {
	start, depth int
	name         string
}

// skipPast returns the index just past the first sep at or after from,
// or -1.
func skipPast(doc string, from int, sep string) int {
	k := strings.Index(doc[from:], sep)
	if k < 0 {
		return -1
	}
	return from + k + len(sep)
}

// startTag reads the start tag of doc at i: its name, the index just past its
// '>', and whether it is empty (<x/>). end is -1 when it does not end.
func startTag(doc string, i int) (name string, end int, empty bool) {
	k := i + 1
	for k < len(doc) && !strings.ContainsRune(" \t\r\n/>", rune(doc[k])) {
		k++
	}
	name = doc[i+1 : k]
	for k < len(doc) {
		switch c := doc[k]; c {
		case '"', '\'':
			q := strings.IndexByte(doc[k+1:], c)
			if q < 0 {
				return name, -1, false
			}
			k += q + 2
		case '>':
			return name, k + 1, doc[k-1] == '/'
		default:
			k++
		}
	}
	return name, -1, false
}
