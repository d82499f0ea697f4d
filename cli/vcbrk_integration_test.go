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

// Files a domain uses that its chains do not show: the disk of a running
// domain's persistent definition (its next boot), a block copy's
// destination, and the firmware, NVRAM, kernel and initrd of a shut-off
// domain. Each looks like a raw or qcow2 image, and none is an orphan.
func TestIntegrationVcbrkOrphansDefinitionFiles(t *testing.T) {
	testhost.Need(t)
	uris := []string{systemURI}
	if u := testhost.SSHURI(); u != "" {
		uris = append(uris, u)
	}
	stamp := time.Now().UnixNano() % 1e9
	dir := fmt.Sprintf("/var/tmp/vcbrk-it-%d", stamp)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, c := range [][]string{
		{"create", "-q", "-f", "qcow2", p("live.qcow2"), "16M"},
		{"create", "-q", "-f", "qcow2", p("next.qcow2"), "16M"},
		{"create", "-q", "-f", "qcow2", p("boot.qcow2"), "16M"},
		{"create", "-q", "-f", "qcow2", p("lone.qcow2"), "16M"},
		{"create", "-q", "-f", "raw", p("nvram.fd"), "128K"},
		{"create", "-q", "-f", "raw", p("code.fd"), "2M"},
		{"create", "-q", "-f", "raw", p("kernel.img"), "1M"},
		{"create", "-q", "-f", "raw", p("initrd.img"), "512K"},
	} {
		if out, err := exec.Command("qemu-img", c...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v %s", c, err, out)
		}
	}
	run := fmt.Sprintf("vcbrk-it-run-%d", stamp)
	boot := fmt.Sprintf("vcbrk-it-boot-%d", stamp)
	disk := func(file string) string {
		return "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='" + file +
			"'/><target dev='vda' bus='virtio'/></disk>"
	}
	define := func(name, uuid, osXML, devices string) {
		if uuid != "" {
			uuid = "<uuid>" + uuid + "</uuid>"
		}
		xml := "<domain type='qemu'><name>" + name + "</name>" + uuid + "<memory unit='MiB'>64</memory><os>" + osXML +
			"</os><features><acpi/></features><devices>" + devices + "</devices></domain>"
		xf := filepath.Join(t.TempDir(), "def.xml")
		if err := os.WriteFile(xf, []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		testhost.Virsh(t, "define", xf)
		t.Cleanup(func() {
			testhost.VirshQuiet("destroy", name)
			testhost.VirshQuiet("undefine", name, "--keep-nvram")
		})
	}
	define(run, "", "<type arch='x86_64' machine='pc'>hvm</type>", disk(p("live.qcow2")))
	testhost.Virsh(t, "start", run)
	// The same domain (its UUID), to boot from next.qcow2 next time.
	uuid := strings.TrimSpace(testhost.Virsh(t, "domuuid", run))
	define(run, uuid, "<type arch='x86_64' machine='pc'>hvm</type>", disk(p("next.qcow2")))
	testhost.Virsh(t, "blockcopy", run, "vda", p("copy.qcow2"), "--transient-job", "--format", "qcow2", "--wait")
	t.Cleanup(func() { testhost.VirshQuiet("blockjob", run, "vda", "--abort") })
	define(boot, "", "<type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>"+p("code.fd")+
		"</loader><nvram>"+p("nvram.fd")+"</nvram><kernel>"+p("kernel.img")+"</kernel><initrd>"+p("initrd.img")+"</initrd>",
		disk(p("boot.qcow2")))

	for _, uri := range uris {
		t.Run(uriHostOrLocal(uri), func(t *testing.T) {
			var r model.OrphanReport
			code, stdout, stderr := runMain(t, "-c", uri, "--json", "orphans", "--min-age", "0", "--dir", dir)
			if code != 0 {
				t.Fatalf("orphans: exit %d: %s", code, stderr)
			}
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			if got := orphanNames(&r, dir); strings.Join(got, " ") != "lone.qcow2" {
				t.Fatalf("orphans in %s: %v, want only lone.qcow2 (%v)", dir, got, r.Unsure)
			}
			for _, f := range []string{"next.qcow2", "copy.qcow2", "nvram.fd", "code.fd", "kernel.img", "initrd.img"} {
				code, _, stderr := runMain(t, "-c", uri, "orphans", "--min-age", "0", "--dir", dir, "--delete", "--dry-run", p(f))
				if code == 0 || !strings.Contains(stderr, "is not an orphan") {
					t.Errorf("deleting %s: exit %d, %q; want 'is not an orphan'", f, code, stderr)
				}
			}
		})
	}
}

func uriHostOrLocal(uri string) string {
	if strings.Contains(uri, "+ssh") {
		return "ssh"
	}
	return "local"
}

// Deleting an orphan is a change: it is in the journal once per file,
// with its result and the rm that does the same.
func TestIntegrationVcbrkOrphansDeleteJournaled(t *testing.T) {
	testhost.Need(t)
	journal := vc11hState(t)
	dir := fmt.Sprintf("/var/tmp/vcbrk-itj-%d", time.Now().UnixNano()%1e9)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	lone := filepath.Join(dir, "lone.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", lone, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	// A dry run and a refusal change nothing and write nothing.
	cliText(t, "orphans", "--min-age", "0", "--dir", dir, "--delete", "--dry-run", lone)
	if code, _, _ := runMain(t, "-c", systemURI, "orphans", "--dir", dir, "--delete", lone); code == 0 {
		t.Fatal("a fresh file was deleted within --min-age")
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("a dry run or a refusal wrote the journal: %v", err)
	}
	cliText(t, "orphans", "--min-age", "0", "--dir", dir, "--delete", lone)
	// Locally virtchain removes the file; over a remote connection libvirt
	// deletes it as a volume of a transient pool over its folder.
	virsh := []string{"rm -- " + lone}
	if testhost.OverSSH() {
		virsh = []string{"virsh pool-create-as virtchain-tmp dir --target " + dir, "virsh vol-delete --pool virtchain-tmp " + lone, "virsh pool-destroy virtchain-tmp"}
	}
	var ops []vc11hOp
	cliJSON(t, &ops, "history")
	if len(ops) != 1 || ops[0].Op != "orphans-delete" || ops[0].State != "ok" || ops[0].Host != systemURI ||
		!slices.Equal(ops[0].Virsh, virsh) || !strings.Contains(ops[0].Summary, lone) {
		t.Fatalf("history after deleting %s: %+v", lone, ops)
	}
	if _, err := os.Stat(lone); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", lone, err)
	}
	script := cliText(t, "history", "--virsh")
	if !strings.Contains(script, "\n"+strings.Join(virsh, "\n")+"\n") || strings.Contains(script, " on :") {
		t.Fatalf("history --virsh:\n%s", script)
	}
}

// A --dir that is no folder is refused in one line naming it, not
// searched as an empty folder ("0 orphans").
func TestIntegrationVcbrkOrphansBadDir(t *testing.T) {
	testhost.Need(t)
	// Under /var/tmp, which every test host sees at the same path: over
	// ssh the folder is looked at on the host, through its storage pools.
	dir := testhost.SharedDir(t, "vcbrk-baddir")
	fifo := filepath.Join(dir, "fifo")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wants := map[string]string{
		fifo:                       "is not a folder (a FIFO)",
		file:                       "is not a folder (a regular file); give its folder with --dir " + dir,
		filepath.Join(dir, "typo"): "cannot be searched: no such file or directory",
		"/dev/null":                "is not a folder (a character device)",
	}
	if testhost.OverSSH() {
		// The storage API tells a folder, a regular file and a missing
		// path apart; pools list no FIFO or device, and none is made
		// under /dev.
		on := " on " + uriHostName(systemURI) + " "
		wants = map[string]string{
			fifo:                       on + "is not a folder (a special file: a FIFO, a socket or a device, which storage pools do not list)",
			file:                       on + "is not a folder (a regular file); give its folder with --dir " + dir,
			filepath.Join(dir, "typo"): on + "cannot be searched: no such file or directory; give a folder that exists on",
			"/dev/null":                on + "cannot be searched: over a remote connection virtchain lists a folder as a storage pool, and one under /dev would list device nodes",
		}
	}
	for d, want := range wants {
		code, stdout, stderr := runMain(t, "-c", systemURI, "orphans", "--dir", d)
		if code != 1 || stdout != "" {
			t.Errorf("--dir %s: exit %d, stdout %q", d, code, stdout)
		}
		wantOneLine(t, stderr, "--dir "+d, want)
	}
}
