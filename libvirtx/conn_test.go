package libvirtx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"virtchain/model"
)

// discOpen opens uri, skipping the test when the machine has no
// libvirt.so.0 (the only thing these tests need besides the URI).
func discOpen(t *testing.T, uri string, readonly bool) *Conn {
	t.Helper()
	c, err := Open(uri, readonly)
	if err != nil {
		var ce *ConnectError
		if errors.As(err, &ce) && ce.Cause == CauseNoLibrary {
			t.Skipf("libvirt client library missing: %v", err)
		}
		t.Fatalf("Open(%s): %v", uri, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestOpenErrors(t *testing.T) {
	discOpen(t, "test:///default", true) // skips without libvirt.so.0
	cases := []struct {
		uri  string
		want ConnectCause
	}{
		{"qemu:///system?socket=/nonexistent/sock", CauseNoDaemon},
		{"::bad", CauseBadURI},
	}
	if discIntegration() {
		// The daemon is the one that says it has no driver for a scheme.
		cases = append(cases, struct {
			uri  string
			want ConnectCause
		}{"bogus:///x", CauseBadURI})
	}
	for _, tc := range cases {
		c, err := Open(tc.uri, false)
		if err == nil {
			c.Close()
			t.Errorf("Open(%q) worked", tc.uri)
			continue
		}
		var ce *ConnectError
		if !errors.As(err, &ce) {
			t.Errorf("Open(%q): %T, want *ConnectError", tc.uri, err)
			continue
		}
		if ce.Cause != tc.want {
			t.Errorf("Open(%q): cause %d, want %d (%v)", tc.uri, ce.Cause, tc.want, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.uri) || ce.Fix.String() == "" {
			t.Errorf("Open(%q): message %q is not one line with URI and hint", tc.uri, msg)
		}
	}
}

func TestTestDriverDiscover(t *testing.T) {
	c := discOpen(t, "test:///default", false)
	if c.URI() != "test:///default" || c.ReadOnly() || !c.Local() {
		t.Errorf("URI %q readonly %v local %v", c.URI(), c.ReadOnly(), c.Local())
	}
	ctx := context.Background()
	func() {
		discTestDriverChecks(t, c, ctx)
	}()
	discCloseClean(t, c)
}

func discTestDriverChecks(t *testing.T, c *Conn, ctx context.Context) {
	// A second, persistent shut-off domain and a snapshot tree on "test".
	xd := libvirtxml.Domain{Type: "test", Name: "disc-shutoff", Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS: &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm"}}}
	doc, _ := xd.Marshal()
	def, err := c.virt.DomainDefineXML(doc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = def.Undefine(); _ = def.Free() }()
	test, err := c.virt.LookupDomainByName("test")
	if err != nil {
		t.Fatal(err)
	}
	defer test.Free()
	for _, name := range []string{"one", "two"} {
		sx, _ := (&libvirtxml.DomainSnapshot{Name: name, Description: "snap " + name}).Marshal()
		s, err := test.CreateSnapshotXML(sx, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Delete(0); _ = s.Free() }()
	}

	doms, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "disc-shutoff,test" {
		t.Fatalf("domains %v", names)
	}
	off, run := doms[0], doms[1]
	if discBulk(t, c) == nil {
		t.Error("bulk facts refused: discovery fell back to per-domain calls")
	}
	if off.State != model.StateShutoff || !off.Persistent || off.ManagedSave || len(off.Snapshots) != 0 || off.Problem != "" {
		t.Errorf("disc-shutoff: %+v", off)
	}
	if run.State != model.StateRunning || !run.Persistent || run.UUID == "" || run.Problem != "" {
		t.Errorf("test: %+v", run)
	}
	if len(run.Disks) != 1 || run.Disks[0].Target != "vda" || run.Disks[0].SourceType != "file" ||
		run.Disks[0].Source != "/guest/diskimage1" || len(run.Disks[0].Layers) != 1 {
		t.Fatalf("test disks: %+v", run.Disks)
	}
	if l := run.Disks[0].Layers[0]; l.Path != "/guest/diskimage1" || l.Problem == "" {
		t.Errorf("layer of a file that is not on this host: %+v", l)
	}
	if len(run.Snapshots) != 2 || run.Snapshots[0].Name != "one" || run.Snapshots[1].Parent != "one" ||
		run.CurrentSnapshot != "two" || !run.Snapshots[1].Current || run.Snapshots[0].Current {
		t.Errorf("snapshots %+v current %q", run.Snapshots, run.CurrentSnapshot)
	}
	if run.Snapshots[0].Kind != model.SnapshotInternal || run.Snapshots[0].Description != "snap one" {
		t.Errorf("snapshot one: %+v", run.Snapshots[0])
	}

	// DiscoverDomain answers the same with per-domain calls.
	one, err := c.DiscoverDomain(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if one.UUID != run.UUID || one.State != run.State || one.CurrentSnapshot != "two" || len(one.Disks) != 1 {
		t.Errorf("DiscoverDomain: %+v", one)
	}
	_, err = c.DiscoverDomain(ctx, "no-such-domain")
	if err == nil || !strings.Contains(err.Error(), "no-such-domain") || strings.Contains(err.Error(), "virError") {
		t.Errorf("unknown domain: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Discover(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled discovery: %v", err)
	}
}

// TestEventsFollowedOnlyWhenAsked: Open and Discover subscribe to no
// domain event (each would be a round trip at Open and at Close); Events
// subscribes once, however often it is called.
func TestEventsFollowedOnlyWhenAsked(t *testing.T) {
	c := discOpen(t, "test:///default", false)
	subscribed := func() int {
		c.events.mu.Lock()
		defer c.events.mu.Unlock()
		return len(c.events.ids)
	}
	if _, err := c.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := subscribed(); n != 0 {
		t.Fatalf("after Open and Discover: %d domain event subscriptions, want none", n)
	}
	c.Events()
	want := subscribed()
	if want != 5 {
		t.Fatalf("after Events: %d subscriptions, want 5 (lifecycle, device added and removed, disk change, I/O error)", want)
	}
	c.Follow()
	c.Events()
	if n := subscribed(); n != want {
		t.Errorf("Events and Follow again: %d subscriptions, want still %d", n, want)
	}
}

func TestTestDriverEvents(t *testing.T) {
	c := discOpen(t, "test:///default", false)
	dom, err := c.virt.LookupDomainByName("test")
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	c.Follow()
	if err := dom.Suspend(); err != nil {
		t.Fatal(err)
	}
	defer dom.Resume()
	discWaitEvent(t, c.Events(), model.Event{Domain: "test", Kind: EventSuspended})
	if err := dom.Resume(); err != nil {
		t.Fatal(err)
	}
	discWaitEvent(t, c.Events(), model.Event{Domain: "test", Kind: EventResumed})

	// After Close the channel is closed and late events go nowhere.
	ch := c.Events()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("Events() not closed by Close")
		}
	}
}

// discBulk runs the bulk fact calls as Discover does.
func discBulk(t *testing.T, c *Conn) map[string]domainFacts {
	t.Helper()
	doms, err := c.virt.ListAllDomains(0)
	if err != nil {
		t.Fatal(err)
	}
	defer freeDomains(doms)
	uuids := make([]string, len(doms))
	for i := range doms {
		uuids[i], _ = doms[i].GetUUIDString()
	}
	return c.bulkFacts(doms, uuids)
}

// discWaitEvent reads events until want arrives, failing after 10s.
func discWaitEvent(t *testing.T, ch <-chan model.Event, want model.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var seen []model.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed while waiting for %+v", want)
			}
			if ev == want {
				return
			}
			seen = append(seen, ev)
		case <-timeout:
			t.Fatalf("no event %+v within 10s; saw %+v", want, seen)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	c := discOpen(t, "test:///default", true)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestOpenDeniedAsUser runs this test binary again as the unprivileged
// user nobody, whom the system daemon refuses, and checks the one line it
// prints names the cause and the fix.
func TestOpenDeniedAsUser(t *testing.T) {
	if os.Getenv("VCT_DISC_OPEN_AS_USER") == "1" {
		_, err := Open("qemu:///system", false)
		var ce *ConnectError
		if errors.As(err, &ce) {
			fmt.Printf("CAUSE=%d\nMSG=%s\n", ce.Cause, ce.Error())
		} else {
			fmt.Printf("ERR=%v\n", err)
		}
		return
	}
	if !discIntegration() {
		t.Skip("integration test: set VIRTCHAIN_INTEGRATION=1 (make test does) to run against the real libvirtd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child as nobody")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "vct-disc-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "libvirtx.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenDeniedAsUser$")
	cmd.Env = []string{"VCT_DISC_OPEN_AS_USER=1", "HOME=" + dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("CAUSE=%d\n", CauseDenied)) ||
		!strings.Contains(string(out), "cannot connect to qemu:///system: ") ||
		!strings.Contains(string(out), "as root") {
		t.Errorf("as nobody:\n%s", out)
	}
	t.Logf("as nobody: %s", out)
}
