package cli

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"virtchain/libvirtx"
)

// noConnect makes any connection fail the test.
func noConnect(t *testing.T) {
	t.Helper()
	old := openConn
	openConn = func(uri string, readonly bool) (*libvirtx.Conn, error) {
		t.Errorf("connected to %s (readonly %v)", uri, readonly)
		return nil, errors.New("no connection in this test")
	}
	t.Cleanup(func() { openConn = old })
}

// version, help, the man page, the completion scripts and the completion
// of commands and flags never open a connection, even a broken one.
func TestNoConnection(t *testing.T) {
	noConnect(t)
	for _, args := range [][]string{
		{"version"}, {"--version"}, {"-v"}, {"version", "--json"}, {"help"}, {"-h"}, {"help", "commit"},
		{"commit", "--help"}, {"help", "snapshot"}, {"man"}, {"completion", "bash"}, {"completion", "zsh"},
		{"completion", "fish"}, {"__complete", ""}, {"__complete", "snapshot", ""}, {"__complete", "help", "snap"},
		{"__complete", "commit", "--"}, {"__complete", "-c", "bogus:///", "chain", "--js"},
		{"-c", "bogus:///", "version"},
	} {
		if code, stdout, stderr := runMain(t, args...); code != 0 || stdout == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	_, want, _ := runMain(t, "version")
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		if code, stdout, _ := runMain(t, args...); code != 0 || stdout != want {
			t.Errorf("%q: exit %d, %q; want %q", args, code, stdout, want)
		}
	}
	// It is the root's flag, not every command's.
	if code, _, stderr := runMain(t, "list", "--version"); code != 2 || !strings.Contains(stderr, "unknown flag --version") {
		t.Errorf("list --version: exit %d %q", code, stderr)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_virtchain", "zsh": "#compdef virtchain", "fish": "complete -c virtchain",
	} {
		code, stdout, stderr := runMain(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, want) || stderr != "" {
			t.Errorf("completion %s: exit %d, stderr %q, lacks %q", shell, code, stderr, want)
		}
	}
}

// complete asks cobra's hidden __complete command, as the shell scripts
// do, and returns the candidates without their descriptions.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	code, stdout, stderr := runMain(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d %q", args, code, stderr)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !strings.HasPrefix(l, ":") {
			name, _, _ := strings.Cut(l, "\t")
			out = append(out, name)
		}
	}
	return out
}

func TestCompleteCommandsAndFlags(t *testing.T) {
	noConnect(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{""}, []string{"chain", "commit", "snapshot", "snapshots", "completion", "man", "version"}},
		{[]string{"snapshot", ""}, []string{"create", "delete", "revert"}},
		{[]string{"help", "snapshot", ""}, []string{"create", "delete", "revert"}},
		{[]string{"commit", "--"}, []string{"--top", "--base", "--active", "--connect", "--json", "--dry-run"}},
		{[]string{"lab", "up", "--o"}, []string{"--only"}},
	} {
		got := strings.Join(complete(t, tc.args...), " ")
		for _, w := range tc.want {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("__complete %q: %q lacks %q", tc.args, got, w)
			}
		}
	}
}

func TestManPage(t *testing.T) {
	code, page, stderr := runMain(t, "man")
	if code != 0 || stderr != "" || !strings.HasPrefix(page, ".TH VIRTCHAIN 1 ") {
		t.Fatalf("man: exit %d, stderr %q, starts %q", code, stderr, page[:min(len(page), 40)])
	}
	for _, c := range helpCommands(testRoot()) {
		if want := roffEscape(useLine(c)); !strings.Contains(page, want) {
			t.Errorf("man page lacks command %q", want)
		}
	}
	for _, want := range []string{`\-c, \-\-connect URI`, `\-\-dry\-run`, `\-\-top X`, ".SH EXIT STATUS", "LIBVIRT_DEFAULT_URI"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
	// groff reads it without a warning, where groff is installed.
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff: %v %s", err, out)
		}
	}
}
