package domain

import (
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
)

// HealthMsg is the answer of a full check of one domain.
type HealthMsg struct {
	Host   int // common.Common.Host when the check started
	Domain string
	Health model.DomainHealth
	Err    error
}

// CheckCmd runs a full check of the shown domain (nil when none). The
// Cmd reads the host; Update and View never do.
func (p *Model) CheckCmd() tea.Cmd {
	if p.dom == nil {
		return nil
	}
	name, b, ctx, host := p.dom.Name, p.common.Backend, p.common.Ctx, p.common.Host
	p.checking = name
	return func() tea.Msg {
		h, err := b.CheckDomain(ctx, name)
		return HealthMsg{Host: host, Domain: name, Health: h, Err: err}
	}
}

// setHealth keeps a check's answer when it is of the shown domain.
func (p *Model) setHealth(msg HealthMsg) {
	if p.checking == msg.Domain {
		p.checking = ""
	}
	if p.dom == nil || msg.Domain != p.dom.Name || msg.Host != p.common.Host {
		return // another domain's, or a same-named one's of another host
	}
	if msg.Err != nil {
		p.health, p.healthErr = nil, model.OneLine(msg.Err.Error())
		return
	}
	h := msg.Health
	p.health, p.healthErr = &h, ""
	p.chains.SetHealth(p.health)
}

// healthView lists the findings of the last full check, each with its fix
// in the TUI's words, then what could not be checked.
func (p *Model) healthView(height int) string {
	st := p.common.Styles
	w := p.width
	var lines []string
	// Findings are read whole: long ones wrap rather than being cut.
	add := func(s string, style common.Style) {
		for _, l := range common.WrapText(s, w) {
			lines = append(lines, style.Render(common.Truncate(l, w)))
		}
	}
	switch {
	case p.dom == nil:
		add("no domain", st.Dim)
	case p.checking == p.dom.Name:
		add("checking "+p.dom.Name+"…", st.Dim)
	case p.healthErr != "":
		add("⚠ check failed: "+p.healthErr, st.Warning)
	case p.health == nil || p.health.Domain != p.dom.Name:
		add("press "+p.common.KeyMap.Health.Help().Key+" to check "+p.dom.Name, st.Dim)
	default:
		p.findingLines(add)
	}
	return common.Block(lines, w, height)
}

func (p *Model) findingLines(add func(string, common.Style)) {
	st := p.common.Styles
	h := p.health
	words := p.common.KeyMap.RemedyWords
	all := h.All()
	add("health "+string(h.Verdict)+": "+plural(len(all), "finding"), st.Bold)
	for _, f := range all {
		where := f.Disk
		if f.Path != "" {
			where = strings.TrimSpace(where + " " + f.Path)
		}
		if f.Snapshot != "" {
			where = "snapshot " + f.Snapshot
		}
		mark := "!"
		if f.Verdict == model.VerdictBad {
			mark = "✗"
		}
		add(mark+" "+f.Text, st.Warning)
		add("  at "+where, st.Dim)
		if !f.Fix.Empty() {
			add("  fix: "+f.Fix.Render(words), st.Plain)
		}
	}
	for _, d := range h.Disks {
		for _, l := range d.Layers {
			for _, n := range l.Notes {
				add("· "+d.Target+" "+l.Path+": "+n, st.Dim)
			}
		}
	}
	for _, n := range h.Notes {
		add("· "+n, st.Dim)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
