#!/usr/bin/env bash
# bench-peers.sh: iotctl's client commands beside mosquitto_pub/mosquitto_sub
# against one local mosquitto: the one reproducible source of the README's
# performance table (each README figure names its row here).
#
# Method: mosquitto (max_inflight_messages 1000, max_queued_messages 0) is
# pinned to CPU 0 and the measured client to CPU 1 with taskset when the
# machine has two or more CPUs (row pub-q1-free runs both unpinned). The two
# clients alternate for PAIRS pairs (the first of a pair alternates too);
# each row prints min / median / max of wall time and of the client's CPU
# time (user+sys, from wait4's rusage), and the ratio of the medians
# (iotctl / mosquitto: below 1 is better for iotctl). Every run must deliver
# every message or the script says so (column "bad").
#
#   pub-q1       50,000 lines `pub --lines -q 1`, no subscriber, every line
#                acknowledged (iotctl checks its own -o json count)
#   pub-q1-free  the same, nothing pinned
#   pub-q0       200,000 lines QoS 0, no subscriber
#   pub-tls-q0   200,000 lines QoS 0 over TLS 1.3 (TLS_AES_128_GCM_SHA256
#                for both: mosquitto offers only that suite)
#   pub-m        one `pub -m`, process start to exit (PAIRS_M pairs)
#   version      `iotctl version` alone (no mosquitto counterpart)
#   sub-q1       sub draining 200,000 QoS 1 messages queued for its session,
#                output compared byte for byte with the input
#   sub-q0       sub receiving 200,000 QoS 0 messages published while it runs
#   sub-rss      iotctl sub's peak RSS receiving 200,000 and 1,000,000
#                QoS 0 messages (flat: it must not grow with the count)
#
# Environment: BENCH_PAIRS (5), BENCH_PAIRS_M (21), BENCH_ROWS (all, or a
# space-separated list of row names), IOTCTL (a prebuilt binary instead of
# building one). Needs mosquitto, mosquitto-clients, python3, openssl and
# taskset (util-linux). A full run takes about 10 minutes on 2 CPUs.
set -euo pipefail

cd "$(dirname "$0")/.."
PAIRS=${BENCH_PAIRS:-5}
PAIRS_M=${BENCH_PAIRS_M:-21}
ROWS=${BENCH_ROWS:-pub-q1 pub-q1-free pub-q0 pub-tls-q0 pub-m version sub-q1 sub-q0 sub-rss}
Q1_LINES=50000
LINES=200000
RSS_LINES=1000000

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
find_prog openssl >/dev/null
find_prog python3 >/dev/null

work=$(mktemp -d)
brokers=()
cleanup() {
	local p
	for p in "${brokers[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
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

broker_cpu=() client_cpu=() other_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	broker_cpu=(taskset -c 0) client_cpu=(taskset -c 1) other_cpu=(taskset -c 0)
	pinned="mosquitto and helpers on CPU 0, the measured client on CPU 1"
else
	pinned="not pinned (one CPU or no taskset)"
fi

# measure.py OUT [--drain PORT] CMD…: runs CMD (stdin/stdout inherited) and
# writes "wall_s cpu_s maxrss_kb exit" to OUT. With --drain, wall time runs
# until the broker on PORT has also read everything the client sent: a
# QoS 0 publisher may exit while its last messages are still in the
# socket (mosquitto_pub does; iotctl waits for the broker to close after
# DISCONNECT), and the broker then drains them during the next run.
cat >"$work/measure.py" <<'PY'
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
drain = None
if argv[0] == "--drain":
    drain, argv = int(argv[1]), argv[2:]

def busy(port):
    # Is the broker still reading a client's connection? Its end of one
    # is ESTABLISHED (01) or CLOSE_WAIT (08: the client has gone, its
    # bytes are not all read yet).
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] in ("01", "08"):
                return True
    return False

t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
if drain is not None:
    deadline = time.monotonic() + 60
    while busy(drain) and time.monotonic() < deadline:
        time.sleep(0.001)
