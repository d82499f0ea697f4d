package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
)

// versioned is a fake that tells its versions, as libvirtx.Conn does.
type versioned struct {
	*fakeBackend
	lv, qv string
}

func (v versioned) Versions(context.Context) (string, string, error) { return v.lv, v.qv, nil }

// async runs a Model the way the program does: every Cmd in a goroutine
// of its own, results delivered to Update in the order they arrive.
type async struct {
	t    *testing.T
	m    *Model
	msgs chan tea.Msg
}

func startAsync(t *testing.T, m *Model, w, h int) *async {
	a := &async{t: t, m: m, msgs: make(chan tea.Msg, 256)}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	a.spawn(m.Init())
	return a
}

func (a *async) spawn(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if msg != nil {
			a.msgs <- msg
		}
	}()
}

func (a *async) send(msg tea.Msg) {
	_, cmd := a.m.Update(msg)
	a.spawn(cmd)
}

// until delivers messages until the frame satisfies ok, or fails after d.
func (a *async) until(d time.Duration, ok func(frame string) bool) string {
	a.t.Helper()
	deadline := time.After(d)
	for {
		frame := sgr.ReplaceAllString(a.m.View().Content, "")
		if ok(frame) {
			return frame
		}
		select {
		case msg := <-a.msgs:
			switch msg := msg.(type) {
			case spinner.TickMsg:
			case tea.BatchMsg:
				for _, c := range msg {
					a.spawn(c)
				}
			default:
				a.send(msg)
			}
		case <-deadline:
			a.t.Fatalf("the frame never got there:\n%s", frame)
		}
	}
}

func has(frame string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(frame, w) {
			return false
		}
	}
	return true
}

