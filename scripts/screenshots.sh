#!/usr/bin/env bash
# Remakes the README's screenshots from the real program: builds a demo lab
# of its own, drives ./virtchain in a tmux of its own at 80x24 through the
# seed's workflows, captures each screen with `tmux capture-pane -e` and
# renders it with scripts/ansishot into assets/screenshots/NAME.png. The lab
# is removed afterwards, also on failure. Needs what scripts/setup.sh
# installs (tmux, fonts-dejavu-core, libvirt) and ./virtchain (make build).
#
# LAB_PREFIX and LAB_DIR pick the lab (default: the demo lab's lab- and
# folder). Domains with that prefix must not exist yet: the run reshapes
# lab-test2, so it never works on a lab it did not make.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

prefix=${LAB_PREFIX:-lab-}
dir=${LAB_DIR:-/var/lib/libvirt/images/virtchain-lab}
out=${OUT:-assets/screenshots}
uri=qemu:///system
bin=$PWD/virtchain
sock=virtchain-screenshots-$$
tmp=$(mktemp -d)

[ -x "$bin" ] || { echo "screenshots: ./virtchain is missing: run make build" >&2; exit 1; }
if virsh -c "$uri" list --all --name | grep -q "^$prefix"; then
	echo "screenshots: domains named $prefix* exist (a demo lab?); the run reshapes lab-test2, so it makes its own lab:" >&2
	echo "  run ./virtchain lab down first, or pick another prefix: make screenshots LAB_PREFIX=shot- LAB_DIR=/var/tmp/shot-lab" >&2
	exit 1
fi

t() { tmux -L "$sock" "$@"; }
cleanup() {
	t kill-server 2>/dev/null || true
	"$bin" -c "$uri" lab down --prefix "$prefix" --dir "$dir" >/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

(cd scripts/ansishot && go build -o "$tmp/ansishot" .)
"$bin" -c "$uri" lab up --prefix "$prefix" --dir "$dir" | tail -1
mkdir -p "$out"

# see waits until the screen shows TEXT (a fixed string).
see() {
	for _ in $(seq 1 150); do
		t capture-pane -p -t shots | grep -qF -- "$1" && return 0
		sleep 0.2
	done
	echo "screenshots: the screen never showed \"$1\":" >&2
	t capture-pane -p -t shots >&2
	exit 1
}
keys() { t send-keys -t shots "$@"; sleep 0.4; }
# panel opens the jobs panel unless it shows already.
panel() { t capture-pane -p -t shots | grep -qF "Block jobs" || keys J; see "Block jobs"; }
shot() {
	sleep 0.5
	# Others' domains coming and going set off full reads: wait one out.
	for _ in $(seq 1 50); do
		t capture-pane -p -t shots | grep -qF "reading libvirt" || break
		sleep 0.2
	done
	t capture-pane -e -p -t shots > "$tmp/$1.ansi"
	"$tmp/ansishot" -o "$out/$1.png" "$tmp/$1.ansi"
	echo "screenshots: $out/$1.png"
}

# -f /dev/null: none of the user's tmux settings change the picture.
t -f /dev/null new-session -d -s shots -x 80 -y 24 "$bin -c $uri --domain ${prefix}test2"
see "${prefix}test2"
see "test2_lsof.qcow2"
keys h
if virsh -c "$uri" list --all --name | grep -v "^$prefix" | grep -q .; then
	# Other domains on this host: show the lab's alone.
	keys / "$prefix" Enter
fi
shot domain-list
keys l

# The seed's commit 2-3 into 1: top test2_net-tools, base test2_test (the
# chain view's first row is the disk, then the layers, active first).
keys g j j t j j b
see "top test2_net-tools.qcow2 → base test2_test.qcow2"
shot commit-range
keys c
see "Carry out this plan?"
shot commit-plan
keys y
see "completed"
# m: remove the metadata of the snapshots the commit made stale.
keys m
see "Carry out this plan?"
keys y
see "✔ Removed the metadata"
keys Escape
panel
keys J
see "4 layers"

# Pull test2_test into the active layer, keeping test2.qcow2, at 1 MiB/s
# (+ once): the jobs panel opens on it.
keys g j j j b +
see "≤1 MiB/s"
keys p
see "Carry out this plan?"
keys y
see "✔ Started pull"
keys Escape
panel
see "Block jobs · 1 running"
# x: other programs' finished jobs on this host leave the panel.
keys x
sleep 3
shot jobs-pull
see "pull on ${prefix}test2 vda completed"
keys Escape
panel
keys J
see "3 layers"

# The branching tree of internal snapshots.
keys h j 2
see "app-v2"
keys k k
shot snapshot-tree

keys '?'
see "Keys"
shot help
keys '?' q
