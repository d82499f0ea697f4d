package libvirtx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/qcow2"
	"virtchain/model"
)

// A later 'virtchain cleanup --delete-files' may delete only files that
// left a domain's chains. After the fact nothing on the host says so: a
// layer a commit took out still has its backing file, but so has any
// image made on the same base, and a full pull leaves a base that points
// nowhere. So when virtchain starts a commit or pull it records the files
// the plan takes out of the chain, with their identity (device and inode),
// in its state folder ("left", one file per job). Cleanup accepts a file
// only if such a record, or the domain's stale snapshot metadata, names it.

// leftRecord is one job's record.
type leftRecord struct {
	Domain  string           `json:"domain"`
	UUID    string           `json:"uuid"`
	Disk    string           `json:"disk"`
	Kind    model.JobKind    `json:"kind"`
	Started time.Time        `json:"started"`
	Files   []model.LeftFile `json:"files"`
}

func writeLeftRecord(lr leftRecord) (string, error) {
	dir, err := stateDir("left")
	if err != nil {
		return "", err
	}
	forgetLeft("")
	data, err := json.Marshal(lr)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s_%d.json", lr.UUID, lr.Started.UnixNano())
	if err := writeStateFile(dir, name, data); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// leftRecords reads the records of the domain with uuid (every domain's
// when uuid is empty), with their paths.
func leftRecords(uuid string) (map[string]leftRecord, error) {
	dir, err := stateDir("left")
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, &LibvirtError{Op: "read " + dir, Err: err}
	}
	out := map[string]leftRecord{}
	for _, e := range ents {
		if (uuid != "" && !strings.HasPrefix(e.Name(), uuid+"_")) || !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var lr leftRecord
		if data, err := readStateFile(path); err != nil || json.Unmarshal(data, &lr) != nil || (uuid != "" && lr.UUID != uuid) {
			continue
		}
		out[path] = lr
	}
	return out, nil
}

// forgetLeft drops from the records of the domain with uuid (of every
// domain when empty) the files that are gone, and removes records left
// empty, so that records of deleted files and domains do not pile up.
func forgetLeft(uuid string) {
	recs, err := leftRecords(uuid)
	if err != nil {
		return
	}
	for path, lr := range recs {
		keep := lr.Files[:0]
		for _, f := range lr.Files {
			if _, err := os.Lstat(f.Path); !errors.Is(err, os.ErrNotExist) {
				keep = append(keep, f)
			}
		}
		switch {
		case len(keep) == 0:
			_ = os.Remove(path)
		case len(keep) < len(lr.Files):
			lr.Files = keep
			if data, err := json.Marshal(lr); err == nil {
				_ = writeStateFile(filepath.Dir(path), filepath.Base(path), data)
			}
		}
	}
}

// saveMagic starts every image libvirt's QEMU driver saves (virsh save,
// managed save, a checkpoint's memory); "Part" while it is being written.
var saveMagic = []string{"LibvirtQemudSave", "LibvirtQemudPart"}

// inspectFile looks at p for the cleanup rule: the symbolic links of its
// folders resolved, the final name not followed, a regular file's format
// from its first bytes.
func inspectFile(p string) model.HostFile {
	hf := model.HostFile{Path: filepath.Clean(p), Type: model.FileAbsent}
	var st os.FileInfo
	dir, err := filepath.EvalSymlinks(filepath.Dir(hf.Path))
	if err == nil {
		if base := filepath.Base(hf.Path); base != "/" {
			hf.Path = filepath.Join(dir, base)
		}
		st, err = os.Lstat(hf.Path)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			hf.Err = errText(err)
		}
		return hf
	}
	hf.ID = identify(hf.Path)
	switch m := st.Mode(); {
	case m.IsRegular():
		hf.Type = model.FileRegular
	case m&os.ModeSymlink != 0:
		hf.Type = model.FileSymlink
	case m.IsDir():
		hf.Type = model.FileDir
	case m&os.ModeNamedPipe != 0:
		hf.Type = model.FileFIFO
	case m&os.ModeSocket != 0:
		hf.Type = model.FileSocket
	default:
		hf.Type = model.FileDevice
	}
	if hf.Type != model.FileRegular {
		return hf
	}
	f, err := os.OpenFile(hf.Path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		hf.Err = errText(err)
		return hf
	}
	defer f.Close()
	if fst, err := f.Stat(); err != nil || !os.SameFile(st, fst) {
		hf.Err = "it changed while virtchain looked at it"
		return hf
	}
	head := make([]byte, qcow2.ProbeLen)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	hf.Format = qcow2.ProbeBytes(head)
	for _, m := range saveMagic {
		if strings.HasPrefix(string(head), m) {
			hf.Format = model.FormatSaveImage
		}
	}
	return hf
}

