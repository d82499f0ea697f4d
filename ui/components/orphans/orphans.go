// Package orphans is the orphans view: image files that no chain,
// snapshot, snapshot point or save image of any domain on any connected
// host uses, drawn as trees like the chain view (the image each sits on
// at the top), with the bytes each would free. d deletes the selected
// orphan with the orphans above it, D every orphan, both through the same
// plan and confirm dialog as every other change. It covers the body as a
// dialog; esc closes it.
package orphans

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// Model is the orphans view.
type Model struct {
	dialog.Opener
	common        *common.Common
	srcs          []model.OrphanSource
	width, height int
	id            int64

	loading bool
	report  *model.OrphanReport
	rows    []model.OrphanRow
	err     error
	cursor  int
	spin    spinner.Model
	keys    Keys
}

// Keys are the view's own keys.
type Keys struct {
	Up, Down, Delete, DeleteAll, Again, Close key.Binding
}

func newKeys() Keys {
	return Keys{
		Up:        common.Bind([]string{"up", "k"}, "↑/k", "up"),
		Down:      common.Bind([]string{"down", "j"}, "↓/j", "down"),
		Delete:    common.Bind([]string{"d"}, "d", "delete it (and the orphans above it)"),
		DeleteAll: common.Bind([]string{"D"}, "D", "delete every orphan"),
		Again:     common.Bind([]string{"r"}, "r", "search again"),
		Close:     common.Bind([]string{"esc", "q"}, "esc/q", "close"),
	}
}

// loadedMsg is the end of one search.
type loadedMsg struct {
	id  int64
	r   *model.OrphanReport
	err error
}

var seq atomic.Int64

// query is what the view searches: the folders searched anyway, and
// unused images left alone for the default age.
var query = model.OrphanQuery{MinAge: model.DefaultOrphanMinAge}

// New makes the view over the hosts srcs (every connected one) and
// returns the Cmd of its first search.
func New(c *common.Common, srcs []model.OrphanSource) (*Model, tea.Cmd) {
	m := &Model{common: c, srcs: srcs, keys: newKeys(), spin: spinner.New(spinner.WithSpinner(spinner.MiniDot))}
	return m, m.search()
}

// search reads every host again, in a Cmd.
func (m *Model) search() tea.Cmd {
	m.loading, m.err = true, nil
	m.id = seq.Add(1)
	ctx, id, srcs := m.common.Ctx, m.id, m.srcs
	load := func() tea.Msg {
		r, err := model.GatherOrphans(ctx, srcs, query)
		return loadedMsg{id: id, r: r, err: err}
	}
	return tea.Batch(load, m.spin.Tick)
}

// Report is the last search's answer (nil while the first runs).
func (m *Model) Report() *model.OrphanReport { return m.report }

// Selected is the orphan under the cursor, nil on a head row or none.
func (m *Model) Selected() *model.OrphanNode {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return nil
	}
	return m.rows[m.cursor].Node
}

func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.id != m.id {
			return nil
		}
		m.loading = false
		if msg.err != nil {
			m.err = msg.err
			return nil
		}
		m.report, m.rows = msg.r, msg.r.Rows()
		m.cursor = common.Clamp(m.cursor, 0, max(len(m.rows)-1, 0))
		m.skipHead(1)
		return nil
	case spinner.TickMsg:
		if !m.loading {
			return nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return cmd
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Close):
		m.Close()
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.Again):
		if !m.loading {
			return m.search()
		}
	case key.Matches(msg, k.Delete):
		n := m.Selected()
		if n == nil {
			return common.ErrCmd("no orphan selected: move to one (the image it sits on is in use)")
		}
		return m.delete(subtree(n), "Delete orphan "+n.Path)
	case key.Matches(msg, k.DeleteAll):
		if m.report == nil || m.report.Count == 0 {
			return common.ErrCmd("no orphans to delete")
		}
		return m.delete(nil, "Delete every orphan")
	}
	return nil
}

// move steps the cursor, over head rows (they are not orphans).
func (m *Model) move(d int) {
	if len(m.rows) == 0 {
		return
	}
	m.cursor = common.Clamp(m.cursor+d, 0, len(m.rows)-1)
	m.skipHead(d)
}

func (m *Model) skipHead(d int) {
	for m.cursor >= 0 && m.cursor < len(m.rows) && m.rows[m.cursor].Node == nil {
		next := m.cursor + d
		if next < 0 || next >= len(m.rows) {
			d = -d
			next = m.cursor + d
			if next < 0 || next >= len(m.rows) {
				return
			}
		}
		m.cursor = next
	}
}

// subtree names n and every orphan above it, as HOST:PATH.
func subtree(n *model.OrphanNode) []string {
	out := []string{n.Host + ":" + n.Path}
	for _, c := range n.Children {
		out = append(out, subtree(c)...)
	}
	return out
}

