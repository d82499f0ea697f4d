package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"virtchain/libvirtx"
)

// Fleet shapes a synthetic fleet for benchmarks: Domains domains, each
// with Disks virtio disks whose chains are Depth layers deep (made with
// qemu-img create -b, no data), the first Running of them started.
type Fleet struct {
	Domains, Disks, Depth, Running int
}

// FleetUp builds a benchmark fleet the way Up builds the lab: domains
// opts.Prefix+NN from the lab's domain template, images in opts.Dir.
// Down with the same options removes it.
func FleetUp(ctx context.Context, c *libvirtx.Conn, opts Options, f Fleet) error {
	h, opts, err := prepare("fleet up", c, opts)
	if err != nil {
		return err
	}
	if f.Domains < 1 || f.Disks < 1 || f.Disks > 26 || f.Depth < 1 || f.Running < 0 || f.Running > f.Domains {
		return fmt.Errorf("fleet up: bad shape %+v", f)
	}
	opts.Log = quietLog{opts.Log}
	return h.up(ctx, opts, f.spec(opts.Prefix))
}

// spec describes the fleet as a lab: one image per layer, named after
// its domain, disk and depth.
func (f Fleet) spec(prefix string) spec {
	var s spec
	for d := 0; d < f.Domains; d++ {
		dom := domainDef{Name: fmt.Sprintf("%02d", d), About: fmt.Sprintf("%d disks of %d layers", f.Disks, f.Depth)}
		for k := 0; k < f.Disks; k++ {
			target := "vd" + string(rune('a'+k))
			backing := ""
			for l := 0; l < f.Depth; l++ {
				img := image{File: fmt.Sprintf("%s%02d-%s-%02d.qcow2", prefix, d, target, l), Backing: backing}
				if backing == "" {
					img.Size = "64M"
				}
				s.Images = append(s.Images, img)
				backing = img.File
			}
			dom.Disks = append(dom.Disks, disk{Target: target, Image: backing})
		}
		if d < f.Running {
			dom.Steps = []step{{Start: true}}
		}
		s.Domains = append(s.Domains, dom)
	}
	return s
}

// quietLog keeps a fleet's progress to its summary lines: a line per domain
// of a 40-domain fleet says nothing.
type quietLog struct{ w io.Writer }

func (q quietLog) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("lab: creating")) || bytes.HasPrefix(p, []byte("lab: up:")) || bytes.HasPrefix(p, []byte("lab: already")) {
		return q.w.Write(p)
	}
	return len(p), nil
}
