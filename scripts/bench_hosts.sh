#!/usr/bin/env bash
# Several hosts (issue 10): `virtchain -c A -c B list --json` against each
# host alone, over the hosts' local URIs and over qemu+ssh, and the libvirt
# calls one discovery makes on each (libvirtx.Conn.Calls, read by
# BenchmarkIntegrationDiscoverPhases/discover). Hosts run in parallel, so
# both together should take about as long as the slower one alone, well
# under the sum. Needs the test hosts: bash scripts/testhost.sh up trixie;
# bash scripts/testhost.sh up local-ssh. Writes table rows to $1. Unless
# BENCH_HOSTS_FLEET=0, trixie gets a fleet of its own for the run (20
# domains x 2 disks x 16 layers, 2 running; BENCH_PREFIX + "trixie-", in
# /var/tmp, which both hosts share), removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
out=${1:?usage: bench_hosts.sh ROWS-FILE}
work=$(mktemp -d /tmp/virtchain-bench-hosts.XXXXXX)
tprefix=${BENCH_PREFIX:-bench-}trixie-
tdir=${BENCH_DIR:-/var/tmp/virtchain-bench}-trixie
tfleet() { "$work/benchfleet" "$1" -connect "$trixie_uri" -prefix "$tprefix" -dir "$tdir" "${@:2}"; }
cleanup() {
	if [ "${BENCH_HOSTS_FLEET:-1}" != 0 ] && [ -x "$work/benchfleet" ]; then
		tfleet down >/dev/null || echo "bench_hosts: could not remove trixie's fleet: run benchfleet down -connect '$trixie_uri' -prefix $tprefix -dir $tdir" >&2
	fi
	rm -rf "$work"
}
trap cleanup EXIT
bin=./virtchain
rounds=${BENCH_HOSTS_ROUNDS:-10}
ssh_rounds=${BENCH_HOSTS_SSH_ROUNDS:-3}
local_uri=qemu:///system
trixie_uri=$(bash scripts/testhost.sh uri trixie)
lssh_uri=$(bash scripts/testhost.sh ssh-uri local-ssh)
tssh_uri=$(bash scripts/testhost.sh ssh-uri trixie)
: >"$out"
if [ "${BENCH_HOSTS_FLEET:-1}" != 0 ]; then
	go build -tags libvirt_dlopen -o "$work/benchfleet" ./scripts/benchfleet
	echo "bench: building trixie's fleet (20 domains x 2 disks x 16 layers, 2 running)"
	tfleet down >/dev/null
	tfleet up -domains 20 -disks 2 -depth 16 -running 2
fi

median() { jq -r ".results[$2].median * 1000 | . * 10 | round / 10" "$1"; }
# pair NAME A B ROUNDS: A alone, B alone, both; rows for the table.
pair() {
	local name=$1 a=$2 b=$3 n=$4 j="$work/$1.json"
	echo "bench: two hosts, $name ($n rounds)"
	hyperfine -N --style basic --warmup 1 --runs "$n" --export-json "$j" \
		"$bin -c $a list --json" "$bin -c $b list --json" "$bin -c $a -c $b list --json" >/dev/null
	local ma mb mab
	ma=$(median "$j" 0) mb=$(median "$j" 1) mab=$(median "$j" 2)
	jq -rn --arg name "$name" --argjson a "$ma" --argjson b "$mb" --argjson ab "$mab" '
		($a + $b) as $sum | ([$a, $b] | max) as $slow |
		"| two hosts \($name): each alone | \($a) ms, \($b) ms (sum \($sum * 10 | round / 10) ms) | | | |",
		"| two hosts \($name): together | \($ab) ms | \($ab / $sum * 100 | round) % of the sum, \($ab / $slow * 100 | round) % of the slower | about the slower alone | " +
			(if $ab <= $slow * 1.25 then "meets" else "MISSES" end) + " |"' | tee -a "$out"
}
pair "local + trixie" "$local_uri" "$trixie_uri" "$rounds"
pair "over qemu+ssh" "$lssh_uri" "$tssh_uri" "$ssh_rounds"

# Calls per discovery, from the Go benchmark's calls/op metric.
for h in "local|$local_uri" "trixie|$trixie_uri" "local over ssh|$lssh_uri" "trixie over ssh|$tssh_uri"; do
	name=${h%%|*} uri=${h#*|}
	VIRTCHAIN_INTEGRATION=1 VIRTCHAIN_TEST_URI=$uri go test -tags libvirt_dlopen -count=1 -run '^$' \
		-bench 'DiscoverPhases/discover$' -benchtime 3x ./libvirtx/ >"$work/calls.txt" 2>&1 || { cat "$work/calls.txt" >&2; exit 1; }
	awk -v name="$name" '/DiscoverPhases\/discover/ {
		for (i = 1; i <= NF; i++) { if ($i == "calls/op") c = $(i-1); if ($i == "domains") d = $(i-1); if ($i == "layers") l = $(i-1) }
		printf "| libvirt calls per discovery, %s | %d calls | %d domains, %d layers: %.1f per domain | 9 + 1 per domain (+ snapshots, checkpoints, remote pools) | |\n", name, c, d, l, (d ? c / d : 0)
	}' "$work/calls.txt" | tee -a "$out"
done
