package libvirtx

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// BenchmarkIntegrationDiscoverPhases breaks full discovery of the host
// into its parts, each timed alone and serially (scripts/bench.sh prints
// them as the README's breakdown): connecting, the bulk ListAllDomains
// calls, one GetXMLDesc per domain, decoding that XML whole and only its
// disks and metadata (what discovery does), reading the image headers,
// the whole Discover (parallel) with its libvirt calls per run, and
// encoding the result as JSON.
func BenchmarkIntegrationDiscoverPhases(b *testing.B) {
	testhost.Need(b)
	uri := testhost.URI()
	// Read-write, as the CLI opens it: over ssh, shut-off chains are read
	// through (transient) storage pools only then.
	c, err := Open(uri, false)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	b.Run("connect", func(b *testing.B) {
		for b.Loop() {
			cc, err := Open(uri, true)
			if err != nil {
				b.Fatal(err)
			}
			_ = cc.Close()
		}
	})
	b.Run("bulk-lists", func(b *testing.B) {
		for b.Loop() {
			doms, err := c.virt.ListAllDomains(0)
			if err != nil {
				b.Fatal(err)
			}
			uuids := make([]string, len(doms))
			for i := range doms {
				uuids[i], _ = doms[i].GetUUIDString()
			}
			c.bulkFacts(doms, uuids)
			freeDomains(doms)
		}
	})
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		b.Fatal(err)
	}
	defer freeDomains(doms)
	docs := make([]string, len(doms))
	b.Run("xml-rpc", func(b *testing.B) {
		for b.Loop() {
			for i := range doms {
				docs[i], _ = doms[i].GetXMLDesc(0)
			}
		}
	})
	var disks []libvirtxml.DomainDisk
	b.Run("xml-decode-full", func(b *testing.B) {
		for b.Loop() {
			disks = disks[:0]
			for _, doc := range docs {
				var x libvirtxml.Domain
				if err := x.Unmarshal(doc); err == nil && x.Devices != nil {
					disks = append(disks, x.Devices.Disks...)
				}
			}
		}
	})
	b.Run("xml-decode-parts", func(b *testing.B) {
		for b.Loop() {
			for _, doc := range docs {
				_, _ = decodeDomainParts(doc)
			}
		}
	})
	var snapDocs []string
	for i := range doms {
		snaps, err := doms[i].ListAllSnapshots(0)
		if err != nil {
			continue
		}
		for j := range snaps {
			if doc, err := snaps[j].GetXMLDesc(0); err == nil {
				snapDocs = append(snapDocs, doc)
			}
			_ = snaps[j].Free()
		}
	}
	if len(snapDocs) > 0 {
		b.Run("snapshot-decode-full", func(b *testing.B) {
			for b.Loop() {
				for _, doc := range snapDocs {
					var x libvirtxml.DomainSnapshot
					if x.Unmarshal(doc) == nil {
						_, _, _ = snapshotOf(&x, doc)
					}
				}
			}
			b.ReportMetric(float64(len(snapDocs)), "snapshots")
		})
		b.Run("snapshot-decode-parts", func(b *testing.B) {
			for b.Loop() {
				for _, doc := range snapDocs {
					_, _, _ = parseSnapshotPoints(doc)
				}
			}
		})
	}
	b.Run("headers", func(b *testing.B) {
		for b.Loop() {
			for _, d := range disks {
				if d.Source != nil && d.Source.File != nil {
					WalkChain(d.Source.File.File, "")
				}
			}
		}
	})
	b.Run("discover", func(b *testing.B) {
		before, n := c.Calls(), 0
		var doms, layers int
		for b.Loop() {
			all, err := c.Discover(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n++
			doms, layers = len(all), 0
			for _, d := range all {
				for _, k := range d.Disks {
					layers += len(k.Layers)
				}
			}
		}
		b.ReportMetric(float64(c.Calls()-before)/float64(n), "calls/op")
		b.ReportMetric(float64(doms), "domains")
		b.ReportMetric(float64(layers), "layers")
	})
	all, err := c.Discover(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// What the TUI does on a lifecycle event: re-read that one domain.
	if i := slices.IndexFunc(all, func(d model.Domain) bool { return d.State == model.StateRunning }); i >= 0 {
		b.Run("rediscover-one", func(b *testing.B) {
			before, n := c.Calls(), 0
			for b.Loop() {
				if _, err := c.DiscoverDomain(ctx, all[i].Name); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(c.Calls()-before)/float64(n), "calls/op")
		})
	}
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			// What cli's writeJSON encodes (it then indents in one pass).
			enc := json.NewEncoder(io.Discard)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(all); err != nil {
				b.Fatal(err)
			}
		}
	})
}
