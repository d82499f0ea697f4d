// Package ui is virtchain's Bubble Tea program: a root model, its child
// components, the keymap and the styles. It reaches the host only through
// Backend, and only from tea.Cmds.
package ui
