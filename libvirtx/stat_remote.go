package libvirtx

import (
	"context"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

// remoteFileState says what a path on a remote host is, through libvirt's
// storage API only: a volume of the pool over its folder (a transient pool
// where none covers it, destroyed before the answer) is a file, a block
// device or a folder; a path whose folder, or which itself, cannot be
// opened as a directory pool for want of the file ("No such file or
// directory") is missing; one that is there, is no volume and cannot be
// opened as a folder ("Not a directory") is a FIFO, socket or character
// device, which pools skip. A dangling symlink looks missing. Anything
// else is FileUnknown, and libvirt decides. Each call has a session of its own:
// a plan asks about a handful of paths.
func (c *Conn) remoteFileState(p string) model.FileState {
	if !filepath.IsAbs(p) {
		return model.FileUnknown
	}
	s := c.newPoolSession(context.Background())
	defer s.close()
	p = filepath.Clean(p)
	dir, name := filepath.Split(p)
	if p == "/" {
		return model.FileNotRegular
	}
	fp := s.folder(filepath.Clean(dir))
	switch {
	case fp.gone:
		return model.FileMissing
	case fp.problem != "" && (p == "/dev" || strings.HasPrefix(p, "/dev/")):
		// No pool is made over /dev (it would scan every node), so
		// /dev/null is told only by where it is.
		return model.FileRemoteDevice
	case fp.problem != "":
		return model.FileUnknown
	}
	vol, problem, _ := s.volume(fp, name)
	if vol != nil {
		defer vol.Free()
		info, err := vol.GetInfo()
		if err != nil {
			return model.FileUnknown
		}
		switch info.Type {
		case libvirt.STORAGE_VOL_FILE:
			return model.FileExists
		case libvirt.STORAGE_VOL_BLOCK:
			return model.FileBlockDevice
		}
		return model.FileNotRegular
	}
	if !strings.HasPrefix(problem, model.ProblemMissing) || c.readonly {
		return model.FileUnknown
	}
	// Not a volume: missing, or a kind of file pools leave out (a FIFO, a
	// socket, a character device). Opening it as a folder tells them
	// apart: "No such file or directory", or "Not a directory". Opening a
	// folder never blocks on a FIFO.
	switch fp := s.folder(p); {
	case fp.gone:
		return model.FileMissing
	case fp.notDir:
		return model.FileNotRegular
	}
	return model.FileUnknown
}
