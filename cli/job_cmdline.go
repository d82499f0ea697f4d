package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"virtchain/model"
)

// The flag layer of the block-job commands: commit, pull, jobs, abort,
// bandwidth, cleanup. Their run functions are in job_cmds.go.

// jobFlags are the flags commit and pull share.
type jobFlags struct {
	Bandwidth bandwidthValue // bytes per second; 0 is no limit
	Wait      bool
}

func (j *jobFlags) bandwidthFlag(f *FlagSet) {
	f.Var(&j.Bandwidth, "bandwidth", "MiB/s", "limit the copy speed in MiB/s, as virsh does (fractions allowed; 0 is no limit)")
}

func (j *jobFlags) waitFlag(f *FlagSet, what string) {
	f.BoolVar(&j.Wait, "wait", "follow "+what+" to its end with a progress bar (plain percentage lines when piped)")
}

// layerFlag registers completion of a flag that names a layer.
func layerFlag(env *Env, cmd *cobra.Command, names ...string) *cobra.Command {
	for _, n := range names {
		_ = cmd.RegisterFlagCompletionFunc(n, env.completeWith(completeLayer))
	}
	return cmd
}

type commitOptions struct {
	Env                       *Env
	Domain, Target            string
	Top, Base                 string
	Shallow, Active, Pivot    bool
	KeepOverlay, KeepRelative bool
	jobFlags
}

// NewCmdCommit builds `virtchain commit DOMAIN TARGET`.
func NewCmdCommit(env *Env) *cobra.Command {
	opts := &commitOptions{Env: env}
	cmd := newCommand(env, cmdSpec{
		Use:      "commit DOMAIN TARGET",
		OnDomain: true,
		Short:    "merge a range of a disk's chain down into its base (blockcommit)",
		Long: "The data of --top and of every layer between it and --base is written into\n" +
			"--base; those layers leave the chain. X and Y are each a path, an index such as\n" +
			"vda[3] (running domains), or the name of the snapshot that created the layer.\n" +
			"Without --top the active layer is the top: an active commit, which needs\n" +
			"--active and then --pivot (the base becomes the active layer) or\n" +
			"--keep-overlay (abort at READY, chain unchanged); both wait for READY.\n" +
			"Without --base: the bottom of the chain, or with --shallow the image directly\n" +
			"below the top. A shut-off domain is merged with qemu-img and its definition\n" +
			"updated; virtchain waits for it, as qemu-img runs inside virtchain. Over a\n" +
			"remote connection it is started paused for the merge and destroyed after.\n" +
			"Other domains or snapshots using the images involved are refused.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeDisk},
	}, func(f *FlagSet) {
		f.StringVar(&opts.Top, "top", "X", "the highest layer whose data moves (default: the active layer)")
		f.StringVar(&opts.Base, "base", "Y", "the image the data moves into (default: the bottom of the chain)")
		f.BoolVar(&opts.Shallow, "shallow", "commit into the image directly below --top")
		f.BoolVar(&opts.Active, "active", "the top is the active layer: mirror, then --pivot or --keep-overlay at READY")
		f.BoolVar(&opts.Pivot, "pivot", "with --active: at READY, make the base the active layer")
		f.BoolVar(&opts.KeepOverlay, "keep-overlay", "with --active: at READY, abort and keep the chain as it was")
		f.BoolVar(&opts.KeepRelative, "keep-relative", "keep backing names relative")
		opts.bandwidthFlag(f)
		opts.waitFlag(f, "the job")
	}, func(args []string) error {
		opts.Domain, opts.Target = args[0], args[1]
		req, err := opts.request()
		if err != nil {
			return err
		}
		return runCommit(opts.Env, req, opts.Wait || opts.Pivot || opts.KeepOverlay)
	})
	return layerFlag(env, cmd, "top", "base")
}

// request checks the flags that go together and makes the request.
func (o *commitOptions) request() (model.CommitRequest, error) {
	if o.Pivot && o.KeepOverlay {
		return model.CommitRequest{}, Usagef("--pivot and --keep-overlay exclude each other")
	}
	if (o.Pivot || o.KeepOverlay) && !o.Active {
		return model.CommitRequest{}, Usagef("--pivot and --keep-overlay are for an active commit: add --active")
	}
	req := model.CommitRequest{Domain: o.Domain, Target: o.Target, Top: o.Top, Base: o.Base, Shallow: o.Shallow,
		Active: o.Active, Relative: o.KeepRelative, Bandwidth: int64(o.Bandwidth)}
	switch {
	case o.Pivot:
		req.AfterReady = model.AfterReadyPivot
	case o.KeepOverlay:
		req.AfterReady = model.AfterReadyKeepOverlay
	}
	return req, nil
}

type pullOptions struct {
	Env            *Env
	Domain, Target string
	Base           string
	KeepRelative   bool
	jobFlags
}

