package model

import (
	"fmt"
	"strings"
)

// Files libvirtd must never be asked to open. libvirtd reads every layer
// of a chain, and every file it is handed, with blocking I/O: a FIFO holds
// the call (and the domain's lock, so other clients wait too) until
// someone opens its other end, and a chain that loops keeps its qemu-img
// reading for ever. Every plan refuses them before libvirt is called.

// hangProblem reports whether libvirtd can block or spin on a layer with
// this problem: one that is not a regular file or block device, or a
// chain that loops (or runs deeper than QEMU follows).
func hangProblem(p string) bool {
	return strings.HasPrefix(p, ProblemNotRegular) || strings.HasPrefix(p, ProblemLoop) || p == ProblemTooDeep
}

// layerRefusal is the one wording, for every operation, of a layer that
// stops it.
func layerRefusal(target string, l Layer) error {
	return Refuse(fmt.Sprintf("layer %s of %s: %s", l.Path, target, l.Problem), "repair the chain first")
}

// refuseHangingChains refuses an operation on d while a chain of d has a
// layer libvirtd would block or spin on.
func refuseHangingChains(d *Domain) error {
	for _, disk := range d.Disks {
		for _, l := range disk.Layers {
			if hangProblem(l.Problem) {
				return layerRefusal(disk.Target, l)
			}
		}
	}
	return nil
}

// refuseNotRegular refuses a path libvirt would open that is not a regular
// file. devOK accepts a block device, which a disk image may be; a file
// virtchain is handed (save, memory, overlay) may not.
func refuseNotRegular(what, path string, f SnapshotFacts, devOK bool) error {
	kind := ""
	switch f.stat(path) {
	case FileNotRegular:
		kind = "a FIFO, socket, character device or folder, or a symlink to one or to nothing"
	case FileBlockDevice:
		if devOK {
			return nil
		}
		kind = "a block device"
	case FileRemoteDevice:
		if devOK {
			return nil
		}
		kind = "a device node under /dev"
	default:
		return nil
	}
	return Refuse(fmt.Sprintf("%s %s is not a regular file (%s), and libvirtd would block or fail on it", what, path, kind),
		"give the path of a regular file")
}

// refuseHangingPoints refuses when an image at one of s's points, or in
// such an image's backing chain, is not a regular file or block device,
// or when that chain loops. A revert (and a delete of an internal
// snapshot) makes libvirt or qemu-img open them.
func refuseHangingPoints(s *Snapshot, points []PointDisk, f SnapshotFacts) error {
	for _, pt := range points {
		if err := refuseNotRegular(fmt.Sprintf("%s image of snapshot %s", pt.Target, s.Name), pt.Path, f, true); err != nil {
			return err
		}
	}
	for _, sd := range s.Disks {
		if sd.Point == "" {
			continue
		}
		seen := map[string]bool{}
		for _, p := range append([]string{sd.Point}, sd.PointBacking...) {
			if seen[p] {
				return layerRefusal(sd.Target, Layer{Path: p, Problem: ProblemLoop + ": same file as " + p})
			}
			seen[p] = true
			if err := refuseNotRegular(fmt.Sprintf("%s image of snapshot %s", sd.Target, s.Name), p, f, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckRestoreFile refuses a save file to restore from that is not there
// or is not a regular file. Run it before libvirt reads the file's header.
func CheckRestoreFile(file string, f SnapshotFacts) error {
	if f.stat(file) == FileMissing {
		return Refuse(fmt.Sprintf("save file %s does not exist", file), "give the file that virtchain save or virsh save wrote")
	}
	return refuseNotRegular("save file", file, f, false)
}
