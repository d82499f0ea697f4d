package common

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
