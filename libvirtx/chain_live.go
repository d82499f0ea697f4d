package libvirtx

import (
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// liveChain reads an active disk's chain from its live XML: <source
// index=N> and nested <backingStore index=N>. The indices are libvirt's
// node ids and are copied as they are. Sizes and headers come from the
// images themselves when local; when remote, sizes come from block stats
// and each qcow2 layer's bitmaps from its header, read through its
// folder's storage pool as a shut-off chain is (see liveBitmaps).
func (c *Conn) liveChain(x libvirtxml.DomainDisk, top diskSource, format, target string, blocks []libvirt.DomainStatsBlock, pools *poolSession) []model.Layer {
	type live struct {
		index  uint
		src    diskSource
		format string
	}
	var chain []live
	if x.Source != nil {
		chain = append(chain, live{x.Source.Index, top, format})
	}
	// The chain ends at an empty <backingStore/> (or none at all).
	for bs := x.BackingStore; bs != nil && len(chain) <= model.MaxChainDepth; bs = bs.BackingStore {
		src := describeSource(bs.Source)
		if src.name == "" {
			break
		}
		l := live{index: bs.Source.Index, src: src}
		if bs.Index != 0 {
			l.index = bs.Index
		}
		if bs.Format != nil {
			l.format = bs.Format.Type
		}
		chain = append(chain, l)
	}

	layers := make([]model.Layer, 0, len(chain))
	for i, l := range chain {
		var layer model.Layer
		if c.local && l.src.path != "" {
			layer = LayerInfo(l.src.path, l.format)
		}
		layer.Path = l.src.name
		if l.format != "" {
			layer.Format = l.format
		}
		if l.index != 0 {
			idx := int(l.index)
			layer.Index = &idx
		}
		if !c.local {
			applyBlockStats(&layer, target, blocks)
			if layer.Format == "qcow2" && l.src.path != "" {
				layer.Bitmaps, layer.BitmapsProblem = pools.liveBitmaps(l.src.path)
			}
		}
		if layer.BackingFormat == "" && i+1 < len(chain) {
			layer.BackingFormat = chain[i+1].format
		}
		layers = append(layers, layer)
	}
	return layers
}

// applyBlockStats fills sizes of a remote active layer from the
// GetAllDomainStats block entry of the same disk and node index (or path).
func applyBlockStats(layer *model.Layer, target string, blocks []libvirt.DomainStatsBlock) {
	var match *libvirt.DomainStatsBlock
	for i := range blocks {
		b := &blocks[i]
		if b.Name != target {
			continue
		}
		if layer.Index != nil && b.BackingIndexSet && int(b.BackingIndex) == *layer.Index {
			match = b
			break
		}
		if match == nil && b.PathSet && b.Path == layer.Path {
			match = b
		}
	}
	if match == nil {
		return
	}
	if match.CapacitySet {
		layer.VirtualSize = int64(match.Capacity)
	}
	switch {
	case match.PhysicalSet:
		layer.Allocation = int64(match.Physical)
	case match.AllocationSet:
		layer.Allocation = int64(match.Allocation)
	}
}
