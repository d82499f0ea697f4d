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
	return &KeyMap{
		Move:     bind([]string{"up", "down", "k", "j"}, "↑↓/jk", "move"),
		Up:       bind([]string{"up", "k"}, "↑/k", "up"),
		Down:     bind([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   bind([]string{"pgup", "ctrl+u"}, "pgup/ctrl+u", "page up"),
		PageDown: bind([]string{"pgdown", "ctrl+d"}, "pgdn/ctrl+d", "page down"),
		Home:     bind([]string{"home", "g"}, "g/home", "first"),
		End:      bind([]string{"end", "G"}, "G/end", "last"),
		Left:     bind([]string{"left", "h"}, "←/h", "back to list"),
		Right:    bind([]string{"right", "l", "enter"}, "→/l/enter", "open"),

		NextFocus: bind([]string{"tab"}, "tab", "next pane"),
		PrevFocus: bind([]string{"shift+tab"}, "shift+tab", "previous pane"),
		Chains:    bind([]string{"1"}, "1", "chains tab"),
		Snapshots: bind([]string{"2"}, "2", "snapshots tab"),

		Filter:       bind([]string{"/"}, "/", "filter"),
		ClearFilter:  bind([]string{"esc"}, "esc", "clear filter"),
		AcceptFilter: bind([]string{"enter"}, "enter", "apply filter"),

		Refresh: bind([]string{"ctrl+r", "f5"}, "ctrl+r/F5", "refresh"),
		Help:    bind([]string{"?"}, "?", "help"),
		Quit:    bind([]string{"q", "ctrl+c"}, "q", "quit"),

		Save:              bind([]string{"s"}, "s", "save to file"),
		Restore:           bind([]string{"r"}, "r", "restore from file"),
		ManagedSave:       bind([]string{"m"}, "m", "managed save"),
		ManagedSaveRemove: bind([]string{"M"}, "M", "remove managed save"),
		Start:             bind([]string{"u"}, "u", "start"),

		SnapNew:            bind([]string{"n"}, "n", "new snapshot"),
		SnapRevert:         bind([]string{"r"}, "r", "revert"),
		SnapDelete:         bind([]string{"d"}, "d", "delete"),
		SnapDeleteMetadata: bind([]string{"D"}, "D", "delete metadata only"),
	}
}

// bind is a key binding with its help text: the one way bindings are made
// here, for the program's keymap and for each component's own keys.
func bind(keys []string, helpKey, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))
}

// short is b with a shorter description, for the footer.
func short(b key.Binding, desc string) key.Binding {
	return bind(b.Keys(), b.Help().Key, desc)
}
