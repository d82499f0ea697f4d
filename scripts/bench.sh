#!/usr/bin/env bash
# make bench: the figures README.md quotes, measured on this machine.
#  1. Start-up (scripts/bench_startup.sh): version, help and completion
#     against `virsh --version` and `true`; the target is under 5 ms.
#  2. Full discovery: a fleet of 40 defined domains (bench-*), each with two
#     disks of 16-layer qcow2 chains, 4 of them running. `virtchain list
#     --json` and the loop admins run today (scripts/bench-loop.sh) are
#     timed side by side in one run, interleaved; the target is a ratio
#     of at least 40. Then where its time goes: the phases of
#     BenchmarkIntegrationDiscoverPhases (libvirtx), each timed alone.
#  3. Several hosts (scripts/bench_hosts.sh): two hosts together against
#     each alone, locally and over qemu+ssh, and the libvirt calls per
#     discovery (when the test hosts answer).
#  4. Rendering: the ui package's Go benchmarks (a 1000-layer chain view, a
#     500-domain list); the target is under 2 ms a frame.
#  5. The TUI during a block job, and block jobs against virsh.
# It prints a block to paste into README.md, and removes the fleet even
# when it fails. BENCH_ROUNDS and BENCH_LOOP_ROUNDS set the rounds;
# BENCH_PARTS picks parts (default "startup discovery hosts render tui
# jobs"); BENCH_PREFIX and BENCH_DIR name the fleet (default bench- in
# /var/tmp/virtchain-bench), so that two people's runs stay apart.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

uri=qemu:///system
prefix=${BENCH_PREFIX:-bench-}
dir=${BENCH_DIR:-/var/tmp/virtchain-bench}
parts=" ${BENCH_PARTS:-startup discovery hosts render tui jobs} "
# SCALE=500 (make bench SCALE=500) builds a 500-domain fleet instead of 40:
# the target ratio is then 100x. The fleet exists only for the run.
scale=${SCALE:-40}
target=$([ "$scale" -ge 500 ] && echo 100 || echo 40)
want() { [[ $parts == *" $1 "* ]]; }
rounds=${BENCH_ROUNDS:-10}
loop_rounds=${BENCH_LOOP_ROUNDS:-5}
work=$(mktemp -d /tmp/virtchain-bench.XXXXXX)

bash scripts/setup.sh
if ! command -v hyperfine >/dev/null 2>&1; then
	echo "bench: installing hyperfine"
	sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
	export DEBIAN_FRONTEND=noninteractive
	sudo_ apt-get install -y -q --no-install-recommends hyperfine >/dev/null 2>&1 ||
		{ sudo_ apt-get update -q >/dev/null && sudo_ apt-get install -y -q --no-install-recommends hyperfine >/dev/null; }
fi
make -s build
bin=./virtchain
go build -tags libvirt_dlopen -o "$work/benchfleet" ./scripts/benchfleet

fleet() { "$work/benchfleet" "$1" -connect "$uri" -prefix "$prefix" -dir "$dir" "${@:2}"; }
cleanup() {
	fleet down >/dev/null || echo "bench: could not remove the fleet: run $work/benchfleet down -prefix $prefix -dir $dir" >&2
	rm -rf "$work"
}
trap cleanup EXIT

disc_rows=""
if want discovery; then
echo "bench: building the fleet ($scale domains x 2 disks x 16 layers, 4 running)"
fleet down >/dev/null # leftovers of an interrupted run
fleet up -domains "$scale" -disks 2 -depth 16 -running 4

# Both sides see the same host: every domain, not only the fleet.
"$bin" -c "$uri" list --json >"$work/list.json"
domains=$(jq '.domains | length' "$work/list.json")
disks=$(jq '[.domains[].disks[]] | length' "$work/list.json")
layers=$(jq '[.domains[].disks[].layers[]] | length' "$work/list.json")
echo "bench: the host has $domains domains, $disks disks, $layers layers"

