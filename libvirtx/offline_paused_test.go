package libvirtx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Offline merges over a real qemu+ssh connection (through the host's sshd
// and libvirt's remote helper): the domain is started paused, QEMU's block
// job does the work, the domain is destroyed. Each test runs the same
// merges on a twin domain through the local qemu-img path and compares the
// chains, the definitions and the guest-visible bytes.

// remoteLab is a jobLab read and merged through a qemu+ssh connection.
// With pool its folder gets a storage pool; without, the remote reads go
// through virtchain's transient pools.
type remoteLab struct {
	*jobLab
	rc *Conn
}

func newRemoteLab(t *testing.T, name string, pool bool) *remoteLab {
	t.Helper()
	rc := sshConn(t, false)
	l := &remoteLab{jobLab: newJobLab(t, name, false), rc: rc}
	if pool {
		l.addPool()
	}
	return l
}

// addPool creates a transient dir pool NAME-pool on the lab's folder,
// destroyed in t.Cleanup: over a remote connection the storage API reads
// and creates images only in pools.
func (l *discLab) addPool() {
	l.t.Helper()
	testhost.Pool(l.t, l.name+"-pool", l.dir)
}

// remoteChain is the chain as the remote connection reads it.
func (l *remoteLab) remoteChain() []string {
	l.t.Helper()
	d, err := l.rc.DiscoverDomain(context.Background(), l.name)
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, ly := range d.Disks[0].Layers {
		if ly.Problem != "" {
			l.t.Fatalf("remote layer %s: %s", ly.Path, ly.Problem)
		}
		out = append(out, filepath.Base(ly.Path))
	}
	return out
}

// shutOff fails unless the domain is shut off.
func (l *jobLab) shutOff() {
	l.t.Helper()
	if active, err := l.dom.IsActive(); err != nil || active {
		l.t.Fatalf("%s is not shut off after the merge (active %v, %v)", l.name, active, err)
	}
}

// diskDef is the persistent definition's vda with the lab's folder written
// as DIR, so twins compare equal.
func (l *jobLab) diskDef() string {
	l.t.Helper()
	doc, err := l.dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		l.t.Fatal(err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		l.t.Fatal(err)
	}
	disk := def.Devices.Disks[0]
	disk.Address, disk.Alias = nil, nil
	out, err := disk.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.ReplaceAll(out, l.dir, "DIR")
}

// headers is each layer's backing name and format as qemu-img reads them,
// with the lab's folder written as DIR.
func (l *jobLab) headers() []string {
	l.t.Helper()
	var out []string
	for _, ly := range l.domain().Disks[0].Layers {
		info := l.run("qemu-img", "info", "-U", "--output=json", ly.Path)
		var keep []string
		for _, line := range strings.Split(info, "\n") {
			if strings.Contains(line, `"backing-filename"`) || strings.Contains(line, `"backing-filename-format"`) || strings.Contains(line, `"format"`) && !strings.Contains(line, "child") {
				keep = append(keep, strings.TrimSpace(strings.ReplaceAll(line, l.dir, "DIR")))
			}
		}
		out = append(out, filepath.Base(ly.Path)+": "+strings.Join(keep, " "))
	}
	return out
}

// sameAs fails unless the remote twin matches the local one: chain (read
// locally and remotely), definition, image headers, and guest view.
func (l *remoteLab) sameAs(local *jobLab, ref, localRef string) {
	l.t.Helper()
	l.shutOff()
	got, want := l.chain(), local.chain()
	if !reflect.DeepEqual(got, want) {
		l.t.Fatalf("remote merge chain %v, local %v", got, want)
	}
	if rc := l.remoteChain(); !reflect.DeepEqual(rc, want) {
		l.t.Fatalf("chain read over %s: %v, want %v", testhost.SSHURI(), rc, want)
	}
	if g, w := l.diskDef(), local.diskDef(); g != w {
		l.t.Fatalf("definition after the remote merge:\n%s\nafter the local one:\n%s", g, w)
	}
	if g, w := l.headers(), local.headers(); !reflect.DeepEqual(g, w) {
		l.t.Fatalf("image headers after the remote merge:\n%v\nafter the local one:\n%v", g, w)
	}
	l.sameView(ref)
	local.sameView(localRef)
}

func (l *remoteLab) watchRemote() *JobWatcher {
	l.t.Helper()
	w, err := l.rc.WatchJobs(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(w.Close)
	return w
}

// remotePlan plans over the remote connection, as a user there would.
func (l *remoteLab) remotePlan(commit *model.CommitRequest, pull *model.PullRequest) *model.BlockPlan {
	l.t.Helper()
	var bp *model.BlockPlan
	var err error
	if commit != nil {
		bp, err = l.rc.PlanCommit(context.Background(), *commit)
	} else {
		bp, err = l.rc.PlanPull(context.Background(), *pull)
	}
	if err != nil {
		l.t.Fatal(err)
	}
	if !bp.Offline || !bp.StartPaused {
		l.t.Fatalf("remote plan of a shut-off domain: offline %v, start paused %v", bp.Offline, bp.StartPaused)
	}
	if !strings.HasPrefix(bp.Steps[0], "start "+l.name+" paused") || !strings.HasPrefix(bp.Steps[len(bp.Steps)-1], "destroy "+l.name) {
		l.t.Fatalf("plan steps do not say the domain is started paused and destroyed: %q", bp.Steps)
	}
	if bp.Virsh[0] != "virsh start --paused "+l.name || bp.Virsh[len(bp.Virsh)-1] != "virsh destroy "+l.name {
		l.t.Fatalf("plan commands %q", bp.Virsh)
	}
	for _, f := range bp.Files {
		if f.By != "libvirt" {
			l.t.Fatalf("file %s written by %s, not libvirt", f.Path, f.By)
		}
	}
	return bp
}

// The design card's offline sequence, over qemu+ssh and locally side by
// side: an intermediate commit (s3 and s2 into s1), a pull down to
// the base, and a commit of the active layer (an active commit and pivot
// in the paused domain). After each, both twins match.
func TestJobOfflineOverSSH(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-r", true)
	local := newJobLab(t, "vct-job-offssh-l", false)
	lw, rw := local.watch(), r.watchRemote()
	ref, localRef := r.view("ref.qcow2"), local.view("ref.qcow2")

	commit := &model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1"}
	r.runJob(rw, r.remotePlan(commit, nil))
	local.runJob(lw, local.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: local.name, Target: "vda", Top: "s3", Base: "s1"}, lw.Jobs())
	}))
	wantChain(t, r.chain(), "active.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2")
	r.sameAs(local, ref, localRef)

	pull := &model.PullRequest{Domain: r.name, Target: "vda", Base: "base.qcow2"}
	r.runJob(rw, r.remotePlan(nil, pull))
	local.runJob(lw, local.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: local.name, Target: "vda", Base: "base.qcow2"}, lw.Jobs())
	}))
	wantChain(t, r.chain(), "active.qcow2", "base.qcow2")
	r.sameAs(local, ref, localRef)

	// The active layer into the base: an active commit and a pivot in the
	// paused domain; the definition then names the base, as locally.
	commit = &model.CommitRequest{Domain: r.name, Target: "vda", Shallow: true}
	bp := r.remotePlan(commit, nil)
	if !strings.Contains(bp.Steps[1], "active commit") || !strings.Contains(strings.Join(bp.Virsh, " "), "--active --pivot") {
		t.Fatalf("plan of the active layer's commit: %q %q", bp.Steps, bp.Virsh)
	}
	r.runJob(rw, bp)
	local.runJob(lw, local.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanCommit(d, model.CommitRequest{Domain: local.name, Target: "vda", Shallow: true}, lw.Jobs())
	}))
	wantChain(t, r.chain(), "base.qcow2")
	r.sameAs(local, ref, localRef)

	if err := r.dom.Create(); err != nil {
		t.Fatalf("the domain does not start on the new chain: %v", err)
	}
	wantChain(t, r.chain(), "base.qcow2")
	r.sameView(ref)
}

