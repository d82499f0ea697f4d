package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"virtchain/libvirtx"
	"virtchain/model"
)

// The block-job commands: commit, pull, jobs, abort, bandwidth, cleanup.
// None of them prompts: the plan is printed, then carried out (or only
// printed with --dry-run).

func init() {
	var (
		top, base                  string
		bw                         bandwidthValue
		shallow, active, pivot     bool
		keepOverlay, wait, relativ bool
		deleteFiles                bool
	)
	bwFlag := func(f *FlagSet) {
		bw = 0
		f.Var(&bw, "bandwidth", "MiB/s", "limit the copy speed in MiB/s, as virsh does (fractions allowed; 0 is no limit)")
	}
	waitFlag := func(f *FlagSet, what string) {
		wait = false
		f.BoolVar(&wait, "wait", "follow "+what+" to its end with a progress bar (plain percentage lines when piped)")
	}
	register(Command{
		Name:    "commit",
		Args:    "DOMAIN TARGET",
		Summary: "merge a range of a disk's chain down into its base (blockcommit)",
		Help: "The data of --top and of every layer between it and --base is written into\n" +
			"--base; those layers leave the chain. X and Y are each a path, an index such as\n" +
			"vda[3] (running domains), or the name of the snapshot that created the layer.\n" +
			"Without --top the active layer is the top: an active commit, which needs\n" +
			"--active and then --pivot (the base becomes the active layer) or\n" +
			"--keep-overlay (abort at READY, chain unchanged); both wait for READY.\n" +
			"Without --base: the bottom of the chain, or with --shallow the image directly\n" +
			"below the top. A shut-off domain is merged with qemu-img and its definition\n" +
			"updated; virtchain waits for it, as qemu-img runs inside virtchain. Other\n" +
			"domains or snapshots using the images involved are refused.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			top, base, shallow, active, pivot, keepOverlay, relativ = "", "", false, false, false, false, false
			f.StringVar(&top, "top", "X", "the highest layer whose data moves (default: the active layer)")
			f.StringVar(&base, "base", "Y", "the image the data moves into (default: the bottom of the chain)")
			f.BoolVar(&shallow, "shallow", "commit into the image directly below --top")
			f.BoolVar(&active, "active", "the top is the active layer: mirror, then --pivot or --keep-overlay at READY")
			f.BoolVar(&pivot, "pivot", "with --active: at READY, make the base the active layer")
			f.BoolVar(&keepOverlay, "keep-overlay", "with --active: at READY, abort and keep the chain as it was")
			f.BoolVar(&relativ, "keep-relative", "keep backing names relative")
			bwFlag(f)
			waitFlag(f, "the job")
		},
		Run: func(env *Env, args []string) error {
			if pivot && keepOverlay {
				return Usagef("--pivot and --keep-overlay exclude each other")
			}
			if (pivot || keepOverlay) && !active {
				return Usagef("--pivot and --keep-overlay are for an active commit: add --active")
			}
			bps := int64(bw)
			req := model.CommitRequest{Domain: args[0], Target: args[1], Top: top, Base: base, Shallow: shallow,
				Active: active, Relative: relativ, Bandwidth: bps}
			switch {
			case pivot:
				req.AfterReady = model.AfterReadyPivot
			case keepOverlay:
				req.AfterReady = model.AfterReadyKeepOverlay
			}
			return runCommit(env, req, wait || pivot || keepOverlay)
		},
	})
	register(Command{
		Name:    "pull",
		Args:    "DOMAIN TARGET",
		Summary: "copy data up into the active layer (blockpull), with or without a base",
		Help: "The data of the layers below the active layer, down to (not including)\n" +
			"--base, is copied into the active layer, whose backing file becomes --base.\n" +
			"Without --base everything is copied and the disk no longer depends on any\n" +
			"backing image (as before a migration). Y is a path, an index such as vda[3],\n" +
			"or the name of the snapshot that created the layer. A shut-off domain is\n" +
			"pulled with qemu-img rebase, and virtchain waits for it.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			base, relativ = "", false
			f.StringVar(&base, "base", "Y", "the layer that stays as the backing image (default: none, a full pull)")
			f.BoolVar(&relativ, "keep-relative", "keep backing names relative")
			bwFlag(f)
			waitFlag(f, "the job")
		},
		Run: func(env *Env, args []string) error {
			bps := int64(bw)
			req := model.PullRequest{Domain: args[0], Target: args[1], Base: base, Relative: relativ, Bandwidth: bps}
			return runPull(env, req, wait)
		},
	})
	register(Command{
		Name:    "jobs",
		Summary: "every block job on the connection, including ones virsh started",
		JSON:    true,
		Flags:   func(f *FlagSet) { waitFlag(f, "every job") },
		Run:     func(env *Env, _ []string) error { return runJobs(env, wait) },
	})
	register(Command{
		Name:    "abort",
		Args:    "DOMAIN TARGET",
		Summary: "stop a disk's block job; with --pivot, switch a READY mirror to its base",
		Help: "Without --pivot the chain stays as it was (for an active commit at READY\n" +
			"the base keeps the copied data). With --pivot an active commit at READY makes\n" +
			"its base the active layer; with --pivot --wait a job not READY yet is pivoted\n" +
			"as soon as it gets there.",
		JSON: true, Changes: true,
		Flags: func(f *FlagSet) {
			pivot = false
			f.BoolVar(&pivot, "pivot", "pivot a READY active commit instead of abandoning it")
			waitFlag(f, "the job")
		},
		Run: func(env *Env, args []string) error { return runAbort(env, args[0], args[1], pivot, wait) },
	})
	register(Command{
		Name:    "bandwidth",
		Args:    "DOMAIN TARGET MIB_PER_S",
		Summary: "change the speed limit of a running block job (0 removes it)",
		Changes: true,
		Run:     func(env *Env, args []string) error { return runBandwidth(env, args[0], args[1], args[2]) },
	})
	register(Command{
		Name:    "cleanup",
		Args:    "DOMAIN [FILE]...",
		Summary: "after a commit or pull: drop stale snapshot metadata, optionally delete left files",
		Help: "Snapshots whose files left the chain are removed with a metadata-only delete\n" +
			"(on libvirt 9.0 a normal delete of them fails). With --delete-files, the\n" +
			"files they named, and each FILE given (files a virtchain commit or pull\n" +
			"listed as leaving the chain), are deleted. Each must be a regular qcow2 or\n" +
			"raw image that left this domain's chains, used by no chain, snapshot or\n" +
			"save image of any domain; any other FILE refuses the whole cleanup.",
		JSON: true, DryRun: true, Changes: true,
		Flags: func(f *FlagSet) {
			deleteFiles = false
			f.BoolVar(&deleteFiles, "delete-files", "also delete the files that left the chain and nothing references")
		},
		Run: func(env *Env, args []string) error { return runCleanup(env, args[0], args[1:], deleteFiles) },
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

// runBandwidth is 'virtchain bandwidth DOMAIN TARGET MIB_PER_S'.
func runBandwidth(env *Env, domain, disk, mibPerS string) error {
	bps, err := parseBandwidth(mibPerS)
	if err != nil {
		return Usagef("MIB_PER_S %q: %v", mibPerS, err)
	}
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	if err := conn.SetJobBandwidth(domain, disk, bps); err != nil {
		return err
	}
	printf(env.Stdout, "%s %s: bandwidth %s\n", domain, disk, model.BandwidthText(bps))
	return nil
}

// blockJobJSON is what commit and pull print with --json.
type blockJobJSON struct {
	Plan *model.BlockPlan `json:"plan"`
	Job  *model.Job       `json:"job,omitempty"`
	// After a --wait that succeeded: what reconciliation found.
	StaleSnapshots []string `json:"stale_snapshots,omitempty"`
	LeftFiles      []string `json:"left_files,omitempty"`
	// KeptFiles are the left files a snapshot that is not stale still
	// reads (at its point), each with who: a cleanup keeps them.
	KeptFiles []string `json:"kept_files,omitempty"`
}

// runCommit is 'virtchain commit': the plan of the TUI's commit, from
// the same Conn.PlanCommit.
func runCommit(env *Env, req model.CommitRequest, wait bool) error {
	return runBlockJob(env, wait, func(conn *libvirtx.Conn) (*model.BlockPlan, error) { return conn.PlanCommit(env.Ctx, req) })
}

// runPull is 'virtchain pull'.
func runPull(env *Env, req model.PullRequest, wait bool) error {
	return runBlockJob(env, wait, func(conn *libvirtx.Conn) (*model.BlockPlan, error) { return conn.PlanPull(env.Ctx, req) })
}

// runBlockJob plans (one read of the host), prints the plan, and unless
// --dry-run starts it through Conn.StartBlockJob, which plans again and
// refuses a plan the host moved away from (following it with --wait).
func runBlockJob(env *Env, wait bool, plan func(*libvirtx.Conn) (*model.BlockPlan, error)) error {
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	bp, err := plan(conn)
	if err != nil {
		return err
	}
	// An offline merge is a qemu-img run of this process: it cannot go on
	// after virtchain exits, so it is always followed to its end.
	wait = wait || bp.Offline
	if env.DryRun {
		if env.JSON {
			return env.PrintJSON(blockJobJSON{Plan: bp})
		}
		return writeBlockPlan(env.Stdout, bp)
	}
	if !env.JSON {
		if err := writeBlockPlan(env.Stdout, bp); err != nil {
			return err
		}
	}
	f, err := watchJobs(env, false)
	if err != nil {
		return err
	}
	defer f.Close()
	// The follower's watcher is the connection's: the job starts under it.
	job, err := conn.StartBlockJob(env.Ctx, bp)
	if err != nil {
		return err
	}
	if !wait {
		if env.JSON {
			return env.PrintJSON(blockJobJSON{Plan: bp, Job: &job})
		}
		printf(env.Stdout, "Started %s on %s %s; follow it with 'virtchain jobs --wait'\n", bp.Kind, bp.Domain, bp.Target)
		return nil
	}
	return followBlockJob(env, f, bp, job)
}

// followBlockJob follows a job runBlockJob started to its end (or to a
// READY nothing acts on) and says what it left behind.
func followBlockJob(env *Env, f *jobFollow, bp *model.BlockPlan, job model.Job) error {
	final, err := followJobs(env, f, map[string]bool{job.Key(): true}, true)
	if err != nil {
		return err
	}
	job = final[job.Key()]
	conn, err := env.Conn() // a new one after a reconnect
	if err != nil {
		return err
	}
	out := blockJobJSON{Plan: bp, Job: &job}
	if waitsAtReady(job) {
		if env.JSON {
			return env.PrintJSON(out)
		}
		fmt.Fprintln(env.Stdout, readyNote(job))
		return nil
	}
	if !job.Succeeded() {
		if env.JSON {
			_ = env.PrintJSON(out)
		}
		return jobFailure(job)
	}
	reconcileAfterJob(env, conn, bp, &out)
	if env.JSON {
		return env.PrintJSON(out)
	}
	writeAfterJob(env.Stdout, bp.Domain, out)
	return nil
}

func jobFailure(j model.Job) error {
	what := fmt.Sprintf("%s on %s %s %s", j.Kind, j.Domain, j.Disk, j.Phase)
	if j.Error != "" {
		return fmt.Errorf("%s: %s", what, j.Error)
	}
	if j.Phase == model.PhaseCancelled {
		return fmt.Errorf("%s; the chain is as it was", what)
	}
	return fmt.Errorf("%s", what)
}

func writeBlockPlan(w io.Writer, bp *model.BlockPlan) error {
	if err := writePlan(w, bp.Plan); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Chain afterwards (active first):\n")
	for _, p := range bp.NewChain {
		printf(&b, "  %s\n", p)
	}
	if bp.Bandwidth > 0 {
		fmt.Fprintf(&b, "Bandwidth: %s\n", model.BandwidthText(bp.Bandwidth))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// runJobs is 'virtchain jobs': a table of every block job now, or with
// --wait each one followed to its end.
func runJobs(env *Env, wait bool) error {
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	if wait {
		return runJobsWait(env)
	}
	jobs, err := readJobsTwice(env, conn)
	if err != nil {
		return err
	}
	return env.Emit(jobs, func(out io.Writer) error { return writeJobsTable(out, jobs) })
}

// readJobsTwice reads the jobs twice, half a second apart, which gives a
// rate and an ETA; a failed second reading leaves them without. None is
// an empty list, not nil (JSON []).
func readJobsTwice(env *Env, conn *libvirtx.Conn) ([]model.Job, error) {
	jobs, err := conn.ListJobs(env.Ctx)
	if err != nil || len(jobs) == 0 {
		return []model.Job{}, err
	}
	select {
	case <-env.Ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
	again, err := conn.ListJobs(env.Ctx)
	if err != nil {
		return jobs, nil
	}
	byKey := map[string]model.Job{}
	for _, j := range again {
		byKey[j.Key()] = j
	}
	for i := range jobs {
		if a, ok := byKey[jobs[i].Key()]; ok {
			jobs[i].Observe(a.Cur, a.End, a.Updated)
			jobs[i].Phase, jobs[i].Bandwidth = a.Phase, a.Bandwidth
		}
	}
	return jobs, nil
}

func writeJobsTable(out io.Writer, jobs []model.Job) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(out, "no block jobs")
		return err
	}
	t := newTable(out, "DOMAIN", "DISK", "KIND", "PHASE", "PROGRESS", "DONE", "TOTAL", "RATE", "ETA", "BANDWIDTH")
	for _, j := range jobs {
		rate, eta := "-", "-"
		if r := j.Rate(); r > 0 {
			rate = model.FormatBytes(int64(r)) + "/s"
		}
		if e, ok := j.ETA(); ok {
			eta = e.Round(time.Second).String()
		}
		t.Row(j.Domain, j.Disk, string(j.Kind), string(j.Phase), fmt.Sprintf("%d%%", int(j.Fraction()*100)),
			model.FormatBytes(j.Cur), model.FormatBytes(j.End), rate, eta, model.BandwidthText(j.Bandwidth))
	}
	return t.Flush()
}

// runJobsWait is 'virtchain jobs --wait'.
func runJobsWait(env *Env) error {
	f, err := watchJobs(env, false)
	if err != nil {
		return err
	}
	defer f.Close()
	if len(f.w.Jobs()) == 0 {
		return env.Emit([]model.Job{}, func(out io.Writer) error {
			_, err := fmt.Fprintln(out, "no block jobs")
			return err
		})
	}
	final, err := followJobs(env, f, nil, true)
	if err != nil {
		return err
	}
	var list []model.Job
	failed := 0
	for _, j := range final {
		list = append(list, j)
		if waitsAtReady(j) {
			if !env.JSON {
				fmt.Fprintln(env.Stdout, readyNote(j))
			}
		} else if !j.Succeeded() {
			failed++
		}
	}
	if env.JSON {
		if err := env.PrintJSON(list); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d job(s) did not complete", failed)
	}
	return nil
}

// runAbort is 'virtchain abort'. Without --wait it asks libvirt and
// returns; with it, the job is followed to its end under a watcher that
// carries out no recorded READY action (WatchJobsToStop).
func runAbort(env *Env, domain, disk string, pivot, wait bool) error {
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	if !wait {
		return abortNow(env, conn, domain, disk, pivot)
	}
	f, err := watchJobs(env, true)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, ok := f.w.Job(domain, disk); !ok {
		if _, err := conn.DiscoverDomain(env.Ctx, domain); err != nil {
			return err // no such domain, said as everywhere else
		}
		return model.NoJob(domain, disk)
	}
	f.again = func(w *libvirtx.JobWatcher) error {
		if pivot {
			return w.PivotWhenReady(domain, disk)
		}
		return w.Abort(domain, disk, false)
	}
	if err := f.again(f.w); err != nil {
		return err
	}
	key := model.JobKey(domain, disk)
	final, err := followJobs(env, f, map[string]bool{key: true}, false)
	if err != nil {
		return err
	}
	j := final[key]
	if env.JSON {
		if err := env.PrintJSON(j); err != nil {
			return err
		}
	}
	// Without --pivot, a cancelled job is what was asked for.
	if (pivot && j.Phase != model.PhaseCompleted) || (!pivot && j.Phase == model.PhaseFailed) {
		return jobFailure(j)
	}
	return nil
}

// abortNow is 'virtchain abort' without --wait: the request is sent, the
// outcome arrives later.
func abortNow(env *Env, conn *libvirtx.Conn, domain, disk string, pivot bool) error {
	if err := conn.AbortJob(domain, disk, pivot); err != nil {
		var r *model.Refusal
		if pivot && !errors.As(err, &r) {
			err = fmt.Errorf("%w (with --wait, virtchain pivots when the job gets to READY)", err)
		}
		return err
	}
	what := "abort"
	if pivot {
		what = "pivot"
	}
	if env.JSON {
		return env.PrintJSON(map[string]string{"domain": domain, "disk": disk, "requested": what})
	}
	printf(env.Stdout, "%s requested on %s %s; 'virtchain jobs' shows when it is done\n", what, domain, disk)
	return nil
}

func runCleanup(env *Env, domain string, files []string, deleteFiles bool) error {
	conn, err := env.Conn()
	if err != nil {
		return err
	}
	cp, err := conn.PlanCleanup(env.Ctx, model.CleanupRequest{Domain: domain, Files: files, DeleteFiles: deleteFiles})
	if err != nil {
		return err
	}
	if env.DryRun {
		if env.JSON {
			return env.PrintJSON(cp)
		}
		return writePlan(env.Stdout, cp.Plan)
	}
	res, err := conn.Cleanup(env.Ctx, cp)
	if env.JSON {
		if jerr := env.PrintJSON(res); jerr != nil && err == nil {
			err = jerr
		}
		return err
	}
	for _, s := range res.RemovedSnapshots {
		printf(env.Stdout, "removed metadata of snapshot %s\n", s)
	}
	for _, f := range res.DeletedFiles {
		printf(env.Stdout, "deleted %s\n", f)
	}
	for _, k := range res.Kept {
		printf(env.Stdout, "kept %s\n", k)
	}
	if len(res.RemovedSnapshots)+len(res.DeletedFiles)+len(res.Kept) == 0 {
		printf(env.Stdout, "nothing to clean on %s\n", domain)
	}
	return err
}
