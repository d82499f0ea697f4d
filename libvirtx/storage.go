package libvirtx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// TransientPoolPrefix starts the name of every storage pool virtchain
// creates: a transient directory pool that lets a remote connection read
// the images of a folder no pool covers. virtchain destroys only pools
// whose names start with it, never another pool.
const TransientPoolPrefix = "virtchain-tmp-"

// transientPoolStale is the age after which a transient pool is taken to
// be left behind by a virtchain that was killed mid-read (a discovery
// takes seconds): the next discovery that needs its folder uses it and
// destroys it afterwards.
const transientPoolStale = time.Hour

// poolSession is what one discovery knows about storage pools on a
// remote connection: which pool covers each folder, and which transient
// pools it created and must destroy (close). Safe for concurrent use by
// the discovery workers; each folder is resolved once.
type poolSession struct {
	c *Conn
	// ctx ends the reading: a cancelled discovery stops at the next layer,
	// so that close runs (and destroys its pools) before virtchain exits.
	ctx     context.Context
	mu      sync.Mutex
	folders map[string]*folderPool
	// calls counts libvirt calls that reach the daemon, created the
	// transient pools made (tests and the README report both).
	calls, created atomic.Int64
}

// folderPool is how one folder's images are read.
type folderPool struct {
	ready chan struct{} // closed once the fields below are set
	pool  *libvirt.StoragePool
	name  string
	// ours: created (or adopted as stale) by this session, destroyed by close.
	ours bool
	// gone: the folder does not exist, so each of its files is missing.
	gone bool
	// notDir: the path is there but is no folder (libvirt: "Not a
	// directory"); problem says so too.
	notDir bool
	// problem says why no pool can be used; every layer there carries it.
	problem string

	refresh sync.Once
}

// poolCallHook, when set (tests only), runs before each counted libvirt
// call with the call's name: a test makes a read fail midway with it.
var poolCallHook func(op string)

func (c *Conn) newPoolSession(ctx context.Context) *poolSession {
	return &poolSession{c: c, ctx: ctx, folders: map[string]*folderPool{}}
}

// call counts one libvirt call.
func (s *poolSession) call(op string) {
	s.calls.Add(1)
	s.c.called(1)
	if poolCallHook != nil {
		poolCallHook(op)
	}
}

// close destroys the transient pools this session created, whatever
// happened during the read, and frees every pool handle.
func (s *poolSession) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dir, fp := range s.folders {
		select {
		case <-fp.ready:
		default:
			continue // still resolving: only after a panic; its resolver frees it
		}
		s.release(fp)
		delete(s.folders, dir)
	}
}

// release destroys fp's pool when it is ours and frees the handle.
func (s *poolSession) release(fp *folderPool) {
	if fp.pool == nil {
		return
	}
	if fp.ours && strings.HasPrefix(fp.name, TransientPoolPrefix) {
		s.destroy(fp.pool)
	}
	_ = fp.pool.Free()
	fp.pool = nil
}

// destroyPatience bounds how long destroy waits for a pool's
// asynchronous jobs (another virtchain's download through it) to end.
const destroyPatience = 5 * time.Second

// destroy destroys a transient pool, which removes it. libvirt refuses
// while a download or refresh through it runs ("has asynchronous jobs
// running"): that ends within milliseconds, so it tries again.
func (s *poolSession) destroy(p *libvirt.StoragePool) {
	for deadline := time.Now().Add(destroyPatience); ; time.Sleep(20 * time.Millisecond) {
		s.call("StoragePoolDestroy")
		err := p.Destroy()
		switch virtCode(err) {
		case libvirt.ERR_OK, libvirt.ERR_NO_STORAGE_POOL, libvirt.ERR_OPERATION_INVALID:
			return // gone, or already not active
		}
		if err == nil || lostConnection(err) || time.Now().After(deadline) {
			return
		}
	}
}

// folder returns how dir's images are read, resolving it on first use.
func (s *poolSession) folder(dir string) *folderPool {
	s.mu.Lock()
	fp, ok := s.folders[dir]
	if !ok {
		fp = &folderPool{ready: make(chan struct{})}
		s.folders[dir] = fp
	}
	s.mu.Unlock()
	if ok {
		<-fp.ready
		return fp
	}
	defer close(fp.ready)
	s.resolve(dir, fp)
	return fp
}

// forget drops fp (its pool vanished: another virtchain destroyed its
// transient pool) so that the next folder call resolves dir again.
func (s *poolSession) forget(dir string, fp *folderPool) {
	s.mu.Lock()
	if s.folders[dir] == fp {
		delete(s.folders, dir)
		s.release(fp)
	}
	s.mu.Unlock()
}

