package cli

import (
	"strings"
	"testing"
)

// These tests hold the command line to what the hand-rolled parser before
// cobra accepted and refused, in its words (issue 9: every flag, argument
// order, exit code and error wording stays as it is).

// wantUsage runs args and wants exit 2, nothing on stdout and exactly
// stderr.
func wantUsage(t *testing.T, stderr string, args ...string) {
	t.Helper()
	code, out, errOut := runMain(t, args...)
	if code != 2 || out != "" || errOut != stderr {
		t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errOut, stderr)
	}
}

// A command's own flags are not global: before the command's name they are
// unknown flags, and the command does not run.
func TestOwnFlagsBeforeCommandAreUnknown(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "test:///default")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--force", "vcttest", "run", "d"}, "unknown flag --force"},
		{[]string{"-f", "--dry-run", "vcttest", "run", "d"}, "unknown flag -f"},
		{[]string{"--shallow", "--dry-run", "commit", "D", "vda"}, "unknown flag --shallow"},
		{[]string{"--shallow=true", "commit", "D", "vda", "--dry-run"}, "unknown flag --shallow"},
		{[]string{"--delete-files", "--dry-run", "cleanup", "D"}, "unknown flag --delete-files"},
		{[]string{"--pivot", "--json", "abort", "test", "vda"}, "unknown flag --pivot"},
		{[]string{"--top", "list", "commit", "D", "vda", "--dry-run"}, "unknown flag --top"},
		{[]string{"--top", "vda[1]", "chain", "D"}, "unknown flag --top"},
	} {
		probe.args = nil
		wantUsage(t, "virtchain: "+tc.want+" (see 'virtchain help')\n", tc.args...)
		if probe.args != nil {
			t.Errorf("%q ran the command", tc.args)
		}
	}
	// A group's word followed by a flag is the group alone.
	wantUsage(t, "virtchain: 'snapshot' needs a subcommand: create, delete, revert (see 'virtchain help')\n",
		"snapshot", "--external", "create", "D", "N", "--dry-run")
}

// One dash or two are the same flag, as Go's flag package reads them.
func TestOneOrTwoDashes(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	for _, args := range [][]string{
		{"--c", "test:///x", "vcttest", "run", "d"},
		{"--c=test:///x", "vcttest", "run", "d"},
		{"vcttest", "run", "d", "-connect", "test:///x"},
	} {
		code, _, stderr := runMain(t, args...)
		if code != 0 || probe.env.URI != "test:///x" {
			t.Errorf("%q: exit %d, URI %q, %s", args, code, probe.env.URI, stderr)
		}
	}
	for _, args := range [][]string{{"--h"}, {"vcttest", "run", "d", "--h"}, {"chain", "D", "--h"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 || stdout == "" || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want help", args, code, stdout, stderr)
		}
	}
}

// One-letter flags do not group and take no value glued on (-cURI, -hv).
func TestNoShorthandGrouping(t *testing.T) {
	wantUsage(t, "virtchain: unknown flag -cqemu:///system (see 'virtchain help')\n", "-cqemu:///system", "list")
	wantUsage(t, "virtchain: unknown flag -ctest:///default (see 'virtchain help list')\n", "list", "-ctest:///default")
	wantUsage(t, "virtchain: unknown flag -hv (see 'virtchain help')\n", "-hv")
	wantUsage(t, "virtchain: unknown flag -vh (see 'virtchain help')\n", "-vh")
	wantUsage(t, "virtchain: unknown flag -fh (see 'virtchain help vcttest run')\n", "vcttest", "run", "d", "-fh")
}

// -c= is an empty URI, which means the default one.
func TestEmptyConnectIsDefault(t *testing.T) {
	t.Setenv("LIBVIRT_DEFAULT_URI", "test:///env")
	for _, args := range [][]string{
		{"-c=", "vcttest", "run", "d"},
		{"vcttest", "run", "d", "-c="},
		{"vcttest", "run", "-c=", "d", "--connect="},
	} {
		code, _, stderr := runMain(t, args...)
		if code != 0 || probe.env.URI != "test:///env" {
			t.Errorf("%q: exit %d, URI %q, want test:///env; %s", args, code, probe.env.URI, stderr)
		}
	}
}

// An empty TARGET names no disk; it does not mean every disk.
func TestChainEmptyTarget(t *testing.T) {
	code, stdout, stderr := runMain(t, "-c", "test:///default", "chain", "test", "")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1", code, stdout, stderr)
	}
	wantOneLine(t, stderr, "test has no disk ;", "its disks are: vda")
}

// A bad boolean is worded as Go's flag package words it.
func TestBadBooleanWording(t *testing.T) {
	want := `virtchain: invalid boolean value "yes" for -json: want true or false, not "yes" (see 'virtchain help list')` + "\n"
	wantUsage(t, want, "list", "--json=yes")
	wantUsage(t, want, "list", "-json=yes")
	wantUsage(t, `virtchain: invalid boolean value "yes" for -no-color: want true or false, not "yes" (see 'virtchain help')`+"\n",
		"--no-color=yes")
}

