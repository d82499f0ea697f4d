package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"virtchain/libvirtx/testhost"

	"libvirt.org/go/libvirtxml"
)

// uri is the host under test (make test runs the suite once per host).
var uri = testhost.URI()

const (
	prefix = "vc7k"
	// The guest disk: 16 blocks of 1 MiB; the oracle keeps one pattern
	// byte per block (0 is never written, so it means zeros).
	blocks  = 16
	blockSz = 1 << 20
	// The device qemu-io writes through (DESIGN.md, "Guest writes").
	qdev = "/machine/peripheral/virtio-disk0/virtio-backend"
)

// cleanups run at the end of each world, and on SIGINT/SIGTERM, so a
// Ctrl-C leaves no domain, mount or loop device behind.
var (
	cleanMu  sync.Mutex
	cleanups = map[int]func(){}
	cleanID  int
	cleaning sync.WaitGroup // cleanups under way, which a signal waits for
	stopping atomic.Bool    // a signal came: build no more
)

func addCleanup(f func()) (remove func()) {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleanID++
	id := cleanID
	cleanups[id] = f
	return func() {
		cleanMu.Lock()
		g, ok := cleanups[id]
		delete(cleanups, id)
		if ok {
			cleaning.Add(1)
		}
		cleanMu.Unlock()
		if ok {
			defer cleaning.Done()
			g()
		}
	}
}

func TestMain(m *testing.M) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "soak: %v: cleaning up\n", s)
		cleanMu.Lock()
		fs := cleanups
		cleanups = map[int]func(){}
		cleanMu.Unlock()
		stopping.Store(true)
		for _, f := range fs {
			f()
		}
		cleaning.Wait()
		// A world still being built may have defined a domain meanwhile:
		// its teardown is safe to run twice.
		time.Sleep(time.Second)
		for _, f := range fs {
			f()
		}
		os.Exit(130)
	}()
	os.Exit(testhost.RunWithOwnState(m))
}

func needSoak(t *testing.T) string {
	t.Helper()
	if os.Getenv("VIRTCHAIN_INTEGRATION") != "1" {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 (make test does) to run it against the real libvirtd")
	}
	bin := os.Getenv("VIRTCHAIN_BIN")
	if bin == "" {
		t.Fatal("VIRTCHAIN_BIN must name the built virtchain binary (make test sets it)")
	}
	quiet := dog
	dog = watch(daemonAlive, 3*time.Second, 30*time.Second)
	t.Cleanup(func() { dog.stop(); dog = quiet })
	return bin
}

// result of one external command.
type result struct {
	code      int
	out, errs string
	hang      bool
}

func (r result) String() string {
	if r.hang {
		return "HANG (killed after its timeout)"
	}
	return fmt.Sprintf("exit %d: %s%s", r.code, strings.TrimSpace(r.out), strings.TrimSpace(r.errs))
}

// run starts name with args and kills it after timeout (a hang).
// A daemon that died (see watchdog) ends it at once.
func run(timeout time.Duration, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(dog.ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	r := result{out: o.String(), errs: e.String()}
	if err := dog.dead(); err != nil {
		r.code, r.errs = -3, r.errs+err.Error()
		return r
	}
	if ctx.Err() != nil {
		r.hang = true
		r.code = -1
		return r
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			r.code = -2
			r.errs += err.Error()
		}
	}
	return r
}

// virsh runs a virsh command; when the daemon is away (others restart the
// shared libvirtd too) it waits for it and tries once more.
func virsh(args ...string) result {
	r := run(60*time.Second, "virsh", append([]string{"-c", uri}, args...)...)
	if r.code != 0 && strings.Contains(r.errs, "connect") {
		for i := 0; i < 240 && dog.dead() == nil && run(5*time.Second, "virsh", "-c", uri, "version").code != 0; i++ {
			time.Sleep(500 * time.Millisecond)
		}
		r = run(60*time.Second, "virsh", append([]string{"-c", uri}, args...)...)
	}
	return r
}

// world is one run's domains, folder and oracle.
type world struct {
	bin, dir, dom, fdom string
	seed                int64
	state               string // running, shutoff, saved, msaved
	content             [blocks]byte
	snaps               []*snap
	pat                 byte
	n                   int
	saveFile            string
	fifo, loopImg       string // the FIFO, and a loop-mounted filesystem's image
	mnt, loopDev        string
	fifoTop, loopTop    string // the shut-off fault domain's two disks
	stats               *stats
	remove              func()
	cur                 []string            // vda's chain at the last check, active first
	note                string              // the last refusal, for the step log
	outside             string              // a file of ours outside the folder
	checked             map[string]fileInfo // images qemu-img check passed, as they were then
}

