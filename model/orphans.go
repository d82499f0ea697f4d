package model

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Orphans are image files that nothing refers to any more: no chain,
// snapshot disk, snapshot point, save image or managed-save image of any
// domain on any connected host. They pile up after failed merges and
// deleted domains. libvirtx finds the images (OrphanFacts per host); the
// rules here decide which are orphans, group them into trees and plan
// their deletion.

// OrphanImage is one qcow2 or raw image found in a folder searched.
type OrphanImage struct {
	// Host is the host whose folder it was found in.
	Host   string `json:"host"`
	Path   string `json:"path"`
	Format string `json:"format"`
	// Backing is the path the image's backing name resolves to; "" for a
	// base (raw, or qcow2 without a backing file).
	Backing     string `json:"backing,omitempty"`
	Allocation  int64  `json:"allocation"`
	VirtualSize int64  `json:"virtual_size"`
	// Modified is the file's modification time; zero when unknown.
	Modified time.Time `json:"modified,omitzero"`
	// Pool is the storage pool it is a volume of, when it was listed
	// through the storage API (a remote host); "" when no pool covers its
	// folder: it was listed, and is deleted, as a volume of a transient
	// pool virtchain makes over the folder and destroys afterwards.
	Pool string `json:"pool,omitempty"`
	// Remote says it was listed over a remote connection: its path is
	// that host's, and only the storage API reaches it.
	Remote bool `json:"remote,omitempty"`
	// ID is a local file's identity; Key a volume's (libvirt's key and
	// what it reports of the file), to tell a file replaced since.
	ID  FileID `json:"-"`
	Key string `json:"-"`
	// Changed is a local file's status change time (ctime): a file made
	// anew under a freed inode number has another one.
	Changed time.Time `json:"-"`
	// SameAs are other paths libvirt reports as the same file (a link or
	// a second name, which a remote connection cannot tell apart).
	SameAs []string `json:"same_as,omitempty"`
}

// OrphanFacts is what one host says: its domains, the images in the
// folders searched there, and who uses files that no domain definition
// shows.
type OrphanFacts struct {
	Host    string
	Remote  bool
	Domains []Domain
	// Folders are the folders searched, sorted.
	Folders []string
	Images  []OrphanImage
	// Saved maps files that a save image uses (a managed-save image, a
	// save image found in a folder, the images their definitions name) to
	// who uses them.
	Saved map[string][]string
	// RefIDs are the identities of the files that domains and save images
	// refer to, read on this machine (local hosts only): an image reached
	// under another path is the same file.
	RefIDs map[FileID]string
	// Unsure names what could not be read and may hide a user: a chain
	// layer that could not be read, a folder that could not be listed.
	Unsure []string
}

// OrphanNode is an orphan with the orphans that it backs.
type OrphanNode struct {
	OrphanImage
	Children []*OrphanNode `json:"children,omitempty"`
	// Free is what deleting it and every orphan above it frees.
	Free int64 `json:"bytes_freed"`
}

// Tree kinds: orphan overlays on top of an image still in use, a whole
// orphaned chain (its base is an orphan too), and orphans on a backing
// file that is neither in use nor found (missing, or outside the folders
// searched).
const (
	OrphanOnUsedBase = "overlay-on-used-base"
	OrphanChain      = "orphaned-chain"
	OrphanOnUnknown  = "backing-not-searched"
)

// OrphanTree is one root orphan with everything above it.
type OrphanTree struct {
	Kind string      `json:"kind"`
	Root *OrphanNode `json:"root"`
	// On is the root's backing file, for OrphanOnUsedBase and
	// OrphanOnUnknown; OnUsers who uses it.
	On      string   `json:"on,omitempty"`
	OnUsers []string `json:"on_users,omitempty"`
	Free    int64    `json:"bytes_freed"`
}

// OrphanReport is every orphan found on the hosts asked.
type OrphanReport struct {
	Hosts   []string     `json:"hosts"`
	Folders []string     `json:"folders"`
	Trees   []OrphanTree `json:"trees"`
	Count   int          `json:"count"`
	Total   int64        `json:"bytes_freed"`
	Unsure  []string     `json:"unsure,omitempty"`
	// Skipped are unused images left out, each with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// Recent are unused images changed within MinAge: maybe still being
	// made (a chain built file by file, a domain not defined yet), so no
	// orphans yet.
	Recent []OrphanImage `json:"recent"`
	MinAge time.Duration `json:"min_age_ns"`

	byKey map[string]*OrphanNode
	users orphanUsers
}

