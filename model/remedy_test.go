package model

import (
	"errors"
	"fmt"
	"testing"
)

// Each action's CLI words are the ones virtchain printed before remedies
// were types; the CLI tests assert on them.
func TestRemedyCLIWords(t *testing.T) {
	for _, tc := range []struct {
		r    Remedy
		want string
	}{
		{Do(DoDeleteMetadata, "my vm", "it's"), `virtchain snapshot delete 'my vm' 'it'\''s' --metadata-only`},
		{Do(DoDeleteMetadata, "d", "NAME"), "virtchain snapshot delete d NAME --metadata-only"},
		{Do(DoDeleteMetadata), "virtchain snapshot delete --metadata-only"},
		{Do(DoExternal), "--external"},
		{Do(DoStartMode), "add --running or --paused"},
		{Do(DoDropQuiesce), "drop --quiesce"},
		{Do(DoAddForce), "add --force"},
		{Do(DoForce), "--force"},
		{Do(DoSaveInstead), "use virtchain save DOMAIN FILE instead"},
		{Do(DoRestore, "/var/tmp/my d.save"), "virtchain restore '/var/tmp/my d.save'"},
		{Do(DoRestore, "/var/tmp/d.save"), "virtchain restore /var/tmp/d.save"},
		{Do(DoWritable), "run again without --readonly"},
		{Do(DoListDomains), "'virtchain list'"},
		{Do(DoListSnapshots, "lab a"), "virtchain snapshots 'lab a'"},
		{Do(DoListSnapshots), "virtchain snapshots DOMAIN"},
		{Do(DoAbortJob, "d", "vda"), "'virtchain abort d vda'"},
		{Do(DoListJobs), "'virtchain jobs'"},
		{Do(DoKeepCurrent), "leave out --discard-current"},
		{Do(DoDiscardCurrent), "add --discard-current"},
	} {
		if got := tc.r.CLI(); got != tc.want {
			t.Errorf("%v: CLI() = %q, want %q", tc.r, got, tc.want)
		}
	}
	if ReadOnlyHint.String() != "run again without --readonly" {
		t.Errorf("ReadOnlyHint %q", ReadOnlyHint)
	}
}

func TestRefusalRendersRemediesTwoWays(t *testing.T) {
	err := RefuseDo("no memory", Words("make an external snapshot instead ("), Do(DoExternal), Words("), or "), Do(DoDropQuiesce))
	if got, want := err.Error(), "no memory; make an external snapshot instead (--external), or drop --quiesce"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var r *Refusal
	if !errors.As(err, &r) || r.Hint().String() != "make an external snapshot instead (--external), or drop --quiesce" {
		t.Fatalf("the refusal's hint: %#v", err)
	}
	tui := func(r Remedy) string { return fmt.Sprintf("<%d>", r.Action) }
	if got, want := r.Render(tui), fmt.Sprintf("no memory; make an external snapshot instead (<%d>), or <%d>", DoExternal, DoDropQuiesce); got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if got := Refuse("shut off", "").Error(); got != "shut off" {
		t.Errorf("no fix: %q", got)
	}
	if rr := (&Refusal{Reason: "old", Instead: Say("by hand")}); rr.Error() != "old; by hand" || rr.Hint().String() != "by hand" {
		t.Errorf("hand-built refusal: %q", rr.Error())
	}
}

func TestSplitHintFindsHintThroughWrapping(t *testing.T) {
	inner := WithHint(errors.New("revert d: permission denied"), Hint{Words("fix it or "), Do(DoForce)})
	if inner.Error() != "revert d: permission denied; hint: fix it or --force" {
		t.Fatalf("HintError: %q", inner)
	}
	wrapped := fmt.Errorf("step 2: %w (after 3 tries)", inner)
	msg, hint := SplitHint(wrapped)
	if msg != "step 2: revert d: permission denied (after 3 tries)" || hint.String() != "fix it or --force" {
		t.Errorf("SplitHint = %q, %q", msg, hint)
	}
	var h Hinted
	if !errors.As(wrapped, &h) || h.Message() != "revert d: permission denied" {
		t.Errorf("errors.As: %v", h)
	}
	msg, hint = SplitHint(fmt.Errorf("planning: %w", NoDomain("x")))
	if msg != `planning: no domain "x"` || hint.String() != "list domains with 'virtchain list'" {
		t.Errorf("refusal: %q, %q", msg, hint)
	}
	if msg, hint := SplitHint(errors.New("plain")); msg != "plain" || !hint.Empty() {
		t.Errorf("plain: %q %q", msg, hint)
	}
	if WithHint(nil, Say("x")) != nil {
		t.Error("WithHint(nil)")
	}
}

func TestPlanWarningsInOwnWords(t *testing.T) {
	var p Plan
	p.Warn(Words("start d only through "), Do(DoRestore, "/s.save"), Words(": booting it fresh"))
	p.Warnings = append(p.Warnings, "added by hand --force")
	p.Warn(Do(DoForce), Words(" changes nothing"))
	want := []string{"start d only through virtchain restore /s.save: booting it fresh", "added by hand --force", "--force changes nothing"}
	if fmt.Sprint(p.Warnings) != fmt.Sprint(want) {
		t.Fatalf("Warnings %q", p.Warnings)
	}
	got := p.WarningsIn(func(Remedy) string { return "X" })
	if fmt.Sprint(got) != fmt.Sprint([]string{"start d only through X: booting it fresh", "added by hand --force", "X changes nothing"}) {
		t.Errorf("WarningsIn %q", got)
	}
}

func TestDiskPosAndOneLine(t *testing.T) {
	d := Disk{Layers: []Layer{{Path: "/a"}, {Path: "/b"}}}
	if d.Pos("/b") != 1 || d.Pos("/a") != 0 || d.Pos("/c") != -1 {
		t.Errorf("Pos: %d %d %d", d.Pos("/a"), d.Pos("/b"), d.Pos("/c"))
	}
	if OneLine(" a\n\tb  c ") != "a b c" {
		t.Errorf("OneLine %q", OneLine(" a\n\tb  c "))
	}
}
