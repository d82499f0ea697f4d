#!/usr/bin/env bash
# make bench: the figures README.md quotes, measured on this machine.
#  1. Full discovery: a fleet of 40 defined domains (bench-*), each with two
#     disks of 16-layer qcow2 chains, 4 of them running. `virtchain list
#     --json` and the loop admins run today (scripts/bench-loop.sh) are
#     timed side by side in one run with hyperfine; the target is a ratio
#     of at least 20.
#  2. Rendering: the ui package's Go benchmarks (a 1000-layer chain view, a
#     500-domain list); the target is under 2 ms a frame.
# It prints a block to paste into README.md, and removes the fleet even
# when it fails. BENCH_ROUNDS and BENCH_LOOP_ROUNDS set the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

uri=qemu:///system
prefix=bench-
dir=/var/tmp/virtchain-bench
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

echo "bench: building the fleet (40 domains x 2 disks x 16 layers, 4 running)"
fleet down >/dev/null # leftovers of an interrupted run
fleet up -domains 40 -disks 2 -depth 16 -running 4

# Both sides see the same host: every domain, not only the fleet.
"$bin" -c "$uri" list --json >"$work/list.json"
domains=$(jq '.domains | length' "$work/list.json")
disks=$(jq '[.domains[].disks[]] | length' "$work/list.json")
layers=$(jq '[.domains[].disks[].layers[]] | length' "$work/list.json")
echo "bench: the host has $domains domains, $disks disks, $layers layers"

echo "bench: timing discovery ($rounds rounds of virtchain, $loop_rounds of the loop)"
hyperfine -N --style basic --warmup 1 --export-json "$work/virtchain.json" --runs "$rounds" \
	-n "virtchain list --json" "$bin -c $uri list --json"
hyperfine -N --style basic --warmup 1 --export-json "$work/loop.json" --runs "$loop_rounds" \
	-n "virsh domblklist + qemu-img info loop" "bash scripts/bench-loop.sh $uri"

# Other work on the host makes single rounds noisy: the ratio uses medians.
ms() { jq -r ".results[0].$2 * 1000 | . * 10 | round / 10" "$1"; }
vc_med=$(ms "$work/virtchain.json" median) vc_mean=$(ms "$work/virtchain.json" mean) vc_sd=$(ms "$work/virtchain.json" stddev)
loop_med=$(ms "$work/loop.json" median) loop_mean=$(ms "$work/loop.json" mean) loop_sd=$(ms "$work/loop.json" stddev)
ratio=$(jq -n --argjson a "$loop_med" --argjson b "$vc_med" '$a / $b | . * 10 | round / 10')
verdict=$(jq -rn --argjson r "$ratio" 'if $r >= 20 then "meets" else "MISSES" end')
load=$(cut -d' ' -f1-3 /proc/loadavg)

echo "bench: render benchmarks (go test -bench ./ui/...)"
go test -tags libvirt_dlopen -run '^$' -bench . -benchmem ./ui/... | tee "$work/ui.txt"
ui_rows=$(awk '/^Benchmark/ && $4 == "ns/op" {
	name = $1; sub(/-[0-9]+$/, "", name)
	ms = $3 / 1e6
	printf "| render a frame: `%s` | %.3f ms | | < 2 ms | %s |\n", name, ms, (ms < 2 ? "meets" : "MISSES")
}' "$work/ui.txt")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
libvirt=$(virsh -c "$uri" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: *//p' | head -1)
qemu=$(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Running hypervisor: *//p' | head -1)
cat <<SUMMARY

----- paste into README.md -----
### Benchmarks

Measured by \`make bench\` on $(date -u +%Y-%m-%d), $(nproc) CPUs ($cpu), libvirt $libvirt, $qemu.
The fleet: 40 defined domains, each with 2 disks of 16-layer qcow2 chains, 4 running
(the host had $domains domains, $disks disks, $layers layers in all; load average $load).
Reproduce: \`make bench\`.

| what | median | mean ± σ | target | |
| --- | --- | --- | --- | --- |
| full discovery: \`virtchain list --json\` | $vc_med ms | $vc_mean ± $vc_sd ms | | |
| the loop: \`virsh domblklist\` + \`qemu-img info -U --backing-chain\` per disk | $loop_med ms | $loop_mean ± $loop_sd ms | | |
| ratio of medians | virtchain is ${ratio}x faster | | at least 20x | $verdict |
$ui_rows
--------------------------------
SUMMARY

# The TUI while a block job runs: at most 10 redraws and 4 KiB a second.
bash scripts/bench_tui.sh

# Block jobs: commit and pull of 1 GiB against virsh --wait, ratio at most 1.05.
bash scripts/bench_jobs.sh
