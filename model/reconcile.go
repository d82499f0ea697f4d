package model

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Reconcile compares d's snapshot metadata with its current chains. A
// snapshot on the line the disks descend from (the current snapshot and
// its ancestors) is stale on each disk whose file is no longer in that
// disk's chain: a commit or pull merged it. A snapshot off that line whose
// files are not in the chain is on a branch a revert kept (Branch), never
// stale. An ancestor whose file a later revert replaced is not stale
// either: its child on the line still reads from the chain. A snapshot
// with a PointMark is stale on that disk wherever it is, since a merge
// wrote over its point and no revert brings that back. Reconcile sets
// Stale and Branch and returns the stale snapshots' names in tree order.
// On libvirt 9.0 a stale snapshot cannot be deleted normally ("could not
// find base disk source in disk source chain"); a metadata-only delete
// removes it.
func Reconcile(d *Domain) []string {
	line, child := snapshotLine(d)
	byName := snapshotsByName(d)
	var stale []string
	for i := range d.Snapshots {
		s := &d.Snapshots[i]
		s.Stale, s.Branch = nil, false
		off := false
		for _, sd := range s.Disks {
			if sd.Kind != "external" || sd.File == "" {
				continue
			}
			disk := d.Disk(sd.Target)
			if disk != nil && disk.Pos(sd.File) >= 0 {
				continue
			}
			off = true
			if line[s.Name] && !lineGoesOn(disk, byName[child[s.Name]], sd.Target) {
				s.Stale = append(s.Stale, sd.Target)
			}
		}
		s.Destroyed = nil
		for _, m := range d.PointMarks {
			if m.Marks(s) {
				s.Destroyed = append(s.Destroyed, m)
				if !containsStr(s.Stale, m.Target) {
					s.Stale = append(s.Stale, m.Target)
				}
			}
		}
		s.Branch = off && !line[s.Name] && len(s.Stale) == 0
		if len(s.Stale) > 0 {
			stale = append(stale, s.Name)
		}
	}
	return stale
}

// lineGoesOn reports whether the line's next snapshot (c, the child on the
// line) has its point for target in the disk's chain. Then the line's
// data is still in the chain, and the parent's file is off it only because
// virtchain's revert to the parent named a new overlay that a revert to c
// replaced.
func lineGoesOn(disk *Disk, c *Snapshot, target string) bool {
	if disk == nil || c == nil {
		return false
	}
	for _, sd := range c.Disks {
		if sd.Target == target && sd.Point != "" {
			return disk.Pos(sd.Point) >= 0
		}
	}
	return false
}

func snapshotsByName(d *Domain) map[string]*Snapshot {
	out := make(map[string]*Snapshot, len(d.Snapshots))
	for i := range d.Snapshots {
		out[d.Snapshots[i].Name] = &d.Snapshots[i]
	}
	return out
}

// snapshotLine names the snapshots on the line the domain's disks descend
// from: the current snapshot and its ancestors. Without a current
// snapshot it takes the snapshots whose overlay is in a chain, and their
// ancestors. child maps a snapshot on the line to its child on the line.
func snapshotLine(d *Domain) (line map[string]bool, child map[string]string) {
	byName := snapshotsByName(d)
	line, child = map[string]bool{}, map[string]string{}
	climb := func(tip string) {
		below := ""
		for n := tip; n != ""; {
			s, ok := byName[n]
			if !ok {
				return
			}
			if _, set := child[n]; below != "" && !set {
				child[n] = below
			}
			if line[n] { // met the line, or a parent cycle
				return
			}
			line[n] = true
			below, n = n, s.Parent
		}
	}
	if _, ok := byName[d.CurrentSnapshot]; ok {
		climb(d.CurrentSnapshot)
		return line, child
	}
	for _, s := range d.Snapshots {
		for _, sd := range s.Disks {
			if disk := d.Disk(sd.Target); sd.Kind == "external" && sd.File != "" && disk != nil && disk.Pos(sd.File) >= 0 {
				climb(s.Name)
				break
			}
		}
	}
	return line, child
}

// ReconcileAll runs Reconcile on every domain.
func ReconcileAll(domains []Domain) {
	for i := range domains {
		Reconcile(&domains[i])
	}
}

// CleanupPlan removes stale snapshot metadata of one domain and, only on
// request, deletes files that left its chains.
type CleanupPlan struct {
	Plan
	// Snapshots are removed with a metadata-only delete, children first.
	Snapshots []string `json:"snapshots"`
	// Files are deleted in this order; each was checked to be a regular
	// image file that left this domain's chains, and referenced by no
	// chain, snapshot or save image of any domain once Snapshots are gone.
	Files []string `json:"files"`
	// IDs are the Files' identities when checked: a file found with
	// another identity right before the deletion is not the one checked.
	IDs []FileID `json:"-"`
	// Request is what was asked, to plan again right before running.
	Request CleanupRequest `json:"-"`
}

