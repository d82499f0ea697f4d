package testhost

import (
	"crypto/sha1"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// File is one entry of a Listing: what shows that a file changed. Sum is
// set only by a listing that reads contents.
type File struct {
	Size  int64
	Mtime time.Time
	Inode uint64
	Sum   string // SHA-1 of the content, hex
}

// Listing maps the path of each file in a folder to what it is now. A test
// takes one before an operation and one after, and holds the difference
// against what the operation's plan said.
type Listing map[string]File

// ListOptions says which files a listing holds and what it reads of them.
type ListOptions struct {
	// Recursive walks the sub-folders too.
	Recursive bool
	// AnyType lists every file that is not a folder (FIFOs, symlinks,
	// devices); otherwise only regular files.
	AnyType bool
	// Sum reads each file and records the hash of its content.
	Sum bool
	// Skip leaves out the files it reports true for.
	Skip func(path string) bool
}

// List lists dir, and fails t when dir or a file's content cannot be read.
func List(t testing.TB, dir string, o ListOptions) Listing {
	t.Helper()
	l, err := ReadListing(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ReadListing lists dir. A file that vanishes while it is listed is left
// out; an error is one reading dir itself, or a file's content for Sum.
func ReadListing(dir string, o ListOptions) (Listing, error) {
	out := Listing{}
	if !o.Recursive {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if err := out.add(filepath.Join(dir, e.Name()), o); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && p == dir:
			return err
		case err != nil || d.IsDir():
			return nil // a sub-folder that cannot be read holds nothing to list
		}
		return out.add(p, o)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l Listing) add(p string, o ListOptions) error {
	if o.Skip != nil && o.Skip(p) {
		return nil
	}
	st, err := os.Lstat(p)
	if err != nil || st.IsDir() || (!o.AnyType && !st.Mode().IsRegular()) {
		return nil
	}
	f := File{Size: st.Size(), Mtime: st.ModTime(), Inode: st.Sys().(*syscall.Stat_t).Ino}
	if o.Sum {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha1.Sum(b)
		f.Sum = hex.EncodeToString(h[:])
	}
	l[p] = f
	return nil
}
