#!/usr/bin/env bash
# The benchmark: bidplane against the ceiling of any reply-per-packet
# program on the same memif link (dpdk-testpmd --forward-mode=5tswap), in
# one invocation. See perf/README.md. Results in build/bench/: results.json,
# latency_cdf.png, and every bidgen JSON.
#   BENCH_SECONDS (default 8) per run; the whole run takes about 5 x that.
#   BENCH_AUCTIONS (default 1-10000) open auctions; see perf/README.md for
#   how the node's rate depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_packages
build_dir build
secs=${BENCH_SECONDS:-8}
mem=$(hugepage_eal_args 1024)
out=build/bench
mkdir -p "$out"
run=$(mktemp -d /tmp/bidplane-bench.XXXXXX)
sock=$run/memif.sock
server_pid=
AUCTIONS=${BENCH_AUCTIONS:-1-10000}

stop_server() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}
trap 'stop_server; rm -rf "$run" "/var/run/dpdk/bptestpmd-$$" "/dev/shm/bench-$$.bpstats"' EXIT

# The server's forwarding lcore on CPU 1, its main lcore and bidgen on CPU 0.
# memif sockets are abstract in DPDK 22.11: readiness is a line in the log.
start_server() { # name log ready-pattern command...
	local name=$1 log=$2 ready=$3
	shift 3
	"$@" >"$log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 150); do
		grep -q "$ready" "$log" 2>/dev/null && sleep 0.5 && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.2
	done
	cat "$log"
	die "$name did not start"
}

bidgen() { # json-name options...
	local name=$1
	shift
	# shellcheck disable=SC2086
	./build/bidgen $mem --lcores=0@0 --no-pci \
		--vdev="net_memif0,role=client,socket=$sock" -- \
		--duration "$secs" --quiet --json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt"; die "bidgen $name failed"; }
	sed -n '/=== bidgen summary/,$p' "$out/$name.txt"
}

start_node() {
	# shellcheck disable=SC2086
	start_server bidplane "$out/node-$1.log" " mac " ./build/bidplane $mem \
		--lcores=0@0,1@1 --no-pci --vdev="net_memif0,role=server,socket=$sock" -- \
		--ip 198.18.0.2 --open-range "$AUCTIONS" --max-auctions 200000 --increment 1 \
		--duration 3600 --no-idle-backoff --overload-backlog 0 \
		--control-socket "$run/ctl" --state-dir "$run/state" --stats-name "bench-$$"
}

say "1/4 ceiling: dpdk-testpmd 5tswap, bidgen --echo at full rate (${secs}s)"
# shellcheck disable=SC2086
start_server testpmd "$out/testpmd.log" "start packet forwarding" dpdk-testpmd $mem \
	--file-prefix "bptestpmd-$$" --huge-unlink --lcores=0@0,1@1 --no-pci \
	--vdev="net_memif0,role=server,socket=$sock" -- --forward-mode=5tswap \
	--nb-cores=1 --stats-period=1000 --txd=1024 --rxd=1024 --total-num-mbufs=32768
bidgen testpmd --echo --rate 0 --dst-mac 02:00:00:00:00:02
stop_server

say "2/4 bidplane, one worker, uniform auctions (${secs}s)"
start_node uniform
bidgen uniform --rate 0 --auctions "$AUCTIONS"
stop_server

say "3/4 bidplane, one worker, zipf 0.99 (${secs}s)"
start_node zipf
bidgen zipf --rate 0 --auctions "$AUCTIONS" --zipf 0.99
stop_server

half=$(python3 -c "import json;print(int(json.load(open('$out/uniform.json'))['served_mpps']*1e6/2))")
say "4/4 bidplane latency at half its uniform maximum: $half requests/s (${secs}s)"
start_node latency
bidgen latency --rate "$half" --auctions "$AUCTIONS"
stop_server

python3 perf/bench_report.py "$out"
