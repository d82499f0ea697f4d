package libvirtx

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/qcow2"
	"virtchain/model"
)

// ProblemRemoteNoPool starts a layer's problem when the chain of a
// shut-off domain cannot be read over a read-only remote connection: there
// libvirt only describes images that belong to a storage pool, and a
// read-only connection cannot create one. The rest of the text names the
// folder and the commands that define a pool for it.
const ProblemRemoteNoPool = "chain cannot be read over a read-only remote connection: the image's folder is in no storage pool"

// ProblemRemoteControlName is a layer's problem over a remote connection
// when its file name holds a control character: libvirt's storage pools
// list no such file, so the storage API cannot read it (it is not missing).
const ProblemRemoteControlName = model.ProblemUnreadable + ": over a remote connection: libvirt's storage pools list no file whose name holds a control character; rename it, or run virtchain on the host"

// poolChain reads one chain with a session of its own (see poolSession),
// for callers outside a discovery.
func (c *Conn) poolChain(path, format string) []model.Layer {
	s := c.newPoolSession(context.Background())
	defer s.close()
	return s.chain(path, format)
}

// chain reads a shut-off domain's chain over a remote connection through
// libvirt's storage API only: each image is a volume of the pool that
// covers its folder; the volume's XML gives its sizes, and its first bytes,
// downloaded with StorageVolDownload, go through the same header reader as
// a local file's. So the layers are the ones WalkChain gives on the host.
func (s *poolSession) chain(top, format string) []model.Layer {
	return walk(top, format, s.inspect)
}

// inspect reads one image as a volume; the id is the volume's key.
func (s *poolSession) inspect(path, format string) (l model.Layer, key string, ok bool) {
	l = model.Layer{Path: path, Format: format, InternalSnapshots: []string{}}
	if path == "" {
		l.Problem = model.ProblemMissing + ": no path"
		return l, "", false
	}
	if s.ctx.Err() != nil {
		l.Problem = "discovery cancelled"
		return l, "", false
	}
	if !filepath.IsAbs(path) {
		l.Problem = model.ProblemUnreadable + ": a relative path cannot be read over a remote connection"
		return l, "", false
	}
	dir, name := filepath.Split(filepath.Clean(path))
	dir = filepath.Clean(dir)
	for attempt := 0; ; attempt++ {
		fp := s.folder(dir)
		got, key, ok, vanished := s.inspectIn(fp, l, name)
		if vanished && attempt < 4 {
			s.forget(dir, fp)
			continue
		}
		return got, key, ok
	}
}

// inspectIn reads name in fp's pool. vanished reports that the pool went
// away during the read: destroyed by another virtchain whose transient pool
// this session was using (or which destroyed this one's by mistake).
func (s *poolSession) inspectIn(fp *folderPool, l model.Layer, name string) (_ model.Layer, key string, ok, vanished bool) {
	vol, problem, vanished := s.volume(fp, name)
	if vanished {
		return l, "", false, true
	}
	if problem != "" {
		l.Problem = problem
		return l, "", false, false
	}
	defer vol.Free()
	l, key, ok = s.readVolume(l, vol)
	if !ok && fp.pool != nil {
		// A failed read: is it the image, or the pool that left?
		s.call("StoragePoolIsActive")
		if active, err := fp.pool.IsActive(); err != nil || !active {
			return l, "", false, true
		}
	}
	return l, key, ok, false
}

// volume looks name up in fp's pool. vanished reports that the pool went
// away meanwhile (another virtchain destroyed its transient pool).
func (s *poolSession) volume(fp *folderPool, name string) (vol *libvirt.StorageVol, problem string, vanished bool) {
	switch {
	case fp.gone:
		return nil, model.ProblemMissing, false
	case fp.problem != "":
		return nil, fp.problem, false
	}
	for {
		s.call("StorageVolLookupByName")
		vol, err := fp.pool.LookupStorageVolByName(name)
		if err == nil {
			return vol, "", false
		}
		switch virtCode(err) {
		case libvirt.ERR_NO_STORAGE_POOL, libvirt.ERR_OPERATION_INVALID:
			return nil, "storage pool " + fp.name + ": " + errorText(err), true
		case libvirt.ERR_NO_STORAGE_VOL:
		default:
			return nil, "storage volume: " + errorText(err), false
		}
		// A pool this session did not create may have been scanned before
		// the file was made: refresh it once (a rescan of its folder,
		// which changes nothing in the pool) and look again.
		if fp.ours || s.c.readonly {
			break
		}
		again := false
		fp.refresh.Do(func() {
			s.call("StoragePoolRefresh")
			again = fp.pool.Refresh(0) == nil
		})
		if !again {
			break
		}
	}
	if strings.ContainsFunc(name, forbiddenInXML) {
		// libvirt's pools leave such files out (9.0 and 11.3): not missing.
		return nil, ProblemRemoteControlName, false
	}
	if s.c.readonly && !fp.ours {
		return nil, model.ProblemMissing + " (storage pool " + fp.name + " lists no volume " + name +
			"; if the file is new, run virsh -c " + model.ShellQuote(s.c.uri) + " pool-refresh " + model.ShellQuote(fp.name) + ")", false
	}
	return nil, model.ProblemMissing, false
}

