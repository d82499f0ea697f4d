package common

import (
	"charm.land/bubbles/v2/key"

	"virtchain/model"
)

// KeyMap holds every key binding of the program. Components pick the ones
// they use for their own help; one struct keeps the keys from colliding.
//
// Letters that later issues need are kept free: in the snapshot tab `n`
// (new), `r` (revert), `d` (delete); in the chain view `t`/`b` (mark top and
// base), `c` (commit), `p` (pull). That is why refresh is ctrl+r / F5.
type KeyMap struct {
	Move     key.Binding // help only: the short form of Up and Down
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Home     key.Binding
	End      key.Binding
	Left     key.Binding // back to the domain list
	Right    key.Binding // into the detail pane

	NextFocus key.Binding // list -> chains -> snapshots -> list
	PrevFocus key.Binding
	Chains    key.Binding
	Snapshots key.Binding
	History   key.Binding
	// Health opens the Health tab and checks the domain again.
	Health key.Binding

	Filter       key.Binding
	ClearFilter  key.Binding
	AcceptFilter key.Binding

	Refresh key.Binding
	Help    key.Binding
	Quit    key.Binding

	// Domain list: restore points and start.
	Save              key.Binding
	Restore           key.Binding
	ManagedSave       key.Binding
	ManagedSaveRemove key.Binding
	Start             key.Binding
	Orphans           key.Binding // the orphans view

	// Snapshot tab.
	SnapNew            key.Binding
	SnapRevert         key.Binding
	SnapDelete         key.Binding
	SnapDeleteMetadata key.Binding
}

// DefaultKeyMap is virtchain's key layout: arrows and vim keys.
func DefaultKeyMap() *KeyMap {
	return &KeyMap{
		Move:     Bind([]string{"up", "down", "k", "j"}, "↑↓/jk", "move"),
		Up:       Bind([]string{"up", "k"}, "↑/k", "up"),
		Down:     Bind([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   Bind([]string{"pgup", "ctrl+u"}, "pgup/ctrl+u", "page up"),
		PageDown: Bind([]string{"pgdown", "ctrl+d"}, "pgdn/ctrl+d", "page down"),
		Home:     Bind([]string{"home", "g"}, "g/home", "first"),
		End:      Bind([]string{"end", "G"}, "G/end", "last"),
		Left:     Bind([]string{"left", "h"}, "←/h", "back to list"),
		Right:    Bind([]string{"right", "l", "enter"}, "→/l/enter", "open"),

		NextFocus: Bind([]string{"tab"}, "tab", "next pane"),
		PrevFocus: Bind([]string{"shift+tab"}, "shift+tab", "previous pane"),
		Chains:    Bind([]string{"1"}, "1", "chains tab"),
		Snapshots: Bind([]string{"2"}, "2", "snapshots tab"),
		History:   Bind([]string{"3"}, "3", "history tab"),
		Health:    Bind([]string{"4"}, "4", "health tab (checks the domain)"),

		Filter:       Bind([]string{"/"}, "/", "filter"),
		ClearFilter:  Bind([]string{"esc"}, "esc", "clear filter"),
		AcceptFilter: Bind([]string{"enter"}, "enter", "apply filter"),

		Refresh: Bind([]string{"ctrl+r", "f5"}, "ctrl+r/F5", "refresh"),
		Help:    Bind([]string{"?"}, "?", "help"),
		Quit:    Bind([]string{"q", "ctrl+c"}, "q", "quit"),

		Save:              Bind([]string{"s"}, "s", "save to file"),
		Restore:           Bind([]string{"r"}, "r", "restore from file"),
		ManagedSave:       Bind([]string{"m"}, "m", "managed save"),
		ManagedSaveRemove: Bind([]string{"M"}, "M", "remove managed save"),
		Start:             Bind([]string{"u"}, "u", "start"),
		Orphans:           Bind([]string{"o"}, "o", "orphan images"),

		SnapNew:            Bind([]string{"n"}, "n", "new snapshot"),
		SnapRevert:         Bind([]string{"r"}, "r", "revert"),
		SnapDelete:         Bind([]string{"d"}, "d", "delete"),
		SnapDeleteMetadata: Bind([]string{"D"}, "D", "delete metadata only"),
	}
}

// Bind is a key binding with its help text: the one way bindings are made
// here, for the program's keymap and for each component's own keys.
func Bind(keys []string, helpKey, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))
}

// Short is b with a shorter description, for the footer.
func Short(b key.Binding, desc string) key.Binding {
	return Bind(b.Keys(), b.Help().Key, desc)
}

// RemedyWords words a remedy for the TUI: a key or a form field where the
// TUI has one, the CLI's words where it has none (listing jobs, say). The
// CLI words the same remedies as command lines (model.Remedy.CLI).
func (km *KeyMap) RemedyWords(r model.Remedy) string {
	switch r.Action {
	case model.DoDeleteMetadata:
		return "the " + km.SnapDeleteMetadata.Help().Key + " key on the snapshot tab"
	case model.DoExternal:
		return "Kind: external disk-only or checkpoint"
	case model.DoStartMode:
		return "choose running or paused under Afterwards"
	case model.DoDropQuiesce:
		return "turn Quiesce off"
	case model.DoAddForce:
		return "turn Force on"
	case model.DoForce:
		return "Force"
	case model.DoSaveInstead:
		return "save it to a file with " + km.Save.Help().Key + " instead"
	case model.DoRestore:
		return km.Restore.Help().Key + " (restore) in the domain list"
	case model.DoWritable:
		return "restart without --readonly"
	}
	return r.CLI()
}
