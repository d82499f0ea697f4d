package dialog

import (
	"testing"

	"virtchain/ui/common"
)

// The rest of TestRefusalHintsUseTUIWording (package ui) drives a refusal
// through the whole UI; this is its table of phrases.
func TestRefusalHintsUseTUIWordingPhrases(t *testing.T) {
	// A warning in a plan: Force in the revert form, not --force.
	km := common.DefaultKeyMap()
	for in, want := range map[string]string{
		"--force changes nothing for virtchain's external revert":                                                       "Force changes nothing for virtchain's external revert",
		"add --running or --paused":                                                                                     "choose running or paused under Afterwards",
		"make an external snapshot instead (--external)":                                                                "make an external snapshot instead (Kind: external disk-only or checkpoint)",
		"install qemu-guest-agent, or drop --quiesce":                                                                   "install qemu-guest-agent, or turn Quiesce off",
		"or remove its metadata with virtchain snapshot delete --metadata-only":                                         "or remove its metadata with the D key on the snapshot tab",
		"remove only its metadata with virtchain snapshot delete 'my vm' 'it'\\''s' --metadata-only (every file stays)": "remove only its metadata with the D key on the snapshot tab (every file stays)",
		"start d only through virtchain restore /var/tmp/d.save: booting it fresh":                                      "start d only through r (restore) in the domain list: booting it fresh",
		"start d only through virtchain restore '/var/tmp/my d.save': booting it fresh":                                 "start d only through r (restore) in the domain list: booting it fresh",
	} {
		if got := tuiWords(km, in); got != want {
			t.Errorf("tuiWords(%q) = %q, want %q", in, got, want)
		}
	}
}
