package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"virtchain/libvirtx"
	"virtchain/libvirtx/lab"
)

// The demo lab: lab up and lab down.

type labOptions struct {
	Env         *Env
	Prefix, Dir string
	Only        []string // lab up: just these lab domains
}

func (o *labOptions) flags(f *FlagSet) {
	o.Prefix, o.Dir = lab.DefaultPrefix, lab.DefaultDir
	f.StringVar(&o.Prefix, "prefix", "PREFIX", "name prefix of the lab's domains (default "+lab.DefaultPrefix+")")
	f.StringVar(&o.Dir, "dir", "DIR", "folder that holds every lab image (default "+lab.DefaultDir+")")
}

// NewCmdLabUp builds `virtchain lab up`.
func NewCmdLabUp(env *Env) *cobra.Command {
	opts := &labOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "up",
		Short: "build the demo lab: lab-* domains with chains and snapshot trees",
		Long: "Builds, on the local libvirt, the domains the README's tour uses, all named\n" +
			"PREFIX* with their images in DIR:\n" +
			"  test2     running; vda: centos.qcow2 -> test2.qcow2 -> external snapshots\n" +
			"            test, nmap, net-tools, lsof (each layer holds its own data)\n" +
			"  tree      running; a branching tree of internal snapshots\n" +
			"  deep      shut off; a 6-deep chain\n" +
			"  shared-a  running, and shared-b, shut off: chains sharing one base image\n" +
			"  twodisk   running; two disks snapshotted together\n" +
			"When the lab is already up it says so; when a part of one is left from a\n" +
			"failed run it refuses: run 'virtchain lab down' first.",
		Changes: true,
	}, func(f *FlagSet) {
		opts.flags(f)
		f.StringsVar(&opts.Only, "only", "NAME", "build just this lab domain (repeatable), e.g. --only test2")
	}, func([]string) error { return runLab(opts, lab.Up) })
}

// NewCmdLabDown builds `virtchain lab down`.
func NewCmdLabDown(env *Env) *cobra.Command {
	opts := &labOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "down",
		Short: "remove the demo lab: its domains (with their snapshots) and its folder",
		Long: "Destroys and undefines the lab's PREFIX* domains, with their snapshot\n" +
			"metadata, managed-save images and NVRAM, then deletes DIR. It also cleans\n" +
			"up after a 'lab up' that failed halfway. Other domains are never touched.",
		Changes: true,
	}, opts.flags, func([]string) error { return runLab(opts, lab.Down) })
}

// runLab checks the flags, opens the connection and runs up or down.
func runLab(o *labOptions, do func(context.Context, *libvirtx.Conn, lab.Options) error) error {
	if strings.TrimSpace(o.Prefix) == "" {
		return Usagef("--prefix must not be empty: the prefix is what keeps lab down away from other domains")
	}
	if !strings.HasPrefix(o.Dir, "/") {
		return Usagef("--dir %q must be an absolute path", o.Dir)
	}
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	return do(o.Env.Ctx, c, lab.Options{Prefix: o.Prefix, Dir: o.Dir, Log: o.Env.Stdout, Only: o.Only})
}
