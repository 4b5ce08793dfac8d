#!/usr/bin/env bash
# bench-peers.sh: iotctl pub/sub beside mosquitto_pub/mosquitto_sub against a
# local mosquitto, with ratios. Needs mosquitto and mosquitto-clients
# (Debian: apt-get install mosquitto mosquitto-clients), Go and python3 or
# a free port given as BENCH_PORT. Runs in about a minute.
#
#   (a) 200,000 lines, --lines/-l QoS 0: time until one mosquitto_sub -C
#       has all of them (the subscriber is the same, only the publisher differs)
#   (b) 50,000 lines QoS 1, no subscriber: publisher <-> broker
#   (c) one `pub -m`: wall time, median of 20 runs (start-up included)
#   (d) sub receiving 200,000 QoS 1 messages queued for its persistent
#       session: CPU time (user+sys) of iotctl sub vs mosquitto_sub, and a
#       byte-for-byte check that nothing was lost
#   (e) iotctl bench roundtrip QoS 0 (LINES messages): its receive rate
#       beside (a)'s mosquitto_pub -l -> mosquitto_sub rate
#   (f) iotctl bench pub QoS 1 --inflight 1000 (QOS1_LINES messages) beside
#       (b)'s mosquitto_pub -q 1 rate
#   (g) iotctl bench conn: 1,000 connections, connections per second
#   (h) with BENCH_BROKER=1: the embedded broker beside mosquitto, same
#       clients and workload, pinned and alternated (scripts/bench-broker.sh,
#       which also runs on its own)
#
# Environment: BENCH_LINES (200000), BENCH_QOS1_LINES (50000), BENCH_RUNS (20),
# IOTCTL (a prebuilt binary instead of building one), BENCH_PORT.
set -euo pipefail

cd "$(dirname "$0")/.."
LINES=${BENCH_LINES:-200000}
QOS1_LINES=${BENCH_QOS1_LINES:-50000}
RUNS=${BENCH_RUNS:-20}

find_prog() {
	local p
	for p in "$1" "/usr/sbin/$1" "/usr/local/sbin/$1"; do
		if command -v "$p" >/dev/null 2>&1; then
			command -v "$p"
			return
		fi
	done
	echo "bench-peers: $1 is not installed" >&2
	exit 2
}
MOSQUITTO=$(find_prog mosquitto)
MPUB=$(find_prog mosquitto_pub)
MSUB=$(find_prog mosquitto_sub)