// snap is the oracle's view of one snapshot.
type snap struct {
	name    string
	kind    string // internal, external, checkpoint
	content [blocks]byte
	layer   string // internal: the image holding it; external: the point
	overlay string
	memfile string
	stale   bool // virtchain marked it stale: it must stay marked
}

func (w *world) path(f string) string { return filepath.Join(w.dir, f) }

func (w *world) name(kind, ext string) string {
	w.n++
	return w.path(fmt.Sprintf("%s%d%s", kind, w.n, ext))
}

// newWorld builds a running domain on base <- top and a shut-off fault
// domain whose vda backs onto a FIFO and whose vdb is a loop.
func newWorld(bin string, seed int64, st *stats) (*world, error) {
	sweep()
	w := &world{bin: bin, seed: seed, stats: st, state: "running", checked: map[string]fileInfo{}}
	// The stamp carries the time, so a later run can sweep what a killed
	// one left behind.
	stamp := fmt.Sprintf("%s-%d-%d-%d", prefix, seed, time.Now().Unix(), time.Now().UnixNano()%1000)
	dir, err := os.MkdirTemp("/var/tmp", stamp+"-")
	if err != nil {
		return nil, err
	}
	w.dir = dir
	w.dom, w.fdom = stamp+"-a", stamp+"-f"
	w.remove = addCleanup(w.teardown)
	if err := os.Chmod(dir, 0o755); err != nil {
		return w, err
	}
	must := func(r result, what string) error {
		if r.code != 0 {
			return fmt.Errorf("%s: %v", what, r)
		}
		return nil
	}
	base, top := w.path("base.qcow2"), w.path("top.qcow2")
	steps := []struct {
		what string
		args []string
	}{
		{"qemu-img", []string{"create", "-q", "-f", "qcow2", base, fmt.Sprint(blocks * blockSz)}},
		{"qemu-io", []string{"-f", "qcow2", "-c", "write -P 0x01 0 1M", "-c", "write -P 0x02 4M 2M", base}},
		{"qemu-img", []string{"create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top}},
		{"qemu-io", []string{"-f", "qcow2", "-c", "write -P 0x03 1M 1M", top}},
	}
	for _, s := range steps {
		if err := must(run(30*time.Second, s.what, s.args...), s.what); err != nil {
			return w, err
		}
	}
	w.content[0], w.content[4], w.content[5], w.content[1] = 1, 2, 2, 3
	w.pat = 0x10
	if err := os.WriteFile(w.path("notes.txt"), []byte("an unrelated file: cleanup must never delete it\n"), 0o644); err != nil {
		return w, err
	}
	// One file of ours outside the folder, which cleanup is handed too.
	w.outside = dir + ".outside.txt"
	if err := os.WriteFile(w.outside, []byte("outside the test's folder\n"), 0o644); err != nil {
		return w, err
	}
	// The fault domain: vda's backing file is a FIFO, vdb's chain loops.
	w.fifo = w.path("pipe")
	if err := syscall.Mkfifo(w.fifo, 0o644); err != nil {
		return w, err
	}
	w.fifoTop, w.loopTop = w.path("fifo-top.qcow2"), w.path("loop-a.qcow2")
	loopB := w.path("loop-b.qcow2")
	for _, a := range [][]string{
		{"create", "-q", "-f", "qcow2", "-u", "-b", w.fifo, "-F", "raw", w.fifoTop, "16M"},
		{"create", "-q", "-f", "qcow2", w.loopTop, "16M"},
		{"create", "-q", "-f", "qcow2", "-b", w.loopTop, "-F", "qcow2", loopB},
		{"rebase", "-u", "-f", "qcow2", "-b", loopB, "-F", "qcow2", w.loopTop},
	} {
		if err := must(run(30*time.Second, "qemu-img", a...), "qemu-img "+a[0]); err != nil {
			return w, err
		}
	}
	// QEMU gets its own mount namespace when it starts: the small
	// filesystem must be mounted before.
	if err := w.mountSmall(); err != nil {
		return w, err
	}
	if stopping.Load() {
		return w, fmt.Errorf("interrupted")
	}
	if err := w.define(w.dom, map[string]string{"vda": top}); err != nil {
		return w, err
	}
	if err := w.define(w.fdom, map[string]string{"vda": w.fifoTop, "vdb": w.loopTop}); err != nil {
		return w, err
	}
	if stopping.Load() {
		return w, fmt.Errorf("interrupted")
	}
	return w, must(virsh("start", w.dom), "start")
}

func (w *world) define(name string, disks map[string]string) error {
	dom := libvirtxml.Domain{
		Type: "kvm", Name: name,
		Memory:  &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:      &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64"}},
		Devices: &libvirtxml.DomainDeviceList{},
	}
	for _, t := range []string{"vda", "vdb"} {
		if f, ok := disks[t]; ok {
			dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
				Device: "disk",
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: f}},
				Target: &libvirtxml.DomainDiskTarget{Dev: t, Bus: "virtio"},
			})
		}
	}
	xml, err := dom.Marshal()
	if err != nil {
		return err
	}
	p := w.path(name + ".xml")
	if err := os.WriteFile(p, []byte(xml), 0o644); err != nil {
		return err
	}
	if r := virsh("define", p); r.code != 0 {
		return fmt.Errorf("define %s: %v", name, r)
	}
	return os.Remove(p)
}

