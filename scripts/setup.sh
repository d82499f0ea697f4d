#!/usr/bin/env bash
# Installs what virtchain needs on Debian 12 and makes sure libvirtd answers.
# Safe to run twice. These machines have no systemd, so the daemons are
# started by hand when `virsh version` does not answer.
set -euo pipefail

uri=qemu:///system
# ca-certificates: the first build fetches Go modules over HTTPS, and a
# minimal Debian 12 image has no CA bundle. debootstrap and openssh-client:
# the second test host (scripts/testhost.sh) and qemu+ssh to it;
# openssh-server: the sshd through which qemu+ssh reaches this machine's
# own libvirtd in tests (testhost.sh up local-ssh). Without systemd its
# package starts no daemon, and testhost.sh runs its own on a loopback port.
# tmux and fonts-dejavu-core: `make screenshots` drives the TUI in tmux and
# draws its screens with the DejaVu fonts. patch: `make build` patches a
# copy of the libvirt module so that libvirt loads at its first use
# (scripts/libvirt_lazy.sh); minimal images lack it.
need=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils libvirt-dev pkg-config jq tmux fonts-dejavu-core patch gcc make ca-certificates debootstrap openssh-client openssh-server)

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	sudo_ apt-get update -q
	sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null 2>&1 || { echo "setup: Go is missing: install Go 1.26 into /usr/local/go" >&2; exit 1; }

# Without udev nobody hands /dev/kvm to the kvm group; QEMU runs as
# libvirt-qemu (group kvm) and needs it to use hardware acceleration.
if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
	sudo_ chgrp kvm /dev/kvm && sudo_ chmod 0660 /dev/kvm || true
fi

answers() { timeout 10 virsh -c "$uri" version >/dev/null 2>&1; }

if ! answers; then
	echo "setup: starting virtlogd and libvirtd"
	# A daemon of a test host's root (scripts/testhost.sh) has the same
	# name, so look at this root's pid files, not at process names; a
	# stale pid file is left by a daemon that crashed.
	running() { [ -s "/run/$1.pid" ] && [ "$(readlink "/proc/$(cat "/run/$1.pid")/root" 2>/dev/null)" = / ]; }
	running virtlogd || sudo_ virtlogd -d
	running libvirtd || { sudo_ rm -f /run/libvirtd.pid; sudo_ libvirtd -d; }
	for _ in $(seq 1 60); do
		answers && break
		sleep 0.5
	done
fi
if ! answers; then
	echo "setup: libvirtd does not answer on $uri; see /var/log/libvirt/libvirtd.log" >&2
	exit 1
fi
echo "setup: libvirt answers on $uri ($(virsh -c "$uri" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: *//p' | head -1))"
