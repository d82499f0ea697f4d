package libvirtx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/assets"
	"virtchain/model"
)

// Lab defaults.
const (
	DefaultLabPrefix = "lab-"
	DefaultLabDir    = "/var/lib/libvirt/images/virtchain-lab"
)

// Marker files in the lab folder. labMarker is written first, so `lab down`
// knows the folder is the lab's and may delete it; labComplete is written
// last, so `lab up` can tell a finished lab from one that failed halfway.
const (
	labMarker   = ".virtchain-lab"
	labComplete = ".virtchain-lab-complete"
)

// LabOptions says where the demo lab lives.
type LabOptions struct {
	// Prefix starts the name of every lab domain ("lab-" by default).
	Prefix string
	// Dir holds every image of the lab (DefaultLabDir by default). It must
	// be absolute; it is made mode 0755 so QEMU (libvirt-qemu) can traverse it.
	Dir string
	// Log receives short progress lines; nil discards them.
	Log io.Writer
	// Only, when set, builds just these lab domains (names without the
	// prefix, such as "test2") and the images they need: a test that
	// reshapes one domain gets a fresh copy in seconds.
	Only []string
}

func (o LabOptions) withDefaults() (LabOptions, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultLabPrefix
	}
	if o.Dir == "" {
		o.Dir = DefaultLabDir
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if !filepath.IsAbs(o.Dir) {
		return o, fmt.Errorf("lab folder %q is not an absolute path: pass an absolute one", o.Dir)
	}
	o.Dir = filepath.Clean(o.Dir)
	if o.Dir == "/" {
		return o, errors.New("lab folder / is not allowed: pass a folder of its own")
	}
	return o, nil
}

func (o LabOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "lab: "+format+"\n", args...)
}

// labSpec is assets/lab/lab.json.
type labSpec struct {
	Images  []labImage  `json:"images"`
	Domains []labDomain `json:"domains"`
}

type labImage struct {
	File    string   `json:"file"`
	Size    string   `json:"size"`    // for a base image
	Backing string   `json:"backing"` // file name in the lab folder, stored relative
	Writes  []string `json:"writes"`  // "PATTERN OFFSET LENGTH" in qemu-io syntax
}

type labDomain struct {
	Name  string    `json:"name"`
	About string    `json:"about"`
	Disks []labDisk `json:"disks"`
	Steps []labStep `json:"steps"`
}

type labDisk struct {
	Target string `json:"target"`
	Image  string `json:"image"`
}

// labStep does one thing: start the domain, take a snapshot (internal, or
// external when External maps targets to overlay files), revert to a
// snapshot, or write patterns into disks' active layers.
type labStep struct {
	Start       bool                `json:"start"`
	Snapshot    string              `json:"snapshot"`
	Description string              `json:"description"`
	External    map[string]string   `json:"external"`
	Revert      string              `json:"revert"`
	Write       map[string][]string `json:"write"`
}

