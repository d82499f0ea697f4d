package libvirtx

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/qcow2"
	"virtchain/model"
)

// The facts of 'virtchain orphans': which folders to search (every
// storage pool's, every folder that holds an image a domain uses, and the
// ones asked for), the qcow2 and raw images in them, told by their
// headers and never by their names, and who uses files that no domain
// definition shows (managed-save images and save images found there, and
// the images their saved definitions name). model.FindOrphans decides.

// OrphanFacts reads this host's side of the orphan search; dirs are the
// folders asked for besides the ones searched anyway.
func (c *Conn) OrphanFacts(ctx context.Context, dirs []string) (model.OrphanFacts, error) {
	f := model.OrphanFacts{Host: c.uri, Remote: !c.local, Saved: map[string][]string{}, RefIDs: map[model.FileID]string{}}
	var s *poolSession
	if !c.local {
		// One session for the checks and the listing: a --dir's transient
		// pool is made once.
		s = c.newPoolSession(ctx)
		defer s.close()
	}
	for _, d := range dirs {
		if err := model.CheckInput("folder", d); err != nil {
			return f, err
		}
		if !filepath.IsAbs(d) {
			return f, model.NotAbsolute("folder", d)
		}
		// A typo or a FIFO would be searched as an empty folder,
		// and "0 orphans" would be the answer.
		check := localFolder
		if !c.local {
			check = s.remoteFolder
		}
		if err := check(d); err != nil {
			return f, err
		}
	}
	doms, err := c.Discover(ctx)
	if err != nil {
		return f, err
	}
	f.Domains = c.rereadUnsure(ctx, doms)
	f.Unsure = c.unsureChains(f.Domains)
	for _, d := range doms {
		if d.ManagedSave {
			c.managedSaveUsers(d.Name, f.Saved)
		}
	}
	f.Unsure = append(f.Unsure, c.definitionUsers(f.Domains, f.Saved)...)
	f.Folders = c.orphanFolders(doms, dirs)
	var saves []string
	if c.local {
		f.Images, saves = scanLocalFolders(f.Folders)
	} else {
		f.Images, saves, f.Unsure = s.scanRemoteFolders(f.Folders, f.Unsure)
	}
	for _, s := range saves {
		c.saveImageUsers(s, f.Saved)
	}
	if c.local {
		for p := range model.BuildRefs(doms) {
			if id := identify(p); id != (model.FileID{}) {
				f.RefIDs[id] = p
			}
		}
		for p := range f.Saved {
			if id := identify(p); id != (model.FileID{}) {
				f.RefIDs[id] = p
			}
		}
	}
	return f, ctx.Err()
}

// localFolder refuses a --dir that is no folder on this machine.
func localFolder(d string) error {
	st, err := os.Stat(d)
	switch {
	case err != nil:
		return model.Refuse("--dir "+model.Escape(d)+" cannot be searched: "+errText(err), "give a folder that exists with --dir")
	case st.Mode().IsRegular():
		return model.Refuse("--dir "+model.Escape(d)+" is not a folder (a regular file)", "give its folder with --dir "+model.ShellQuote(filepath.Dir(d)))
	case !st.IsDir():
		kind := "a special file"
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			kind = fileKind(sys.Mode)
		}
		return model.Refuse("--dir "+model.Escape(d)+" is not a folder ("+kind+")", "give a folder with --dir")
	}
	return nil
}

