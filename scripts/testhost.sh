#!/usr/bin/env bash
# A second libvirt host on this machine, for tests: a Debian root made with
# debootstrap, with its own virtlogd, libvirtd and sshd, and /var/tmp
# bind-mounted at the same path as shared storage (what an NFS export is on
# a cluster). No systemd, no containers: a chroot with /proc, /dev, /dev/pts
# and /sys bound in and a tmpfs on its /run.
#
#   testhost.sh up [NAME]       build (cached) and start host NAME
#   testhost.sh down [NAME]     stop its daemons and unmount everything
#   testhost.sh uri [NAME]      print its qemu+unix URI
#   testhost.sh ssh-uri [NAME]  print its qemu+ssh URI (through its sshd)
#   testhost.sh root [NAME]     print the folder its daemons see as /
#   testhost.sh status [NAME]   say whether it answers
#
# NAME is trixie (Debian 13: libvirt 11.3, QEMU 10.0; the default) or
# trixie-backports (libvirt 12.x and QEMU from Debian 13's backports).
# local-ssh is no second host but a way into the first: an sshd of its own
# on 127.0.0.1:2230 that lets the test key log in as root, so that
# qemu+ssh reaches the machine's own libvirtd (libvirt 9.0) through ssh and
# libvirt's remote helper as a remote admin's connection does. Its uri is
# qemu:///system and its root "/"; up and down start and stop only that
# sshd, never the machine's libvirtd.
set -euo pipefail

name=${2:-trixie}
case $name in
trixie) suite=trixie backports= port=2231 ;;
trixie-backports) suite=trixie backports=trixie-backports port=2232 ;;
local-ssh) suite= backports= port=2230 ;;
*) echo "testhost: unknown host $name: use trixie, trixie-backports or local-ssh" >&2; exit 2 ;;
esac

cache=${VIRTCHAIN_CACHE:-/var/cache/virtchain}
root=$cache/hosts/$name
keydir=$cache/ssh
stamp=$root/.virtchain-ready
shared=/var/tmp
pkgs=(libvirt-daemon-driver-qemu libvirt-daemon-driver-storage libvirt-daemon libvirt-clients qemu-system-x86 qemu-utils openssh-server)

die() { echo "testhost: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root: it mounts and chroots"

uri() { echo "qemu+unix:///system?socket=$root/run/libvirt/libvirt-sock"; }
[ "$name" != local-ssh ] || { root=/ stamp=; uri() { echo qemu:///system; }; }
ssh_uri() { echo "qemu+ssh://root@127.0.0.1:$port/system?keyfile=$keydir/id_ed25519&no_verify=1&no_tty=1"; }

# mirror is the Debian mirror this machine's own apt sources use, so no
# address is written into the project.
mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1=="deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}')
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
			awk 'tolower($1)=="uris:" && $2 !~ /security/ {print $2; exit}')
	fi
	[ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list*: add one"
	echo "$m"
}

# pids_in lists the processes whose root is the host's root, or only
# those named $1.
pids_in() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] || continue
		[ -z "${1:-}" ] || [ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] || continue
		echo "${p#/proc/}"
	done
	return 0
}

mounted() { mountpoint -q "$root/$1"; }

healthy() {
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pkgs[*]} $backports" ] &&
		chroot "$root" libvirtd --version >/dev/null 2>&1 &&
		chroot "$root" qemu-system-x86_64 --version >/dev/null 2>&1
}

build() {
	local m
	m=$(mirror)
	command -v debootstrap >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
	}
	echo "testhost: building $name in $root from $m (about a minute, 600 MB)"
	down_mounts
	rm -rf "$root"
	mkdir -p "$root"
	debootstrap --variant=minbase "$suite" "$root" "$m" >"$cache/$name-debootstrap.log" 2>&1 ||
		die "debootstrap failed: see $cache/$name-debootstrap.log"
	echo "deb $m $suite main" >"$root/etc/apt/sources.list"
	local target=()
	if [ -n "$backports" ]; then
		echo "deb $m $backports main" >>"$root/etc/apt/sources.list"
		target=(-t "$backports")
	fi
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	mount_all
	# policy-rc.d keeps the packages' scripts from starting daemons.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	chroot "$root" env DEBIAN_FRONTEND=noninteractive bash -c \
		"apt-get update -q && apt-get install -y -q --no-install-recommends ${target[*]} ${pkgs[*]}" \
		>"$cache/$name-apt.log" 2>&1 || die "apt-get inside $root failed: see $cache/$name-apt.log"
	configure
	echo "${pkgs[*]} $backports" >"$stamp"
}

