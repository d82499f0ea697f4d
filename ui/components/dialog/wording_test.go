package dialog

import (
	"testing"

	"virtchain/model"
	"virtchain/ui/common"
)

// The rest of TestRefusalHintsUseTUIWording (package ui) drives a refusal
// through the whole UI; this is its table of phrases, now remedies.
func TestRefusalHintsUseTUIWordingPhrases(t *testing.T) {
	// A warning in a plan: Force in the revert form, not --force. Each
	// hint is built the way model builds it; its CLI words are the
	// left-hand text, its TUI words the right-hand one.
	km := common.DefaultKeyMap()
	W := func(s string) model.HintPart { return model.Words(s) }
	for _, c := range []struct {
		hint     model.Hint
		in, want string
	}{
		{model.Hint{model.Do(model.DoForce), W(" changes nothing for virtchain's external revert")},
			"--force changes nothing for virtchain's external revert", "Force changes nothing for virtchain's external revert"},
		{model.Hint{model.Do(model.DoStartMode)},
			"add --running or --paused", "choose running or paused under Afterwards"},
		{model.Hint{W("make an external snapshot instead ("), model.Do(model.DoExternal), W(")")},
			"make an external snapshot instead (--external)", "make an external snapshot instead (Kind: external disk-only or checkpoint)"},
		{model.Hint{W("install qemu-guest-agent, or "), model.Do(model.DoDropQuiesce)},
			"install qemu-guest-agent, or drop --quiesce", "install qemu-guest-agent, or turn Quiesce off"},
		{model.Hint{W("or remove its metadata with "), model.Do(model.DoDeleteMetadata)},
			"or remove its metadata with virtchain snapshot delete --metadata-only", "or remove its metadata with the D key on the snapshot tab"},
		{model.Hint{W("remove only its metadata with "), model.Do(model.DoDeleteMetadata, "my vm", "it's"), W(" (every file stays)")},
			"remove only its metadata with virtchain snapshot delete 'my vm' 'it'\\''s' --metadata-only (every file stays)", "remove only its metadata with the D key on the snapshot tab (every file stays)"},
		{model.Hint{W("start d only through "), model.Do(model.DoRestore, "/var/tmp/d.save"), W(": booting it fresh")},
			"start d only through virtchain restore /var/tmp/d.save: booting it fresh", "start d only through r (restore) in the domain list: booting it fresh"},
		{model.Hint{W("start d only through "), model.Do(model.DoRestore, "/var/tmp/my d.save"), W(": booting it fresh")},
			"start d only through virtchain restore '/var/tmp/my d.save': booting it fresh", "start d only through r (restore) in the domain list: booting it fresh"},
	} {
		if c.hint.String() != c.in {
			t.Fatalf("the hint reads %q in the CLI, the table says %q", c.hint.String(), c.in)
		}
		if got := c.hint.Render(km.RemedyWords); got != c.want {
			t.Errorf("TUI words of %q = %q, want %q", c.in, got, c.want)
		}
	}
}