// CleanupRequest asks for the cleanup of one domain.
type CleanupRequest struct {
	Domain string
	// Files are files the user names as having left the domain's chains.
	Files []string
	// DeleteFiles deletes the files; without it they are only listed.
	DeleteFiles bool
}

// FileType is what lstat says a path is (a final symbolic link is not
// followed).
type FileType string

// File types. FileAbsent: nothing is there.
const (
	FileRegular FileType = "regular file"
	FileSymlink FileType = "symbolic link"
	FileDir     FileType = "directory"
	FileFIFO    FileType = "named pipe"
	FileDevice  FileType = "device"
	FileSocket  FileType = "socket"
	FileAbsent  FileType = "missing"
)

// FormatSaveImage is the format of a file that libvirt wrote with virsh
// save, managed save or an external checkpoint's memory: a save image,
// never a layer of a chain.
const FormatSaveImage = "libvirt-save"

// FileID names a file whatever path reaches it (device and inode).
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// HostFile is what the host says about one path.
type HostFile struct {
	// Path is the path with the symbolic links of its folders resolved:
	// the file a deletion removes.
	Path string
	Type FileType
	// Format is guessed from a regular file's first bytes: qcow2, raw
	// (anything unrecognised), another image format, or FormatSaveImage.
	Format string
	// ID is the identity of the file the path opens; zero when unknown.
	ID FileID
	// Err says why the path could not be looked at.
	Err string
}

// LeftFile is a file that virtchain recorded, when it started a commit or
// pull on a domain, as leaving that domain's chain.
type LeftFile struct {
	Path string `json:"path"`
	// ID is the file's identity then; zero when it was not known.
	ID FileID `json:"id"`
	// Job says which job: "commit on vda".
	Job string `json:"job"`
}

// CleanupFacts are what the cleanup rule needs from the host. libvirtx
// gathers them; over a remote connection Inspect is nil and no file can
// be deleted.
type CleanupFacts struct {
	// Inspect looks at one path without following a final symbolic link;
	// its ID follows links (the file QEMU would open).
	Inspect func(path string) HostFile
	// Left are the files virtchain recorded as leaving this domain's
	// chains (commits and pulls it started).
	Left []LeftFile
	// Saved maps files that a save image uses (managed-save images, and
	// the images their saved definitions name) to who uses them.
	Saved map[string][]string
}

// PlanCleanup plans the cleanup of a domain after a commit or pull: a
// metadata-only delete of its stale snapshots and, with DeleteFiles, the
// deletion of files that left its chains. A file may go only when it is a
// regular qcow2 or raw image (a stale checkpoint's memory file: a save
// image) that left this domain's chains, as this domain's stale snapshot
// metadata or virtchain's record of a commit or pull says, and that no
// chain, snapshot, snapshot point or save image of any domain uses, by
// path or by identity. A named file that fails any of it refuses the whole
// cleanup; a stale snapshot's file that something still uses is kept.
func PlanCleanup(domains []Domain, req CleanupRequest, f CleanupFacts) (*CleanupPlan, error) {
	var d *Domain
	for i := range domains {
		if domains[i].Name == req.Domain && domains[i].Host == "" {
			d = &domains[i]
		}
	}
	if d == nil {
		return nil, NoDomain(req.Domain)
	}
	// Work on a copy so the caller's snapshots keep their own Stale.
	dc := *d
	dc.Snapshots = append([]Snapshot(nil), d.Snapshots...)
	Reconcile(&dc)

	cp := &CleanupPlan{Request: req}
	cp.Op, cp.Domain = "cleanup", d.Name
	st := staleFiles(&dc, cp)
	if (req.DeleteFiles || len(req.Files) > 0) && f.Inspect == nil {
		return nil, Refuse("virtchain cannot look at the files on this connection's host",
			"run virtchain cleanup on that host, or without file arguments and --delete-files")
	}
	u := cleanupUsers{refs: BuildRefs(domains), domain: d.Name, removing: st.removing, f: f}
	var picks filePicks
	for _, given := range req.Files {
		hf, err := u.leftFile(given, st.candidates, st.memory)
		if err != nil {
			return nil, err
		}
		picks.add(hf)
	}
	for _, c := range st.candidates {
		if err := cp.pickCandidate(c, &u, st.memory[c], &picks); err != nil {
			return nil, err
		}
	}
	cp.listPicks(&picks, st.candidates, &u)
	cp.LeavingChain = st.candidates
	for _, s := range cp.Snapshots {
		cp.Steps = append(cp.Steps, "remove the metadata of snapshot "+s+" ("+staleWhy(&dc, s)+")")
		cp.Virsh = append(cp.Virsh, ShellJoin([]string{"virsh", "snapshot-delete", "--domain", d.Name, s, "--metadata"}))
	}
	for _, p := range cp.Files {
		cp.Steps = append(cp.Steps, "delete "+p+" (it left the chains of "+d.Name+"; no chain, snapshot or save image of any domain uses it)")
		cp.Virsh = append(cp.Virsh, ShellJoin([]string{"rm", "--", p}))
	}
	cp.noteCleanupBitmaps(&dc)
	switch {
	case len(cp.Snapshots) == 0 && len(cp.Files) == 0:
		cp.Summary = "nothing to clean on " + d.Name
	default:
		cp.Summary = fmt.Sprintf("clean %s: %d stale snapshot(s), %d file(s) to delete", d.Name, len(cp.Snapshots), len(cp.Files))
	}
	return cp, nil
}

