package libvirtx

import (
	"context"
	"errors"
	"os"
	"strings"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// CleanupResult says what a cleanup did.
type CleanupResult struct {
	RemovedSnapshots []string `json:"removed_snapshots"`
	DeletedFiles     []string `json:"deleted_files"`
	// Kept lists files left in place, each with the reason.
	Kept []string `json:"kept"`
}

// Cleanup carries out a cleanup plan: a metadata-only delete of each stale
// snapshot, then the deletion of its files. Right before deleting, every
// domain is read again and a file that any chain or snapshot references
// now is kept, whatever the plan said.
func (c *Conn) Cleanup(ctx context.Context, cp *model.CleanupPlan) (CleanupResult, error) {
	res := CleanupResult{RemovedSnapshots: []string{}, DeletedFiles: []string{}, Kept: []string{}}
	if len(cp.Snapshots) > 0 {
		dom, err := c.lookupDomain(cp.Domain)
		if err != nil {
			return res, err
		}
		defer dom.Free()
		for _, name := range cp.Snapshots {
			snap, err := dom.SnapshotLookupByName(name, 0)
			if err != nil {
				if virtCode(err) == libvirt.ERR_NO_DOMAIN_SNAPSHOT {
					continue // already gone
				}
				return res, &LibvirtError{Op: "find snapshot " + name + " of " + cp.Domain, Err: err}
			}
			err = snap.Delete(libvirt.DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
			_ = snap.Free()
			if err != nil {
				return res, &LibvirtError{Op: "remove the metadata of snapshot " + name + " of " + cp.Domain, Err: err}
			}
			if err := dropMarks(dom, name); err != nil {
				return res, &LibvirtError{Op: "remove the destroyed-point marks of snapshot " + name + " from " + cp.Domain + "'s metadata", Err: err}
			}
			res.RemovedSnapshots = append(res.RemovedSnapshots, name)
		}
	}
	if len(cp.Files) == 0 {
		return res, nil
	}
	if !c.local {
		return res, model.Refuse("the files are on "+uriHost(c.uri), "delete them on that host")
	}
	doms, err := c.Discover(ctx)
	if err != nil {
		return res, err
	}
	refs := model.BuildRefs(doms)
	for _, f := range cp.Files {
		if users := refs.UsersExcept(f, nil); len(users) > 0 {
			res.Kept = append(res.Kept, f+" (used by "+strings.Join(users, "; ")+")")
			continue
		}
		st, err := os.Lstat(f)
		switch {
		case errors.Is(err, os.ErrNotExist):
			res.Kept = append(res.Kept, f+" (already gone)")
			continue
		case err != nil:
			return res, &LibvirtError{Op: "check " + f, Err: err}
		case !st.Mode().IsRegular():
			res.Kept = append(res.Kept, f+" (not a regular file)")
			continue
		}
		if err := os.Remove(f); err != nil {
			return res, &LibvirtError{Op: "delete " + f, Err: err}
		}
		res.DeletedFiles = append(res.DeletedFiles, f)
	}
	return res, nil
}
