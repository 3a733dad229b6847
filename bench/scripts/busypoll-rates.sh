#!/bin/bash
# busypoll-rates.sh: sockperf round trips and the daemons' CPU time with
# different --busy-poll settings, at several request rates, on a two-host
# vxlab rig (network namespaces only: underlay 192.0.2.0/24, overlay
# 198.18.0.0/24). The modes alternate within each round, each on a fresh
# lab, so slow drifts of a noisy machine hit all of them alike.
#
# Usage (as root, from the repository root):
#   go build -o /tmp/vxbin ./cmd/...
#   BIN=/tmp/vxbin bench/scripts/busypoll-rates.sh [ROUNDS]
# Environment:
#   BIN    directory with vxlab (and the vxswitchd it starts), default /tmp/vxbin
#   MODES  daemon argument sets separated by '|'; an empty set is the default
#          (default: '|--busy-poll=200us --busy-poll-fixed|--busy-poll=200us')
#   RATES  sockperf --mps values for the paced runs (default: 100 1000 2000 5000)
# Prints one line per round and mode: unpaced p50 (µs) of two 4 s runs,
# each with both daemons' utime+stime in % of one core, then p50 and CPU of
# a 5 s run per rate. Needs sockperf and jq.
set -euo pipefail
BIN=${BIN:-/tmp/vxbin}
ROUNDS=${1:-3}
RATES=${RATES:-"100 1000 2000 5000"}
IFS='|' read -ra MS <<< "${MODES-|--busy-poll=200us --busy-poll-fixed|--busy-poll=200us}"
LAB=bprates
SRV=
down() {
	# Only the server this script started (ip netns exec runs it in
	# place, so $! is its PID); vxlab down kills the rest in the lab.
	if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=; fi
	"$BIN/vxlab" down --name $LAB >/dev/null 2>&1 || true
	rm -rf /run/vxlab/$LAB
}
trap down EXIT
tick=$(getconf CLK_TCK)
cpu() { local c=0 p; for p in $PIDS; do c=$((c + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $c; }
p50() { grep 'percentile 50.000' | awk '{print $NF}'; }
for r in $(seq "$ROUNDS"); do
	for a in "${MS[@]}"; do
		"$BIN/vxlab" up --name $LAB --hosts 2 --daemon-args="$a" >/dev/null
		ip netns exec $LAB-h1 sockperf server -i 198.18.0.2 -p 11111 >/dev/null 2>&1 &
		SRV=$!
		sleep 1
		PIDS=$(jq -r '.hosts[].pid' /run/vxlab/$LAB/state.json)
		line="round $r [${a:-default}] unpaced p50:"
		for k in 1 2; do
			c0=$(cpu)
			v=$(ip netns exec $LAB-h0 sockperf ping-pong -i 198.18.0.2 -p 11111 -t 4 --full-rtt 2>&1 | p50)
			c1=$(cpu)
			line="$line $v($(( (c1 - c0) * 100 / tick / 4 ))%)"
		done
		line="$line |"
		for m in $RATES; do
			c0=$(cpu)
			v=$(ip netns exec $LAB-h0 sockperf ping-pong -i 198.18.0.2 -p 11111 -t 5 --mps "$m" --full-rtt 2>&1 | p50)
			c1=$(cpu)
			line="$line $m/s p50 $v cpu $(( (c1 - c0) * 100 / tick / 5 ))% |"
		done
		echo "$line"
		down
	done
done
