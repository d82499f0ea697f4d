package qcow2

import (
	"bytes"
	"encoding/binary"
	"io"
)

// ProbeLen is how many leading bytes ProbeBytes looks at.
const ProbeLen = 512

// magics are the image formats QEMU recognises by their first bytes,
// spelled as qemu-img names them.
var magics = []struct {
	format string
	prefix string
}{
	{"qed", "QED\x00"},
	{"vmdk", "KDMV"},
	{"vmdk", "COWD"},
	{"vmdk", "# Disk DescriptorFile"},
	{"vhdx", "vhdxfile"},
	{"vpc", "conectix"},
	{"parallels", "WithoutFreeSpace"},
	{"parallels", "WithouFreSpacExt"},
	{"luks", "LUKS\xba\xbe"},
	{"bochs", "Bochs Virtual HD Image"},
	{"cloop", "#!/bin/sh\n#V2.0 Format\n"},
}

// vdiSignature sits at offset 64 of a VDI image, little endian.
const vdiSignature = 0xbeda107f

// Probe guesses an image's format from its first bytes, as QEMU does when
// no format is given: "qcow2", "qcow" (version 1), another known magic
// ("vmdk", "vdi", "vhdx", "vpc", "qed", "luks", "parallels", "bochs",
// "cloop"), else "raw". A read error also gives "raw": the caller sees the
// error when it reads the image itself.
func Probe(r io.ReaderAt) string {
	b := make([]byte, ProbeLen)
	n, _ := r.ReadAt(b, 0)
	return ProbeBytes(b[:n])
}

// ProbeBytes is Probe on the image's first bytes (up to ProbeLen of them
// matter).
func ProbeBytes(b []byte) string {
	if len(b) >= 8 && string(b[:4]) == Magic {
		switch v := binary.BigEndian.Uint32(b[4:]); {
		case v == 1:
			return "qcow"
		case v >= 2:
			return "qcow2"
		}
	}
	for _, m := range magics {
		if bytes.HasPrefix(b, []byte(m.prefix)) {
			return m.format
		}
	}
	if len(b) >= 68 && binary.LittleEndian.Uint32(b[64:]) == vdiSignature {
		return "vdi"
	}
	return "raw"
}