var (
	labSizeRe    = regexp.MustCompile(`^[0-9]+[KMG]?$`)
	labPatternRe = regexp.MustCompile(`^0x[0-9a-fA-F]{1,2}$`)
	labFileRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// loadLabSpec parses and checks the embedded lab description, so a typo in
// the asset fails before anything is created.
func loadLabSpec() (labSpec, error) {
	var s labSpec
	dec := json.NewDecoder(bytes.NewReader(assets.LabJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("assets/lab/lab.json: %w", err)
	}
	images := map[string]bool{}
	for _, img := range s.Images {
		if !labFileRe.MatchString(img.File) || images[img.File] {
			return s, fmt.Errorf("assets/lab/lab.json: bad or repeated image file %q", img.File)
		}
		if (img.Backing == "") == (img.Size == "") || (img.Size != "" && !labSizeRe.MatchString(img.Size)) {
			return s, fmt.Errorf("assets/lab/lab.json: image %s needs either a size or a backing image", img.File)
		}
		if img.Backing != "" && !images[img.Backing] {
			return s, fmt.Errorf("assets/lab/lab.json: image %s is backed by %q, which is not listed before it", img.File, img.Backing)
		}
		for _, w := range img.Writes {
			if _, err := parseLabWrite(w); err != nil {
				return s, fmt.Errorf("assets/lab/lab.json: image %s: %w", img.File, err)
			}
		}
		images[img.File] = true
	}
	names := map[string]bool{}
	for _, d := range s.Domains {
		if !labFileRe.MatchString(d.Name) || names[d.Name] {
			return s, fmt.Errorf("assets/lab/lab.json: bad or repeated domain name %q", d.Name)
		}
		names[d.Name] = true
		targets := map[string]bool{}
		for _, disk := range d.Disks {
			if !images[disk.Image] || disk.Target == "" {
				return s, fmt.Errorf("assets/lab/lab.json: domain %s: disk %q uses unknown image %q", d.Name, disk.Target, disk.Image)
			}
			targets[disk.Target] = true
		}
		for _, st := range d.Steps {
			for t, f := range st.External {
				if !targets[t] || !labFileRe.MatchString(f) || images[f] {
					return s, fmt.Errorf("assets/lab/lab.json: domain %s: snapshot %s: bad overlay %s=%q", d.Name, st.Snapshot, t, f)
				}
				images[f] = true
			}
			for t, ws := range st.Write {
				if !targets[t] {
					return s, fmt.Errorf("assets/lab/lab.json: domain %s: write to unknown disk %q", d.Name, t)
				}
				for _, w := range ws {
					if _, err := parseLabWrite(w); err != nil {
						return s, fmt.Errorf("assets/lab/lab.json: domain %s: %w", d.Name, err)
					}
				}
			}
		}
	}
	return s, nil
}

// labWrite is one qemu-io pattern write.
type labWrite struct{ Pattern, Offset, Length string }

func parseLabWrite(s string) (labWrite, error) {
	f := strings.Fields(s)
	if len(f) != 3 || !labPatternRe.MatchString(f[0]) || !labSizeRe.MatchString(f[1]) || !labSizeRe.MatchString(f[2]) {
		return labWrite{}, fmt.Errorf("bad write %q: want \"0xNN OFFSET LENGTH\"", s)
	}
	return labWrite{f[0], f[1], f[2]}, nil
}

func (w labWrite) command(op string) string {
	return op + " -P " + w.Pattern + " " + w.Offset + " " + w.Length
}

// downCommand is the `virtchain lab down` that removes this lab: with the
// flags when they are not the defaults, so a copied hint never takes down
// the demo lab instead of a custom one.
func (o LabOptions) downCommand() string {
	cmd := "virtchain lab down"
	if o.Prefix != DefaultLabPrefix {
		cmd += " --prefix " + o.Prefix
	}
	if o.Dir != DefaultLabDir {
		cmd += " --dir " + o.Dir
	}
	return "`" + cmd + "`"
}

// LabDomainNames lists the names of the lab's domains for a prefix, in the
// order `lab up` builds them.
func LabDomainNames(prefix string) []string {
	if prefix == "" {
		prefix = DefaultLabPrefix
	}
	s, err := loadLabSpec()
	if err != nil {
		return nil
	}
	out := make([]string, len(s.Domains))
	for i, d := range s.Domains {
		out[i] = prefix + d.Name
	}
	return out
}

// LabUp builds the demo lab on this connection's (local) libvirt: images in
// opts.Dir, domains named opts.Prefix+name, their chains and snapshot trees.
// When the lab is already complete it says so and changes nothing; when a
// part of one exists (an earlier `up` failed) it refuses and names
// `virtchain lab down`.
func (c *Conn) LabUp(ctx context.Context, opts LabOptions) error {
	opts, err := c.labPrepare("up", opts)
	if err != nil {
		return err
	}
	spec, err := loadLabSpec()
	if err != nil {
		return err
	}
	if len(opts.Only) > 0 {
		if spec, err = spec.only(opts.Only); err != nil {
			return fmt.Errorf("lab up: %w", err)
		}
	}
	return c.labUp(ctx, opts, spec)
}

// only narrows the lab to some domains and the images their chains need.
func (s labSpec) only(names []string) (labSpec, error) {
	var out labSpec
	need := map[string]bool{}
	for _, n := range names {
		i := slices.IndexFunc(s.Domains, func(d labDomain) bool { return d.Name == n })
		if i < 0 {
			var have []string
			for _, d := range s.Domains {
				have = append(have, d.Name)
			}
			return out, fmt.Errorf("the lab has no domain %q (it has %s)", n, strings.Join(have, ", "))
		}
		out.Domains = append(out.Domains, s.Domains[i])
		for _, d := range s.Domains[i].Disks {
			need[d.Image] = true
		}
	}
	// Images list backing images first, so walking backwards pulls in
	// every base a needed image names.
	for i := len(s.Images) - 1; i >= 0; i-- {
		if need[s.Images[i].File] && s.Images[i].Backing != "" {
			need[s.Images[i].Backing] = true
		}
	}
	for _, img := range s.Images {
		if need[img.File] {
			out.Images = append(out.Images, img)
		}
	}
	return out, nil
}

// FleetOptions shapes a synthetic fleet for benchmarks: Domains domains,
// each with Disks virtio disks whose chains are Depth layers deep (made
// with qemu-img create -b, no data), the first Running of them started.
type FleetOptions struct {
	Domains, Disks, Depth, Running int
}

// FleetUp builds a benchmark fleet the way LabUp builds the lab: domains
// opts.Prefix+NN from the lab's domain template, images in opts.Dir.
// LabDown with the same options removes it.
func (c *Conn) FleetUp(ctx context.Context, opts LabOptions, f FleetOptions) error {
	opts, err := c.labPrepare("fleet up", opts)
	if err != nil {
		return err
	}
	if f.Domains < 1 || f.Disks < 1 || f.Disks > 26 || f.Depth < 1 || f.Running < 0 || f.Running > f.Domains {
		return fmt.Errorf("fleet up: bad shape %+v", f)
	}
	var spec labSpec
	for d := 0; d < f.Domains; d++ {
		dom := labDomain{Name: fmt.Sprintf("%02d", d), About: fmt.Sprintf("%d disks of %d layers", f.Disks, f.Depth)}
		for k := 0; k < f.Disks; k++ {
			target := "vd" + string(rune('a'+k))
			backing := ""
			for l := 0; l < f.Depth; l++ {
				img := labImage{File: fmt.Sprintf("%s%02d-%s-%02d.qcow2", opts.Prefix, d, target, l), Backing: backing}
				if backing == "" {
					img.Size = "64M"
				}
				spec.Images = append(spec.Images, img)
				backing = img.File
			}
			dom.Disks = append(dom.Disks, labDisk{Target: target, Image: backing})
		}
		if d < f.Running {
			dom.Steps = []labStep{{Start: true}}
		}
		spec.Domains = append(spec.Domains, dom)
	}
	opts.Log = quietLog{opts.Log}
	return c.labUp(ctx, opts, spec)
}

// quietLog keeps a fleet's progress to its summary lines: a line per domain
// of a 40-domain fleet says nothing.
type quietLog struct{ w io.Writer }

func (q quietLog) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("lab: creating")) || bytes.HasPrefix(p, []byte("lab: up:")) || bytes.HasPrefix(p, []byte("lab: already")) {
		return q.w.Write(p)
	}
	return len(p), nil
}

