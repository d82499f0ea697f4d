#!/usr/bin/env bash
# Block-job speed: virtchain's commit and pull of a 1 GiB range against
# `virsh blockcommit --wait` and `virsh blockpull --wait` on the same data,
# side by side in alternating rounds (medians; the target ratio is at most
# 1.05).
#
# One running domain (vct-job-bench) reads mid.qcow2 (1 GiB of data) through
# an empty top.qcow2, over an empty base.qcow2:
#   commit: mid's 1 GiB goes down into base (--top mid --base base)
#   pull:   mid's 1 GiB comes up into top   (--base base)
# Before every round, `reset` recreates the images a round changes (empty
# base and/or top; mid is never written) and restarts the domain, so each
# round moves exactly the same data. BENCH_JOB_ROUNDS sets the rounds.
#
#   bash scripts/bench_jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

uri=qemu:///system
name=vct-job-bench
dir=/var/tmp/vct-job-bench
virsh_() { virsh -q -c "$uri" "$@"; }

reset() { # reset commit|pull
	virsh_ destroy "$name" >/dev/null 2>&1 || true
	if [ "$1" = commit ]; then
		qemu-img create -q -f qcow2 "$dir/base.qcow2" 2G
	fi
	qemu-img create -q -f qcow2 -b "$dir/mid.qcow2" -F qcow2 "$dir/top.qcow2"
	virsh_ start "$name" >/dev/null
}

rounds=${BENCH_JOB_ROUNDS:-5}
work=$(mktemp -d /tmp/vct-job-bench.XXXXXX)
cleanup() {
	virsh_ destroy "$name" >/dev/null 2>&1 || true
	virsh_ undefine "$name" --snapshots-metadata --managed-save >/dev/null 2>&1 || true
	rm -rf "$dir" "$work"
}
trap cleanup EXIT
cleanup # leftovers of an interrupted run
mkdir -p "$dir" "$work"
chmod 0755 "$dir"

bin=$work/virtchain
go build -tags libvirt_dlopen -o "$bin" .

echo "bench_jobs: writing 1 GiB into mid.qcow2"
qemu-img create -q -f qcow2 "$dir/base.qcow2" 2G
qemu-img create -q -f qcow2 -b "$dir/base.qcow2" -F qcow2 "$dir/mid.qcow2"
qemu-io -f qcow2 -c "write -P 0x5a 0 1G" "$dir/mid.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b "$dir/mid.qcow2" -F qcow2 "$dir/top.qcow2"
sync

go run ./scripts/benchjobs -name "$name" -disk "$dir/top.qcow2" >"$work/domain.xml"
virsh_ define "$work/domain.xml" >/dev/null
virsh_ start "$name" >/dev/null

# Rounds alternate virtchain and virsh, so a load change on the shared host
# hits both alike; each round starts from freshly reset images and a synced
# page cache (writeback of the round before must not count against the next).
secs() { # secs CMD...: wall time of one run, in seconds
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bench() { # bench commit|pull VIRTCHAIN-ARGS -- VIRSH-ARGS
	local op=$1 i
	shift
	local -a ours theirs
	while [ "$1" != -- ]; do ours+=("$1"); shift; done
	shift
	theirs=("$@")
	: >"$work/$op.virtchain"
	: >"$work/$op.virsh"
	for i in $(seq 0 "$rounds"); do
		reset "$op"; sync
		a=$(secs "$bin" -c "$uri" "${ours[@]}")
		reset "$op"; sync
		b=$(secs virsh -c "$uri" "${theirs[@]}")
		if [ "$i" -gt 0 ]; then # round 0 warms up
			echo "$a" >>"$work/$op.virtchain"
			echo "$b" >>"$work/$op.virsh"
			echo "  $op round $i: virtchain $a s, virsh $b s"
		fi
	done
}
echo "bench_jobs: commit, $rounds rounds each (after one warm-up)"
bench commit commit "$name" vda --top "$dir/mid.qcow2" --base "$dir/base.qcow2" --wait -- \
	blockcommit "$name" vda --top "$dir/mid.qcow2" --base "$dir/base.qcow2" --wait
echo "bench_jobs: pull, $rounds rounds each (after one warm-up)"
bench pull pull "$name" vda --base "$dir/base.qcow2" --wait -- \
	blockpull "$name" vda --base "$dir/base.qcow2" --wait

echo
echo "Block jobs, 1 GiB range, median of $rounds alternating rounds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)):"
for op in commit pull; do
	a=$(median <"$work/$op.virtchain")
	b=$(median <"$work/$op.virsh")
	awk -v op="$op" -v a="$a" -v b="$b" 'BEGIN {
		printf "  %-6s virtchain %.2f s, virsh %.2f s, ratio %.3f (target <= 1.05)\n", op, a, b, a / b }'
done
echo "Reproduce: bash scripts/bench_jobs.sh"
