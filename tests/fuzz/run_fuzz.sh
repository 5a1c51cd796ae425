#!/usr/bin/env bash
# Runs a libFuzzer target for FUZZ_SECONDS (default 60) on a scratch copy of
# its seed corpus. Non-zero exit on any crash, leak or sanitizer report.
set -euo pipefail
target=$1
seeds=$2
work=$(mktemp -d /tmp/bp-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work/"
secs=${FUZZ_SECONDS:-60}
echo "fuzzing $(basename "$target") for ${secs}s from $(ls "$seeds" | wc -l) seeds"
status=0
"$target" "$work" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" -error_exitcode=1 >"$work/fuzz.log" 2>&1 || status=$?
grep -E "stat::number_of_executed_units|stat::peak_rss|Done" "$work/fuzz.log" || true
if [ "$status" -ne 0 ]; then
	echo "fuzzer failed (exit $status):"
	tail -n 40 "$work/fuzz.log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -e "$a" ] && echo "reproducer: $(basename "$a"): $(od -An -tx1 "$a" | head -n 4)"
	done
fi
# libFuzzer reports findings with 77, which meson would count as a skip.
[ "$status" -eq 0 ] || exit 1
