package libvirtx

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// qemuIdentity is the user QEMU runs as on a local host, from its
// qemu.conf (user, group, dynamic_ownership) and the passwd and group
// files of the root the daemon runs in.
type qemuIdentity struct {
	name string
	uid  uint32
	gids []uint32
	// owned: libvirt's dynamic_ownership gives QEMU's user each image
	// when the domain starts, so only the folders must let it in.
	owned bool
	// skip says why access is not checked ("" when it is).
	skip string
}

// qemuIdentity reads who QEMU runs as. A daemon reached by a socket in
// another root (a test host, a chroot) reads that root's files.
func (c *Conn) qemuIdentity() qemuIdentity {
	if !c.local {
		return qemuIdentity{skip: "the host is remote"}
	}
	if strings.Contains(c.uri, "/session") {
		return qemuIdentity{skip: "qemu:///session runs QEMU as you"}
	}
	return readQemuIdentity(daemonRoot(c.uri))
}

// daemonRoot is the root folder of the daemon behind a local URI: "/" but
// for a ?socket=ROOT/run/libvirt/libvirt-sock URI.
func daemonRoot(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "/"
	}
	sock := u.Query().Get("socket")
	if root, ok := strings.CutSuffix(sock, "/run/libvirt/libvirt-sock"); ok && root != "" {
		return root
	}
	return "/"
}

func readQemuIdentity(root string) qemuIdentity {
	conf := confValues(filepath.Join(root, "etc/libvirt/qemu.conf"))
	id := qemuIdentity{owned: conf["dynamic_ownership"] != "0"}
	users := colonFile(filepath.Join(root, "etc/passwd"))
	groups := colonFile(filepath.Join(root, "etc/group"))
	name := conf["user"]
	if name == "" {
		// Debian builds libvirt with libvirt-qemu, Fedora with qemu.
		name = "libvirt-qemu"
		if _, ok := users[name]; !ok {
			name = "qemu"
		}
	}
	id.name = name
	if n, err := strconv.ParseUint(strings.TrimPrefix(name, "+"), 10, 32); err == nil {
		id.uid = uint32(n)
	} else if u, ok := users[name]; ok && len(u) > 3 {
		n, _ := strconv.ParseUint(u[2], 10, 32)
		id.uid = uint32(n)
		if g, err := strconv.ParseUint(u[3], 10, 32); err == nil {
			id.gids = append(id.gids, uint32(g))
		}
	} else {
		id.skip = "QEMU's user " + name + " is not in " + filepath.Join(root, "etc/passwd")
		return id
	}
	if id.uid == 0 {
		id.skip = "QEMU runs as root on this host"
		return id
	}
	if g := conf["group"]; g != "" {
		if e, ok := groups[strings.TrimPrefix(g, "+")]; ok && len(e) > 2 {
			n, _ := strconv.ParseUint(e[2], 10, 32)
			id.gids = append(id.gids, uint32(n))
		} else if n, err := strconv.ParseUint(strings.TrimPrefix(g, "+"), 10, 32); err == nil {
			id.gids = append(id.gids, uint32(n))
		}
	}
	for _, e := range groups {
		if len(e) > 3 && slices.Contains(strings.Split(e[3], ","), name) {
			n, _ := strconv.ParseUint(e[2], 10, 32)
			id.gids = append(id.gids, uint32(n))
		}
	}
	return id
}

// confValues reads the key = value lines of a libvirt config file (only
// plain values: strings and numbers).
func confValues(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out
}

// colonFile reads /etc/passwd or /etc/group by their first field.
func colonFile(path string) map[string][]string {
	out := map[string][]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 {
			out[f[0]] = f
		}
	}
	return out
}

// may says whether the identity has the permission bit (4 read, 1 enter)
// on a file of that mode and owner.
func (id qemuIdentity) may(st *syscall.Stat_t, bit uint32) bool {
	switch {
	case st.Uid == id.uid:
		return st.Mode>>6&bit != 0
	case slices.Contains(id.gids, st.Gid):
		return st.Mode>>3&bit != 0
	}
	return st.Mode&bit != 0
}

