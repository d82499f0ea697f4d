package libvirtx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"

	"virtchain/libvirtx/qcow2"
	"virtchain/model"
)

// Check reads the facts a health check needs for the named domains (every
// domain when names is empty) and returns their verdicts, in the order
// asked (discovery's order for all). Every domain of the host is read, as
// a check must know which images another running domain writes. A name
// the host does not have is an error.
func (c *Conn) Check(ctx context.Context, names []string) ([]model.DomainHealth, error) {
	hs, missing, err := c.CheckSome(ctx, names)
	if err == nil && len(missing) > 0 {
		err = model.NoDomain(missing[0])
	}
	return hs, err
}

// CheckSome is Check for several hosts: it checks the named domains this
// host has and returns the names it does not have.
func (c *Conn) CheckSome(ctx context.Context, names []string) (hs []model.DomainHealth, missing []string, err error) {
	all, err := c.Discover(ctx)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]int, len(all))
	for i, d := range all {
		byName[d.Name] = i
	}
	var picked []model.Domain
	if len(names) == 0 {
		picked = all
	}
	for _, n := range names {
		if i, ok := byName[n]; ok {
			picked = append(picked, all[i])
		} else {
			missing = append(missing, n)
		}
	}
	users := imageUsers(all)
	pools := c.newPoolSession(ctx)
	defer pools.close()
	qu := c.qemuIdentity()
	// Most of a check is qemu-img check, one process per image: domains
	// are checked checkWorkers at a time, each answer in its asked place.
	hs = make([]model.DomainHealth, len(picked))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(checkWorkers, len(picked)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				chk := checker{c: c, ctx: ctx, users: users, pools: pools, qemu: qu}
				hs[i] = chk.domain(picked[i])
			}
		}()
	}
	for i := range picked {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return hs, missing, nil
}

// checkWorkers bounds the domains checked at once: qemu-img check reads
// each image's metadata, so more than the CPUs only adds contention.
var checkWorkers = max(2, min(runtime.NumCPU(), 8))

// CheckDomain checks one domain (for the TUI's detail pane).
func (c *Conn) CheckDomain(ctx context.Context, name string) (model.DomainHealth, error) {
	hs, err := c.Check(ctx, []string{name})
	if err != nil {
		return model.DomainHealth{}, err
	}
	return hs[0], nil
}

// users of images on one host: who writes each (a running domain's active
// layer) and who has it open read-only (a running domain's backing layer).
type users struct{ writer, reader map[string]string }

func imageUsers(all []model.Domain) users {
	u := users{writer: map[string]string{}, reader: map[string]string{}}
	for _, d := range all {
		if !d.State.Active() {
			continue
		}
		for _, disk := range d.Disks {
			for i, l := range disk.Layers {
				if i == 0 && !disk.ReadOnly {
					u.writer[l.Path] = d.Name
				} else {
					u.reader[l.Path] = d.Name
				}
			}
		}
	}
	return u
}

// checker reads one domain's facts.
type checker struct {
	c     *Conn
	ctx   context.Context
	users users
	pools *poolSession
	qemu  qemuIdentity
	// jobDisks are the disks with a block job running, whose images the
	// job is rewriting.
	jobDisks map[string]bool
}

func (k *checker) domain(d model.Domain) model.DomainHealth {
	f := model.CheckFacts{Layers: map[string]model.LayerFacts{}, GoneFiles: map[string]bool{}}
	if d.State.Active() {
		k.jobDisks = k.c.diskJobs(d)
	}
	if !k.c.local {
		f.Notes = append(f.Notes, RemoteCheckNote)
	}
	if k.c.local && k.qemu.skip != "" {
		f.Notes = append(f.Notes, "QEMU's access to the images was not checked: "+k.qemu.skip)
	}
	for di := range d.Disks {
		disk := &d.Disks[di]
		for li := range disk.Layers {
			l := &disk.Layers[li]
			if _, seen := f.Layers[l.Path]; seen || l.Path == "" || !filepath.IsAbs(l.Path) {
				continue // a loop names a file twice: its first sight counts
			}
			if !k.c.local && l.Problem == model.ProblemMissing && k.pools.unlisted(l.Path) {
				l.Problem = ProblemRemoteUnlisted
			}
			f.Layers[l.Path] = k.layer(d, disk, li)
		}
	}
	k.snapshotFiles(d, &f)
	if d.ManagedSave {
		changed, err := k.c.managedSaveChanges(d.Name)
		if err != nil {
			f.Notes = append(f.Notes, "the managed-save image's definition was not compared: "+model.OneLine(err.Error()))
		}
		f.ManagedSaveChanged = changed
	}
	return model.CheckDomain(d, f)
}

