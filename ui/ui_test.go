package ui

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/pages/domain"
)

// harness drives a Model the way the program would, but runs backend Cmds
// only when the test says so, so each step can assert that Update alone
// never reached the backend.
type harness struct {
	t *testing.T
	m *Model
	f *fakeBackend
}

func newHarness(t *testing.T, f *fakeBackend, w, h int) *harness {
	t.Helper()
	m := New(context.Background(), f, Options{NoColor: true})
	hs := &harness{t: t, m: m, f: f}
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	hs.send(m.discover(0)())
	return hs
}

// send delivers one message and fails if Update called the backend.
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	h.f.mu.Lock()
	before := h.f.discoverCalls + len(h.f.domainCalls)
	h.f.mu.Unlock()
	_, cmd := h.m.Update(msg)
	h.f.mu.Lock()
	after := h.f.discoverCalls + len(h.f.domainCalls)
	h.f.mu.Unlock()
	if after != before {
		h.t.Fatalf("Update(%T) called the backend", msg)
	}
	return cmd
}

// keys types each key; names are tea key strings ("j", "tab", "ctrl+r").
func (h *harness) keys(names ...string) tea.Cmd {
	h.t.Helper()
	var cmd tea.Cmd
	for _, n := range names {
		cmd = h.send(keyMsg(n))
	}
	return cmd
}

func keyMsg(n string) tea.KeyPressMsg {
	switch n {
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "f5":
		return tea.KeyPressMsg{Code: tea.KeyF5}
	case "ctrl+r", "ctrl+c", "ctrl+d", "ctrl+u":
		return tea.KeyPressMsg{Code: rune(n[5]), Mod: tea.ModCtrl}
	}
	r := []rune(n)
	if len(r) != 1 {
		panic("unknown key " + n)
	}
	return tea.KeyPressMsg{Code: r[0], Text: n}
}

// view is the frame without escape codes, as a user reads it.
func (h *harness) view() string {
	h.t.Helper()
	return sgr.ReplaceAllString(h.m.View().Content, "")
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;:]*m")

// lines checks the frame is exactly the terminal size and returns it.
func (h *harness) lines() []string {
	h.t.Helper()
	ls := strings.Split(h.view(), "\n")
	if len(ls) != h.m.height {
		h.t.Fatalf("frame has %d lines, terminal has %d:\n%s", len(ls), h.m.height, h.view())
	}
	for i, l := range ls {
		if w := lipgloss.Width(l); w != h.m.width {
			h.t.Fatalf("line %d is %d cells wide, terminal is %d: %q", i, w, h.m.width, l)
		}
	}
	return ls
}

func (h *harness) contains(want ...string) {
	h.t.Helper()
	v := h.view()
	for _, w := range want {
		if !strings.Contains(v, w) {
			h.t.Errorf("view lacks %q:\n%s", w, v)
		}
	}
}

func (h *harness) lacks(bad ...string) {
	h.t.Helper()
	v := h.view()
	for _, w := range bad {
		if strings.Contains(v, w) {
			h.t.Errorf("view unexpectedly has %q:\n%s", w, v)
		}
	}
}

// isQuit runs cmd and reports whether it quits the program.
func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestListShowsDomainsWithCounts(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.lines()
	h.contains("qemu:///system", "4 domains", "Domains (4)", "lab-test2", "lab-tree", "saved")
	// lab-test2: 1 disk, chain of 6, 4 snapshots, in that row.
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "lab-test2 ") {
			if f := strings.Fields(l); !strings.Contains(strings.Join(f, " "), "running 1 6 4") {
				t.Errorf("lab-test2 row = %q, want running, 1 disk, chain 6, 4 snapshots", l)
			}
		}
	}
	if h.m.list.SelectedName() != "lab-deep" {
		t.Errorf("first selection = %q, want lab-deep (sorted by name)", h.m.list.SelectedName())
	}
}