// cannotRead says why QEMU's user cannot read path, and which folder or
// file keeps it out: a folder on the way (the path as the domain names it
// or the file it links to) it may not enter, or, without libvirt's
// dynamic ownership, the image's own mode. ("", "") when it can.
func (id qemuIdentity) cannotRead(path string) (why, where string) {
	if id.skip != "" {
		return "", ""
	}
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
			var st syscall.Stat_t
			if syscall.Stat(dir, &st) == nil && !id.may(&st, 1) {
				return fmt.Sprintf("%s cannot enter folder %s (mode %04o, owner %d:%d)", id.name, dir, st.Mode&07777, st.Uid, st.Gid), dir
			}
			if dir == "/" || dir == "." {
				break
			}
		}
	}
	var st syscall.Stat_t
	if !id.owned && syscall.Stat(path, &st) == nil && !id.may(&st, 4) {
		return fmt.Sprintf("%s cannot read it (mode %04o, owner %d:%d, and dynamic_ownership is off)", id.name, st.Mode&07777, st.Uid, st.Gid), path
	}
	return "", ""
}

// managedSaveChanges compares the definition libvirt keeps in the domain's
// managed-save image with the domain's definition now, on what changes a
// guest's hardware: memory, vCPUs, machine, disks and interfaces.
func (c *Conn) managedSaveChanges(name string) ([]string, error) {
	dom, err := c.virt.LookupDomainByName(name)
	if err != nil {
		return nil, &LibvirtError{Op: "look up domain " + name, Err: err}
	}
	defer dom.Free()
	saved, err := dom.ManagedSaveGetXMLDesc(0)
	if err != nil {
		return nil, &LibvirtError{Op: "read the managed-save definition of " + name, Err: err}
	}
	now, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		return nil, &LibvirtError{Op: "read the definition of " + name, Err: err}
	}
	var a, b libvirtxml.Domain
	if err := a.Unmarshal(saved); err != nil {
		return nil, err
	}
	if err := b.Unmarshal(now); err != nil {
		return nil, err
	}
	return definitionChanges(guestHardware(&a), guestHardware(&b)), nil
}

// guestHardware is what of a definition the comparison looks at, by name.
func guestHardware(x *libvirtxml.Domain) map[string]string {
	hw := map[string]string{}
	if x.Memory != nil {
		hw["memory"] = strconv.FormatUint(uint64(x.Memory.Value), 10) + " " + orKiB(x.Memory.Unit)
	}
	if x.VCPU != nil {
		hw["vcpus"] = strconv.FormatUint(uint64(x.VCPU.Value), 10)
	}
	if x.OS != nil && x.OS.Type != nil {
		hw["machine"] = x.OS.Type.Machine
	}
	if x.Devices != nil {
		for _, d := range x.Devices.Disks {
			if d.Target == nil {
				continue
			}
			src := describeSource(d.Source)
			hw["disk "+d.Target.Dev] = src.name
		}
		for i, n := range x.Devices.Interfaces {
			mac := ""
			if n.MAC != nil {
				mac = n.MAC.Address
			}
			hw["interface "+strconv.Itoa(i)] = mac
		}
	}
	return hw
}

func orKiB(unit string) string {
	if unit == "" {
		return "KiB"
	}
	return unit
}

// definitionChanges words what differs from saved to now, sorted by name.
func definitionChanges(saved, now map[string]string) []string {
	var keys []string
	for k := range saved {
		keys = append(keys, k)
	}
	for k := range now {
		if _, ok := saved[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		a, inA := saved[k]
		b, inB := now[k]
		switch {
		case !inA:
			out = append(out, k+" added")
		case !inB:
			out = append(out, k+" removed")
		case a != b:
			out = append(out, fmt.Sprintf("%s %s, now %s", k, orNone(a), orNone(b)))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