// teardown removes everything the world made, also after a failure.
func (w *world) teardown() {
	w.openFIFO(3 * time.Second)
	for _, d := range []string{w.dom, w.fdom} {
		virsh("destroy", d)
		virsh("managedsave-remove", d)
		virsh("undefine", d, "--snapshots-metadata", "--managed-save", "--checkpoints-metadata")
	}
	w.umount()
	killUsers(w.dir)
	_ = os.RemoveAll(w.dir)
	_ = os.Remove(w.outside)
	// A define that timed out may still land in a busy daemon.
	if r := virsh("list", "--all", "--name"); r.code == 0 {
		for _, d := range strings.Fields(r.out) {
			if d == w.dom || d == w.fdom {
				virsh("destroy", d)
				virsh("undefine", d, "--snapshots-metadata", "--managed-save", "--checkpoints-metadata")
			}
		}
	}
}

// sweep removes what a killed run of this suite left behind (older than
// an hour, so a run in progress elsewhere is left alone).
func sweep() {
	old := func(name string) bool {
		var seed, born, nonce int64
		n, _ := fmt.Sscanf(name, prefix+"-%d-%d-%d", &seed, &born, &nonce)
		return n == 3 && time.Since(time.Unix(born, 0)) > time.Hour
	}
	if r := virsh("list", "--all", "--name"); r.code == 0 {
		for _, d := range strings.Fields(r.out) {
			if old(d) {
				virsh("destroy", d)
				virsh("undefine", d, "--snapshots-metadata", "--managed-save", "--checkpoints-metadata")
			}
		}
	}
	dirs, _ := filepath.Glob("/var/tmp/" + prefix + "-*")
	for _, p := range dirs {
		if !old(filepath.Base(p)) {
			continue
		}
		if mnt := filepath.Join(p, "small"); isMount(mnt) {
			run(30*time.Second, "umount", "-l", mnt)
		}
		if r := run(10*time.Second, "losetup", "-j", filepath.Join(p, "small.img")); r.code == 0 {
			if dev, _, ok := strings.Cut(r.out, ":"); ok {
				run(10*time.Second, "losetup", "-d", dev)
			}
		}
		_ = os.RemoveAll(p)
	}
}

func isMount(p string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	return strings.Contains(string(b), " "+p+" ")
}

