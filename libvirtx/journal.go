package libvirtx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"virtchain/model"
)

// The journal (model/journal.go) is one file, history/journal.jsonl in
// the state folder, shared by every virtchain of the user. Each entry is
// one line written by one write(2) on a file opened with O_APPEND: the
// kernel puts each such write whole at the end, so two virtchains never
// interleave their lines. Each write is synced before the operation goes
// on.
//
// At journalRotateAt bytes the next operation's begin moves the file to
// journal.1.jsonl (and .1 to .2, up to journalKeep): the journal is read
// whole by every history and every job watcher, so it must stay small,
// and root's /var/lib must not fill up. Readers read the generations
// oldest first, so an operation whose begin and end straddle a rotation
// still folds into one.

// JournalFile is the journal's name in its folder.
const JournalFile = "journal.jsonl"

// The journal's rotation: 4 MiB is about 6000 operations; with four old
// generations history reaches back about 30,000.
const (
	journalRotateAt = 4 << 20
	journalKeep     = 4
)

// journalRotateLimit is journalRotateAt; tests lower it.
var journalRotateLimit int64 = journalRotateAt

// journalGeneration is the name of the n-th old journal (0: the journal).
func journalGeneration(n int) string {
	if n == 0 {
		return JournalFile
	}
	return fmt.Sprintf("journal.%d.jsonl", n)
}

// journalDir is the journal's folder, made and checked like the job
// intents' folder.
func journalDir() (string, error) { return stateDir("history") }

// JournalPath is where the journal is (made if missing, checked).
func JournalPath() (string, error) {
	dir, err := journalDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, JournalFile), nil
}

// journalMu keeps this process's appends in order; other processes are
// kept apart by O_APPEND.
var journalMu sync.Mutex

// appendJournal writes e as one line at the end of the journal and syncs.
func appendJournal(e model.JournalEntry) error {
	line, err := e.Line()
	if err != nil {
		return err
	}
	path, err := JournalPath()
	if err != nil {
		return err
	}
	journalMu.Lock()
	defer journalMu.Unlock()
	if e.Event == model.JournalBegin {
		if err := rotateJournal(path, journalRotateLimit); err != nil {
			return err
		}
	}
	f, err := openJournal(path)
	if err != nil {
		return err
	}
	n, err := f.Write(line)
	if err == nil && n != len(line) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return model.Refuse("cannot write virtchain's journal "+path+": "+errText(err), "check the free space of "+filepath.Dir(path))
	}
	return nil
}

// rotateJournal moves a journal of at least limit bytes to generation 1,
// shifting the older ones up and dropping the oldest. An flock on the
// folder keeps two virtchains from rotating at once; appends need no lock:
// a line written into a file just renamed is still read, from there.
func rotateJournal(path string, limit int64) error {
	if st, err := os.Lstat(path); err != nil || st.Size() < limit {
		return nil // a missing or odd journal is openJournal's to judge
	}
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return journalRefusal(path, err)
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		return journalRefusal(path, err)
	}
	if st, err := os.Lstat(path); err != nil || st.Size() < limit || !st.Mode().IsRegular() {
		return nil // rotated meanwhile by another virtchain
	}
	for n := journalKeep - 1; n >= 0; n-- {
		err := os.Rename(filepath.Join(dir, journalGeneration(n)), filepath.Join(dir, journalGeneration(n+1)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return model.Refuse("cannot rotate virtchain's journal "+path+": "+errText(err), "check virtchain's state folder "+dir)
		}
	}
	return nil
}

// openJournal opens the journal for appending: made fresh with O_EXCL
// when missing, else opened without following a link, and only if it is
// a regular file of the user's.
func openJournal(path string) (*os.File, error) {
	const flags = os.O_WRONLY | os.O_APPEND | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	f, err := os.OpenFile(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(path, flags|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, journalRefusal(path, err)
	}
	if err := checkJournalFile(path, f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// checkJournalFile refuses an open journal that is not a regular file
// owned by the user.
func checkJournalFile(path string, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return journalRefusal(path, err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.Mode().IsRegular():
		return model.Refuse("virtchain's journal "+path+" is not a regular file ("+st.Mode().Type().String()+")", "remove it, and virtchain starts a new one")
	case sys == nil || int(sys.Uid) != os.Geteuid():
		return model.Refuse(fmt.Sprintf("virtchain's journal %s is not owned by you (uid %d)", path, os.Geteuid()), "move it away, and virtchain starts a new one")
	}
	return nil
}

func journalRefusal(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return model.Refuse("virtchain's journal "+path+" is a symbolic link", "remove the link, and virtchain starts a new journal")
	}
	// A FIFO without a reader, a device: said as what they are.
	if st, lerr := os.Lstat(path); lerr == nil && !st.Mode().IsRegular() {
		return model.Refuse("virtchain's journal "+path+" is not a regular file ("+st.Mode().Type().String()+")", "remove it, and virtchain starts a new one")
	}
	return model.Refuse("cannot open virtchain's journal "+path+": "+errText(err), "check virtchain's state folder "+filepath.Dir(path))
}

// ReadJournal reads the whole journal, its old generations first (none
// yet: no entries). Lines that are not entries are skipped and counted.
func ReadJournal() (entries []model.JournalEntry, skipped int, err error) {
	path, err := JournalPath()
	if err != nil {
		return nil, 0, err
	}
	for n := journalKeep; n >= 0; n-- {
		data, err := readJournalFile(filepath.Join(filepath.Dir(path), journalGeneration(n)))
		if err != nil {
			return nil, 0, err
		}
		e, s := model.ParseJournal(data)
		entries, skipped = append(entries, e...), skipped+s
	}
	return entries, skipped, nil
}

// readJournalFile reads one generation of the journal, checked like the
// journal itself; a missing one is empty.
func readJournalFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, journalRefusal(path, err)
	}
	defer f.Close()
	if err := checkJournalFile(path, f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, journalRefusal(path, err)
	}
	return data, nil
}