// orphanUsers answers who uses a file, over every host.
type orphanUsers struct {
	refs  Refs
	saved map[string][]string
	ids   map[FileID]string
}

func (u orphanUsers) of(img OrphanImage) []string {
	who := append(u.refs.UsersExcept(img.Path, nil), u.saved[img.Path]...)
	if !img.Remote && img.ID != (FileID{}) {
		if p, ok := u.ids[img.ID]; ok && p != img.Path {
			who = append(who, u.refs.UsersExcept(p, nil)...)
			who = append(who, u.saved[p]...)
			if len(who) == 0 {
				who = append(who, "the same file as "+p)
			}
		}
	}
	sort.Strings(who)
	return dedupe(who)
}

// imageKey names a file on its machine: local hosts share this machine's
// files, a remote host's paths are its own.
func imageKey(img OrphanImage) string {
	if img.Remote {
		return img.Host + "\x00" + img.Path
	}
	return "\x00" + img.Path
}

// DefaultOrphanMinAge is how long an unused image must have been left
// alone to be an orphan: a lab or a script builds a chain file by file
// and defines its domain last, and those files are not orphans.
const DefaultOrphanMinAge = time.Hour

// FindOrphans decides which images found on the hosts are orphans, and
// groups them into trees. A reference by path from a domain on any host
// protects the file of that path on every host: with shared storage it may
// well be the same file. Every unused image counts, however new.
func FindOrphans(hosts []OrphanFacts) *OrphanReport {
	return FindOrphansAt(hosts, time.Time{}, 0)
}

// FindOrphansAt is FindOrphans where an unused image changed after
// now-minAge is Recent, not an orphan (minAge 0: none is).
func FindOrphansAt(hosts []OrphanFacts, now time.Time, minAge time.Duration) *OrphanReport {
	r := &OrphanReport{Hosts: []string{}, Folders: []string{}, Trees: []OrphanTree{}, Recent: []OrphanImage{}, MinAge: minAge, byKey: map[string]*OrphanNode{}}
	r.users = orphanUsers{saved: map[string][]string{}, ids: map[FileID]string{}}
	var all []Domain
	for _, h := range hosts {
		r.Hosts = append(r.Hosts, h.Host)
		for _, d := range h.Domains {
			if len(hosts) > 1 {
				d.Name = h.Host + ":" + d.Name
			}
			all = append(all, d)
		}
		for p, who := range h.Saved {
			r.users.saved[p] = append(r.users.saved[p], who...)
		}
		for id, p := range h.RefIDs {
			r.users.ids[id] = p
		}
		for _, f := range h.Folders {
			r.Folders = append(r.Folders, orphanHostPrefix(hosts, h)+f)
		}
		r.Unsure = append(r.Unsure, h.Unsure...)
	}
	r.users.refs = BuildRefs(all)
	addDataFiles(r.users.refs, all)
	cleanAliases(r.users.refs)
	sort.Strings(r.Folders)
	r.Folders = dedupe(r.Folders)
	for _, h := range hosts {
		for _, img := range h.Images {
			k := imageKey(img)
			if _, seen := r.byKey[k]; seen || len(r.users.of(img)) > 0 {
				continue
			}
			if minAge > 0 && !img.Modified.IsZero() && img.Modified.After(now.Add(-minAge)) {
				r.Recent = append(r.Recent, img)
				continue
			}
			if len(img.SameAs) > 0 {
				if !r.twinUsed(img) {
					r.Skipped = append(r.Skipped, img.Host+":"+img.Path+" is the same file as "+strings.Join(img.SameAs, ", ")+
						" (a link or a second name; over a remote connection virtchain cannot tell which is the file): check and delete it on that host")
				}
				continue
			}
			r.byKey[k] = &OrphanNode{OrphanImage: img}
		}
	}
	r.grow()
	return r
}

// twinUsed reports whether another name of img's file is in use.
func (r *OrphanReport) twinUsed(img OrphanImage) bool {
	for _, p := range img.SameAs {
		if len(r.users.of(OrphanImage{Host: img.Host, Path: p, Remote: img.Remote})) > 0 {
			return true
		}
	}
	return false
}

