// Package assets holds the files virtchain embeds: the demo lab's domain
// template and its description. Screenshots and recordings live next to
// them but are not embedded.
package assets

import _ "embed"

// LabDomainXML is the template every lab domain starts from: a 64 MiB
// machine with no OS (SeaBIOS finds nothing to boot and idles). The lab
// parses it into a libvirtxml.Domain and sets the name, type and disks.
//
//go:embed lab/domain.xml
var LabDomainXML string

// LabJSON describes the demo lab: the images to create (with the data each
// layer holds) and, per domain, its disks and the steps that give it its
// chains and snapshot tree.
//
//go:embed lab/lab.json
var LabJSON []byte