// layer reads one layer's facts; it updates the layer's dirty and corrupt
// bits from the header it reads (a running domain's layers come from the
// live XML, which has none).
func (k *checker) layer(d model.Domain, disk *model.Disk, i int) model.LayerFacts {
	l := &disk.Layers[i]
	var f model.LayerFacts
	if l.Problem != "" {
		return f
	}
	f.WrittenBy = k.users.writer[l.Path]
	if l.Format == "qcow2" {
		k.header(l, &f)
		if l.BackingFile != "" && (k.c.local || f.Header) {
			k.backing(disk, i, &f)
		}
	}
	if k.c.local {
		f.QEMUCannotRead, f.QEMUFix = k.qemu.cannotRead(l.Path)
		k.imageCheck(disk, i, &f)
	}
	return f
}

// header reads the layer's qcow2 header, locally or as a storage volume.
func (k *checker) header(l *model.Layer, f *model.LayerFacts) {
	if !k.c.local && k.c.readonly {
		f.HeaderSkipped = "a read-only remote connection cannot download image bytes (libvirt refuses it); connect read-write to read it"
		return
	}
	var h *qcow2.Header
	var names []string
	var err error
	if k.c.local {
		h, err = qcow2.Open(l.Path)
		if err == nil && h.UnknownIncompatible() != 0 {
			names = localFeatureNames(l.Path, h.UnknownIncompatible())
		}
	} else {
		h, names, err = k.pools.header(l.Path)
	}
	if err != nil || h == nil {
		return // discovery already judged an image it could not read
	}
	f.Header = true
	f.UnknownIncompatible = h.UnknownIncompatible()
	f.UnknownNames = names
	l.Dirty, l.Corrupt = h.Dirty, h.Corrupt
	if l.BackingFile == "" {
		l.BackingFile, l.BackingFormat = h.BackingFile, h.BackingFormat
	}
}

// localFeatureNames names the unknown bits, from the image's own feature
// name table where it has one.
func localFeatureNames(path string, bits uint64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	table, _ := qcow2.ReadFeatureNames(f, st.Size())
	return qcow2.IncompatibleNames(bits, table)
}

// backing reads the real format of the layer's backing file and, for a
// relative name, whether it means the same file from where the domain
// opens the image and from the image's real folder. Over a remote
// connection the first bytes come through the backing file's folder's
// pool, as headers do, and a relative name cannot be followed through a
// symlink: the layer's notes say so.
func (k *checker) backing(disk *model.Disk, i int, f *model.LayerFacts) {
	l := disk.Layers[i]
	runs, problem := resolveBacking(l.Path, l.BackingFile)
	if problem != "" {
		return
	}
	if i+1 < len(disk.Layers) && disk.Layers[i+1].Path != "" {
		// A running domain's live XML says what QEMU really opened.
		runs = disk.Layers[i+1].Path
	}
	relative := !strings.HasPrefix(l.BackingFile, "/") && !strings.Contains(l.BackingFile, ":")
	if !k.c.local {
		if filepath.IsAbs(runs) {
			f.BackingRealFormat = k.pools.probe(runs)
		}
		if relative {
			f.RelativeSkipped = RemoteRelativeSkipped
		}
		return
	}
	f.BackingRealFormat = probeFile(runs)
	if !relative {
		return
	}
	real, err := filepath.EvalSymlinks(l.Path)
	if err != nil {
		return
	}
	beside := filepath.Join(filepath.Dir(real), l.BackingFile)
	a, errA := os.Stat(runs)
	b, errB := os.Stat(beside)
	switch {
	case errA != nil && errB != nil:
		return // the missing layer is its own finding
	case errA == nil && errB == nil && os.SameFile(a, b):
		return
	}
	f.RelativeRuns, f.RelativeBeside = runs, beside
	if errB != nil {
		f.RelativeBeside += " (missing)"
	}
}