// labUp builds spec; see LabUp.
func (c *Conn) labUp(ctx context.Context, opts LabOptions, spec labSpec) error {
	if !c.local {
		return fmt.Errorf("lab up: %s is not this host's libvirt; the lab makes its images with qemu-img here, so connect to qemu:///system", c.uri)
	}
	start := time.Now()

	var present []string
	for _, d := range spec.Domains {
		ok, err := c.domainExists(opts.Prefix + d.Name)
		if err != nil {
			return fmt.Errorf("lab up: %w", err)
		}
		if ok {
			present = append(present, opts.Prefix+d.Name)
		}
	}
	_, errComplete := os.Stat(filepath.Join(opts.Dir, labComplete))
	if len(present) == len(spec.Domains) && errComplete == nil {
		opts.logf("already up: %d domains %s* in %s (run %s to rebuild)", len(present), opts.Prefix, opts.Dir, opts.downCommand())
		return nil
	}
	if len(present) > 0 {
		return fmt.Errorf("lab up: a partial lab exists (%s): run %s first", strings.Join(present, ", "), opts.downCommand())
	}
	if entries, err := os.ReadDir(opts.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("lab up: %s already exists and is not empty: run %s first, or pick another folder", opts.Dir, opts.downCommand())
	}

	fail := func(err error) error {
		return fmt.Errorf("lab up: %w (run %s to clean up)", err, opts.downCommand())
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fail(fmt.Errorf("cannot create %s: %w", opts.Dir, errors.Unwrap(err)))
	}
	// MkdirAll obeys the umask; QEMU must traverse the folder.
	if err := os.Chmod(opts.Dir, 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, labMarker), []byte("virtchain demo lab; prefix "+opts.Prefix+"\n"), 0o644); err != nil {
		return fail(err)
	}

	opts.logf("creating %d images in %s", len(spec.Images), opts.Dir)
	if err := createLabImages(ctx, opts.Dir, spec.Images); err != nil {
		return fail(err)
	}

	typ := c.labDomainType()
	for _, d := range spec.Domains {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		opts.logf("%s%s: %s", opts.Prefix, d.Name, d.About)
		if err := c.buildLabDomain(ctx, opts, typ, d); err != nil {
			return fail(fmt.Errorf("%s%s: %w", opts.Prefix, d.Name, err))
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, labComplete), nil, 0o644); err != nil {
		return fail(err)
	}
	opts.logf("up: %d domains (type %s) in %s, %.1fs", len(spec.Domains), typ, opts.Dir, time.Since(start).Seconds())
	return nil
}

