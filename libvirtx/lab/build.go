package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"virtchain/model"
)

// up builds s; see Up.
func (h host) up(ctx context.Context, opts Options, s spec) error {
	if !h.conn.Local() {
		return fmt.Errorf("lab up: %s is not this host's libvirt; the lab makes its images with qemu-img here, so connect to qemu:///system", h.conn.URI())
	}
	start := time.Now()
	if done, err := h.alreadyUp(opts, s); done || err != nil {
		return err
	}
	p := &model.Plan{Op: "lab-up", Summary: fmt.Sprintf("build the demo lab: %d domains %s* in %s", len(s.Domains), opts.Prefix, opts.Dir),
		Virsh: []string{opts.command("up")}}
	return h.conn.Journaled(p, func() error { return h.build(ctx, opts, s, start) })
}

// build makes the lab's folder, images and domains.
func (h host) build(ctx context.Context, opts Options, s spec, start time.Time) error {
	fail := func(err error) error {
		return fmt.Errorf("lab up: %w (run %s to clean up)", err, opts.downCommand())
	}
	if err := makeFolder(opts); err != nil {
		return fail(err)
	}
	opts.logf("creating %d images in %s", len(s.Images), opts.Dir)
	if err := createImages(ctx, opts.Dir, s.Images); err != nil {
		return fail(err)
	}
	typ := h.domainType()
	for _, d := range s.Domains {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		opts.logf("%s%s: %s", opts.Prefix, d.Name, d.About)
		if err := h.buildDomain(ctx, opts, typ, d); err != nil {
			return fail(fmt.Errorf("%s%s: %w", opts.Prefix, d.Name, err))
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, complete), nil, 0o644); err != nil {
		return fail(err)
	}
	opts.logf("up: %d domains (type %s) in %s, %.1fs", len(s.Domains), typ, opts.Dir, time.Since(start).Seconds())
	return nil
}

// alreadyUp decides what an earlier lab means for this one: a complete
// lab is done (and says so), while a partial lab or a folder with files in
// it is refused, naming `lab down`.
func (h host) alreadyUp(opts Options, s spec) (bool, error) {
	var present []string
	for _, d := range s.Domains {
		ok, err := h.domainExists(opts.Prefix + d.Name)
		if err != nil {
			return false, fmt.Errorf("lab up: %w", err)
		}
		if ok {
			present = append(present, opts.Prefix+d.Name)
		}
	}
	_, errComplete := os.Stat(filepath.Join(opts.Dir, complete))
	if len(present) == len(s.Domains) && errComplete == nil {
		opts.logf("already up: %d domains %s* in %s (run %s to rebuild)", len(present), opts.Prefix, opts.Dir, opts.downCommand())
		return true, nil
	}
	if len(present) > 0 {
		return false, fmt.Errorf("lab up: a partial lab exists (%s): run %s first", strings.Join(present, ", "), opts.downCommand())
	}
	if entries, err := os.ReadDir(opts.Dir); err == nil && len(entries) > 0 {
		return false, fmt.Errorf("lab up: %s already exists and is not empty: run %s first, or pick another folder", opts.Dir, opts.downCommand())
	}
	return false, nil
}

// makeFolder makes the lab folder, traversable by QEMU, and marks it as
// the lab's before anything else goes in.
func makeFolder(opts Options) error {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", opts.Dir, errors.Unwrap(err))
	}
	// MkdirAll obeys the umask; QEMU must traverse the folder.
	if err := os.Chmod(opts.Dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(opts.Dir, marker), []byte("virtchain demo lab; prefix "+opts.Prefix+"\n"), 0o644)
}

// domainType is kvm where libvirt can use /dev/kvm, else qemu (TCG).
func (h host) domainType() string {
	if _, err := h.virt.GetDomainCapabilities("", "x86_64", "", "kvm", 0); err == nil {
		return "kvm"
	}
	return "qemu"
}