func TestClassicChainDrawnTopToBase(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("j", "j")
	if got := h.m.list.SelectedName(); got != "lab-test2" {
		t.Fatalf("selected %q after j j, want lab-test2", got)
	}
	ls := h.lines()
	h.contains("vda · virtio disk · qcow2 · 6 layers", "├─ vda[6] test2_lsof.qcow2", "└─ vda[1] centos.qcow2",
		"active", "base", "◆lsof", "◆net-tools", "current lsof")
	top, base := -1, -1
	for i, l := range ls {
		if strings.Contains(l, "test2_lsof.qcow2") && top < 0 {
			top = i
		}
		if strings.Contains(l, "centos.qcow2") {
			base = i
		}
	}
	if top < 0 || base < 0 || base-top != 5 {
		t.Errorf("active layer at line %d, base at %d; want the six layers in order", top, base)
	}
}

func TestChainCursorAndInfoLine(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("j", "j", "l")
	if h.m.focus != focusDetail {
		t.Fatal("l did not focus the detail pane")
	}
	d, l := h.m.detail.Chains().Cursor()
	if d == nil || l == nil || !strings.HasSuffix(l.Path, "test2_lsof.qcow2") {
		t.Fatalf("cursor starts on %v, want the active layer", l)
	}
	h.keys("G")
	_, l = h.m.detail.Chains().Cursor()
	if !strings.HasSuffix(l.Path, "centos.qcow2") {
		t.Fatalf("G moved to %s, want the base", l.Path)
	}
	h.contains("/var/lib/libvirt/images/lab/centos.qcow2", "virtual 64M")
	h.keys("k", "k")
	_, l = h.m.detail.Chains().Cursor()
	if !strings.HasSuffix(l.Path, "test2_test.qcow2") {
		t.Fatalf("k k moved to %s, want test2_test", l.Path)
	}
	h.contains("created by snapshot test", "virtual 64M · allocated 12M")
	h.keys("h")
	if h.m.focus != focusList {
		t.Fatal("h did not return to the list")
	}
}

func TestBrokenChainShowsProblem(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("G") // lab-tree
	h.lines()
	h.contains("⚠ broken chain", "gone.qcow2", "⚠ missing file", "⊙fresh,a1,a2,b1,b2,b3")
}

func TestSnapshotTreeBranchesAndCurrent(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("G", "2")
	if h.m.detail.Active() != domain.TabSnapshots || h.m.focus != focusDetail {
		t.Fatal("2 did not open the snapshots tab")
	}
	h.lines()
	h.contains("○ fresh", "├─○ a1", "│ ○ a2", "└─○ b1", "├─● b2", "└─○ b3", "b2 (current) ← b1")
	if s := h.m.detail.Snaps().Selected(); s == nil || s.Name != "b2" {
		t.Fatalf("cursor on %v, want the current snapshot b2", s)
	}
	h.keys("g")
	if s := h.m.detail.Snaps().Selected(); s.Name != "fresh" {
		t.Errorf("g moved to %s, want fresh", s.Name)
	}
}

// At 80x24 the info area names the memory file and every disk's overlay
// in full, one a line, and the tree keeps its rows.
func TestSnapshotInfoShowsEveryFile(t *testing.T) {
	dir := "/var/lib/libvirt/images/customer-acme/production"
	d := model.Domain{Name: "acme-db", State: model.StateRunning, Persistent: true,
		Snapshots: []model.Snapshot{
			{Name: "before-upgrade", Kind: model.SnapshotExternal, Memory: model.MemoryExternal, State: "running",
				MemoryFile: dir + "/acme-db.before-upgrade.mem", Description: "checkpoint",
				Created: time.Date(2026, 11, 25, 19, 8, 16, 0, time.UTC),
				Disks: []model.SnapshotDisk{
					{Target: "vda", Kind: "external", File: dir + "/acme-db-vda.before-upgrade.qcow2"},
					{Target: "vdb", Kind: "external", File: dir + "/acme-db-vdb.before-upgrade.qcow2"}}},
			{Name: "after", Parent: "before-upgrade", Kind: model.SnapshotInternal, Memory: model.MemoryInternal, State: "running",
				Disks: []model.SnapshotDisk{{Target: "vda", Kind: "internal"}, {Target: "vdb", Kind: "internal"}}},
		}, CurrentSnapshot: "before-upgrade"}
	h := newHarness(t, newFake(d), 80, 24)
	h.keys("2")
	ls := h.lines()
	h.contains("before-upgrade (current): checkpoint", "2026-11-25 19:08:16", "○ after")
	// Each file on its own line, its name kept whole: a wide path loses
	// its folder first.
	for _, want := range []string{"memory …", "/acme-db.before-upgrade.mem",
		"vda …", "/acme-db-vda.before-upgrade.qcow2", "vdb …", "/acme-db-vdb.before-upgrade.qcow2"} {
		found := false
		for _, l := range ls {
			found = found || strings.Contains(strings.TrimRight(l, " "), want) && (strings.HasSuffix(want, "…") ||
				strings.HasSuffix(strings.TrimRight(l, " "), want))
		}
		if !found {
			t.Errorf("no line with %q:\n%s", want, h.view())
		}
	}
	// Moving to a snapshot with less to say keeps the layout.
	h.keys("j")
	h.lines()
	h.contains("● before-upgrade", "after ← before-upgrade", "vda internal · vdb internal")
}

