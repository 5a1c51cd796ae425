#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every
# test: unit + integration (build/, gcc), a clang build of everything, the
# unit tests under ASan/UBSan
# (build-asan/), and bounded libFuzzer runs of the client codec, the peer
# decoder and the log's record decoder (build-fuzz/).
# FUZZ_SECONDS (default 60) bounds the fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_packages prometheus # promtool checks bidstat --prometheus
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}

say "build (gcc): build/"
build_dir build
say "build (clang, everything, -Werror): build-clang/"
CC=clang build_dir build-clang -Dtests=false
say "build (clang, ASan+UBSan, unit tests only): build-asan/"
CC=clang build_dir build-asan -Dnode=disabled -Db_sanitize=address,undefined -Db_lundef=false
say "build (clang, libFuzzer): build-fuzz/"
CC=clang build_dir build-fuzz -Dnode=disabled -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

status=0
say "tests: unit + integration"
meson test -C build --print-errorlogs --num-processes 2 || status=1
say "tests: unit under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 || status=1
say "tests: fuzz (${FUZZ_SECONDS}s per target)"
meson test -C build-fuzz --suite fuzz --print-errorlogs --timeout-multiplier 0 || status=1

python3 scripts/test_summary.py build build-asan build-fuzz || status=1
exit $status
