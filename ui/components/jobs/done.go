package jobs

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// jobDoneDialog says what a finished commit or pull left behind and
// offers the metadata cleanup.
type jobDoneDialog struct {
	dialog.Opener
	common        *common.Common
	width, height int
	job           model.Job
	left, stale   []string
	keys          struct{ Clean, Close key.Binding }
}

// NewDoneDialog says what the finished job j left behind: the files that
// left the chain and the snapshots whose metadata went stale.
func NewDoneDialog(c *common.Common, j model.Job, left, stale []string) *jobDoneDialog {
	d := &jobDoneDialog{common: c, job: j, left: left, stale: stale}
	d.keys.Clean = common.Bind([]string{"m"}, "m", "remove stale metadata")
	d.keys.Close = common.Bind([]string{"esc", "enter", "q"}, "esc/enter", "close")
	return d
}

func (d *jobDoneDialog) SetSize(w, h int) { d.width, d.height = w, h }

func (d *jobDoneDialog) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, d.keys.Clean) && len(d.stale) > 0:
		return cleanupOp(&d.Opener, d.common, d.job.Domain) // replaces this dialog
	case key.Matches(k, d.keys.Close):
		return dialog.Close
	}
	return nil
}

func (d *jobDoneDialog) ShortHelp() []key.Binding {
	if len(d.stale) > 0 {
		return []key.Binding{d.keys.Clean, d.keys.Close}
	}
	return []key.Binding{d.keys.Close}
}

func (d *jobDoneDialog) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

func (d *jobDoneDialog) View() string {
	st := d.common.Styles
	j := d.job
	w := max(d.width-2, 10)
	lines := []string{st.TabActive.Render(common.Truncate(string(j.Kind)+" on "+j.Domain+" "+j.Disk+" completed", max(d.width-2, 1)))}
	add := func(ls ...string) {
		for _, l := range ls {
			lines = append(lines, " "+l)
		}
	}
	if len(d.left) > 0 {
		add("", st.ColumnHead.Render("Left the chain (the files stay on disk)"))
		for _, f := range d.left {
			add(common.Hanging("•", f, w, st.Plain)...)
		}
	}
	if len(d.stale) > 0 {
		add("", st.ColumnHead.Render("Snapshot metadata now stale"))
		for _, s := range d.stale {
			add(common.Hanging("•", s, w, st.Warning)...)
		}
		add("")
		add(common.Indent(common.WrapText("libvirt 9.0 refuses a normal delete of these; m removes their metadata only", w), st.Dim)...)
	}
	if len(d.left) > 0 {
		// Wrapped, not cut: the command is the part an admin copies.
		add(common.Indent(common.WrapText("delete files with 'virtchain cleanup "+j.Domain+" --delete-files' (checks no one uses them)", w), st.Dim)...)
	}
	return common.Block(lines, d.width, d.height)
}

var _ dialog.Dialog = (*jobDoneDialog)(nil)