func TestSnapshotTagsStaleAndBranch(t *testing.T) {
	doms := labDomains()
	for i := range doms {
		for j := range doms[i].Snapshots {
			switch s := &doms[i].Snapshots[j]; s.Name {
			case "a1":
				s.Stale = []string{"vda"}
			case "b3":
				s.Branch = true
			}
		}
	}
	h := newHarness(t, newFake(doms...), 80, 24)
	h.keys("G", "2")
	h.lines()
	h.contains("├─○ a1 stale", "└─○ b3 branch", "○ fresh ")
	h.keys("G") // b3, the last row
	if s := h.m.detail.Snaps().Selected(); s == nil || s.Name != "b3" {
		t.Fatalf("cursor on %v, want b3", s)
	}
	h.lines()
	h.contains("branch kept by a revert")
}

func TestTabCyclesPanesAndTabs(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	type stop struct {
		f focus
		t domain.Tab
	}
	want := []stop{{focusDetail, domain.TabChains}, {focusDetail, domain.TabSnapshots}, {focusDetail, domain.TabHistory},
		{focusDetail, domain.TabHealth}, {focusList, domain.TabHealth}, {focusDetail, domain.TabChains}}
	for i, w := range want {
		checks := len(f.checkCalls)
		h.press("tab")
		if h.m.focus != w.f || (w.f == focusDetail && h.m.detail.Active() != w.t) {
			t.Fatalf("after %d tabs: focus %d tab %d, want %+v", i+1, h.m.focus, h.m.detail.Active(), w)
		}
		// Arriving at Health starts its check (as 4 does), in a Cmd.
		if want := w.f == focusDetail && w.t == domain.TabHealth; want != (len(f.checkCalls) > checks) {
			t.Fatalf("after %d tabs: checked %v, want %v", i+1, len(f.checkCalls) > checks, want)
		}
	}
	h.keys("shift+tab")
	if h.m.focus != focusList {
		t.Errorf("shift+tab from chains should reach the list")
	}
	h.keys("shift+tab")
	if h.m.focus != focusDetail || h.m.detail.Active() != domain.TabHealth {
		t.Errorf("shift+tab from the list should reach health")
	}
}

func TestFilterNarrowsAndClears(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("/", "t", "r", "e")
	if !h.m.list.Filtering() {
		t.Fatal("/ did not open the filter")
	}
	h.lines()
	h.contains("Domains (1/4)", "lab-tree")
	h.lacks("lab-test2")
	if h.m.detail.Domain() == nil || h.m.detail.Domain().Name != "lab-tree" {
		t.Errorf("detail shows %v, want the only match", h.m.detail.Domain())
	}
	// q is text while filtering, not quit.
	if isQuit(h.keys("q")) {
		t.Fatal("q quit while typing a filter")
	}
	h.keys("backspace", "enter")
	if h.m.list.Filtering() {
		t.Fatal("enter did not close the filter input")
	}
	h.contains("/tre")
	h.keys("esc")
	h.contains("Domains (4)")
	if h.m.list.FilterValue() != "" || h.m.list.ShowFilterLine() {
		t.Error("esc did not clear the filter")
	}
	h.keys("/", "z", "z", "z")
	h.contains("no domain matches the filter")
	h.lines()
}

