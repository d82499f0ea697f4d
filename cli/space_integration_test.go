package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtchain/libvirtx"
	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// A full filesystem against the real libvirtd: a small loop-mounted ext4
// (vc7z-*) that a plan must not overfill, and a guest write that fills it
// while a job runs, which libvirt reports as an enospc I/O error.

// spaceDir makes a 0755 folder /var/tmp/vc7z-NAME-* with a loop-mounted
// ext4 filesystem of size at DIR/mnt, unmounted (and its loop device
// detached) when the test ends, whatever happened.
func spaceDir(t *testing.T, name, size string) (dir, mnt string) {
	t.Helper()
	needIntegration(t)
	dir, err := os.MkdirTemp("/var/tmp", "vc7z-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	labTool(t, "truncate", "-s", size, img)
	labTool(t, "mkfs.ext4", "-q", "-F", img)
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	labTool(t, "mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		for i := 0; i < 20 && exec.Command("umount", mnt).Run() != nil; i++ {
			time.Sleep(250 * time.Millisecond) // QEMU may hold a file a moment
		}
		_ = exec.Command("umount", "-l", mnt).Run()
		if out, _ := exec.Command("losetup", "-j", img).Output(); len(out) > 0 {
			dev, _, _ := strings.Cut(string(out), ":")
			_ = exec.Command("losetup", "-d", dev).Run()
		}
	})
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, mnt
}

// spaceDomain defines domain name on vda = active (qcow2; libvirt boots
// from it by default); the domain is destroyed and undefined when the test
// ends, before the filesystem under dir is unmounted.
func spaceDomain(t *testing.T, name, dir, active string) {
	t.Helper()
	t.Cleanup(func() {
		// libvirtd may be restarting or stuck (other tests do that): wait
		// for it a while, or the domain would keep the loop filesystem busy,
		// but never for ever.
		virsh := func(args ...string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return exec.CommandContext(ctx, "virsh", append([]string{"-c", hostURI}, args...)...).Run()
		}
		for i := 0; i < 60 && virsh("version") != nil; i++ {
			time.Sleep(500 * time.Millisecond)
		}
		_ = virsh("destroy", name)
		_ = virsh("undefine", name, "--snapshots-metadata", "--managed-save")
	})
	defineDiskDomain(t, name, dir, active)
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var sf syscall.Statfs_t
	if err := syscall.Statfs(dir, &sf); err != nil {
		t.Fatal(err)
	}
	return int64(sf.Bavail) * sf.Bsize
}

// fileState is what must not change in a refused plan's target.
func fileState(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := labTool(t, "sha256sum", path)
	return fmt.Sprintf("%d %s %s", st.Size(), st.ModTime(), sum)
}

// spaceCommitDomain defines (shut off) vc7z-KIND-N on act.qcow2 <- mid.qcow2
// (holding data bytes) <- base.qcow2, with the base alone on a fresh
// 300M filesystem at MNT.
func spaceCommitDomain(t *testing.T, kind, data string) (name, mnt string) {
	t.Helper()
	dir, mnt := spaceDir(t, kind, "300M")
	name = fmt.Sprintf("vc7z-%s-%d", kind, time.Now().UnixNano()%1_000_000_000)
	base, mid, act := filepath.Join(mnt, "base.qcow2"), filepath.Join(dir, "mid.qcow2"), filepath.Join(dir, "act.qcow2")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1G")
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", mid)
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 "+data, mid)
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", act)
	spaceDomain(t, name, dir, act)
	return name, mnt
}

// spaceDevice starts the name a plan gives the device of a filesystem: the
// loop device on the host; over ssh the storage pool over the folder, whose
// free bytes are what libvirt reports (it names no device, and counts the
// blocks reserved for root as free: a few percent more than statfs gives
// a user).
func spaceDevice() string {
	if testhost.OverSSH() {
		return "storage pool "
	}
	return "/dev/loop"
}

