#!/usr/bin/env bash
# The benchmark: bidplane against the ceiling of any reply-per-packet
# program on the same memif link (dpdk-testpmd --forward-mode=5tswap, which
# is also bidgen's own capacity against a trivial echo). The ceiling varies
# about 2x between runs on a shared VM, so ceiling and node runs alternate
# for several rounds and the report gives median ratios with their spread.
# Each node run records the worker's busy polls (stats segment) and is
# marked generator-bound when the worker had idle polls. See perf/README.md.
# Results in $BENCH_OUT (default build/bench): results.json, table.md,
# latency_cdf.png and every bidgen JSON.
#   BENCH_SECONDS (default 8) per run; the whole run takes about
#     (3 x BENCH_ROUNDS + 1) x (BENCH_SECONDS + 3) seconds.
#   BENCH_ROUNDS (default 5) rounds of ceiling, uniform, zipf.
#   BENCH_AUCTIONS (default 1-10000) open auctions.
#   BENCH_BUILD_DIR: binaries from this build directory, used as they are
#     (the integration suite's smoke run); unset: build/, built first.
#   BENCH_NO_HUGE=1: no hugepages (--no-huge), none reserved.
#   BENCH_DEDUP_RATE (default 3000000) the node's --dedup-rate, with
#     --dedup-seconds 1: the idempotency table holds every new id of a run at
#     full rate (rate x 192 B: 576 MB by default).
# Runs without a terminal (e.g. `setsid perf/bench.sh </dev/null`): every
# readiness check asks the process itself, every stage is bounded in time,
# and the trap removes every process, file prefix, hugepage file, stats
# segment and socket it made.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

secs=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-5}
AUCTIONS=${BENCH_AUCTIONS:-1-10000}
dedup_rate=${BENCH_DEDUP_RATE:-3000000}
out=${BENCH_OUT:-build/bench}
for v in secs rounds dedup_rate; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_${v^^}=${!v}: expected a whole number >= 1"
done

ensure_packages
bin=$(bench_programs "${BENCH_BUILD_DIR:-}")
export BP_BIDSTAT=$bin/bidstat
if [ "${BENCH_NO_HUGE:-0}" = 1 ]; then
	mem="--no-huge -m 512"
else
	mem=$(hugepage_eal_args 1024)
fi
# Without hugepages the node's memory is the -m it is given: its
# idempotency table alone is dedup_rate x 192 B.
node_mem=$mem unlink=--huge-unlink
case " $mem " in
*" --no-huge "*)
	node_mem="--no-huge -m $((dedup_rate * 192 / 1048576 + 512))"
	unlink=
	;;
esac
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt "$out"/*.log
run=$(mktemp -d /tmp/bidplane-bench.XXXXXX)
sock=$run/memif.sock
prefix=bpbench-$$
server_pid=
gen_pid=

# Stops one process we started: TERM, then KILL after 10 s.
stop_pid() { # pid
	local pid=$1 _
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
stop_server() {
	[ -n "$server_pid" ] && stop_pid "$server_pid"
	server_pid=
}
cleanup() {
	[ -n "$gen_pid" ] && stop_pid "$gen_pid"
	stop_server
	rm -rf "$run" /dev/shm/"$prefix"-*.bpstats* 2>/dev/null || true # claims, temporaries too
	remove_dpdk_leftovers "$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The server's forwarding lcore on CPU 1, its main lcore and bidgen on CPU 0.
# Readiness comes from the process (a line-buffered log, then for the node
# its control socket), never from a block-buffered log.
start_server() { # name log ready-pattern ready-command command...
	local name=$1 log=$2 ready=$3 check=$4 _
	shift 4
	stdbuf -oL -eL "$@" </dev/null >"$log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 150); do
		if grep -q "$ready" "$log" 2>/dev/null && eval "$check" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.2
	done
	tail -n 40 "$log"
	die "$name did not start in 30 s (log: $log)"
}

bidgen() { # name options...
	local name=$1 rc=0
	shift
	# shellcheck disable=SC2086
	timeout -k 5 $((secs + 60)) "$bin/bidgen" $mem $unlink --file-prefix "$prefix-gen" \
		--lcores=0@0 --no-pci --vdev="net_memif0,role=client,socket=$sock" -- \
		--duration "$secs" --quiet --json "$out/$name.json" "$@" \
		</dev/null >"$out/$name.txt" 2>&1 &
	gen_pid=$!
	wait "$gen_pid" || rc=$?
	gen_pid=
	[ "$rc" -eq 0 ] || { tail -n 40 "$out/$name.txt"; die "bidgen $name failed (exit $rc)"; }
	sed -n '/=== bidgen summary/,$p' "$out/$name.txt"
}

# A node run: the node, bidgen, and beside bidgen a sampler of the worker's
# polls unloaded, then over the middle of the run (perf/bench_report.py
# sample).
node_run() { # name bidgen-options...
	local name=$1 stats=$prefix-$1 sampler
	shift
	# shellcheck disable=SC2086
	start_server bidplane "$out/node-$name.log" "bidplane: started" \
		"$bin/bidctl --socket $run/ctl-$name status" \
		"$bin/bidplane" $node_mem $unlink --file-prefix "$prefix-node-$name" \
		--lcores=0@0,1@1 --no-pci --vdev="net_memif0,role=server,socket=$sock" -- \
		--ip 198.18.0.2 --open-range "$AUCTIONS" --max-auctions 200000 --increment 1 \
		--duration 3600 --no-idle-backoff --overload-backlog 0 \
		--dedup-seconds 1 --dedup-rate "$dedup_rate" \
		--control-socket "$run/ctl-$name" --state-dir "$run/state-$name" --stats-name "$stats"
	timeout -k 5 $((secs + 60)) python3 perf/bench_report.py sample "$stats" "$secs" \
		"$out/$name.busy.json" </dev/null &
	sampler=$!
	sleep 0.7 # the sampler measures the unloaded worker first
	bidgen "$name" "$@"
	wait "$sampler" || die "no busy fraction for $name (see above)"
	stop_server
}

ceiling_run() { # name
	# shellcheck disable=SC2086
	start_server testpmd "$out/$1-testpmd.log" "start packet forwarding" \
		"echo /ethdev/list | dpdk-telemetry.py -f $prefix-testpmd | grep -q '\[0\]'" \
		dpdk-testpmd $mem $unlink --file-prefix "$prefix-testpmd" --lcores=0@0,1@1 --no-pci \
		--vdev="net_memif0,role=server,socket=$sock" -- --forward-mode=5tswap \
		--nb-cores=1 --stats-period=1000 --txd=1024 --rxd=1024 --total-num-mbufs=32768
	bidgen "$1" --echo --rate 0 --dst-mac 02:00:00:00:00:02
	stop_server
}

for r in $(seq 1 "$rounds"); do
	say "round $r/$rounds: ceiling, dpdk-testpmd 5tswap, bidgen --echo at full rate (${secs}s)"
	ceiling_run "ceiling-$r"
	say "round $r/$rounds: bidplane, one worker, uniform auctions $AUCTIONS (${secs}s)"
	node_run "uniform-$r" --rate 0 --auctions "$AUCTIONS"
	say "round $r/$rounds: bidplane, one worker, zipf 0.99 (${secs}s)"
	node_run "zipf-$r" --rate 0 --auctions "$AUCTIONS" --zipf 0.99
done

half=$(python3 perf/bench_report.py half "$out" "$rounds")
say "latency: bidplane at half its median uniform rate, $half requests/s (${secs}s)"
node_run latency --rate "$half" --auctions "$AUCTIONS"

python3 perf/bench_report.py report "$out" "$rounds"
