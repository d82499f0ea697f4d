package dialog

// A plan and an error as a dialog shows them: wrapped for the width, with
// warnings first and the hint on its own line.

import (
	"errors"
	"strconv"

	"virtchain/model"
	"virtchain/ui/common"
)

// PlanLines renders a plan for a w-cell column: the summary, warnings
// first (so nobody scrolls past them), then steps, what stays, what leaves
// the chain, the bytes, stale metadata, other users and the virsh command.
func PlanLines(st *common.Styles, p model.Plan, w int) []string {
	var out []string
	out = append(out, common.Indent(common.WrapText(p.Summary, w), st.Bold)...)
	section := func(title string, items []string, bullet string, style common.Style) {
		if len(items) == 0 {
			return
		}
		out = append(out, "", st.ColumnHead.Render(title))
		for i, it := range items {
			b := bullet
			if bullet == "#" {
				b = strconv.Itoa(i+1) + "."
			}
			out = append(out, common.Hanging(b, it, w, style)...)
		}
	}
	section("Warnings", p.Warnings, "!", st.Warning)
	section("Steps", p.Steps, "#", st.Plain)
	section("Kept", p.Kept, "•", st.Plain)
	section("Leaving the chain", p.LeavingChain, "•", st.Plain)
	section("Files", p.FileLines(), "•", st.Plain)
	if p.BytesToCopy > 0 {
		out = append(out, "", st.ColumnHead.Render("Data to copy")+" "+model.FormatBytesShort(p.BytesToCopy)+
			st.Dim.Render(" ("+strconv.FormatInt(p.BytesToCopy, 10)+" bytes)"))
	}
	section("Snapshot metadata that becomes stale", p.StaleSnapshots, "•", st.Warning)
	section("Stale metadata to remove", p.StaleRemoved, "•", st.Plain)
	section("Also used by", p.UsedBy, "•", st.Warning)
	section("Bitmaps and backups", p.BackupLines(), "•", st.Plain)
	section("Equivalent command", p.Virsh, "$", st.Dim)
	section("Space", p.SpaceLines(), "•", st.Plain)
	return out
}

// ErrorLines shows an error in full, wrapped, with its hint on its own
// line: what the error says to do (model.Hinted, a refusal's remedy
// among them) in the TUI's words.
func ErrorLines(st *common.Styles, err error, w int, km *common.KeyMap) []string {
	if err == nil {
		return nil
	}
	msg, hint := splitHint(err, km)
	out := common.Indent(common.WrapText("✖ "+msg, w), st.Error)
	if hint != "" {
		out = append(out, "")
		out = append(out, common.Hanging("hint:", hint, w, st.Warning)...)
	}
	return out
}

// splitHint separates an error's text from its one-line hint.
func splitHint(err error, km *common.KeyMap) (msg, hint string) {
	if errors.Is(err, model.ErrConnectionLost) {
		// Not the operation's failure: it may even have been carried out.
		return "not connected: " + model.OneLine(err.Error()),
			"virtchain reconnects by itself; the footer says when, then look again before retrying"
	}
	m, h := model.SplitHint(err)
	return model.OneLine(m), h.Render(km.RemedyWords)
}
