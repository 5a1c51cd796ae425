#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, then runs a
# short demo: a bidplane node on a memif server port and bidgen on the
# client side for a few seconds, then bidgen's summary, a stats snapshot of
# the node (bidstat --once, the hottest auctions from bidctl list) and the
# node's exit summary.
#   DEMO_SECONDS (default 5), DEMO_RATE (bids/s, default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

ensure_packages
ensure_stats_group
say "build: build/"
build_dir build

mem_args=$(hugepage_eal_args 512)
seconds=${DEMO_SECONDS:-5}
rate=${DEMO_RATE:-200000}
run=$(mktemp -d /tmp/bidplane-demo.XXXXXX)
sock=$run/memif.sock
ctl=$run/ctl.sock
name=demo-$$
node_pid=

cleanup() {
	if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
		kill -TERM "$node_pid" 2>/dev/null || true
		wait "$node_pid" 2>/dev/null || true
	fi
	rm -rf "$run"
	rm -f "/dev/shm/$name.bpstats"
}
trap cleanup EXIT

say "starting the node: memif server $sock, auctions 1-1000 open"
# shellcheck disable=SC2086
./build/bidplane $mem_args -l 0-1 --no-pci \
	--vdev="net_memif0,role=server,socket=$sock" -- \
	--ip 198.18.0.2 --open-range 1-1000 --reserve 100 --increment 5 --duration 600 \
	--control-socket "$ctl" --state-dir "$run/state" --stats-name "$name" \
	>"$run/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
	grep -q ' mac ' "$run/node.log" 2>/dev/null && break
	kill -0 "$node_pid" 2>/dev/null || { cat "$run/node.log"; die "the node did not start"; }
	sleep 0.2
done
grep -q ' mac ' "$run/node.log" || { cat "$run/node.log"; die "the node did not start in 20 s"; }
sed -n '/^bidplane /,$p' "$run/node.log"

# bidgen --strict fails on a mismatch (a wrong answer: the demo fails) and
# on a lost reply. A few lost replies are what a busy machine does to a
# node and a generator sharing its cores (a full RX ring drops frames):
# said, not failed on. Most of them lost, or nothing sent, fails.
demo_judge_bidgen() {
	python3 - "$1" <<'PY' || die "bidgen: a wrong answer, more than 1% of the replies lost, or no bid ACCEPTED (its summary above says which)"
import json, sys
j = json.load(open(sys.argv[1]))
sent, lost, bad = j.get("sent", 0), j.get("lost", 0), j.get("mismatch_total", 0)
accepted = j.get("replies", {}).get("bid_reply", {}).get("accepted", 0)
if bad or sent == 0 or lost * 100 > sent or accepted == 0:
    sys.exit(1)
print(f"demo: 0 mismatches; {lost} of {sent} replies lost (under 1%): the node and bidgen "
      "share this machine's cores, and a busy moment fills a receive ring; not a wrong answer")
PY
}

say "bidgen: ${seconds}s at ${rate} requests/s over memif (bids, duplicates, queries, malformed)"
# shellcheck disable=SC2086
./build/bidgen $mem_args -l 0-1 --no-pci \
	--vdev="net_memif0,role=client,socket=$sock" -- \
	--dst-ip 198.18.0.2 --auctions 1-1000 --bidders 5000 --zipf 0.99 \
	--duration "$seconds" --rate "$rate" --dup-ratio 0.02 --query-ratio 0.05 \
	--watch-ratio 0.02 --bad-ratio 0.01 --strict --json "$run/bidgen.json" ||
	demo_judge_bidgen "$run/bidgen.json"

say "stats snapshot: bidstat --once $name (live view: bidstat $name)"
./build/bidstat --once "$name"
say "hottest auctions (bidctl list)"
./build/bidctl --socket "$ctl" list >"$run/list.txt"
head -n 1 "$run/list.txt"
tail -n +2 "$run/list.txt" | grep -v ' auctions$' | sort -k5 -n -r | sed -n '1,5p'

say "stopping the node (SIGTERM)"
kill -TERM "$node_pid"
wait "$node_pid"
node_pid=
sed -n '/=== bidplane node/,$p' "$run/node.log"
