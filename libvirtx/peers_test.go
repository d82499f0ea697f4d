package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtchain/libvirtx/testhost"
	"virtchain/model"
)

// Guards across hosts against two real daemons: the host under test and
// testhost.Other, which both see /var/tmp at the same path (shared
// storage). A base image there backs one shut-off domain on each host,
// each through its own overlay.

type sharedLab struct {
	dir, base, stamp string
	aURI, bName      string
	bURI             string
	aDom, bDom       string
}

func newSharedLab(t *testing.T) *sharedLab {
	t.Helper()
	testhost.Need(t)
	bName, bURI := testhost.Other(t)
	l := &sharedLab{aURI: testhost.URI(), bName: bName, bURI: bURI, stamp: fmt.Sprintf("%d", time.Now().UnixNano()%1e9)}
	if l.aURI == l.bURI {
		t.Skip("test of two hosts: the second host is the host under test")
	}
	l.dir = testhost.SharedDir(t, "vc10g")
	l.base = filepath.Join(l.dir, "base.qcow2")
	testhost.QemuImg(t, "create", "-q", "-f", "qcow2", l.base, "16M")
	l.aDom, l.bDom = "vc10g-a-"+l.stamp, "vc10g-b-"+l.stamp
	testhost.OverlayDomain(t, l.aURI, l.aDom, l.base, "a.qcow2")
	testhost.OverlayDomain(t, l.bURI, l.bDom, l.base, "b.qcow2")
	return l
}

func (l *sharedLab) baseSum(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("sha256sum", l.base).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestIntegrationVc10gCommitIntoASharedBaseIsRefusedNamingThePeer(t *testing.T) {
	l := newSharedLab(t)
	for _, tc := range []struct{ name, uri string }{{"direct", l.aURI}, {"ssh", testhost.SSHURI()}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uri == "" {
				t.Skip("set VIRTCHAIN_TEST_SSH_URI for the run over qemu+ssh")
			}
			a := discOpen(t, tc.uri, false)
			if tc.name == "ssh" {
				a.local = false // 127.0.0.1 is remote here: chains through the storage API
			}
			b := discOpen(t, l.bURI, false)
			l.commitGuards(t, a, b)
		})
	}
	// The peer itself over qemu+ssh: its shut-off chain is read through
	// the storage API, and still names the shared base.
	t.Run("peer-ssh", func(t *testing.T) {
		host := l.bName
		if host == "local" {
			host = "local-ssh"
		}
		out, err := exec.Command("bash", "../scripts/testhost.sh", "ssh-uri", host).Output()
		uri := strings.TrimSpace(string(out))
		if err != nil || uri == "" {
			t.Skip("no qemu+ssh URI for " + host + " (bash scripts/testhost.sh up " + host + ")")
		}
		a := discOpen(t, l.aURI, false)
		b := discOpen(t, uri, false)
		b.local = false
		l.commitGuards(t, a, b)
	})
}

func (l *sharedLab) commitGuards(t *testing.T, a, b *Conn) {
	ctx := context.Background()
	req := model.CommitRequest{Domain: l.aDom, Target: "vda"}
	sum := l.baseSum(t)

	// One host: the plan is as it always was, with no word of peers.
	alone, err := a.PlanCommit(ctx, req)
	if err != nil {
		t.Fatalf("one host: %v", err)
	}
	for _, w := range alone.Warnings {
		if strings.Contains(w, "guards also read") || strings.Contains(w, " on host ") {
			t.Fatalf("one host's plan speaks of hosts: %q", w)
		}
	}

	// The re-plan before the action reads the peers set since.
	a.SetPeers([]model.Peer{{Name: l.bName, Reader: b}})
	want := "chain of " + l.bDom + " vda on host " + l.bName + " (" + model.SamePath + ")"
	_, err = a.StartBlockJob(ctx, alone)
	var r *model.Refusal
	if !errors.As(err, &r) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "committing into base.qcow2") {
		t.Fatalf("start of a plan made before the peer was known: %v; want a refusal naming %q", err, want)
	}
	if _, err := a.PlanCommit(ctx, req); !errors.As(err, &r) || !strings.Contains(err.Error(), want) {
		t.Fatalf("plan with the peer: %v", err)
	}
	if got := l.baseSum(t); got != sum {
		t.Fatal("the shared base changed")
	}

	// A pull leaves the base alone: it goes ahead, says who else reads
	// the base and that the peer was read.
	pull, err := a.PlanPull(ctx, model.PullRequest{Domain: l.aDom, Target: "vda"})
	if err != nil {
		t.Fatal(err)
	}
	ws := strings.Join(pull.Warnings, "\n")
	if !strings.Contains(strings.Join(pull.UsedBy, ";"), want) || !strings.Contains(ws, "guards also read host "+l.bName) ||
		!strings.Contains(ws, "the same file when the path is the same") {
		t.Fatalf("pull plan: used by %q, warnings %q", pull.UsedBy, pull.Warnings)
	}

	// A peer that cannot be read: a plan that rewrites a file is refused
	// with the fix; one that does not is told.
	a.SetPeers([]model.Peer{{Name: "vc10g-gone", Err: "connection refused"}})
	if _, err := a.PlanCommit(ctx, req); !errors.As(err, &r) ||
		!strings.Contains(err.Error(), "host vc10g-gone could not be read (connection refused)") || !strings.Contains(err.Error(), "bring vc10g-gone back") {
		t.Fatalf("commit with an unreachable peer: %v", err)
	}
	a.SetPeers(nil)
	if _, err := a.PlanCommit(ctx, req); err != nil {
		t.Fatalf("back to one host: %v", err)
	}
}

func TestIntegrationVc10gStoragePoolsReadsTargetAndSource(t *testing.T) {
	testhost.Need(t)
	c := discOpen(t, testhost.URI(), false)
	dir, err := os.MkdirTemp("/var/tmp", "vc10g-pool-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	name := filepath.Base(dir)
	xml := fmt.Sprintf("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>", name, dir)
	p, err := c.virt.StoragePoolCreateXML(xml, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Destroy(); _ = p.Free() })
	pools, err := c.StoragePools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range pools {
		if sp.Name == name {
			if sp.Type != "dir" || sp.Target != dir || len(sp.SourceHosts) != 0 {
				t.Fatalf("pool facts %+v", sp)
			}
			return
		}
	}
	t.Fatalf("pool %s not among %+v", name, pools)
}

// A front end may close a connection while another host's plan reads it
// as a peer: the read ends (with its domains, or an error) and nothing
// crashes.
func TestIntegrationVc10gCloseDuringAPeerRead(t *testing.T) {
	testhost.Need(t)
	for i := 0; i < 5; i++ {
		c, err := Open(testhost.URI(), true)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 3)
		for _, read := range []func() error{
			func() error { _, err := c.Discover(context.Background()); return err },
			func() error { _, err := c.StoragePools(context.Background()); return err },
			func() error { _, err := c.DiscoverDomain(context.Background(), "vc10g-none"); return err },
		} {
			go func() { done <- read() }()
		}
		time.Sleep(time.Duration(i) * 20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			<-done
		}
		if _, err := c.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "is closed") {
			t.Fatalf("a read after Close: %v", err)
		}
	}
}