func TestQuitKeys(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	if !isQuit(h.keys("q")) {
		t.Error("q does not quit")
	}
	if !isQuit(h.keys("ctrl+c")) {
		t.Error("ctrl+c does not quit")
	}
}

func TestHelpTogglesFullKeys(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("?")
	h.lines()
	h.contains("Keys", "ctrl+r/F5", "refresh", "filter", "next pane", "snapshots tab", "G/end")
	// Every section fits 80x24, each under its title, so a key that means
	// two things (s: save, shallow) says where.
	h.contains("Domain list", "Chain view", "Snapshot tab", "Jobs panel", "Anywhere",
		"save to file", "shallow commit", "delete metadata only", "clean stale metadata", "q         quit")
	h.keys("j") // ignored while help is open
	if h.m.list.SelectedName() != "lab-deep" {
		t.Error("keys reached the list behind the help screen")
	}
	h.keys("?")
	h.lacks("ctrl+r/F5")
	h.contains("? help", "q quit")
}

func TestRefreshRunsDiscoverInCmd(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	for _, k := range []string{"ctrl+r", "f5"} {
		cmd := h.keys(k)
		if cmd == nil {
			t.Fatalf("%s returned no command", k)
		}
		if !h.m.loading {
			t.Errorf("%s did not mark loading", k)
		}
		f.set(classicDomain())
		h.send(h.m.discover(0)())
		if h.m.loading || len(h.m.domains) != 1 {
			t.Fatalf("after %s: loading=%v, %d domains", k, h.m.loading, len(h.m.domains))
		}
		f.set(labDomains()...)
	}
}

func TestDiscoverErrorInFooterClearedByKey(t *testing.T) {
	f := newFake()
	f.err = errors.New("Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied")
	h := newHarness(t, f, 80, 24)
	ls := h.lines()
	if last := ls[len(ls)-1]; !strings.Contains(last, "discovery on qemu:///system failed") {
		t.Fatalf("footer = %q, want the discovery error", last)
	}
	h.contains("no domains")
	h.keys("j")
	h.lacks("failed")
	h.contains("? help")
}

func TestEventReReadsOneDomainAndCoalesces(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	h.keys("j", "j", "l", "j", "j") // lab-test2, cursor on vda[4]
	cmd := h.send(eventMsg{ev: model.Event{Domain: "lab-test2", Kind: "Started"}})
	if cmd == nil || !h.m.hosts[0].inflight["lab-test2"] {
		t.Fatal("an event did not start a re-read")
	}
	// A second event while the read runs is remembered, not issued.
	h.send(eventMsg{ev: model.Event{Domain: "lab-test2", Kind: "Suspended"}})
	if !h.m.hosts[0].dirty["lab-test2"] {
		t.Fatal("a burst of events was not coalesced")
	}
	d := classicDomain()
	d.State = model.StatePaused
	f.set(d)
	msg := h.m.rediscover(0, "lab-test2")()
	if cmd := h.send(msg); cmd == nil {
		t.Fatal("the coalesced event did not trigger one more read")
	}
	h.send(h.m.rediscover(0, "lab-test2")())
	if len(h.m.hosts[0].inflight) != 0 || len(h.m.hosts[0].dirty) != 0 {
		t.Errorf("inflight %v dirty %v after the reads", h.m.hosts[0].inflight, h.m.hosts[0].dirty)
	}
	if h.m.list.SelectedName() != "lab-test2" {
		t.Errorf("selection moved to %q on refresh", h.m.list.SelectedName())
	}
	_, l := h.m.detail.Chains().Cursor()
	if l == nil || !strings.HasSuffix(l.Path, "test2_nmap.qcow2") {
		t.Errorf("chain cursor moved on refresh: %v", l)
	}
	h.contains("paused")
}

