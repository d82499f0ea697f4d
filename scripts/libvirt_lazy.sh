#!/usr/bin/env bash
# libvirt_lazy.sh prepares the build of virtchain against libvirt.org/go/libvirt
# with its one init() made lazy, and prints the go.mod to build with
# (go build -modfile ...).
#
# Why: the module's error.go has an init() that calls virSetErrorFunc, and
# with the libvirt_dlopen tag that call dlopens libvirt.so.0 and its 56
# libraries (8-13 ms here) in every process, even `virtchain version`. The
# module has no switch for it (v1.12006.0 is the same). The patch
# (scripts/libvirt-lazy-init.patch) moves that call into libvirtLoad, the
# function every wrapper goes through before its first libvirt call, so
# libvirt is loaded and its error printer silenced at the first call
# instead. Two more changes cut what a connection's first call costs:
# libvirt.so.0 is opened RTLD_LAZY (its libraries' functions bound when
# first called), and EventRegisterDefaultImpl no longer initializes the
# admin API, which virtchain never uses and whose library it would load.
# Nothing of the module is kept in this repository: the module is
# copied from the module cache (checked against go.sum by the go command)
# into ~/.cache/virtchain/, patched there, and used through a replace in
# .build/go.mod, which `make build` passes as -modfile.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mod=libvirt.org/go/libvirt
ver=$($GO list -m -f '{{.Version}}' "$mod")
src=$($GO list -m -f '{{.Dir}}' "$mod")
if [ -z "$src" ] || [ ! -d "$src" ]; then
	$GO mod download "$mod" >/dev/null
	src=$($GO list -m -f '{{.Dir}}' "$mod")
fi
out=$PWD/.build
want=$(sha256sum scripts/libvirt-lazy-init.patch | cut -c1-12)
# The patched copy lives outside the work tree (gofmt and the linters walk
# it), named by version and patch, so worktrees and rebuilds share it.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/virtchain
dst=$cache/libvirt-$ver-lazy-$want
if [ ! -d "$dst" ]; then
	mkdir -p "$cache" "$out"
	tmp=$(mktemp -d "$cache/.libvirt-$ver.XXXXXX")
	cp -r "$src/." "$tmp"
	chmod -R u+w "$tmp"
	if ! patch -s -p1 -d "$tmp" <scripts/libvirt-lazy-init.patch; then
		rm -rf "$tmp"
		echo "libvirt_lazy: scripts/libvirt-lazy-init.patch does not apply to $mod $ver: update the patch for this version" >&2
		exit 1
	fi
	chmod 0755 "$tmp"
	mv -T "$tmp" "$dst" 2>/dev/null || rm -rf "$tmp" # another build made it first
fi
mkdir -p "$out"
# The build's go.mod: the project's own plus the replace; go.sum beside it.
{ cat go.mod; echo; echo "replace $mod => $dst"; } >"$out/go.mod.tmp"
mv "$out/go.mod.tmp" "$out/go.mod"
cp go.sum "$out/go.sum"
echo "$out/go.mod"
