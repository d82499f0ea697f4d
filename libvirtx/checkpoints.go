package libvirtx

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// BitmapsNotRead starts a layer's BitmapsProblem when its header was not
// read, so its bitmaps are unknown (not absent).
const BitmapsNotRead = "bitmaps not read"

// readCheckpoints lists a domain's checkpoints, parents first, with one
// XML read each. For a running domain it asks libvirt for each disk's
// size (VIR_DOMAIN_CHECKPOINT_XML_SIZE), which libvirt measures in QEMU:
// when that answers, QEMU holds the bitmap, which the image on disk only
// gets when QEMU closes it (measured on 9.0 and 11.3). A checkpoint whose
// XML cannot be read is still listed, by name.
func readCheckpoints(dom *libvirt.Domain, active bool, called func(int)) ([]model.Checkpoint, error) {
	called(1)
	list, err := dom.ListAllCheckpoints(libvirt.DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_SUPPORT {
			return nil, nil // a driver without checkpoints (test:///default)
		}
		return nil, &LibvirtError{Op: "list checkpoints", Err: err}
	}
	out := make([]model.Checkpoint, 0, len(list))
	var problems []string
	for i := range list {
		name, _ := list[i].GetName()
		cp, err := readCheckpoint(&list[i], active, called)
		_ = list[i].Free()
		if err != nil {
			problems = append(problems, "checkpoint "+name+": "+err.Error())
			cp = model.Checkpoint{Name: name, Disks: []model.CheckpointDisk{}}
		}
		out = append(out, cp)
	}
	if len(problems) > 0 {
		return out, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// readCheckpoint reads one checkpoint, with sizes when QEMU can give them.
func readCheckpoint(cp *libvirt.DomainCheckpoint, active bool, called func(int)) (model.Checkpoint, error) {
	if active {
		called(1)
		if doc, err := cp.GetXMLDesc(libvirt.DOMAIN_CHECKPOINT_XML_NO_DOMAIN | libvirt.DOMAIN_CHECKPOINT_XML_SIZE); err == nil {
			return parseCheckpoint(doc, true)
		}
		// A bitmap QEMU lost (or a read-only connection): no sizes.
	}
	called(1)
	doc, err := cp.GetXMLDesc(libvirt.DOMAIN_CHECKPOINT_XML_NO_DOMAIN)
	if err != nil {
		return model.Checkpoint{}, errors.New(errorText(err))
	}
	return parseCheckpoint(doc, false)
}

// parseCheckpoint turns a <domaincheckpoint> into a model value; live says
// it was asked with sizes. libvirt gives a disk's size only when the
// bitmap's chain in QEMU starts at the active layer: with the bitmap only
// in a layer below (an overlay made offline) it leaves size out (measured
// on 9.0 and 11.3), so a size says QEMU holds the bitmap on the active
// layer.
func parseCheckpoint(doc string, live bool) (model.Checkpoint, error) {
	var x libvirtxml.DomainCheckpoint
	if err := x.Unmarshal(doc); err != nil {
		return model.Checkpoint{}, errors.New(model.OneLine(err.Error()))
	}
	c := model.Checkpoint{Name: x.Name, Description: x.Description, Disks: []model.CheckpointDisk{}, Sized: live}
	if x.Parent != nil {
		c.Parent = x.Parent.Name
	}
	if sec, err := strconv.ParseInt(x.CreationTime, 10, 64); err == nil {
		c.Created = time.Unix(sec, 0).UTC()
	}
	sized := sizedDisks(doc)
	if x.Disks != nil {
		for _, d := range x.Disks.Disks {
			cd := model.CheckpointDisk{Target: d.Name, Kind: d.Checkpoint, Bitmap: d.Bitmap}
			if cd.Kind == "" {
				cd.Kind = "bitmap" // libvirt's default
			}
			if cd.Kind == "bitmap" && cd.Bitmap == "" {
				cd.Bitmap = c.Name // libvirt names the bitmap after the checkpoint
			}
			if live && cd.Kind == "bitmap" && sized[d.Name] {
				cd.Size, cd.Live = int64(d.Size), true
			}
			c.Disks = append(c.Disks, cd)
		}
	}
	return c, nil
}

// sizedDisks names the <disk>s of a checkpoint document that carry a size
// attribute. libvirtxml reads a missing size and size='0' alike, and that
// difference is the one that matters here, so the tokens are looked at.
func sizedDisks(doc string) map[string]bool {
	out := map[string]bool{}
	dec := xml.NewDecoder(strings.NewReader(doc))
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			// <domaincheckpoint><disks><disk>: depth 3.
			if depth != 3 || t.Name.Local != "disk" {
				continue
			}
			name, sized := "", false
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "name":
					name = a.Value
				case "size":
					sized = true
				}
			}
			out[name] = sized
		case xml.EndElement:
			depth--
		}
	}
}
