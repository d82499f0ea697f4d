package forms

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"virtchain/model"
	"virtchain/ui/common"
	"virtchain/ui/components/dialog"
)

// Action is a key that changes something on the host: What names it for
// the read-only refusal ("save a domain"), Run opens its form or plan.
type Action struct {
	Key  key.Binding
	What string
	Run  func() tea.Cmd
}

// RunAction runs the action msg is the key of, unless the connection is
// lost or read-only (a footer line then says so). ok is false when msg is
// none of them.
func RunAction(c *common.Common, msg tea.KeyPressMsg, acts []Action) (tea.Cmd, bool) {
	for _, a := range acts {
		if !key.Matches(msg, a.Key) {
			continue
		}
		if c.Lost() {
			return common.NotConnected(c), true
		}
		if c.Backend.ReadOnly() {
			return dialog.ReadOnly(c, a.What), true
		}
		return a.Run(), true
	}
	return nil, false
}

// DomainActions are the domain list's keys: save, restore, managed save
// (and its removal), start. d is the selected domain, or nil; saveFiles
// remembers the file typed for each domain, so restore offers it.
func DomainActions(o *dialog.Opener, c *common.Common, d *model.Domain, saveFiles map[string]string) []Action {
	km, b := c.KeyMap, c.Backend
	onDomain := func(f func(d *model.Domain) tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if d == nil {
				return common.ErrCmd("no domain selected")
			}
			return f(d)
		}
	}
	return []Action{
		{km.Save, "save a domain", onDomain(func(d *model.Domain) tea.Cmd {
			def := saveFiles[d.Name]
			if def == "" {
				def = DefaultSaveFile(d)
			}
			name := d.Name
			return Save(o, c, d, def, func(file string) { saveFiles[name] = file })
		})},
		{km.Restore, "restore a domain", func() tea.Cmd {
			def := ""
			if d != nil {
				def = saveFiles[d.Name]
			}
			return Restore(o, c, def)
		}},
		{km.ManagedSave, "managed-save a domain", onDomain(func(d *model.Domain) tea.Cmd {
			return dialog.Start(o, c, DomainOp("Managed save of "+d.Name, d.Name, b.PlanManagedSave, b.ManagedSave,
				"Saved %s to its managed-save image; it is shut off."))
		})},
		{km.ManagedSaveRemove, "remove a managed-save image", onDomain(func(d *model.Domain) tea.Cmd {
			return dialog.Start(o, c, DomainOp("Remove the managed-save image of "+d.Name, d.Name, b.PlanManagedSaveRemove,
				b.ManagedSaveRemove, "Removed the managed-save image of %s."))
		})},
		{km.Start, "start a domain", onDomain(func(d *model.Domain) tea.Cmd {
			return dialog.Start(o, c, DomainOp("Start "+d.Name, d.Name, b.PlanStart, b.Start, "Started %s."))
		})},
	}
}

// SnapshotActions are the snapshot tab's keys on domain d: new, revert,
// delete, delete the metadata only. s is the selected snapshot, or nil.
func SnapshotActions(o *dialog.Opener, c *common.Common, d *model.Domain, s *model.Snapshot) []Action {
	km := c.KeyMap
	onSnap := func(f func(s *model.Snapshot) tea.Cmd) func() tea.Cmd {
		return func() tea.Cmd {
			if s == nil {
				return common.ErrCmd(d.Name + " has no snapshot to act on: n makes one")
			}
			return f(s)
		}
	}
	return []Action{
		{km.SnapNew, "create a snapshot", func() tea.Cmd { return NewSnapshot(o, c, d) }},
		{km.SnapRevert, "revert to a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd { return Revert(o, c, d, s) })},
		{km.SnapDelete, "delete a snapshot", onSnap(func(s *model.Snapshot) tea.Cmd {
			return dialog.Start(o, c, SnapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name}))
		})},
		{km.SnapDeleteMetadata, "delete snapshot metadata", onSnap(func(s *model.Snapshot) tea.Cmd {
			return dialog.Start(o, c, SnapshotDeleteOp(c, model.SnapshotDeleteRequest{Domain: d.Name, Name: s.Name, MetadataOnly: true}))
		})},
	}
}
