#!/usr/bin/env bash
# bench-broker.sh: the embedded broker (`iotctl broker`) beside mosquitto on
# the same machine, with the same clients and the same workload:
# `iotctl bench roundtrip` with PUBS publishers and SUBS subscribers, QoS 0
# and QoS 1, COUNT messages per publisher. Broker and clients are pinned to
# different CPUs (taskset) when the machine has two or more; the two brokers
# alternate for PAIRS pairs; it prints min/median/max of the end-to-end
# receive rate and of the broker's CPU per delivered message, and the median
# ratios. Every run must deliver every message (lost 0) or the script says so.
#
# Environment: BENCH_PAIRS (5), BENCH_PUBS (4), BENCH_SUBS (2),
# BENCH_COUNT (25000), IOTCTL (a prebuilt binary instead of building one).
# Needs mosquitto, python3 and taskset (util-linux).
set -euo pipefail

cd "$(dirname "$0")/.."
PAIRS=${BENCH_PAIRS:-5}
PUBS=${BENCH_PUBS:-4}
SUBS=${BENCH_SUBS:-2}
COUNT=${BENCH_COUNT:-25000}

MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || { echo "bench-broker: mosquitto is not installed" >&2; exit 2; }

work=$(mktemp -d)
broker_pid=
stop_broker() {
	if [ -n "$broker_pid" ]; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
		broker_pid=
	fi
}
trap 'stop_broker; rm -rf "$work"' EXIT

if [ -n "${IOTCTL:-}" ]; then
	iotctl=$IOTCTL
else
	iotctl=$work/iotctl
	echo "building iotctl…" >&2
	go build -o "$iotctl" ./cmd/iotctl
fi

broker_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	broker_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
	pinned="broker on CPU 0, clients on CPU 1"
else
	pinned="not pinned (one CPU or no taskset)"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
		sleep 0.025
	done
	echo "bench-broker: nothing listens on $1" >&2
	exit 1
}

start_broker() { # mosquitto|iotctl port
	if [ "$1" = mosquitto ]; then
		cat >"$work/mosquitto.conf" <<EOF
listener $2 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 0
log_dest none
EOF
		if [ "$(id -u)" = 0 ]; then echo "user root" >>"$work/mosquitto.conf"; fi
		"${broker_cpu[@]}" "$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/broker.out" 2>&1 &
	else
		IOTCTL_HOME=$work/home "${broker_cpu[@]}" "$iotctl" broker --listen "127.0.0.1:$2" >"$work/broker.out" 2>&1 &
	fi
	broker_pid=$!
	wait_port "$2"
}

# cpu_ticks PID: user+system clock ticks so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run BROKER QOS → "rate cpu_us_per_delivery lost"
run() {
	local port t0 t1 out
	port=$(free_port)
	start_broker "$1" "$port"
	t0=$(cpu_ticks "$broker_pid")
	out=$("${client_cpu[@]}" "$iotctl" --endpoint "127.0.0.1:$port" bench -c "$PUBS" --subscribers "$SUBS" \
		-q "$2" --count "$COUNT" --no-progress -o json 2>"$work/bench.err") || true
	t1=$(cpu_ticks "$broker_pid")
	stop_broker
	python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1] or "{}")
ticks = int(sys.argv[3]) - int(sys.argv[2])
got = r.get("received", 0)
cpu_us = ticks / int(sys.argv[4]) * 1e6 / got if got else 0
print(f'{r.get("receive_rate", 0):.0f} {cpu_us:.2f} {r.get("lost", -1) + r.get("ack_timeouts", 0)}')
PY
}

stats() { # values… → "min median max"
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s", v[1], m, v[NR] }'
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $pinned" >&2
echo "versions: $("$MOSQUITTO" -h 2>/dev/null | head -1); $("$iotctl" version | head -1)" >&2
echo "workload: iotctl bench roundtrip -c $PUBS --subscribers $SUBS --count $COUNT, $PAIRS alternating pairs" >&2
printf '%-6s %-10s %-32s %-28s %s\n' QoS broker "deliveries/s min/median/max" "broker CPU µs/delivery" "lost"
for qos in 0 1; do
	declare -a mr=() mc=() ir=() ic=()
	lost_total=0
	for i in $(seq "$PAIRS"); do
		order=(mosquitto iotctl)
		if [ $((i % 2)) = 0 ]; then order=(iotctl mosquitto); fi
		for b in "${order[@]}"; do
			read -r rate cpu lost <<<"$(run "$b" "$qos")"
			if [ "$lost" != 0 ]; then
				echo "bench-broker: $b QoS $qos run $i: $lost lost or unacknowledged" >&2
				lost_total=$((lost_total + 1))
			fi
			if [ "$b" = mosquitto ]; then mr+=("$rate") mc+=("$cpu"); else ir+=("$rate") ic+=("$cpu"); fi
		done
	done
	read -r mr0 mr1 mr2 <<<"$(stats "${mr[@]}")"
	read -r mc0 mc1 mc2 <<<"$(stats "${mc[@]}")"
	read -r ir0 ir1 ir2 <<<"$(stats "${ir[@]}")"
	read -r ic0 ic1 ic2 <<<"$(stats "${ic[@]}")"
	printf '%-6s %-10s %-32s %-28s %s\n' "$qos" mosquitto "$mr0 / $mr1 / $mr2" "$mc0 / $mc1 / $mc2" "-"
	printf '%-6s %-10s %-32s %-28s %s\n' "$qos" iotctl "$ir0 / $ir1 / $ir2" "$ic0 / $ic1 / $ic2" "runs with loss: $lost_total"
	printf '%-6s %-10s %s\n' "$qos" ratio "rate $(awk -v a="$ir1" -v b="$mr1" 'BEGIN { printf "%.2fx", a / b }') (median iotctl / median mosquitto), CPU/delivery $(awk -v a="$ic1" -v b="$mc1" 'BEGIN { printf "%.2fx", a / b }')"
done