// A full pull over qemu+ssh leaves the active layer with no backing file,
// as qemu-img rebase does locally.
func TestJobOfflineFullPullOverSSH(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-pr", false)
	local := newJobLab(t, "vct-job-offssh-pl", false)
	lw, rw := local.watch(), r.watchRemote()
	ref, localRef := r.view("ref.qcow2"), local.view("ref.qcow2")
	r.runJob(rw, r.remotePlan(nil, &model.PullRequest{Domain: r.name, Target: "vda"}))
	local.runJob(lw, local.plan(func(d []model.Domain) (*model.BlockPlan, error) {
		return model.PlanPull(d, model.PullRequest{Domain: local.name, Target: "vda"}, lw.Jobs())
	}))
	wantChain(t, r.chain(), "active.qcow2")
	r.sameAs(local, ref, localRef)
}

// A domain that cannot start is refused in one line with libvirt's reason
// (here a disk whose image a running domain holds locked, as a host
// device another domain holds would be); nothing changes.
func TestJobOfflineOverSSHCannotStart(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-busy", false)
	holder := newDiscLab(t, "vct-job-offssh-holder")
	shared := holder.qcow2("data.qcow2", "")
	hdom := holder.define(discFileDisk("vda", shared, "qcow2"))
	if err := hdom.CreateWithFlags(libvirt.DOMAIN_START_PAUSED); err != nil {
		t.Fatalf("start the holder: %v", err)
	}
	// r's domain gets the held image as a second disk.
	doc, err := r.dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		t.Fatal(err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(doc); err != nil {
		t.Fatal(err)
	}
	def.Devices.Disks = append(def.Devices.Disks, discFileDisk("vdb", shared, "qcow2"))
	doc, _ = def.Marshal()
	nd, err := r.c.virt.DomainDefineXML(doc)
	if err != nil {
		t.Fatal(err)
	}
	_ = nd.Free()
	before, beforeDef := r.chain(), r.diskDef()

	rw := r.watchRemote()
	bp := r.remotePlan(&model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1"}, nil)
	if _, err := rw.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	final, _ := follow(t, rw, model.JobKey(r.name, "vda"), time.Minute)
	if final.Phase != model.PhaseFailed || !strings.Contains(final.Error, "cannot be started paused for the merge: QEMU says: Failed to get \"write\" lock") ||
		!strings.Contains(final.Error, "qemu-img") || strings.Contains(final.Error, "\n") {
		t.Fatalf("job %s: %q", final.Phase, final.Error)
	}
	t.Logf("refusal: %s", final.Error)
	r.shutOff()
	wantChain(t, r.chain(), before...)
	if r.diskDef() != beforeDef {
		t.Fatal("the definition changed")
	}
}

// A job that fails after the domain was started (libvirt refuses the
// block job), and one that is stopped midway: the domain ends shut off
// and the chain is as it was.
func TestJobOfflineOverSSHFailsCleanly(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-fail", false)
	ref := r.view("ref.qcow2")
	before := r.chain()
	rw := r.watchRemote()

	bp := r.remotePlan(&model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1"}, nil)
	bp.BaseArg = r.path("not-in-the-chain.qcow2")
	if _, err := rw.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	final, _ := follow(t, rw, model.JobKey(r.name, "vda"), time.Minute)
	if final.Phase != model.PhaseFailed || final.Error == "" {
		t.Fatalf("job %s: %q", final.Phase, final.Error)
	}
	t.Logf("failure: %s", final.Error)
	r.shutOff()
	wantChain(t, r.chain(), before...)
	r.sameView(ref)

	// Slowed down to 1 MiB/s, then aborted while it copies.
	bp = r.remotePlan(&model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1", Bandwidth: 1 << 20}, nil)
	if _, err := rw.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	waitJob(t, r.dom)
	if err := rw.Abort(r.name, "vda", false); err != nil {
		t.Fatal(err)
	}
	final, _ = follow(t, rw, model.JobKey(r.name, "vda"), time.Minute)
	if final.Phase != model.PhaseCancelled {
		t.Fatalf("aborted job %s: %q", final.Phase, final.Error)
	}
	r.shutOff()
	wantChain(t, r.chain(), before...)
	r.sameView(ref)
}

// The connection is cut (its ssh process killed) while the job runs:
// libvirt destroys the domain it started with autodestroy, so it ends
// shut off with nobody left to stop it, and the chain is whole.
func TestJobOfflineOverSSHConnectionLost(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-lost", false)
	ref := r.view("ref.qcow2")
	rw := r.watchRemote()
	bp := r.remotePlan(&model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1", Bandwidth: 1 << 20}, nil)
	if _, err := rw.Start(context.Background(), bp); err != nil {
		t.Fatal(err)
	}
	waitJob(t, r.dom)
	killSSHChildren(t)
	waitActive(t, r.dom, false)
	final, _ := follow(t, rw, model.JobKey(r.name, "vda"), time.Minute)
	if final.Phase.Live() || final.Succeeded() {
		t.Fatalf("job after the connection was lost: %s %q", final.Phase, final.Error)
	}
	t.Logf("lost: %s", final.Error)
	r.sameView(ref)
	if chain := r.chain(); chain[0] != "active.qcow2" {
		t.Fatalf("chain %v", chain)
	}
}

// waitJob waits until the paused domain's block job runs.
func waitJob(t *testing.T, dom *libvirt.Domain) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, ok, err := jobInfo(dom, "vda"); err == nil && ok {
			return
		}
	}
	t.Fatal("no block job after 30s")
}

func waitActive(t *testing.T, dom *libvirt.Domain, want bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if active, err := dom.IsActive(); err == nil && active == want {
			return
		}
	}
	t.Fatalf("domain active is not %v after 30s", want)
}

// killSSHChildren kills the ssh processes this test process started: the
// transport of its qemu+ssh connections.
func killSSHChildren(t *testing.T) {
	t.Helper()
	me := os.Getpid()
	killed := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasSuffix(s[:i], "(ssh") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(me) {
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no ssh process of this test to kill")
	}
}

// A domain with a managed-save image is refused before anything starts:
// starting it would restore the saved memory onto disks that changed.
func TestJobOfflineOverSSHManagedSave(t *testing.T) {
	r := newRemoteLab(t, "vct-job-offssh-saved", false)
	if err := r.dom.Create(); err != nil {
		t.Fatal(err)
	}
	if err := r.dom.ManagedSave(0); err != nil {
		t.Fatal(err)
	}
	_, err := r.rc.PlanCommit(context.Background(), model.CommitRequest{Domain: r.name, Target: "vda", Top: "s3", Base: "s1"})
	var ref *model.Refusal
	if !errors.As(err, &ref) || !strings.Contains(err.Error(), "managed save image") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("plan over %s of a domain with a managed-save image: %v", testhost.SSHURI(), err)
	}
	r.shutOff()
}
