package model

import "strings"

// The table that matches libvirt's error text lives in libvirtx now, which
// attaches the hint to the error it returns (model.Hinted). This copy stays
// only until ui/ reads hints with errors.As; then this file goes.

// errorHints maps pieces of libvirt and QEMU error text to a one-line hint.
// The first entry whose every piece occurs (case-insensitively) wins, so
// the narrow ones come first.
var errorHints = []struct {
	pieces []string
	hint   string
}{
	{[]string{"no space left on device"}, "the filesystem is full: free space there, or write the file to another filesystem"},
	{[]string{"guest agent", "not connected"}, "the QEMU guest agent is missing or not running: install and start qemu-guest-agent in the guest (with an org.qemu.guest_agent.0 channel), or drop --quiesce"},
	{[]string{"guest agent", "not responding"}, "the QEMU guest agent does not answer: start qemu-guest-agent in the guest, or drop --quiesce"},
	{[]string{"guest agent"}, "the QEMU guest agent is needed: install and start qemu-guest-agent in the guest, or drop --quiesce"},
	{[]string{"revert to external snapshot not supported"}, "this libvirt (before 9.9) cannot revert external snapshots; virtchain reverts them itself when the capabilities lack <externalSnapshot/>"},
	{[]string{"revert requires force"}, "libvirt needs --force for this revert: the domain is stopped and started again, and its current state is lost"},
	{[]string{"requires force"}, "add --force if losing the current state is acceptable"},
	{[]string{"read only access"}, ReadOnlyFix},
	{[]string{"permission denied"}, "QEMU (user libvirt-qemu, confined by AppArmor) cannot open a file: make each folder on the path traversable (chmod 755), and look for DENIED in dmesg or /var/log/syslog"},
	{[]string{"apparmor"}, "AppArmor blocked QEMU: look for DENIED in dmesg, and make sure the image and its backing files are in the domain's disk chain"},
	{[]string{"failed to get", "lock"}, "another process holds the image open (QEMU of another domain, or a qemu-img/qemu-io): stop it first"},
	{[]string{"block job"}, "a block job runs on this domain: wait for it to finish, or stop it with virsh blockjob DOMAIN DISK --abort"},
	{[]string{"block copy"}, "a block job runs on this domain: wait for it to finish, or stop it with virsh blockjob DOMAIN DISK --abort"},
	{[]string{"could not find base disk source in disk source chain"}, "the snapshot's metadata names files that left the chain (after a commit or pull): remove it with snapshot delete --metadata-only"},
	{[]string{"no domain snapshot with matching name"}, "see the domain's snapshots with virtchain snapshots DOMAIN"},
	{[]string{"no domain with matching"}, "list domains with 'virtchain list'"},
	{[]string{"domain is not running"}, "start the domain first"},
	{[]string{"domain is already active"}, "the domain is running: stop it first"},
	{[]string{"domain is already running"}, "the domain is running: stop it first"},
	{[]string{"already exists"}, "choose another file name or snapshot name"},
	{[]string{"no such file or directory"}, "a file or folder on the path is missing: check it with ls -l"},
	{[]string{"invalid snapshot name"}, "choose a snapshot name without '/' that does not start with '.'"},
	{[]string{"pflash"}, "this domain boots UEFI from pflash, which rules out internal snapshots: make an external snapshot (--external) instead"},
	{[]string{"not supported"}, "this libvirt or QEMU cannot do it: check virsh version, and the libvirt release notes for the feature"},
	{[]string{"unsupported configuration"}, "this libvirt or QEMU cannot do it with this configuration: see the text for which part"},
	{[]string{"operation not supported"}, "this libvirt or QEMU cannot do it: check virsh version"},
}

// ErrorHint returns a one-line hint for a libvirt or QEMU error message,
// or "" when none is known. The UI and the CLI show it under the error's
// own full text.
//
// Deprecated: libvirtx attaches hints to its errors; read them with
// errors.As (model.Hinted) or SplitHint.
func ErrorHint(msg string) string {
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
	return ""
}