// readVolume fills l from the volume's XML and its first bytes.
func (s *poolSession) readVolume(l model.Layer, vol *libvirt.StorageVol) (model.Layer, string, bool) {
	s.call("StorageVolGetXMLDesc")
	doc, err := vol.GetXMLDesc(0)
	if err != nil {
		l.Problem = model.ProblemUnreadable + ": storage volume: " + errorText(err)
		return l, "", false
	}
	v, err := unmarshalVolume(doc)
	if err != nil {
		l.Problem = model.ProblemUnreadable + ": storage volume XML: " + model.OneLine(err.Error())
		return l, "", false
	}
	key := volumeIdentity(&v, l.Path)
	switch v.Type {
	case "file", "block", "":
	case "dir":
		l.Problem = model.ProblemNotRegular + ": a folder"
		return l, key, false
	default:
		l.Problem = model.ProblemNotRegular + ": a " + v.Type + " volume"
		return l, key, false
	}
	l.Allocation = volumeBytes(v.Allocation)
	if s.c.readonly {
		// libvirt refuses StorageVolDownload on a read-only connection.
		volumeOnly(&l, &v)
		return l, key, true
	}
	// physical is the file's size (a qcow2 image's capacity is its
	// virtual size); libvirt gives it for file and block volumes.
	size := volumeBytes(v.Capacity)
	if v.Physical != nil {
		size = volumeBytes(v.Physical)
	}
	r := volReader{s: s, vol: vol}
	first := make([]byte, min(int64(qcow2.FirstRead), size))
	n, err := r.ReadAt(first, 0)
	if err != nil && err != io.EOF {
		l.Problem = model.ProblemUnreadable + ": " + model.OneLine(err.Error())
		return l, key, false
	}
	ok := describeImage(&l, first[:n], r, size, s.fileProblem)
	return l, key, ok
}

// volumeIdentity tells files apart for loop detection, which the local
// reader does by device and inode. A volume's key is its path in the pool,
// so a symlink or another pool's path to the same file has another key;
// what libvirt reports of the file itself does not change with the name:
// its change and modification times (in nanoseconds), sizes, and the
// backing image it names. Two layers of one chain that agree on all of
// them are one file (were they two, naming the same backing image would
// make the chain loop one step later anyway). Without timestamps (block
// volumes), the key.
func volumeIdentity(v *libvirtxml.StorageVolume, path string) string {
	t := v.Target
	if t == nil || t.Timestamps == nil || t.Timestamps.Ctime == "" {
		if v.Key != "" {
			return "key:" + v.Key
		}
		return "path:" + path
	}
	backing := ""
	if v.BackingStore != nil {
		backing = v.BackingStore.Path
	}
	return fmt.Sprintf("file:%s|%s|%d|%d|%d|%s", t.Timestamps.Ctime, t.Timestamps.Mtime,
		volumeBytes(v.Physical), volumeBytes(v.Allocation), volumeBytes(v.Capacity), backing)
}

// volumeOnly fills a layer from the volume XML alone, all a read-only
// connection gets: its format, sizes, cluster size and backing image as
// libvirt resolved them. What only the header holds is not there: the
// backing name as written (BackingFile is the resolved path), dirty and
// corrupt bits, internal snapshots, an external data file.
func volumeOnly(l *model.Layer, v *libvirtxml.StorageVolume) {
	if t := v.Target; t != nil {
		if l.Format == "" && t.Format != nil {
			l.Format = t.Format.Type
		}
		if t.ClusterSize != nil {
			l.ClusterSize = volumeBytes(&libvirtxml.StorageVolumeSize{Unit: t.ClusterSize.Unit, Value: t.ClusterSize.Value})
		}
	}
	l.VirtualSize = volumeBytes(v.Capacity)
	if l.Format == "qcow2" {
		l.BitmapsProblem = bitmapsReadOnly
	}
	if b := v.BackingStore; b != nil && b.Path != "" {
		l.BackingFile = b.Path
		if b.Format != nil {
			l.BackingFormat = b.Format.Type
		}
	}
}

