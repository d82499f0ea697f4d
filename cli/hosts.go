package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"virtchain/libvirtx"
	"virtchain/model"
)

// hostSpec is one host to connect to: the name virtchain shows for it and
// its libvirt URI.
type hostSpec struct{ Name, URI string }

// allHosts is the --host word that picks every host of the hosts file.
const allHosts = "all"

// hostSpecs resolves the hosts to connect to from -c (repeatable) and
// --host (repeatable or a comma list, names from the hosts file), in the
// order typed: the -c URIs first, then the --host names; a URI given twice
// counts once. It opens no connection. With neither flag it is today's one
// connection (e.URI) and the hosts file is not read, so a broken hosts file
// never gets in the way of single-host use. Errors are one-line usage
// errors.
func (e *Env) hostSpecs() ([]hostSpec, error) {
	names := splitHostNames(e.global.hosts)
	if len(e.global.connect) == 0 && len(names) == 0 {
		uri := e.URI
		if uri == "" {
			uri = libvirtx.ResolveURI("")
		}
		return []hostSpec{{Name: uriHostName(uri), URI: uri}}, nil
	}
	var specs []hostSpec
	for _, u := range e.global.connect {
		u = libvirtx.ResolveURI(u) // -c "" is the default, as it always was
		specs = append(specs, hostSpec{Name: uriHostName(u), URI: u})
	}
	if len(names) > 0 {
		path, err := hostsFilePath()
		if err != nil {
			return nil, err
		}
		known, err := readHostsFile(path)
		if err != nil {
			return nil, err
		}
		picked, err := selectHosts(known, names, path)
		if err != nil {
			return nil, err
		}
		specs = append(specs, picked...)
	}
	return uniqueHosts(specs), nil
}

// splitHostNames flattens --host a,b --host c into a, b, c.
func splitHostNames(flags []string) []string {
	var out []string
	for _, f := range flags {
		for _, n := range strings.Split(f, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// uniqueHosts drops a URI seen before and gives a name already taken a
// "#2", "#3" suffix, so every host has its own name.
func uniqueHosts(specs []hostSpec) []hostSpec {
	seenURI := map[string]bool{}
	taken := map[string]int{}
	out := make([]hostSpec, 0, len(specs))
	for _, s := range specs {
		if seenURI[s.URI] {
			continue
		}
		seenURI[s.URI] = true
		taken[s.Name]++
		if n := taken[s.Name]; n > 1 {
			s.Name += "#" + strconv.Itoa(n)
		}
		out = append(out, s)
	}
	return out
}

// uriHostName is the name a -c URI gets: its host part
// (qemu+ssh://root@hv1/system is hv1), else "local".
func uriHostName(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "local"
}

// hostsFilePath is $XDG_CONFIG_HOME/virtchain/hosts.toml, else
// ~/.config/virtchain/hosts.toml (for root too).
func hostsFilePath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", Usagef("--host needs the hosts file, but neither $XDG_CONFIG_HOME nor $HOME is set; set one, or use -c URI")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "virtchain", "hosts.toml"), nil
}

// readHostsFile reads and checks the hosts file at path.
func readHostsFile(path string) ([]hostSpec, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Usagef("--host needs the hosts file %s, which does not exist; write one with [[host]] entries (name = \"hv1\", uri = \"qemu+ssh://root@hv1/system\"), or use -c URI", path)
	}
	if err != nil {
		return nil, Usagef("cannot read the hosts file %s: %s", path, model.OneLine(err.Error()))
	}
	return parseHosts(path, data)
}

// hostsDoc is the hosts file's shape:
//
//	[[host]]
//	name = "hv1"
//	uri = "qemu+ssh://root@hv1/system"
type hostsDoc struct {
	Host []struct {
		Name string `toml:"name"`
		URI  string `toml:"uri"`
		// SharedStorage = false says the host shares no storage with the
		// others: their guards do not consult it (hosts_guard.go).
		SharedStorage *bool `toml:"shared_storage"`
	} `toml:"host"`
}

// parseHosts parses a hosts file's text. Every error is one line naming
// the file, the line and the fix.
func parseHosts(path string, data []byte) ([]hostSpec, error) {
	specs, _, err := parseHostsDoc(path, data)
	return specs, err
}

// parseHostsDoc is parseHosts that also names the hosts marked
// shared_storage = false.
func parseHostsDoc(path string, data []byte) ([]hostSpec, map[string]bool, error) {
	var doc hostsDoc
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, hostsErr(path, pe.Position.Line, model.OneLine(pe.Message)+"; fix the TOML there")
		}
		// A type mismatch (name = 1, host = "x") has no position.
		return nil, nil, hostsErr(path, 0, model.OneLine(err.Error())+"; each [[host]] needs name = \"...\" and uri = \"...\" as strings")
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		line := 0
		if len(k) >= 2 && k[0] == "host" {
			line = keyLine(data, k[len(k)-1])
		} else {
			line = keyLine(data, k[0])
		}
		return nil, nil, hostsErr(path, line, fmt.Sprintf("unknown key %q; a hosts file has only [[host]] entries with name, uri and shared_storage", k.String()))
	}
	specs := make([]hostSpec, 0, len(doc.Host))
	own := map[string]bool{}
	byName := map[string]int{}
	for i, h := range doc.Host {
		name, uri := strings.TrimSpace(h.Name), strings.TrimSpace(h.URI)
		switch {
		case name == "":
			return nil, nil, hostsErr(path, entryLine(data, i, "name"), "a [[host]] without a name; add name = \"hv1\"")
		case uri == "":
			return nil, nil, hostsErr(path, entryLine(data, i, "uri"), fmt.Sprintf("host %q has no uri; add uri = \"qemu+ssh://root@%s/system\"", name, name))
		case strings.ContainsAny(name, ":,") || strings.ContainsFunc(name, isSpaceOrControl):
			return nil, nil, hostsErr(path, entryLine(data, i, "name"), fmt.Sprintf("host name %q may not hold ':', ',', spaces or control characters (HOST:DOMAIN and --host a,b use them); rename it", name))
		case name == allHosts:
			return nil, nil, hostsErr(path, entryLine(data, i, "name"), "\"all\" is --host's word for every host; rename that host")
		case model.CheckInput("uri", uri) != nil:
			return nil, nil, hostsErr(path, entryLine(data, i, "uri"), fmt.Sprintf("host %q: the uri holds a control character; remove it", name))
		}
		if j, dup := byName[name]; dup {
			return nil, nil, hostsErr(path, entryLine(data, i, "name"), fmt.Sprintf("host %q is named twice (also at line %d); rename one", name, entryLine(data, j, "name")))
		}
		byName[name] = i
		if h.SharedStorage != nil && !*h.SharedStorage {
			own[name] = true
		}
		specs = append(specs, hostSpec{Name: name, URI: uri})
	}
	return specs, own, nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) }