func TestSpaceCommitRefusedOnSmallFilesystem(t *testing.T) {
	name, mnt := spaceCommitDomain(t, "commit", "512M")
	base := filepath.Join(mnt, "base.qcow2")
	before, free := fileState(t, base), freeBytes(t, mnt)
	entries := func() string {
		es, _ := os.ReadDir(mnt)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return strings.Join(out, " ")
	}
	files := entries()

	refused := func(what string, args ...string) {
		t.Helper()
		code, stdout, stderr := runMain(t, append([]string{"-c", systemURI, "commit", name, "vda", "--top", "mid.qcow2", "--base", "base.qcow2"}, args...)...)
		if code != 1 {
			t.Fatalf("%s: exit %d, want a refusal\n%s%s", what, code, stdout, stderr)
		}
		wantOneLine(t, stderr, "committing into base.qcow2 needs up to 512.", "on "+mnt+" (device "+spaceDevice(), "MiB free: ", "MiB missing", "commit into another base")
		t.Logf("%s: %s", what, stderr)
		if strings.Contains(stdout, "Started") {
			t.Errorf("%s: a refused plan started: %s", what, stdout)
		}
	}
	// Shut off: qemu-img commit would do it.
	refused("offline dry-run", "--dry-run")
	refused("offline", "--wait")
	// Running: a libvirt block job.
	labVirsh(t, "start", name)
	refused("live dry-run", "--dry-run")
	refused("live", "--wait")

	if after := fileState(t, base); after != before {
		t.Errorf("base changed under a refused plan:\n%s\n%s", before, after)
	}
	if got := entries(); got != files {
		t.Errorf("files on the small filesystem: %s, was %s", got, files)
	}
	if now := freeBytes(t, mnt); now != free {
		t.Errorf("free space on %s went from %d to %d", mnt, free, now)
	}

	// A plan that fits lists each filesystem it writes, in --json too: an
	// external snapshot whose overlay goes on the small filesystem.
	ov := filepath.Join(mnt, "ov.qcow2")
	var out struct{ Plan spacePlanJSON }
	cliJSON(t, &out, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+ov, "--dry-run")
	if sp := out.Plan.Space; len(sp) != 1 || sp[0].Mount != mnt || len(sp[0].Files) != 1 || sp[0].Files[0].Path != ov ||
		sp[0].Need < 196624 || sp[0].Need > 1<<20 || sp[0].Free < free || sp[0].Free != free && !testhost.OverSSH() {
		t.Errorf("snapshot plan's space: %+v (free %d)", sp, free)
	}
	text := cliText(t, "snapshot", "create", name, "s1", "--external", "--disk-only", "--file", "vda="+ov, "--dry-run")
	t.Logf("snapshot plan:\n%s", text)
	if !strings.Contains(text, "Space:\n  - "+mnt+" (device "+spaceDevice()) || !strings.Contains(text, "ov.qcow2 ") || !strings.Contains(text, "fits") {
		t.Errorf("snapshot plan text lacks its space line:\n%s", text)
	}
	if _, err := os.Stat(ov); err == nil {
		t.Errorf("a dry-run created %s", ov)
	}
}

// bootWriter is a boot sector that writes to its own disk through the BIOS
// (INT 13h AH=43h, 127 sectors at a time from LBA 2048 on) until the disk
// ends: guest writes through the virtio-blk device, so QEMU's werror
// policy applies. Assembled from:
//
//	cli; xor %ax,%ax; mov %ax,%ds; mov %ax,%ss; mov $0x7c00,%sp; sti
//	mov %dl,drive
//	again: mov $dap,%si; mov drive,%dl; mov $0x4300,%ax; int $0x13
//	addw $127,dap+8; adcw $0,dap+10; jmp again
//	drive: .byte 0
//	dap: .byte 0x10,0; .word 127; .word 0,0x1000; .quad 2048
const bootWriter = "fa31c08ed88ed0bc007cfb8816277cbe287c8a16277cb80043cd138306307c7f8316327c00ebe80010007f000000001000080000000000000000"

