// Package lab builds and removes the demo lab: a few domains whose disk
// chains and snapshot trees show everything virtchain draws and reshapes
// (assets/lab/lab.json describes them), and the synthetic fleets the
// benchmarks time discovery on. It drives the local libvirt directly
// through a libvirtx connection, and makes images with qemu-img here.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"libvirt.org/go/libvirt"

	"virtchain/libvirtx"
	"virtchain/model"
)

// Lab defaults.
const (
	DefaultPrefix = "lab-"
	DefaultDir    = "/var/lib/libvirt/images/virtchain-lab"
)

// Marker files in the lab folder. marker is written first, so `lab down`
// knows the folder is the lab's and may delete it; complete is written
// last, so `lab up` can tell a finished lab from one that failed halfway.
const (
	marker   = ".virtchain-lab"
	complete = ".virtchain-lab-complete"
)

// Options says where the demo lab lives.
type Options struct {
	// Prefix starts the name of every lab domain ("lab-" by default).
	Prefix string
	// Dir holds every image of the lab (DefaultDir by default). It must
	// be absolute; it is made mode 0755 so QEMU (libvirt-qemu) can traverse it.
	Dir string
	// Log receives short progress lines; nil discards them.
	Log io.Writer
	// Only, when set, builds just these lab domains (names without the
	// prefix, such as "test2") and the images they need: a test that
	// reshapes one domain gets a fresh copy in seconds.
	Only []string
}

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
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

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "lab: "+format+"\n", args...)
}

// downCommand is the `virtchain lab down` that removes this lab: with the
// flags when they are not the defaults, so a copied hint never takes down
// the demo lab instead of a custom one.
func (o Options) downCommand() string { return "`" + o.command("down") + "`" }

// command is `virtchain lab VERB` for this lab, flags as downCommand.
func (o Options) command(verb string) string {
	argv := []string{"virtchain", "lab", verb}
	if o.Prefix != DefaultPrefix {
		argv = append(argv, "--prefix", o.Prefix)
	}
	if o.Dir != DefaultDir {
		argv = append(argv, "--dir", o.Dir)
	}
	return model.ShellJoin(argv)
}

// DomainNames lists the names of the lab's domains for a prefix, in the
// order `lab up` builds them.
func DomainNames(prefix string) []string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s, err := loadSpec()
	if err != nil {
		return nil
	}
	out := make([]string, len(s.Domains))
	for i, d := range s.Domains {
		out[i] = prefix + d.Name
	}
	return out
}

// host is the connection a lab is built on or removed from, with the
// libvirt connection under it.
type host struct {
	conn *libvirtx.Conn
	virt *libvirt.Connect
}

// prepare fills in the defaults and checks that the lab can change this
// connection's host.
func prepare(verb string, c *libvirtx.Conn, opts Options) (host, Options, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return host{}, opts, fmt.Errorf("lab %s: %w", verb, err)
	}
	if c == nil || c.Libvirt() == nil {
		return host{}, opts, fmt.Errorf("lab %s: no libvirt connection", verb)
	}
	if c.ReadOnly() {
		return host{}, opts, model.RefuseReadOnly("lab " + verb)
	}
	return host{conn: c, virt: c.Libvirt()}, opts, nil
}

// Up builds the demo lab on c's (local) libvirt: images in opts.Dir,
// domains named opts.Prefix+name, their chains and snapshot trees. When the
// lab is already complete it says so and changes nothing; when a part of
// one exists (an earlier `up` failed) it refuses and names
// `virtchain lab down`.
func Up(ctx context.Context, c *libvirtx.Conn, opts Options) error {
	h, opts, err := prepare("up", c, opts)
	if err != nil {
		return err
	}
	spec, err := loadSpec()
	if err != nil {
		return err
	}
	if len(opts.Only) > 0 {
		if spec, err = spec.only(opts.Only); err != nil {
			return fmt.Errorf("lab up: %w", err)
		}
	}
	return h.up(ctx, opts, spec)
}

// Down removes the lab: every domain named Prefix* that the lab made
// (destroyed, then undefined with its snapshot and checkpoint metadata,
// managed-save image and NVRAM), and the lab folder. It works after an `up`
// that failed halfway, and does nothing when there is no lab.
func Down(ctx context.Context, c *libvirtx.Conn, opts Options) error {
	h, opts, err := prepare("down", c, opts)
	if err != nil {
		return err
	}
	names, err := h.domainsPresent(opts.Prefix)
	if err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	if _, err := os.Stat(opts.Dir); len(names) == 0 && err != nil {
		opts.logf("nothing to remove: no %s* lab domains and no %s", opts.Prefix, opts.Dir)
		return nil
	}
	p := &model.Plan{Op: "lab-down", Summary: fmt.Sprintf("remove the demo lab: %d domains %s* and %s", len(names), opts.Prefix, opts.Dir),
		Virsh: []string{opts.command("down")}}
	return c.Journaled(p, func() error { return h.down(ctx, opts, names) })
}

// down removes the lab's domains and its folder.
func (h host) down(ctx context.Context, opts Options, names []string) error {
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := h.removeDomain(name); err != nil {
			return fmt.Errorf("lab down: %s: %w", name, err)
		}
		opts.logf("removed domain %s", name)
	}
	return removeFolder(opts)
}

// removeFolder deletes the lab folder when it is the lab's (it holds the
// marker) or empty.
func removeFolder(opts Options) error {
	if _, err := os.Stat(opts.Dir); err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, marker)); err != nil {
		// Without our marker the folder may hold someone's data: delete
		// it only when it is empty.
		if err := os.Remove(opts.Dir); err != nil {
			return fmt.Errorf("lab down: %s has no %s marker, so it is not the lab's: remove it by hand if it is", opts.Dir, marker)
		}
	} else if err := os.RemoveAll(opts.Dir); err != nil {
		return fmt.Errorf("lab down: cannot remove %s: %w", opts.Dir, err)
	}
	opts.logf("removed %s", opts.Dir)
	return nil
}
