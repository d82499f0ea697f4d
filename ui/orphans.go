package ui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/orphans"
)

// openOrphans opens the orphans view over every host shown. A host that
// is not connected could use any file, so then the view does not open.
func (m *Model) openOrphans() tea.Cmd {
	var srcs []model.OrphanSource
	var down []string
	for _, hs := range m.hosts {
		name := hs.Name
		if name == "" {
			name = hs.uri()
		}
		if hs.b == nil || hs.conn.lost {
			down = append(down, name)
			continue
		}
		srcs = append(srcs, model.OrphanSource{Name: name, Host: hs.b})
	}
	if len(down) > 0 {
		return common.ErrCmd("orphans need every host, and " + strings.Join(down, ", ") + " is not connected: a domain there may use any file")
	}
	v, cmd := orphans.New(m.common, srcs)
	m.opener.Open(v)
	return cmd
}