func hostsErr(path string, line int, msg string) error {
	if line > 0 {
		return Usagef("hosts file %s, line %d: %s", path, line, msg)
	}
	return Usagef("hosts file %s: %s", path, msg)
}

// entryLine is the line of key in the i-th [[host]] entry (from 0), else
// the line of that entry's header, else 0. The TOML library gives no
// positions for keys it decoded, and hosts files are simple enough to
// find them by their lines.
func entryLine(data []byte, i int, key string) int {
	header, n := 0, -1
	for ln, text := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(text)
		if strings.HasPrefix(t, "[") {
			if strings.HasPrefix(strings.ReplaceAll(t, " ", ""), "[[host]]") {
				n++
				if n == i {
					header = ln + 1
				}
			} else if n == i {
				break
			}
			continue
		}
		if n == i && keyIs(t, key) {
			return ln + 1
		}
	}
	return header
}

// keyLine is the first line that sets key, else 0.
func keyLine(data []byte, key string) int {
	for ln, text := range strings.Split(string(data), "\n") {
		if keyIs(strings.TrimSpace(text), key) {
			return ln + 1
		}
	}
	return 0
}

func keyIs(line, key string) bool {
	k, _, ok := strings.Cut(line, "=")
	return ok && strings.Trim(strings.TrimSpace(k), `"'`) == key
}

// selectHosts picks names from the hosts file's hosts, in the order named;
// "all" is every host in the file's order.
func selectHosts(known []hostSpec, names []string, path string) ([]hostSpec, error) {
	byName := map[string]hostSpec{}
	for _, h := range known {
		byName[h.Name] = h
	}
	var out []hostSpec
	for _, n := range names {
		if n == allHosts {
			if len(known) == 0 {
				return nil, Usagef("--host all: the hosts file %s lists no hosts; add [[host]] entries", path)
			}
			out = append(out, known...)
			continue
		}
		h, ok := byName[n]
		if !ok {
			return nil, Usagef("--host %s: no such host in %s; known: %s", model.Escape(n), path, knownNames(known))
		}
		out = append(out, h)
	}
	return out, nil
}

func knownNames(known []hostSpec) string {
	if len(known) == 0 {
		return "none (the file lists no [[host]] entries)"
	}
	names := make([]string, len(known))
	for i, h := range known {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}
