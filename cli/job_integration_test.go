package cli

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
)

// The block-job commands against the real libvirtd, on a domain of their
// own (vct-job-cli-*) whose vda chain is base <- test2 <- s1 <- s2 <- s3 <-
// active, made by external snapshots s1..s4 of the shut-off domain.

func jobCLIDomain(t *testing.T) (name, dir string) {
	t.Helper()
	return jobCLIDomainNamed(t, "vct-job-cli-")
}

// jobCLIDomainNamed is jobCLIDomain with the name prefix of another test.
func jobCLIDomainNamed(t *testing.T, prefix string) (name, dir string) {
	t.Helper()
	name = fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1_000_000_000)
	dir = scratchDomain(t, name, prefix)
	p := func(f string) string { return filepath.Join(dir, f) }
	write := func(i int, f string) {
		labTool(t, "qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%02x %dM 3M", 0x11*(i+1), 2*i), p(f))
	}
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", p("base.qcow2"), "64M")
	write(0, "base.qcow2")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", p("base.qcow2"), "-F", "qcow2", p("test2.qcow2"))
	write(1, "test2.qcow2")
	defineDiskDomain(t, name, dir, p("test2.qcow2"))
	for i, f := range []string{"s1.qcow2", "s2.qcow2", "s3.qcow2", "active.qcow2"} {
		labVirsh(t, "snapshot-create-as", "--domain", name, "--name", fmt.Sprintf("s%d", i+1), "--disk-only",
			"--diskspec", "vda,snapshot=external,file="+p(f))
		write(i+2, f)
	}
	labVirsh(t, "start", name)
	return name, dir
}

func jobCLIChain(t *testing.T, name string) []string {
	t.Helper()
	var c struct {
		Disks []struct {
			Layers []struct {
				Path string `json:"path"`
			} `json:"layers"`
		} `json:"disks"`
	}
	cliJSON(t, &c, "chain", name, "vda")
	var out []string
	for _, l := range c.Disks[0].Layers {
		out = append(out, filepath.Base(l.Path))
	}
	return out
}

