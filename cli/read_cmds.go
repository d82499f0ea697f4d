package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"virtchain/model"
)

// The read commands: list, chain, snapshots. They change nothing.

type listOptions struct{ Env *Env }

// NewCmdList builds `virtchain list`.
func NewCmdList(env *Env) *cobra.Command {
	opts := &listOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "list",
		Short: "every domain with its state, disks, deepest chain and snapshot count",
		JSON:  true,
	}, nil, func([]string) error { return runList(opts) })
}

type chainOptions struct {
	Env    *Env
	Domain string
	Target string
	// OneDisk says TARGET was given: an empty one names no disk, as
	// before, rather than every disk.
	OneDisk bool
}

// NewCmdChain builds `virtchain chain DOMAIN [TARGET]`.
func NewCmdChain(env *Env) *cobra.Command {
	opts := &chainOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "chain DOMAIN [TARGET]",
		OnDomain: true,
		Short:    "the backing chain of each disk (or of TARGET), active layer first",
		Long: "Each layer shows its index (vda[N], from the live XML of a running domain),\n" +
			"path, format, virtual size, allocation, the external snapshot that created it,\n" +
			"the internal snapshots stored in it, and any problem. A broken chain is shown,\n" +
			"not an error: the command still exits 0.",
		JSON:     true,
		Complete: []completer{completeDomain, completeDisk},
	}, nil, func(args []string) error {
		opts.Domain, opts.Target, opts.OneDisk = args[0], "", len(args) == 2
		if opts.OneDisk {
			opts.Target = args[1]
		}
		return runChain(opts)
	})
}

type snapshotsOptions struct {
	Env    *Env
	Domain string
}

// NewCmdSnapshots builds `virtchain snapshots DOMAIN`.
func NewCmdSnapshots(env *Env) *cobra.Command {
	opts := &snapshotsOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "snapshots DOMAIN",
		OnDomain: true,
		Short:    "the domain's snapshot tree, with the current snapshot marked",
		JSON:     true,
		Complete: []completer{completeDomain},
	}, nil, func(args []string) error {
		opts.Domain = args[0]
		return runSnapshots(opts)
	})
}

// listJSON is the contract of `virtchain list --json`.
type listJSON struct {
	URI     string         `json:"uri"`
	Domains []model.Domain `json:"domains"`
}

// chainJSON is the contract of `virtchain chain --json`.
type chainJSON struct {
	Domain string       `json:"domain"`
	Disks  []model.Disk `json:"disks"`
	// Checkpoints are the domain's libvirt checkpoints, parents first.
	Checkpoints []model.Checkpoint `json:"checkpoints"`
}

// snapshotsJSON is the contract of `virtchain snapshots --json`.
type snapshotsJSON struct {
	Domain    string           `json:"domain"`
	Current   string           `json:"current"`
	Snapshots []model.Snapshot `json:"snapshots"`
}

// normalizeDomain makes every list in the JSON contract an array, never
// null, whatever discovery left nil.
func normalizeDomain(d model.Domain) model.Domain {
	if d.Disks == nil {
		d.Disks = []model.Disk{}
	}
	for i := range d.Disks {
		d.Disks[i] = normalizeDisk(d.Disks[i])
	}
	if d.Snapshots == nil {
		d.Snapshots = []model.Snapshot{}
	}
	if d.Checkpoints == nil {
		d.Checkpoints = []model.Checkpoint{}
	}
	for i := range d.Checkpoints {
		if d.Checkpoints[i].Disks == nil {
			d.Checkpoints[i].Disks = []model.CheckpointDisk{}
		}
	}
	for i := range d.Snapshots {
		if d.Snapshots[i].Disks == nil {
			d.Snapshots[i].Disks = []model.SnapshotDisk{}
		}
	}
	return d
}

func normalizeDisk(d model.Disk) model.Disk {
	if d.Layers == nil {
		d.Layers = []model.Layer{}
	}
	for i := range d.Layers {
		if d.Layers[i].InternalSnapshots == nil {
			d.Layers[i].InternalSnapshots = []string{}
		}
		if d.Layers[i].Bitmaps == nil {
			d.Layers[i].Bitmaps = []model.Bitmap{}
		}
	}
	return d
}

