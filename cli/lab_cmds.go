package cli

import (
	"context"
	"strings"

	"virtchain/libvirtx"
	"virtchain/libvirtx/lab"
)

func init() {
	var prefix, dir string
	var only []string
	labFlags := func(f *FlagSet) {
		prefix, dir, only = lab.DefaultPrefix, lab.DefaultDir, nil
		f.StringVar(&prefix, "prefix", "PREFIX", "name prefix of the lab's domains (default "+lab.DefaultPrefix+")")
		f.StringVar(&dir, "dir", "DIR", "folder that holds every lab image (default "+lab.DefaultDir+")")
	}
	// labRun checks the flags, opens the connection and runs up or down.
	labRun := func(do func(context.Context, *libvirtx.Conn, lab.Options) error) func(*Env, []string) error {
		return func(env *Env, _ []string) error {
			if strings.TrimSpace(prefix) == "" {
				return Usagef("--prefix must not be empty: the prefix is what keeps lab down away from other domains")
			}
			if !strings.HasPrefix(dir, "/") {
				return Usagef("--dir %q must be an absolute path", dir)
			}
			c, err := env.Conn()
			if err != nil {
				return err
			}
			return do(env.Ctx, c, lab.Options{Prefix: prefix, Dir: dir, Log: env.Stdout, Only: only})
		}
	}
	register(Command{
		Name:    "lab up",
		Summary: "build the demo lab: lab-* domains with chains and snapshot trees",
		Help: "Builds, on the local libvirt, the domains the README's tour uses, all named\n" +
			"PREFIX* with their images in DIR:\n" +
			"  test2     running; vda: centos.qcow2 -> test2.qcow2 -> external snapshots\n" +
			"            test, nmap, net-tools, lsof (each layer holds its own data)\n" +
			"  tree      running; a branching tree of internal snapshots\n" +
			"  deep      shut off; a 6-deep chain\n" +
			"  shared-a  running, and shared-b, shut off: chains sharing one base image\n" +
			"  twodisk   running; two disks snapshotted together\n" +
			"When the lab is already up it says so; when a part of one is left from a\n" +
			"failed run it refuses: run 'virtchain lab down' first.",
		Flags: func(f *FlagSet) {
			labFlags(f)
			f.StringsVar(&only, "only", "NAME", "build just this lab domain (repeatable), e.g. --only test2")
		},
		Changes: true,
		Run:     labRun(lab.Up),
	})
	register(Command{
		Name:    "lab down",
		Summary: "remove the demo lab: its domains (with their snapshots) and its folder",
		Help: "Destroys and undefines the lab's PREFIX* domains, with their snapshot\n" +
			"metadata, managed-save images and NVRAM, then deletes DIR. It also cleans\n" +
			"up after a 'lab up' that failed halfway. Other domains are never touched.",
		Flags:   labFlags,
		Changes: true,
		Run:     labRun(lab.Down),
	})
}