# configure writes what QEMU needs in a chroot: no mount namespace ("Failed
# disable mount propagation" otherwise), no cgroups shared with the first
# host, and QEMU as root, since the kvm group's gid differs inside (102)
# from outside (107) and /dev/kvm could not be opened.
configure() {
	cat >"$root/etc/libvirt/qemu.conf" <<-'EOF'
		namespaces = [ ]
		cgroup_controllers = [ ]
		user = "root"
		group = "root"
	EOF
	mkdir -p "$keydir" && chmod 0700 "$keydir"
	[ -f "$keydir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$keydir/id_ed25519"
	mkdir -p "$root/root/.ssh" && chmod 0700 "$root/root/.ssh"
	cp "$keydir/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
	chroot "$root" ssh-keygen -A >/dev/null
	cat >"$root/etc/ssh/sshd_virtchain" <<-EOF
		ListenAddress 127.0.0.1
		Port $port
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		PidFile /run/sshd.pid
	EOF
}

mount_all() {
	local d
	for d in proc dev dev/pts sys; do
		mkdir -p "$root/$d"
		mounted "$d" || mount --bind "/$d" "$root/$d"
	done
	mounted run || mount -t tmpfs -o mode=0755 tmpfs "$root/run"
	share
	mkdir -p "$root$shared"
	mounted "${shared#/}" || mount --rbind "$shared" "$root$shared"
}

# share makes $shared a shared mount of its own, so that what is mounted
# under it later (a test's loop filesystem) shows in every root, as it
# would on NFS. The marker says this script made it, so down can undo it.
share() {
	if ! mountpoint -q "$shared"; then
		mount --rbind "$shared" "$shared"
		touch "$cache/.shared-bind"
	fi
	mount --make-rshared "$shared"
}

unshare_if_last() {
	[ -f "$cache/.shared-bind" ] || return 0
	local r
	for r in "$cache"/hosts/*; do
		mountpoint -q "$r$shared" 2>/dev/null && return 0
	done
	umount "$shared" 2>/dev/null && rm -f "$cache/.shared-bind"
	return 0
}

down_mounts() {
	local d
	for d in "${shared#/}" run sys dev/pts dev proc; do
		[ -d "$root/$d" ] && mounted "$d" && { umount -R "$root/$d" || umount -R -l "$root/$d"; }
	done
	unshare_if_last
}

answers() { timeout 10 virsh -c "$(uri)" version >/dev/null 2>&1; }

up() {
	healthy || build
	mount_all
	# A key made after the root was built (a cleaned cache folder) still
	# has to be the one sshd accepts.
	[ -f "$keydir/id_ed25519" ] && [ -f "$root/etc/ssh/sshd_virtchain" ] || configure
	cp "$keydir/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
	if ! answers; then
		mkdir -p "$root/run/libvirt" "$root/run/sshd"
		[ -n "$(pids_in virtlogd)" ] || chroot "$root" virtlogd -d
		[ -n "$(pids_in libvirtd)" ] || chroot "$root" libvirtd -d
		for _ in $(seq 1 60); do
			answers && break
			sleep 0.5
		done
		answers || die "libvirtd in $root does not answer; see $root/var/log/libvirt/"
	fi
	if ! [ -s "$root/run/sshd.pid" ] || ! kill -0 "$(cat "$root/run/sshd.pid")" 2>/dev/null; then
		mkdir -p "$root/run/sshd"
		chroot "$root" /usr/sbin/sshd -f /etc/ssh/sshd_virtchain
	fi
	echo "testhost: $name answers on $(uri) ($(virsh -c "$(uri)" version --daemon | sed -n 's/^Running against daemon: *//p'))"
}

down() {
	[ -d "$root" ] || return 0
	local pids
	pids=$(pids_in)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill $pids 2>/dev/null || true
		for _ in $(seq 1 20); do
			[ -z "$(pids_in)" ] && break
			sleep 0.25
		done
		pids=$(pids_in)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	fi
	down_mounts
	echo "testhost: $name is down"
}

# The local-ssh sshd keeps its configuration, host key and pid file in
# $cache/local-ssh, apart from the machine's /etc/ssh, and accepts only the
# test key (AuthorizedKeysFile names it), so it never opens the machine to
# anything else.
lssh=$cache/local-ssh

lssh_running() { [ -s "$lssh/sshd.pid" ] && kill -0 "$(cat "$lssh/sshd.pid")" 2>/dev/null; }

lssh_up() {
	[ -x /usr/sbin/sshd ] || die "sshd is missing: install openssh-server (make setup)"
	answers || die "the machine's libvirtd does not answer on $(uri): run make setup"
	mkdir -p "$keydir" "$lssh" && chmod 0700 "$keydir" "$lssh"
	[ -f "$keydir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$keydir/id_ed25519"
	[ -f "$lssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$lssh/ssh_host_ed25519_key"
	cat >"$lssh/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $port
		HostKey $lssh/ssh_host_ed25519_key
		AuthorizedKeysFile $keydir/id_ed25519.pub
		AllowUsers root
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		PidFile $lssh/sshd.pid
	EOF
	if ! lssh_running; then
		mkdir -p /run/sshd
		/usr/sbin/sshd -f "$lssh/sshd_config" -E "$lssh/sshd.log" || die "sshd did not start: see $lssh/sshd.log"
	fi
	for _ in $(seq 1 20); do
		timeout 10 virsh -c "$(ssh_uri)" version >/dev/null 2>&1 && break
		sleep 0.5
	done
	timeout 10 virsh -c "$(ssh_uri)" version >/dev/null 2>&1 || die "libvirt does not answer on $(ssh_uri); see $lssh/sshd.log"
	echo "testhost: local-ssh answers on $(ssh_uri)"
}

lssh_down() {
	lssh_running && kill "$(cat "$lssh/sshd.pid")" 2>/dev/null || true
	rm -f "$lssh/sshd.pid"
	echo "testhost: local-ssh is down"
}

if [ "$name" = local-ssh ]; then
	case ${1:-} in
	up) lssh_up ;;
	down) lssh_down ;;
	uri) uri ;;
	ssh-uri) ssh_uri ;;
	root) echo / ;;
	status) if lssh_running && answers; then echo "testhost: local-ssh answers on $(ssh_uri)"; else echo "testhost: local-ssh is down"; exit 1; fi ;;
	*) echo "usage: testhost.sh up|down|uri|ssh-uri|root|status local-ssh" >&2; exit 2 ;;
	esac
	exit 0
fi

case ${1:-} in
up) up ;;
down) down ;;
uri) uri ;;
ssh-uri) ssh_uri ;;
root) echo "$root" ;;
status) if answers; then echo "testhost: $name answers on $(uri)"; else echo "testhost: $name is down"; exit 1; fi ;;
*) echo "usage: testhost.sh up|down|uri|ssh-uri|root|status [trixie|trixie-backports|local-ssh]" >&2; exit 2 ;;
esac
