package dialog

import (
	"regexp"
	"strings"
	"virtchain/model"
	"virtchain/ui/common"
)

// Transitional. model words a fix as a model.Remedy, which the TUI words
// as a key or a form field (common.KeyMap.RemedyWords) and the CLI as a
// flag. Until every rule in model and every libvirtx error does so (branch
// i9-model), a fix still written in CLI words ("--metadata-only", "add
// --running or --paused") is reworded here, and a libvirtx error whose
// hint is only in its text has it cut out (textHint). Both go, with this
// file, once that branch is on main.

// shellWord matches one argument as model.ShellQuote writes it.
const shellWord = `(?:'(?:[^']|'\\'')*'|[^\s']+)`

// tuiPhrases maps CLI phrases to what the TUI user presses or chooses,
// narrow ones first. The key names come from the keymap (keys.go).
var tuiPhrases = []struct {
	re   *regexp.Regexp
	with func(km *common.KeyMap) string
}{
	{regexp.MustCompile(`(?:virtchain )?snapshot delete(?: ` + shellWord + `){0,2} --metadata-only`),
		func(km *common.KeyMap) string {
			return "the " + km.SnapDeleteMetadata.Help().Key + " key on the snapshot tab"
		}},
	{regexp.MustCompile(`\(--external\)`),
		func(*common.KeyMap) string { return "(Kind: external disk-only or checkpoint)" }},
	{regexp.MustCompile(`add --running or --paused`),
		func(*common.KeyMap) string { return "choose running or paused under Afterwards" }},
	{regexp.MustCompile(`drop --quiesce`),
		func(*common.KeyMap) string { return "turn Quiesce off" }},
	{regexp.MustCompile(`add --force`),
		func(*common.KeyMap) string { return "turn Force on" }},
	{regexp.MustCompile(`--force`),
		func(*common.KeyMap) string { return "Force" }},
	{regexp.MustCompile(`use virtchain save DOMAIN FILE instead`),
		func(km *common.KeyMap) string { return "save it to a file with " + km.Save.Help().Key + " instead" }},
	// The file ends before a trailing colon or comma: ShellQuote leaves
	// ':' and ',' unquoted, and the sentence needs them.
	{regexp.MustCompile(`virtchain restore (?:'(?:[^']|'\\'')*'|[^\s']*[^\s':,])`),
		func(km *common.KeyMap) string { return km.Restore.Help().Key + " (restore) in the domain list" }},
	{regexp.MustCompile(`run again without --readonly`),
		func(*common.KeyMap) string { return "restart without --readonly" }},
}

// tuiWords rewrites a refusal, hint or warning from CLI wording to TUI
// wording.
func tuiWords(km *common.KeyMap, s string) string {
	if km == nil || !strings.Contains(s, "--") && !strings.Contains(s, "virtchain restore") {
		return s
	}
	for _, p := range tuiPhrases {
		s = p.re.ReplaceAllStringFunc(s, func(string) string { return p.with(km) })
	}
	return s
}

// textHint cuts the hint libvirtx appended to an error's text, or finds
// the known hint for libvirt's text.
func textHint(msg string) (string, string) {
	if i := strings.LastIndex(msg, "; hint: "); i >= 0 {
		return msg[:i], msg[i+len("; hint: "):]
	}
	return msg, model.ErrorHint(msg)
}