// orphanHostPrefix names the host before a folder when there are several.
func orphanHostPrefix(hosts []OrphanFacts, h OrphanFacts) string {
	if len(hosts) > 1 {
		return h.Host + ":"
	}
	return ""
}

// cleanAliases files every reference under its cleaned path too: a
// relative backing name is joined as QEMU does ("dir/../base.qcow2"),
// while the folders are listed with clean names. Over a remote connection
// no identity says they are one file; the alias only protects more.
func cleanAliases(refs Refs) {
	for p, rs := range refs {
		if c := filepath.Clean(p); c != p {
			refs[c] = append(refs[c], rs...)
		}
	}
}

// addDataFiles adds each layer's external data file: the layer's data
// lives there, so it is as used as the layer.
func addDataFiles(refs Refs, domains []Domain) {
	for _, d := range domains {
		for _, disk := range d.Disks {
			for _, l := range disk.Layers {
				if l.DataFile == "" {
					continue
				}
				p := l.DataFile
				if !filepath.IsAbs(p) {
					p = filepath.Join(filepath.Dir(l.Path), p)
				}
				refs[p] = append(refs[p], Ref{Domain: d.Name, Target: disk.Target, Kind: "chain"})
			}
		}
	}
}

// grow links each orphan to the orphan it backs onto and builds the trees,
// roots sorted by path.
func (r *OrphanReport) grow() {
	keys := make([]string, 0, len(r.byKey))
	for k := range r.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var roots []*OrphanNode
	for _, k := range keys {
		n := r.byKey[k]
		if parent := r.parent(n); parent != nil {
			parent.Children = append(parent.Children, n)
			continue
		}
		roots = append(roots, n)
	}
	for _, root := range roots {
		t := OrphanTree{Kind: OrphanChain, Root: root}
		if root.Backing != "" {
			t.Kind, t.On = OrphanOnUnknown, root.Backing
			if who := r.users.of(OrphanImage{Path: root.Backing, Host: root.Host, Remote: root.Remote}); len(who) > 0 {
				t.Kind, t.OnUsers = OrphanOnUsedBase, who
			}
		}
		t.Free = sumFree(root, map[*OrphanNode]bool{})
		r.Trees = append(r.Trees, t)
		r.Total += t.Free
	}
	r.Count = len(r.byKey)
	sort.SliceStable(r.Trees, func(i, j int) bool { return r.Trees[i].Root.Path < r.Trees[j].Root.Path })
}

// parent is the orphan n backs onto, nil when there is none; a backing
// loop among orphans is cut where it closes.
func (r *OrphanReport) parent(n *OrphanNode) *OrphanNode {
	p := r.backer(n)
	seen := map[*OrphanNode]bool{n: true}
	for up := p; up != nil; up = r.backer(up) {
		if seen[up] {
			if up == n {
				return nil // n is on a loop: it stays a root
			}
			break
		}
		seen[up] = true
	}
	return p
}

func (r *OrphanReport) backer(n *OrphanNode) *OrphanNode {
	if n.Backing == "" {
		return nil
	}
	return r.byKey[imageKey(OrphanImage{Host: n.Host, Path: n.Backing, Remote: n.Remote})]
}

func sumFree(n *OrphanNode, seen map[*OrphanNode]bool) int64 {
	if seen[n] {
		return 0
	}
	seen[n] = true
	sort.Slice(n.Children, func(i, j int) bool { return n.Children[i].Path < n.Children[j].Path })
	n.Free = n.Allocation
	for _, c := range n.Children {
		n.Free += sumFree(c, seen)
	}
	return n.Free
}

// Orphans lists every orphan, each tree top first (overlays before the
// images they back), trees in order.
func (r *OrphanReport) Orphans() []OrphanImage {
	var out []OrphanImage
	var walk func(n *OrphanNode)
	walk = func(n *OrphanNode) {
		for _, c := range n.Children {
			walk(c)
		}
		out = append(out, n.OrphanImage)
	}
	for _, t := range r.Trees {
		walk(t.Root)
	}
	return out
}

// OrphanQuery says where to look besides the folders searched anyway,
// and how long an unused image must have been left alone.
type OrphanQuery struct {
	Dirs   []string      `json:"dirs,omitempty"`
	MinAge time.Duration `json:"min_age_ns"`
}