// stale is what a domain's stale snapshots leave to clean up.
type stale struct {
	// removing names the stale snapshots, whose metadata goes.
	removing map[string]bool
	// candidates are the files they name that left the chains, sorted.
	candidates []string
	// memory marks the candidates that are checkpoint memory (save images).
	memory map[string]bool
}

// staleFiles lists d's stale snapshots in cp (children first) and the
// files they name that left the chains.
func staleFiles(d *Domain, cp *CleanupPlan) stale {
	st := stale{removing: map[string]bool{}, memory: map[string]bool{}}
	for _, s := range d.Snapshots {
		if len(s.Stale) == 0 {
			continue
		}
		st.removing[s.Name] = true
		cp.Snapshots = append([]string{s.Name}, cp.Snapshots...) // children first
		for _, sd := range s.Disks {
			if sd.File != "" && containsStr(s.Stale, sd.Target) && offChain(d, sd) {
				st.candidates = append(st.candidates, filepath.Clean(sd.File))
			}
		}
		// A checkpoint's memory only makes sense with its disks.
		if s.MemoryFile != "" {
			st.candidates = append(st.candidates, filepath.Clean(s.MemoryFile))
			st.memory[filepath.Clean(s.MemoryFile)] = true
		}
		cp.StaleRemoved = append(cp.StaleRemoved, s.Name)
	}
	st.candidates = dedupe(st.candidates)
	sort.Strings(st.candidates)
	return st
}

// filePicks are the files a cleanup may delete, each once.
type filePicks struct {
	files  []HostFile
	picked map[string]bool
}

func (fp *filePicks) add(hf HostFile) {
	if fp.picked == nil {
		fp.picked = map[string]bool{}
	}
	if !fp.picked[hf.Path] {
		fp.picked[hf.Path] = true
		fp.files = append(fp.files, HostFile{Path: hf.Path, ID: hf.ID})
	}
}

// pickCandidate decides about one file a stale snapshot names: kept while
// something uses it, else (with DeleteFiles) picked once checked to be the
// kind of file its snapshot made.
func (cp *CleanupPlan) pickCandidate(c string, u *cleanupUsers, memory bool, picks *filePicks) error {
	if users := u.byPath(c); len(users) > 0 {
		cp.Kept = append(cp.Kept, c+" (used by "+strings.Join(users, "; ")+")")
		return nil
	}
	if !cp.Request.DeleteFiles {
		return nil
	}
	hf := u.f.Inspect(c)
	if hf.Type == FileAbsent {
		cp.Kept = append(cp.Kept, c+" (already gone)")
		return nil
	}
	kind := fileOverlay
	if memory {
		kind = fileMemory
	}
	if err := deletableFile(c, hf, kind); err != nil {
		return err
	}
	if users := u.all(hf); len(users) > 0 {
		cp.Kept = append(cp.Kept, c+" (used by "+strings.Join(users, "; ")+")")
		return nil
	}
	picks.add(hf)
	return nil
}

// listPicks puts the picked files in the plan: to delete with
// DeleteFiles, else kept with the flag that would delete them.
func (cp *CleanupPlan) listPicks(picks *filePicks, candidates []string, u *cleanupUsers) {
	files := picks.files
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, p := range files {
		if cp.Request.DeleteFiles {
			cp.Files = append(cp.Files, p.Path)
			cp.IDs = append(cp.IDs, p.ID)
		} else {
			cp.Kept = append(cp.Kept, p.Path+" (left the chain; delete with --delete-files)")
		}
	}
	if cp.Request.DeleteFiles {
		return
	}
	for _, c := range candidates {
		if len(u.byPath(c)) == 0 && !picks.picked[c] {
			cp.Kept = append(cp.Kept, c+" (left the chain; delete with --delete-files)")
		}
	}
}

// cleanupUsers answers who still uses a file, leaving out the snapshots a
// cleanup removes.
type cleanupUsers struct {
	refs     Refs
	domain   string
	removing map[string]bool
	f        CleanupFacts
	ids      map[FileID][]string
}

