package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"virtchain/libvirtx"
	"virtchain/model"
)

// `virtchain history` reads the journal every change is written to
// (libvirtx/journal.go). It never connects: the journal is this
// machine's, and names the host of each operation.

type historyOptions struct {
	Env    *Env
	Domain string
	Virsh  bool
}

// NewCmdHistory builds `virtchain history [DOMAIN]`.
func NewCmdHistory(env *Env) *cobra.Command {
	opts := &historyOptions{Env: env}
	return newCommand(env, cmdSpec{
		Use:   "history [DOMAIN]",
		Short: "what virtchain changed, oldest first, from its journal",
		Long: "Every change virtchain makes (snapshots, save and restore, commit, pull, cleanup,\n" +
			"job abort, pivot and bandwidth, lab up and down, each orphan deleted) is written to a journal before it\n" +
			"starts and when it ends. An operation whose end is missing is shown as\n" +
			"\"interrupted\" (virtchain stopped: a crash, kill -9) or \"started\" (a block job\n" +
			"left running, whose end no virtchain saw), with the commands to look at.\n" +
			"--virsh prints the equivalent commands as a bash script.",
		JSON:     true,
		Complete: []completer{completeDomain},
	}, func(f *FlagSet) {
		f.BoolVar(&opts.Virsh, "virsh", "print the equivalent virsh and qemu-img commands as a bash script")
	}, func(args []string) error {
		if len(args) == 1 {
			opts.Domain = args[0]
		}
		return runHistory(opts)
	})
}

func runHistory(opts *historyOptions) error {
	env := opts.Env
	if opts.Virsh && env.JSON {
		return Usagef("--virsh and --json: pick one")
	}
	path, err := libvirtx.JournalPath()
	if err != nil {
		return err
	}
	ops, err := libvirtx.History("", opts.Domain)
	if err != nil {
		return err
	}
	if opts.Virsh {
		_, err := io.WriteString(env.Stdout, model.HistoryScript(ops))
		return err
	}
	return env.Emit(ops, func(w io.Writer) error { return writeHistory(w, ops, opts.Domain, path) })
}

// writeHistory is the readable history: a table, newest last, then what
// to look at for each operation whose end is not known.
func writeHistory(w io.Writer, ops []model.HistoryOp, domain, path string) error {
	if len(ops) == 0 {
		what := "no operations"
		if domain != "" {
			what += " on " + domain
		}
		printf(w, "%s in the journal %s\n", what, path)
		return nil
	}
	t := newTable(w, "TIME", "USER", "HOST", "DOMAIN", "OP", "RESULT", "WHAT")
	for _, o := range ops {
		what := o.Summary
		if o.Target != "" && !strings.Contains(what, o.Target) {
			what = o.Target + ": " + what
		}
		result := o.Outcome()
		if !o.Finished() {
			result = string(o.State) // said in full below the table
		}
		t.Row(o.Time.Local().Format("2006-01-02 15:04:05"), orDash(o.User), orDash(o.Host), orDash(o.Domain), o.Op,
			result, what)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, o := range ops {
		if o.Finished() || o.State == model.StateInProgress {
			continue
		}
		printf(w, "\n%s on %s, begun %s: %s\n", o.Op, orDash(o.Domain), o.Time.Local().Format(time.DateTime), o.Outcome())
		for _, c := range o.Check {
			printf(w, "  look at: %s\n", c)
		}
	}
	_, err := fmt.Fprintf(w, "\njournal: %s\n", model.Escape(path))
	return err
}
