// Package qcow2 reads the header of a qcow2 image natively: version, backing
// file and its format, virtual size, cluster size, feature bits, header
// extensions, the names in the internal snapshot table and the persistent
// dirty bitmaps' directory. It reads only
// what it needs (one read for the header cluster's start, one for the
// snapshot table) so that discovery can walk thousands of layers quickly,
// and it treats every field as untrusted: garbage gives an error, never a
// panic or an unbounded allocation.
//
// The layout follows QEMU's docs/interop/qcow2.txt; limits follow QEMU's
// block/qcow2.h so that an image QEMU refuses is refused here too.
package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Magic is the first four bytes of every qcow and qcow2 image.
const Magic = "QFI\xfb"

// Limits, as QEMU enforces them.
const (
	// MaxBackingNameLen is the longest backing file name QEMU accepts.
	MaxBackingNameLen = 1023
	// MaxSnapshots is QEMU's cap on the internal snapshot count.
	MaxSnapshots = 65536
	// MaxSnapshotTableSize is QEMU's cap on the snapshot table, in bytes.
	MaxSnapshotTableSize = 64 << 20
	// MaxSnapshotExtraData is QEMU's cap on one entry's extra data.
	MaxSnapshotExtraData = 1024
	minClusterBits       = 9
	maxClusterBits       = 21
	v2HeaderLen          = 72
	v3HeaderLen          = 104
	// FirstRead is how much of an image the first read takes. QEMU puts
	// the header, its extensions and the backing name at the very start,
	// so one page covers them for every image qemu-img makes; more of the
	// first cluster is read only when an image needs it.
	FirstRead = 4096
)

// Incompatible feature bits.
const (
	IncompatDirty        = 1 << 0
	IncompatCorrupt      = 1 << 1
	IncompatExternalData = 1 << 2
	IncompatCompression  = 1 << 3
	IncompatExtendedL2   = 1 << 4
	incompatKnown        = IncompatDirty | IncompatCorrupt | IncompatExternalData | IncompatCompression | IncompatExtendedL2
)

// Header extension types.
const (
	extEnd           = 0
	extBackingFormat = 0xE2792ACA
	extDataFile      = 0x44415441
)

// Errors. Read wraps them with the detail (offsets, sizes), so test them
// with errors.Is.
var (
	// ErrNotQcow2 means the magic is not QFI\xfb.
	ErrNotQcow2 = errors.New("not a qcow2 image")
	// ErrUnsupportedVersion means a qcow (v1) image or a version after 3.
	ErrUnsupportedVersion = errors.New("unsupported qcow2 version")
	// ErrPastEOF means the header, or an offset in it, points past the
	// end of the file.
	ErrPastEOF = errors.New("offset past end of file")
	// ErrBackingNameTooLong means a backing file name over 1023 bytes.
	ErrBackingNameTooLong = errors.New("backing file name longer than 1023 bytes")
	// ErrInvalid means a field QEMU would refuse: a cluster size out of
	// range, a bad header length, an extension that overruns its area,
	// a snapshot table over QEMU's limits.
	ErrInvalid = errors.New("invalid qcow2 header")
)

// Header is what virtchain needs from a qcow2 header.
type Header struct {
	Version uint32
	// BackingFile is the backing name as stored: relative names are
	// relative to the folder of this image. Empty when there is none.
	BackingFile string
	// BackingFormat comes from the backing-format extension; empty when
	// absent (QEMU then probes the backing file).
	BackingFormat string
	VirtualSize   int64
	ClusterBits   uint32
	ClusterSize   int64
	// CryptMethod is 0 (none), 1 (AES) or 2 (LUKS).
	CryptMethod          uint32
	IncompatibleFeatures uint64
	CompatibleFeatures   uint64
	AutoclearFeatures    uint64
	RefcountOrder        uint32
	HeaderLength         uint32
	Dirty                bool
	Corrupt              bool
	// ExternalData is set when guest data lives in DataFile, not here.
	ExternalData bool
	// DataFile is the external data file name as stored (may be relative),
	// or empty.
	DataFile        string
	NbSnapshots     uint32
	SnapshotsOffset int64
	// Snapshots lists the internal snapshots in table order.
	Snapshots []Snapshot
	// Bitmaps lists the persistent dirty bitmaps in directory order; nil
	// when the image has none (or BitmapsProblem says why they are
	// unreadable).
	Bitmaps []Bitmap
	// BitmapsProblem says why the bitmaps could not be read; the rest of
	// the header is still good.
	BitmapsProblem string
	bitmaps        bitmapExt
}

