package chainview

import (
	"strconv"
	"strings"

	"virtchain/model"
)

// Bitmaps and checkpoints in the chain view: a compact mark on a layer
// row, the details in the cursor's info line, and the disk's checkpoints
// on its header row. Kept apart so the row code stays as it is.

// bitmapMark is the prefix of a layer's bitmap tag.
const bitmapMark = "⚑"

// bitmapTag is a layer's mark: ⚑ and the bitmap's name when it has one,
// ⚑ and the count when more; ⚑? when its bitmaps could not be read.
func bitmapTag(l *model.Layer) []string {
	switch n := len(l.Bitmaps); {
	case n == 1:
		return []string{bitmapMark + l.Bitmaps[0].Name}
	case n > 1:
		return []string{bitmapMark + strconv.Itoa(n)}
	case l.BitmapsProblem != "":
		return []string{bitmapMark + "?"}
	}
	return nil
}

// bitmapInfo is the bitmap part of a layer's info line: each bitmap with
// what it is and where virtchain read it.
func bitmapInfo(l *model.Layer) []string {
	var out []string
	for _, b := range l.Bitmaps {
		var about []string
		if b.Granularity > 0 {
			about = append(about, model.FormatBytesShort(b.Granularity))
		}
		if !b.Enabled {
			about = append(about, "disabled")
		}
		if b.Checkpoint != "" && b.Checkpoint != b.Name {
			about = append(about, "checkpoint "+b.Checkpoint)
		} else if b.Checkpoint != "" {
			about = append(about, "checkpoint")
		}
		switch b.Source {
		case model.BitmapFromImageInUse:
			about = append(about, "in use by QEMU")
		case model.BitmapFromQEMU:
			about = append(about, "in QEMU only")
		}
		s := bitmapMark + b.Name
		if len(about) > 0 {
			s += " (" + strings.Join(about, ", ") + ")"
		}
		out = append(out, s)
	}
	if l.BitmapsProblem != "" {
		out = append(out, "⚑ "+l.BitmapsProblem)
	}
	return out
}

// diskCheckpoints names the checkpoints with a bitmap on the disk, for its
// header row; a broken one carries a "!".
func diskCheckpoints(d *model.Domain, target string) []string {
	if d == nil {
		return nil
	}
	var names []string
	for _, c := range d.Checkpoints {
		for _, cd := range c.Disks {
			if cd.Target != target || cd.Kind != "bitmap" {
				continue
			}
			n := c.Name
			for _, b := range c.Broken {
				if b == target {
					n += "!"
				}
			}
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return []string{"checkpoints " + strings.Join(names, ",")}
}

// checkpointInfo is the disk row's info about its checkpoints, after the
// disk's name: which are broken, and what a backup needs then.
func checkpointInfo(d *model.Domain, target string) string {
	cps := diskCheckpoints(d, target)
	switch {
	case len(cps) == 0:
		return ""
	case strings.Contains(cps[0], "!"):
		return " · " + cps[0] + " (!: bitmap in no layer, back up in full)"
	}
	return " · " + cps[0]
}
