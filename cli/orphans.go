package cli

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"virtchain/libvirtx"
	"virtchain/model"
)

type orphansOptions struct {
	Env    *Env
	Dirs   []string
	Files  []string
	Delete bool
	All    bool
	MinAge time.Duration
}

// NewCmdOrphans builds `virtchain orphans [--dir DIR]... [--delete FILE...|--all]`.
func NewCmdOrphans(env *Env) *cobra.Command {
	opts := &orphansOptions{Env: env, MinAge: model.DefaultOrphanMinAge}
	return newCommand(env, cmdSpec{
		Use:   "orphans [FILE]...",
		Short: "find image files that no domain on any connected host uses; delete them",
		Long: "Searches every storage pool's folder, every folder holding an image some\n" +
			"domain uses, and each --dir for qcow2 and raw images (told by their\n" +
			"headers) that no chain, snapshot disk, snapshot point, save image or\n" +
			"managed-save image of any domain on any host named (-c, --host) uses.\n" +
			"They are shown as trees, with the bytes each would free. With --delete,\n" +
			"the FILEs named (or with --all every orphan) are deleted after a fresh\n" +
			"search finds exactly the plan again; --dry-run prints the plan. An unused\n" +
			"image changed within --min-age (default 1h) is listed as recent, not as an\n" +
			"orphan: it may still be in the making.",
		JSON: true, DryRun: true,
		Complete: []completer{completeFile},
	}, func(f *FlagSet) {
		f.StringsVar(&opts.Dirs, "dir", "DIR", "also search this folder (repeatable)")
		f.BoolVar(&opts.Delete, "delete", "delete the orphans named as FILE (or all with --all)")
		f.BoolVar(&opts.All, "all", "with --delete: every orphan found")
		f.DurationVar(&opts.MinAge, "min-age", "DURATION", "unused images changed more recently are not orphans yet (default 1h; 0: none)")
	}, func(args []string) error {
		opts.Files = args
		return runOrphans(opts)
	})
}

// check refuses flags that do not go together, before any connection.
func (o *orphansOptions) check() error {
	switch {
	case len(o.Files) > 0 && !o.Delete:
		return Usagef("files are named only to delete them; add --delete, or run 'virtchain orphans' to list")
	case o.All && !o.Delete:
		return Usagef("--all goes with --delete")
	case o.All && len(o.Files) > 0:
		return Usagef("give either FILEs or --all, not both")
	case o.MinAge < 0:
		return Usagef("--min-age %s is negative; give 0 or more, such as 30m", o.MinAge)
	case o.Delete && o.Env.ReadOnly && !o.Env.DryRun:
		return model.RefuseReadOnly("delete orphan images")
	}
	return nil
}

func runOrphans(o *orphansOptions) error {
	env := o.Env
	if err := o.check(); err != nil {
		return err
	}
	srcs, done, err := orphanSources(env)
	if err != nil {
		return err
	}
	defer done()
	q := model.OrphanQuery{Dirs: o.Dirs, MinAge: o.MinAge}
	r, err := model.GatherOrphans(env.Ctx, srcs, q)
	if err != nil {
		return err
	}
	if !o.Delete {
		if env.JSON {
			return env.PrintJSON(r)
		}
		return writeOrphans(env.Stdout, r)
	}
	plan, err := model.PlanOrphanDelete(r, model.OrphanDeleteRequest{OrphanQuery: q, Files: o.Files, All: o.All})
	if err != nil {
		return err
	}
	if env.DryRun {
		if env.JSON {
			return env.PrintJSON(plan) // the plan, and each file with its host and pool
		}
		return env.PrintPlan(plan.Plan)
	}
	deleted, err := model.DeleteOrphans(env.Ctx, srcs, plan)
	return printDeleted(env, deleted, len(srcs) > 1, err)
}

// printDeleted says what was deleted, also when the deletion stopped at
// err, which it returns.
func printDeleted(env *Env, deleted []model.OrphanImage, several bool, err error) error {
	if env.JSON {
		out := struct {
			Deleted []model.OrphanImage `json:"deleted"`
			Freed   int64               `json:"bytes_freed"`
		}{Deleted: deleted}
		for _, d := range deleted {
			out.Freed += d.Allocation
		}
		if jerr := env.PrintJSON(out); jerr != nil && err == nil {
			err = jerr
		}
		return err
	}
	for _, d := range deleted {
		printf(env.Stdout, "deleted %s (%s)\n", orphanWhere(d, several), model.FormatBytes(d.Allocation))
	}
	return err
}