// remoteFolder refuses a --dir that is no folder on the remote host, as
// localFolder does here, through the storage API alone: the pool over it
// (a transient one where no pool covers it) cannot be made when the path
// does not exist ("No such file or directory") or is no folder ("Not a
// directory"); then the volume of that name in its parent folder's pool
// tells a regular file or a block device from a kind of file that pools
// do not list (a FIFO, a socket, a character device).
func (s *poolSession) remoteFolder(d string) error {
	d = filepath.Clean(d)
	host, q := uriHost(s.c.uri), model.Escape(d)
	if d == "/dev" || strings.HasPrefix(d, "/dev/") {
		return model.Refuse("--dir "+q+" on "+host+" cannot be searched: over a remote connection virtchain lists a folder as a storage pool, and one under /dev would list device nodes, not images",
			"give a folder of image files with --dir")
	}
	fp := s.folder(d)
	switch {
	case fp.gone:
		return model.Refuse("--dir "+q+" on "+host+" cannot be searched: no such file or directory", "give a folder that exists on "+host+" with --dir")
	case fp.notDir:
		kind, fix := s.remoteKind(d), "give a folder with --dir"
		if kind == "a regular file" {
			fix = "give its folder with --dir " + model.ShellQuote(filepath.Dir(d))
		}
		return model.Refuse("--dir "+q+" on "+host+" is not a folder ("+kind+")", fix)
	case fp.problem != "" && s.c.readonly:
		uri, name := model.ShellQuote(s.c.uri), model.ShellQuote(suggestedPoolName(d))
		return model.Refuse("--dir "+q+" on "+host+" cannot be searched over a read-only remote connection: no storage pool covers it, and only a connection that may write can create the transient pool virtchain lists such a folder through",
			"define a pool for it: virsh -c "+uri+" pool-define-as "+name+" dir --target "+model.ShellQuote(d)+" && virsh -c "+uri+" pool-start "+name+"; or connect without --readonly")
	case fp.problem != "":
		return model.Refuse("--dir "+q+" on "+host+" cannot be searched: "+fp.problem, "fix that, or leave the folder out")
	}
	return nil
}

// remoteKind says what the path d, which is no folder, is: a volume of
// its parent folder's pool is a regular file or a block device; pools
// leave the other kinds out.
func (s *poolSession) remoteKind(d string) string {
	fp := s.folder(filepath.Dir(d))
	vol, _, _ := s.volume(fp, filepath.Base(d))
	if vol == nil {
		if fp.problem != "" || fp.gone {
			return "libvirt cannot open it as a directory"
		}
		return "a special file: a FIFO, a socket or a device, which storage pools do not list"
	}
	defer vol.Free()
	s.call("StorageVolGetInfo")
	info, err := vol.GetInfo()
	switch {
	case err != nil:
		return "libvirt cannot open it as a directory"
	case info.Type == libvirt.STORAGE_VOL_FILE:
		return "a regular file"
	case info.Type == libvirt.STORAGE_VOL_BLOCK:
		return "a block device"
	}
	return "a special file"
}

// rereadUnsure reads again, up to twice, each domain with a layer that
// could not be read: over a remote connection a read fails when another
// virtchain destroys the transient pool it shared for that folder.
func (c *Conn) rereadUnsure(ctx context.Context, doms []model.Domain) []model.Domain {
	for try := 0; try < 2; try++ {
		again := false
		for i, d := range doms {
			if len(c.unsureChains(doms[i:i+1])) == 0 {
				continue
			}
			again = true
			if fresh, err := c.DiscoverDomain(ctx, d.Name); err == nil {
				doms[i] = fresh
			}
		}
		if !again || ctx.Err() != nil {
			break
		}
	}
	return doms
}

// unsureChains names the chain layers and domains that could not be read:
// an image below them could be in use without virtchain knowing.
func (c *Conn) unsureChains(doms []model.Domain) []string {
	var out []string
	for _, d := range doms {
		if d.Problem != "" && !c.domainGone(d.UUID) {
			out = append(out, "domain "+d.Name+": "+d.Problem)
		}
		for _, disk := range d.Disks {
			for _, l := range disk.Layers {
				if strings.HasPrefix(l.Problem, model.ProblemUnreadable) || strings.HasPrefix(l.Problem, model.ProblemUnknownFormat) {
					out = append(out, "chain of "+d.Name+" "+disk.Target+": "+l.Path+": "+l.Problem)
				}
			}
		}
	}
	return out
}