// bitmapsReadOnly is a qcow2 layer's BitmapsProblem over a read-only
// remote connection.
const bitmapsReadOnly = BitmapsNotRead + " over a read-only remote connection (libvirt refuses to download a volume's bytes there)"

// liveBitmaps reads the persistent bitmaps of one layer of a running
// domain's chain from its header, through its folder's pool as a shut-off
// chain's layers are read, so a remote chain has the bitmaps a local one
// has. The active layer is read while QEMU writes it, as locally: its
// bitmaps are then in use (BitmapFromImageInUse), and the ones QEMU holds
// only in memory come from the checkpoints (model.ApplyCheckpoints). When
// the header cannot be read, the problem says so: unknown, not absent.
func (s *poolSession) liveBitmaps(path string) ([]model.Bitmap, string) {
	if s.c.readonly {
		return nil, bitmapsReadOnly
	}
	if s.ctx.Err() != nil {
		return nil, BitmapsNotRead + ": discovery cancelled"
	}
	if !filepath.IsAbs(path) {
		return nil, BitmapsNotRead + ": a relative path cannot be read over a remote connection"
	}
	dir, name := filepath.Split(filepath.Clean(path))
	dir = filepath.Clean(dir)
	for attempt := 0; ; attempt++ {
		fp := s.folder(dir)
		vol, problem, vanished := s.volume(fp, name)
		if vanished && attempt < 4 {
			s.forget(dir, fp) // another virtchain destroyed the pool: find one again
			continue
		}
		if vol == nil {
			return nil, BitmapsNotRead + ": " + problem
		}
		h, err := s.volumeHeader(vol)
		_ = vol.Free()
		if err != nil {
			if fp.pool != nil && attempt < 4 {
				s.call("StoragePoolIsActive")
				if active, aerr := fp.pool.IsActive(); aerr != nil || !active {
					s.forget(dir, fp)
					continue
				}
			}
			return nil, BitmapsNotRead + ": " + errorText(err)
		}
		return layerBitmaps(h), h.BitmapsProblem
	}
}

// volumeHeader reads a volume's qcow2 header (its bitmap directory too).
func (s *poolSession) volumeHeader(vol *libvirt.StorageVol) (*qcow2.Header, error) {
	// With GET_PHYSICAL, Allocation is the file's size.
	s.call("StorageVolGetInfoFlags")
	info, err := vol.GetInfoFlags(libvirt.STORAGE_VOL_GET_PHYSICAL)
	if err != nil {
		return nil, err
	}
	return qcow2.Read(volReader{s: s, vol: vol}, int64(info.Allocation))
}

// fileProblem says why path (an external data file) cannot be opened, as
// the local reader would: "" when its folder's pool lists it.
func (s *poolSession) fileProblem(path string) string {
	dir, name := filepath.Split(filepath.Clean(path))
	vol, problem, _ := s.volume(s.folder(filepath.Clean(dir)), name)
	if vol != nil {
		_ = vol.Free()
	}
	return problem
}

// volReader reads a volume's bytes with StorageVolDownload: one stream per
// read, for exactly the bytes asked.
type volReader struct {
	s   *poolSession
	vol *libvirt.StorageVol
}

// ReadAt fills b from off; io.EOF when the volume ends first.
func (r volReader) ReadAt(b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	st, err := r.s.c.virt.NewStream(0)
	if err != nil {
		return 0, &LibvirtError{Op: "open a stream", Err: err}
	}
	defer st.Free()
	r.s.call("StorageVolDownload")
	if err := r.vol.Download(st, uint64(off), uint64(len(b)), 0); err != nil {
		return 0, &LibvirtError{Op: "download volume bytes", Err: err}
	}
	done := 0
	var tail [64]byte
	for {
		buf := tail[:]
		if done < len(b) {
			buf = b[done:]
		}
		n, err := st.Recv(buf)
		if err == io.EOF || err == nil && n == 0 {
			break // the end of the stream
		}
		if err != nil || n < 0 { // n < 0: "would block", not asked for
			_ = st.Abort()
			return done, &LibvirtError{Op: "download volume bytes", Err: err}
		}
		if done < len(b) {
			done += n
		}
	}
	r.s.call("StreamFinish")
	if err := st.Finish(); err != nil {
		return done, &LibvirtError{Op: "download volume bytes", Err: err}
	}
	if done < len(b) {
		return done, io.EOF
	}
	return done, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1, "bytes": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
}

func volumeBytes(s *libvirtxml.StorageVolumeSize) int64 {
	if s == nil {
		return 0
	}
	mul, ok := sizeUnits[strings.ToLower(s.Unit)]
	if !ok {
		mul = 1
	}
	return int64(s.Value) * mul
}
