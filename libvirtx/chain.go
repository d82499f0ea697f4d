package libvirtx

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"

	"virtchain/libvirtx/qcow2"
	"virtchain/model"
)

// ProblemNotLocal flags a backing name that is not a plain local file
// (json:, nbd:, http:, rbd:, ...): virtchain reads local images only.
const ProblemNotLocal = "backing is not a local file"

// WalkChain reads a backing chain from image headers on the local
// filesystem, the active layer (top) first and the base last. format is
// the top's format from the domain XML, or "" to probe it; below the top
// each layer's format comes from its overlay's backing-format extension,
// else from probing, as QEMU does. A relative backing name resolves
// against the folder of the image that names it.
//
// A broken chain is data: the layer where it breaks carries a
// model.Problem* reason (or ProblemNotLocal) and the walk stops there. A
// missing external data file is flagged on its layer without stopping the
// walk, since the backing chain is still readable. It never fails.
func WalkChain(top, format string) []model.Layer {
	w := walkers.Get().(*walker)
	defer walkers.Put(w)
	return walk(top, format, w.inspect)
}

// walk follows a backing chain from top, reading each image with inspect,
// which also says which file it is (id), so a loop is found whatever the
// names that reach it. Local and remote reading share it, so both stop in
// the same places with the same problems.
func walk[ID comparable](top, format string, inspect func(path, format string) (model.Layer, ID, bool)) []model.Layer {
	var layers []model.Layer
	var seen []ID
	path := top
	for {
		if len(layers) == model.MaxChainDepth {
			return append(layers, problemLayer(path, format, model.ProblemTooDeep))
		}
		l, id, ok := inspect(path, format)
		if ok {
			for i, s := range seen {
				if s == id {
					l = problemLayer(path, format, fmt.Sprintf("%s: same file as %s", model.ProblemLoop, layers[i].Path))
					ok = false
					break
				}
			}
			seen = append(seen, id)
		}
		layers = append(layers, l)
		if !ok || l.BackingFile == "" {
			return layers
		}
		next, problem := resolveBacking(path, l.BackingFile)
		format = l.BackingFormat
		if problem != "" {
			return append(layers, problemLayer(l.BackingFile, format, problem))
		}
		path = next
	}
}

// LayerInfo reads the details of one image (sizes, format, backing name,
// internal snapshots) without following its backing chain. format is the
// image's format as libvirt gives it, or "" to probe. Problems go into
// Layer.Problem.
func LayerInfo(path, format string) model.Layer {
	w := walkers.Get().(*walker)
	defer walkers.Put(w)
	l, _, _ := w.inspect(path, format)
	return l
}

// fileID identifies a file whatever the path that reaches it.
type fileID struct{ dev, ino uint64 }

// walker holds the buffer reused for every layer's first read.
type walker struct{ buf []byte }

func newWalker() *walker { return &walker{buf: make([]byte, qcow2.FirstRead)} }

// walkers share their buffers across chains: a host of 1000 disks would
// otherwise allocate (and fault in) 4 MB for one discovery.
var walkers = sync.Pool{New: func() any { return newWalker() }}

// inspect reads one image: one open, one fstat, one pread (two when it has
// internal snapshots). ok is false when the layer has a problem that ends
// the walk.
func (w *walker) inspect(path, format string) (l model.Layer, id fileID, ok bool) {
	l = model.Layer{Path: path, Format: format, InternalSnapshots: []string{}}
	if path == "" {
		l.Problem = model.ProblemMissing + ": no path"
		return l, id, false
	}
	// O_NONBLOCK: opening a FIFO must not hang discovery.
	fd, err := openRetry(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if err != nil {
		l.Problem = openProblem(err)
		return l, id, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		l.Problem = model.ProblemUnreadable + ": " + err.Error()
		return l, id, false
	}
	id = fileID{uint64(st.Dev), st.Ino}
	l.Allocation = st.Blocks * 512
	size := st.Size
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFBLK:
		// A block device's size is where its end is, not st_size.
		if size, err = syscall.Seek(fd, 0, 2); err != nil {
			l.Problem = model.ProblemUnreadable + ": " + err.Error()
			return l, id, false
		}
	case syscall.S_IFDIR:
		l.Problem = model.ProblemNotRegular + ": a folder"
		return l, id, false
	default:
		l.Problem = model.ProblemNotRegular + ": " + fileKind(st.Mode)
		return l, id, false
	}
	r := fdReader(fd)
	n, err := r.ReadAt(w.buf[:min(int64(len(w.buf)), size)], 0)
	if err != nil && err != io.EOF { // EOF: the file shrank; read what is there
		l.Problem = model.ProblemUnreadable + ": " + err.Error()
		return l, id, false
	}
	first := w.buf[:n]
	ok = describeImage(&l, first, r, size, func(p string) string {
		var dst syscall.Stat_t
		if err := syscall.Stat(p, &dst); err != nil {
			return openProblem(err)
		}
		return ""
	})
	return l, id, ok
}

