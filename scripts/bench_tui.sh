#!/usr/bin/env bash
# TUI output while a block job runs (issue 4): at most 10 redraws and 4 KiB a
# second to the terminal. A lab domain (vct-uijob-bench-test2) gets a full
# pull throttled to 1 MiB/s (about 30 s of work); virtchain's UI is started
# on it in an 80x24 pseudo-terminal, re-attaches to the job, and
# scripts/benchtui counts the bytes and redraws over BENCH_TUI_SECONDS
# (default 10). The domain and its folder are removed even on failure.
#
#   bash scripts/bench_tui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

uri=qemu:///system
prefix=vct-uijob-bench-
dir=/var/tmp/vct-uijob-bench
secs=${BENCH_TUI_SECONDS:-10}
bin=./virtchain
work=$(mktemp -d /tmp/vct-uijob-bench.XXXXXX)
cleanup() {
	"$bin" -c "$uri" lab down --prefix "$prefix" --dir "$dir" >/dev/null 2>&1 ||
		echo "bench_tui: could not remove the lab: run $bin lab down --prefix $prefix --dir $dir" >&2
	rm -rf "$work"
}
trap cleanup EXIT

make -s build # never measure a stale binary
go build -o "$work/benchtui" ./scripts/benchtui
"$bin" -c "$uri" lab down --prefix "$prefix" --dir "$dir" >/dev/null 2>&1 || true
"$bin" -c "$uri" lab up --only test2 --prefix "$prefix" --dir "$dir" >/dev/null
"$bin" -c "$uri" pull "${prefix}test2" vda --bandwidth 1 >/dev/null
"$work/benchtui" -bin "$bin" -c "$uri" -domain "${prefix}test2" -seconds "$secs"
# The job must still have been running at the end, or the figure is of idle.
"$bin" -c "$uri" jobs --json | grep -q "\"domain\": *\"${prefix}test2\"" ||
	{ echo "bench_tui: the job ended before the measurement did; lower BENCH_TUI_SECONDS" >&2; exit 1; }