func TestEventForVanishedDomainRereadsAll(t *testing.T) {
	f := newFake(labDomains()...)
	h := newHarness(t, f, 80, 24)
	f.set(labDomains()[1:]...)
	h.send(eventMsg{ev: model.Event{Domain: "lab-test2", Kind: "Undefined"}})
	cmd := h.send(h.m.rediscover(0, "lab-test2")())
	if cmd == nil || !h.m.loading {
		t.Fatal("a failed re-read did not fall back to a full discovery")
	}
	h.send(h.m.discover(0)())
	h.lacks("lab-test2")
	h.contains("3 domains")
}

func TestEventsClosedNotice(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.send(eventsClosedMsg{})
	h.contains("libvirt events stopped")
}

func TestWaitEventReadsChannel(t *testing.T) {
	f := newFake()
	m := New(context.Background(), f, Options{})
	f.events <- model.Event{Domain: "x", Kind: "Defined"}
	if got := m.waitEvent(0)(); got != (eventMsg{ev: model.Event{Domain: "x", Kind: "Defined"}}) {
		t.Fatalf("waitEvent = %#v", got)
	}
	close(f.events)
	if _, ok := m.waitEvent(0)().(eventsClosedMsg); !ok {
		t.Fatal("a closed channel did not end the stream")
	}
}

func TestMouseClickSelectsAndWheelScrolls(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	// Narrow layout: header, list title, column head, then rows.
	h.send(tea.MouseClickMsg{X: 5, Y: 5, Button: tea.MouseLeft})
	if got := h.m.list.SelectedName(); got != "lab-test2" {
		t.Fatalf("click on the third row selected %q", got)
	}
	// Click the Snapshots tab label in the detail tab bar.
	x0, y0 := h.m.detailOrigin()
	span := h.m.detail.TabSpans()[domain.TabSnapshots]
	h.send(tea.MouseClickMsg{X: x0 + span[0] + 1, Y: y0, Button: tea.MouseLeft})
	if h.m.detail.Active() != domain.TabSnapshots || h.m.focus != focusDetail {
		t.Fatal("clicking the tab label did not open the snapshots tab")
	}
	h.send(tea.MouseClickMsg{X: x0 + 3, Y: y0 + 2, Button: tea.MouseLeft})
	if s := h.m.detail.Snaps().Selected(); s == nil || s.Name != "test" {
		t.Errorf("click on the first snapshot row selected %v", s)
	}
	// Wheel over a long chain scrolls it.
	f := newFake(chainDomain("deep", 300))
	h = newHarness(t, f, 80, 24)
	x0, y0 = h.m.detailOrigin()
	h.send(tea.MouseWheelMsg{X: x0 + 2, Y: y0 + 3, Button: tea.MouseWheelDown})
	if h.m.detail.Chains().Offset() != 3 {
		t.Errorf("wheel down scrolled to %d, want 3", h.m.detail.Chains().Offset())
	}
}

func TestResizeKeepsFrameExact(t *testing.T) {
	h := newHarness(t, newFake(append(labDomains(), fleet(40)...)...), 80, 24)
	h.keys("j", "j", "l")
	for _, sz := range [][2]int{{80, 24}, {60, 15}, {132, 43}, {200, 60}, {40, 10}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		h.lines()
		h.contains("virtchain")
		if sz[0] >= wideMin != h.m.wide {
			t.Errorf("at width %d wide=%v", sz[0], h.m.wide)
		}
	}
	h.send(tea.WindowSizeMsg{Width: 132, Height: 43})
	h.contains("│", "Domains (44)", "vda[3] guest-002-layer-0003.qcow2", "active")
}

func TestLongNamesTruncateWithEllipsis(t *testing.T) {
	d := classicDomain()
	d.Name = "a-very-long-domain-name-that-goes-on-and-on-and-on-for-ever-and-then-some-more"
	d.Disks[0].Layers[0].Path = "/images/" + strings.Repeat("overlay-", 12) + ".qcow2"
	h := newHarness(t, newFake(d), 80, 24)
	h.lines()
	h.contains("…")
}

