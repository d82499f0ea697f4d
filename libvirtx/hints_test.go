package libvirtx

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"

	"virtchain/model"
)

func TestErrorHint(t *testing.T) {
	cases := map[string]string{
		"argument unsupported: QEMU guest agent is not connected":                                            "qemu-guest-agent",
		"unsupported configuration: revert to external snapshot not supported yet":                           "before 9.9",
		"internal error: process exited while connecting to monitor: Could not open '/x': Permission denied": "AppArmor",
		"Requested operation is not valid: domain is not running":                                            "start the domain",
		"operation failed: cannot delete external snapshots when there is another active block job":          "blockjob",
		"some unknown failure": "",
		"operation failed: /usr/lib/libvirt/libvirt_iohelper: failure with /x/s.save: Unable to write /x/s.save: No space left on device": "filesystem is full",
	}
	for msg, want := range cases {
		got := errorHint(msg).String()
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("errorHint(%q) = %q, want it to contain %q", msg, got, want)
		}
	}
}

// The hints that name a flag carry it as a remedy, so the TUI can word it.
func TestErrorHintRemedies(t *testing.T) {
	for msg, want := range map[string]model.Action{
		"argument unsupported: QEMU guest agent is not connected":                             model.DoDropQuiesce,
		"revert requires force: target snapshot":                                              model.DoForce,
		"operation requires force":                                                            model.DoAddForce,
		"operation forbidden: read only access prevents virDomainSnapshotCreateXML":           model.DoWritable,
		"could not find base disk source in disk source chain":                                model.DoDeleteMetadata,
		"Domain snapshot not found: no domain snapshot with matching name 'x'":                model.DoListSnapshots,
		"Domain not found: no domain with matching name 'x'":                                  model.DoListDomains,
		"unsupported configuration: internal snapshots of a VM with pflash are not supported": model.DoExternal,
	} {
		rs := errorHint(msg).Remedies()
		if len(rs) != 1 || rs[0].Action != want {
			t.Errorf("errorHint(%q) remedies %v, want action %d", msg, rs, want)
		}
	}
	if got, want := errorHint("could not find base disk source in disk source chain").String(),
		"the snapshot's metadata names files that left the chain (after a commit or pull): remove it with virtchain snapshot delete --metadata-only"; got != want {
		t.Errorf("stale hint %q", got)
	}
}

// The UI finds an operation's hint with errors.As through wrapping, and
// the text around it stays.
func TestLibvirtErrorHintThroughWrapping(t *testing.T) {
	err := opErr("revert d to s1", libvirt.Error{Code: libvirt.ERR_OPERATION_INVALID, Message: "revert requires force: target\nsnapshot"})
	if got, want := err.Error(), "revert d to s1: revert requires force: target snapshot; hint: libvirt needs --force for this revert: the domain is stopped and started again, and its current state is lost"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("step 3: %w", err)
	var h model.Hinted
	if !errors.As(wrapped, &h) || h.Message() != "revert d to s1: revert requires force: target snapshot" {
		t.Fatalf("errors.As: %v", h)
	}
	msg, hint := model.SplitHint(wrapped)
	if msg != "step 3: revert d to s1: revert requires force: target snapshot" || !strings.HasPrefix(hint.String(), "libvirt needs --force") {
		t.Errorf("SplitHint: %q / %q", msg, hint)
	}
	tui := hint.Render(func(r model.Remedy) string { return "Force" })
	if !strings.HasPrefix(tui, "libvirt needs Force for this revert") {
		t.Errorf("TUI words: %q", tui)
	}
	ce := classifyConnectError("qemu:///system", false, errors.New("Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory"))
	if !errors.As(fmt.Errorf("open: %w", ce), &h) || h.Hint().Empty() || !strings.HasPrefix(h.Message(), "cannot connect to qemu:///system: ") {
		t.Errorf("ConnectError as model.Hinted: %v", h)
	}
}