// Snapshot is one internal snapshot table entry.
type Snapshot struct {
	ID   string
	Name string
	// Date is the wall-clock time the snapshot was taken.
	Date time.Time
	// VMClock is the guest clock at the time of the snapshot.
	VMClock time.Duration
	// VMStateSize is the size of saved VM state, 0 for a disk-only one.
	VMStateSize uint64
}

// SnapshotNames returns the snapshot names in table order, never nil.
func (h *Header) SnapshotNames() []string {
	names := make([]string, len(h.Snapshots))
	for i, s := range h.Snapshots {
		names[i] = s.Name
	}
	return names
}

// UnknownIncompatible returns incompatible feature bits this reader does
// not know; QEMU refuses to open an image with any of them.
func (h *Header) UnknownIncompatible() uint64 {
	return h.IncompatibleFeatures &^ incompatKnown
}

// Open reads the header of the image at path.
func Open(path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size())
}

// Read parses the header of an image of size bytes.
func Read(r io.ReaderAt, size int64) (*Header, error) {
	first, err := readAt(r, 0, min(size, FirstRead))
	if err != nil {
		return nil, err
	}
	return Parse(first, r, size)
}

// Parse is Read for a caller that already holds the image's first bytes
// (at least FirstRead of them, or the whole file when it is shorter): it
// reads from r only what first does not cover.
func Parse(first []byte, r io.ReaderAt, size int64) (*Header, error) {
	h, at, err := parseFixed(first)
	if err != nil {
		return nil, err
	}
	if err := h.checkLimits(at.backing); err != nil {
		return nil, err
	}
	// The first cluster holds the header, its extensions and the backing
	// name; c reads the rest of it only if first stops short.
	c := cluster{buf: first, r: r, end: min(h.ClusterSize, size)}
	if err := h.readExtensions(&c, int64(at.backing)); err != nil {
		return nil, err
	}
	if err := h.readBackingName(&c, at, size); err != nil {
		return nil, err
	}
	if h.BackingFile == "" {
		// QEMU ignores a backing format with no backing file.
		h.BackingFormat = ""
	}
	if err := h.readSnapshots(r, size, at.snapshots); err != nil {
		return nil, err
	}
	h.readBitmaps(r, size)
	return h, nil
}

// offsets are where the fixed header points: the backing name (and its
// length) and the snapshot table.
type offsets struct {
	backing    uint64
	backingLen uint32
	snapshots  uint64
}

// parseFixed reads the fixed part of the header, whose layout its version
// decides.
func parseFixed(first []byte) (*Header, offsets, error) {
	var at offsets
	if len(first) < 8 || string(first[:4]) != Magic {
		return nil, at, ErrNotQcow2
	}
	be := binary.BigEndian
	h := &Header{Version: be.Uint32(first[4:])}
	switch h.Version {
	case 2:
		h.HeaderLength = v2HeaderLen
	case 3:
		h.HeaderLength = v3HeaderLen
	default:
		return nil, at, fmt.Errorf("%w: version %d (virtchain reads qcow2 versions 2 and 3)", ErrUnsupportedVersion, h.Version)
	}
	if int64(len(first)) < int64(h.HeaderLength) {
		return nil, at, fmt.Errorf("%w: the %d-byte header is cut short at %d bytes", ErrPastEOF, h.HeaderLength, len(first))
	}
	at.backing = be.Uint64(first[8:])
	at.backingLen = be.Uint32(first[16:])
	h.ClusterBits = be.Uint32(first[20:])
	h.VirtualSize = int64(be.Uint64(first[24:]))
	h.CryptMethod = be.Uint32(first[32:])
	h.NbSnapshots = be.Uint32(first[60:])
	at.snapshots = be.Uint64(first[64:])
	h.RefcountOrder = 4
	if h.Version == 3 {
		h.IncompatibleFeatures = be.Uint64(first[72:])
		h.CompatibleFeatures = be.Uint64(first[80:])
		h.AutoclearFeatures = be.Uint64(first[88:])
		h.RefcountOrder = be.Uint32(first[96:])
		h.HeaderLength = be.Uint32(first[100:])
	}
	h.Dirty = h.IncompatibleFeatures&IncompatDirty != 0
	h.Corrupt = h.IncompatibleFeatures&IncompatCorrupt != 0
	h.ExternalData = h.IncompatibleFeatures&IncompatExternalData != 0
	return h, at, nil
}

