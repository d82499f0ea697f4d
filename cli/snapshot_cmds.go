package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"virtchain/libvirtx"
	"virtchain/model"
)

// The snapshot and restore-point commands: snapshot create|revert|delete,
// save, restore, managedsave, managedsave-remove, start. Each prints its
// plan, then carries it out (only prints it with --dry-run). None prompts.

// opResultJSON is what a mutating command prints with --json: the plan, and
// whether it was carried out (false for --dry-run).
type opResultJSON struct {
	Plan any  `json:"plan"`
	Done bool `json:"done"`
}

// runPlanned prints the plan, and unless --dry-run carries it out with act
// and says what happened.
func runPlanned(env *Env, plan model.Plan, full any, act func() error, done string) error {
	if env.DryRun {
		if env.JSON {
			return env.PrintJSON(opResultJSON{Plan: full})
		}
		return env.PrintPlan(plan)
	}
	if !env.JSON {
		if err := env.PrintPlan(plan); err != nil {
			return err
		}
	}
	if err := act(); err != nil {
		return err
	}
	if env.JSON {
		return env.PrintJSON(opResultJSON{Plan: full, Done: true})
	}
	printf(env.Stdout, "%s\n", done)
	return nil
}

// runOp opens the connection, plans with plan, shows the plan (view picks
// the part a person reads) and carries it out with act unless --dry-run.
func runOp[P any](env *Env, plan func(*libvirtx.Conn) (P, error), view func(P) model.Plan,
	act func(*libvirtx.Conn, P) error, done func(P) string) error {
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	p, err := plan(conn)
	if err != nil {
		return err
	}
	return runPlanned(env, view(p), p, func() error { return act(conn, p) }, done(p))
}

func plainPlan(p *model.Plan) model.Plan { return *p }