// LabDown removes the lab: every domain named Prefix* that the lab made
// (destroyed, then undefined with its snapshot and checkpoint metadata,
// managed-save image and NVRAM), and the lab folder. It works after an `up`
// that failed halfway, and does nothing when there is no lab.
func (c *Conn) LabDown(ctx context.Context, opts LabOptions) error {
	opts, err := c.labPrepare("down", opts)
	if err != nil {
		return err
	}
	names, err := c.labDomainsPresent(opts.Prefix)
	if err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.removeLabDomain(name); err != nil {
			return fmt.Errorf("lab down: %s: %w", name, err)
		}
		opts.logf("removed domain %s", name)
	}

	removedDir := false
	if _, err := os.Stat(opts.Dir); err == nil {
		if _, err := os.Stat(filepath.Join(opts.Dir, labMarker)); err != nil {
			// Without our marker the folder may hold someone's data: delete
			// it only when it is empty.
			if err := os.Remove(opts.Dir); err != nil {
				return fmt.Errorf("lab down: %s has no %s marker, so it is not the lab's: remove it by hand if it is", opts.Dir, labMarker)
			}
		} else if err := os.RemoveAll(opts.Dir); err != nil {
			return fmt.Errorf("lab down: cannot remove %s: %w", opts.Dir, err)
		}
		removedDir = true
		opts.logf("removed %s", opts.Dir)
	}
	if len(names) == 0 && !removedDir {
		opts.logf("nothing to remove: no %s* lab domains and no %s", opts.Prefix, opts.Dir)
	}
	return nil
}

// labPrepare fills in the defaults and checks that the lab can change this
// connection's host.
func (c *Conn) labPrepare(verb string, opts LabOptions) (LabOptions, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return opts, fmt.Errorf("lab %s: %w", verb, err)
	}
	if c == nil || c.virt == nil {
		return opts, fmt.Errorf("lab %s: no libvirt connection", verb)
	}
	if c.readonly {
		return opts, model.RefuseReadOnly("lab " + verb)
	}
	return opts, nil
}

