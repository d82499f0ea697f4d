package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The commands about virtchain itself: version and man. Neither connects.

// Version is set at build time with -ldflags "-X virtchain/cli.Version=...".
var Version = "dev"

type versionJSON struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Revision string `json:"revision"`
}

func versionInfo() versionJSON {
	v := versionJSON{Version: Version, Go: runtime.Version(), Revision: "unknown revision"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v.Revision = s.Value[:12]
			}
		}
	}
	return v
}

// line is what `virtchain version` and --version print after "virtchain ".
func (v versionJSON) line() string { return fmt.Sprintf("%s (%s, %s)", v.Version, v.Go, v.Revision) }

type versionOptions struct{ Env *Env }

// NewCmdVersion builds `virtchain version`.
func NewCmdVersion(env *Env) *cobra.Command {
	opts := &versionOptions{Env: env}
	return newCommand(env, cmdSpec{Use: "version", Short: "print virtchain's version", JSON: true},
		nil, func([]string) error { return runVersion(opts) })
}

func runVersion(opts *versionOptions) error {
	v := versionInfo()
	if opts.Env.JSON {
		return opts.Env.PrintJSON(v)
	}
	_, err := fmt.Fprintf(opts.Env.Stdout, "virtchain %s\n", v.line())
	return err
}

type manOptions struct {
	Env  *Env
	Root *cobra.Command
}

// NewCmdMan builds `virtchain man`, which prints the manual page (roff),
// made from the same command tree as the help.
func NewCmdMan(env *Env, root *cobra.Command) *cobra.Command {
	opts := &manOptions{Env: env, Root: root}
	return newCommand(env, cmdSpec{Use: "man", Short: "print the manual page (man 1 virtchain)"},
		nil, func([]string) error { return runMan(opts) })
}

func runMan(opts *manOptions) error { return writeMan(opts.Env.Stdout, opts.Root) }

// writeMan writes the manual page in roff (man(7) macros): the overview,
// every command with its own flags, the global and terminal UI flags, the
// environment and the exit status.
func writeMan(w io.Writer, root *cobra.Command) error {
	var m manPage
	m.line(`.TH VIRTCHAIN 1 "%s" "virtchain %s" "User Commands"`, manDate().Format("2006-01-02"), roffEscape(Version))
	m.section("NAME")
	m.text("virtchain - " + root.Short)
	m.section("SYNOPSIS")
	m.line(`\fBvirtchain\fR [\fB-c\fR \fIURI\fR] [\fB--readonly\fR] [\fB--domain\fR \fINAME\fR]`)
	m.line(".br")
	m.line(`\fBvirtchain\fR \fICOMMAND\fR [\fIARGS\fR] [\fIFLAGS\fR]`)
	m.section("DESCRIPTION")
	m.para("virtchain draws every domain's qcow2 backing chains and snapshot trees and reshapes them safely: " +
		"internal and external snapshots, save and restore points, blockcommit and blockpull, each shown " +
		"as a plan before it runs. " + root.Long)
	m.section("COMMANDS")
	for _, c := range helpCommands(root) {
		m.tagged(useLine(c), c.Short)
		if c.Long != "" {
			m.line(".RS")
			m.para(c.Long)
			m.flags(c.LocalNonPersistentFlags())
			m.line(".RE")
		} else if c.LocalNonPersistentFlags().HasAvailableFlags() {
			m.line(".RS")
			m.flags(c.LocalNonPersistentFlags())
			m.line(".RE")
		}
	}
	m.section("GLOBAL FLAGS")
	m.flags(root.PersistentFlags())
	m.section("TERMINAL UI FLAGS")
	m.flags(root.LocalNonPersistentFlags())
	m.section("ENVIRONMENT")
	m.tagged("LIBVIRT_DEFAULT_URI", "the connection when -c is not given (else qemu:///system)")
	m.tagged("NO_COLOR", "no colours in the terminal UI")
	m.section("EXIT STATUS")
	m.text("0 ok, 1 error, 2 bad usage.")
	m.section("SEE ALSO")
	m.text("virsh(1), qemu-img(1)")
	_, err := io.WriteString(w, m.b.String())
	return err
}

// manPage accumulates roff source.
type manPage struct{ b strings.Builder }

func (m *manPage) line(format string, a ...any) { fmt.Fprintf(&m.b, format+"\n", a...) }
func (m *manPage) section(name string)          { m.line(".SH %s", name) }
func (m *manPage) text(s string)                { m.line("%s", roffEscape(s)) }

// tagged is an indented paragraph under a bold tag.
func (m *manPage) tagged(tag, body string) {
	m.line(".TP")
	m.line(`\fB%s\fR`, roffEscape(tag))
	m.text(body)
}

// para writes help text: lines run together into one paragraph, except
// indented lines (a table), which stay lines.
func (m *manPage) para(text string) {
	m.line(".PP")
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(l, " ") {
			m.line(".br")
			m.line(`\h'4n'%s`, roffEscape(strings.TrimSpace(l)))
			m.line(".br")
			continue
		}
		m.text(l)
	}
}

// flags lists flags as help does: "-c, --connect URI".
func (m *manPage) flags(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			m.tagged(flagLeft(f), f.Usage)
		}
	})
}

// roffEscape keeps text from being read as roff: backslashes, and a
// leading dot or quote that would start a request.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// manDate is the page's date: SOURCE_DATE_EPOCH when set, for builds that
// must come out the same, else today.
func manDate() time.Time {
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(s, 0).UTC()
	}
	return time.Now()
}
