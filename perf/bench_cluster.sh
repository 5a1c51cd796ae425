#!/usr/bin/env bash
# The cluster benchmark (issue 12, Performance): node A driven by bidgen
# over net_memif, with and without two live peers B and C on net_tap ports
# in a network namespace's bridge; replication lag A->B at half load; peer
# bytes per accepted bid. perf/bench_cluster.py does the runs; see
# perf/README.md ("The cluster") for what each figure means.
# Results in $CLUSTER_OUT (default build/bench-cluster): results.json,
# table.md, every bidgen JSON and text, every node log.
#   CLUSTER_SECONDS (default 6) per throughput run; CLUSTER_ROUNDS (default 3)
#     rounds of (uniform alone, uniform cluster, zipf alone, zipf cluster);
#     the whole takes about 4 x CLUSTER_ROUNDS x (CLUSTER_SECONDS + 6) s + 30 s.
#   CLUSTER_PROBES (default 300) lag probes, CLUSTER_LAG_SECONDS (12) of load
#     for them; CLUSTER_LAG_RATE=N: only the lag runs, at N requests/s.
#   CLUSTER_KINDS (default "uniform zipf"), CLUSTER_AUCTIONS (10000),
#     CLUSTER_IDLE_SECONDS (3; 0: no heartbeat phase), CLUSTER_DEDUP_RATE.
#   CLUSTER_PEER_CPU (default 0): the CPU of every lcore of B and C.
#   CLUSTER_PEER_WINDOW: every node's --peer-window (unset: its default).
#   CLUSTER_BUILD_DIR: binaries from this build dir, used as they are (the
#     integration suite's smoke run); unset: build/, built first.
#   CLUSTER_NO_HUGE=1: no hugepages.
# Needs root (namespace, taps). Runs without a terminal; every stage is
# bounded in time; the trap removes every process, namespace, tap, stats
# segment, DPDK runtime dir and hugepage file it made.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

[ "$(id -u)" -eq 0 ] || die "the cluster benchmark needs root (network namespace, DPDK tap)"
ensure_packages
bin=$(bench_programs "${CLUSTER_BUILD_DIR:-}")
export CLUSTER_BUILD_DIR=$bin BP_BIDSTAT=$bin/bidstat
# No __pycache__ dirs left in the tree (the driver imports the test harness).
export PYTHONDONTWRITEBYTECODE=1
if [ "${CLUSTER_NO_HUGE:-0}" != 1 ]; then
	case " $(hugepage_eal_args 1024) " in
	*" --no-huge "*) export CLUSTER_NO_HUGE=1 ;;
	esac
fi
export CLUSTER_PREFIX=bpperf-$$
driver=
cleanup() {
	if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
		kill -TERM "$driver" 2>/dev/null || true
		for _ in $(seq 1 300); do
			kill -0 "$driver" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$driver" 2>/dev/null || true
	fi
	remove_dpdk_leftovers "$CLUSTER_PREFIX"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rounds=${CLUSTER_ROUNDS:-3} secs=${CLUSTER_SECONDS:-6}
[[ $rounds =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ ]] ||
	die "CLUSTER_ROUNDS=$rounds CLUSTER_SECONDS=$secs: expected whole numbers >= 1"
# The driver stops its nodes and namespace itself (also on SIGTERM); the
# timeout bounds the whole, with room for every run and its start.
timeout -k 30 $((rounds * 4 * (secs + 40) + 180)) python3 perf/bench_cluster.py </dev/null &
driver=$!
wait "$driver"