work=$(mktemp -d)
broker_pid=
cleanup() {
	if [ -n "$broker_pid" ]; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${IOTCTL:-}" ]; then
	iotctl=$IOTCTL
else
	iotctl=$work/iotctl
	echo "building iotctl…" >&2
	go build -o "$iotctl" ./cmd/iotctl
fi

port=${BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
cat >"$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 0
log_dest file $work/mosquitto.log
log_type error
log_type warning
log_type subscribe
EOF
if [ "$(id -u)" = 0 ]; then echo "user root" >>"$work/mosquitto.conf"; fi
"$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/mosquitto.out" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	sleep 0.05
done

seq 1 "$LINES" | sed 's/^/bench message payload number /' >"$work/lines.txt"
head -n "$QOS1_LINES" "$work/lines.txt" >"$work/lines1.txt"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# wait_subscribed CLIENT_ID: mosquitto logs "<time>: <client id> <qos> <filter>".
wait_subscribed() {
	for _ in $(seq 400); do
		if grep -q ": $1 [0-2] " "$work/mosquitto.log" 2>/dev/null; then return; fi
		sleep 0.025
	done
	echo "bench-peers: $1 did not subscribe" >&2
	exit 1
}

ep=(--endpoint "127.0.0.1:$port")
results=()
row() { results+=("$(printf '%-34s %-24s %-24s %s' "$@")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f/s", n / s; else print "-" }'; }

# (a) lines at QoS 0, one mosquitto_sub receiving all of them.
bench_a() { # publisher-name
	local id="bench-a-$1-$$" start end
	"$MSUB" -p "$port" -V mqttv5 -i "$id" -t bench/a -C "$LINES" -W 120 >"$work/a.$1.out" &
	local sub=$!
	wait_subscribed "$id"
	start=$(now)
	if [ "$1" = iotctl ]; then
		"$iotctl" "${ep[@]}" pub -t bench/a -l <"$work/lines.txt"
	else
		"$MPUB" -p "$port" -V mqttv5 -t bench/a -l <"$work/lines.txt"
	fi
	wait "$sub" || true
	end=$(now)
	if ! cmp -s "$work/a.$1.out" "$work/lines.txt"; then
		echo "bench-peers: (a) $1: the subscriber got $(wc -l <"$work/a.$1.out") of $LINES lines" >&2
	fi
	elapsed "$start" "$end"
}
echo "(a) $LINES lines QoS 0 to a subscriber…" >&2
a_m=$(bench_a mosquitto)
a_i=$(bench_a iotctl)
row "(a) $LINES lines QoS 0 -> sub" "$(rate "$LINES" "$a_i") ${a_i}s" "$(rate "$LINES" "$a_m") ${a_m}s" "time $(ratio "$a_i" "$a_m")"

# (b) lines at QoS 1, no subscriber.
bench_b() {
	local start end
	start=$(now)
	if [ "$1" = iotctl ]; then
		"$iotctl" "${ep[@]}" pub -t bench/b -q 1 -l <"$work/lines1.txt"
	else
		"$MPUB" -p "$port" -V mqttv5 -t bench/b -q 1 -l <"$work/lines1.txt"
	fi
	end=$(now)
	elapsed "$start" "$end"
}
echo "(b) $QOS1_LINES lines QoS 1…" >&2
b_m=$(bench_b mosquitto)
b_i=$(bench_b iotctl)
row "(b) $QOS1_LINES lines QoS 1, no sub" "$(rate "$QOS1_LINES" "$b_i") ${b_i}s" "$(rate "$QOS1_LINES" "$b_m") ${b_m}s" "time $(ratio "$b_i" "$b_m")"

# (c) one message, process start to exit.
bench_c() {
	local i start end
	for i in $(seq "$RUNS"); do
		start=$(now)
		if [ "$1" = iotctl ]; then
			"$iotctl" "${ep[@]}" pub -t bench/c -m hello
		else
			"$MPUB" -p "$port" -V mqttv5 -t bench/c -m hello
		fi
		end=$(now)
		elapsed "$start" "$end"
		echo
	done | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f", m }'
}
echo "(c) pub -m, median of $RUNS…" >&2
c_m=$(bench_c mosquitto)
c_i=$(bench_c iotctl)
ms() { awk -v s="$1" 'BEGIN { printf "%.1fms", s * 1000 }'; }
row "(c) pub -m, median of $RUNS" "$(ms "$c_i")" "$(ms "$c_m")" "time $(ratio "$c_i" "$c_m")"

# (d) sub draining LINES QoS 1 messages queued for its persistent session.
bench_d() {
	local id="bench-d-$1-$$" t
	# Create the session, then queue the messages while it is away.
	if [ "$1" = iotctl ]; then
		"$iotctl" "${ep[@]}" --client-id "$id" --clean-start=false --session-expiry 1h sub -t bench/d -q 1 -W 0.3s >/dev/null 2>&1 || true
	else
		"$MSUB" -p "$port" -V mqttv5 -i "$id" -c -x 3600 -t bench/d -q 1 -W 1 >/dev/null 2>&1 || true
	fi
	"$iotctl" "${ep[@]}" pub -t bench/d -q 1 -l <"$work/lines.txt"
	TIMEFORMAT='%3U %3S %3R'
	if [ "$1" = iotctl ]; then
		t=$({ time "$iotctl" "${ep[@]}" --client-id "$id" --clean-start=false --session-expiry 1h sub -t bench/d -q 1 -C "$LINES" -W 120s >"$work/d.$1.out" 2>"$work/d.$1.err"; } 2>&1)
	else
		t=$({ time "$MSUB" -p "$port" -V mqttv5 -i "$id" -c -x 3600 -t bench/d -q 1 -C "$LINES" -W 120 >"$work/d.$1.out" 2>"$work/d.$1.err"; } 2>&1)
	fi
	if ! cmp -s "$work/d.$1.out" "$work/lines.txt"; then
		echo "bench-peers: (d) $1: received $(wc -l <"$work/d.$1.out") of $LINES messages or not in order" >&2
	fi
	echo "$t"
}
echo "(d) sub receiving $LINES QoS 1 messages…" >&2
read -r d_mu d_ms d_mr <<<"$(bench_d mosquitto)"
read -r d_iu d_is d_ir <<<"$(bench_d iotctl)"
d_mc=$(awk -v u="$d_mu" -v s="$d_ms" 'BEGIN { printf "%.2f", u + s }')
d_ic=$(awk -v u="$d_iu" -v s="$d_is" 'BEGIN { printf "%.2f", u + s }')
row "(d) sub $LINES QoS 1, CPU u+s" "${d_ic}s (${d_iu}+${d_is})" "${d_mc}s (${d_mu}+${d_ms})" "CPU $(ratio "$d_ic" "$d_mc")"
row "    same, wall time" "$(rate "$LINES" "$d_ir") ${d_ir}s" "$(rate "$LINES" "$d_mr") ${d_mr}s" "time $(ratio "$d_ir" "$d_mr")"

# (e)-(g) iotctl bench on the same broker; JSON fields per 'iotctl help bench'.
bench_json() { # field args…
	local field=$1
	shift
	"$iotctl" "${ep[@]}" bench "$@" --no-progress -o json 2>/dev/null |
		python3 -c 'import json, sys; r = json.load(sys.stdin); v = r
for k in sys.argv[1].split("."): v = v[k]
print(f"{v:.0f}", r.get("lost", 0))' "$field"
}
echo "(e) bench roundtrip QoS 0…" >&2
read -r e_rate e_lost <<<"$(bench_json receive_rate -q 0 --count "$LINES")"
row "(e) bench roundtrip QoS 0" "${e_rate}/s lost ${e_lost}" "$(rate "$LINES" "$a_m") (a)" "rate $(ratio "$e_rate" "$(awk -v n="$LINES" -v s="$a_m" 'BEGIN { print n / s }')")"
echo "(f) bench pub QoS 1…" >&2
read -r f_rate _ <<<"$(bench_json publish_rate pub -q 1 --inflight 1000 --count "$QOS1_LINES")"
row "(f) bench pub QoS 1, inflight 1000" "${f_rate}/s" "$(rate "$QOS1_LINES" "$b_m") (b)" "rate $(ratio "$f_rate" "$(awk -v n="$QOS1_LINES" -v s="$b_m" 'BEGIN { print n / s }')")"
echo "(g) bench conn…" >&2
read -r g_rate _ <<<"$(bench_json connections.per_second conn -c 1000)"
row "(g) bench conn, 1000 connections" "${g_rate} conn/s" "-" "target >= 500/s"

echo
printf '%-34s %-24s %-24s %s\n' "benchmark ($(nproc 2>/dev/null || echo ?) CPUs)" "iotctl" "mosquitto_*" "iotctl/mosquitto"
printf '%s\n' "${results[@]}"

if [ "${BENCH_BROKER:-0}" = 1 ]; then
	echo
	echo "(h) the embedded broker beside mosquitto…" >&2
	IOTCTL=$iotctl bash scripts/bench-broker.sh
fi