func jobCLIFlush(t *testing.T, name string) {
	t.Helper()
	labVirsh(t, "qemu-monitor-command", name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "flush"`)
}

type jobCLIJob struct {
	Domain    string  `json:"domain"`
	Disk      string  `json:"disk"`
	Kind      string  `json:"kind"`
	Phase     string  `json:"phase"`
	Bandwidth int64   `json:"bandwidth"`
	Progress  float64 `json:"progress"`
}

func TestIntegrationJobCommands(t *testing.T) {
	needIntegration(t)
	name, dir := jobCLIDomain(t)
	p := func(f string) string { return filepath.Join(dir, f) }
	jobCLIFlush(t, name)
	ref := p("ref.qcow2")
	labTool(t, "qemu-img", "convert", "-U", "-O", "qcow2", p("active.qcow2"), ref)

	// Bad usage and refusals: exit 2 and 1, one line, nothing changes.
	code, _, stderr := runMain(t, "-c", systemURI, "commit", name, "vda", "--pivot")
	if code != 2 {
		t.Fatalf("--pivot without --active: exit %d %s", code, stderr)
	}
	code, _, stderr = runMain(t, "-c", systemURI, "commit", name, "vda", "--top", "vda[99]")
	if code != 1 {
		t.Fatalf("unknown index: exit %d", code)
	}
	wantOneLine(t, stderr, `no layer "vda[99]"`)
	code, _, stderr = runMain(t, "-c", systemURI, "commit", name, "vda", "--top", "s1", "--base", "s3")
	if code != 1 {
		t.Fatalf("base above top: exit %d", code)
	}
	wantOneLine(t, stderr, "is above top")
	code, _, stderr = runMain(t, "-c", systemURI, "abort", name, "vda")
	if code != 1 {
		t.Fatalf("abort without a job: exit %d", code)
	}
	wantOneLine(t, stderr, name)

	// --dry-run prints the plan and the virsh command, and changes nothing.
	out := cliText(t, "commit", name, "vda", "--top", "s3", "--base", "s1", "--dry-run")
	want := "virsh blockcommit --domain " + name + " --path vda --base " + p("s1.qcow2") + " --top " + p("s3.qcow2") + " --wait --verbose"
	if !strings.Contains(out, want) || !strings.Contains(out, "Snapshot metadata that becomes stale:\n  - s2\n  - s3") {
		t.Fatalf("dry run:\n%s", out)
	}
	t.Logf("dry run:\n%s", out)
	all := []string{"active.qcow2", "s3.qcow2", "s2.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2"}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, all) {
		t.Fatalf("dry run changed the chain: %v", got)
	}

	// Commit 2-3 into 1, waiting; piped output is plain percentage lines.
	out = cliText(t, "commit", name, "vda", "--top", "s3", "--base", "s1", "--wait")
	if !strings.Contains(out, name+" vda commit 100% completed") || !strings.Contains(out, "Stale snapshot metadata: s2, s3") || strings.Contains(out, "\r") {
		t.Fatalf("commit --wait:\n%s", out)
	}
	t.Logf("commit --wait:\n%s", out)
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"active.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2"}) {
		t.Fatalf("after commit: %v", got)
	}

	// Active commit into s1 with a pivot (implies --wait), JSON.
	var res struct {
		Plan struct {
			Kind string `json:"kind"`
		} `json:"plan"`
		Job            jobCLIJob `json:"job"`
		StaleSnapshots []string  `json:"stale_snapshots"`
		LeftFiles      []string  `json:"left_files"`
	}
	cliJSON(t, &res, "commit", name, "vda", "--shallow", "--active", "--pivot")
	if res.Plan.Kind != "active-commit" || res.Job.Phase != "completed" || res.Job.Progress != 1 ||
		!reflect.DeepEqual(res.StaleSnapshots, []string{"s2", "s3", "s4"}) || !reflect.DeepEqual(res.LeftFiles, []string{p("active.qcow2")}) {
		t.Fatalf("active commit: %+v", res)
	}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"s1.qcow2", "test2.qcow2", "base.qcow2"}) {
		t.Fatalf("after pivot: %v", got)
	}

	// A throttled full pull whose virtchain is killed: the job goes on, a
	// new virtchain lists it, lifts the limit and follows it to the end.
	killAfterLine(t, virtchainBin(t), " vda pull ", "pull", name, "vda", "--bandwidth", "0.125", "--wait")
	var jobs []jobCLIJob
	cliJSON(t, &jobs, "jobs")
	if len(jobs) == 0 {
		t.Fatal("the pull did not outlive its virtchain")
	}
	var mine *jobCLIJob
	for i := range jobs {
		if jobs[i].Domain == name {
			mine = &jobs[i]
		}
	}
	if mine == nil || mine.Kind != "pull" || mine.Phase != "running" || mine.Bandwidth != 128<<10 {
		t.Fatalf("jobs: %+v", jobs)
	}
	follow := exec.Command(virtchainBin(t), "-c", systemURI, "jobs", "--wait")
	var followOut syncBuffer
	follow.Stdout = &followOut
	follow.Stderr = &followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	// The limit goes only once the follower has shown the job: on a loaded
	// machine a fixed pause let the pull end before it attached.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(followOut.String(), name+" vda pull "); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs --wait showed no pull within 30s:\n%s", followOut.String())
		}
	}
	if out := cliText(t, "bandwidth", name, "vda", "0"); !strings.Contains(out, "unlimited") {
		t.Fatalf("bandwidth: %s", out)
	}
	if err := follow.Wait(); err != nil || !strings.Contains(followOut.String(), name+" vda pull 100% completed") {
		t.Fatalf("jobs --wait: %v\n%s", err, followOut.String())
	}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, []string{"s1.qcow2"}) {
		t.Fatalf("after pull: %v", got)
	}

	// Cleanup: the dry run lists, the real one removes metadata and files.
	out = cliText(t, "cleanup", name, "--dry-run")
	if !strings.Contains(out, "virsh snapshot-delete --domain "+name+" s4 --metadata") || !strings.Contains(out, "delete with --delete-files") ||
		!strings.Contains(out, "Stale metadata to remove:\n  - s2\n  - s3\n  - s4") || strings.Contains(out, "becomes stale") {
		t.Fatalf("cleanup dry run:\n%s", out)
	}
	if remoteFilesRefused(t, "cleanup", name, "--delete-files", p("s1.qcow2")) {
		// Over ssh every cleanup of files is refused: the metadata alone.
		remoteFilesRefused(t, "cleanup", name, "--delete-files")
		cliText(t, "cleanup", name)
		if snaps := strings.Fields(labVirsh(t, "snapshot-list", name, "--name")); !reflect.DeepEqual(snaps, []string{"s1"}) {
			t.Fatalf("snapshots left: %v", snaps)
		}
		for _, f := range []string{"s2.qcow2", "s3.qcow2", "active.qcow2", "test2.qcow2", "base.qcow2"} {
			if _, err := os.Stat(p(f)); err != nil {
				t.Errorf("%s gone after a cleanup of metadata: %v", f, err)
			}
		}
		return
	}
	code, _, stderr = runMain(t, "-c", systemURI, "cleanup", name, "--delete-files", p("s1.qcow2"))
	if code != 1 {
		t.Fatalf("deleting the active layer: exit %d", code)
	}
	wantOneLine(t, stderr, "still used by chain of "+name+" vda")
	// s1 is not stale (its overlay is the chain), but a revert to it reads
	// test2 and base: its point.
	code, _, stderr = runMain(t, "-c", systemURI, "cleanup", name, "--delete-files", p("test2.qcow2"), p("base.qcow2"))
	if code != 1 {
		t.Fatalf("deleting s1's point: exit %d", code)
	}
	wantOneLine(t, stderr, "still used by point of snapshot s1 of "+name+" (vda)")
	out = cliText(t, "cleanup", name, "--delete-files")
	for _, f := range []string{"s2.qcow2", "s3.qcow2", "active.qcow2"} {
		if !strings.Contains(out, "deleted "+p(f)) {
			t.Errorf("cleanup did not delete %s:\n%s", f, out)
		}
	}
	if snaps := strings.Fields(labVirsh(t, "snapshot-list", name, "--name")); !reflect.DeepEqual(snaps, []string{"s1"}) {
		t.Fatalf("snapshots left: %v", snaps)
	}
	// Detaching the base for good: s1's metadata goes first.
	cliText(t, "snapshot", "delete", name, "s1", "--metadata-only")
	out = cliText(t, "cleanup", name, "--delete-files", p("test2.qcow2"), p("base.qcow2"))
	for _, f := range []string{"s2.qcow2", "s3.qcow2", "active.qcow2", "test2.qcow2", "base.qcow2"} {
		if f == "test2.qcow2" || f == "base.qcow2" {
			if !strings.Contains(out, "deleted "+p(f)) {
				t.Errorf("cleanup did not delete %s:\n%s", f, out)
			}
		}
		if _, err := os.Stat(p(f)); !os.IsNotExist(err) {
			t.Errorf("%s still there", f)
		}
	}
	jobCLIFlush(t, name)
	labTool(t, "qemu-img", "compare", "-U", ref, p("s1.qcow2"))
}

// An active commit started with --pivot outlives its virtchain, which is
// killed before READY; a virtchain started later finds it READY and
// pivots it, as asked, from the file the first one left. 'abort --wait' on
// such a job cancels it instead, and 'jobs --wait' settles on a READY
// mirror that nothing will pivot.
func TestIntegrationJobPivotAfterRestart(t *testing.T) {
	needIntegration(t)
	lab := newPivotLab(t, "vct-job-cli-")
	name, dir, ref, all, intents := lab.name, lab.dir, lab.ref, lab.all, lab.intents
	p := func(f string) string { return filepath.Join(dir, f) }
	bin := virtchainBin(t)

	startAndKill := func() {
		t.Helper()
		killAfterLine(t, bin, " vda active-commit ", "commit", name, "vda", "--shallow", "--active", "--pivot", "--bandwidth", "1")
		if len(intents()) != 1 {
			t.Fatal("no pivot intent kept")
		}
	}
	waitReady := func() {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			var jobs []jobCLIJob
			cliJSON(t, &jobs, "jobs")
			var phase string
			for _, j := range jobs {
				if j.Domain == name {
					phase = j.Phase
				}
			}
			if phase == "ready" {
				return
			}
			if phase != "running" || time.Now().After(deadline) {
				t.Fatalf("job of %s is %q before READY (listing jobs must not act on it)", name, phase)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Abort --wait on a READY job whose starter asked for a pivot: the
	// abort wins, the chain stays.
	startAndKill()
	waitReady()
	code, stdout, stderr := runMain(t, "-c", systemURI, "abort", name, "vda", "--wait")
	if code != 0 || !strings.Contains(stdout, name+" vda active-commit 100% cancelled") {
		t.Fatalf("abort --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, all) {
		t.Fatalf("after abort: %v", got)
	}
	if len(intents()) != 0 {
		t.Fatalf("intent left after the job ended: %v", intents())
	}

	// Killed again; the restarted 'jobs --wait' pivots.
	startAndKill()
	waitReady()
	code, stdout, stderr = runMain(t, "-c", systemURI, "jobs", "--wait")
	if code != 0 || !strings.Contains(stdout, name+" vda active-commit 100% completed") {
		t.Fatalf("jobs --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, all[1:]) {
		t.Fatalf("after the pivot: %v", got)
	}
	if len(intents()) != 0 {
		t.Fatalf("intent left after the pivot: %v", intents())
	}
	jobCLIFlush(t, name)
	labTool(t, "qemu-img", "compare", "-U", ref, p("s3.qcow2"))

	// An active commit without --pivot settles at READY: 'commit --wait'
	// and 'jobs --wait' return, saying how to finish it.
	code, stdout, stderr = runMain(t, "-c", systemURI, "commit", name, "vda", "--shallow", "--active", "--wait")
	if code != 0 || !strings.Contains(stdout, "is READY; pivot with 'virtchain abort "+name+" vda --pivot'") {
		t.Fatalf("commit --active --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if len(intents()) != 0 {
		t.Fatalf("intent kept for a job with no READY action: %v", intents())
	}
	code, stdout, stderr = runMain(t, "-c", systemURI, "jobs", "--wait")
	if code != 0 || !strings.Contains(stdout, name+" vda: active-commit is READY") {
		t.Fatalf("jobs --wait at READY: exit %d\n%s%s", code, stdout, stderr)
	}
	cliText(t, "abort", name, "vda", "--wait")
	if got := jobCLIChain(t, name); !reflect.DeepEqual(got, all[1:]) {
		t.Fatalf("after keeping the overlay: %v", got)
	}
}

// pivotLab is the start of the tests that follow an active commit across
// a restart: a state folder of their own for the intent files, the job
// domain with 6 MiB more in its active layer (so a mirror throttled to
// 1 MiB/s takes seconds to get READY), and a copy of what the guest sees.
type pivotLab struct {
	name, dir, ref string
	all            []string // the chain before, active first
	intents        func() []string
}

func newPivotLab(t *testing.T, prefix string) pivotLab {
	t.Helper()
	var lab pivotLab
	lab.name, lab.dir = jobCLIDomainNamed(t, prefix)
	// The intents' folder may be shared with other tests: this domain's
	// are the ones named by its UUID.
	state := testhost.StateBase()
	uuid := strings.TrimSpace(labVirsh(t, "domuuid", lab.name))
	lab.intents = func() []string {
		m, _ := filepath.Glob(filepath.Join(state, "virtchain", "jobs", uuid+"_*.json"))
		return m
	}
	labVirsh(t, "qemu-monitor-command", lab.name, "--hmp", `qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x6b 8M 6M"`)
	jobCLIFlush(t, lab.name)
	lab.ref = filepath.Join(lab.dir, "ref.qcow2")
	labTool(t, "qemu-img", "convert", "-U", "-O", "qcow2", filepath.Join(lab.dir, "active.qcow2"), lab.ref)
	lab.all = []string{"active.qcow2", "s3.qcow2", "s2.qcow2", "s1.qcow2", "test2.qcow2", "base.qcow2"}
	return lab
}

// killAfterLine runs virtchain with args and kills it once it prints a line
// holding match: a virtchain that goes away while its job runs.
func killAfterLine(t *testing.T, bin, match string, args ...string) {
	t.Helper()
	signalAfterLine(t, bin, match, os.Kill, args...)
}

// signalAfterLine is killAfterLine with another signal (os.Interrupt: a
// ctrl-c); the rest of the output is read until virtchain ends.
func signalAfterLine(t *testing.T, bin, match string, sig os.Signal, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-c", systemURI}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), match) {
	}
	_ = cmd.Process.Signal(sig)
	for sc.Scan() {
	}
	_ = cmd.Wait()
}