// resolve finds the active pool whose target is dir; failing that, on a
// connection that may write, creates a transient directory pool for it.
func (s *poolSession) resolve(dir string, fp *folderPool) {
	for attempt := 0; attempt < 3; attempt++ {
		if s.lookup(dir, fp) {
			return
		}
		if fp.problem != "" {
			return
		}
		if s.c.readonly {
			fp.problem = s.readOnlyProblem(dir)
			return
		}
		if strings.HasPrefix(dir, "/dev/") || dir == "/dev" {
			// A directory pool there would scan every device node.
			fp.problem = fmt.Sprintf("%s: %s holds block devices; define a logical or disk pool that covers it", ProblemRemoteNoPool, dir)
			return
		}
		if s.create(dir, fp) {
			return
		}
		if fp.problem != "" || fp.gone {
			return
		}
		// Another virtchain created a pool for dir meanwhile: look again.
	}
	fp.problem = "storage pool for " + dir + ": created and destroyed by others while reading; try again"
}

// lookup uses the active pool whose target is dir, if there is one.
func (s *poolSession) lookup(dir string, fp *folderPool) bool {
	s.call("StoragePoolLookupByTargetPath")
	p, err := s.c.virt.LookupStoragePoolByTargetPath(dir)
	if err != nil {
		if virtCode(err) != libvirt.ERR_NO_STORAGE_POOL {
			fp.problem = "storage pool for " + dir + ": " + errorText(err)
		}
		return false
	}
	name, _ := p.GetName() // kept in the handle: no call to the daemon
	fp.pool, fp.name = p, name
	// A transient pool left behind by a virtchain that was killed is
	// adopted: used, then destroyed like one this session made.
	fp.ours = !s.c.readonly && transientPoolAge(name) > transientPoolStale
	return true
}

// conflictPool finds the pool name in "Storage source conflict with
// pool: 'NAME'", libvirt's refusal of a second pool on one target.
var conflictPool = regexp.MustCompile(`conflict with pool:? '([^']+)'`)

// create makes a transient directory pool for dir. false with no problem
// set means another pool took dir meanwhile.
func (s *poolSession) create(dir string, fp *folderPool) bool {
	name := transientPoolName(dir, time.Now())
	doc, err := (&libvirtxml.StoragePool{Type: "dir", Name: name,
		Target: &libvirtxml.StoragePoolTarget{Path: dir}}).Marshal()
	if err != nil {
		fp.problem = "storage pool XML: " + model.OneLine(err.Error())
		return false
	}
	s.call("StoragePoolCreateXML")
	p, err := s.c.virt.StoragePoolCreateXML(doc, 0)
	if err == nil {
		s.created.Add(1)
		fp.pool, fp.name, fp.ours = p, name, true
		return true
	}
	text := errorText(err)
	switch m := conflictPool.FindStringSubmatch(text); {
	case strings.Contains(text, "No such file or directory"):
		fp.gone = true
	case strings.Contains(text, "Not a directory"):
		fp.notDir = true
		fp.problem = "create a transient storage pool for " + dir + ": " + text
	case m != nil && strings.HasPrefix(m[1], TransientPoolPrefix):
		// Another virtchain's, just made: the next lookup finds it.
	case m != nil:
		fp.problem = fmt.Sprintf("chain cannot be read over a remote connection: folder %s belongs to storage pool %s, which is not active; start it: virsh -c %s pool-start %s",
			dir, m[1], model.ShellQuote(s.c.uri), model.ShellQuote(m[1]))
	default:
		fp.problem = "create a transient storage pool for " + dir + ": " + text
	}
	return false
}

// readOnlyProblem names the folder that needs a pool and the commands
// that define one.
func (s *poolSession) readOnlyProblem(dir string) string {
	uri := model.ShellQuote(s.c.uri)
	name := model.ShellQuote(suggestedPoolName(dir))
	return fmt.Sprintf("%s: folder %s; define a pool for it: virsh -c %s pool-define-as %s dir --target %s && virsh -c %s pool-start %s (or connect without --readonly: virtchain then reads it through a transient pool)",
		ProblemRemoteNoPool, dir, uri, name, model.ShellQuote(dir), uri, name)
}

// suggestedPoolName is a pool name made from the folder's last part.
func suggestedPoolName(dir string) string {
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, filepath.Base(dir))
	if base == "" || base == "-" || base == "." || base == ".." {
		return "images"
	}
	return base
}

// transientPoolName is virtchain-tmp-<folder hash>-<creation time>-<random>:
// the hash says which folder, the time lets a later virtchain tell a pool
// left behind from one in use, the random part keeps two virtchains apart.
func transientPoolName(dir string, now time.Time) string {
	sum := sha256.Sum256([]byte(dir))
	var r [3]byte
	_, _ = rand.Read(r[:])
	return TransientPoolPrefix + hex.EncodeToString(sum[:6]) + "-" + strconv.FormatInt(now.Unix(), 10) + "-" + hex.EncodeToString(r[:])
}

// transientPoolAge is how long ago a transient pool was created, from
// its name; 0 for any other pool.
func transientPoolAge(name string) time.Duration {
	rest, ok := strings.CutPrefix(name, TransientPoolPrefix)
	if !ok {
		return 0
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return 0
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0
	}
	return time.Since(time.Unix(sec, 0))
}
