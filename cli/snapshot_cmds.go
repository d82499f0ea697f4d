package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

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

type snapshotCreateOptions struct {
	Env                         *Env
	Domain, Name                string
	External, DiskOnly, Quiesce bool
	MemoryFile, Description     string
	Files                       []string // TARGET=PATH
}

// NewCmdSnapshotCreate builds `virtchain snapshot create DOMAIN NAME`.
func NewCmdSnapshotCreate(env *Env) *cobra.Command {
	opts := &snapshotCreateOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "create DOMAIN NAME",
		OnDomain: true,
		Short:    "create an internal snapshot, or an external disk-only snapshot or checkpoint",
		Long: "Internal (the default): disk state (and, for a running domain, memory) inside\n" +
			"the qcow2 images; every writable disk must be qcow2.\n" +
			"--external: a new overlay on every disk, all at once (atomic). Readonly,\n" +
			"shareable and not file-backed disks are left out, each with its reason.\n" +
			"Overlays default to <folder of the active layer>/<domain>_<name>.<target>.qcow2;\n" +
			"--file TARGET=PATH chooses one. A running domain gets a checkpoint (memory to\n" +
			"--memory-file, default <domain>_<name>.mem next to the first overlay) unless\n" +
			"--disk-only. --quiesce freezes the guest's filesystems through its agent.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, nil},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.External, "external", "make overlays instead of internal snapshots")
		f.BoolVar(&opts.DiskOnly, "disk-only", "with --external: disks only, no memory")
		f.StringVar(&opts.MemoryFile, "memory-file", "PATH", "with --external: where a checkpoint's memory goes")
		f.StringsVar(&opts.Files, "file", "TARGET=PATH", "with --external: the overlay for one disk (repeatable)")
		f.TextVar(&opts.Description, "description", "TEXT", "the snapshot's description")
		f.BoolVar(&opts.Quiesce, "quiesce", "with --external --disk-only: freeze the guest's filesystems (needs the guest agent)")
	}, func(args []string) error {
		opts.Domain, opts.Name = args[0], args[1]
		return runSnapshotCreate(opts)
	})
}

func runSnapshotCreate(o *snapshotCreateOptions) error {
	if o.DiskOnly && o.MemoryFile != "" {
		return Usagef("--disk-only and --memory-file exclude each other")
	}
	if !o.External && (o.DiskOnly || o.MemoryFile != "" || len(o.Files) > 0) {
		return Usagef("--disk-only, --memory-file and --file need --external")
	}
	env := o.Env
	return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotCreatePlan, error) {
		fm, err := parseFileSpecs(conn, o.Files)
		if err != nil {
			return nil, err
		}
		return conn.PlanSnapshotCreate(env.Ctx, model.SnapshotCreateRequest{Domain: o.Domain, Name: o.Name, Description: o.Description,
			External: o.External, DiskOnly: o.DiskOnly, MemoryFile: absPath(conn, o.MemoryFile), Files: fm, Quiesce: o.Quiesce})
	}, func(p *model.SnapshotCreatePlan) model.Plan { return p.Plan },
		func(conn *libvirtx.Conn, p *model.SnapshotCreatePlan) error { return conn.CreateSnapshot(env.Ctx, p) },
		func(p *model.SnapshotCreatePlan) string {
			return fmt.Sprintf("Created %s snapshot %s of %s.", p.Kind, p.Request.Name, p.Domain)
		})
}

type snapshotRevertOptions struct {
	Env                    *Env
	Domain, Name           string
	Running, Paused, Force bool
	DiscardCurrent         bool
}