// RemoteCheckNote is the domain's note over a remote connection: what
// the storage API cannot do, and where it can be done.
const RemoteCheckNote = "qemu-img check and QEMU's access to the images were not checked: over a remote connection libvirt's storage API runs no qemu-img on the host and shows neither QEMU's user nor the folders' modes on the way; run virtchain check on the host itself for them"

// RemoteRelativeSkipped is why a relative backing name is not compared
// over a remote connection: the storage API names a volume by the path it
// was looked up by, a symlink's own, and never says where a link leads.
const RemoteRelativeSkipped = "over a remote connection libvirt's storage API does not show whether the image's path is a symlink, or where it leads, so whether the name means another file beside the real image cannot be told; run virtchain check on the host itself"

// probeFile is the format an image's first bytes show, "" when unreadable.
func probeFile(path string) string {
	fd, err := openRetry(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return ""
	}
	buf := make([]byte, 512)
	n, err := fdReader(fd).ReadAt(buf, 0)
	if err != nil && n == 0 {
		return ""
	}
	return qcow2.ProbeBytes(buf[:n])
}

// imageCheck runs qemu-img check where it can tell the truth: never on an
// image a running QEMU writes (its metadata is half in QEMU's memory) or a
// block job rewrites, and with -U on one a running QEMU has open
// read-only.
func (k *checker) imageCheck(disk *model.Disk, i int, f *model.LayerFacts) {
	l := disk.Layers[i]
	switch {
	case l.Format != "qcow2":
		f.NoImageCheck = "a " + model.OrRaw(l.Format) + " image has no metadata to check"
		return
	case f.WrittenBy != "":
		f.NoImageCheck = "running domain " + f.WrittenBy + " writes it, and its metadata is partly in QEMU's memory; shut it off to check it"
		return
	case k.jobDisks[disk.Target]:
		f.NoImageCheck = "a block job is rewriting this disk's chain; check it after the job"
		return
	case strings.HasPrefix(disk.Layers[len(disk.Layers)-1].Problem, model.ProblemTooDeep):
		f.NoImageCheck = "the chain is over 1000 layers; shorten it first"
		return
	}
	shared := k.users.reader[l.Path] != ""
	f.ImageCheck = runImageCheck(k.ctx, l.Path, shared)
}

// imageCheckTimeout bounds one qemu-img check.
const imageCheckTimeout = 2 * time.Minute

