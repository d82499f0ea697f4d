package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Backup-aware plans against the real libvirtd: bitmaps that qemu-img adds
// to the layers of a chain, a libvirt checkpoint of a running domain, and
// plans whose claims about them are checked with qemu-img info after the
// merge ran. Domains, folders and pools are vc11b-*.

// vc11bChain is chain --json with the added fields.
type vc11bChain struct {
	Disks []struct {
		Layers []struct {
			Path           string         `json:"path"`
			Bitmaps        []model.Bitmap `json:"bitmaps"`
			BitmapsProblem string         `json:"bitmaps_problem"`
		} `json:"layers"`
	} `json:"disks"`
	Checkpoints []model.Checkpoint `json:"checkpoints"`
}

// vc11bPlan is the bitmap part of a plan's JSON.
type vc11bPlan struct {
	Plan struct {
		Warnings          []string             `json:"warnings"`
		Kept              []string             `json:"kept"`
		Bitmaps           []model.BitmapEffect `json:"bitmaps"`
		BrokenCheckpoints []string             `json:"broken_checkpoints"`
		NextBackup        string               `json:"next_backup"`
		StartPaused       bool                 `json:"start_paused"`
	} `json:"plan"`
}

// vc11bDomain defines a domain whose vda is base <- mid <- top, with
// bitmaps bmb (1 MiB, disabled) in base, bmm in mid and bmt in top, and
// starts it when running is set. Cleanup also removes its checkpoints.
func vc11bDomain(t *testing.T, running bool) (name, dir string) {
	t.Helper()
	needIntegration(t)
	name = fmt.Sprintf("vc11b-%d", time.Now().UnixNano()%1_000_000_000)
	dir, err := os.MkdirTemp("/var/tmp", "vc11b-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("virsh", "-c", hostURI, "destroy", name).Run()
		_ = exec.Command("virsh", "-c", hostURI, "undefine", name, "--checkpoints-metadata", "--snapshots-metadata", "--managed-save").Run()
		_ = os.RemoveAll(dir)
	})
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", p("base"), "64M")
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 2M", p("base"))
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", p("base"), "-F", "qcow2", p("mid"))
	labTool(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x22 2M 2M", p("mid"))
	labTool(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", p("mid"), "-F", "qcow2", p("top"))
	labTool(t, "qemu-img", "bitmap", "--add", "-g", "1M", "--disable", p("base"), "bmb")
	labTool(t, "qemu-img", "bitmap", "--add", p("mid"), "bmm")
	labTool(t, "qemu-img", "bitmap", "--add", p("top"), "bmt")
	defineDiskDomain(t, name, dir, p("top"))
	if running {
		labVirsh(t, "start", name)
	}
	return name, dir
}

// vc11bOnDisk is the bitmap names qemu-img info finds in an image.
func vc11bOnDisk(t *testing.T, path string) []string {
	t.Helper()
	var qi struct {
		FormatSpecific struct {
			Data struct {
				Bitmaps []struct {
					Name string `json:"name"`
				} `json:"bitmaps"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal([]byte(labTool(t, "qemu-img", "info", "-U", "--output=json", path)), &qi); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range qi.FormatSpecific.Data.Bitmaps {
		out = append(out, b.Name)
	}
	slices.Sort(out)
	return out
}

func vc11bChainOf(t *testing.T, uri, name string) vc11bChain {
	t.Helper()
	var c vc11bChain
	code, stdout, stderr := runMain(t, "-c", uri, "--json", "chain", name)
	if code != 0 || json.Unmarshal([]byte(stdout), &c) != nil {
		t.Fatalf("chain %s over %s: exit %d: %s", name, uri, code, stderr)
	}
	return c
}

// vc11bBitmaps is each layer's bitmaps as "name/source", one string a layer.
func vc11bBitmaps(c vc11bChain) []string {
	var out []string
	for _, l := range c.Disks[0].Layers {
		var bs []string
		for _, b := range l.Bitmaps {
			bs = append(bs, b.Name+"/"+b.Source)
		}
		out = append(out, strings.Join(bs, ","))
	}
	return out
}

func vc11bPlanOf(t *testing.T, uri string, args ...string) vc11bPlan {
	t.Helper()
	var p vc11bPlan
	code, stdout, stderr := runMain(t, append([]string{"-c", uri, "--json", "--dry-run"}, args...)...)
	if code != 0 || json.Unmarshal([]byte(stdout), &p) != nil {
		t.Fatalf("plan of %q: exit %d: %s %s", args, code, stdout, stderr)
	}
	return p
}

// effects is a plan's bitmap effects as "bitmap:effect", sorted.
func (p vc11bPlan) effects() []string {
	var out []string
	for _, e := range p.Plan.Bitmaps {
		out = append(out, e.Bitmap+":"+e.Effect)
	}
	slices.Sort(out)
	return out
}

// Bitmaps that qemu-img added to a shut-off domain's layers show in chain
// --json and in the text; started, the active layer's are in use; a
// libvirt checkpoint shows as the domain's and, held by QEMU, on the
// active layer, until QEMU writes it into the image at shutdown.
func TestIntegrationVc11bBitmapsAndCheckpointsShown(t *testing.T) {
	name, dir := vc11bDomain(t, false)
	c := vc11bChainOf(t, systemURI, name)
	if got, want := vc11bBitmaps(c), []string{"bmt/image", "bmm/image", "bmb/image"}; !slices.Equal(got, want) {
		t.Errorf("%s: shut off: bitmaps %q, want %q", testhost.Name(), got, want)
	}
	if b := c.Disks[0].Layers[2].Bitmaps[0]; b.Granularity != 1<<20 || b.Enabled {
		t.Errorf("bmb read as %+v, want 1 MiB and disabled", b)
	}
	if c.Checkpoints == nil || len(c.Checkpoints) != 0 {
		t.Errorf("checkpoints %#v, want []", c.Checkpoints)
	}
	if out := cliText(t, "chain", name); !strings.Contains(out, "bitmaps: bmb (1 MiB, disabled)") || !strings.Contains(out, "bitmaps: bmm (64 KiB)") {
		t.Errorf("chain text:\n%s", out)
	}

	labVirsh(t, "start", name)
	labVirsh(t, "checkpoint-create-as", name, "cp1")
	c = vc11bChainOf(t, systemURI, name)
	if got, want := vc11bBitmaps(c), []string{"bmt/image-in-use,cp1/qemu", "bmm/image", "bmb/image"}; !slices.Equal(got, want) {
		t.Errorf("%s: running: bitmaps %q, want %q", testhost.Name(), got, want)
	}
	if len(c.Checkpoints) != 1 || c.Checkpoints[0].Name != "cp1" || len(c.Checkpoints[0].Disks) != 1 ||
		c.Checkpoints[0].Disks[0] != (model.CheckpointDisk{Target: "vda", Kind: "bitmap", Bitmap: "cp1", Live: true}) || c.Checkpoints[0].Created.IsZero() {
		t.Errorf("%s: checkpoints %+v", testhost.Name(), c.Checkpoints)
	}
	// QEMU keeps cp1 in memory: the image does not have it yet.
	top := filepath.Join(dir, "top.qcow2")
	if got := vc11bOnDisk(t, top); slices.Contains(got, "cp1") {
		t.Errorf("cp1 already on disk while running: %q", got)
	}
	labVirsh(t, "destroy", name)
	c = vc11bChainOf(t, systemURI, name)
	if got, want := vc11bBitmaps(c)[0], "bmt/image,cp1/image"; got != want || len(c.Checkpoints[0].Broken) != 0 {
		t.Errorf("%s: after shutdown the active layer has %q, want %q; checkpoint %+v", testhost.Name(), got, want, c.Checkpoints[0])
	}

	// Through the storage API (qemu+ssh), the shut-off chain's bitmaps
	// are the same.
	if uri := testhost.SSHURI(); uri != "" {
		pool := filepath.Base(dir) + "-pool"
		testhost.Virsh(t, "pool-create-as", pool, "dir", "--target", dir)
		t.Cleanup(func() { testhost.VirshQuiet("pool-destroy", pool) })
		if got, want := vc11bBitmaps(vc11bChainOf(t, uri, name)), vc11bBitmaps(c); !slices.Equal(got, want) {
			t.Errorf("%s: over ssh: bitmaps %q, want %q", testhost.Name(), got, want)
		}
	}
}

// A commit whose tool carries no bitmap warns, and really loses it; one
// that libvirt runs says it merges them, and really does. Checked with
// qemu-img info after each merge. Over a remote connection the offline
// commit runs in the domain started paused, where libvirt merges: the
// plan says so, and base really gets bmm.
func TestIntegrationVc11bCommitBitmapClaims(t *testing.T) {
	name, dir := vc11bDomain(t, false)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }

	// Shut off: qemu-img commit on this host, libvirt's blockcommit in
	// the domain started paused over ssh.
	remote := testhost.OverSSH()
	effects, next, line, base := []string{"bmm:lost"}, model.BackupFull, "vda: bitmap bmm of mid.qcow2: lost (leaves the chain)", []string{"bmb"}
	if remote {
		effects, next, line, base = []string{"bmm:merged"}, model.BackupIncremental, "vda: bitmap bmm of mid.qcow2: merged into base.qcow2", []string{"bmb", "bmm"}
	}
	args := []string{"commit", name, "vda", "--top", p("mid"), "--base", p("base")}
	plan := vc11bPlanOf(t, systemURI, args...)
	if got := plan.effects(); !slices.Equal(got, effects) || plan.Plan.NextBackup != next || plan.Plan.StartPaused != remote {
		t.Errorf("%s over %s: offline commit plan: effects %q, next %q, start paused %v; want %q, %q, %v",
			testhost.Name(), testhost.Via(), got, plan.Plan.NextBackup, plan.Plan.StartPaused, effects, next, remote)
	}
	w, k := strings.Join(plan.Plan.Warnings, "\n"), strings.Join(plan.Plan.Kept, "\n")
	switch {
	case !remote && !strings.Contains(w, "bitmaps bmm of mid.qcow2 leave the chain with it (qemu-img commit carries no bitmaps)"):
		t.Errorf("offline commit plan does not warn:\n%s", w)
	case remote && (strings.Contains(w, "bitmap") || !strings.Contains(k, "merges bitmaps bmm of mid.qcow2 into base.qcow2")):
		t.Errorf("paused commit plan: warnings:\n%s\nkept:\n%s", w, k)
	}
	if out := cliText(t, append([]string{"--dry-run"}, args...)...); !strings.Contains(out, line) {
		t.Errorf("plan text lacks %q:\n%s", line, out)
	}
	cliText(t, append(args, "--wait")...)
	if got := vc11bOnDisk(t, p("base")); !slices.Equal(got, base) {
		t.Errorf("%s over %s: after the offline commit base has %q: the plan said %q", testhost.Name(), testhost.Via(), got, effects)
	}

	// Running, with a checkpoint: libvirt's active commit merges.
	labVirsh(t, "start", name)
	labVirsh(t, "checkpoint-create-as", name, "cp1")
	args = []string{"commit", name, "vda", "--top", p("top"), "--base", p("base"), "--active", "--pivot"}
	plan = vc11bPlanOf(t, systemURI, args...)
	if got := plan.effects(); !slices.Equal(got, []string{"bmt:merged", "cp1:merged"}) || plan.Plan.NextBackup != model.BackupIncremental || len(plan.Plan.BrokenCheckpoints) != 0 {
		t.Errorf("active commit plan: effects %q, next %q, broken %q", got, plan.Plan.NextBackup, plan.Plan.BrokenCheckpoints)
	}
	if w := strings.Join(plan.Plan.Warnings, "\n"); strings.Contains(w, "bitmap") {
		t.Errorf("active commit plan warns of bitmaps:\n%s", w)
	}
	if k := strings.Join(plan.Plan.Kept, "\n"); !strings.Contains(k, "libvirt's blockcommit merges bitmaps bmt, cp1 (checkpoint cp1) of top.qcow2 into base.qcow2") &&
		!strings.Contains(k, "libvirt's blockcommit merges bitmaps bmt, cp1 of top.qcow2 into base.qcow2") {
		t.Errorf("kept:\n%s", k)
	}
	cliText(t, append(args, "--wait")...)
	labVirsh(t, "destroy", name)
	if got, want := vc11bOnDisk(t, p("base")), append(base, "bmt", "cp1"); !slices.Equal(got, want) {
		t.Errorf("%s over %s: after the active commit base has %q, want %q: the plan said bmt and cp1 merge into it", testhost.Name(), testhost.Via(), got, want)
	}
	c := vc11bChainOf(t, systemURI, name)
	if len(c.Checkpoints) != 1 || len(c.Checkpoints[0].Broken) != 0 {
		t.Errorf("checkpoint after the merge: %+v", c.Checkpoints)
	}
}

// After libvirt's snapshot of the running domain, QEMU holds copies of
// the old active layer's enabled bitmaps on the new one (nothing on disk
// yet): chain shows them from QEMU. A pull then keeps the bitmaps that the
// active layer has by name (QEMU marks the pulled data in them) and loses
// the others; qemu-img info after the pull says the same.
func TestIntegrationVc11bPullKeepsAndLoses(t *testing.T) {
	name, dir := vc11bDomain(t, true)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	labVirsh(t, "checkpoint-create-as", name, "cp1")
	labVirsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--no-metadata", "--diskspec", "vda,snapshot=external,file="+p("top2"))
	c := vc11bChainOf(t, systemURI, name)
	if got, want := vc11bBitmaps(c), []string{"cp1/qemu,bmt/qemu", "bmt/image,cp1/image", "bmm/image", "bmb/image"}; !slices.Equal(got, want) {
		t.Errorf("%s: after the snapshot: bitmaps %q, want %q", testhost.Name(), got, want)
	}
	args := []string{"pull", name, "vda", "--base", p("base")}
	plan := vc11bPlanOf(t, systemURI, args...)
	if got := plan.effects(); !slices.Equal(got, []string{"bmm:lost", "bmt:merged", "cp1:merged"}) || len(plan.Plan.BrokenCheckpoints) != 0 || plan.Plan.NextBackup != model.BackupFull {
		t.Errorf("pull plan: effects %q, broken %q, next %q", got, plan.Plan.BrokenCheckpoints, plan.Plan.NextBackup)
	}
	if w := strings.Join(plan.Plan.Warnings, "\n"); !strings.Contains(w, "bitmaps bmm of mid.qcow2 leave the chain with it (blockpull carries no bitmaps)") {
		t.Errorf("pull plan does not warn of bmm:\n%s", w)
	}
	cliText(t, append(args, "--wait")...)
	labVirsh(t, "destroy", name)
	if got := vc11bOnDisk(t, p("top2")); !slices.Equal(got, []string{"bmt", "cp1"}) {
		t.Errorf("%s: after the pull top2 has %q, the plan said bmt and cp1 go on there and bmm is lost", testhost.Name(), got)
	}
	c = vc11bChainOf(t, systemURI, name)
	if got := vc11bBitmaps(c); !slices.Equal(got, []string{"bmt/image,cp1/image", "bmb/image"}) || len(c.Checkpoints) != 1 || len(c.Checkpoints[0].Broken) != 0 {
		t.Errorf("%s: after the pull: bitmaps %q, checkpoints %+v", testhost.Name(), got, c.Checkpoints)
	}
}

// Over a remote connection an offline commit runs in the domain started
// paused, where libvirt merges: the plan says so, and base gets bmm.
func TestIntegrationVc11bPausedCommitMergesOverSSH(t *testing.T) {
	uri := testhost.NeedSSH(t)
	name, dir := vc11bDomain(t, false)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	pool := filepath.Base(dir) + "-pool"
	testhost.Virsh(t, "pool-create-as", pool, "dir", "--target", dir)
	t.Cleanup(func() { testhost.VirshQuiet("pool-destroy", pool) })
	args := []string{"commit", name, "vda", "--top", p("mid"), "--base", p("base")}
	plan := vc11bPlanOf(t, uri, args...)
	if got := plan.effects(); !plan.Plan.StartPaused || !slices.Equal(got, []string{"bmm:merged"}) || plan.Plan.NextBackup != model.BackupIncremental {
		t.Errorf("paused commit plan: start paused %v, effects %q, next %q", plan.Plan.StartPaused, got, plan.Plan.NextBackup)
	}
	if code, _, stderr := runMain(t, append([]string{"-c", uri}, append(args, "--wait")...)...); code != 0 {
		t.Fatalf("commit over ssh: %s", stderr)
	}
	if got := vc11bOnDisk(t, p("base")); !slices.Equal(got, []string{"bmb", "bmm"}) {
		t.Errorf("%s: after the paused commit base has %q: the plan said bmm merges into it", testhost.Name(), got)
	}
}

// Deleting an external snapshot is libvirt's commit of its overlay: the
// plan says libvirt merges the overlay's bitmaps (a checkpoint's among
// them) into the image below, and qemu-img info finds them there after.
func TestIntegrationVc11bSnapshotDeleteMerges(t *testing.T) {
	name, dir := vc11bDomain(t, false)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	labVirsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--diskspec", "vda,snapshot=external,file="+p("ov"))
	labTool(t, "qemu-img", "bitmap", "--add", p("ov"), "bmo")
	labVirsh(t, "start", name)
	labVirsh(t, "checkpoint-create-as", name, "cp1")
	plan := vc11bPlanOf(t, systemURI, "snapshot", "delete", name, "s1")
	if got := plan.effects(); !slices.Equal(got, []string{"bmo:merged", "cp1:merged"}) || plan.Plan.NextBackup != model.BackupIncremental {
		t.Errorf("delete plan: effects %q, next %q", got, plan.Plan.NextBackup)
	}
	if k := strings.Join(plan.Plan.Kept, "\n"); !strings.Contains(k, "libvirt's snapshot delete merges bitmaps bmo, cp1 of ov.qcow2 into top.qcow2") {
		t.Errorf("kept:\n%s", k)
	}
	snapCLI(t, "snapshot", "delete", name, "s1")
	labVirsh(t, "destroy", name)
	if got := vc11bOnDisk(t, p("top")); !slices.Equal(got, []string{"bmo", "bmt", "cp1"}) {
		t.Errorf("%s: after the delete top has %q: the plan said bmo and cp1 merge into it", testhost.Name(), got)
	}
	if c := vc11bChainOf(t, systemURI, name); len(c.Checkpoints) != 1 || len(c.Checkpoints[0].Broken) != 0 {
		t.Errorf("checkpoint after the delete: %+v", c.Checkpoints)
	}
}

// A revert to an external snapshot leaves the overlay made since out of
// the chain, with its bitmaps and the checkpoint whose bitmap is there:
// the plan warns (libvirt's revert on 11.3, virtchain's on 9.0) and no
// layer of the new chain has them.
func TestIntegrationVc11bRevertLosesOverlayBitmaps(t *testing.T) {
	name, dir := vc11bDomain(t, false)
	p := func(f string) string { return filepath.Join(dir, f+".qcow2") }
	labVirsh(t, "snapshot-create-as", name, "s1", "--disk-only", "--diskspec", "vda,snapshot=external,file="+p("ov"))
	labTool(t, "qemu-img", "bitmap", "--add", p("ov"), "bmo")
	plan := vc11bPlanOf(t, systemURI, "snapshot", "revert", name, "s1", "--discard-current")
	if got := plan.effects(); !slices.Equal(got, []string{"bmo:lost"}) || plan.Plan.NextBackup != model.BackupFull {
		t.Errorf("revert plan: effects %q, next %q", got, plan.Plan.NextBackup)
	}
	if w := strings.Join(plan.Plan.Warnings, "\n"); !strings.Contains(w, "bitmaps bmo of ov.qcow2 leave the chain with it (") {
		t.Errorf("revert plan does not warn:\n%s", w)
	}
	snapCLI(t, "snapshot", "revert", name, "s1", "--discard-current")
	c := vc11bChainOf(t, systemURI, name)
	for _, l := range c.Disks[0].Layers {
		for _, b := range l.Bitmaps {
			if b.Name == "bmo" {
				t.Errorf("%s: bmo still in the chain, in %s", testhost.Name(), l.Path)
			}
		}
	}
	if got := vc11bBitmaps(c); len(got) != 4 || got[0] != "" || got[1] != "bmt/image" {
		t.Errorf("%s: after the revert: bitmaps %q, want top's bmt kept below the new overlay", testhost.Name(), got)
	}
}