// checkLimits refuses the fixed fields QEMU refuses, and sets the cluster
// size once its bits are known to be in range.
func (h *Header) checkLimits(backingOff uint64) error {
	if h.ClusterBits < minClusterBits || h.ClusterBits > maxClusterBits {
		return fmt.Errorf("%w: cluster bits %d (QEMU accepts %d to %d)", ErrInvalid, h.ClusterBits, minClusterBits, maxClusterBits)
	}
	h.ClusterSize = 1 << h.ClusterBits
	if h.VirtualSize < 0 {
		return fmt.Errorf("%w: virtual size %d overflows", ErrInvalid, uint64(h.VirtualSize))
	}
	if h.HeaderLength < v3HeaderLen && h.Version == 3 {
		return fmt.Errorf("%w: header length %d is under %d", ErrInvalid, h.HeaderLength, v3HeaderLen)
	}
	if int64(h.HeaderLength) > h.ClusterSize {
		return fmt.Errorf("%w: header length %d exceeds the %d-byte cluster", ErrInvalid, h.HeaderLength, h.ClusterSize)
	}
	if backingOff > uint64(h.ClusterSize) {
		return fmt.Errorf("%w: backing file name offset %d is outside the first cluster", ErrInvalid, backingOff)
	}
	return nil
}

// readBackingName reads the backing file name, which must lie inside the
// first cluster and the file.
func (h *Header) readBackingName(c *cluster, at offsets, size int64) error {
	if at.backing == 0 || at.backingLen == 0 {
		return nil
	}
	if at.backingLen > MaxBackingNameLen {
		return fmt.Errorf("%w: %d bytes", ErrBackingNameTooLong, at.backingLen)
	}
	end := int64(at.backing) + int64(at.backingLen)
	if end > size {
		return fmt.Errorf("%w: backing file name at %d+%d, file is %d bytes", ErrPastEOF, at.backing, at.backingLen, size)
	}
	if end > h.ClusterSize {
		return fmt.Errorf("%w: backing file name at %d+%d overruns the first cluster", ErrInvalid, at.backing, at.backingLen)
	}
	b, err := c.bytes(int64(at.backing), int64(at.backingLen))
	if err != nil {
		return err
	}
	h.BackingFile = string(b)
	return nil
}

// readExtensions walks the header extensions, which run from the end of
// the header to the backing name (or the end of the first cluster).
func (h *Header) readExtensions(c *cluster, backingOff int64) error {
	be := binary.BigEndian
	end := h.ClusterSize
	if backingOff != 0 {
		end = backingOff
	}
	for off := int64(h.HeaderLength); off < end; {
		if end-off < 8 {
			return fmt.Errorf("%w: header extension at %d overruns its area", ErrInvalid, off)
		}
		b, err := c.bytes(off, 8)
		if err != nil {
			return err
		}
		typ, n := be.Uint32(b), int64(be.Uint32(b[4:]))
		off += 8
		if typ == extEnd {
			return nil
		}
		if n > end-off {
			return fmt.Errorf("%w: header extension 0x%08x of %d bytes overruns its area", ErrInvalid, typ, n)
		}
		switch typ {
		case extBitmaps:
			data, err := c.bytes(off, n)
			if err != nil {
				return err
			}
			h.parseBitmapExt(data)
		case extBackingFormat, extDataFile:
			if typ == extBackingFormat && n >= 16 {
				// QEMU keeps the format name in 16 bytes with its NUL.
				return fmt.Errorf("%w: backing format name of %d bytes", ErrInvalid, n)
			}
			data, err := c.bytes(off, n)
			if err != nil {
				return err
			}
			if typ == extBackingFormat {
				h.BackingFormat = string(data)
			} else {
				h.DataFile = string(data)
			}
		}
		// Unknown extensions are skipped; data is padded to 8 bytes.
		off += (n + 7) &^ 7
	}
	return nil
}

