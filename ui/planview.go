package ui

// A plan and an error as a dialog shows them: wrapped for the width, with
// warnings first and the hint on its own line.

// The modal layer. A Dialog covers the whole body (everything between the
// header and the footer) and gets every key while it is open; the footer
// shows its ShortHelp. Libvirt events and re-reads keep flowing underneath,
// so the panes are current when it closes.
//
// Opening a dialog: call c.showDialog(d) in any Update (a component's or a
// dialog's); it replaces whatever dialog is open as soon as that Update
// returns, so the very next key already reaches it. c.closeDialog() closes
// it the same way. (OpenDialog(d) and CloseDialog do the same as Cmds, one
// round trip later: keys typed in between still reach the old dialog.)
// Messages the root does not know (results of a dialog's own Cmds, spinner
// ticks of other spinners) go to the open dialog.
//
// Changing something goes through an Op, which is always: plan (a Cmd that
// reads the host) -> the plan on screen (steps, kept files, files leaving
// the chain, bytes, stale snapshots, users, warnings, equivalent virsh
// command) -> y/enter runs it, n/esc cancels -> spinner -> the result, or
// the error in full with its one-line hint. Afterwards the domains in
// Op.Reread (default: the plan's Domain) are re-read. For example:
//
//	return startOp(c, plannedOp("Delete snapshot fresh of vm1",
//		func(ctx context.Context) (*model.SnapshotDeletePlan, error) { return b.PlanSnapshotDelete(ctx, req) },
//		func(p *model.SnapshotDeletePlan) model.Plan { return p.Plan },
//		func(ctx context.Context, p *model.SnapshotDeletePlan) error { return b.DeleteSnapshot(ctx, p) },
//		func(*model.SnapshotDeletePlan) string { return "Deleted snapshot fresh of vm1." }))
//
// startOp refuses on a read-only connection (footer error, nothing runs).
// Other entry points: confirmOp (a plan already in hand -> confirm -> run,
// e.g. an abort or a pivot) and planLines (the plan rendered as lines, for a dialog of one's own).
// A running op can be hidden with esc; its result then lands in the footer.

import (
	"errors"
	"strconv"
	"strings"

	"virtchain/model"
)

// planLines renders a plan for a w-cell column: the summary, warnings
// first (so nobody scrolls past them), then steps, what stays, what leaves
// the chain, the bytes, stale metadata, other users and the virsh command.
func planLines(st *Styles, p model.Plan, w int) []string {
	var out []string
	out = append(out, indent(wrapText(p.Summary, w), st.Bold)...)
	section := func(title string, items []string, bullet string, style Style) {
		if len(items) == 0 {
			return
		}
		out = append(out, "", st.ColumnHead.Render(title))
		for i, it := range items {
			b := bullet
			if bullet == "#" {
				b = strconv.Itoa(i+1) + "."
			}
			out = append(out, hanging(b, it, w, style)...)
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
	section("Equivalent command", p.Virsh, "$", st.Dim)
	section("Space", p.SpaceLines(), "•", st.Plain)
	return out
}

// errorLines shows an error in full, wrapped, with its hint on its own
// line: a refusal's fix, the hint libvirtx appended, or the known hint for
// libvirt's text.
func errorLines(st *Styles, err error, w int, km *KeyMap) []string {
	if err == nil {
		return nil
	}
	msg, hint := splitHint(err)
	msg, hint = tuiWords(km, msg), tuiWords(km, hint)
	out := indent(wrapText("✖ "+msg, w), st.Error)
	if hint != "" {
		out = append(out, "")
		out = append(out, hanging("hint:", hint, w, st.Warning)...)
	}
	return out
}

// splitHint separates an error's text from its one-line hint.
func splitHint(err error) (msg, hint string) {
	var r *model.Refusal
	if errors.As(err, &r) && err.Error() == r.Error() {
		return r.Reason, r.Fix
	}
	msg = strings.Join(strings.Fields(err.Error()), " ")
	if errors.Is(err, model.ErrConnectionLost) {
		// Not the operation's failure: it may even have been carried out.
		return "not connected: " + msg, "virtchain reconnects by itself; the footer says when, then look again before retrying"
	}
	if i := strings.LastIndex(msg, "; hint: "); i >= 0 {
		return msg[:i], msg[i+len("; hint: "):]
	}
	return msg, model.ErrorHint(msg)
}

// wrapText breaks plain text into lines of at most w cells at spaces,
// cutting words (long paths) that do not fit a line of their own.
func wrapText(s string, w int) []string {
	w = max(w, 4)
	var lines []string
	var cur []rune
	curW := 0
	flush := func() {
		lines = append(lines, string(cur))
		cur, curW = cur[:0:0], 0
	}
	// Line breaks and tabs are spaces here (libvirt's messages have some);
	// any other control character is escaped, as in truncate.
	for _, word := range strings.Fields(s) {
		word = model.Escape(word)
		ww := textWidth(word)
		if curW > 0 && curW+1+ww > w {
			flush()
		}
		if curW > 0 {
			cur = append(cur, ' ')
			curW++
		}
		for _, r := range word {
			rw := textWidth(string(r))
			if curW+rw > w {
				flush()
			}
			cur = append(cur, r)
			curW += rw
		}
	}
	if curW > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}

// hanging is a bulleted item wrapped with its continuation lines indented
// under the text.
func hanging(bullet, text string, w int, style Style) []string {
	pad := textWidth(bullet) + 3
	ls := wrapText(text, w-pad)
	for i, l := range ls {
		if i == 0 {
			ls[i] = "  " + bullet + " " + style.Render(l)
		} else {
			ls[i] = spaces(pad) + style.Render(l)
		}
	}
	return ls
}

func indent(ls []string, style Style) []string {
	for i, l := range ls {
		ls[i] = style.Render(l)
	}
	return ls
}
