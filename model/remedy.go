package model

import (
	"errors"
	"strings"
)

// A refusal or an error often says what the user can do about it. The CLI
// says it as a command line or a flag ("add --force"), the TUI as a key or
// a form field ("turn Force on"). So the model never words such a fix
// itself: a Hint is words that read the same everywhere with Remedies in
// between, and each front end words the remedies its own way.

// Action is what a Remedy asks the user to do.
type Action int

// Actions. The comment after each is its CLI wording, with its Args.
const (
	_ Action = iota
	// DoDeleteMetadata: virtchain snapshot delete [DOMAIN SNAPSHOT] --metadata-only
	DoDeleteMetadata
	// DoExternal: --external (make an external snapshot instead)
	DoExternal
	// DoStartMode: add --running or --paused
	DoStartMode
	// DoDropQuiesce: drop --quiesce
	DoDropQuiesce
	// DoAddForce: add --force
	DoAddForce
	// DoForce: --force (the option itself, named in a sentence)
	DoForce
	// DoSaveInstead: use virtchain save DOMAIN FILE instead
	DoSaveInstead
	// DoRestore: virtchain restore FILE
	DoRestore
	// DoWritable: run again without --readonly
	DoWritable
	// DoListDomains: 'virtchain list'
	DoListDomains
	// DoListSnapshots: virtchain snapshots [DOMAIN] (DOMAIN when no Args)
	DoListSnapshots
	// DoAbortJob: 'virtchain abort DOMAIN DISK'
	DoAbortJob
	// DoListJobs: 'virtchain jobs'
	DoListJobs
	// DoKeepCurrent: leave out --discard-current
	DoKeepCurrent
	// DoDiscardCurrent: add --discard-current
	DoDiscardCurrent
)

// Remedy is one thing the user can do, as an action and its arguments
// (domain, snapshot, disk or file names, in the order the action's comment
// gives them). Args are raw names: each front end quotes them its way.
type Remedy struct {
	Action Action
	Args   []string
}

// Do builds a Remedy.
func Do(a Action, args ...string) Remedy { return Remedy{Action: a, Args: args} }

// CLI is the remedy in the CLI's words, as `virtchain` prints it.
func (r Remedy) CLI() string {
	arg := func(i int, missing string) string {
		if i < len(r.Args) {
			return ShellQuote(r.Args[i])
		}
		return missing
	}
	switch r.Action {
	case DoDeleteMetadata:
		if len(r.Args) >= 2 {
			return "virtchain snapshot delete " + arg(0, "") + " " + arg(1, "") + " --metadata-only"
		}
		return "virtchain snapshot delete --metadata-only"
	case DoExternal:
		return "--external"
	case DoStartMode:
		return "add --running or --paused"
	case DoDropQuiesce:
		return "drop --quiesce"
	case DoAddForce:
		return "add --force"
	case DoForce:
		return "--force"
	case DoSaveInstead:
		return "use virtchain save DOMAIN FILE instead"
	case DoRestore:
		return "virtchain restore " + arg(0, "FILE")
	case DoWritable:
		return "run again without --readonly"
	case DoListDomains:
		return "'virtchain list'"
	case DoListSnapshots:
		return "virtchain snapshots " + arg(0, "DOMAIN")
	case DoAbortJob:
		return "'virtchain abort " + arg(0, "DOMAIN") + " " + arg(1, "DISK") + "'"
	case DoListJobs:
		return "'virtchain jobs'"
	case DoKeepCurrent:
		return "leave out --discard-current"
	case DoDiscardCurrent:
		return "add --discard-current"
	}
	return checkRemedyCLI(r, arg)
}

// HintPart is a piece of a Hint: Words or a Remedy.
type HintPart interface{ hintPart() }

// Words are a piece of a Hint that reads the same in every front end.
type Words string

func (Words) hintPart()  {}
func (Remedy) hintPart() {}

// Hint is one line saying what to do: words and remedies in reading order.
// The zero Hint says nothing.
type Hint []HintPart

// Say is a Hint of plain words ("" gives the empty Hint).
func Say(s string) Hint {
	if s == "" {
		return nil
	}
	return Hint{Words(s)}
}

// Render is the hint with each remedy worded by remedy (nil: CLI words).
func (h Hint) Render(remedy func(Remedy) string) string {
	if remedy == nil {
		remedy = Remedy.CLI
	}
	var b strings.Builder
	for _, p := range h {
		switch p := p.(type) {
		case Words:
			b.WriteString(string(p))
		case Remedy:
			b.WriteString(remedy(p))
		}
	}
	return b.String()
}

// String is the hint in the CLI's words.
func (h Hint) String() string { return h.Render(nil) }

// Empty says whether the hint says nothing.
func (h Hint) Empty() bool { return h.String() == "" }

// Remedies lists the remedies in the hint, in order.
func (h Hint) Remedies() []Remedy {
	var out []Remedy
	for _, p := range h {
		if r, ok := p.(Remedy); ok {
			out = append(out, r)
		}
	}
	return out
}

// Hinted is an error that says what to do about it: a *Refusal, a
// *HintError, and libvirtx's LibvirtError and ConnectError. Error() is the
// CLI's one line, the hint included; a front end that shows the hint on
// its own finds it with errors.As (or SplitHint).
type Hinted interface {
	error
	// Message is the error's text without the hint.
	Message() string
	// Hint is what to do; empty when nothing is known.
	Hint() Hint
}

// HintError is an error with a hint. Error() is the error's text, then
// "; hint: " and the hint in CLI words, as libvirtx's LibvirtError prints.
type HintError struct {
	Err error
	Fix Hint
}

// WithHint attaches a hint to err; an empty hint leaves err as it is.
func WithHint(err error, h Hint) error {
	if err == nil || h.Empty() {
		return err
	}
	return &HintError{Err: err, Fix: h}
}

func (e *HintError) Error() string {
	if e.Fix.Empty() {
		return e.Message()
	}
	return e.Message() + "; hint: " + e.Fix.String()
}

// Message is the error's text without the hint.
func (e *HintError) Message() string { return e.Err.Error() }

// Hint is what to do.
func (e *HintError) Hint() Hint { return e.Fix }

func (e *HintError) Unwrap() error { return e.Err }

// SplitHint is err's text with its hint left out, and the hint, found
// through any wrapping: the text a wrapper adds around the hinted error
// stays. An error without a hint gives its own text and an empty Hint.
func SplitHint(err error) (msg string, hint Hint) {
	if err == nil {
		return "", nil
	}
	var h Hinted
	if !errors.As(err, &h) || h.Hint().Empty() {
		return err.Error(), nil
	}
	return strings.Replace(err.Error(), h.Error(), h.Message(), 1), h.Hint()
}

// OneLine folds a message onto one line, its runs of white space (new
// lines too: some libvirt errors have several) made one space.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
