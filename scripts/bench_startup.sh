#!/usr/bin/env bash
# Start-up of the commands that never talk to libvirt (version, help,
# completion bash), timed with hyperfine side by side with `virsh
# --version`, `true`, and the same commands of a plain `go build` (the
# libvirt module's eager init, what virtchain was before
# scripts/libvirt_lazy.sh). The target is under 5 ms (median). Prints
# rows for the table scripts/bench.sh writes ($1: where to put them).
# CPU is user+system time, mean: on a loaded machine it moves less than
# the wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
out=${1:?usage: bench_startup.sh ROWS-FILE}
work=$(mktemp -d /tmp/virtchain-bench-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin=./virtchain
go build -tags libvirt_dlopen -o "$work/virtchain-eager" .
runs=${BENCH_STARTUP_ROUNDS:-60}
cmds=(
	"$bin version" "$bin help" "$bin completion bash"
	"$work/virtchain-eager version" "$work/virtchain-eager help" "$work/virtchain-eager completion bash"
	"virsh --version" "true"
)
echo "bench: start-up ($runs rounds each)"
hyperfine -N --style basic --warmup 5 --runs "$runs" --export-json "$work/startup.json" "${cmds[@]}" >/dev/null
jq -r --arg w "$work/" '.results[] |
	(.median * 1000) as $m |
	(.command | sub($w; "") | sub("^virtchain-eager"; "eager build: virtchain") | sub("^\\./"; "")) as $c |
	"| start-up: `\($c)` | \($m * 100 | round / 100) ms | \(.mean * 1000 * 100 | round / 100) ± \(.stddev * 1000 * 100 | round / 100) ms (CPU \((.user + .system) * 1000 * 100 | round / 100) ms) | " +
	(if ($c | test("^virtchain ")) then "< 5 ms | " + (if $m < 5 then "meets" else "MISSES" end) + " |" else "| |" end)' \
	"$work/startup.json" | tee "$out"