func TestSpaceGuestFillsFilesystemDuringJob(t *testing.T) {
	dir, mnt := spaceDir(t, "enospc", "300M")
	name := fmt.Sprintf("vc7z-enospc-%d", time.Now().UnixNano()%1_000_000_000)
	base, mid, act := filepath.Join(dir, "base.qcow2"), filepath.Join(dir, "mid.qcow2"), filepath.Join(mnt, "act.qcow2")
	sector, err := hex.DecodeString(bootWriter)
	if err != nil {
		t.Fatal(err)
	}
	sector = append(sector, make([]byte, 510-len(sector))...)
	sector = append(sector, 0x55, 0xaa)
	boot := filepath.Join(dir, "boot.bin")
	if err := os.WriteFile(boot, sector, 0o644); err != nil {
		t.Fatal(err)
	}
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1G")
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -s "+boot+" 0 512", base)
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", mid)
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 512M 32M", mid)
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", act)
	// Leave 2 MiB: the guest fills that in a moment.
	labTool(t, "fallocate", "-l", strconv.FormatInt(freeBytes(t, mnt)-2<<20, 10), filepath.Join(mnt, "fill"))
	spaceDomain(t, name, dir, act)
	labVirsh(t, "start", "--paused", name)

	// The commit writes into base, on the large filesystem: its plan fits.
	// The guest, resumed once the job runs, fills the small one.
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runMain(t, "-c", systemURI, "commit", name, "vda", "--top", "mid.qcow2", "--base", "base.qcow2", "--bandwidth", "2", "--wait")
		done <- result{code, stdout, stderr}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command("virsh", "-c", hostURI, "blockjob", name, "vda").CombinedOutput()
		if strings.Contains(string(out), "Commit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the commit did not start: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The TUI hears of it through the connection's events.
	conn, err := libvirtx.Open(systemURI, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	heard := make(chan model.Event, 1)
	go func() {
		for ev := range conn.Events() {
			if ev.Domain == name && ev.Kind == libvirtx.EventNoSpace {
				select {
				case heard <- ev:
				default:
				}
			}
		}
	}()
	labVirsh(t, "resume", name)
	paused := false
	for i := 0; i < 150 && !paused; i++ {
		st, _ := exec.Command("virsh", "-c", hostURI, "domstate", "--reason", name).Output()
		paused = strings.Contains(string(st), "I/O error")
		time.Sleep(100 * time.Millisecond)
	}
	if !paused {
		t.Error("the guest did not fill the filesystem within 15 s")
	}
	select {
	case ev := <-heard:
		if want := "a disk: no space left on the filesystem holding act.qcow2 (libvirt I/O error enospc); the domain is paused: free space, then virsh resume " + name; ev.Detail != want {
			t.Errorf("event detail %q, want %q", ev.Detail, want)
		}
	case <-time.After(10 * time.Second):
		t.Error("no enospc event on the connection's event stream")
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("the commit did not end in 120 s")
	}
	t.Logf("commit --wait (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	want := "vda: no space left on the filesystem holding act.qcow2 on " + mnt + " (device /dev/loop"
	if testhost.OverSSH() { // the storage pool over the folder tells where
		want = "vda: no space left on the filesystem holding act.qcow2 on " + mnt + " (device storage pool over " + mnt + ")"
	}
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "(libvirt I/O error enospc); the domain is paused: free space, then virsh resume "+name) {
		t.Errorf("--wait did not name the full filesystem (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// spacePlanJSON is the space section of a plan's --json.
type spacePlanJSON struct {
	Space []struct {
		ID    string `json:"id"`
		Mount string `json:"mount"`
		Free  int64  `json:"free"`
		Need  int64  `json:"need"`
		Files []struct {
			Path  string `json:"path"`
			Bytes int64  `json:"bytes"`
		} `json:"files"`
	} `json:"space"`
}

// A plan that fitted when it was shown is checked again when the job is to
// start: here the filesystem fills in between.
func TestSpaceCheckedAgainBeforeJobStarts(t *testing.T) {
	name, mnt := spaceCommitDomain(t, "recheck", "64M")
	base := filepath.Join(mnt, "base.qcow2")
	labVirsh(t, "start", name)

	conn, err := libvirtx.Open(systemURI, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	doms, err := conn.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := model.PlanCommit(doms, model.CommitRequest{Domain: name, Target: "vda", Top: "mid.qcow2", Base: "base.qcow2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.CheckSpace(&bp.Plan, conn.SpaceFacts("")); err != nil {
		t.Fatalf("64 MiB into an empty 300M filesystem: %v", err)
	}
	if len(bp.Space) != 1 || bp.Space[0].Mount != mnt || !strings.HasPrefix(bp.Space[0].Device, spaceDevice()) {
		t.Fatalf("space of the plan: %+v", bp.Space)
	}
	before := fileState(t, base)
	labTool(t, "fallocate", "-l", strconv.FormatInt(freeBytes(t, mnt)-16<<20, 10), filepath.Join(mnt, "fill"))

	w, err := conn.WatchJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = w.Start(ctx, bp)
	var r *model.Refusal
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "committing into base.qcow2 needs up to 64.") || !strings.Contains(err.Error(), "MiB missing") {
		t.Fatalf("start after the filesystem filled: %v", err)
	}
	if out := labVirsh(t, "blockjob", name, "vda"); strings.Contains(out, "Commit") {
		t.Errorf("a job started: %s", out)
	}
	if after := fileState(t, base); after != before {
		t.Errorf("base changed: %s -> %s", before, after)
	}
}

// Compressed clusters land uncompressed in the base, so a plan's bound
// (the moving layers' allocation) can be short: qemu-img (shut off) or
// the block job (running) then fails on ENOSPC, and the failure says where
// space ran out. libvirt's event of a failed job carries no reason; the
// nearly full filesystem of its base does.
//
// Over a remote connection the pool over the base's folder tells the free
// space (the folder is the filesystem's root here), and an offline commit
// runs as a block job in the domain started paused, so no qemu-img words.
func TestSpaceCommitOfCompressedDataFailsOnFullFilesystem(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "offline", true: "live"}[live], func(t *testing.T) {
			dir, mnt := spaceDir(t, "compressed", "300M")
			name := fmt.Sprintf("vc7z-compressed-%d", time.Now().UnixNano()%1_000_000_000)
			base, raw, mid, act := filepath.Join(mnt, "base.qcow2"), filepath.Join(dir, "raw.img"), filepath.Join(dir, "mid.qcow2"), filepath.Join(dir, "act.qcow2")
			labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1G")
			labTool(t, "qemu-img", "create", "-q", "-f", "raw", raw, "1G")
			labTool(t, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 280M", raw)
			labTool(t, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-B", base, "-F", "qcow2", raw, mid)
			labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", act)
			spaceDomain(t, name, dir, act)
			if live {
				labVirsh(t, "start", name)
			}
			code, stdout, stderr := runMain(t, "-c", systemURI, "commit", name, "vda", "--top", "mid.qcow2", "--base", "base.qcow2", "--wait")
			t.Logf("commit (exit %d):\n%s%s", code, stdout, stderr)
			if code != 1 {
				t.Fatalf("exit %d, want the failure", code)
			}
			want := []string{"commit stopped for lack of space: the filesystem holding base.qcow2 on " + mnt + " (device /dev/loop", "free space there and run it again"}
			if testhost.OverSSH() {
				want = []string{"commit stopped for lack of space: the filesystem holding base.qcow2 on " + mnt + " (device storage pool over " + mnt + ")", "free space there and run it again"}
			} else if !live {
				want = append(want, "No space left on device") // qemu-img's own words
			}
			wantOneLine(t, stderr, want...)
			if src := labVirsh(t, "domblklist", name); !strings.Contains(src, act) {
				t.Errorf("the domain no longer runs on %s after a failed commit:\n%s", act, src)
			}
		})
	}
}