// labDomainsPresent lists the domains `lab down` may remove: named
// prefix+name for a lab domain, or named prefix* and carrying the lab
// template's description (a domain an older lab version made). A user's own
// domain that merely starts with the prefix is left alone.
func (c *Conn) labDomainsPresent(prefix string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range LabDomainNames(prefix) {
		want[n] = true
	}
	var tmpl libvirtxml.Domain
	if err := tmpl.Unmarshal(assets.LabDomainXML); err != nil {
		return nil, fmt.Errorf("assets/lab/domain.xml: %w", err)
	}
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := range doms {
		d := &doms[i]
		name, err := d.GetName()
		if err == nil && strings.HasPrefix(name, prefix) {
			if want[name] {
				out = append(out, name)
			} else if x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE); err == nil {
				var def libvirtxml.Domain
				if def.Unmarshal(x) == nil && def.Description == tmpl.Description {
					out = append(out, name)
				}
			}
		}
		d.Free()
	}
	sort.Strings(out)
	return out, nil
}

func (c *Conn) domainExists(name string) (bool, error) {
	d, err := c.virt.LookupDomainByName(name)
	if err != nil {
		if isNoDomain(err) {
			return false, nil
		}
		return false, err
	}
	d.Free()
	return true, nil
}

func isNoDomain(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN
}

func (c *Conn) removeLabDomain(name string) error {
	d, err := c.virt.LookupDomainByName(name)
	if err != nil {
		if isNoDomain(err) {
			return nil
		}
		return err
	}
	defer d.Free()
	if active, err := d.IsActive(); err == nil && active {
		if err := d.Destroy(); err != nil {
			var lerr libvirt.Error
			if !errors.As(err, &lerr) || lerr.Code != libvirt.ERR_OPERATION_INVALID {
				return err
			}
		}
	}
	persistent, err := d.IsPersistent()
	if err != nil {
		if isNoDomain(err) { // a transient domain vanishes when destroyed
			return nil
		}
		return err
	}
	if !persistent {
		return nil
	}
	return d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
		libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
		libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE |
		libvirt.DOMAIN_UNDEFINE_NVRAM)
}

// labDomainType is kvm where libvirt can use /dev/kvm, else qemu (TCG).
func (c *Conn) labDomainType() string {
	if _, err := c.virt.GetDomainCapabilities("", "x86_64", "", "kvm", 0); err == nil {
		return "kvm"
	}
	return "qemu"
}