// absPath makes a path typed on the command line absolute when the daemon
// runs on this host; over a remote connection it must be given absolute.
func absPath(conn *libvirtx.Conn, p string) string {
	if p == "" || filepath.IsAbs(p) || !conn.Local() {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// parseFileSpecs reads repeated --file TARGET=PATH.
func parseFileSpecs(conn *libvirtx.Conn, specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, s := range specs {
		target, path, ok := strings.Cut(s, "=")
		if !ok || target == "" || path == "" {
			return nil, Usagef("--file wants TARGET=PATH, such as --file vda=/var/lib/libvirt/images/vm_fresh.qcow2; got %q", s)
		}
		if _, dup := out[target]; dup {
			return nil, Usagef("--file names %s twice", target)
		}
		out[target] = absPath(conn, path)
	}
	return out, nil
}

// startMode reads --running / --paused.
func startMode(running, paused bool) (model.StartMode, error) {
	switch {
	case running && paused:
		return "", Usagef("--running and --paused exclude each other")
	case running:
		return model.StartRunning, nil
	case paused:
		return model.StartPaused, nil
	}
	return model.StartDefault, nil
}

func init() {
	var (
		external, diskOnly, quiesce bool
		memoryFile, description     string
		files                       []string
		running, paused, force      bool
		discardCurrent              bool
		metadataOnly                bool
	)
	register(Command{
		Name:    "snapshot create",
		Args:    "DOMAIN NAME",
		Summary: "create an internal snapshot, or an external disk-only snapshot or checkpoint",
		Help: "Internal (the default): disk state (and, for a running domain, memory) inside\n" +
			"the qcow2 images; every writable disk must be qcow2.\n" +
			"--external: a new overlay on every disk, all at once (atomic). Readonly,\n" +
			"shareable and not file-backed disks are left out, each with its reason.\n" +
			"Overlays default to <folder of the active layer>/<domain>_<name>.<target>.qcow2;\n" +
			"--file TARGET=PATH chooses one. A running domain gets a checkpoint (memory to\n" +
			"--memory-file, default <domain>_<name>.mem next to the first overlay) unless\n" +
			"--disk-only. --quiesce freezes the guest's filesystems through its agent.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			external, diskOnly, quiesce, memoryFile, description, files = false, false, false, "", "", nil
			f.BoolVar(&external, "external", "make overlays instead of internal snapshots")
			f.BoolVar(&diskOnly, "disk-only", "with --external: disks only, no memory")
			f.StringVar(&memoryFile, "memory-file", "PATH", "with --external: where a checkpoint's memory goes")
			f.StringsVar(&files, "file", "TARGET=PATH", "with --external: the overlay for one disk (repeatable)")
			f.TextVar(&description, "description", "TEXT", "the snapshot's description")
			f.BoolVar(&quiesce, "quiesce", "with --external --disk-only: freeze the guest's filesystems (needs the guest agent)")
		},
		Run: func(env *Env, args []string) error {
			if diskOnly && memoryFile != "" {
				return Usagef("--disk-only and --memory-file exclude each other")
			}
			if !external && (diskOnly || memoryFile != "" || len(files) > 0) {
				return Usagef("--disk-only, --memory-file and --file need --external")
			}
			return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotCreatePlan, error) {
				fm, err := parseFileSpecs(conn, files)
				if err != nil {
					return nil, err
				}
				return conn.PlanSnapshotCreate(env.Ctx, model.SnapshotCreateRequest{Domain: args[0], Name: args[1], Description: description,
					External: external, DiskOnly: diskOnly, MemoryFile: absPath(conn, memoryFile), Files: fm, Quiesce: quiesce})
			}, func(p *model.SnapshotCreatePlan) model.Plan { return p.Plan },
				func(conn *libvirtx.Conn, p *model.SnapshotCreatePlan) error { return conn.CreateSnapshot(env.Ctx, p) },
				func(p *model.SnapshotCreatePlan) string {
					return fmt.Sprintf("Created %s snapshot %s of %s.", p.Kind, p.Request.Name, p.Domain)
				})
		},
	})
	register(Command{
		Name:    "snapshot revert",
		Args:    "DOMAIN NAME",
		Summary: "revert a domain to a snapshot (external ones too, on libvirt before 9.9)",
		Help: "Internal snapshots and, where libvirt advertises <externalSnapshot/>, external\n" +
			"ones are reverted by libvirt. Otherwise virtchain reverts an external snapshot\n" +
			"itself: a new overlay on each disk's image at the snapshot point, the domain\n" +
			"redefined onto them, a checkpoint's memory restored, the snapshot made\n" +
			"current. The newer overlays stay on disk and later snapshots stay in the tree.\n" +
			"First the current state (memory too, when it runs) becomes snapshot\n" +
			"before-revert-to-NAME, so a revert back is possible; --discard-current skips\n" +
			"that, and the plan lists the files that are then deleted and by whom.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			running, paused, force, discardCurrent = false, false, false, false
			f.BoolVar(&discardCurrent, "discard-current", "do not snapshot the current state first: it is lost")
			f.BoolVar(&running, "running", "leave the domain running afterwards")
			f.BoolVar(&paused, "paused", "leave the domain paused afterwards")
			f.BoolVar(&force, "force", "allow the risky reverts libvirt asks --force for")
		},
		Run: func(env *Env, args []string) error {
			start, err := startMode(running, paused)
			if err != nil {
				return err
			}
			req := model.SnapshotRevertRequest{Domain: args[0], Name: args[1], Start: start, Force: force, DiscardCurrent: discardCurrent}
			return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotRevertPlan, error) {
				return conn.PlanSnapshotRevert(env.Ctx, req)
			},
				func(p *model.SnapshotRevertPlan) model.Plan { return p.Plan },
				func(conn *libvirtx.Conn, p *model.SnapshotRevertPlan) error { return conn.RevertSnapshot(env.Ctx, p) },
				func(p *model.SnapshotRevertPlan) string {
					return fmt.Sprintf("Reverted %s to snapshot %s.", req.Domain, req.Name)
				})
		},
	})
	register(Command{
		Name:    "snapshot delete",
		Args:    "DOMAIN NAME",
		Summary: "delete a snapshot (an external one is merged into the image below)",
		Help: "An internal snapshot's data is freed inside its qcow2 images. An external\n" +
			"snapshot's overlays are committed into the images below and removed by\n" +
			"libvirt. --metadata-only forgets the snapshot and leaves every file alone.\n" +
			"Refused, with what to do instead, when files of other domains or snapshots\n" +
			"would change, when a block job runs, or when libvirt cannot merge it.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			metadataOnly = false
			f.BoolVar(&metadataOnly, "metadata-only", "remove only libvirt's metadata; keep every file (virsh --metadata)")
		},
		Run: func(env *Env, args []string) error {
			req := model.SnapshotDeleteRequest{Domain: args[0], Name: args[1], MetadataOnly: metadataOnly}
			return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotDeletePlan, error) {
				return conn.PlanSnapshotDelete(env.Ctx, req)
			},
				func(p *model.SnapshotDeletePlan) model.Plan { return p.Plan },
				func(conn *libvirtx.Conn, p *model.SnapshotDeletePlan) error { return conn.DeleteSnapshot(env.Ctx, p) },
				func(p *model.SnapshotDeletePlan) string {
					return fmt.Sprintf("Deleted snapshot %s of %s.", req.Name, req.Domain)
				})
		},
	})
	register(Command{
		Name:    "save",
		Args:    "DOMAIN FILE",
		Summary: "save a running domain's memory and device state to FILE and stop it",
		JSON:    true, DryRun: true, Changes: true,
		Run: func(env *Env, args []string) error {
			var req model.SaveRequest
			return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) {
				req = model.SaveRequest{Domain: args[0], File: absPath(conn, args[1])}
				return conn.PlanSave(env.Ctx, req)
			}, plainPlan,
				func(conn *libvirtx.Conn, _ *model.Plan) error { return conn.Save(env.Ctx, req) },
				func(*model.Plan) string { return fmt.Sprintf("Saved %s to %s.", req.Domain, req.File) })
		},
	})
	register(Command{
		Name:    "restore",
		Args:    "FILE",
		Summary: "start a domain from a save file",
		JSON:    true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			running, paused = false, false
			f.BoolVar(&running, "running", "start it running, whatever the file says")
			f.BoolVar(&paused, "paused", "start it paused")
		},
		Run: func(env *Env, args []string) error {
			start, err := startMode(running, paused)
			if err != nil {
				return err
			}
			var req model.RestoreRequest
			return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) {
				req = model.RestoreRequest{File: absPath(conn, args[0]), Start: start}
				return conn.PlanRestore(env.Ctx, req)
			}, plainPlan,
				func(conn *libvirtx.Conn, _ *model.Plan) error { return conn.Restore(env.Ctx, req) },
				func(p *model.Plan) string { return fmt.Sprintf("Restored %s from %s.", p.Domain, req.File) })
		},
	})
	domainCmd := func(name, summary string, plan func(*libvirtx.Conn, *Env, string) (*model.Plan, error),
		act func(*libvirtx.Conn, *Env, string) error, done string) {
		register(Command{
			Name: name, Args: "DOMAIN", Summary: summary, JSON: true, DryRun: true, Changes: true,
			Run: func(env *Env, args []string) error {
				return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) { return plan(conn, env, args[0]) }, plainPlan,
					func(conn *libvirtx.Conn, _ *model.Plan) error { return act(conn, env, args[0]) },
					func(*model.Plan) string { return fmt.Sprintf(done, args[0]) })
			},
		})
	}
	domainCmd("managedsave", "save a running domain to libvirt's managed-save image and stop it; start resumes it",
		func(c *libvirtx.Conn, env *Env, d string) (*model.Plan, error) { return c.PlanManagedSave(env.Ctx, d) },
		func(c *libvirtx.Conn, env *Env, d string) error { return c.ManagedSave(env.Ctx, d) },
		"Saved %s to its managed-save image.")
	domainCmd("managedsave-remove", "remove a domain's managed-save image; the next start boots fresh",
		func(c *libvirtx.Conn, env *Env, d string) (*model.Plan, error) {
			return c.PlanManagedSaveRemove(env.Ctx, d)
		},
		func(c *libvirtx.Conn, env *Env, d string) error { return c.ManagedSaveRemove(env.Ctx, d) },
		"Removed the managed-save image of %s.")
	domainCmd("start", "start a domain (from its managed-save image when it has one)",
		func(c *libvirtx.Conn, env *Env, d string) (*model.Plan, error) { return c.PlanStart(env.Ctx, d) },
		func(c *libvirtx.Conn, env *Env, d string) error { return c.Start(env.Ctx, d) },
		"Started %s.")
}