// OrphanDeleteRequest asks to delete orphans the query finds: the Files
// named, or All of them.
type OrphanDeleteRequest struct {
	OrphanQuery
	Files []string `json:"files,omitempty"`
	All   bool     `json:"all,omitempty"`
}

// OrphanPlan deletes orphans, overlays before the images they back.
type OrphanPlan struct {
	Plan
	// Delete are exactly the files deleted, in this order.
	Delete []OrphanImage `json:"delete"`
	Free   int64         `json:"bytes_freed"`
	// Request is what was asked, to plan again right before running.
	Request OrphanDeleteRequest `json:"-"`
}

// PlanOrphanDelete plans deleting the orphans asked for. It refuses when
// something could not be read (a user may hide there), when a named file
// is not an orphan, and when a file backs an orphan that stays (it would
// be left without its backing file).
func PlanOrphanDelete(r *OrphanReport, req OrphanDeleteRequest) (*OrphanPlan, error) {
	if !req.All && len(req.Files) == 0 {
		return nil, Refuse("no orphan named to delete", "name the files to delete, or delete every orphan found with --all")
	}
	if len(r.Unsure) > 0 {
		return nil, Refuse("virtchain cannot be sure that nothing uses these files: "+strings.Join(r.Unsure, "; "),
			"fix what could not be read (or leave its domain out of the hosts asked only when it cannot use these folders), then plan again")
	}
	picked := map[string]bool{}
	if req.All {
		for k := range r.byKey {
			picked[k] = true
		}
	}
	for _, f := range req.Files {
		k, err := r.orphanKey(f)
		if err != nil {
			return nil, err
		}
		picked[k] = true
	}
	for k := range picked {
		for _, c := range r.byKey[k].Children {
			if !picked[imageKey(c.OrphanImage)] {
				return nil, Refuse(r.byKey[k].Path+" backs orphan "+c.Path+", which would be left without its backing file",
					"delete "+c.Path+" with it (name both, or use --all), or leave both")
			}
		}
	}
	op := &OrphanPlan{Request: req, Delete: []OrphanImage{}}
	op.Op, op.Domain = "orphans-delete", strings.Join(r.Hosts, ", ")
	for _, img := range r.Orphans() {
		if !picked[imageKey(img)] {
			continue
		}
		op.Delete = append(op.Delete, img)
		op.Free += img.Allocation
		op.addDelete(img, len(r.Hosts) > 1)
	}
	op.Summary = fmt.Sprintf("delete %d orphan image(s), freeing %s", len(op.Delete), FormatBytes(op.Free))
	op.Kept = []string{"every image that a chain, snapshot, snapshot point or save image of a domain on " + strings.Join(r.Hosts, ", ") + " uses"}
	return op, nil
}

func (op *OrphanPlan) addDelete(img OrphanImage, several bool) {
	where := img.Path
	if several || img.Remote {
		where = img.Host + ":" + img.Path
	}
	by := "virtchain"
	cmds := []string{ShellJoin([]string{"rm", "--", img.Path})}
	switch {
	case img.Remote && img.Pool != "":
		by = "libvirt"
		cmds = []string{ShellJoin([]string{"virsh", "vol-delete", "--pool", img.Pool, img.Path})}
	case img.Remote:
		// In no pool: as a volume of a transient pool over its folder,
		// which virtchain makes and destroys around the deletion.
		by = "libvirt"
		cmds = []string{
			ShellJoin([]string{"virsh", "pool-create-as", TransientPoolWord, "dir", "--target", filepath.Dir(img.Path)}),
			ShellJoin([]string{"virsh", "vol-delete", "--pool", TransientPoolWord, img.Path}),
			ShellJoin([]string{"virsh", "pool-destroy", TransientPoolWord}),
		}
	}
	op.Steps = append(op.Steps, fmt.Sprintf("delete %s (%s, frees %s; no domain uses it)", where, img.Format, FormatBytes(img.Allocation)))
	op.Virsh = append(op.Virsh, cmds...)
	op.Files = append(op.Files, FileChange{Path: img.Path, Change: FileDeleted, By: by, Why: "orphan image"})
}