wall = time.monotonic() - t0
with open(out, "w") as f:
    f.write(f"{wall:.4f} {ru.ru_utime + ru.ru_stime:.4f} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
PY
measure() { python3 "$work/measure.py" "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
		sleep 0.025
	done
	echo "bench-peers: nothing listens on $1" >&2
	exit 1
}

# TLS material for the TLS listener: a CA and a server certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-days 2 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null

start_mosquitto() { # name pin(yes|no) → sets port_<name>, tls_<name>
	local port tls conf=$work/mosquitto-$1.conf
	port=$(free_port)
	tls=$(free_port)
	cat >"$conf" <<EOF
per_listener_settings false
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 0
log_dest file $work/mosquitto-$1.log
log_type subscribe
listener $port 127.0.0.1
listener $tls 127.0.0.1
cafile $work/ca.pem
certfile $work/server.pem
keyfile $work/server.key
tls_version tlsv1.3
ciphers_tls1.3 TLS_AES_128_GCM_SHA256
EOF
	if [ "$(id -u)" = 0 ]; then echo "user root" >>"$conf"; fi
	if [ "$2" = yes ]; then
		"${broker_cpu[@]}" "$MOSQUITTO" -c "$conf" >"$work/mosquitto-$1.out" 2>&1 &
	else
		"$MOSQUITTO" -c "$conf" >"$work/mosquitto-$1.out" 2>&1 &
	fi
	brokers+=($!)
	wait_port "$port"
	wait_port "$tls"
	printf -v "port_$1" %s "$port"
	printf -v "tls_$1" %s "$tls"
}
start_mosquitto pinned yes
start_mosquitto free no
port=$port_pinned

seq 1 "$RSS_LINES" | sed 's/^/bench message payload number /' >"$work/lines-rss.txt"
head -n "$LINES" "$work/lines-rss.txt" >"$work/lines.txt"
head -n "$Q1_LINES" "$work/lines.txt" >"$work/lines-q1.txt"

stats() { # values… → "min median max"
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s", v[1], m, v[NR] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
fmt3() { awk -v a="$1" -v b="$2" -v c="$3" -v s="$4" 'BEGIN { printf "%.*f / %.*f / %.*f", s, a, s, b, s, c }'; }

# One run of one side of a row: prints "wall cpu rss bad" (bad: 1 when the
# run did not deliver everything, or failed).
run_side() { # row side
	local row=$1 side=$2 out=$work/m.out bad=0 id
	case "$row/$side" in
	pub-q1/iotctl | pub-q1-free/iotctl)
		local p=$port cpu=("${client_cpu[@]}")
		if [ "$row" = pub-q1-free ]; then p=$port_free cpu=(); fi
		measure "$out" --drain "$p" "${cpu[@]}" "$iotctl" pub --endpoint "127.0.0.1:$p" -t bench/q1 -q 1 --lines -o json \
			<"$work/lines-q1.txt" >"$work/pub.json"
		grep -q "\"acknowledged\": $Q1_LINES," "$work/pub.json" || bad=1
		;;
	pub-q1/mosquitto | pub-q1-free/mosquitto)
		local p=$port cpu=("${client_cpu[@]}")
		if [ "$row" = pub-q1-free ]; then p=$port_free cpu=(); fi
		measure "$out" --drain "$p" "${cpu[@]}" "$MPUB" -h 127.0.0.1 -p "$p" -V mqttv5 -t bench/q1 -q 1 -l <"$work/lines-q1.txt"
		;;
	pub-q0/iotctl)
		measure "$out" --drain "$port" "${client_cpu[@]}" "$iotctl" pub --endpoint "127.0.0.1:$port" -t bench/q0 --lines <"$work/lines.txt"
		;;
	pub-q0/mosquitto)
		measure "$out" --drain "$port" "${client_cpu[@]}" "$MPUB" -h 127.0.0.1 -p "$port" -V mqttv5 -t bench/q0 -l <"$work/lines.txt"
		;;
	pub-tls-q0/iotctl)
		measure "$out" --drain "$tls_pinned" "${client_cpu[@]}" "$iotctl" pub --endpoint "mqtts://127.0.0.1:$tls_pinned" --ca-file "$work/ca.pem" \
			-t bench/tls --lines <"$work/lines.txt"
		;;
	pub-tls-q0/mosquitto)
		measure "$out" --drain "$tls_pinned" "${client_cpu[@]}" "$MPUB" -h 127.0.0.1 -p "$tls_pinned" --cafile "$work/ca.pem" -V mqttv5 \
			-t bench/tls -l <"$work/lines.txt"
		;;
	pub-m/iotctl)
		measure "$out" --drain "$port" "${client_cpu[@]}" "$iotctl" pub --endpoint "127.0.0.1:$port" -t bench/m -m hello
		;;
	pub-m/mosquitto)
		measure "$out" --drain "$port" "${client_cpu[@]}" "$MPUB" -h 127.0.0.1 -p "$port" -V mqttv5 -t bench/m -m hello
		;;
	sub-q1/*)
		# A persistent session with the subscription, then the messages
		# queued while it is away (published by the same client each time).
		id="bench-sub-$side-$RANDOM"
		"${other_cpu[@]}" "$MSUB" -h 127.0.0.1 -p "$port" -V mqttv5 -i "$id" -c -x 3600 -t bench/s1 -q 1 -E
		"${other_cpu[@]}" "$iotctl" pub --endpoint "127.0.0.1:$port" -t bench/s1 -q 1 --lines <"$work/lines.txt"
		if [ "$side" = iotctl ]; then
			measure "$out" "${client_cpu[@]}" "$iotctl" sub --endpoint "127.0.0.1:$port" --client-id "$id" \
				--clean-start=false --session-expiry 0 -t bench/s1 -q 1 -C "$LINES" -W 120s >"$work/sub.out"
		else
			measure "$out" "${client_cpu[@]}" "$MSUB" -h 127.0.0.1 -p "$port" -V mqttv5 -i "$id" -c -x 0 \
				-t bench/s1 -q 1 -C "$LINES" -W 120 >"$work/sub.out"
		fi
		cmp -s "$work/sub.out" "$work/lines.txt" || bad=1
		;;
	sub-q0/* | sub-rss/*)
		local n=$LINES in=$work/lines.txt topic=bench/s0
		id="bench-s0-$side-$RANDOM"
		if [ "$row" = sub-rss ]; then n=$RSS_LINES in=$work/lines-rss.txt; fi
		if [ "$row" = sub-rss ] && [ "$side" = small ]; then n=$LINES in=$work/lines.txt; fi
		if [ "$side" = mosquitto ]; then
			measure "$out" "${client_cpu[@]}" "$MSUB" -h 127.0.0.1 -p "$port" -V mqttv5 -i "$id" -t "$topic" -C "$n" -W 120 >"$work/sub.out" &
		else
			measure "$out" "${client_cpu[@]}" "$iotctl" sub --endpoint "127.0.0.1:$port" --client-id "$id" -t "$topic" -C "$n" -W 120s >"$work/sub.out" &
		fi
		local sub=$!
		# Publish once the subscription is in place (mosquitto logs it).
		for _ in $(seq 400); do
			if grep -q ": $id [0-2] " "$work/mosquitto-pinned.log" 2>/dev/null; then break; fi
			sleep 0.025
		done
		"${other_cpu[@]}" "$iotctl" pub --endpoint "127.0.0.1:$port" -t "$topic" --lines <"$in"
		wait "$sub" || true
		[ "$(wc -l <"$work/sub.out")" = "$n" ] || bad=1
		;;
	version/iotctl)
		measure "$out" "${client_cpu[@]}" "$iotctl" version >/dev/null
		;;
	*)
		echo "bench-peers: no row $row/$side" >&2
		exit 2
		;;
	esac
	read -r wall cpu rss rc <"$out"
	[ "$rc" = 0 ] || bad=1
	echo "$wall $cpu $rss $bad"
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg); $pinned"
echo "versions: $("$MOSQUITTO" -h 2>/dev/null | head -1); $("$iotctl" version | head -1); $(uname -sr)"
echo "pairs: $PAIRS ($PAIRS_M for pub-m and version), alternating; figures min / median / max; ratio = iotctl median / mosquitto median"
echo
printf '%-12s %-10s %-28s %-26s %-10s %s\n' row client "wall s" "CPU s (user+sys)" "peak RSS" bad
for row in $ROWS; do
	n=$PAIRS
	sides=(mosquitto iotctl)
	case $row in
	pub-m) n=$PAIRS_M ;;
	version) n=$PAIRS_M sides=(iotctl) ;;
	sub-rss) n=1 sides=(small iotctl) ;;
	esac
	echo "$row…" >&2
	declare -A wall=() cpu=() rss=() bad=()
	for i in $(seq "$n"); do
		order=("${sides[@]}")
		if [ $((i % 2)) = 0 ] && [ "${#sides[@]}" = 2 ]; then order=("${sides[1]}" "${sides[0]}"); fi
		for side in "${order[@]}"; do
			read -r w c r b <<<"$(run_side "$row" "$side")"
			wall[$side]+="$w " cpu[$side]+="$c " rss[$side]+="$r "
			bad[$side]=$((${bad[$side]:-0} + b))
		done
	done
	declare -A med_w=() med_c=()
	for side in "${sides[@]}"; do
		# shellcheck disable=SC2086 # one value per word
		read -r w0 w1 w2 <<<"$(stats ${wall[$side]})"
		# shellcheck disable=SC2086
		read -r c0 c1 c2 <<<"$(stats ${cpu[$side]})"
		# shellcheck disable=SC2086
		read -r _ r1 r2 <<<"$(stats ${rss[$side]})"
		med_w[$side]=$w1 med_c[$side]=$c1
		label=$side
		if [ "$row" = sub-rss ]; then
			label="iotctl $([ "$side" = small ] && echo $LINES || echo $RSS_LINES)"
		fi
		printf '%-12s %-10s %-28s %-26s %-10s %s\n' "$row" "$label" "$(fmt3 "$w0" "$w1" "$w2" 4)" "$(fmt3 "$c0" "$c1" "$c2" 3)" "$((r2 / 1024)) MB" "${bad[$side]}"
	done
	if [ "${#sides[@]}" = 2 ] && [ "$row" != sub-rss ]; then
		printf '%-12s %-10s %-28s %s\n' "$row" ratio "wall $(ratio "${med_w[iotctl]}" "${med_w[mosquitto]}")" "CPU $(ratio "${med_c[iotctl]}" "${med_c[mosquitto]}")"
	fi
	unset wall cpu rss bad med_w med_c
done
