package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	good := `# the lab
[[host]]
name = "hv1"
uri = "qemu+ssh://root@hv1/system"

[[host]]
name = "hv2"
uri = "qemu+ssh://root@hv2/system"
`
	got, err := parseHosts("/h.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []hostSpec{{"hv1", "qemu+ssh://root@hv1/system"}, {"hv2", "qemu+ssh://root@hv2/system"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, err := parseHosts("/h.toml", nil); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %v", got, err)
	}

	for _, tc := range []struct {
		name, text string
		parts      []string
	}{
		{"syntax", "[[host]]\nname = \"hv1\nuri = \"x\"\n", []string{"line 2", "fix the TOML"}},
		{"no name", "[[host]]\nuri = \"qemu:///system\"\n", []string{"line 1", "add name ="}},
		{"no uri", "[[host]]\nname = \"hv1\"\n", []string{"line 1", `host "hv1" has no uri`, "add uri ="}},
		{"unknown key", "[[host]]\nname = \"hv1\"\nuri = \"qemu:///system\"\nurl = \"x\"\n", []string{"line 4", `unknown key "host.url"`}},
		{"unknown top key", "\nhosts = 1\n", []string{"line 2", `unknown key "hosts"`}},
		{"colon", "[[host]]\nname = \"a:b\"\nuri = \"qemu:///system\"\n", []string{"line 2", "may not hold ':'", "rename"}},
		{"all", "[[host]]\nname = \"all\"\nuri = \"qemu:///system\"\n", []string{"line 2", "every host"}},
		{"dup", "[[host]]\nname = \"a\"\nuri = \"x:///\"\n[[host]]\nname = \"a\"\nuri = \"y:///\"\n", []string{"line 5", "named twice (also at line 2)"}},
		{"type", "[[host]]\nname = 1\nuri = \"x:///\"\n", []string{"as strings"}},
	} {
		_, err := parseHosts("/etc/h.toml", []byte(tc.text))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		if _, ok := err.(*UsageError); !ok {
			t.Errorf("%s: %T is not a usage error", tc.name, err)
		}
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "hosts file /etc/h.toml") {
			t.Errorf("%s: not one line naming the file: %q", tc.name, msg)
		}
		for _, p := range tc.parts {
			if !strings.Contains(msg, p) {
				t.Errorf("%s: %q lacks %q", tc.name, msg, p)
			}
		}
	}
}

func TestSelectHosts(t *testing.T) {
	known := []hostSpec{{"hv1", "a:///"}, {"hv2", "b:///"}, {"hv3", "c:///"}}
	got, err := selectHosts(known, []string{"hv3", "hv1"}, "/h")
	if err != nil || !reflect.DeepEqual(got, []hostSpec{known[2], known[0]}) {
		t.Fatalf("got %v %v", got, err)
	}
	if got, _ := selectHosts(known, []string{"all"}, "/h"); !reflect.DeepEqual(got, known) {
		t.Fatalf("all: %v", got)
	}
	_, err = selectHosts(known, []string{"hv9"}, "/h")
	if err == nil || err.Error() != "--host hv9: no such host in /h; known: hv1, hv2, hv3" {
		t.Fatalf("unknown: %v", err)
	}
}

func TestUniqueHostsAndNames(t *testing.T) {
	got := uniqueHosts([]hostSpec{
		{uriHostName("qemu:///system"), "qemu:///system"},
		{uriHostName("qemu+ssh://root@hv1:2222/system"), "qemu+ssh://root@hv1:2222/system"},
		{uriHostName("qemu:///system"), "qemu:///system"},
		{uriHostName("qemu+unix:///system?socket=/x"), "qemu+unix:///system?socket=/x"},
	})
	want := []hostSpec{{"local", "qemu:///system"}, {"hv1", "qemu+ssh://root@hv1:2222/system"}, {"local#2", "qemu+unix:///system?socket=/x"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestHostSpecsFlags runs the flag layer: -c repeated, --host as a list,
// the hosts file only read when --host names it.
func TestHostSpecsFlags(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("LIBVIRT_DEFAULT_URI", "")
	specs := func(args ...string) ([]hostSpec, error) {
		t.Helper()
		code, _, stderr := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%q: %d %s", args, code, stderr)
		}
		return probe.env.hostSpecs()
	}
	// No hosts file, no flags: today's single connection.
	if got, err := specs("vcttest", "run", "d"); err != nil || !reflect.DeepEqual(got, []hostSpec{{"local", "qemu:///system"}}) {
		t.Fatalf("default: %v %v", got, err)
	}
	// A broken hosts file does not matter without --host.
	if err := os.MkdirAll(filepath.Join(dir, "virtchain"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "virtchain", "hosts.toml")
	if err := os.WriteFile(file, []byte("[[host]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := specs("-c", "test:///default", "vcttest", "run", "d"); err != nil || !reflect.DeepEqual(got, []hostSpec{{"local", "test:///default"}}) {
		t.Fatalf("one -c: %v %v", got, err)
	}
	// Errors are one-line usage errors (exit 2), before the command runs.
	usage := func(want string, args ...string) {
		t.Helper()
		code, _, stderr := runMain(t, args...)
		if code != 2 {
			t.Fatalf("%q: exit %d, want 2: %s", args, code, stderr)
		}
		wantOneLine(t, stderr, want)
	}
	usage(file+", line ", "--host", "hv1", "vcttest", "run", "d")
	if err := os.WriteFile(file, []byte("[[host]]\nname = \"hv1\"\nuri = \"a:///\"\n[[host]]\nname = \"hv2\"\nuri = \"qemu+ssh://hv2/system\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := specs("-c", "test:///default", "vcttest", "run", "d", "--host", "hv2,hv1", "-c", "qemu:///system")
	want := []hostSpec{{"local", "test:///default"}, {"local#2", "qemu:///system"}, {"hv2", "qemu+ssh://hv2/system"}, {"hv1", "a:///"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("mixed: %v %v, want %v", got, err, want)
	}
	usage("virtchain: --host nope: no such host in "+file+"; known: hv1, hv2 (see", "--host", "hv1", "--host", "nope", "vcttest", "run", "d")
	// One host from the file is the one connection, as -c is.
	if got, err := specs("--host", "hv2", "vcttest", "run", "d"); err != nil || probe.env.URI != "qemu+ssh://hv2/system" || len(got) != 1 {
		t.Fatalf("one --host: URI %q, %v %v", probe.env.URI, got, err)
	}
	// -c "" is the default URI, as it was.
	if got, err := specs("-c", "", "vcttest", "run", "d"); err != nil || !reflect.DeepEqual(got, []hostSpec{{"local", "qemu:///system"}}) {
		t.Fatalf("-c \"\": %v %v", got, err)
	}
	// The terminal UI checks --host too, before anything else.
	usage("--host nope: no such host", "--host", "nope")
	// Several hosts and a command without a domain: refused before connecting.
	usage("works on one host, and 2 are named (hv1, hv2)", "--host", "all", "jobs")
}
