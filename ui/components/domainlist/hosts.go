package domainlist

import (
	"strconv"
	"strings"

	"virtchain/model"
	"virtchain/ui/common"
)

// Host is one host's group in the list: its header row and its domains.
type Host struct {
	Name string
	// Libvirt and QEMU are the host's versions, "" while unknown.
	Libvirt, QEMU string
	// State is the connection in a few words: "connecting…",
	// "connected", "lost; reconnecting…", "unreachable: REASON".
	State string
	// Bad draws State as a warning.
	Bad     bool
	Domains []model.Domain
}

// SetHosts groups the domains by host, each under a header row. The
// cursor stays on the same domain of the same host.
func (l *Model) SetHosts(hs []Host) {
	h, name := l.SelectedHost(), l.SelectedName()
	var ds []model.Domain
	var of []int
	for i := range hs {
		for _, d := range hs[i].Domains {
			ds = append(ds, d)
			of = append(of, i)
		}
	}
	l.hosts, l.hostOf = hs, of
	l.setDomains(ds)
	if !l.SelectIn(h, name) {
		l.skipHeader(1)
	}
}

// hostParts are the pieces of hosts[h]'s header row: the name, the
// versions and count, and the state.
func (l *Model) hostParts(h int) (head, rest, state string) {
	hs := &l.hosts[h]
	n, shown := 0, 0
	for i := range l.domains {
		if l.hostOf[i] == h {
			n++
		}
	}
	for _, i := range l.shown {
		if i >= 0 && l.hostOf[i] == h {
			shown++
		}
	}
	count := strconv.Itoa(n) + " domains"
	switch {
	case shown != n:
		count = strconv.Itoa(shown) + "/" + count
	case n == 1:
		count = "1 domain"
	}
	var parts []string
	if hs.Libvirt != "" {
		parts = append(parts, "libvirt "+hs.Libvirt)
	}
	if hs.QEMU != "" {
		parts = append(parts, "QEMU "+hs.QEMU)
	}
	if hs.State == "connected" || n > 0 {
		parts = append(parts, count)
	}
	head = "▾ " + model.Escape(hs.Name) + " "
	rest = strings.Join(parts, " · ")
	state = model.OneLine(model.Escape(hs.State))
	if rest != "" && state != "" {
		state = " · " + state
	}
	return head, rest, state
}

// HeaderWidth is the width of the widest host header row (0 with one
// host), so a wide layout can give the list room for it.
func (l *Model) HeaderWidth() int {
	w := 0
	for h := range l.hosts {
		head, rest, state := l.hostParts(h)
		w = max(w, common.TextWidth(head+rest+state)+1) // a gap before the detail pane
	}
	return w
}

// renderHost is the header row of hosts[h]: name, versions, domain count
// and connection state, cut at the pane's edge from the right, so the
// name always shows.
func (l *Model) renderHost(h int) string {
	st := l.common.Styles
	head, rest, state := l.hostParts(h)
	stStyle := st.Dim
	if l.hosts[h].Bad {
		stStyle = st.Warning
	}
	w := l.width
	used := common.TextWidth(head)
	var b strings.Builder
	b.WriteString(st.Bold.Render(common.Truncate(head, w)))
	if rest != "" && used < w {
		t := common.Truncate(rest, w-used)
		b.WriteString(st.Dim.Render(t))
		used += common.TextWidth(t)
	}
	if state != "" && used+3 < w {
		b.WriteString(stStyle.Render(common.Truncate(state, w-used)))
	}
	return b.String()
}
