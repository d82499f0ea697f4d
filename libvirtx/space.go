package libvirtx

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"virtchain/model"
)

// SpaceFacts are the host facts for the space rule (model.CheckSpace):
// free bytes and identity of the filesystem that holds a path, and the
// domain's current memory. Over a remote connection the storage pools
// tell the free bytes (remoteFilesystemOf); where none can, the plan says
// space was not checked there.
func (c *Conn) SpaceFacts(domain string) model.SpaceFacts {
	f := model.SpaceFacts{FS: filesystemOf}
	if !c.local {
		f.FS = c.remoteFilesystemOf
	}
	if domain == "" {
		return f
	}
	if dom, err := c.virt.LookupDomainByName(domain); err == nil {
		if info, err := dom.GetInfo(); err == nil {
			f.Memory = int64(info.Memory) * 1024
		}
		_ = dom.Free()
	}
	return f
}

// filesystemOf statfs's path, or the nearest folder above it that exists
// (a file not created yet lands there).
func filesystemOf(path string) (model.Filesystem, bool) {
	p := filepath.Clean(path)
	var st syscall.Stat_t
	for syscall.Stat(p, &st) != nil {
		up := filepath.Dir(p)
		if up == p {
			return model.Filesystem{}, false
		}
		p = up
	}
	var sf syscall.Statfs_t
	if err := syscall.Statfs(p, &sf); err != nil {
		return model.Filesystem{}, false
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	fs := model.Filesystem{
		ID:   strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10),
		Free: int64(sf.Bavail) * sf.Bsize,
	}
	fs.Mount, fs.Device = mountOf(fs.ID, p)
	if fs.Mount == "" {
		fs.Mount = p
	}
	return fs, true
}

// mountOf finds in /proc/self/mountinfo the mount of device id (major:minor)
// that holds path: the longest mount point above it.
func mountOf(id, path string) (mount, source string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options... - fstype source opts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[2] != id {
			continue
		}
		mp := unescapeMount(fields[4])
		if !within(path, mp) || len(mp) < len(mount) {
			continue
		}
		mount, source = mp, ""
		for i, fl := range fields {
			if fl == "-" && i+2 < len(fields) {
				source = unescapeMount(fields[i+2])
				break
			}
		}
	}
	return mount, source
}

func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