// A flag without its value is named as typed.
func TestMissingValueNamedAsTyped(t *testing.T) {
	wantUsage(t, "virtchain: flag -c needs a value (see 'virtchain help cleanup')\n",
		"cleanup", "x", "--connect=qemu:///system", "-c")
	wantUsage(t, "virtchain: flag --connect needs a value (see 'virtchain help cleanup')\n",
		"cleanup", "x", "-c=qemu:///system", "--connect")
}

func TestBadFlagSyntax(t *testing.T) {
	wantUsage(t, "virtchain: bad flag syntax: -=x (see 'virtchain help')\n", "-=x")
	wantUsage(t, "virtchain: unknown flag -hjson (see 'virtchain help chain')\n", "chain", "D", "-hjson")
}

// A group lists its commands under help whatever follows it; alone or with
// a flag it needs a subcommand. Its --help is new, and shows its commands.
func TestGroups(t *testing.T) {
	for _, args := range [][]string{{"help", "snapshot", "extra"}, {"help", "snapshot", "bogus"}, {"help", "lab", "extra"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "'"+args[1]+"' commands:\n") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	wantUsage(t, "virtchain: no command named \"snapshot create extra\" (see 'virtchain help help')\n",
		"help", "snapshot", "create", "extra")
	wantUsage(t, "virtchain: 'snapshot' needs a subcommand: create, delete, revert (see 'virtchain help')\n", "snapshot", "--bogus")
	wantUsage(t, "virtchain: 'lab' needs a subcommand: down, up (see 'virtchain help')\n", "lab", "-x")
	for _, args := range [][]string{{"snapshot", "--help"}, {"snapshot", "-h"}, {"snapshot", "--help", "create"}} {
		code, stdout, stderr := runMain(t, args...)
		if code != 0 || stdout == "" || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want help", args, code, stdout, stderr)
		}
	}
}

// A command's help reads as it did: two spaces before [FLAGS] when it takes
// no ARGS, and "show this help" for -h (the overview says "show help").
func TestCommandHelpText(t *testing.T) {
	for _, name := range []string{"list", "jobs", "version", "lab up", "lab down", "chain"} {
		args := append([]string{"help"}, strings.Fields(name)...)
		code, stdout, _ := runMain(t, args...)
		want := "Usage: virtchain " + name + "  [FLAGS]\n"
		if name == "chain" {
			want = "Usage: virtchain chain DOMAIN [TARGET] [FLAGS]\n"
		}
		if code != 0 || !strings.HasPrefix(stdout, want) {
			t.Errorf("%q: exit %d, first line of %q, want %q", args, code, stdout, want)
		}
		if !strings.Contains(stdout, "  -h, --help         show this help\n") {
			t.Errorf("%q: -h is not 'show this help': %q", args, stdout)
		}
	}
	_, stdout, _ := runMain(t, "help")
	if !strings.Contains(stdout, "  show help\n") || strings.Contains(stdout, "show this help") {
		t.Errorf("overview's -h: %q", stdout)
	}
}

// A global switch turned on before the command's name stays on.
func TestGlobalSwitchBeforeNameStaysOn(t *testing.T) {
	if code, _, stderr := runMain(t, "--json", "vcttest", "run", "d", "--json=false"); code != 0 || !probe.env.JSON {
		t.Fatalf("exit %d, JSON %v: %s", code, probe.env.JSON, stderr)
	}
	code, stdout, _ := runMain(t, "--help", "chain", "D", "--help=false")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: virtchain chain ") {
		t.Fatalf("exit %d, %q; want chain's help", code, stdout)
	}
}

// -v and --version are virtchain's version alone; before a command they
// are unknown flags, as before cobra.
func TestVersionFlagOnlyAlone(t *testing.T) {
	wantUsage(t, "virtchain: unknown flag -v (see 'virtchain help')\n", "-v", "list")
	wantUsage(t, "virtchain: unknown flag --version (see 'virtchain help')\n", "--version", "lab", "")
	wantUsage(t, "virtchain: unknown flag -v (see 'virtchain help')\n", "-v", "--bogus", "snapshot", "revert")
	wantUsage(t, "virtchain: unknown flag -v (see 'virtchain help list')\n", "list", "-v")
	if code, stdout, _ := runMain(t, "--version"); code != 0 || !strings.HasPrefix(stdout, "virtchain ") {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
}

// A group shows help only when a help flag is on and the rest reads.
func TestGroupHelpNeedsHelpOn(t *testing.T) {
	want := "virtchain: 'snapshot' needs a subcommand: create, delete, revert (see 'virtchain help')\n"
	wantUsage(t, want, "snapshot", "--help=false")
	wantUsage(t, want, "snapshot", "-help", "--bogus")
	wantUsage(t, want, "snapshot", "-hv")
	code, stdout, _ := runMain(t, "snapshot", "-help", "create")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: virtchain snapshot create ") {
		t.Errorf("snapshot -help create: exit %d, %q", code, stdout)
	}
}