// NewCmdSnapshotRevert builds `virtchain snapshot revert DOMAIN NAME`.
func NewCmdSnapshotRevert(env *Env) *cobra.Command {
	opts := &snapshotRevertOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "revert DOMAIN NAME",
		OnDomain: true,
		Short:    "revert a domain to a snapshot (external ones too, on libvirt before 9.9)",
		Long: "Internal snapshots and, where libvirt advertises <externalSnapshot/>, external\n" +
			"ones are reverted by libvirt. Otherwise virtchain reverts an external snapshot\n" +
			"itself: a new overlay on each disk's image at the snapshot point, the domain\n" +
			"redefined onto them, a checkpoint's memory restored, the snapshot made\n" +
			"current. The newer overlays stay on disk and later snapshots stay in the tree.\n" +
			"First the current state (memory too, when it runs) becomes snapshot\n" +
			"before-revert-to-NAME, so a revert back is possible; --discard-current skips\n" +
			"that, and the plan lists the files that are then deleted and by whom.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeSnapshot},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.DiscardCurrent, "discard-current", "do not snapshot the current state first: it is lost")
		f.BoolVar(&opts.Running, "running", "leave the domain running afterwards")
		f.BoolVar(&opts.Paused, "paused", "leave the domain paused afterwards")
		f.BoolVar(&opts.Force, "force", "allow the risky reverts libvirt asks --force for")
	}, func(args []string) error {
		opts.Domain, opts.Name = args[0], args[1]
		return runSnapshotRevert(opts)
	})
}

func runSnapshotRevert(o *snapshotRevertOptions) error {
	start, err := startMode(o.Running, o.Paused)
	if err != nil {
		return err
	}
	env := o.Env
	req := model.SnapshotRevertRequest{Domain: o.Domain, Name: o.Name, Start: start, Force: o.Force, DiscardCurrent: o.DiscardCurrent}
	return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotRevertPlan, error) {
		return conn.PlanSnapshotRevert(env.Ctx, req)
	},
		func(p *model.SnapshotRevertPlan) model.Plan { return p.Plan },
		func(conn *libvirtx.Conn, p *model.SnapshotRevertPlan) error { return conn.RevertSnapshot(env.Ctx, p) },
		func(p *model.SnapshotRevertPlan) string {
			return fmt.Sprintf("Reverted %s to snapshot %s.", req.Domain, req.Name)
		})
}

type snapshotDeleteOptions struct {
	Env          *Env
	Domain, Name string
	MetadataOnly bool
}

// NewCmdSnapshotDelete builds `virtchain snapshot delete DOMAIN NAME`.
func NewCmdSnapshotDelete(env *Env) *cobra.Command {
	opts := &snapshotDeleteOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "delete DOMAIN NAME",
		OnDomain: true,
		Short:    "delete a snapshot (an external one is merged into the image below)",
		Long: "An internal snapshot's data is freed inside its qcow2 images. An external\n" +
			"snapshot's overlays are committed into the images below and removed by\n" +
			"libvirt. --metadata-only forgets the snapshot and leaves every file alone.\n" +
			"Refused, with what to do instead, when files of other domains or snapshots\n" +
			"would change, when a block job runs, or when libvirt cannot merge it.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeSnapshot},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.MetadataOnly, "metadata-only", "remove only libvirt's metadata; keep every file (virsh --metadata)")
	}, func(args []string) error {
		opts.Domain, opts.Name = args[0], args[1]
		return runSnapshotDelete(opts)
	})
}

func runSnapshotDelete(o *snapshotDeleteOptions) error {
	env := o.Env
	req := model.SnapshotDeleteRequest{Domain: o.Domain, Name: o.Name, MetadataOnly: o.MetadataOnly}
	return runOp(env, func(conn *libvirtx.Conn) (*model.SnapshotDeletePlan, error) {
		return conn.PlanSnapshotDelete(env.Ctx, req)
	},
		func(p *model.SnapshotDeletePlan) model.Plan { return p.Plan },
		func(conn *libvirtx.Conn, p *model.SnapshotDeletePlan) error { return conn.DeleteSnapshot(env.Ctx, p) },
		func(p *model.SnapshotDeletePlan) string {
			return fmt.Sprintf("Deleted snapshot %s of %s.", req.Name, req.Domain)
		})
}

type saveOptions struct {
	Env          *Env
	Domain, File string
}

// NewCmdSave builds `virtchain save DOMAIN FILE`.
func NewCmdSave(env *Env) *cobra.Command {
	opts := &saveOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "save DOMAIN FILE",
		OnDomain: true,
		Short:    "save a running domain's memory and device state to FILE and stop it",
		JSON:     true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeFile},
	}, nil, func(args []string) error {
		opts.Domain, opts.File = args[0], args[1]
		return runSave(opts)
	})
}

