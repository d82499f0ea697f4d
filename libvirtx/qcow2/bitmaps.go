package qcow2

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Persistent dirty bitmaps (qcow2.txt, "Bitmaps extension" and "Bitmap
// directory"). Limits follow QEMU's block/qcow2-bitmap.c, so a directory
// QEMU refuses is reported here too. A bad directory never fails the
// header: it is a problem of the bitmaps alone (Header.BitmapsProblem),
// and the chain walk goes on.

// Bitmap limits and flags, as QEMU has them.
const (
	// MaxBitmaps is QEMU's cap on the bitmaps of one image.
	MaxBitmaps = 65535
	// MaxBitmapDirectorySize is QEMU's cap on the bitmap directory.
	MaxBitmapDirectorySize = 1024 * MaxBitmaps
	// MaxBitmapNameLen is the longest bitmap name QEMU accepts.
	MaxBitmapNameLen = 1023
	// MinBitmapGranularityBits and MaxBitmapGranularityBits bound a
	// bitmap's granularity (512 bytes to 2 GiB).
	MinBitmapGranularityBits = 9
	MaxBitmapGranularityBits = 31

	// AutoclearBitmaps is the autoclear bit that says the bitmaps
	// extension is consistent: a program without bitmap support that
	// writes the image clears it, and QEMU then ignores every bitmap.
	AutoclearBitmaps = 1 << 0

	extBitmaps       = 0x23852875
	bitmapExtLen     = 24
	bitmapEntryLen   = 24
	bitmapFlagInUse  = 1 << 0
	bitmapFlagAuto   = 1 << 1
	bitmapFlagExtra  = 1 << 2
	bitmapFlagsKnown = bitmapFlagInUse | bitmapFlagAuto | bitmapFlagExtra
	bitmapTypeDirty  = 1
)

// Bitmap is one entry of an image's bitmap directory.
type Bitmap struct {
	Name string
	// Granularity is the bytes of guest data one bit covers.
	Granularity int64
	// InUse is set while a QEMU has the image open for writing and holds
	// the bitmap in memory: the copy on disk is stale until QEMU closes
	// the image (qemu-img info shows "in-use").
	InUse bool
	// Auto is set for an enabled bitmap, which records every write.
	Auto bool
}

// bitmapExt is the bitmaps header extension, kept until the directory
// is read.
type bitmapExt struct {
	seen       bool
	count      uint32
	dirSize    uint64
	dirOffset  uint64
	badLenSeen int64 // the extension's length when it is not 24
}

// parseBitmapExt reads the extension's data (n bytes).
func (h *Header) parseBitmapExt(data []byte) {
	h.bitmaps = bitmapExt{seen: true}
	if len(data) != bitmapExtLen {
		h.bitmaps.badLenSeen = int64(len(data))
		return
	}
	be := binary.BigEndian
	h.bitmaps.count = be.Uint32(data)
	h.bitmaps.dirSize = be.Uint64(data[8:])
	h.bitmaps.dirOffset = be.Uint64(data[16:])
}

// readBitmaps reads the bitmap directory the extension points at, in one
// read, and fills Bitmaps or BitmapsProblem.
func (h *Header) readBitmaps(r io.ReaderAt, size int64) {
	x := h.bitmaps
	if !x.seen {
		return
	}
	if h.AutoclearFeatures&AutoclearBitmaps == 0 {
		// QEMU's words: a program lacking bitmap support modified this file.
		h.BitmapsProblem = "the bitmaps are inconsistent (a program without bitmap support wrote the image); QEMU ignores them"
		return
	}
	if err := x.check(h.ClusterSize, size); err != "" {
		h.BitmapsProblem = "bitmap directory: " + err
		return
	}
	dir, err := readAt(r, int64(x.dirOffset), int64(x.dirSize))
	if err != nil {
		h.BitmapsProblem = "bitmap directory: " + err.Error()
		return
	}
	bitmaps, problem := parseBitmapDirectory(dir, x.count)
	if problem != "" {
		h.BitmapsProblem = "bitmap directory: " + problem
		return
	}
	h.Bitmaps = bitmaps
}

// check refuses an extension QEMU refuses, before anything is read.
func (x bitmapExt) check(clusterSize, size int64) string {
	switch {
	case x.badLenSeen != 0:
		return fmt.Sprintf("the bitmaps extension is %d bytes, not %d", x.badLenSeen, bitmapExtLen)
	case x.count == 0:
		return "the bitmaps extension lists no bitmap"
	case x.count > MaxBitmaps:
		return fmt.Sprintf("%d bitmaps (QEMU accepts %d)", x.count, MaxBitmaps)
	case x.dirSize == 0 || x.dirSize > MaxBitmapDirectorySize:
		return fmt.Sprintf("a directory of %d bytes (QEMU accepts 1 to %d)", x.dirSize, MaxBitmapDirectorySize)
	case x.dirOffset == 0 || x.dirOffset%uint64(clusterSize) != 0:
		return fmt.Sprintf("offset %d is not cluster aligned", x.dirOffset)
	case x.dirOffset >= uint64(size) || x.dirSize > uint64(size)-x.dirOffset:
		return fmt.Sprintf("%d bytes at %d run past the end of the %d-byte file", x.dirSize, x.dirOffset, size)
	}
	return ""
}

// parseBitmapDirectory reads count entries from dir: a 24-byte fixed
// part, extra data and the name, padded to 8 bytes.
func parseBitmapDirectory(dir []byte, count uint32) ([]Bitmap, string) {
	be := binary.BigEndian
	out := make([]Bitmap, 0, min(int(count), len(dir)/bitmapEntryLen))
	pos := 0
	for len(out) < int(count) {
		if len(dir)-pos < bitmapEntryLen {
			return nil, fmt.Sprintf("%d bitmaps listed, %d found", count, len(out))
		}
		e := dir[pos:]
		flags := be.Uint32(e[12:])
		typ, gran := e[16], uint32(e[17])
		nameLen := int(be.Uint16(e[18:]))
		extra := int64(be.Uint32(e[20:]))
		switch {
		case typ != bitmapTypeDirty:
			return nil, fmt.Sprintf("bitmap type %d (QEMU knows only dirty tracking, 1)", typ)
		case flags&^bitmapFlagsKnown != 0:
			return nil, fmt.Sprintf("unknown bitmap flags 0x%x", flags&^bitmapFlagsKnown)
		case gran < MinBitmapGranularityBits || gran > MaxBitmapGranularityBits:
			return nil, fmt.Sprintf("granularity bits %d (QEMU accepts %d to %d)", gran, MinBitmapGranularityBits, MaxBitmapGranularityBits)
		case nameLen == 0 || nameLen > MaxBitmapNameLen:
			return nil, fmt.Sprintf("a bitmap name of %d bytes", nameLen)
		}
		end := int64(bitmapEntryLen) + extra + int64(nameLen)
		if end > int64(len(dir)-pos) {
			return nil, "an entry runs past the end of the directory"
		}
		at := bitmapEntryLen + int(extra)
		out = append(out, Bitmap{
			Name:        string(e[at : at+nameLen]),
			Granularity: 1 << gran,
			InUse:       flags&bitmapFlagInUse != 0,
			Auto:        flags&bitmapFlagAuto != 0,
		})
		pos += int((end + 7) &^ 7)
	}
	return out, ""
}