// killUsers ends processes (by pid) whose command line names a file in dir:
// a qemu-img libvirtd started on our looping chain must not outlive us.
func killUsers(dir string) {
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir+"/") {
			continue
		}
		if strings.HasPrefix(string(b), "qemu-img") || strings.Contains(strings.SplitN(string(b), "\x00", 2)[0], "/qemu-img") {
			var pid int
			fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
			if pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// openFIFO opens the FIFO from our side for a while, so a libvirtd or QEMU
// blocked opening it goes on (and reads end-of-file).
func (w *world) openFIFO(d time.Duration) {
	if w.fifo == "" {
		return
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if f, err := os.OpenFile(w.fifo, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			time.Sleep(50 * time.Millisecond)
			f.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mountSmall makes a small loop-mounted filesystem in the folder, once.
func (w *world) mountSmall() error {
	if w.mnt != "" {
		return nil
	}
	img, mnt := w.path("small.img"), w.path("small")
	if r := run(10*time.Second, "truncate", "-s", "4M", img); r.code != 0 {
		return fmt.Errorf("truncate: %v", r)
	}
	if r := run(30*time.Second, "mkfs.ext4", "-q", "-F", img); r.code != 0 {
		return fmt.Errorf("mkfs: %v", r)
	}
	r := run(10*time.Second, "losetup", "-f", "--show", img)
	if r.code != 0 {
		return fmt.Errorf("losetup: %v", r)
	}
	w.loopImg, w.loopDev = img, strings.TrimSpace(r.out)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	if r := run(10*time.Second, "mount", w.loopDev, mnt); r.code != 0 {
		return fmt.Errorf("mount: %v", r)
	}
	w.mnt = mnt
	_ = os.Remove(filepath.Join(mnt, "lost+found"))
	return os.Chmod(mnt, 0o755)
}

func (w *world) umount() {
	if w.mnt != "" {
		run(30*time.Second, "umount", w.mnt)
		if isMount(w.mnt) {
			run(30*time.Second, "umount", "-l", w.mnt)
		}
		w.mnt = ""
	}
	if w.loopDev != "" {
		run(10*time.Second, "losetup", "-d", w.loopDev)
		w.loopDev = ""
	}
}

// vc runs virtchain with a timeout; a timeout is a hang.
func (w *world) vc(timeout time.Duration, args ...string) result {
	r := run(timeout, w.bin, append([]string{"-c", uri}, args...)...)
	if r.code == 1 && strings.Contains(r.errs, "cannot connect to") {
		// Not virtchain's doing: someone restarted the shared libvirtd.
		virsh("version")
		r = run(timeout, w.bin, append([]string{"-c", uri}, args...)...)
	}
	return r
}

func (w *world) vcJSON(v any, args ...string) error {
	r := w.vc(30*time.Second, append([]string{"--json"}, args...)...)
	if r.code != 0 {
		return fmt.Errorf("virtchain %s: %v", strings.Join(args, " "), r)
	}
	return json.Unmarshal([]byte(r.out), v)
}

// vcKill starts virtchain and kills it with SIGKILL once a line holding
// match appears (or after limit).
func (w *world) vcKill(match string, limit time.Duration, args ...string) (sawLine bool) {
	cmd := exec.CommandContext(dog.ctx, w.bin, append([]string{"-c", uri}, args...)...)
	var errs strings.Builder
	cmd.Stderr = &errs
	out, err := cmd.StdoutPipe()
	if err != nil || cmd.Start() != nil {
		return false
	}
	defer func() {
		if !sawLine && os.Getenv("SOAK_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "vcKill %v: no %q: %s\n", args, match, errs.String())
		}
	}()
	lines := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), match) {
				lines <- true
				break
			}
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	select {
	case sawLine = <-lines:
	case <-time.After(limit):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	return sawLine
}

// listing of the folder: what may change is compared with the plan.
type fileInfo struct {
	size  int64
	mtime time.Time
}

func (w *world) listing() map[string]fileInfo {
	l, _ := testhost.ReadListing(w.dir, testhost.ListOptions{Recursive: true, AnyType: true, Skip: func(p string) bool {
		return p == w.loopImg || strings.HasPrefix(filepath.Base(p), "oracle-")
	}})
	m := make(map[string]fileInfo, len(l))
	for p, f := range l {
		m[p] = fileInfo{f.Size, f.Mtime}
	}
	return m
}

// Output JSON of chain and snapshots, only the fields the oracle reads.
type chainJSON struct {
	Disks []struct {
		Target string `json:"target"`
		Layers []struct {
			Path    string `json:"path"`
			Problem string `json:"problem"`
		} `json:"layers"`
	} `json:"disks"`
}

type snapsJSON struct {
	Current   string `json:"current"`
	Snapshots []struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		MemoryFile string `json:"memory_file"`
		Disks      []struct {
			Target       string   `json:"target"`
			Kind         string   `json:"kind"`
			File         string   `json:"file"`
			Point        string   `json:"point"`
			PointBacking []string `json:"point_backing"`
		} `json:"disks"`
		Stale []string `json:"stale"`
	} `json:"snapshots"`
}

// chain is vda's layer paths, active first.
func (w *world) chain() ([]string, error) {
	var c chainJSON
	if err := w.vcJSON(&c, "chain", w.dom); err != nil {
		return nil, err
	}
	for _, d := range c.Disks {
		if d.Target == "vda" {
			var out []string
			for _, l := range d.Layers {
				if l.Problem != "" {
					return nil, fmt.Errorf("vda layer %s: %s", l.Path, l.Problem)
				}
				out = append(out, l.Path)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s has no vda", w.dom)
}
