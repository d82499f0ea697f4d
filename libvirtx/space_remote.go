package libvirtx

import (
	"context"
	"path/filepath"

	"virtchain/model"
)

// remoteFilesystemOf is the filesystem of path on a remote host as the
// storage API sees it: the pool over the path's folder (a transient one
// where none covers it) reports the free bytes of the filesystem that
// holds its target, less ext4's usual reserve for root (below). libvirt
// names no device, so each folder counts as a filesystem of its own: two
// folders on one filesystem are each held against all of its free space.
// false when no pool can be used there (a read-only connection, a missing
// folder).
func (c *Conn) remoteFilesystemOf(path string) (model.Filesystem, bool) {
	if !filepath.IsAbs(path) {
		return model.Filesystem{}, false
	}
	s := c.newPoolSession(context.Background())
	defer s.close()
	dir := filepath.Dir(filepath.Clean(path))
	fp := s.folder(dir)
	if fp.pool == nil {
		return model.Filesystem{}, false
	}
	// A pool's free bytes are as of its last refresh, and a pool found
	// (the admin's, another virtchain's) may be hours old. A refresh
	// refused while a download runs leaves the old figure.
	s.call("StoragePoolRefresh")
	_ = fp.pool.Refresh(0)
	s.call("StoragePoolGetInfo")
	info, err := fp.pool.GetInfo()
	if err != nil {
		return model.Filesystem{}, false
	}
	// A transient pool's name is new each time: naming it would make a
	// re-plan differ from the plan shown for no change on the host.
	device := "storage pool " + fp.name
	if fp.ours {
		device = "storage pool over " + dir
	}
	// Available is f_bfree, which holds the blocks reserved for root (5% of
	// an ext4 filesystem by default) that QEMU, not root, may not use; the
	// reserve is not reported, so 5% is held back (on a filesystem without
	// one, such as XFS, that is 5% too little: a refusal too many, never a
	// job that fails midway).
	free := max(0, int64(info.Available)-int64(info.Capacity)/20)
	return model.Filesystem{ID: "folder " + dir, Mount: dir, Device: device, Free: free}, true
}
