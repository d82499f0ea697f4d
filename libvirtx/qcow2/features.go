package qcow2

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// extFeatureNames is the header extension QEMU writes with a name for
// each feature bit it knows, so that an older reader can name the bits
// it does not.
const extFeatureNames = 0x6803f857

// Feature types in the feature name table.
const (
	FeatureIncompatible = 0
	FeatureCompatible   = 1
	FeatureAutoclear    = 2
)

// FeatureName is one entry of an image's feature name table.
type FeatureName struct {
	Type uint8
	Bit  uint8
	Name string
}

// knownIncompatible names the incompatible bits this reader knows.
var knownIncompatible = map[uint8]string{
	0: "dirty bit", 1: "corrupt bit", 2: "external data file", 3: "compression type", 4: "extended L2 entries",
}

// ReadFeatureNames reads the feature name table of the image (none when
// it has no such extension). It walks the same extension area Read does.
func ReadFeatureNames(r io.ReaderAt, size int64) ([]FeatureName, error) {
	first, err := readAt(r, 0, min(size, FirstRead))
	if err != nil {
		return nil, err
	}
	h, at, err := parseFixed(first)
	if err != nil {
		return nil, err
	}
	if err := h.checkLimits(at.backing); err != nil {
		return nil, err
	}
	c := cluster{buf: first, r: r, end: min(h.ClusterSize, size)}
	end := h.ClusterSize
	if at.backing != 0 {
		end = int64(at.backing)
	}
	be := binary.BigEndian
	var out []FeatureName
	for off := int64(h.HeaderLength); off+8 <= end; {
		b, err := c.bytes(off, 8)
		if err != nil {
			return nil, err
		}
		typ, n := be.Uint32(b), int64(be.Uint32(b[4:]))
		off += 8
		if typ == extEnd {
			break
		}
		if n > end-off {
			return nil, fmt.Errorf("%w: header extension 0x%08x of %d bytes overruns its area", ErrInvalid, typ, n)
		}
		if typ == extFeatureNames {
			data, err := c.bytes(off, n)
			if err != nil {
				return nil, err
			}
			for e := 0; e+48 <= len(data); e += 48 {
				out = append(out, FeatureName{Type: data[e], Bit: data[e+1], Name: strings.TrimRight(string(data[e+2:e+48]), "\x00")})
			}
		}
		off += (n + 7) &^ 7
	}
	return out, nil
}

// IncompatibleNames words each incompatible bit set in bits: by this
// reader's names, else by the image's own table, else as "bit N".
func IncompatibleNames(bits uint64, table []FeatureName) []string {
	var out []string
	for bit := uint8(0); bit < 64; bit++ {
		if bits&(1<<bit) == 0 {
			continue
		}
		name, ok := knownIncompatible[bit]
		for _, f := range table {
			if !ok && f.Type == FeatureIncompatible && f.Bit == bit && f.Name != "" {
				name, ok = f.Name, true
			}
		}
		if !ok {
			name = fmt.Sprintf("bit %d", bit)
		}
		out = append(out, name)
	}
	return out
}