func TestNoColorHasNoColourCodes(t *testing.T) {
	h := newHarness(t, newFake(labDomains()...), 80, 24)
	h.keys("G", "l")
	v := h.m.View().Content
	for _, sgr := range []string{"[3", "[9", "[4"} { // foreground, bright, background colours
		for _, part := range strings.Split(v, "\x1b")[1:] {
			if strings.HasPrefix(part, sgr) && !strings.HasPrefix(part, "[4m") {
				t.Fatalf("colour escape %q in NO_COLOR view", "\\e"+part[:min(8, len(part))])
			}
		}
	}
	// Selection and warnings still read without colour.
	h.contains("▸", "⚠ missing file")
}

func TestReadOnlyMarker(t *testing.T) {
	f := newFake(labDomains()...)
	f.readOnly = true
	f.uri = "qemu+ssh://root@hv1/system"
	h := newHarness(t, f, 80, 24)
	h.contains("qemu+ssh://root@hv1/system", "[read-only]")
}

func TestInitialDomainOption(t *testing.T) {
	f := newFake(labDomains()...)
	m := New(context.Background(), f, Options{Domain: "lab-tree", NoColor: true})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(m.discover(0)())
	if m.list.SelectedName() != "lab-tree" || m.focus != focusDetail {
		t.Fatalf("Options.Domain: selected %q focus %d", m.list.SelectedName(), m.focus)
	}
	m = New(context.Background(), f, Options{Domain: "nope", NoColor: true})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(m.discover(0)())
	if !strings.Contains(m.View().Content, `no domain "nope"`) {
		t.Error("a missing initial domain is not reported")
	}
}

// TestDomainNamesCutInTheMiddle: fleet names share long prefixes; cutting
// their ends would make every row read the same.
func TestDomainNamesCutInTheMiddle(t *testing.T) {
	a, b := classicDomain(), classicDomain()
	a.Name, b.Name = "prod-database-cluster-replica-a", "prod-database-cluster-replica-b"
	// 120 columns: the list sits beside the detail, names get few cells.
	h := newHarness(t, newFake(a, b), 120, 30)
	h.lines()
	h.contains("prod-d…lica-a", "prod-d…lica-b")
	for _, c := range []struct {
		s    string
		w    int
		want string
	}{{"abcdefghij", 10, "abcdefghij"}, {"abcdefghijk", 7, "abc…ijk"}, {"abcdefgh", 6, "abc…gh"}, {"abcdef", 3, "ab…"}, {"ääääöööö", 5, "ää…öö"}} {
		if got := common.TruncateMiddle(c.s, c.w); got != c.want {
			t.Errorf("common.TruncateMiddle(%q, %d) = %q, want %q", c.s, c.w, got, c.want)
		}
	}
}

// panicky is a backend with a bug: a panic in Update or View must end the
// program with one line from Run, not Bubble Tea's stack trace.
type panicky struct {
	*fakeBackend
	inURI, inReadOnly bool
}

func (p *panicky) URI() string {
	if p.inURI {
		panic("URI blew up")
	}
	return p.fakeBackend.URI()
}

func (p *panicky) ReadOnly() bool {
	if p.inReadOnly {
		panic("ReadOnly blew up")
	}
	return p.fakeBackend.ReadOnly()
}

func TestPanicBecomesOneLineError(t *testing.T) {
	b := &panicky{fakeBackend: newFake(labDomains()...)}
	m := New(context.Background(), b, Options{NoColor: true})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	b.inReadOnly = true
	if _, cmd := m.Update(keyMsg("s")); cmd == nil || cmd() != tea.Quit() {
		t.Fatalf("a panic in Update did not quit")
	}
	if m.crashed == nil || !strings.Contains(m.crashed.Error(), "ReadOnly blew up") || strings.Contains(m.crashed.Error(), "\n") {
		t.Fatalf("crashed = %v", m.crashed)
	}

	b2 := &panicky{fakeBackend: newFake(labDomains()...), inURI: true}
	m2 := New(context.Background(), b2, Options{NoColor: true})
	m2.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m2.View()
	if m2.crashed == nil || !strings.Contains(m2.crashed.Error(), "URI blew up") {
		t.Fatalf("a panic in View was not caught: %v", m2.crashed)
	}
	if _, cmd := m2.Update(keyMsg("j")); cmd == nil || cmd() != tea.Quit() {
		t.Fatal("after a crash in View the next message did not quit")
	}
}