// orphanKey finds the orphan a user named as PATH or HOST:PATH.
func (r *OrphanReport) orphanKey(given string) (string, error) {
	host, p := "", given
	for _, h := range r.Hosts {
		// Host names may hold ":/" themselves (a URI): match them whole.
		if rest, ok := strings.CutPrefix(given, h+":"); ok && filepath.IsAbs(rest) && len(h) > len(host) {
			host, p = h, rest
		}
	}
	if !filepath.IsAbs(p) {
		return "", NotAbsolute("orphan file", given)
	}
	p = filepath.Clean(p)
	var found []string
	for k, n := range r.byKey {
		if n.Path == p && (host == "" || n.Host == host) {
			found = append(found, k)
		}
	}
	sort.Strings(found)
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return "", Refuse(p+" is an orphan on several hosts", "name it as HOST:"+p)
	}
	if who := r.users.of(OrphanImage{Path: p}); len(who) > 0 {
		return "", Refuse(p+" is not an orphan: it is used by "+strings.Join(who, "; "), "leave it")
	}
	for _, img := range r.Recent {
		if img.Path == p {
			return "", Refuse(p+" changed within the last "+r.MinAge.String()+": it may still be in the making (a chain built file by file, a domain not defined yet)",
				"wait, or, when you are sure it is left over, lower --min-age")
		}
	}
	return "", Refuse(p+" is not an orphan image virtchain found in the folders searched",
		"run 'virtchain orphans' to list them; add its folder with --dir DIR")
}

// SameOrphanPlan reports whether a fresh plan deletes exactly the files,
// the very same ones, that the plan shown does.
func SameOrphanPlan(a, b *OrphanPlan) bool {
	if len(a.Delete) != len(b.Delete) {
		return false
	}
	for i := range a.Delete {
		x, y := a.Delete[i], b.Delete[i]
		if x.Host != y.Host || x.Path != y.Path || x.ID != y.ID || !x.Changed.Equal(y.Changed) || x.Key != y.Key || x.Pool != y.Pool || x.Allocation != y.Allocation {
			return false
		}
	}
	return true
}

// TransientPoolWord names, in the virsh equivalent of a remote deletion,
// the transient pool virtchain makes over a folder no pool covers (its
// real name, virtchain-tmp-..., differs on every run).
const TransientPoolWord = "virtchain-tmp"

// OrphanRow is one line of the orphans drawn as trees: a tree's head (the
// base still in use, or the backing file not searched) or an orphan at a
// depth, its tree's root at 0. The CLI and the TUI draw the same rows.
type OrphanRow struct {
	Tree  int
	Depth int
	// Node is the orphan on this row; nil on a head row.
	Node *OrphanNode
	// Head is a head row's text: the file the tree sits on and who uses it.
	Head string
}

// Rows lays the trees out top down, each orphan under the image it backs
// onto, as the chain view shows a chain from its base.
func (r *OrphanReport) Rows() []OrphanRow {
	var out []OrphanRow
	var walk func(t, depth int, n *OrphanNode)
	walk = func(t, depth int, n *OrphanNode) {
		out = append(out, OrphanRow{Tree: t, Depth: depth, Node: n})
		for _, c := range n.Children {
			walk(t, depth+1, c)
		}
	}
	for i, t := range r.Trees {
		depth := 0
		switch t.Kind {
		case OrphanOnUsedBase:
			out = append(out, OrphanRow{Tree: i, Head: t.On + " (in use: " + strings.Join(t.OnUsers, "; ") + ")"})
			depth = 1
		case OrphanOnUnknown:
			out = append(out, OrphanRow{Tree: i, Head: t.On + " (no domain uses it; missing or not in a folder searched)"})
			depth = 1
		}
		walk(i, depth, t.Root)
	}
	return out
}

// KindWords says what a tree is, for a reader.
func (t OrphanTree) KindWords() string {
	switch t.Kind {
	case OrphanOnUsedBase:
		return "orphan overlays on an image in use"
	case OrphanChain:
		return "a whole orphaned chain"
	}
	return "orphans on a backing file not searched"
}

// OrphanDeleteOne is the deletion of the one orphan img as the journal
// records it: each file deleted is its own change, so a deletion that
// stops midway says which files went.
func OrphanDeleteOne(img OrphanImage) *Plan {
	op := &OrphanPlan{}
	op.Op = "orphans-delete"
	op.addDelete(img, img.Remote)
	op.Summary = "delete orphan image " + op.Files[0].Path + ", freeing " + FormatBytes(img.Allocation)
	if img.Remote {
		op.Summary = "delete orphan image " + img.Host + ":" + img.Path + ", freeing " + FormatBytes(img.Allocation)
	}
	return &op.Plan
}
