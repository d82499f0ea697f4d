// Package status is the title bar and the footer: the URI and what the
// program is doing at the top; at the bottom the last error (until the
// next key), the lost connection, a result line, a lasting notice, or the
// keys of whatever has the keyboard.
package status

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
)

// Model is the status lines. The root hands it what to say: errors,
// results and notices as common.ErrorMsg, InfoMsg and NoticeMsg (or the
// setters); Header and Footer draw them.
type Model struct {
	common *common.Common
	help   help.Model
	width  int
	title  string // SetTitle; "" shows the URI

	err    string // cleared on the next key or click
	info   string // a result, cleared on the next key
	notice string // lasting: a stream that stopped
	conn   string // while the connection is lost
}

// New builds empty status lines.
func New(c *common.Common) *Model {
	h := help.New()
	h.Styles = c.Styles.Help
	return &Model{common: c, help: h}
}

// SetSize sets the width; each status line is one line high.
func (s *Model) SetSize(w, _ int) {
	s.width = w
	s.help.SetWidth(w)
}

// Update takes errors, results and notices, and clears the error (and
// the result) on a key or a click.
func (s *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.ErrorMsg:
		if msg.Err != nil {
			s.err = model.OneLine(msg.Err.Error())
		}
	case common.InfoMsg:
		s.info = msg.Text
	case common.NoticeMsg:
		s.notice = msg.Text
	case tea.KeyPressMsg:
		s.err, s.info = "", ""
	case tea.MouseClickMsg:
		s.err = ""
	}
	return nil
}

// Err is the error shown, or "".
func (s *Model) Err() string { return s.err }

// Info is the result line shown, or "".
func (s *Model) Info() string { return s.info }

// SetErr shows an error until the next key ("" clears it).
func (s *Model) SetErr(text string) { s.err = text }

// SetInfo shows a result until the next key.
func (s *Model) SetInfo(text string) { s.info = text }

// AddInfo adds to a result line that starts with prefix (so a
// "reconnected" line keeps saying so), else replaces it.
func (s *Model) AddInfo(prefix, text string) {
	if strings.HasPrefix(s.info, prefix) {
		s.info += "; " + text
		return
	}
	s.info = text
}

// SetConn says the connection is lost and what is tried ("" once back).
func (s *Model) SetConn(text string) { s.conn = text }

// Footer is the footer line: keys are what has the keyboard can do;
// modal says they are an open dialog's, which come before a result line.
func (s *Model) Footer(keys []key.Binding, modal bool) string {
	st, w := s.common.Styles, s.width
	line := func(style common.Style, text string) string {
		return common.FitLine(style.Render(common.Truncate(text, w)), w)
	}
	switch {
	case s.err != "":
		return line(st.Error, "✖ "+s.err)
	case s.conn != "":
		return line(st.Warning, "⚠ "+s.conn)
	case modal:
		return common.FitLine(s.help.ShortHelpView(keys), w)
	case s.info != "":
		return line(st.Running, s.info)
	case s.notice != "":
		return line(st.Warning, s.notice)
	}
	return common.FitLine(s.help.ShortHelpView(keys), w)
}

// SetTitle names what the title bar shows instead of the URI (with
// several hosts: how many).
func (s *Model) SetTitle(t string) { s.title = t }

// Header is the title bar: the program, the URI, the read-only marker,
// and right, what it is doing, at the right edge when it fits.
func (s *Model) Header(right string) string {
	st, w := s.common.Styles, s.width
	var b strings.Builder
	b.WriteString(st.Header.Render("virtchain"))
	b.WriteString(" ")
	used := len("virtchain ")
	uri := s.title
	if uri == "" {
		uri = s.common.Backend.URI()
	}
	uri = common.Truncate(uri, max(w/2, 10))
	b.WriteString(st.HeaderURI.Render(uri))
	used += common.TextWidth(uri)
	if s.common.Backend.ReadOnly() {
		b.WriteString(" ")
		b.WriteString(st.ReadOnly.Render("[read-only]"))
		used += len(" [read-only]")
	}
	if rw := common.TextWidth(right); right != "" && used+rw+2 <= w {
		b.WriteString(common.Spaces(w - used - rw))
		b.WriteString(st.Dim.Render(right))
	}
	return common.FitLine(b.String(), w)
}
