package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
	"virtchain/ui/components/forms"
)

// opKey handles the keys that change a domain: in the domain list (save,
// restore, managed save, start) and on the snapshot tab (new, revert,
// delete). ok is false when msg is none of them here.
func (m *Model) opKey(msg tea.KeyPressMsg) (cmd tea.Cmd, ok bool) {
	km, c := m.common.KeyMap, m.common
	b := c.Backend
	type action struct {
		bind key.Binding
		what string
		run  func() tea.Cmd
	}
	var acts []action
	switch {
	case m.focus == focusList:
		d := m.list.Selected()
		onDomain := func(f func(d *model.Domain) tea.Cmd) func() tea.Cmd {
			return func() tea.Cmd {
				if d == nil {
					return common.ErrCmd("no domain selected")
				}
				return f(d)
			}
		}
		acts = []action{
			{km.Save, "save a domain", onDomain(func(d *model.Domain) tea.Cmd {
				def := m.saveFiles[d.Name]
				if def == "" {
					def = forms.DefaultSaveFile(d)
				}
				name := d.Name
				return forms.Save(&m.opener, c, d, def, func(file string) { m.saveFiles[name] = file })
			})},
			{km.Restore, "restore a domain", func() tea.Cmd {
				def := ""
				if d != nil {
					def = m.saveFiles[d.Name]
				}
				return forms.Restore(&m.opener, c, def)
			}},
			{km.ManagedSave, "managed-save a domain", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, forms.DomainOp("Managed save of "+d.Name, d.Name, b.PlanManagedSave, b.ManagedSave,
					"Saved %s to its managed-save image; it is shut off."))
			})},
			{km.ManagedSaveRemove, "remove a managed-save image", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, forms.DomainOp("Remove the managed-save image of "+d.Name, d.Name, b.PlanManagedSaveRemove,
					b.ManagedSaveRemove, "Removed the managed-save image of %s."))
			})},
			{km.Start, "start a domain", onDomain(func(d *model.Domain) tea.Cmd {
				return dialog.Start(&m.opener, c, forms.DomainOp("Start "+d.Name, d.Name, b.PlanStart, b.Start, "Started %s."))
			})},
		}
	case m.focus == focusDetail && m.detail.active == tabSnapshots && m.detail.dom != nil:
		d := m.detail.dom
		onSnap := func(f func(s *model.Snapshot) tea.Cmd) func() tea.Cmd {
			return func() tea.Cmd {
				s := m.detail.snaps.Selected()
				if s == nil {
					return common.ErrCmd(d.Name + " has no snapshot to act on: n makes one")
				}
				return f(s)
			}
		}
		acts = []action{
			{km.SnapNew, "create a snapshot", func() tea.Cmd { return forms.NewSnapshot(&m.opener, c, d) }},
			{km.SnapRevert, "revert to a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd { return forms.Revert(&m.opener, c, d, s) })},
			{km.SnapDelete, "delete a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd {
				return dialog.Start(&m.opener, c, forms.SnapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name}))
			})},
			{km.SnapDeleteMetadata, "delete snapshot metadata", onSnap(func(s *model.Snapshot) tea.Cmd {
				return dialog.Start(&m.opener, c, forms.SnapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name, MetadataOnly: true}))
			})},
		}
	}
	for _, a := range acts {
		if !key.Matches(msg, a.bind) {
			continue
		}
		if c.Lost() {
			return common.NotConnected(c), true
		}
		if b.ReadOnly() {
			return dialog.ReadOnly(c, a.what), true
		}
		return a.run(), true
	}
	return nil, false
}

// opHelp is the key groups of the operations, for the full help.
func (m *Model) opHelp() [][]key.Binding {
	km := m.common.KeyMap
	return [][]key.Binding{
		{km.Save, km.Restore, km.ManagedSave, km.ManagedSaveRemove, km.Start},
		{km.SnapNew, km.SnapRevert, km.SnapDelete, km.SnapDeleteMetadata},
	}
}
