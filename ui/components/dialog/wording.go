package dialog

import (
	"regexp"
	"strings"
	"virtchain/ui/common"
)

// The rules in model word their fixes for the CLI ("--metadata-only",
// "add --running or --paused"), which is what a script or an SSH session
// needs. In the TUI the same fix is a key or a form field, so the dialog
// rewrites those phrases before showing them; the CLI keeps its wording.

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