# The machine is shared: load comes and goes within seconds. The two sides
# therefore run interleaved (one round of the loop, then
# rounds/loop_rounds of virtchain), so both see the same load; the ratio
# uses medians.
echo "bench: timing discovery ($rounds rounds of virtchain, $loop_rounds of the loop, interleaved)"
per=$(( (rounds + loop_rounds - 1) / loop_rounds ))
ms_now() { echo "${EPOCHREALTIME/./}"; }
"$bin" -c "$uri" list --json >/dev/null # warm-up
bash scripts/bench-loop.sh "$uri" >/dev/null
: >"$work/vc.txt"; : >"$work/loop.txt"
for _ in $(seq "$loop_rounds"); do
	t0=$(ms_now); bash scripts/bench-loop.sh "$uri" >/dev/null; t1=$(ms_now)
	echo "$(( t1 - t0 ))" >>"$work/loop.txt"
	for _ in $(seq "$per"); do
		t0=$(ms_now); "$bin" -c "$uri" list --json >/dev/null; t1=$(ms_now)
		echo "$(( t1 - t0 ))" >>"$work/vc.txt"
	done
done
# stats FILE: median, mean, stddev in ms (the file holds microseconds).
stats() { jq -rs 'sort | (length) as $n | (if $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end) as $med |
	(add / $n) as $mean | ((map(. - $mean | . * .) | add / $n) | sqrt) as $sd |
	[$med, $mean, $sd] | map(. / 1000 | . * 10 | round / 10) | join(" ")' "$1"; }
read -r vc_med vc_mean vc_sd < <(stats "$work/vc.txt")
read -r loop_med loop_mean loop_sd < <(stats "$work/loop.txt")
echo "bench: virtchain list --json: median $vc_med ms (mean $vc_mean ± $vc_sd ms, $(wc -l <"$work/vc.txt") rounds)"
echo "bench: the loop: median $loop_med ms (mean $loop_mean ± $loop_sd ms, $loop_rounds rounds)"
ratio=$(jq -n --argjson a "$loop_med" --argjson b "$vc_med" '$a / $b | . * 10 | round / 10')
verdict=$(jq -rn --argjson r "$ratio" --argjson t "$target" 'if $r >= $t then "meets" else "MISSES" end')
ff_row=$(bash scripts/bench_firstframe.sh "$bin" "$uri" "${prefix}00" "$prefix" 1000)
load=$(cut -d' ' -f1-3 /proc/loadavg)

# Where a `list --json` spends its time, step by step as virtchain itself
# reports it (VIRTCHAIN_TIMINGS=1: when each step ended, in ms since its Go
# code started), the median of 7 runs; exec and Go's runtime come before.
echo "bench: list --json step by step (VIRTCHAIN_TIMINGS=1, 7 runs)"
: >"$work/steps.txt"
for _ in $(seq 7); do
	VIRTCHAIN_TIMINGS=1 "$bin" -c "$uri" list --json 2>&1 >/dev/null |
		sed -n 's/^virtchain: timing: \([0-9.]*\) ms \(.*\)$/\2\t\1/p' >>"$work/steps.txt"
done
step_rows=$(awk -F'\t' '
	!($1 in seen) { seen[$1] = 1; order[++n] = $1 }
	{ v[$1, ++c[$1]] = $2 }
	END {
		prev = 0
		for (i = 1; i <= n; i++) {
			s = order[i]; k = c[s]
			for (a = 1; a <= k; a++) for (b = a + 1; b <= k; b++) if (v[s, b] + 0 < v[s, a] + 0) { t = v[s, a]; v[s, a] = v[s, b]; v[s, b] = t }
			med = v[s, int((k + 1) / 2)]
			printf "| list step: %s (ends at %.1f ms) | %.1f ms | | | |\n", s, med, med - prev
			prev = med
		}
	}' "$work/steps.txt")

# Where discovery's time goes: each phase alone, serially, in one process
# (so without start-up); the whole Discover runs its domains in parallel.
echo "bench: discovery phases (go test -bench DiscoverPhases ./libvirtx)"
VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_TEST_URI=$uri go test -tags libvirt_dlopen -count=1 -run '^$' \
	-bench 'DiscoverPhases' -benchtime 10x ./libvirtx/ | tee "$work/phases.txt"
phase_rows=$(awk '/DiscoverPhases\// && $4 == "ns/op" {
	name = $1; sub(/^BenchmarkIntegrationDiscoverPhases\//, "", name); sub(/-[0-9]+$/, "", name)
	printf "| discovery phase `%s` (serial, in process) | %.1f ms | | | |\n", name, $3 / 1e6
}' "$work/phases.txt")
su_rows=$(hyperfine -N --style basic --warmup 3 --runs 20 --export-json "$work/su.json" "$bin version" >/dev/null &&
	jq -r '.results[0] | "| discovery phase `start-up` (virtchain version) | \(.median * 1000 * 10 | round / 10) ms | | | |"' "$work/su.json")
disc_rows="| full discovery: \`virtchain list --json\` | $vc_med ms | $vc_mean ± $vc_sd ms | | |
| the loop: \`virsh domblklist\` + \`qemu-img info -U --backing-chain\` per disk | $loop_med ms | $loop_mean ± $loop_sd ms | | |
| ratio of medians | virtchain is ${ratio}x faster | | at least ${target}x | $verdict |
$ff_row
$su_rows
$step_rows
$phase_rows"
fi

startup_rows=""
if want startup; then
	bash scripts/bench_startup.sh "$work/startup.txt"
	startup_rows=$(cat "$work/startup.txt")
fi

host_rows=""
if want hosts; then
	if bash scripts/testhost.sh status trixie >/dev/null 2>&1 && bash scripts/testhost.sh status local-ssh >/dev/null 2>&1; then
		bash scripts/bench_hosts.sh "$work/hosts.txt"
		host_rows=$(cat "$work/hosts.txt")
	else
		echo "bench: two hosts skipped: start them with make hosts-up"
	fi
fi

ui_rows=""
if want render; then
echo "bench: render benchmarks (go test -bench ./ui/...)"
go test -tags libvirt_dlopen -run '^$' -bench . -benchmem ./ui/... | tee "$work/ui.txt"
ui_rows=$(awk '/^Benchmark/ && $4 == "ns/op" {
	name = $1; sub(/-[0-9]+$/, "", name)
	ms = $3 / 1e6
	if (name ~ /EventRedraw/)
		printf "| a lifecycle event to the new frame, 500 domains (fake backend; add `rediscover-one` above): `%s` | %.3f ms | | < 50 ms | %s |\n", name, ms, (ms < 50 ? "meets" : "MISSES")
	else
		printf "| render a frame: `%s` | %.3f ms | | < 2 ms | %s |\n", name, ms, (ms < 2 ? "meets" : "MISSES")
}' "$work/ui.txt")
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
libvirt=$(virsh -c "$uri" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: *//p' | head -1)
qemu=$(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Running hypervisor: *//p' | head -1)
cat <<SUMMARY

----- paste into README.md -----
### Benchmarks

Measured by \`make bench\` on $(date -u +%Y-%m-%d), $(nproc) CPUs ($cpu), libvirt $libvirt, $qemu.
The fleet: $scale defined domains, each with 2 disks of 16-layer qcow2 chains, 4 running
(the host had ${domains:-?} domains, ${disks:-?} disks, ${layers:-?} layers in all; load average ${load:-$(cut -d' ' -f1-3 /proc/loadavg)}).
Reproduce: \`make bench\` (parts: \`BENCH_PARTS="$parts"\`).

| what | median | mean ± σ | target | |
| --- | --- | --- | --- | --- |
$startup_rows
$disc_rows
$host_rows
$ui_rows
--------------------------------
SUMMARY

# The TUI while a block job runs: at most 10 redraws and 4 KiB a second.
if want tui; then bash scripts/bench_tui.sh; fi

# Block jobs: commit and pull of 1 GiB against virsh --wait, ratio at most 1.05.
if want jobs; then bash scripts/bench_jobs.sh; fi