// createLabImages makes the images, a few at a time: each one waits only
// for its backing image, so a fleet's many chains grow side by side.
func createLabImages(ctx context.Context, dir string, images []labImage) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(map[string]chan struct{}, len(images))
	for _, img := range images {
		done[img.File] = make(chan struct{})
	}
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if img.Backing != "" {
				select {
				case <-done[img.Backing]:
				case <-ctx.Done():
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			err := createLabImage(ctx, dir, img)
			<-sem
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			close(done[img.File])
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// createLabImage makes one image with qemu-img and writes its patterns
// offline with qemu-io. Backing names are stored relative, as an admin's
// hand-made chain often is; libvirt's own overlays store absolute ones.
func createLabImage(ctx context.Context, dir string, img labImage) error {
	path := filepath.Join(dir, img.File)
	args := []string{"create", "-q", "-f", "qcow2"}
	if img.Backing != "" {
		args = append(args, "-F", "qcow2", "-b", img.Backing, path)
	} else {
		args = append(args, path, img.Size)
	}
	if err := runTool(ctx, "qemu-img", args...); err != nil {
		return err
	}
	for _, w := range img.Writes {
		lw, _ := parseLabWrite(w) // checked by loadLabSpec
		if err := runTool(ctx, "qemu-io", "-f", "qcow2", "-c", lw.command("write"), path); err != nil {
			return err
		}
	}
	return nil
}

// runTool runs an external program from its argument vector and turns a
// failure into one line with the program's own message.
func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		if errors.Is(err, exec.ErrNotFound) {
			msg = name + " is not installed: run `bash scripts/setup.sh` (Debian package qemu-utils)"
		}
		return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), firstLine(msg))
	}
	// qemu-io reports a failed command on stdout and still exits 0.
	if name == "qemu-io" && (bytes.Contains(out, []byte("failed")) || bytes.Contains(out, []byte("error"))) {
		return fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), firstLine(strings.TrimSpace(string(out))))
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (c *Conn) buildLabDomain(ctx context.Context, opts LabOptions, typ string, spec labDomain) error {
	var def libvirtxml.Domain
	if err := def.Unmarshal(assets.LabDomainXML); err != nil {
		return fmt.Errorf("assets/lab/domain.xml: %w", err)
	}
	def.Name = opts.Prefix + spec.Name
	def.Type = typ
	if def.Devices == nil {
		def.Devices = &libvirtxml.DomainDeviceList{}
	}
	for _, disk := range spec.Disks {
		def.Devices.Disks = append(def.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(opts.Dir, disk.Image)}},
			Target: &libvirtxml.DomainDiskTarget{Dev: disk.Target, Bus: "virtio"},
		})
	}
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	dom, err := c.virt.DomainDefineXML(x)
	if err != nil {
		return err
	}
	defer dom.Free()

	for _, st := range spec.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case st.Start:
			if err := dom.Create(); err != nil {
				return fmt.Errorf("start: %w", err)
			}
			opts.logf("  started")
		case st.Snapshot != "":
			if err := labSnapshot(dom, spec, opts.Dir, st); err != nil {
				return fmt.Errorf("snapshot %s: %w", st.Snapshot, err)
			}
			if len(st.External) > 0 {
				var files []string
				for _, t := range sortedKeys(st.External) {
					files = append(files, t+" -> "+st.External[t])
				}
				opts.logf("  snapshot %s (external, %s)", st.Snapshot, strings.Join(files, ", "))
			} else {
				opts.logf("  snapshot %s (internal)", st.Snapshot)
			}
		case st.Revert != "":
			snap, err := dom.SnapshotLookupByName(st.Revert, 0)
			if err != nil {
				return fmt.Errorf("revert %s: %w", st.Revert, err)
			}
			err = snap.RevertToSnapshot(0)
			snap.Free()
			if err != nil {
				return fmt.Errorf("revert %s: %w", st.Revert, err)
			}
			opts.logf("  reverted to %s", st.Revert)
		case len(st.Write) > 0:
			for _, target := range sortedKeys(st.Write) {
				for _, w := range st.Write[target] {
					lw, _ := parseLabWrite(w)
					if err := c.labWrite(ctx, dom, target, lw); err != nil {
						return fmt.Errorf("write %s %s: %w", target, w, err)
					}
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// labSnapshot takes an internal snapshot (with memory when the domain runs)
// or an atomic external disk-only one.
func labSnapshot(dom *libvirt.Domain, spec labDomain, dir string, st labStep) error {
	snap := libvirtxml.DomainSnapshot{Name: st.Snapshot, Description: st.Description}
	var flags libvirt.DomainSnapshotCreateFlags
	if len(st.External) > 0 {
		snap.Disks = &libvirtxml.DomainSnapshotDisks{}
		for _, disk := range spec.Disks {
			sd := libvirtxml.DomainSnapshotDisk{Name: disk.Target, Snapshot: "no"}
			if f, ok := st.External[disk.Target]; ok {
				sd.Snapshot = "external"
				sd.Driver = &libvirtxml.DomainDiskDriver{Type: "qcow2"}
				sd.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(dir, f)}}
			}
			snap.Disks.Disks = append(snap.Disks.Disks, sd)
		}
		flags = libvirt.DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.DOMAIN_SNAPSHOT_CREATE_ATOMIC
	}
	x, err := snap.Marshal()
	if err != nil {
		return err
	}
	s, err := dom.CreateSnapshotXML(x, flags)
	if err != nil {
		return err
	}
	return s.Free()
}

