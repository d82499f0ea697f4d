package libvirtx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"virtchain/model"
)

// virtchain keeps small state files (job intents, the files a job took out
// of a chain) in a folder of its own. Whoever can write into that folder
// can plant a symbolic link where virtchain writes, so the folder and every
// folder virtchain made on the way to it must belong to the user and be
// writable by nobody else, and files are created under fresh names
// (O_EXCL) and renamed into place, never opened through a link.

// stateBase is $XDG_STATE_HOME, or ~/.local/state, or /var/lib for root.
// Root ignores XDG_STATE_HOME: 'sudo -E' hands root the user's
// environment, and with it a folder the user controls.
func stateBase() (string, error) {
	if stateBaseForTest != "" {
		return stateBaseForTest, nil
	}
	if d, ok := os.LookupEnv(stateHomeEnv); ok {
		return ownStateBase(d)
	}
	if os.Geteuid() == 0 {
		return "/var/lib", nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Clean(d), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return "", model.Refuse("no folder for virtchain's state files (HOME is not set)", "set HOME or XDG_STATE_HOME")
	}
	return filepath.Join(home, ".local", "state"), nil
}

// stateHomeEnv names a state base of one's own, root's too: tests and
// a second setup keep their state apart from the real one with it.
const stateHomeEnv = "VIRTCHAIN_STATE_HOME"

// ownStateBase accepts d as the state base only when no one but the user
// (or root) can replace any folder on its way: every folder above it is
// owned by the user or root and writable by no one else, unless it is
// sticky (as /tmp is: others cannot rename what is not theirs). So
// 'sudo -E' cannot hand root a folder a user controls.
func ownStateBase(d string) (string, error) {
	if !filepath.IsAbs(d) {
		return "", model.Refuse(stateHomeEnv+" is not an absolute path: "+model.ShellQuote(d), "set it to an absolute path, or unset it")
	}
	d = filepath.Clean(d)
	uid := os.Geteuid()
	for p := filepath.Dir(d); ; p = filepath.Dir(p) {
		st, err := os.Lstat(p)
		if err != nil {
			return "", model.Refuse("cannot check "+p+" above "+stateHomeEnv+": "+errText(err), "set "+stateHomeEnv+" to a folder of yours, or unset it")
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if !st.IsDir() || sys == nil || (int(sys.Uid) != uid && sys.Uid != 0) ||
			(st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0) {
			return "", model.Refuse(stateHomeEnv+" is under "+p+", which others can change", "set "+stateHomeEnv+" to a folder only you and root can change, or unset it")
		}
		if p == filepath.Dir(p) {
			return d, nil
		}
	}
}

// stateBaseForTest, when set, replaces stateBase: tests of the refusals
// need a folder of their own, and root's is shared.
var stateBaseForTest string

// stateDir returns base/virtchain/sub, made (mode 0700) where missing and
// checked to be safe.
func stateDir(sub string) (string, error) {
	base, err := stateBase()
	if err != nil {
		return "", err
	}
	return stateDirIn(base, sub)
}

// stateDirIn is stateDir under base. Every folder it creates, the
// virtchain folder and sub must be real folders owned by the user and
// not writable by group or others; base may also belong to root. Each is
// checked before virtchain looks inside it.
func stateDirIn(base, sub string) (string, error) {
	if err := ensureFolder(base, true); err != nil {
		return "", err
	}
	dir := base
	for _, name := range []string{"virtchain", sub} {
		dir = filepath.Join(dir, name)
		if err := ensureFolder(dir, false); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// ensureFolder makes p (mode 0700) if it is missing, with its missing
// parents when it is the base, and checks it.
func ensureFolder(p string, isBase bool) error {
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		if parent := filepath.Dir(p); isBase && parent != p {
			if _, err := os.Lstat(parent); errors.Is(err, os.ErrNotExist) {
				if err := ensureFolder(parent, true); err != nil {
					return err
				}
			}
		}
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return model.Refuse("cannot make virtchain's state folder "+p+": "+errText(err), "make it yourself, owned by you, mode 0700")
		}
	}
	return safeFolder(p, isBase)
}

// safeFolder refuses p unless it is a folder (not a link to one) owned by
// the user (or root, when rootOK) that neither group nor others can write.
func safeFolder(p string, rootOK bool) error {
	st, err := os.Lstat(p)
	if err != nil {
		return model.Refuse("cannot check virtchain's state folder "+p+": "+errText(err), "make it yourself, owned by you, mode 0700")
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	uid := os.Geteuid()
	switch {
	case !st.IsDir():
		return model.Refuse("virtchain's state folder "+p+" is not a folder ("+st.Mode().Type().String()+")", "remove it, and virtchain makes the folder")
	case sys == nil || (int(sys.Uid) != uid && !(rootOK && sys.Uid == 0)):
		return model.Refuse(fmt.Sprintf("virtchain's state folder %s is not owned by you (uid %d)", p, uid),
			fmt.Sprintf("chown %d %s, or remove it", uid, model.ShellQuote(p)))
	case st.Mode().Perm()&0o022 != 0:
		return model.Refuse(fmt.Sprintf("virtchain's state folder %s can be written by others (mode %04o)", p, st.Mode().Perm()),
			"chmod go-w "+model.ShellQuote(p))
	}
	return nil
}

// writeStateFile puts data at dir/name: written to a fresh file (O_EXCL,
// so no planted link is followed), synced, then renamed over the name
// (rename replaces a link, it never writes through one).
func writeStateFile(dir, name string, data []byte) error {
	tmp, err := stageStateFile(dir, name, data)
	if err != nil {
		return err
	}
	return commitStateFile(tmp, filepath.Join(dir, name))
}

// stageStateFile writes data to a fresh temporary file next to dir/name
// and returns its path; commitStateFile puts it in place.
func stageStateFile(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", model.Refuse("cannot write in virtchain's state folder "+dir+": "+errText(err), "check the folder and its free space")
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", model.Refuse("cannot write "+f.Name()+": "+errText(err), "check the free space of "+dir)
	}
	return f.Name(), nil
}

func commitStateFile(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return model.Refuse("cannot write "+path+": "+errText(err), "check virtchain's state folder")
	}
	return nil
}

// maxStateFile bounds what readStateFile reads: state files are small.
const maxStateFile = 1 << 20

// readStateFile reads a state file without following a link at path, and
// only if it is a regular file.
func readStateFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, maxStateFile))
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