// identify is the identity of the file p opens, following links; zero when
// it cannot be read.
func identify(p string) model.FileID {
	st, err := os.Stat(p)
	if err != nil {
		return model.FileID{}
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return model.FileID{Dev: uint64(sys.Dev), Ino: sys.Ino}
	}
	return model.FileID{}
}

// managedSaveDir is where libvirt's QEMU driver keeps managed-save images.
const managedSaveDir = "/var/lib/libvirt/qemu/save"

// CleanupFacts gathers what model.PlanCleanup needs about domain's files
// from this host. Over a remote connection it has no Inspect: virtchain
// cannot look at those files, and deletes none.
func (c *Conn) CleanupFacts(ctx context.Context, doms []model.Domain, domain string) (model.CleanupFacts, error) {
	if !c.local {
		return model.CleanupFacts{}, nil
	}
	f := model.CleanupFacts{Inspect: inspectFile, Saved: map[string][]string{}}
	for _, d := range doms {
		if d.Host != "" {
			continue // a peer's domain: its records and save images are on its host
		}
		if d.Name == domain && d.UUID != "" {
			recs, err := leftRecords(d.UUID)
			if err != nil {
				return f, err
			}
			for _, lr := range recs {
				f.Left = append(f.Left, lr.Files...)
			}
		}
		if d.ManagedSave {
			c.managedSaveUsers(d.Name, f.Saved)
		}
	}
	return f, ctx.Err()
}

// managedSaveUsers adds domain's managed-save image, and every image the
// definition saved in it names, to saved.
func (c *Conn) managedSaveUsers(domain string, saved map[string][]string) {
	who := "managed-save image of " + domain
	img := filepath.Join(managedSaveDir, domain+".save")
	saved[img] = append(saved[img], who)
	dom, err := c.virt.LookupDomainByName(domain)
	if err != nil {
		return
	}
	defer dom.Free()
	doc, err := dom.ManagedSaveGetXMLDesc(0)
	if err != nil {
		return
	}
	var x libvirtxml.Domain
	if x.Unmarshal(doc) != nil || x.Devices == nil {
		return
	}
	for _, d := range x.Devices.Disks {
		target := ""
		if d.Target != nil {
			target = " (" + d.Target.Dev + ")"
		}
		src, bs := d.Source, d.BackingStore
		for {
			if src != nil && src.File != nil && src.File.File != "" {
				p := filepath.Clean(src.File.File)
				if !slices.Contains(saved[p], who+target) {
					saved[p] = append(saved[p], who+target)
				}
			}
			if bs == nil {
				break
			}
			src, bs = bs.Source, bs.BackingStore
		}
	}
}

// CleanupResult says what a cleanup did.
type CleanupResult struct {
	RemovedSnapshots []string `json:"removed_snapshots"`
	DeletedFiles     []string `json:"deleted_files"`
	// Kept lists files left in place, each with the reason.
	Kept []string `json:"kept"`
}

// PlanCleanup reads every domain and the host's facts and plans the
// cleanup asked for.
func (c *Conn) PlanCleanup(ctx context.Context, req model.CleanupRequest) (*model.CleanupPlan, error) {
	if !c.local && (req.DeleteFiles || len(req.Files) > 0) {
		// The record a merge leaves names each file by device and inode,
		// and a file is deleted only while it is still that one; libvirt's
		// storage API reports neither. 'orphans --delete' needs no record:
		// it deletes what no domain on any host named uses, as volumes.
		return nil, model.Refuse("over a remote connection virtchain cannot look at the files on "+uriHost(c.uri)+
			" as cleanup needs: it deletes only a file that the record made when the merge started names by device and inode, while it is still that file, and libvirt's storage API reports no device or inode",
			"clean up the metadata alone (without --delete-files and file arguments), then delete the files the merge left with "+
				model.ShellJoin([]string{"virtchain", "-c", c.uri, "orphans", "--delete", "--dry-run", "FILE..."})+
				" and again without --dry-run (it deletes through libvirt's storage API only a file no domain on any host named uses; add --min-age 0 for a file changed within the last hour); or run virtchain on that host")
	}
	doms, peers, err := c.guardDiscover(ctx)
	if err != nil {
		return nil, err
	}
	f, err := c.CleanupFacts(ctx, doms, req.Domain)
	if err != nil {
		return nil, err
	}
	for p, who := range peers.Saved {
		if f.Saved == nil {
			f.Saved = map[string][]string{}
		}
		f.Saved[p] = append(f.Saved[p], who...)
	}
	cp, err := model.PlanCleanup(doms, req, f)
	if err != nil {
		return nil, err
	}
	if err := peers.Apply(&cp.Plan, cp.Files...); err != nil {
		return nil, err
	}
	return cp, nil
}

