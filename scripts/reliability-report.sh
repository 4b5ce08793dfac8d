#!/usr/bin/env bash
# reliability-report.sh runs iotctl's reliability and security suite
# (tests/reliability, tests/badinput, tests/secrets) and every fuzz target,
# and prints the figures: messages sent, faults injected, lost, duplicates,
# bad inputs tried, secret-leak runs, fuzz executions.
#
#   scripts/reliability-report.sh                 # all, tests under -race, fuzz 10s each
#   scripts/reliability-report.sh --no-race       # tests without the race detector
#   scripts/reliability-report.sh --fuzztime 30s  # longer fuzzing
#   scripts/reliability-report.sh --no-fuzz       # tests only
#   scripts/reliability-report.sh --no-tests      # fuzz only
#
# Exit status: 0 when every test passed, nothing was lost and no fuzz
# target failed; 1 otherwise. Raw output is kept in $REPORT_DIR (default: a
# temporary folder, printed at the end).
set -uo pipefail

race=-race
fuzztime=10s
run_fuzz=1
run_tests=1
while [ $# -gt 0 ]; do
	case "$1" in
	--no-race) race= ;;
	--fuzztime) fuzztime="$2"; shift ;;
	--no-fuzz) run_fuzz=0 ;;
	--no-tests) run_tests=0 ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "reliability-report.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

cd "$(dirname "$0")/.." || exit 1
out="${REPORT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/iotctl-reliability.XXXXXX")}"
mkdir -p "$out"
status=0

# Fuzz targets: package and name, one per line.
fuzz_targets="./pkg/profile FuzzParse
./pkg/auth FuzzPresignURL
./pkg/auth FuzzCustomAuthUsername
./pkg/policy FuzzMatch
./pkg/session/limits FuzzTopicFilter
./cmd/sub FuzzFormatJSON"

if [ "$run_tests" = 1 ]; then
	echo "== tests: go test $race -count=1 -json ./tests/reliability ./tests/badinput ./tests/secrets"
	# shellcheck disable=SC2086 # $race is empty or one word
	go test $race -count=1 -timeout 20m -json ./tests/reliability ./tests/badinput ./tests/secrets >"$out/tests.json" 2>"$out/tests.stderr"
	[ $? -eq 0 ] || status=1

	# Per-test results (top-level tests and subtests).
	grep -o '"Action":"\(pass\|fail\|skip\)","Package":"[^"]*","Test":"[^"]*"' "$out/tests.json" |
		sed 's/"Action":"\([a-z]*\)","Package":"github.com\/iotctl\/iotctl\/\([^"]*\)","Test":"\([^"]*\)"/\1 \2 \3/' >"$out/results.txt"
	echo
	echo "-- results"
	awk '{printf "  %-5s %-18s %s\n", toupper($1), $2, $3}' "$out/results.txt"

	# The RELIABILITY key=value lines the tests log.
	grep -o 'RELIABILITY [^"\\]*' "$out/tests.json" | sort -u >"$out/figures.txt"
	echo
	echo "-- figures"
	sed 's/^RELIABILITY /  /' "$out/figures.txt"
	echo
	awk '
	{
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] = kv[2]
		}
		if ("sent" in v) sent += v["sent"]
		if ("received" in v) received += v["received"]
		if ("lost" in v) lost += v["lost"]
		if ("duplicates" in v) dups += v["duplicates"]
		if ("faults" in v) faults += v["faults"]
		if ("bad_inputs" in v) bad += v["bad_inputs"]
		if ("secret_runs" in v) secret += v["secret_runs"]
		delete v
	}
	END {
		printf "-- totals\n"
		printf "  messages sent        %d\n", sent
		printf "  messages received    %d (distinct)\n", received
		printf "  faults injected      %d\n", faults
		printf "  lost                 %d\n", lost
		printf "  duplicates           %d\n", dups
		printf "  bad inputs tried     %d\n", bad
		printf "  secret-leak runs     %d\n", secret
		if (lost > 0) exit 1
	}' "$out/figures.txt" || status=1
	passed=$(grep -c '^pass' "$out/results.txt")
	failed=$(grep -c '^fail' "$out/results.txt")
	skipped=$(grep -c '^skip' "$out/results.txt")
	echo "  tests                $passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ] || status=1
fi

if [ "$run_fuzz" = 1 ]; then
	echo
	echo "-- fuzzing ($fuzztime each)"
	total=0
	while read -r pkg name; do
		log="$out/fuzz-$name.txt"
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1
		rc=$?
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
		execs=${execs:-0}
		total=$((total + execs))
		result=ok
		if [ $rc -ne 0 ]; then
			result="FAILED (see $log)"
			status=1
		fi
		printf "  %-24s %-22s %10d execs  %s\n" "$name" "$pkg" "$execs" "$result"
	done <<<"$fuzz_targets"
	printf "  %-47s %10d execs\n" "fuzz executions" "$total"
fi

echo
echo "raw output: $out"
exit $status
