#!/usr/bin/env bash
# The loop admins run today to see every backing chain on a host, timed by
# scripts/bench.sh against `virtchain list --json`: for each domain,
# `virsh domblklist`, then `qemu-img info -U --backing-chain` for each disk.
set -u
uri=${1:-qemu:///system}
virsh -c "$uri" list --all --name | while read -r dom; do
	[ -n "$dom" ] || continue
	virsh -c "$uri" domblklist "$dom" --details | while read -r type device _target source; do
		[ "$type" = file ] && [ "$device" = disk ] || continue
		qemu-img info -U --backing-chain --output=json "$source" >/dev/null
	done
done
