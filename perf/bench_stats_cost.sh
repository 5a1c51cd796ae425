#!/usr/bin/env bash
# What a worker pays for its counters: the packet path (perf/bench_packet_path)
# built twice, with the counters and with them compiled out
# (-DBP_NO_WORKER_STATS), run alternately in one invocation; medians of
# STATS_COST_RUNS (default 7) runs each, and their ratio.
#   STATS_COST_AUCTIONS (default 10000), STATS_COST_BIDS (default 2000000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_packages
build_dir build
mem=$(hugepage_eal_args 1024)
runs=${STATS_COST_RUNS:-7}
auctions=${STATS_COST_AUCTIONS:-10000}
bids=${STATS_COST_BIDS:-2000000}

# Every run has a prefix of its own and unlinks its hugepage files as soon
# as they are mapped (--huge-unlink): an interrupted run leaves no page
# reserved. The trap removes what DPDK leaves anyway (its runtime
# directories), and any hugepage file of ours, at every exit.
prefix="bpcost-$$"
trap 'remove_dpdk_leftovers "$prefix"' EXIT
trap 'exit 130' INT TERM HUP
unlink_opt=
case " $mem " in *" --no-huge "*) ;; *) unlink_opt=--huge-unlink ;; esac

ns_per_bid() { # binary (in a subshell: $BASHPID names the run)
	# shellcheck disable=SC2086
	"$1" $mem $unlink_opt --no-pci --no-telemetry -l 1 --file-prefix "$prefix-$BASHPID" \
		--log-level=lib.eal:error -- "$auctions" "$bids" accepted |
		sed -n 's/^accepted *\([0-9.]*\) .*/\1/p'
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

with=() without=()
for i in $(seq 1 "$runs"); do
	with+=("$(ns_per_bid build/perf/bench_packet_path)")
	without+=("$(ns_per_bid build/perf/bench_packet_path_nostats)")
	say "run $i/$runs: with counters ${with[-1]} ns/bid, without ${without[-1]} ns/bid"
done
w=$(printf '%s\n' "${with[@]}" | median)
wo=$(printf '%s\n' "${without[@]}" | median)
printf '\npacket path, %s auctions, %s bids, median of %s runs\n' "$auctions" "$bids" "$runs"
printf '| build | ns/bid |\n|---|---|\n| with counters | %s |\n| counters compiled out | %s |\n' "$w" "$wo"
awk -v w="$w" -v wo="$wo" 'BEGIN { printf "counters cost %.1f ns/bid (%.1f%% of the path)\n", w - wo, 100 * (w - wo) / w }'

# Instructions per bid, exact where time is noisy: callgrind on a portable
# (-Dnative=false) build, the difference of two bid counts so that setup
# cancels out. STATS_COST_CALLGRIND=1 turns it on (about 2 minutes).
if [ "${STATS_COST_CALLGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null || die "valgrind missing: apt-get install valgrind"
	build_dir build-cg -Dnative=false -Dtests=false
	instructions() { # binary bids
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --no-huge -m 1024 \
			--no-pci --no-telemetry -l 1 --file-prefix "$prefix-cg" --log-level=lib.eal:error \
			-- "$auctions" "$2" accepted 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
	}
	per_bid() { # binary
		local a b
		a=$(instructions "$1" 100000)
		b=$(instructions "$1" 300000)
		echo $(((b - a) / 200000))
	}
	iw=$(per_bid build-cg/perf/bench_packet_path)
	iwo=$(per_bid build-cg/perf/bench_packet_path_nostats)
	printf 'instructions per bid: %s with counters, %s without: the counters cost %s\n' \
		"$iw" "$iwo" $((iw - iwo))
fi