// runImageCheck runs qemu-img check --output=json on one qcow2 image.
func runImageCheck(ctx context.Context, path string, shared bool) *model.ImageCheck {
	argv := []string{"check", "--output=json"}
	if shared {
		argv = append(argv, "-U")
	}
	// The image alone, without its backing chain ("backing": null):
	// checking its metadata needs nothing below, and so a missing file,
	// a FIFO or a loop below cannot stop or hang qemu-img.
	spec, _ := json.Marshal(map[string]any{
		"driver": "qcow2", "file": map[string]string{"driver": "file", "filename": path}, "backing": nil,
	})
	ctx, cancel := context.WithTimeout(ctx, imageCheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, QemuImg, append(argv, "json:"+string(spec))...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ic := &model.ImageCheck{Shared: shared}
	var out struct {
		Corruptions int64 `json:"corruptions"`
		Leaks       int64 `json:"leaks"`
		CheckErrors int64 `json:"check-errors"`
	}
	// Exit 2 (corruptions) and 3 (leaks) still print the JSON report.
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr == nil {
		ic.Corruptions, ic.Leaks, ic.CheckErrors = out.Corruptions, out.Leaks, out.CheckErrors
		return ic
	}
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	switch {
	case msg != "":
		ic.Error = model.OneLine(lastLine(msg))
	case err != nil && !errors.As(err, &ee):
		ic.Error = "cannot run " + QemuImg + ": " + err.Error() + " (install qemu-utils)"
	case ctx.Err() != nil:
		ic.Error = "qemu-img check did not finish in " + imageCheckTimeout.String()
	case err != nil:
		ic.Error = err.Error()
	default:
		ic.Error = "no report from qemu-img check"
	}
	return ic
}

// diskJobs lists the running domain's disks that have a block job.
func (c *Conn) diskJobs(d model.Domain) map[string]bool {
	dom, err := c.virt.LookupDomainByName(d.Name)
	if err != nil {
		return nil
	}
	defer dom.Free()
	out := map[string]bool{}
	for _, disk := range d.Disks {
		if info, err := dom.GetBlockJobInfo(disk.Target, 0); err == nil && info.Type != 0 {
			out[disk.Target] = true
		}
	}
	return out
}

// snapshotFiles looks for every file the domain's snapshots name.
func (k *checker) snapshotFiles(d model.Domain, f *model.CheckFacts) {
	for _, s := range d.Snapshots {
		for _, p := range model.SnapshotFiles(s) {
			if _, seen := f.GoneFiles[p]; seen || !filepath.IsAbs(p) {
				continue
			}
			if k.c.local {
				_, err := os.Lstat(p)
				f.GoneFiles[p] = errors.Is(err, os.ErrNotExist)
			} else {
				f.GoneFiles[p] = strings.HasPrefix(k.pools.fileProblem(p), model.ProblemMissing)
			}
		}
	}
}

// header reads the qcow2 header of a file through its folder's storage
// pool, as remote chains are read, and names the incompatible bits this
// reader does not know from the image's own feature name table, read
// through the same volume. A read-only connection cannot download bytes:
// nil and no error then.
func (s *poolSession) header(path string) (*qcow2.Header, []string, error) {
	r, size, done, err := s.open(path)
	if err != nil || r.vol == nil {
		return nil, nil, err
	}
	defer done()
	h, err := qcow2.Read(r, size)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	if u := h.UnknownIncompatible(); u != 0 {
		table, _ := qcow2.ReadFeatureNames(r, size)
		names = qcow2.IncompatibleNames(u, table)
	}
	return h, names, nil
}

// ProblemRemoteUnlisted is a layer's problem over a remote connection when
// its folder's pool lists no such file and yet the path exists.
const ProblemRemoteUnlisted = model.ProblemNotRegular + ": its folder's storage pool does not list it, yet it exists and is no folder: a FIFO, a socket or a character device, which libvirt's pools leave out"

// unlisted says whether a path its folder's pool does not list exists all
// the same: libvirt refuses it as a directory pool's target with "Not a
// directory", where a missing path gives "No such file or directory". A
// pool lists files, block devices and folders; what is left is a FIFO, a
// socket or a character device. Opening a directory cannot block on a
// FIFO. Only a connection that may create pools can ask.
func (s *poolSession) unlisted(path string) bool {
	if s.c.readonly {
		return false
	}
	fp := s.folder(filepath.Clean(path))
	return !fp.gone && fp.pool == nil && strings.Contains(fp.problem, "Not a directory")
}

// probe is the format the first bytes of a file show, downloaded through
// its folder's pool: probeFile over a remote connection. "" when it
// cannot be read (a missing layer is its own finding).
func (s *poolSession) probe(path string) string {
	r, size, done, err := s.open(path)
	if err != nil || r.vol == nil {
		return ""
	}
	defer done()
	buf := make([]byte, min(size, 512))
	n, err := r.ReadAt(buf, 0)
	if err != nil && n == 0 {
		return ""
	}
	return qcow2.ProbeBytes(buf[:n])
}

// open finds path's volume in its folder's pool (a transient pool where no
// pool covers the folder) and returns a reader of its bytes, the file's
// size, and done, which frees the volume. A read-only connection cannot
// download bytes: a nil reader and no error then. Only files and block
// devices are read.
func (s *poolSession) open(path string) (r volReader, size int64, done func(), err error) {
	if s.c.readonly {
		return volReader{}, 0, nil, nil
	}
	dir, name := filepath.Split(filepath.Clean(path))
	vol, problem, _ := s.volume(s.folder(filepath.Clean(dir)), name)
	if vol == nil {
		return volReader{}, 0, nil, errors.New(problem)
	}
	// With GET_PHYSICAL, Allocation is the file's size.
	s.call("StorageVolGetInfoFlags")
	info, err := vol.GetInfoFlags(libvirt.STORAGE_VOL_GET_PHYSICAL)
	if err == nil && info.Type != libvirt.STORAGE_VOL_FILE && info.Type != libvirt.STORAGE_VOL_BLOCK {
		err = errors.New(model.ProblemNotRegular)
	}
	if err != nil {
		_ = vol.Free()
		return volReader{}, 0, nil, err
	}
	return volReader{s: s, vol: vol}, int64(info.Allocation), func() { _ = vol.Free() }, nil
}
