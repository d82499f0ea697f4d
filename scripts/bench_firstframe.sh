#!/usr/bin/env bash
# The TUI's first frame with the domain list: virtchain's UI is started in
# a detached 80x24 tmux session with --domain WAIT (a fleet domain, so that
# it is on screen whatever other domains sort before it) and its screen
# read every few milliseconds until WAIT shows; the time from the start of
# tmux to that frame, median of BENCH_FF_ROUNDS (5). Prints one table row.
# Usage: bench_firstframe.sh BIN URI WAIT SESSION-PREFIX TARGET-MS
set -euo pipefail
bin=$1 uri=$2 wait=$3 sess=$4 target=$5
rounds=${BENCH_FF_ROUNDS:-5}
times=()
for r in $(seq "$rounds"); do
	s="${sess}ff-$$-$r"
	t0=${EPOCHREALTIME/./}
	tmux new-session -d -s "$s" -x 80 -y 24 "$bin -c '$uri' --domain '$wait'"
	seen=""
	for _ in $(seq 3000); do # 30 s at most
		if tmux capture-pane -p -t "$s" 2>/dev/null | grep -qF "$wait"; then
			seen=${EPOCHREALTIME/./}
			break
		fi
		sleep 0.005
	done
	tmux kill-session -t "$s" 2>/dev/null || true
	if [ -z "$seen" ]; then
		echo "| the TUI's first frame with the domain list (80x24, tmux) | $wait did not show in 30 s | | < $target ms | MISSES |"
		exit 0
	fi
	times+=($(( (seen - t0) / 1000 )))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
verdict=$([ "$med" -lt "$target" ] && echo meets || echo MISSES)
echo "| the TUI's first frame with the domain list (80x24, tmux) | $med ms | rounds: ${times[*]} ms | < $target ms | $verdict |"