func runSave(o *saveOptions) error {
	env := o.Env
	var req model.SaveRequest
	return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) {
		req = model.SaveRequest{Domain: o.Domain, File: absPath(conn, o.File)}
		return conn.PlanSave(env.Ctx, req)
	}, plainPlan,
		func(conn *libvirtx.Conn, _ *model.Plan) error { return conn.Save(env.Ctx, req) },
		func(*model.Plan) string { return fmt.Sprintf("Saved %s to %s.", req.Domain, req.File) })
}

type restoreOptions struct {
	Env             *Env
	File            string
	Running, Paused bool
}

// NewCmdRestore builds `virtchain restore FILE`.
func NewCmdRestore(env *Env) *cobra.Command {
	opts := &restoreOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "restore FILE",
		Short: "start a domain from a save file",
		JSON:  true, DryRun: true, Changes: true,
		Complete: []completer{completeFile},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.Running, "running", "start it running, whatever the file says")
		f.BoolVar(&opts.Paused, "paused", "start it paused")
	}, func(args []string) error {
		opts.File = args[0]
		return runRestore(opts)
	})
}

func runRestore(o *restoreOptions) error {
	start, err := startMode(o.Running, o.Paused)
	if err != nil {
		return err
	}
	env := o.Env
	var req model.RestoreRequest
	return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) {
		req = model.RestoreRequest{File: absPath(conn, o.File), Start: start}
		return conn.PlanRestore(env.Ctx, req)
	}, plainPlan,
		func(conn *libvirtx.Conn, _ *model.Plan) error { return conn.Restore(env.Ctx, req) },
		func(p *model.Plan) string { return fmt.Sprintf("Restored %s from %s.", p.Domain, req.File) })
}

// domainOptions is the options of the commands that take only a domain:
// managedsave, managedsave-remove, start.
type domainOptions struct {
	Env    *Env
	Domain string
}

// domainAction is one of those commands: how it plans, acts, and says so.
type domainAction struct {
	use, short string
	plan       func(*libvirtx.Conn, context.Context, string) (*model.Plan, error)
	act        func(*libvirtx.Conn, context.Context, string) error
	done       string // with the domain's name for %s
}

func newDomainCmd(env *Env, a domainAction) *cobra.Command {
	opts := &domainOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use: a.use + " DOMAIN", Short: a.short, OnDomain: true, JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain},
	}, nil, func(args []string) error {
		opts.Domain = args[0]
		return runDomainAction(opts, a)
	})
}

func runDomainAction(o *domainOptions, a domainAction) error {
	env := o.Env
	return runOp(env, func(conn *libvirtx.Conn) (*model.Plan, error) { return a.plan(conn, env.Ctx, o.Domain) }, plainPlan,
		func(conn *libvirtx.Conn, _ *model.Plan) error { return a.act(conn, env.Ctx, o.Domain) },
		func(*model.Plan) string { return fmt.Sprintf(a.done, o.Domain) })
}

// NewCmdManagedSave builds `virtchain managedsave DOMAIN`.
func NewCmdManagedSave(env *Env) *cobra.Command {
	return newDomainCmd(env, domainAction{
		use:   "managedsave",
		short: "save a running domain to libvirt's managed-save image and stop it; start resumes it",
		plan:  (*libvirtx.Conn).PlanManagedSave, act: (*libvirtx.Conn).ManagedSave,
		done: "Saved %s to its managed-save image.",
	})
}

// NewCmdManagedSaveRemove builds `virtchain managedsave-remove DOMAIN`.
func NewCmdManagedSaveRemove(env *Env) *cobra.Command {
	return newDomainCmd(env, domainAction{
		use:   "managedsave-remove",
		short: "remove a domain's managed-save image; the next start boots fresh",
		plan:  (*libvirtx.Conn).PlanManagedSaveRemove, act: (*libvirtx.Conn).ManagedSaveRemove,
		done: "Removed the managed-save image of %s.",
	})
}

// NewCmdStart builds `virtchain start DOMAIN`.
func NewCmdStart(env *Env) *cobra.Command {
	return newDomainCmd(env, domainAction{
		use:   "start",
		short: "start a domain (from its managed-save image when it has one)",
		plan:  (*libvirtx.Conn).PlanStart, act: (*libvirtx.Conn).Start,
		done: "Started %s.",
	})
}