// History reads the journal and folds it into operations, oldest first,
// filtered by host URI and domain ("" for all).
func History(host, domain string) ([]model.HistoryOp, error) {
	entries, _, err := ReadJournal()
	if err != nil {
		return nil, err
	}
	return model.FilterHistory(model.FoldHistory(entries, processAlive), host, domain), nil
}

// History is the journal's operations on domain of this connection's host.
func (c *Conn) History(_ context.Context, domain string) ([]model.HistoryOp, error) {
	return History(c.uri, domain)
}

// journalOp is an operation whose begin entry was written.
type journalOp struct{ id string }

// me is who writes the journal: user, process, machine.
var me = sync.OnceValue(func() (who struct {
	user, machine string
}) {
	who.user = strconv.Itoa(os.Geteuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		who.user = u.Username
	}
	who.machine, _ = os.Hostname()
	return who
})

// beginOp writes the begin entry of plan p on this connection. An error
// means the operation must not run: virtchain does not change what it
// cannot record.
func (c *Conn) beginOp(p *model.Plan) (*journalOp, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := time.Now()
	id := now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
	e := model.BeginEntry(id, now, c.uri, p)
	e.User, e.PID, e.Machine = me().user, os.Getpid(), me().machine
	if err := appendJournal(e); err != nil {
		return nil, err
	}
	return &journalOp{id: id}, nil
}

// end writes the operation's end. The change is made by then: a journal
// that cannot be written now leaves the operation "interrupted", which
// says what to look at.
func (o *journalOp) end(err error) {
	if o != nil {
		_ = appendJournal(model.EndEntry(o.id, time.Now(), err))
	}
}

// journalEvent writes a running or detached entry of operation id.
func journalEvent(id string, ev model.JournalEvent) {
	if id != "" {
		_ = appendJournal(model.JournalEntry{ID: id, Event: ev, Time: time.Now().UTC()})
	}
}

// journaled runs act as the operation p: its begin entry first (an
// operation that cannot be recorded does not run), its end after.
func (c *Conn) journaled(p *model.Plan, act func() error) error {
	op, err := c.beginOp(p)
	if err != nil {
		return err
	}
	err = act()
	op.end(err)
	return err
}

// openJob is a block job's operation in the journal: its ID and when
// libvirt took the job.
type openJob struct {
	id      string
	started time.Time
}

// openJobOps returns, by job key, this host's block jobs that were
// started and whose end no virtchain recorded: a watcher that finds such
// a job running records its end.
func (c *Conn) openJobOps() map[string]openJob {
	entries, _, err := ReadJournal()
	if err != nil {
		return nil
	}
	out := map[string]openJob{}
	for _, o := range model.FoldHistory(entries, nil) {
		if o.Host == c.uri && o.Target != "" && o.JobStarted != nil && !o.Finished() {
			out[model.JobKey(o.Domain, o.Target)] = openJob{o.ID, *o.JobStarted} // the newest wins
		}
	}
	return out
}

// processAlive says whether the process pid on machine still runs and
// is the one that wrote an entry at since (a PID used again by a process
// started later is not). Another machine's processes are not known.
func processAlive(machine string, pid int, since time.Time) bool {
	if machine != me().machine || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	started, ok := processStart(pid)
	return !ok || !started.After(since.Add(time.Second))
}

// processStart reads when pid started, from /proc (in clock ticks since
// boot; Linux reports them at USER_HZ, 100 a second).
func processStart(pid int) (time.Time, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false
	}
	// Fields after the command name (which may hold spaces) start at 3.
	rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	boot, ok := bootTime()
	if err != nil || !ok {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * (time.Second / 100)), true
}

// bootTime is the machine's boot time (btime in /proc/stat).
func bootTime() (time.Time, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0), true
			}
		}
	}
	return time.Time{}, false
}

// Journaled runs act as the change p describes, journaled like the
// Conn's own operations: for changes made outside them (the demo lab).
func (c *Conn) Journaled(p *model.Plan, act func() error) error { return c.journaled(p, act) }