// delete plans deleting files (every orphan when nil) from a fresh search
// and runs the plan, which searches again before it deletes; cancel
// comes back here.
func (m *Model) delete(files []string, title string) tea.Cmd {
	srcs := m.srcs
	req := model.OrphanDeleteRequest{OrphanQuery: query, Files: files, All: files == nil}
	op := dialog.Planned(title,
		func(ctx context.Context) (*model.OrphanPlan, error) {
			r, err := model.GatherOrphans(ctx, srcs, query)
			if err != nil {
				return nil, err
			}
			return model.PlanOrphanDelete(r, req)
		},
		func(p *model.OrphanPlan) model.Plan { return p.Plan },
		func(ctx context.Context, p *model.OrphanPlan) error {
			_, err := model.DeleteOrphans(ctx, srcs, p)
			return err
		},
		func(p *model.OrphanPlan) string {
			return "Deleted " + strings.TrimPrefix(p.Summary, "delete ") + "."
		})
	op.Back = m
	op.Reread = []string{""}
	return dialog.Start(&m.Opener, m.common, op)
}

func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	return []key.Binding{common.Bind([]string{"up", "down"}, "↑↓/jk", "move"), common.Short(k.Delete, "delete"),
		common.Short(k.DeleteAll, "delete all"), k.Again, k.Close}
}

func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{{k.Up, k.Down, k.Delete, k.DeleteAll, k.Again, k.Close}}
}

// View draws the title, a summary line, then the trees, the cursor row
// kept in sight.
func (m *Model) View() string {
	st := m.common.Styles
	w := max(m.width-2, 10)
	lines := []string{st.TabActive.Render(common.Truncate("Orphan images", w))}
	body := m.body(w)
	h := max(m.height-1, 1)
	// The cursor's row is body line cursor+1 (under the summary).
	off := common.Clamp(m.cursor+2-h, 0, max(len(body)-h, 0))
	for _, l := range body[off:min(off+h, len(body))] {
		lines = append(lines, " "+l)
	}
	return common.Block(lines, m.width, m.height)
}

// body is every line under the title: the summary, then one per row
// (the cursor row is the summary's index plus one, so row i is line i+1).
func (m *Model) body(w int) []string {
	st := m.common.Styles
	switch {
	case m.err != nil:
		return common.WrapText("✘ "+common.HostErrText(m.common, m.err), w)
	case m.report == nil:
		return []string{m.spin.View() + " searching every pool's folder and every folder of a domain's images…"}
	}
	r := m.report
	head := model.FormatBytes(r.Total) + " to free in " + itoa(r.Count) + " orphan image(s) on " + strings.Join(r.Hosts, ", ")
	if m.loading {
		head = m.spin.View() + " " + head
	}
	out := []string{st.Bold.Render(common.Truncate(head, w))}
	if r.Count == 0 {
		out = append(out, st.Dim.Render(common.Truncate("nothing unused in "+itoa(len(r.Folders))+" folder(s) searched", w)))
	}
	for i, row := range m.rows {
		out = append(out, m.rowLine(i, row, w))
	}
	for _, img := range r.Recent {
		out = append(out, st.Dim.Render(common.Truncate("not yet an orphan (changed within "+r.MinAge.String()+"): "+img.Host+":"+img.Path, w)))
	}
	for _, u := range append(append([]string{}, r.Unsure...), r.Skipped...) {
		out = append(out, st.Warning.Render(common.Truncate("! "+u, w)))
	}
	return out
}

func (m *Model) rowLine(i int, row model.OrphanRow, w int) string {
	st := m.common.Styles
	indent := ""
	if row.Depth > 0 {
		indent = strings.Repeat("   ", row.Depth-1) + "└─ "
	}
	if row.Node == nil {
		return st.Dim.Render(common.Truncate(indent+row.Head, w))
	}
	n := row.Node
	size := model.FormatBytesShort(n.Allocation)
	if len(n.Children) > 0 {
		size += " (" + model.FormatBytesShort(n.Free) + " with those above)"
	}
	name := n.Path
	if len(m.report.Hosts) > 1 || n.Remote {
		name = n.Host + ":" + n.Path
	}
	if row.Depth == 0 && m.report.Trees[row.Tree].Kind == model.OrphanChain && len(n.Children) > 0 {
		size += " · a whole orphaned chain"
	}
	right := "  " + n.Format + "  " + size
	left := indent + common.TruncateLeft(name, max(w-common.TextWidth(indent)-common.TextWidth(right), 8))
	line := common.PadRight(left+right, w)
	if i == m.cursor {
		return st.Selected.Render(line)
	}
	return line
}

func itoa(n int) string { return strconv.Itoa(n) }

var _ dialog.Dialog = (*Model)(nil)