func runList(opts *listOptions) error {
	env := opts.Env
	env.readOnce()
	if len(env.multi) > 1 {
		return runListHosts(env)
	}
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	doms, err := conn.Discover(env.Ctx)
	if err != nil {
		return err
	}
	out := listJSON{URI: conn.URI(), Domains: make([]model.Domain, 0, len(doms))}
	for _, d := range doms {
		out.Domains = append(out.Domains, normalizeDomain(d))
	}
	if env.JSON {
		return writeListJSON(env.Stdout, out)
	}
	return writeList(env.Stdout, out)
}

func writeList(w io.Writer, l listJSON) error {
	if len(l.Domains) == 0 {
		printf(w, "No domains on %s.\n", l.URI)
		return nil
	}
	t := newTable(w, "NAME", "STATE", "PERSISTENT", "MANAGED SAVE", "DISKS", "DEEPEST CHAIN", "SNAPSHOTS", "PROBLEM")
	for _, d := range l.Domains {
		t.Row(d.Name, string(d.State), yesNo(d.Persistent), yesNo(d.ManagedSave),
			strconv.Itoa(len(d.Disks)), strconv.Itoa(d.DeepestChain()),
			strconv.Itoa(len(d.Snapshots)), orDash(domainProblem(d)))
	}
	return t.Flush()
}

// domainProblem is the first thing wrong with a domain, for the list.
func domainProblem(d model.Domain) string {
	if d.Problem != "" {
		return d.Problem
	}
	for _, disk := range d.Disks {
		for _, l := range disk.Layers {
			if l.Problem != "" {
				return disk.Target + ": " + l.Problem
			}
		}
	}
	return ""
}

// discoverDomain reads one domain. libvirtx already words "no such domain"
// as one line that says how to list them.
func discoverDomain(env *Env, name string) (model.Domain, error) {
	conn, err := env.Conn()
	if err != nil {
		return model.Domain{}, err
	}
	d, err := conn.DiscoverDomain(env.Ctx, name)
	if err != nil {
		return model.Domain{}, err
	}
	return normalizeDomain(d), nil
}

func runChain(opts *chainOptions) error {
	env := opts.Env
	env.readOnce()
	d, err := discoverDomain(env, opts.Domain)
	if err != nil {
		return err
	}
	out := chainJSON{Domain: d.Name, Disks: d.Disks, Checkpoints: d.Checkpoints}
	if opts.OneDisk {
		disk := d.Disk(opts.Target)
		if disk == nil {
			return model.NoDisk(&d, opts.Target)
		}
		out.Disks = []model.Disk{*disk}
	}
	return env.Emit(out, func(w io.Writer) error { return writeChain(w, out) })
}

