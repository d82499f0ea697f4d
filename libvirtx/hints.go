package libvirtx

import (
	"strings"

	"virtchain/model"
)

// Matching libvirt's and QEMU's error text happens here only: libvirtx
// attaches the hint to the error it returns (LibvirtError.Fix), and the
// front ends read it through model.Hinted.

// blockJobRuns is the hint for a block job in the way.
var blockJobRuns = model.Say("a block job runs on this domain: wait for it to finish, or stop it with virsh blockjob DOMAIN DISK --abort")

// errorHints maps pieces of libvirt and QEMU error text to a one-line hint.
// The first entry whose every piece occurs (case-insensitively) wins, so
// the narrow ones come first.
var errorHints = []struct {
	pieces []string
	hint   model.Hint
}{
	{[]string{"no space left on device"}, model.Say("the filesystem is full: free space there, or write the file to another filesystem")},
	{[]string{"guest agent", "not connected"}, model.Hint{model.Words("the QEMU guest agent is missing or not running: install and start qemu-guest-agent in the guest (with an org.qemu.guest_agent.0 channel), or "), model.Do(model.DoDropQuiesce)}},
	{[]string{"guest agent", "not responding"}, model.Hint{model.Words("the QEMU guest agent does not answer: start qemu-guest-agent in the guest, or "), model.Do(model.DoDropQuiesce)}},
	{[]string{"guest agent"}, model.Hint{model.Words("the QEMU guest agent is needed: install and start qemu-guest-agent in the guest, or "), model.Do(model.DoDropQuiesce)}},
	{[]string{"revert to external snapshot not supported"}, model.Say("this libvirt (before 9.9) cannot revert external snapshots; virtchain reverts them itself when the capabilities lack <externalSnapshot/>")},
	{[]string{"revert requires force"}, model.Hint{model.Words("libvirt needs "), model.Do(model.DoForce), model.Words(" for this revert: the domain is stopped and started again, and its current state is lost")}},
	{[]string{"requires force"}, model.Hint{model.Do(model.DoAddForce), model.Words(" if losing the current state is acceptable")}},
	{[]string{"read only access"}, model.ReadOnlyHint},
	{[]string{"permission denied"}, model.Say("QEMU (user libvirt-qemu, confined by AppArmor) cannot open a file: make each folder on the path traversable (chmod 755), and look for DENIED in dmesg or /var/log/syslog")},
	{[]string{"apparmor"}, model.Say("AppArmor blocked QEMU: look for DENIED in dmesg, and make sure the image and its backing files are in the domain's disk chain")},
	{[]string{"failed to get", "lock"}, model.Say("another process holds the image open (QEMU of another domain, or a qemu-img/qemu-io): stop it first")},
	{[]string{"block job"}, blockJobRuns},
	{[]string{"block copy"}, blockJobRuns},
	{[]string{"could not find base disk source in disk source chain"}, model.Hint{model.Words("the snapshot's metadata names files that left the chain (after a commit or pull): remove it with "), model.Do(model.DoDeleteMetadata)}},
	{[]string{"no domain snapshot with matching name"}, model.Hint{model.Words("see the domain's snapshots with "), model.Do(model.DoListSnapshots)}},
	{[]string{"no domain with matching"}, model.Hint{model.Words("list domains with "), model.Do(model.DoListDomains)}},
	{[]string{"domain is not running"}, model.Say("start the domain first")},
	{[]string{"domain is already active"}, model.Say("the domain is running: stop it first")},
	{[]string{"domain is already running"}, model.Say("the domain is running: stop it first")},
	{[]string{"already exists"}, model.Say("choose another file name or snapshot name")},
	{[]string{"no such file or directory"}, model.Say("a file or folder on the path is missing: check it with ls -l")},
	{[]string{"invalid snapshot name"}, model.Say("choose a snapshot name without '/' that does not start with '.'")},
	{[]string{"pflash"}, model.Hint{model.Words("this domain boots UEFI from pflash, which rules out internal snapshots: make an external snapshot ("), model.Do(model.DoExternal), model.Words(") instead")}},
	{[]string{"not supported"}, model.Say("this libvirt or QEMU cannot do it: check virsh version, and the libvirt release notes for the feature")},
	{[]string{"unsupported configuration"}, model.Say("this libvirt or QEMU cannot do it with this configuration: see the text for which part")},
	{[]string{"operation not supported"}, model.Say("this libvirt or QEMU cannot do it: check virsh version")},
}

// errorHint is the hint for a libvirt or QEMU error message, or the empty
// Hint when none is known. The UI and the CLI show it under the error's
// own full text.
func errorHint(msg string) model.Hint {
	m := strings.ToLower(msg)
next:
	for _, h := range errorHints {
		for _, p := range h.pieces {
			if !strings.Contains(m, p) {
				continue next
			}
		}
		return h.hint
	}
	return nil
}
