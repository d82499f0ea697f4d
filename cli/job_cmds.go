package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"virtchain/libvirtx"
	"virtchain/model"
)

// The run functions of the block-job commands: commit, pull, jobs, abort,
// bandwidth, cleanup (their flags and options are in job_cmdline.go). None
// of them prompts: the plan is printed, then carried out (or only printed
// with --dry-run).

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
	remote := ""
	if !conn.Local() {
		remote = conn.URI()
	}
	writeAfterJob(env.Stdout, bp.Domain, remote, out)
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
