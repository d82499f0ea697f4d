package model

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Free space. Every plan records the files it creates or grows (Writes),
// each with an honest upper bound of the bytes it needs; CheckSpace groups
// them by filesystem, compares with the free bytes the host reports and
// refuses what cannot fit. The bounds:
//
//   - commit into base: the allocation of the layers whose data moves (their
//     host bytes, metadata included), but never more than base can still
//     grow (fully allocated size minus what base holds now);
//   - pull into the active layer, and the merge of an external snapshot's
//     overlay when it is deleted: the same, against the image written;
//   - a new overlay: its qcow2 metadata, as qemu-img creates it (3 clusters
//     plus the L1 table: 196624 bytes for a 1 GiB image, measured);
//   - a memory or save file: the domain's current memory plus
//     memoryOverhead;
//   - an internal snapshot: a copy of the L1 table and a snapshot table per
//     image, plus the memory for a running domain (the vmstate goes into
//     the first image).
//
// Compressed clusters in a moving layer (which land uncompressed) and the
// guest's writes while an active commit mirrors are not foreseen.

// Filesystem is one filesystem of the host, as statfs and st_dev see it.
type Filesystem struct {
	// ID is st_dev as major:minor: two paths with the same ID share space.
	ID string `json:"id"`
	// Mount is the mount point, Device what is mounted there (/dev/loop0).
	Mount  string `json:"mount"`
	Device string `json:"device,omitempty"`
	// Free is what an unprivileged writer (QEMU runs as libvirt-qemu) may
	// still use: statfs f_bavail (on a remote host, see remoteFilesystemOf).
	Free int64 `json:"free"`
}

// SpaceFacts are what the space rule needs from the host.
type SpaceFacts struct {
	// FS answers the filesystem holding path (the file when it exists, else
	// its folder). nil means the host cannot be looked at (a remote
	// connection); false means this path could not be looked up.
	FS func(path string) (Filesystem, bool)
	// Memory is the domain's current memory in bytes; 0 when unknown.
	Memory int64
}

// SpaceWrite is one file a plan creates or grows.
type SpaceWrite struct {
	Path string `json:"path"`
	// Bytes is an upper bound of what the file needs.
	Bytes int64 `json:"bytes"`
	// What says in words what is written ("committing into base.qcow2").
	What string `json:"what"`
	// Fix is the way out when it does not fit, after "free space there or".
	Fix Hint `json:"-"`
	// memory marks a file that holds the domain's memory: Bytes is filled
	// from SpaceFacts.Memory.
	memory bool
}

// SpaceUse is one filesystem a plan writes to: what goes there, the bytes
// needed at most and the bytes free.
type SpaceUse struct {
	Filesystem
	Files []SpaceWrite `json:"files"`
	Need  int64        `json:"need"`
}

// memoryOverhead is what a save or memory file holds beyond guest memory:
// video RAM (16 MiB for a standard VGA), firmware and option ROMs, device
// state and libvirt's header. A larger QXL video memory is not counted.
const memoryOverhead = 32 << 20

// defaultCluster is qcow2's default cluster size.
const defaultCluster = 64 << 10

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// l1Bytes is the size of a qcow2 L1 table for an image of virtual size v.
func l1Bytes(v, cluster int64) int64 {
	perL2 := cluster * (cluster / 8) // guest bytes one L2 table maps
	return roundUp(v, perL2) / perL2 * 8
}

// OverlayMetadata is the size of a new, empty qcow2 overlay of virtual size
// v: header, refcount table and one refcount block, plus the L1 table.
func OverlayMetadata(v int64) int64 {
	return 3*defaultCluster + l1Bytes(v, defaultCluster)
}

// internalSnapshotMetadata bounds what an internal snapshot adds to one
// qcow2 image: the L1 copy (cluster-aligned), a rewritten snapshot table
// and a refcount block.
func internalSnapshotMetadata(l Layer) int64 {
	c := l.ClusterSize
	if c <= 0 {
		c = defaultCluster
	}
	return roundUp(l1Bytes(l.VirtualSize, c), c) + 2*c
}

// growthRoom is how much an image can still grow: its fully allocated size
// (data plus L2 tables and refcounts for a qcow2) less what it holds now.
// -1 means unknown.
func growthRoom(l Layer) int64 {
	if l.VirtualSize <= 0 || l.Allocation <= 0 {
		return -1
	}
	full := l.VirtualSize
	if l.Format == "qcow2" {
		c := l.ClusterSize
		if c <= 0 {
			c = defaultCluster
		}
		clusters := roundUp(l.VirtualSize, c) / c
		// L2 entries 8 bytes, refcounts 2 bytes, per cluster; plus header,
		// L1 and refcount table.
		full += roundUp(clusters*8, c) + roundUp((clusters+64)*2, c) + OverlayMetadata(l.VirtualSize)
	}
	return max(full-l.Allocation, 0)
}

// mergeBound is what writing the data of moving into into may need.
func mergeBound(moving []Layer, into Layer) int64 {
	n := sumAlloc(moving)
	if room := growthRoom(into); room >= 0 && room < n {
		n = room
	}
	return n
}

// addWrite records a file the plan writes, with plain words for the way
// out when it does not fit.
func (p *Plan) addWrite(path string, bytes int64, what, fix string) {
	p.addWriteDo(path, bytes, what, Say(fix))
}

// addWriteDo is addWrite with a way out that has remedies in it.
func (p *Plan) addWriteDo(path string, bytes int64, what string, fix Hint) {
	p.Writes = append(p.Writes, SpaceWrite{Path: path, Bytes: bytes, What: what, Fix: fix})
}