// describeImage fills a layer from the start of its image (first) and a
// reader for the rest, the same way for a local file and for a storage
// volume read through libvirt, so both give the same layer. size is the
// file's size. dataFileProblem says why an external data file cannot be
// opened ("" when it can). ok is false when the walk must stop here.
func describeImage(l *model.Layer, first []byte, r io.ReaderAt, size int64, dataFileProblem func(path string) string) (ok bool) {
	if l.Format == "" {
		l.Format = qcow2.ProbeBytes(first)
	}
	switch l.Format {
	case "raw":
		l.VirtualSize = size
		return true
	case "qcow2":
	default:
		l.Problem = fmt.Sprintf("%s: %s (virtchain reads qcow2 and raw)", model.ProblemUnknownFormat, l.Format)
		return false
	}
	h, err := qcow2.Parse(first, r, size)
	if err != nil {
		l.Problem = headerProblem(err, first)
		return false
	}
	l.VirtualSize = h.VirtualSize
	l.ClusterSize = h.ClusterSize
	l.BackingFile = h.BackingFile
	l.BackingFormat = h.BackingFormat
	l.Dirty = h.Dirty
	l.Corrupt = h.Corrupt
	l.DataFile = h.DataFile
	if len(h.Snapshots) > 0 {
		l.InternalSnapshots = h.SnapshotNames()
	}
	l.Bitmaps, l.BitmapsProblem = layerBitmaps(h), h.BitmapsProblem
	if h.DataFile != "" {
		// Only images with an external data file pay for this check.
		if p, bad := resolveBacking(l.Path, h.DataFile); bad == "" {
			if problem := dataFileProblem(p); problem != "" {
				l.Problem = fmt.Sprintf("%s: external data file %s", problem, p)
			}
		}
	}
	return true
}

// layerBitmaps are a header's bitmaps as the model has them: the in-use
// flag says a QEMU holds them in memory, so the list may be stale.
func layerBitmaps(h *qcow2.Header) []model.Bitmap {
	if len(h.Bitmaps) == 0 {
		return nil
	}
	out := make([]model.Bitmap, len(h.Bitmaps))
	for i, b := range h.Bitmaps {
		src := model.BitmapFromImage
		if b.InUse {
			src = model.BitmapFromImageInUse
		}
		out[i] = model.Bitmap{Name: b.Name, Granularity: b.Granularity, Enabled: b.Auto, InUse: b.InUse, Source: src}
	}
	return out
}

// problemLayer is a layer that could not be read, showing where the walk
// stopped.
func problemLayer(path, format, problem string) model.Layer {
	return model.Layer{Path: path, Format: format, InternalSnapshots: []string{}, Problem: problem}
}

// resolveBacking turns a backing (or data file) name into the path QEMU
// opens: absolute names as they are, relative ones against the folder of
// the image that names them. Names with a protocol give a problem.
func resolveBacking(image, name string) (path, problem string) {
	// QEMU's rule: a ':' before any '/' starts a protocol.
	if i := strings.IndexAny(name, ":/"); i >= 0 && name[i] == ':' {
		proto := name[:i]
		if proto != "file" {
			return "", fmt.Sprintf("%s: %s", ProblemNotLocal, notLocalReason(proto, name))
		}
		// QEMU opens file:NAME as NAME, relative to its working folder.
		return name[i+1:], ""
	}
	if strings.HasPrefix(name, "/") {
		return name, ""
	}
	// Joined as QEMU does, without cleaning: "a/../b" must cross a
	// symlinked "a" as QEMU would.
	return image[:strings.LastIndexByte(image, '/')+1] + name, ""
}

func notLocalReason(proto, name string) string {
	switch proto {
	case "json":
		return "a json: block-device description"
	case "nbd", "nbd+unix", "nbd+tcp":
		return "an NBD export (" + name + ")"
	}
	return fmt.Sprintf("%s protocol (%s)", proto, name)
}

// fileKind names what a path that is not a regular file is.
func fileKind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return "a FIFO"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR:
		return "a character device"
	}
	return "a special file"
}

// openProblem words an open error as a layer problem.
func openProblem(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ENOTDIR) {
		return model.ProblemMissing
	}
	return model.ProblemUnreadable + ": " + err.Error()
}

// headerProblem words a qcow2 header error as a layer problem.
func headerProblem(err error, first []byte) string {
	detail := err.Error()
	switch {
	case errors.Is(err, qcow2.ErrPastEOF):
		// The reader's text starts with its own "offset past end of file".
		return model.ProblemPastEOF + ": " + strings.TrimPrefix(detail, qcow2.ErrPastEOF.Error()+": ")
	case errors.Is(err, qcow2.ErrBackingNameTooLong):
		return model.ProblemNameTooLong
	case errors.Is(err, qcow2.ErrNotQcow2):
		return fmt.Sprintf("%s: qcow2 expected, the file looks %s", model.ProblemUnknownFormat, qcow2.ProbeBytes(first))
	case errors.Is(err, qcow2.ErrUnsupportedVersion):
		return model.ProblemUnknownFormat + ": " + detail
	case errors.Is(err, qcow2.ErrInvalid):
		return detail
	}
	return model.ProblemUnreadable + ": " + detail
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// fdReader reads with pread on a raw descriptor: os.File would add an
// epoll registration per open, and discovery opens a thousand images.
type fdReader int

// ReadAt fills b from off, retrying short reads; it returns io.EOF when
// the file ends first.
func (f fdReader) ReadAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Pread(int(f), b[done:], off+int64(done))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}
