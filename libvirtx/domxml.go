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
	var p domainParts
	spans, err := scanDomain(doc)
	if err != nil {
		var x libvirtxml.Domain
		if err := x.Unmarshal(doc); err != nil {
			return p, err
		}
		if x.Devices != nil {
			p.disks = x.Devices.Disks
		}
		return domainParts{disks: p.disks, metadata: x.Metadata}, nil
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

// scanDomain finds the spans: it follows markup only (libvirt escapes '<'
// in text and attribute values), skipping comments, CDATA, processing
// instructions and quoted attribute values, and counts open elements.
func scanDomain(doc string) (domainSpans, error) {
	sc := domScan{doc: doc, open: span{start: -1}}
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
			return sc.spans, errScan
		}
	}
	if sc.depth != 0 || !sc.seenRoot {
		return sc.spans, errScan
	}
	return sc.spans, nil
}

// domScan is scanDomain's state.
type domScan struct {
	doc      string
	spans    domainSpans
	depth    int    // open elements
	child    string // the open child of <domain>
	open     span   // the open <disk> or <metadata>, start -1 when none
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
		sc.spans.add(sc.open, sc.doc[sc.open.start:end])
		sc.open.start = -1
	}
	return end
}

// startTag takes the start tag at i and returns the index past it, or -1.
func (sc *domScan) startTag(i int) int {
	name, end, empty := startTag(sc.doc, i)
	if end < 0 || (sc.depth == 0 && (name != "domain" || sc.seenRoot)) {
		return -1
	}
	sc.seenRoot = true
	if sc.depth == 1 {
		sc.child = name
	}
	disk := sc.depth == 2 && sc.child == "devices" && name == "disk"
	if sc.open.start < 0 && (disk || (sc.depth == 1 && name == "metadata")) {
		sc.open = span{start: i, depth: sc.depth, disk: disk}
	}
	if !empty {
		sc.depth++
	} else if sc.open.start == i {
		sc.spans.add(sc.open, sc.doc[i:end])
		sc.open.start = -1
	}
	return end
}

// span is an open element scanDomain keeps: where it starts, at which
// depth, and whether it is a disk (else the metadata).
type span struct {
	start, depth int
	disk         bool
}

func (s *domainSpans) add(sp span, text string) {
	if sp.disk {
		s.disks = append(s.disks, text)
	} else {
		s.metadata = text
	}
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