// orphanSources opens every host named (one, or each of several), kept
// open for the search, the plan and the deletion.
func orphanSources(env *Env) ([]model.OrphanSource, func(), error) {
	if len(env.multi) == 0 {
		c, err := env.Conn()
		if err != nil {
			return nil, nil, err
		}
		return []model.OrphanSource{{Name: env.URI, Host: c}}, func() {}, nil
	}
	res, err := eachHostOpen(env, env.multi, env.ReadOnly)
	var conns []*libvirtx.Conn
	done := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	if err != nil {
		return nil, done, err
	}
	srcs := make([]model.OrphanSource, len(env.multi))
	for _, r := range res {
		if r.val != nil {
			conns = append(conns, r.val)
		}
	}
	for i, r := range res {
		if r.err != nil {
			// A host that cannot be asked may use any file: no search.
			done()
			return nil, nil, r.err
		}
		srcs[i] = model.OrphanSource{Name: env.multi[i].Name, Host: r.val}
	}
	return srcs, done, nil
}

// eachHostOpen opens every host at once and keeps the connections.
func eachHostOpen(env *Env, specs []hostSpec, readonly bool) ([]hostResult[*libvirtx.Conn], error) {
	out := make([]hostResult[*libvirtx.Conn], len(specs))
	done := make(chan int, len(specs))
	for i, s := range specs {
		go func() {
			out[i].val, out[i].err = openConn(s.URI, readonly)
			done <- i
		}()
	}
	for range specs {
		select {
		case <-done:
		case <-env.Ctx.Done():
			return nil, env.Ctx.Err()
		}
	}
	return out, nil
}

func orphanWhere(img model.OrphanImage, several bool) string {
	if several || img.Remote {
		return img.Host + ":" + img.Path
	}
	return img.Path
}

// writeOrphans draws the trees: each orphan under the image it backs
// onto, with its format, allocation and what deleting it with everything
// above it frees.
func writeOrphans(w io.Writer, r *model.OrphanReport) error {
	var b strings.Builder
	printf(&b, "%d orphan image(s) on %s, %s to free (%d folders searched)\n",
		r.Count, strings.Join(r.Hosts, ", "), model.FormatBytes(r.Total), len(r.Folders))
	last := -1
	for _, row := range r.Rows() {
		if row.Tree != last {
			last = row.Tree
			t := r.Trees[row.Tree]
			printf(&b, "\n%s, frees %s:\n", t.KindWords(), model.FormatBytes(t.Free))
		}
		indent := strings.Repeat("   ", row.Depth)
		if row.Depth > 0 {
			indent = strings.Repeat("   ", row.Depth-1) + "└─ "
		}
		if row.Node == nil {
			printf(&b, "  %s%s\n", indent, row.Head)
			continue
		}
		n := row.Node
		printf(&b, "  %s%s  %s  %s", indent, orphanWhere(n.OrphanImage, len(r.Hosts) > 1), n.Format, model.FormatBytes(n.Allocation))
		if len(n.Children) > 0 {
			printf(&b, "  (with those above: %s)", model.FormatBytes(n.Free))
		}
		b.WriteString("\n")
	}
	if len(r.Recent) > 0 {
		printf(&b, "\nnot orphans yet: %d unused image(s) changed within the last %s (maybe still in the making):\n", len(r.Recent), r.MinAge.String())
		for _, img := range r.Recent {
			printf(&b, "  %s  %s  %s\n", orphanWhere(img, len(r.Hosts) > 1), img.Format, model.FormatBytes(img.Allocation))
		}
	}
	for _, u := range append(r.Unsure, r.Skipped...) {
		printf(&b, "warning: %s\n", u)
	}
	if r.Count > 0 {
		printf(&b, "\ndelete with: virtchain orphans --delete FILE... (or --all); --dry-run shows the plan\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