// readSnapshots reads the snapshot table in one read (more only when its
// first guess of the table's size falls short). Entries are a 40-byte
// fixed part, extra data, the id and the name, padded to 8 bytes.
func (h *Header) readSnapshots(r io.ReaderAt, size int64, off uint64) error {
	if h.NbSnapshots == 0 {
		return nil
	}
	if h.NbSnapshots > MaxSnapshots {
		return fmt.Errorf("%w: %d internal snapshots (QEMU accepts %d)", ErrInvalid, h.NbSnapshots, MaxSnapshots)
	}
	if off%uint64(h.ClusterSize) != 0 {
		return fmt.Errorf("%w: snapshot table offset %d is not cluster aligned", ErrInvalid, off)
	}
	if off >= uint64(size) {
		return fmt.Errorf("%w: snapshot table at %d, file is %d bytes", ErrPastEOF, off, size)
	}
	h.SnapshotsOffset = int64(off)
	// Never read more than the file holds nor than QEMU allows, so garbage
	// counts cannot make us allocate much.
	limit := min(size-int64(off), MaxSnapshotTableSize)
	guess := min(int64(h.NbSnapshots)*128, limit)
	buf, err := readAt(r, int64(off), guess)
	if err != nil {
		return err
	}
	be := binary.BigEndian
	need := func(end int64) error {
		if end <= int64(len(buf)) {
			return nil
		}
		if end > limit {
			if limit == MaxSnapshotTableSize {
				return fmt.Errorf("%w: snapshot table over %d bytes", ErrInvalid, MaxSnapshotTableSize)
			}
			return fmt.Errorf("%w: snapshot table at %d runs past the end of the %d-byte file", ErrPastEOF, off, size)
		}
		more, err := readAt(r, int64(off)+int64(len(buf)), min(max(end, 2*int64(len(buf))), limit)-int64(len(buf)))
		if err != nil {
			return err
		}
		buf = append(buf, more...)
		return nil
	}
	h.Snapshots = make([]Snapshot, 0, min(int64(h.NbSnapshots), limit/40))
	var pos int64
	for range h.NbSnapshots {
		if err := need(pos + 40); err != nil {
			return err
		}
		e := buf[pos:]
		idLen := int64(be.Uint16(e[12:]))
		nameLen := int64(be.Uint16(e[14:]))
		extra := int64(be.Uint32(e[36:]))
		if extra > MaxSnapshotExtraData {
			return fmt.Errorf("%w: snapshot extra data of %d bytes", ErrInvalid, extra)
		}
		s := Snapshot{
			Date:        time.Unix(int64(be.Uint32(e[16:])), int64(be.Uint32(e[20:]))),
			VMClock:     time.Duration(be.Uint64(e[24:])),
			VMStateSize: uint64(be.Uint32(e[32:])),
		}
		entry := 40 + extra + idLen + nameLen
		if err := need(pos + entry); err != nil {
			return err
		}
		e = buf[pos:]
		if extra >= 8 {
			// vm_state_size_large supersedes the 32-bit field.
			s.VMStateSize = be.Uint64(e[40:])
		}
		idAt := 40 + extra
		s.ID = string(e[idAt : idAt+idLen])
		s.Name = string(e[idAt+idLen : idAt+idLen+nameLen])
		h.Snapshots = append(h.Snapshots, s)
		pos += (entry + 7) &^ 7
	}
	return nil
}

// cluster serves bytes of the image's first cluster, reading it whole
// the first time a caller asks beyond what is already in buf.
type cluster struct {
	buf []byte
	r   io.ReaderAt
	end int64 // min(cluster size, file size)
}

func (c *cluster) bytes(off, n int64) ([]byte, error) {
	if off+n > c.end {
		return nil, fmt.Errorf("%w: %d bytes at %d, file is %d bytes", ErrPastEOF, n, off, c.end)
	}
	if off+n > int64(len(c.buf)) {
		more, err := readAt(c.r, int64(len(c.buf)), c.end-int64(len(c.buf)))
		if err != nil {
			return nil, err
		}
		c.buf = append(c.buf[:len(c.buf):len(c.buf)], more...)
	}
	return c.buf[off : off+n], nil
}

// readAt reads exactly n bytes at off; io.EOF after n bytes is fine.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		// The file shrank since its size was taken.
		return nil, fmt.Errorf("%w: %d bytes at %d, only %d read", ErrPastEOF, n, off, got)
	}
	return nil, err
}
