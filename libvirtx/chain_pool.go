package libvirtx

import (
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// ProblemRemoteNoPool is a layer's problem when the chain of a shut-off
// domain cannot be read: over a remote connection libvirt only describes
// images that belong to a storage pool.
const ProblemRemoteNoPool = "chain cannot be read over a remote connection: image is in no storage pool (define a pool for its folder)"

// poolChain reads a shut-off domain's chain over a remote connection from
// storage volume descriptions, the only way libvirt describes an image
// there. An image outside every pool ends the chain with a problem.
func (c *Conn) poolChain(path, format string) []model.Layer {
	var layers []model.Layer
	seen := map[string]bool{}
	for path != "" {
		if len(layers) >= model.MaxChainDepth {
			layers = append(layers, model.Layer{Path: path, Format: format, Problem: model.ProblemTooDeep})
			break
		}
		if seen[path] {
			layers = append(layers, model.Layer{Path: path, Format: format, Problem: model.ProblemLoop})
			break
		}
		seen[path] = true
		layer, next, nextFormat := c.volumeLayer(path, format)
		layers = append(layers, layer)
		if layer.Problem != "" {
			break
		}
		path, format = next, nextFormat
	}
	return layers
}

func (c *Conn) volumeLayer(path, format string) (layer model.Layer, next, nextFormat string) {
	layer = model.Layer{Path: path, Format: format}
	vol, err := c.virt.LookupStorageVolByPath(path)
	if err != nil {
		if virtCode(err) == libvirt.ERR_NO_STORAGE_VOL {
			layer.Problem = ProblemRemoteNoPool
		} else {
			layer.Problem = "storage volume: " + errorText(err)
		}
		return layer, "", ""
	}
	doc, err := vol.GetXMLDesc(0)
	_ = vol.Free()
	if err != nil {
		layer.Problem = "storage volume: " + errorText(err)
		return layer, "", ""
	}
	var v libvirtxml.StorageVolume
	if err := v.Unmarshal(doc); err != nil {
		layer.Problem = "storage volume XML: " + model.OneLine(err.Error())
		return layer, "", ""
	}
	if v.Target != nil && v.Target.Format != nil && v.Target.Format.Type != "" {
		layer.Format = v.Target.Format.Type
	}
	layer.VirtualSize = volumeBytes(v.Capacity)
	layer.Allocation = volumeBytes(v.Allocation)
	if v.BackingStore != nil && v.BackingStore.Path != "" {
		layer.BackingFile = v.BackingStore.Path
		if v.BackingStore.Format != nil {
			layer.BackingFormat = v.BackingStore.Format.Type
		}
		return layer, layer.BackingFile, layer.BackingFormat
	}
	return layer, "", ""
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1, "bytes": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
}

func volumeBytes(s *libvirtxml.StorageVolumeSize) int64 {
	if s == nil {
		return 0
	}
	mul, ok := sizeUnits[strings.ToLower(s.Unit)]
	if !ok {
		mul = 1
	}
	return int64(s.Value) * mul
}
