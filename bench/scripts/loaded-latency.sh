#!/bin/bash
# loaded-latency.sh: ping round trips beside a bulk TCP stream, the
# stream's rate, and the rate of an unlimited 64-byte UDP flood, with
# different vxswitchd settings on a two-host vxlab rig (network namespaces
# only: underlay 192.0.2.0/24, overlay 198.18.0.0/24). The settings
# alternate within each round, each on a fresh lab, so slow drifts of a
# noisy machine hit all of them alike.
#
# Usage (as root, from the repository root):
#   go build -o /tmp/vxbin ./cmd/...
#   BIN=/tmp/vxbin bench/scripts/loaded-latency.sh [ROUNDS]
# Environment:
#   BIN    directory with vxlab (and the vxswitchd it starts), default /tmp/vxbin
#   MODES  daemon argument sets separated by '|'; an empty set is the default
#          (default: '|--rt-priority=10|--rt-priority=10 --rt-priority-fixed')
#   IPV6   set (e.g. 1): IPv6 underlay (vxlab --ipv6, 2001:db8::/64); the overlay stays IPv4
#   CC     TCP congestion control for the stream (iperf3 -C), default the system's
# Prints one line per round and setting: the TCP stream's rate and
# retransmits (10 s iperf3 from h0 to h1, the system's congestion
# control unless CC), the p50/p90/p99 of 800 pings every 10 ms started 1 s into it,
# then the packets/s an unlimited 64-byte UDP flood (iperf3 -u -l 18 -b 0,
# 5 s) delivered and the share it lost. Needs iperf3, ping and jq.
set -euo pipefail
BIN=${BIN:-/tmp/vxbin}
ROUNDS=${1:-3}
IFS='|' read -ra MS <<< "${MODES-|--rt-priority=10|--rt-priority=10 --rt-priority-fixed}"
LAB=loadlat
SRV=
TMP=$(mktemp -d)
down() {
	# Only the server this script started (ip netns exec runs it in
	# place, so $! is its PID); vxlab down kills the rest in the lab.
	if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=; fi
	"$BIN/vxlab" down --name $LAB >/dev/null 2>&1 || true
	rm -rf /run/vxlab/$LAB
}
trap 'down; rm -rf "$TMP"' EXIT
pct() { sed -n "$(( ($(wc -l < "$TMP/rtt") * $1 + 99) / 100 ))p" "$TMP/rtt"; }
for r in $(seq "$ROUNDS"); do
	for a in "${MS[@]}"; do
		"$BIN/vxlab" up --name $LAB --hosts 2 ${IPV6:+--ipv6} --daemon-args="$a" >/dev/null
		ip netns exec $LAB-h1 iperf3 -s >/dev/null 2>&1 &
		SRV=$!
		sleep 0.5
		ip netns exec $LAB-h0 iperf3 -c 198.18.0.2 -t 10 ${CC:+-C "$CC"} -J > "$TMP/tcp.json" &
		tcp=$!
		sleep 1
		ip netns exec $LAB-h0 ping -i 0.01 -c 800 198.18.0.2 2>/dev/null |
			grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -n > "$TMP/rtt" || true
		wait $tcp
		sleep 0.5
		ip netns exec $LAB-h0 iperf3 -c 198.18.0.2 -u -l 18 -b 0 -w 4M -t 5 -J > "$TMP/udp.json"
		printf 'round %s [%s] TCP %s Gbit/s, %s retransmits | ping beside it (%s replies) p50 %s p90 %s p99 %s ms | 64-byte UDP flood %s packets/s delivered, %s %% lost\n' \
			"$r" "${a:-default}" \
			"$(jq '.end.sum_received.bits_per_second/1e9*100|floor/100' "$TMP/tcp.json")" \
			"$(jq '.end.sum_sent.retransmits' "$TMP/tcp.json")" \
			"$(wc -l < "$TMP/rtt")" "$(pct 50)" "$(pct 90)" "$(pct 99)" \
			"$(jq '(.end.sum.packets-.end.sum.lost_packets)/.end.sum.seconds|floor' "$TMP/udp.json")" \
			"$(jq '.end.sum.lost_percent*100|floor/100' "$TMP/udp.json")"
		down
	done
done