// labWrite writes a pattern into a disk's active layer: through the QEMU
// monitor when the domain runs (as the guest would), with qemu-io on the
// file when it is shut off. Either way it then reads the pattern back from
// the file, because the monitor's qemu-io reports nothing to the caller.
func (c *Conn) labWrite(ctx context.Context, dom *libvirt.Domain, target string, w labWrite) error {
	name, err := dom.GetName()
	if err != nil {
		return err
	}
	active, err := dom.IsActive()
	if err != nil {
		return err
	}
	var flags libvirt.DomainXMLFlags
	if !active {
		flags = libvirt.DOMAIN_XML_INACTIVE
	}
	file, err := activeLayerFile(dom, flags, target)
	if err != nil {
		return err
	}
	if active {
		if err := c.GuestQemuIO(name, target, w.command("write")); err != nil {
			return err
		}
		if err := c.GuestQemuIO(name, target, "flush"); err != nil {
			return err
		}
	} else if err := runTool(ctx, "qemu-io", "-f", "qcow2", "-c", w.command("write"), file); err != nil {
		return err
	}
	return runTool(ctx, "qemu-io", "-U", "-r", "-f", "qcow2", "-c", w.command("read"), file)
}

// activeLayerFile is the <source file> of a disk in the domain's XML.
func activeLayerFile(dom *libvirt.Domain, flags libvirt.DomainXMLFlags, target string) (string, error) {
	d, err := diskByTarget(dom, flags, target)
	if err != nil {
		return "", err
	}
	if d.Source == nil || d.Source.File == nil || d.Source.File.File == "" {
		return "", fmt.Errorf("disk %s is not file-backed", target)
	}
	return d.Source.File.File, nil
}

func diskByTarget(dom *libvirt.Domain, flags libvirt.DomainXMLFlags, target string) (libvirtxml.DomainDisk, error) {
	x, err := dom.GetXMLDesc(flags)
	if err != nil {
		return libvirtxml.DomainDisk{}, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		return libvirtxml.DomainDisk{}, err
	}
	if def.Devices != nil {
		for _, d := range def.Devices.Disks {
			if d.Target != nil && d.Target.Dev == target {
				return d, nil
			}
		}
	}
	return libvirtxml.DomainDisk{}, fmt.Errorf("domain has no disk %s", target)
}

// GuestQemuIO runs one qemu-io command (such as "write -P 0x5a 0 4M" or
// "flush") on a running domain's disk through the QEMU monitor, as if the
// guest did the I/O. Tests use it to change data under a live chain. The
// qemu-io output goes to the domain's log, not to the caller; read the image
// back (after a "flush") to check the data.
func (c *Conn) GuestQemuIO(domain, target, command string) error {
	if strings.ContainsAny(command, "\"\n") {
		return fmt.Errorf("qemu-io command %q: quotes and newlines are not allowed", command)
	}
	dom, err := c.virt.LookupDomainByName(domain)
	if err != nil {
		return err
	}
	defer dom.Free()
	disk, err := diskByTarget(dom, 0, target)
	if err != nil {
		return fmt.Errorf("%s: %w", domain, err)
	}
	if disk.Alias == nil || disk.Alias.Name == "" {
		return fmt.Errorf("%s: disk %s has no device alias: is the domain running?", domain, target)
	}
	// qemu-io -d wants a block device: a virtio disk's is the backend of
	// its proxy device; other buses are addressed by their qdev id.
	dev := disk.Alias.Name
	if disk.Target.Bus == "virtio" {
		dev = "/machine/peripheral/" + dev + "/virtio-backend"
	}
	out, err := dom.QemuMonitorCommand("qemu-io -d "+dev+" \""+command+"\"", libvirt.DOMAIN_QEMU_MONITOR_COMMAND_HMP)
	if err != nil {
		return fmt.Errorf("%s: qemu-io %q on %s: %w", domain, command, target, err)
	}
	if out = strings.TrimSpace(out); out != "" && strings.Contains(strings.ToLower(out), "error") {
		return fmt.Errorf("%s: qemu-io %q on %s: %s", domain, command, target, firstLine(out))
	}
	return nil
}
