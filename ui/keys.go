package ui

import "charm.land/bubbles/v2/key"

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

	// Snapshot tab.
	SnapNew            key.Binding
	SnapRevert         key.Binding
	SnapDelete         key.Binding
	SnapDeleteMetadata key.Binding
}

// DefaultKeyMap is virtchain's key layout: arrows and vim keys.
func DefaultKeyMap() *KeyMap {
	b := func(keys []string, helpKey, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))
	}
	return &KeyMap{
		Move:     b([]string{"up", "down", "k", "j"}, "↑↓/jk", "move"),
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup", "ctrl+u"}, "pgup/ctrl+u", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+d"}, "pgdn/ctrl+d", "page down"),
		Home:     b([]string{"home", "g"}, "g/home", "first"),
		End:      b([]string{"end", "G"}, "G/end", "last"),
		Left:     b([]string{"left", "h"}, "←/h", "back to list"),
		Right:    b([]string{"right", "l", "enter"}, "→/l/enter", "open"),

		NextFocus: b([]string{"tab"}, "tab", "next pane"),
		PrevFocus: b([]string{"shift+tab"}, "shift+tab", "previous pane"),
		Chains:    b([]string{"1"}, "1", "chains tab"),
		Snapshots: b([]string{"2"}, "2", "snapshots tab"),

		Filter:       b([]string{"/"}, "/", "filter"),
		ClearFilter:  b([]string{"esc"}, "esc", "clear filter"),
		AcceptFilter: b([]string{"enter"}, "enter", "apply filter"),

		Refresh: b([]string{"ctrl+r", "f5"}, "ctrl+r/F5", "refresh"),
		Help:    b([]string{"?"}, "?", "help"),
		Quit:    b([]string{"q", "ctrl+c"}, "q", "quit"),

		Save:              b([]string{"s"}, "s", "save to file"),
		Restore:           b([]string{"r"}, "r", "restore from file"),
		ManagedSave:       b([]string{"m"}, "m", "managed save"),
		ManagedSaveRemove: b([]string{"M"}, "M", "remove managed save"),
		Start:             b([]string{"u"}, "u", "start"),

		SnapNew:            b([]string{"n"}, "n", "new snapshot"),
		SnapRevert:         b([]string{"r"}, "r", "revert"),
		SnapDelete:         b([]string{"d"}, "d", "delete"),
		SnapDeleteMetadata: b([]string{"D"}, "D", "delete metadata only"),
	}
}