// Cleanup carries out a cleanup plan: it plans again and refuses when the
// fresh plan differs, then does a metadata-only delete of each stale
// snapshot and deletes the files, each only if it is still the very file
// that was checked.
func (c *Conn) Cleanup(ctx context.Context, cp *model.CleanupPlan) (CleanupResult, error) {
	res := CleanupResult{RemovedSnapshots: []string{}, DeletedFiles: []string{}, Kept: []string{}}
	if cp.Request.Domain == "" {
		cp.Request.Domain = cp.Domain
	}
	fresh, err := c.PlanCleanup(ctx, cp.Request)
	if err != nil {
		return res, err
	}
	if !slices.Equal(fresh.Snapshots, cp.Snapshots) || !slices.Equal(fresh.Files, cp.Files) || !slices.Equal(fresh.IDs, cp.IDs) {
		return res, model.ErrPlanChanged
	}
	res.Kept = append(res.Kept, fresh.Kept...)
	if len(cp.Snapshots) == 0 && len(cp.Files) == 0 {
		return res, nil // nothing changes: nothing to journal
	}
	err = c.journaled(fresh.Base(), func() error { return c.cleanupFresh(cp, &res) })
	return res, err
}

// cleanupFresh carries out a cleanup plan that was just rechecked.
func (c *Conn) cleanupFresh(cp *model.CleanupPlan, res *CleanupResult) (err error) {
	if res.RemovedSnapshots, err = c.removeStale(cp); err != nil {
		return err
	}
	if len(cp.Files) == 0 {
		return nil
	}
	if res.DeletedFiles, err = deleteLeft(cp); err != nil {
		return err
	}
	if uuid := c.domainUUID(cp.Domain); uuid != "" {
		forgetLeft(uuid)
	}
	return nil
}

// removeStale does the metadata-only delete of each of the plan's
// snapshots (and drops their destroyed-point marks); it returns the ones
// removed, also when it stops at an error.
func (c *Conn) removeStale(cp *model.CleanupPlan) ([]string, error) {
	removed := []string{}
	if len(cp.Snapshots) == 0 {
		return removed, nil
	}
	dom, err := c.lookupDomain(cp.Domain)
	if err != nil {
		return removed, err
	}
	defer dom.Free()
	for _, name := range cp.Snapshots {
		snap, err := dom.SnapshotLookupByName(name, 0)
		if err != nil {
			if virtCode(err) == libvirt.ERR_NO_DOMAIN_SNAPSHOT {
				continue // already gone
			}
			return removed, &LibvirtError{Op: "find snapshot " + name + " of " + cp.Domain, Err: err}
		}
		err = deleteMetadataOnly(dom, snap)
		_ = snap.Free()
		if err != nil {
			return removed, &LibvirtError{Op: "remove the metadata of snapshot " + name + " of " + cp.Domain, Err: err}
		}
		if err := dropMarks(dom, name); err != nil {
			return removed, &LibvirtError{Op: "remove the destroyed-point marks of snapshot " + name + " from " + cp.Domain + "'s metadata", Err: err}
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// deleteLeft deletes the plan's files, none unless each is still the very
// file that was checked; it returns the ones deleted, also when it stops
// at an error.
func deleteLeft(cp *model.CleanupPlan) ([]string, error) {
	deleted := []string{}
	for i, f := range cp.Files {
		hf := inspectFile(f)
		if hf.Path != f || hf.Type != model.FileRegular || hf.ID != cp.IDs[i] {
			return deleted, model.ErrPlanChanged
		}
	}
	for _, f := range cp.Files {
		if err := os.Remove(f); err != nil {
			return deleted, &LibvirtError{Op: "delete " + f, Err: err}
		}
		deleted = append(deleted, f)
	}
	return deleted, nil
}

func (c *Conn) domainUUID(name string) string {
	dom, err := c.virt.LookupDomainByName(name)
	if err != nil {
		return ""
	}
	defer dom.Free()
	uuid, _ := dom.GetUUIDString()
	return uuid
}