// orphanFolders are the folders searched: dirs, every storage pool's
// target folder, and every folder of an image some domain uses.
func (c *Conn) orphanFolders(doms []model.Domain, dirs []string) []string {
	set := map[string]bool{}
	for _, d := range dirs {
		set[filepath.Clean(d)] = true
	}
	for p := range model.BuildRefs(doms) {
		if filepath.IsAbs(p) {
			set[filepath.Dir(filepath.Clean(p))] = true
		}
	}
	for _, p := range c.poolFolders() {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for d := range set {
		// A folder pool over /dev would list every device node.
		if d != "/dev" && !strings.HasPrefix(d, "/dev/") {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// poolFolders are the target folders of the host's directory-like pools.
func (c *Conn) poolFolders() []string {
	pools, err := c.virt.ListAllStoragePools(0)
	if err != nil {
		return nil
	}
	var out []string
	for i := range pools {
		doc, err := pools[i].GetXMLDesc(0)
		name, _ := pools[i].GetName()
		_ = pools[i].Free()
		if err != nil || strings.HasPrefix(name, TransientPoolPrefix) {
			continue
		}
		var x libvirtxml.StoragePool
		if x.Unmarshal(doc) != nil || x.Target == nil || x.Target.Path == "" {
			continue
		}
		switch x.Type {
		case "dir", "fs", "netfs":
			out = append(out, filepath.Clean(x.Target.Path))
		}
	}
	return out
}

// imageHead is what the orphan search reads of a file: its first bytes
// and a reader for the rest.
type imageHead struct {
	path       string
	first      []byte
	r          io.ReaderAt
	size       int64
	allocation int64
}

// isoMagic sits at 32769 in an ISO 9660 image (a CD image is not a disk
// layer, even though its format is raw to QEMU).
const isoMagicAt = 32769

// classify tells a qcow2 image, a raw image, a save image (save) or
// anything else (ok false) apart by its header.
func (h imageHead) classify() (img model.OrphanImage, save, ok bool) {
	for _, m := range saveMagic {
		if strings.HasPrefix(string(h.first), m) {
			return img, true, false
		}
	}
	img = model.OrphanImage{Path: h.path, Allocation: h.allocation, Format: qcow2.ProbeBytes(h.first)}
	switch img.Format {
	case "qcow2":
		hd, err := qcow2.Parse(h.first, h.r, h.size)
		if err != nil {
			return img, false, false
		}
		img.VirtualSize = hd.VirtualSize
		if hd.BackingFile != "" {
			p, problem := resolveBacking(h.path, hd.BackingFile)
			if problem != "" {
				p = hd.BackingFile
			}
			img.Backing = filepath.Clean(p)
		}
		return img, false, true
	case "raw":
		// Raw has no header: take only what a disk image is, a non-empty
		// whole number of sectors, and no CD image.
		if h.size == 0 || h.size%512 != 0 || notDiskFile(h.first) {
			return img, false, false
		}
		iso := make([]byte, 5)
		if h.size > isoMagicAt+5 {
			if n, _ := h.r.ReadAt(iso, isoMagicAt); n == 5 && string(iso) == "CD001" {
				return img, false, false
			}
		}
		img.VirtualSize = h.size
		return img, false, true
	}
	return img, false, false
}

// archiveMagics start files that often sit beside images and are no disk
// (archives, compressed images, programs), though QEMU would open them as
// raw.
var archiveMagics = []string{"\x1f\x8b", "\xfd7zXZ\x00", "\x28\xb5\x2f\xfd", "BZh", "PK\x03\x04", "\x7fELF"}

func notDiskFile(first []byte) bool {
	for _, m := range archiveMagics {
		if strings.HasPrefix(string(first), m) {
			return true
		}
	}
	// A tar archive: "ustar" at 257.
	return len(first) >= 262 && string(first[257:262]) == "ustar"
}

// scanLocalFolders reads every regular file in the folders (not below
// them); symbolic links are not followed: the file they reach is found in
// its own folder, or not at all.
func scanLocalFolders(folders []string) (imgs []model.OrphanImage, saves []string) {
	buf := make([]byte, qcow2.FirstRead)
	for _, dir := range folders {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			img, save, ok := readLocalImage(p, buf)
			switch {
			case save:
				saves = append(saves, p)
			case ok:
				imgs = append(imgs, img)
			}
		}
	}
	return imgs, saves
}

func readLocalImage(p string, buf []byte) (img model.OrphanImage, save, ok bool) {
	fd, err := openRetry(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_NOFOLLOW)
	if err != nil {
		return img, false, false
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return img, false, false
	}
	r := fdReader(fd)
	n, err := r.ReadAt(buf[:min(int64(len(buf)), st.Size)], 0)
	if err != nil && err != io.EOF {
		return img, false, false
	}
	h := imageHead{path: p, first: buf[:n], r: r, size: st.Size, allocation: st.Blocks * 512}
	img, save, ok = h.classify()
	img.ID = model.FileID{Dev: uint64(st.Dev), Ino: st.Ino}
	img.Modified = time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
	img.Changed = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	return img, save, ok
}

// scanRemoteFolders lists the folders through the storage API: each
// folder's pool (a transient one where none covers it, on a connection
// that may write), refreshed, then every file volume's XML and, unless
// read-only, its first bytes through StorageVolDownload. A folder that
// cannot be listed is named in unsure.
func (s *poolSession) scanRemoteFolders(folders, unsure []string) (imgs []model.OrphanImage, saves []string, _ []string) {
	for _, dir := range folders {
		for attempt := 0; ; attempt++ {
			fp := s.folder(dir)
			got, saved, problem, vanished := s.listFolder(fp)
			if vanished && attempt < 4 {
				// Another virtchain destroyed the transient pool this
				// session shared: list the folder through a new one.
				s.forget(dir, fp)
				continue
			}
			if problem != "" {
				unsure = append(unsure, "folder "+dir+" on "+uriHost(s.c.uri)+" was not listed: "+problem)
			}
			imgs, saves = append(imgs, got...), append(saves, saved...)
			break
		}
	}
	sameFiles(imgs)
	return imgs, saves, unsure
}

// listFolder reads the images of fp's folder. vanished reports that its
// pool went away meanwhile; problem, that the folder could not be listed.
func (s *poolSession) listFolder(fp *folderPool) (imgs []model.OrphanImage, saves []string, problem string, vanished bool) {
	switch {
	case fp.gone:
		return nil, nil, "", false
	case fp.problem != "":
		return nil, nil, fp.problem, false
	}
	if !fp.ours && !s.c.readonly {
		s.call("StoragePoolRefresh")
		_ = fp.pool.Refresh(0)
	}
	s.call("StoragePoolListAllVolumes")
	vols, err := fp.pool.ListAllStorageVolumes(0)
	if err != nil {
		switch virtCode(err) {
		case libvirt.ERR_NO_STORAGE_POOL, libvirt.ERR_OPERATION_INVALID:
			return nil, nil, errorText(err), true
		}
		return nil, nil, errorText(err), false
	}
	failed := false
	for i := range vols {
		img, save, ok := s.readOrphanVolume(&vols[i])
		_ = vols[i].Free()
		switch {
		case save:
			saves = append(saves, img.Path)
		case ok:
			img.Remote = true
			// Another virtchain's transient pool is no pool to name:
			// it goes when that virtchain is done.
			if !fp.ours && !strings.HasPrefix(fp.name, TransientPoolPrefix) {
				img.Pool = fp.name
			}
			imgs = append(imgs, img)
		default:
			failed = true
		}
	}
	if failed && !fp.ours {
		// A volume that could not be read: not an image, or the pool
		// that left (a save image missed would hide its users).
		s.call("StoragePoolIsActive")
		if active, err := fp.pool.IsActive(); err != nil || !active {
			return nil, nil, "storage pool " + fp.name + " went away while it was read", true
		}
	}
	return imgs, saves, "", false
}

// sameFiles marks the volumes that libvirt describes as one file (same
// times, sizes and backing: a symbolic link, or a second name).
func sameFiles(imgs []model.OrphanImage) {
	byKey := map[string][]int{}
	for i, img := range imgs {
		if strings.HasPrefix(img.Key, "file:") {
			byKey[img.Key] = append(byKey[img.Key], i)
		}
	}
	for _, idx := range byKey {
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			for _, j := range idx {
				if i != j {
					imgs[i].SameAs = append(imgs[i].SameAs, imgs[j].Path)
				}
			}
		}
	}
}

// readOrphanVolume reads one volume for the orphan search.
func (s *poolSession) readOrphanVolume(vol *libvirt.StorageVol) (img model.OrphanImage, save, ok bool) {
	s.call("StorageVolGetXMLDesc")
	doc, err := vol.GetXMLDesc(0)
	if err != nil {
		return img, false, false
	}
	var v libvirtxml.StorageVolume
	if v.Unmarshal(doc) != nil || (v.Type != "file" && v.Type != "") || v.Target == nil || v.Target.Path == "" {
		return img, false, false
	}
	path := filepath.Clean(v.Target.Path)
	size := volumeBytes(v.Capacity)
	if v.Physical != nil {
		size = volumeBytes(v.Physical)
	}
	if s.c.readonly {
		// No StorageVolDownload on a read-only connection: libvirt's own
		// probe of the header, as its volume XML gives it.
		img = model.OrphanImage{Path: path, Allocation: volumeBytes(v.Allocation), VirtualSize: volumeBytes(v.Capacity)}
		if v.Target.Format != nil {
			img.Format = v.Target.Format.Type
		}
		if v.BackingStore != nil && v.BackingStore.Path != "" {
			img.Backing = filepath.Clean(v.BackingStore.Path)
		}
		img.Key = volumeIdentity(&v, path)
		img.Modified = volumeMtime(&v)
		return img, false, img.Format == "qcow2" || img.Format == "raw"
	}
	r := volReader{s: s, vol: vol}
	first := make([]byte, min(int64(qcow2.FirstRead), size))
	n, err := r.ReadAt(first, 0)
	if err != nil && err != io.EOF {
		return img, false, false
	}
	h := imageHead{path: path, first: first[:n], r: r, size: size, allocation: volumeBytes(v.Allocation)}
	img, save, ok = h.classify()
	img.Path = path
	img.Key = volumeIdentity(&v, path)
	img.Modified = volumeMtime(&v)
	return img, save, ok
}

// volumeMtime is the modification time libvirt reports ("SECONDS.NANOS"),
// zero when it reports none.
func volumeMtime(v *libvirtxml.StorageVolume) time.Time {
	if v.Target == nil || v.Target.Timestamps == nil || v.Target.Timestamps.Mtime == "" {
		return time.Time{}
	}
	sec, frac, _ := strings.Cut(v.Target.Timestamps.Mtime, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	return time.Unix(s, ns)
}

// saveImageUsers adds the images that the definition in save image file
// names, with their backing chains, to saved.
func (c *Conn) saveImageUsers(file string, saved map[string][]string) {
	who := "save image " + file
	saved[file] = append(saved[file], who)
	doc, err := c.virt.DomainSaveImageGetXMLDesc(file, 0)
	if err != nil {
		return
	}
	var x libvirtxml.Domain
	if x.Unmarshal(doc) != nil {
		return
	}
	who += " (of " + x.Name + ")"
	c.addDefinitionFiles(&x, who, true, saved)
}

// DeleteOrphan deletes one orphan the plan lists, only if it is still the
// very file that was found: a local file by its identity, through
// os.Remove; a remote one as the same volume (same path and what libvirt
// reports of the file) through StorageVolDelete: a volume of its pool, or,
// in a folder no pool covers, of the transient pool virtchain lists it
// through, destroyed afterwards.
func (c *Conn) DeleteOrphan(ctx context.Context, img model.OrphanImage) error {
	if err := c.refuseReadOnly("delete orphan images"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case img.Remote == c.local:
		return model.ErrPlanChanged
	case !img.Remote:
		return c.deleteLocalOrphan(img)
	case img.Pool == "":
		return c.deleteTransientVolume(ctx, img)
	}
	return c.deleteOrphanVolume(img)
}

// deleteLocalOrphan removes the file if it is still the one found: same
// path (no link on the way), identity and status change time.
func (c *Conn) deleteLocalOrphan(img model.OrphanImage) error {
	hf := inspectFile(img.Path)
	var st syscall.Stat_t
	if hf.Path != img.Path || hf.Type != model.FileRegular || hf.ID != img.ID ||
		syscall.Lstat(img.Path, &st) != nil || !time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Equal(img.Changed) {
		return model.ErrPlanChanged
	}
	return c.journaled(model.OrphanDeleteOne(img), func() error {
		if err := os.Remove(img.Path); err != nil {
			return &LibvirtError{Op: "delete " + img.Path, Err: err}
		}
		return nil
	})
}

// deleteOrphanVolume deletes the volume of img's pool if it is still the
// one found.
func (c *Conn) deleteOrphanVolume(img model.OrphanImage) error {
	pool, err := c.virt.LookupStoragePoolByName(img.Pool)
	if err != nil {
		return &LibvirtError{Op: "find storage pool " + img.Pool, Err: err}
	}
	defer pool.Free()
	_, err = c.deleteSameVolume(pool, img, "storage pool "+img.Pool)
	return err
}

// deleteTransientVolume deletes img, found in a folder no pool covers,
// as a volume of the transient pool over its folder (this session's, or
// another virtchain's that is using the folder right now), if it is still
// the one found. A pool that is no transient one covers the folder now:
// the plan, which names none, changed.
func (c *Conn) deleteTransientVolume(ctx context.Context, img model.OrphanImage) error {
	s := c.newPoolSession(ctx)
	defer s.close()
	dir := filepath.Dir(img.Path)
	for attempt := 0; ; attempt++ {
		fp := s.folder(dir)
		switch {
		case fp.gone:
			return model.ErrPlanChanged
		case fp.problem != "":
			return model.Refuse(img.Path+" on "+uriHost(c.uri)+" cannot be deleted: "+fp.problem, "fix that and plan again")
		case !strings.HasPrefix(fp.name, TransientPoolPrefix):
			return model.ErrPlanChanged
		}
		vanished, err := c.deleteSameVolume(fp.pool, img, "transient storage pool "+fp.name)
		if vanished && attempt < 3 {
			// Another virtchain destroyed the pool it shared: make one.
			s.forget(dir, fp)
			continue
		}
		return err
	}
}

// deleteSameVolume deletes the volume of pool named as img if it is still
// the one found, and journals it. vanished reports that the pool went
// away before anything was deleted.
func (c *Conn) deleteSameVolume(pool *libvirt.StoragePool, img model.OrphanImage, what string) (vanished bool, _ error) {
	vol, err := pool.LookupStorageVolByName(filepath.Base(img.Path))
	if err != nil {
		switch virtCode(err) {
		case libvirt.ERR_NO_STORAGE_VOL:
			return false, model.ErrPlanChanged
		case libvirt.ERR_NO_STORAGE_POOL, libvirt.ERR_OPERATION_INVALID:
			return true, &LibvirtError{Op: "find volume " + img.Path + " in " + what, Err: err}
		}
		return false, &LibvirtError{Op: "find volume " + img.Path + " in " + what, Err: err}
	}
	defer vol.Free()
	doc, err := vol.GetXMLDesc(0)
	var v libvirtxml.StorageVolume
	if err != nil || v.Unmarshal(doc) != nil || v.Target == nil || filepath.Clean(v.Target.Path) != img.Path || volumeIdentity(&v, img.Path) != img.Key {
		return false, model.ErrPlanChanged
	}
	return false, c.journaled(model.OrphanDeleteOne(img), func() error {
		if err := vol.Delete(0); err != nil {
			return &LibvirtError{Op: "delete volume " + img.Path + " of " + what, Err: err}
		}
		return nil
	})
}

// domainGone reports that the domain with uuid is no longer defined: what
// could not be read of it uses nothing now.
func (c *Conn) domainGone(uuid string) bool {
	if uuid == "" {
		return false
	}
	dom, err := c.virt.LookupDomainByUUIDString(uuid)
	if err != nil {
		return virtCode(err) == libvirt.ERR_NO_DOMAIN
	}
	_ = dom.Free()
	return false
}