// addMemoryWrite records a file that receives the domain's memory, plus
// extra bytes (metadata).
func (p *Plan) addMemoryWrite(path string, extra int64, what, fix string) {
	p.Writes = append(p.Writes, SpaceWrite{Path: path, Bytes: extra, What: what, Fix: Say(fix), memory: true})
}

// CheckSpace fills the plan's Space section from the host facts and
// refuses the plan when a filesystem has less free space than the plan
// needs there. Without facts (a remote connection) it says so in
// SpaceUnchecked and refuses nothing: libvirt has the last word.
func CheckSpace(p *Plan, f SpaceFacts) error {
	p.Space, p.SpaceUnchecked = nil, ""
	if len(p.Writes) == 0 {
		return nil
	}
	writes := make([]SpaceWrite, len(p.Writes))
	copy(writes, p.Writes)
	var notes []string
	memUnknown := false
	for i := range writes {
		if writes[i].memory {
			if f.Memory <= 0 {
				memUnknown = true
				continue
			}
			writes[i].Bytes += f.Memory + memoryOverhead
		}
	}
	if f.FS == nil {
		var n int64
		for _, w := range writes {
			n += w.Bytes
		}
		total := "up to " + FormatBytes(n)
		if memUnknown {
			total += " plus the domain's memory"
		}
		p.SpaceUnchecked = "free space was not checked: this connection cannot see the host's filesystems; the plan writes " + total
		return nil
	}
	if memUnknown {
		notes = append(notes, "the domain's memory size is unknown, so the bytes for its memory are not counted")
	}
	var unknown []string
	for _, w := range writes {
		fs, ok := f.FS(w.Path)
		if !ok {
			unknown = append(unknown, filepath.Dir(w.Path))
			continue
		}
		i := 0
		for i < len(p.Space) && p.Space[i].ID != fs.ID {
			i++
		}
		if i == len(p.Space) {
			p.Space = append(p.Space, SpaceUse{Filesystem: fs})
		}
		p.Space[i].Files = append(p.Space[i].Files, w)
		p.Space[i].Need += w.Bytes
	}
	if len(unknown) > 0 {
		notes = append(notes, "free space could not be checked in "+strings.Join(dedupe(unknown), ", "))
	}
	p.SpaceUnchecked = strings.Join(notes, "; ")
	for _, u := range p.Space {
		if u.Need > u.Free {
			return spaceRefusal(u)
		}
	}
	return nil
}

// spaceRefusal words a filesystem that is too small: what needs how much,
// where, what is free, what is missing, and the way out.
func spaceRefusal(u SpaceUse) error {
	var what []string
	for _, w := range u.Files {
		what = append(what, w.What)
	}
	fix := Hint{Words("free space there")}
	if f := u.Files[0].Fix; !f.Empty() {
		fix = append(append(fix, Words(" or ")), f...)
	}
	verb := "needs"
	if len(what) > 1 {
		verb = "need"
	}
	return RefuseDo(fmt.Sprintf("%s %s up to %s on %s, which has %s free: %s missing",
		strings.Join(what, " and "), verb, FormatBytes(u.Need), u.where(), FormatBytes(u.Free), FormatBytes(u.Need-u.Free)), fix...)
}

// where names a filesystem: its mount point and device.
func (fs Filesystem) where() string {
	dev := fs.Device
	if dev == "" {
		dev = fs.ID
	}
	return fmt.Sprintf("%s (device %s)", fs.Mount, dev)
}

// SpaceLines is the plan's space section in words, one line per
// filesystem written, then why anything could not be checked.
func (p *Plan) SpaceLines() []string {
	var out []string
	for _, u := range p.Space {
		var files []string
		for _, w := range u.Files {
			files = append(files, fmt.Sprintf("%s %s", filepath.Base(w.Path), FormatBytes(w.Bytes)))
		}
		verdict := "fits"
		if u.Need > u.Free {
			verdict = FormatBytes(u.Need-u.Free) + " missing"
		}
		out = append(out, fmt.Sprintf("%s: needs up to %s (%s), %s free: %s",
			u.where(), FormatBytes(u.Need), strings.Join(files, ", "), FormatBytes(u.Free), verdict))
	}
	if p.SpaceUnchecked != "" {
		out = append(out, p.SpaceUnchecked)
	}
	return out
}

// LowSpace is the free space under which a failed write into a filesystem
// is taken to be for lack of space: QEMU and qemu-img allocate in clusters
// and tables, so a write that fails leaves a few MiB at most.
const LowSpace = 16 << 20

// on names a filesystem after "on", or nothing when it is unknown.
func (fs Filesystem) on() string {
	if fs.Mount == "" {
		return ""
	}
	return " on " + fs.where()
}

// IOErrorText words libvirt's I/O error event with reason enospc: which
// disk and file, where, and what to do. paused says whether the domain was
// paused (QEMU's default werror for ENOSPC).
func IOErrorText(domain, disk, file string, fs Filesystem, paused bool) string {
	what := "a disk"
	if disk != "" {
		what = disk
	}
	s := what + ": no space left"
	if file != "" {
		s += " on the filesystem holding " + filepath.Base(file)
	}
	s += fs.on() + " (libvirt I/O error enospc)"
	if paused {
		return s + "; the domain is paused: free space, then " + ShellJoin([]string{"virsh", "resume", domain})
	}
	return s + "; free space there"
}

// NoSpaceText words a job or qemu-img run that failed while the filesystem
// it writes to is (nearly) full; "" when the space left says nothing.
func NoSpaceText(kind JobKind, file string, fs Filesystem) string {
	if fs.Mount == "" || fs.Free >= LowSpace {
		return ""
	}
	return fmt.Sprintf("%s stopped for lack of space: the filesystem holding %s%s has %s free; free space there and run it again",
		kind, filepath.Base(file), fs.on(), FormatBytes(fs.Free))
}