func (u *cleanupUsers) byPath(p string) []string {
	users := u.refs.UsersExcept(p, func(r Ref) bool { return r.Domain == u.domain && r.Snapshot != "" && u.removing[r.Snapshot] })
	return append(users, u.f.Saved[p]...)
}

// all is byPath for the file's path as given and as resolved, and every
// user of a file with the same identity under another path.
func (u *cleanupUsers) all(hf HostFile) []string {
	users := u.byPath(hf.Path)
	if hf.ID != (FileID{}) {
		if u.ids == nil {
			u.ids = map[FileID][]string{}
			paths := make([]string, 0, len(u.refs)+len(u.f.Saved))
			for p := range u.refs {
				paths = append(paths, p)
			}
			for p := range u.f.Saved {
				paths = append(paths, p)
			}
			for _, p := range paths {
				if who := u.byPath(p); len(who) > 0 {
					if id := u.f.Inspect(p).ID; id != (FileID{}) {
						u.ids[id] = append(u.ids[id], who...)
					}
				}
			}
		}
		users = append(users, u.ids[hf.ID]...)
	}
	sort.Strings(users)
	return dedupe(users)
}

// leftFile checks a file the user named: it must be a regular image file
// that left this domain's chains and that nothing uses.
func (u *cleanupUsers) leftFile(given string, candidates []string, memory map[string]bool) (HostFile, error) {
	p := filepath.Clean(given)
	if !filepath.IsAbs(p) {
		return HostFile{}, Refuse("file "+given+" is not an absolute path", "give the full path a commit or pull listed")
	}
	hf := u.f.Inspect(p)
	recorded := false
	for _, l := range u.f.Left {
		if (l.Path == p || l.Path == hf.Path) && (l.ID == FileID{} || l.ID == hf.ID) {
			recorded = true
		}
	}
	named := containsStr(candidates, p) || containsStr(candidates, hf.Path)
	kind := fileLayer
	switch {
	case memory[p] || memory[hf.Path]:
		kind = fileMemory
	case named && !recorded:
		kind = fileOverlay
	}
	if err := deletableFile(p, hf, kind); err != nil {
		return hf, err
	}
	if users := dedupe(append(u.all(hf), u.byPath(p)...)); len(users) > 0 {
		sort.Strings(users)
		return hf, RefuseDo(fmt.Sprintf("%s is still used by %s", p, strings.Join(users, "; ")),
			Words("leave it, or first merge those chains or remove those snapshots ("), Do(DoDeleteMetadata, "DOMAIN", "NAME"), Words(")"))
	}
	if !named && !recorded {
		return hf, Refuse(p+" did not leave the chains of "+u.domain+": no stale snapshot of "+u.domain+" names it, and virtchain recorded no commit or pull of "+u.domain+" that took it out",
			"give only files that 'virtchain commit' or 'pull' listed as leaving the chain (a file another tool took out: check it and delete it yourself)")
	}
	return hf, nil
}

// What a file to delete must be: a layer that left a chain (qcow2 or
// raw), the overlay an external snapshot made (libvirt makes them qcow2),
// or a checkpoint's memory (a save image).
const (
	fileLayer   = "layer"
	fileOverlay = "overlay"
	fileMemory  = "memory"
)

// deletableFile refuses what is not a regular file of the kind wanted: a
// link, a folder, a pipe or device, a save image (but for a checkpoint's
// memory), or an image format no chain of virtchain's holds.
func deletableFile(p string, hf HostFile, kind string) error {
	const fix = "virtchain deletes only image files that left a chain; leave it, or delete it yourself"
	switch {
	case hf.Err != "":
		return Refuse("cannot look at "+p+": "+hf.Err, "check the path")
	case hf.Type == FileAbsent:
		return Refuse(p+" does not exist", "check the path; a file deleted already needs no cleanup")
	case hf.Type != FileRegular:
		return Refuse(p+" is a "+string(hf.Type)+", not an image file", fix)
	case kind == fileMemory:
		if hf.Format != FormatSaveImage {
			return Refuse(p+" is not the memory image its checkpoint wrote (it holds "+hf.Format+" data)", fix)
		}
	case hf.Format == FormatSaveImage:
		return Refuse(p+" is a libvirt save image (virsh save, managed save or checkpoint memory), not a layer that left a chain",
			"restore it, or remove it with 'virsh managedsave-remove' or by hand once you are sure")
	case kind == fileOverlay && hf.Format != "qcow2":
		return Refuse(p+" is not the qcow2 overlay its snapshot made (it holds "+hf.Format+" data)", fix)
	case hf.Format != "qcow2" && hf.Format != "raw":
		return Refuse(p+" is a "+hf.Format+" image, not a qcow2 or raw layer", fix)
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
