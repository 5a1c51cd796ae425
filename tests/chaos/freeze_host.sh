#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# A host stall on demand (docs/CHAOS.md, the triage of etcd_down 2022 and
# zombie_leader 2074): one chaos run with the cluster's temp dir (the
# nodes' state dirs, etcd's data, the runner's host probe) on a loop ext4
# that is frozen (fsfreeze) for FREEZE_S seconds, DELAY_S after node 1
# shows the run's closing auctions open (the workload starts then). Every
# write and fsync there waits meanwhile, as on a disk saturated by others.
# Root. Usage (from the repository):
#   tests/chaos/freeze_host.sh BINDIR OUT EXPERIMENT SEED [DELAY_S FREEZE_S [OPEN]]
# BINDIR holds bidplane, bidctl and bidstat; OPEN: auctions open at the
# workload's start (default 25: the experiments' 20 + 5 closing).
set -u
BIN=$1 OUT=$2 EXP=$3 SEED=$4 DELAY=${5:-1} FREEZE=${6:-25} OPEN=${7:-25}
IMG=/var/tmp/bp-freeze-host.img MNT=/tmp/bp-freeze-host
mkdir -p $MNT
[ -f $IMG ] || { truncate -s 512M $IMG && mkfs.ext4 -q -F $IMG; }
mountpoint -q $MNT || mount -o loop $IMG $MNT
trap 'fsfreeze -u $MNT 2>/dev/null; sleep 1; umount $MNT' EXIT
TMPDIR=$MNT BP_BIDSTAT=$BIN/bidstat python3 tests/chaos/run.py --bidplane $BIN/bidplane \
  --bidctl $BIN/bidctl --seed $SEED --out $OUT tests/chaos/experiments/$EXP.yaml &
RUNNER=$!
for _ in $(seq 1200); do
  sock=$(ls $MNT/bp-cluster-*/node1/run*/ctl.sock 2>/dev/null | head -1)
  if [ -n "$sock" ]; then
    n=$(timeout 1 $BIN/bidctl --socket $sock --json status 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("auctions_open",0))' 2>/dev/null)
    [ "${n:-0}" -ge "$OPEN" ] && break
  fi
  sleep 0.05
done
sleep $DELAY
echo "freeze at $(date -u +%T.%N) (monotonic $(cut -d' ' -f1 /proc/uptime) s)"
fsfreeze -f $MNT
sleep $FREEZE
fsfreeze -u $MNT
echo "thaw at $(date -u +%T.%N) (monotonic $(cut -d' ' -f1 /proc/uptime) s)"
wait $RUNNER
echo "runner exit $?"