// threeHosts: fast answers at once, slow when release is closed, bad
// never (its dial fails).
func threeHosts(release chan struct{}) (fast, slow *fakeBackend, hosts []Host) {
	fast = newFake(classicDomain(), branchyDomain())
	fast.uri = "qemu:///system"
	tree := branchyDomain()
	slow = newFake(classicDomain(), tree)
	slow.uri = "qemu+ssh://root@127.0.0.1:2222/system"
	hosts = []Host{
		{Name: "fast", URI: fast.uri, Dial: func(context.Context) (Backend, error) {
			return versioned{fast, "9.0.0", "7.2.0"}, nil
		}},
		{Name: "slow", URI: slow.uri, Dial: func(ctx context.Context) (Backend, error) {
			select {
			case <-release:
				return versioned{slow, "11.3.0", "10.0.0"}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}},
		{Name: "bad", URI: "qemu+ssh://nowhere/system", Dial: func(context.Context) (Backend, error) {
			return nil, errors.New("Cannot recv data: ssh: Could not resolve hostname nowhere")
		}},
	}
	return fast, slow, hosts
}

func TestSeveralHostsFirstFrameDoesNotWaitForTheSlowOne(t *testing.T) {
	release := make(chan struct{})
	_, _, hosts := threeHosts(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := startAsync(t, NewHosts(ctx, hosts, Options{NoColor: true}), 80, 24)
	frame := a.until(2*time.Second, func(f string) bool {
		return has(f, "lab-test2", "libvirt 9.0.0", "unreachable")
	})
	for _, want := range []string{"virtchain 3 hosts", "▾ fast libvirt 9.0.0 · QEMU 7.2.0 · 2 domains · connected",
		"▾ slow connecting…", "▾ bad unreachable: Cannot recv data"} {
		if !strings.Contains(frame, want) {
			t.Errorf("first frame lacks %q:\n%s", want, frame)
		}
	}
	t.Log("first frame:\n" + frame)
	close(release)
	const slowUp = "▾ slow libvirt 11.3.0 · QEMU 10.0.0 · 2 domains · connected"
	// until fails the test when the slow host never shows.
	a.until(2*time.Second, func(f string) bool { return has(f, slowUp) })
}

// twoHosts is a harness on two connected fakes, a and b, both read.
func twoHosts(t *testing.T, w, hgt int, fa, fb *fakeBackend) *harness {
	t.Helper()
	m := NewHosts(context.Background(), []Host{{Name: "a", Backend: fa}, {Name: "b", Backend: fb}}, Options{NoColor: true})
	h := &harness{t: t, m: m, f: fa}
	h.send(tea.WindowSizeMsg{Width: w, Height: hgt})
	h.send(m.discover(0)())
	h.send(m.discover(1)())
	return h
}

func TestSeveralHostsGroupAndFilter(t *testing.T) {
	fa := newFake(classicDomain(), branchyDomain())
	fb := newFake(chainDomain("web1", 3), classicDomain())
	for _, size := range [][2]int{{80, 24}, {200, 50}} {
		h := twoHosts(t, size[0], size[1], fa, fb)
		ls := h.lines() // exactly the terminal's size
		var rows []string
		for _, l := range ls {
			row := strings.TrimLeft(l, " ▸●○")
			for _, w := range []string{"▾ a", "▾ b", "lab-test2 ", "lab-tree ", "web1 "} {
				if strings.HasPrefix(row, w) {
					rows = append(rows, strings.TrimSpace(w))
				}
			}
		}
		want := "▾ a lab-test2 lab-tree ▾ b lab-test2 web1"
		if got := strings.Join(rows, " "); !strings.HasPrefix(got, want) {
			t.Errorf("%dx%d: rows %q, want %q:\n%s", size[0], size[1], got, want, strings.Join(ls, "\n"))
		}
		h.contains("Domains on 2 hosts (4)")
		// The filter matches on both hosts; a host with no match keeps
		// its header row.
		h.keys("/", "t", "e", "s", "t")
		h.contains("Domains on 2 hosts (2/4)", "▾ a 1/2 domains", "▾ b 1/2 domains")
		h.lacks("lab-tree", "web1")
		h.keys("enter", "down")
		if h.m.list.SelectedHost() != 1 || h.m.list.SelectedName() != "lab-test2" {
			t.Errorf("down from a:lab-test2 went to host %d %q", h.m.list.SelectedHost(), h.m.list.SelectedName())
		}
	}
}

func TestSeveralHostsOperationGoesToTheSelectedHost(t *testing.T) {
	fa := newFake(classicDomain(), branchyDomain())
	fb := newFake(classicDomain(), chainDomain("web1", 3))
	h := twoHosts(t, 80, 30, fa, fb)
	// a:lab-test2, a:lab-tree, then (over b's header) b:lab-test2.
	h.press("down", "down")
	if h.m.list.SelectedHost() != 1 || h.m.list.SelectedName() != "lab-test2" {
		t.Fatalf("selected host %d %q", h.m.list.SelectedHost(), h.m.list.SelectedName())
	}
	h.press("m", "y")
	h.contains("✔ Saved lab-test2 to its managed-save image")
	h.press("enter")
	if got := fb.ranOps(); len(got) != 1 || got[0] != "managedsave lab-test2 " {
		t.Errorf("host b ran %q", got)
	}
	if got := fa.ranOps(); len(got) != 0 {
		t.Errorf("host a ran %q", got)
	}
	// The re-read went to b: its lab-test2 is shut off with a managed
	// save, a's still runs.
	if d := h.m.hosts[1].domains[0]; d.Name != "lab-test2" || !d.ManagedSave {
		t.Errorf("b's lab-test2 after the save: %+v", d.State)
	}
	if d := h.m.hosts[0].domains[0]; d.ManagedSave {
		t.Errorf("a's lab-test2 changed: %s", d.State)
	}
	h.press("up")
	if h.m.common.Backend != Backend(fa) {
		t.Errorf("a's domain selected, backend %s", h.m.common.Backend.URI())
	}
}

func TestSeveralHostsJobsPanelShowsEveryHostsJobs(t *testing.T) {
	ja, jb := newJobFake(classicDomain()), newJobFake(classicDomain())
	ja.running = []model.Job{{Domain: "lab-test2", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}}
	jb.running = []model.Job{{Domain: "lab-test2", Disk: "vda", Kind: model.JobActiveCommit, Phase: model.PhaseRunning}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewHosts(ctx, []Host{{Name: "a", Backend: ja}, {Name: "b", Backend: jb}}, Options{NoColor: true})
	a := startAsync(t, m, 100, 30)
	// Jobs found running open the panel, as at a single host's start.
	a.until(2*time.Second, func(string) bool { return len(m.jobs.Jobs()) == 2 })
	// The detail pane gets the selected domain's host's jobs, by that
	// host's names.
	kind := map[int]model.JobKind{0: model.JobPull, 1: model.JobActiveCommit}[m.list.SelectedHost()]
	if js := m.detailJobs(); len(js) != 1 || js[0].Domain != "lab-test2" || js[0].Kind != kind {
		t.Errorf("detail jobs of host %d: %+v", m.list.SelectedHost(), js)
	}
	if !m.jobs.Visible() {
		a.send(keyMsg("J"))
	}
	frame := a.until(2*time.Second, func(f string) bool { return has(f, "a:lab-test2", "b:lab-test2") })
	if !strings.Contains(frame, "every job on 2 hosts") {
		t.Errorf("panel title:\n%s", frame)
	}
	// Abort the one on b: it reaches b's backend with b's name for it.
	if m.jobs.Jobs()[0].Domain != "b:lab-test2" {
		a.send(keyMsg("down"))
	}
	a.send(keyMsg("a"))
	a.until(2*time.Second, func(f string) bool { return m.dialog != nil })
	a.send(keyMsg("y"))
	aborted := func(f *jobFake) []string {
		f.jmu.Lock()
		defer f.jmu.Unlock()
		return append([]string(nil), f.aborted...)
	}
	a.until(2*time.Second, func(string) bool { return len(aborted(jb)) > 0 })
	if got := aborted(jb); len(got) != 1 || got[0] != "lab-test2/vda pivot=false" || len(aborted(ja)) != 0 {
		t.Errorf("aborted on a %q, on b %q", aborted(ja), got)
	}
}

func TestSeveralHostsOneReconnectsWhileTheOtherWorks(t *testing.T) {
	fa := newFake(classicDomain())
	fb := newConnFake(branchyDomain())
	fb.next = newConnFake(branchyDomain(), chainDomain("web1", 2))
	m := NewHosts(context.Background(), []Host{{Name: "a", Backend: fa}, {Name: "b", Backend: fb}}, Options{NoColor: true})
	h := &harness{t: t, m: m, f: fa}
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.send(m.discover(0)())
	h.send(m.discover(1)())
	h.contains("▾ b 1 domain · connected")

	close(fb.lost)
	h.send(m.waitLost(1)())
	h.contains("▾ a 1 domain · connected", "▾ b 1 domain · lost; reconnecting…", "lab-test2", "lab-tree")
	// a's domain still works: its operations go to a.
	h.press("m", "y")
	h.contains("✔ Saved lab-test2 to its managed-save image")
	h.press("enter")
	if got := fa.ranOps(); len(got) != 1 {
		t.Errorf("host a ran %q", got)
	}

	h.send(connTryMsg{h: 1, gen: 0, attempt: 1, wait: time.Second, err: "Cannot recv data: Connection reset by peer"})
	h.contains("▾ b 1 domain · lost; reconnecting… (unreachable: Cannot recv data: Conn")
	h.send(connBackMsg{h: 1, gen: 0, b: fb.next})
	if m.hosts[1].b != Backend(fb.next) || m.hosts[1].conn.lost {
		t.Fatal("host b did not switch to its new connection")
	}
	h.send(m.discover(1)())
	h.contains("▾ b 2 domains · connected", "web1", "reconnected to qemu:///system")
	h.lacks("lost; reconnecting")
}

func TestSeveralHostsReconnectDropsJobsThatEndedMeanwhile(t *testing.T) {
	fa := newJobFake(classicDomain())
	fb := newConnFake(branchyDomain())
	fb.running = []model.Job{{Domain: "lab-tree", Disk: "vda", Kind: model.JobPull, Phase: model.PhaseRunning}}
	fb.next = newConnFake(branchyDomain()) // the pull ended while b was lost
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := NewHosts(ctx, []Host{{Name: "a", Backend: fa}, {Name: "b", Backend: fb}}, Options{NoColor: true})
	a := startAsync(t, m, 100, 30)
	a.until(2*time.Second, func(string) bool { js := m.jobs.Jobs(); return len(js) == 1 && js[0].Domain == "b:lab-tree" })
	close(fb.lost)
	frame := a.until(2*time.Second, func(f string) bool { return has(f, "1 block job(s) on b ended while the connection was lost") })
	if js := m.jobs.Jobs(); len(js) != 0 {
		t.Errorf("jobs after b's reconnect: %+v\n%s", js, frame)
	}
}

func TestSeveralHostsDomainFlagTakesHostColonDomain(t *testing.T) {
	fa := newFake(classicDomain(), branchyDomain())
	fb := newFake(classicDomain(), branchyDomain())
	m := NewHosts(context.Background(), []Host{{Name: "a", Backend: fa}, {Name: "b", Backend: fb}}, Options{NoColor: true, Domain: "b:lab-tree"})
	h := &harness{t: t, m: m, f: fa}
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.send(m.discover(0)())
	if m.focus == focusDetail {
		t.Fatal("opened a's domain for b:lab-tree")
	}
	h.send(m.discover(1)())
	if m.list.SelectedHost() != 1 || m.list.SelectedName() != "lab-tree" || m.focus != focusDetail {
		t.Errorf("--domain b:lab-tree opened host %d %q", m.list.SelectedHost(), m.list.SelectedName())
	}
	if m.common.Backend != Backend(fb) {
		t.Error("the backend does not follow the opened domain's host")
	}
}

// Two hosts each have a lab-test2: a full check of b's marks b's row only,
// and its answer, come back after the cursor moved to a's, is not shown as
// a's health.
func TestSeveralHostsHealthIsPerHost(t *testing.T) {
	fa := newFake(classicDomain(), branchyDomain())
	fb := newFake(classicDomain())
	h := twoHosts(t, 120, 30, fa, fb)
	h.keys("down", "down")
	if h.m.list.SelectedHost() != 1 || h.m.list.SelectedName() != "lab-test2" {
		t.Fatalf("selected host %d %q", h.m.list.SelectedHost(), h.m.list.SelectedName())
	}
	d := h.m.list.Selected()
	base := d.Disks[0].Layers[len(d.Disks[0].Layers)-1].Path
	fb.checkFacts = map[string]model.CheckFacts{"lab-test2": {Layers: map[string]model.LayerFacts{
		base: {ImageCheck: &model.ImageCheck{Corruptions: 3}},
	}}}
	check := h.keys("4")
	if check == nil {
		t.Fatal("4 started no check")
	}
	h.keys("shift+tab", "shift+tab", "shift+tab", "shift+tab", "up", "up") // History, Snapshots, Chains, the list
	if h.m.list.SelectedHost() != 0 || h.m.list.SelectedName() != "lab-test2" {
		t.Fatalf("back on host %d %q", h.m.list.SelectedHost(), h.m.list.SelectedName())
	}
	h.keys("4") // a's own check starts; b's answer comes first
	h.send(check())
	if frame := strings.Join(h.lines(), "\n"); strings.Contains(frame, "qemu-img check found corruptions") {
		t.Fatalf("b's check shown as a's lab-test2:\n%s", frame)
	}
	var rows []string
	for _, l := range h.lines() {
		left, _, _ := strings.Cut(l, "│")
		if strings.Contains(left, "lab-test2 ") {
			rows = append(rows, strings.TrimSpace(left))
		}
	}
	if len(rows) != 2 || strings.HasSuffix(rows[0], "✗") || !strings.HasSuffix(rows[1], "✗") {
		t.Fatalf("lab-test2 rows %q: want b's (the second) marked ✗ and a's not", rows)
	}
}