// writeChain draws each disk's chain as a vertical tree, the active layer
// first: a line with the index and path, and an indented line of details.
func writeChain(w io.Writer, c chainJSON) error {
	var b strings.Builder
	if len(c.Disks) == 0 {
		printf(&b, "Domain %s has no disks.\n", c.Domain)
	}
	for i, disk := range c.Disks {
		if i > 0 {
			b.WriteString("\n")
		}
		writeDisk(&b, c.Domain, disk)
	}
	writeCheckpoints(&b, c.Checkpoints)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDisk draws one disk: its head line, then each layer.
func writeDisk(b *strings.Builder, domain string, disk model.Disk) {
	layers := "layers"
	if len(disk.Layers) == 1 {
		layers = "layer"
	}
	printf(b, "%s %s", domain, disk.Target)
	if head := diskHead(disk); len(head) > 0 {
		printf(b, " (%s)", strings.Join(head, ", "))
	}
	printf(b, ": %d %s\n", len(disk.Layers), layers)
	if len(disk.Layers) == 0 {
		printf(b, "  no image (%s)\n", orDash(disk.Source))
	}
	for j, l := range disk.Layers {
		last := j == len(disk.Layers)-1
		branch, stem := "├─ ", "│    "
		if last {
			branch, stem = "└─ ", "     "
		}
		// No index (shut-off domain): show none rather than invent one.
		idx := l.IndexString(disk.Target)
		if idx != "" {
			idx += "  "
		}
		printf(b, "  %s%s%s%s\n", branch, idx, l.Path, layerRole(l, j == 0, last))
		printf(b, "  %s%s\n", stem, layerDetails(l))
		if len(l.Bitmaps) > 0 || l.BitmapsProblem != "" {
			printf(b, "  %s%s\n", stem, layerBitmaps(l))
		}
		if l.Problem != "" {
			printf(b, "  %s! %s\n", stem, l.Problem)
		}
	}
}

// diskHead is what a disk's head line says about it: device, bus, source
// type, readonly, shareable.
func diskHead(disk model.Disk) []string {
	head := []string{}
	for _, s := range []string{disk.Device, disk.Bus, disk.SourceType} {
		if s != "" {
			head = append(head, s)
		}
	}
	if disk.ReadOnly {
		head = append(head, "readonly")
	}
	if disk.Shareable {
		head = append(head, "shareable")
	}
	return head
}

// layerRole marks the active layer and the base. A broken bottom layer is
// not called the base: its header could not say whether it has a backing
// file.
func layerRole(l model.Layer, first, last bool) string {
	switch {
	case first && last && l.Problem == "":
		return "  [active, base]"
	case first:
		return "  [active]"
	case last && l.Problem == "":
		return "  [base]"
	}
	return ""
}

func layerDetails(l model.Layer) string {
	parts := []string{orDash(l.Format)}
	if l.VirtualSize > 0 {
		parts = append(parts, model.FormatBytes(l.VirtualSize)+" virtual")
	}
	parts = append(parts, model.FormatBytes(l.Allocation)+" allocated")
	if l.CreatedBySnapshot != "" {
		parts = append(parts, "created by snapshot "+l.CreatedBySnapshot)
	}
	if len(l.InternalSnapshots) > 0 {
		parts = append(parts, "internal snapshots: "+strings.Join(l.InternalSnapshots, ", "))
	}
	if l.Dirty {
		parts = append(parts, "dirty")
	}
	if l.Corrupt {
		parts = append(parts, "CORRUPT")
	}
	if l.DataFile != "" {
		parts = append(parts, "data file "+l.DataFile)
	}
	return strings.Join(parts, ", ")
}

func runSnapshots(opts *snapshotsOptions) error {
	env := opts.Env
	env.readOnce()
	d, err := discoverDomain(env, opts.Domain)
	if err != nil {
		return err
	}
	out := snapshotsJSON{Domain: d.Name, Current: d.CurrentSnapshot, Snapshots: d.Snapshots}
	return env.Emit(out, func(w io.Writer) error { return writeSnapshots(w, out) })
}

// writeSnapshots prints the tree as `virsh snapshot-list --tree` does, as
// the first column of a table of kind, memory, state and creation time.
func writeSnapshots(w io.Writer, s snapshotsJSON) error {
	if len(s.Snapshots) == 0 {
		printf(w, "Domain %s has no snapshots.\n", s.Domain)
		return nil
	}
	roots, children := snapshotForest(s.Snapshots)
	t := newTable(w, "NAME", "KIND", "MEMORY", "STATE", "CREATED", "DISKS", "STATUS", "DESCRIPTION")
	anyStale, anyBranch := false, false
	seen := map[int]bool{}
	var walk func(i int, prefix, branch string)
	walk = func(i int, prefix, branch string) {
		if seen[i] { // metadata can be inconsistent; never loop
			return
		}
		seen[i] = true
		sn := s.Snapshots[i]
		name := prefix + branch + sn.Name
		if sn.Name == s.Current {
			name += " *"
		}
		status := "-"
		switch {
		case len(sn.Stale) > 0:
			status, anyStale = "stale: "+strings.Join(sn.Stale, ","), true
		case sn.Branch:
			status, anyBranch = "branch", true
		}
		t.Row(name, string(sn.Kind), string(sn.Memory), orDash(sn.State), createdText(sn),
			snapshotDisks(sn), status, orDash(sn.Description))
		kids := children[sn.Name]
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for k, c := range kids {
			b := "├─ "
			if k == len(kids)-1 {
				b = "└─ "
			}
			walk(c, next, b)
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if s.Current != "" {
		printf(w, "\n* current snapshot: %s\n", s.Current)
	}
	if anyStale {
		printf(w, "stale: a commit or pull merged those disks' files away or wrote over the snapshot's point, so it cannot be reverted; 'virtchain cleanup %s' removes the metadata\n", model.ShellQuote(s.Domain))
	}
	if anyBranch {
		if _, err := fmt.Fprintln(w, "branch: a newer branch a revert kept; its files stay on disk"); err != nil {
			return err
		}
	}
	return nil
}

// snapshotForest finds the roots of the snapshot tree (a snapshot whose
// parent is missing is one) and each snapshot's children, by index.
func snapshotForest(snaps []model.Snapshot) (roots []int, children map[string][]int) {
	byName := map[string]bool{}
	for _, sn := range snaps {
		byName[sn.Name] = true
	}
	children = map[string][]int{}
	for i, sn := range snaps {
		if sn.Parent == "" || !byName[sn.Parent] {
			roots = append(roots, i)
		} else {
			children[sn.Parent] = append(children[sn.Parent], i)
		}
	}
	return roots, children
}

func createdText(sn model.Snapshot) string {
	if sn.Created.IsZero() {
		return "-"
	}
	return sn.Created.Local().Format(time.DateTime)
}

// snapshotDisks summarises a snapshot's disks: "vda=external", with the
// memory file when there is one.
func snapshotDisks(sn model.Snapshot) string {
	var parts []string
	for _, d := range sn.Disks {
		parts = append(parts, d.Target+"="+orDash(d.Kind))
	}
	if sn.MemoryFile != "" {
		parts = append(parts, "memory="+sn.MemoryFile)
	}
	return orDash(strings.Join(parts, " "))
}

// layerBitmaps is a layer's line of persistent dirty bitmaps: each name
// with its granularity, whether it records writes, its checkpoint, and
// where the entry was read when not from a closed image.
func layerBitmaps(l model.Layer) string {
	parts := make([]string, 0, len(l.Bitmaps))
	for _, bm := range l.Bitmaps {
		var about []string
		if bm.Granularity > 0 {
			about = append(about, model.FormatBytes(bm.Granularity))
		}
		if !bm.Enabled {
			about = append(about, "disabled")
		}
		if bm.Checkpoint != "" {
			about = append(about, "checkpoint "+bm.Checkpoint)
		}
		switch bm.Source {
		case model.BitmapFromImageInUse:
			about = append(about, "in use by QEMU: the image's copy may be stale")
		case model.BitmapFromQEMU:
			about = append(about, "held by QEMU, not in the image yet")
		}
		s := bm.Name
		if len(about) > 0 {
			s += " (" + strings.Join(about, ", ") + ")"
		}
		parts = append(parts, s)
	}
	out := "bitmaps: " + strings.Join(parts, "; ")
	if l.BitmapsProblem != "" {
		if len(parts) == 0 {
			return "bitmaps: " + l.BitmapsProblem
		}
		out += "; " + l.BitmapsProblem
	}
	return out
}

// writeCheckpoints lists the domain's checkpoints under its chains.
func writeCheckpoints(b *strings.Builder, cps []model.Checkpoint) {
	if len(cps) == 0 {
		return
	}
	printf(b, "\nCheckpoints (%d):\n", len(cps))
	for _, c := range cps {
		var disks []string
		for _, d := range c.Disks {
			if d.Kind == "bitmap" {
				disks = append(disks, d.Target+" bitmap "+d.Bitmap)
			}
		}
		line := "  " + c.Name
		if !c.Created.IsZero() {
			line += "  " + c.Created.Local().Format("2006-01-02 15:04:05")
		}
		if len(disks) > 0 {
			line += "  " + strings.Join(disks, ", ")
		}
		if len(c.Broken) > 0 {
			line += "  ! bitmap in no layer of " + strings.Join(c.Broken, ", ") + ": a backup from it fails; back up in full"
		}
		printf(b, "%s\n", line)
	}
}