// NewCmdPull builds `virtchain pull DOMAIN TARGET`.
func NewCmdPull(env *Env) *cobra.Command {
	opts := &pullOptions{Env: env}
	cmd := newCommand(env, cmdSpec{
		Use:      "pull DOMAIN TARGET",
		OnDomain: true,
		Short:    "copy data up into the active layer (blockpull), with or without a base",
		Long: "The data of the layers below the active layer, down to (not including)\n" +
			"--base, is copied into the active layer, whose backing file becomes --base.\n" +
			"Without --base everything is copied and the disk no longer depends on any\n" +
			"backing image (as before a migration). Y is a path, an index such as vda[3],\n" +
			"or the name of the snapshot that created the layer. A shut-off domain is\n" +
			"pulled with qemu-img rebase, and virtchain waits for it; over a remote\n" +
			"connection it is started paused for the pull and destroyed after.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeDisk},
	}, func(f *FlagSet) {
		f.StringVar(&opts.Base, "base", "Y", "the layer that stays as the backing image (default: none, a full pull)")
		f.BoolVar(&opts.KeepRelative, "keep-relative", "keep backing names relative")
		opts.bandwidthFlag(f)
		opts.waitFlag(f, "the job")
	}, func(args []string) error {
		opts.Domain, opts.Target = args[0], args[1]
		req := model.PullRequest{Domain: opts.Domain, Target: opts.Target, Base: opts.Base,
			Relative: opts.KeepRelative, Bandwidth: int64(opts.Bandwidth)}
		return runPull(opts.Env, req, opts.Wait)
	})
	return layerFlag(env, cmd, "base")
}

type jobsOptions struct {
	Env *Env
	jobFlags
}

// NewCmdJobs builds `virtchain jobs`.
func NewCmdJobs(env *Env) *cobra.Command {
	opts := &jobsOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "jobs",
		Short: "every block job on the connection, including ones virsh started",
		JSON:  true,
	}, func(f *FlagSet) { opts.waitFlag(f, "every job") },
		func([]string) error { return runJobs(opts.Env, opts.Wait) })
}

type abortOptions struct {
	Env            *Env
	Domain, Target string
	Pivot          bool
	jobFlags
}

// NewCmdAbort builds `virtchain abort DOMAIN TARGET`.
func NewCmdAbort(env *Env) *cobra.Command {
	opts := &abortOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "abort DOMAIN TARGET",
		OnDomain: true,
		Short:    "stop a disk's block job; with --pivot, switch a READY mirror to its base",
		Long: "Without --pivot the chain stays as it was (for an active commit at READY\n" +
			"the base keeps the copied data). With --pivot an active commit at READY makes\n" +
			"its base the active layer; with --pivot --wait a job not READY yet is pivoted\n" +
			"as soon as it gets there.",
		JSON: true, Changes: true,
		Complete: []completer{completeDomain, completeDisk},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.Pivot, "pivot", "pivot a READY active commit instead of abandoning it")
		opts.waitFlag(f, "the job")
	}, func(args []string) error {
		opts.Domain, opts.Target = args[0], args[1]
		return runAbort(opts.Env, opts.Domain, opts.Target, opts.Pivot, opts.Wait)
	})
}

type bandwidthOptions struct {
	Env            *Env
	Domain, Target string
	MiBPerS        string
}

// NewCmdBandwidth builds `virtchain bandwidth DOMAIN TARGET MIB_PER_S`.
func NewCmdBandwidth(env *Env) *cobra.Command {
	opts := &bandwidthOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "bandwidth DOMAIN TARGET MIB_PER_S",
		OnDomain: true,
		Short:    "change the speed limit of a running block job (0 removes it)",
		Changes:  true,
		Complete: []completer{completeDomain, completeDisk, nil},
	}, nil, func(args []string) error {
		opts.Domain, opts.Target, opts.MiBPerS = args[0], args[1], args[2]
		return runBandwidth(opts.Env, opts.Domain, opts.Target, opts.MiBPerS)
	})
}

type cleanupOptions struct {
	Env         *Env
	Domain      string
	Files       []string
	DeleteFiles bool
}

// NewCmdCleanup builds `virtchain cleanup DOMAIN [FILE]...`.
func NewCmdCleanup(env *Env) *cobra.Command {
	opts := &cleanupOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:      "cleanup DOMAIN [FILE]...",
		OnDomain: true,
		Short:    "after a commit or pull: drop stale snapshot metadata, optionally delete left files",
		Long: "Snapshots whose files left the chain are removed with a metadata-only delete\n" +
			"(on libvirt 9.0 a normal delete of them fails). With --delete-files, the\n" +
			"files they named, and each FILE given (files a virtchain commit or pull\n" +
			"listed as leaving the chain), are deleted. Each must be a regular qcow2 or\n" +
			"raw image that left this domain's chains, used by no chain, snapshot or\n" +
			"save image of any domain; any other FILE refuses the whole cleanup.",
		JSON: true, DryRun: true, Changes: true,
		Complete: []completer{completeDomain, completeFile},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.DeleteFiles, "delete-files", "also delete the files that left the chain and nothing references")
	}, func(args []string) error {
		opts.Domain, opts.Files = args[0], args[1:]
		return runCleanup(opts.Env, opts.Domain, opts.Files, opts.DeleteFiles)
	})
}

// parseBandwidth reads MiB/s (virsh's unit) into bytes per second. An
// empty value is an error, not 0: 0 lifts the limit, which nobody should
// get from a typo or an unset shell variable.
func parseBandwidth(s string) (int64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "M"), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1<<40 {
		return 0, fmt.Errorf("give MiB/s as a number of at least 0, such as 10 or 0.5")
	}
	return int64(v * (1 << 20)), nil
}

// bandwidthValue is --bandwidth: MiB/s on the command line, bytes per
// second inside, checked while the flags are parsed.
type bandwidthValue int64

func (b *bandwidthValue) Set(s string) error {
	v, err := parseBandwidth(s)
	*b = bandwidthValue(v)
	return err
}
func (b *bandwidthValue) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *bandwidthValue) Type() string   { return "MiB/s" }
