// Package common is what every part of virtchain's terminal UI shares:
// the Common each component is built with, the Component contract, the
// Backend the UI reaches the host through, the keymap, the styles, and the
// text helpers that turn host data into screen text.
package common

import (
	"context"
	"errors"
	"virtchain/model"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
)

// Common is what every component shares: the context backend calls run
// under, the backend itself (used only inside tea.Cmds), the styles and the
// keymap. Sizes are per component, set through SetSize.
type Common struct {
	Ctx     context.Context
	Backend Backend
	// Host is the index of Backend's host among several (0 with one): an
	// answer that comes back after the selection moved names its host.
	Host   int
	Styles *Styles
	KeyMap *KeyMap
}

// Lost reports that the backend's connection to the host is lost: keys
// that need the host then say so instead of starting anything. It reads a
// closed channel, never the host; a reconnect replaces Backend with one
// whose connection is up.
func (c *Common) Lost() bool {
	r, ok := c.Backend.(Reconnector)
	if !ok {
		return false
	}
	select {
	case <-r.Lost():
		return true
	default:
		return false
	}
}

// Component is one part of the screen. Each renders exactly the size it
// was given, which lets the root join panes line by line without
// measuring.
type Component interface {
	help.KeyMap
	SetSize(width, height int)
	Update(msg tea.Msg) tea.Cmd
	View() string
}

// ErrorMsg is shown in the footer until the next key; a Cmd that fails
// returns it.
type ErrorMsg struct{ Err error }

// ErrCmd shows text in the footer.
func ErrCmd(text string) tea.Cmd {
	return func() tea.Msg { return ErrorMsg{Err: errors.New(text)} }
}

// NotConnected is the footer line for a key that needs the host while
// the connection is lost.
func NotConnected(c *Common) tea.Cmd { return ErrCmd(NotConnectedText(c.Backend.URI())) }

// NotConnectedText is NotConnected's line for uri.
func NotConnectedText(uri string) string {
	return "not connected: reconnecting to " + uri + " in the background…"
}

// SteerMsg says the user acted here on the block job of Domain's Disk
// (started, aborted or pivoted it). Only such jobs' endings open a
// dialog: a job someone else runs on the host only earns a footer line.
type SteerMsg struct{ Domain, Disk string }

// Steer is a Cmd that sends SteerMsg.
func Steer(domain, disk string) tea.Cmd {
	return func() tea.Msg { return SteerMsg{Domain: domain, Disk: disk} }
}

// InfoMsg is a result line for the footer, until the next key.
type InfoMsg struct{ Text string }

// NoticeMsg is a lasting footer notice, such as a stream that stopped.
type NoticeMsg struct{ Text string }

// HostErrText words an error from the host for the footer: a lost
// connection as such, not as the operation's failure.
func HostErrText(c *Common, err error) string {
	if c.Lost() || errors.Is(err, model.ErrConnectionLost) {
		return NotConnectedText(c.Backend.URI())
	}
	return model.OneLine(err.Error())
}
