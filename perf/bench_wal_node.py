#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The write-ahead log's cost in the node (perf/README.md "The WAL in the
node"): the same bidgen load over memif against a node with --durability
off, async and sync, the state directory on this machine's disk (ext4 on
/dev/vda here). Per mode: accepted bids per second, reply latency
p50/p99/p99.9 (bidgen: every reply; the workload makes nearly all of them
ACCEPTED: many auctions, few bids each), and from the node's exit summary
fsyncs per second, records per fsync and bytes per bid.
  BENCH_SECONDS (default 5), BENCH_RATE (default 0: as fast as possible),
  BENCH_WINDOWS (default "64 4096": replies outstanding, closed loop; each
  window is a row per mode), BENCH_ROUNDS (1: rounds alternate the modes,
  so that every ratio compares runs minutes apart at most),
  BENCH_GEN_CPU (0: bidgen beside the node's control thread and log
  writer, as perf/bench.sh places it; 1 puts it on the worker's CPU),
  BENCH_BUILDS (default "build": space-separated LABEL=DIR or DIR, each
  round runs every build, A/B/A/B), BENCH_DEDUP_RATE (3000000: the
  idempotency table's rated new keys per second; EAL memory follows).
Needs root for nothing; run from the source tree after `ninja -C build`."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from bptest import Node  # noqa: E402

BUILDS = [b.split("=", 1) if "=" in b else (b, b)
          for b in os.environ.get("BENCH_BUILDS", os.environ.get("BENCH_BUILD_DIR", "build")).split()]
SECS = int(os.environ.get("BENCH_SECONDS", "5"))
RATE = os.environ.get("BENCH_RATE", "0")
WINDOWS = os.environ.get("BENCH_WINDOWS", os.environ.get("BENCH_WINDOW", "64 4096")).split()
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))
GEN_CPU = os.environ.get("BENCH_GEN_CPU", "0")
# New keys per second the idempotency table is sized for: below the node's
# full-load rate, new bids are answered OVERLOADED once it fills, and
# accepted/s measures the table, not the log.
DEDUP_RATE = os.environ.get("BENCH_DEDUP_RATE", "3000000")
AUCTIONS = "1-50000"
OPENS = 50000  # the open records logged at start (66 bytes each)


def one(mode, workdir, build, window):
    state = tempfile.mkdtemp(prefix=f"wal-{mode}-", dir=workdir)
    sock = os.path.join(workdir, f"memif-{mode}.sock")
    node = Node(os.path.join(build, "bidplane"), workers=1,
                vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                args=["--durability", mode, "--open-range", AUCTIONS, "--max-auctions",
                      "65536", "--duration", "3600", "--no-idle-backoff",
                      "--dedup-rate", DEDUP_RATE, "--dedup-seconds", "1"],
                state_dir=state)
    # The idempotency table (192 B per key of the rated load) and the rest.
    node.cmd[node.cmd.index("-m") + 1] = str(512 + int(DEDUP_RATE) * 192 // (1 << 20))
    node.start()
    out = os.path.join(workdir, f"bidgen-{mode}.json")
    try:
        time.sleep(2)  # the opens' records written first
        cmd = [os.path.join(build, "bidgen"), "--no-huge", "-m", "512", f"--lcores=0@{GEN_CPU}",
               "--no-pci", f"--vdev=net_memif0,role=client,socket={sock}",
               "--file-prefix", f"bgwal{os.getpid()}", "--",
               "--auctions", AUCTIONS, "--bidders", "1000000", "--rate", RATE,
               "--window", window, "--duration", str(SECS), "--json", out, "--quiet"]
        for attempt in (1, 2):  # bidgen died in the memif PMD now and then (README)
            g = subprocess.run(cmd, capture_output=True, timeout=SECS + 60)
            if g.returncode == 0:
                break
            print(f"NOTE: bidgen exited {g.returncode} ({mode}, window {window}, attempt "
                  f"{attempt}): {g.stderr.decode(errors='replace')[-300:]}",
                  file=sys.stderr, flush=True)
        else:
            raise RuntimeError(f"bidgen failed twice ({mode}, window {window})")
    finally:
        node.stop()
    g = json.load(open(out))
    wal = {k: int(v) for k, v in re.findall(r"^  wal +(\w+) (\d+)$", node.text(), re.M)}
    m = re.search(r"fsync p50 <= (\d+) us, p99 <= (\d+) us", node.text())
    wal["fsync_p50_us"], wal["fsync_p99_us"] = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    accepted = g["replies"]["bid_reply"]["ACCEPTED"] if "ACCEPTED" in g["replies"][
        "bid_reply"] else g["replies"]["bid_reply"].get("accepted", 0)
    shutil.rmtree(state, ignore_errors=True)
    return dict(mode=mode, window=int(window), accepted=accepted, replies=g["received"], secs=g["send_seconds"],
                lat=g["latency_us"], wal=wal)


def main():
    workdir = tempfile.mkdtemp(prefix="bench-wal-", dir="/var/tmp")
    rows = []
    try:
        for rnd in range(ROUNDS):
            for window in WINDOWS:
                for label, build in BUILDS:
                    for mode in ("off", "async", "sync"):
                        r = one(mode, workdir, build, window)
                        r.update(build=label, round=rnd + 1)
                        rows.append(r)
                        print(f"round {rnd + 1} {label} window {window} {mode}: "
                              f"{r['accepted'] / (r['secs'] or 1):,.0f} accepted/s",
                              file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("| round | build | window | mode | accepted/s | replies/s | p50 us | p99 us | p99.9 us | fsyncs/s "
          "| records/fsync | bytes/bid | fsync p50/p99 us |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w, s = r["wal"], r["secs"] or 1
        fs = w.get("fsyncs", 0)
        bids = max(1, w.get("records", 0) - OPENS)  # every answered bid is a record
        print(f"| {r['round']} | {r['build']} | {r['window']} | {r['mode']} | {r['accepted'] / s:,.0f} | {r['replies'] / s:,.0f} | "
              f"{r['lat']['p50']:.0f} | {r['lat']['p99']:.0f} | {r['lat']['p999']:.0f} | "
              f"{fs / s:,.0f} | {bids / fs if fs else 0:.1f} | "
              f"{(w.get('bytes', 0) - OPENS * 66) / bids if fs else 0:.0f} | "
              f"{w.get('fsync_p50_us', 0)}/{w.get('fsync_p99_us', 0)} |")
    # Each round's ratio to the same round's off run of the same build and
    # window: the median and the range over the rounds.
    print()
    for label, _ in BUILDS:
        for window in WINDOWS:
            for mode in ("async", "sync"):
                ratios = []
                for rnd in range(1, ROUNDS + 1):
                    def rate(m):
                        return [r["accepted"] / (r["secs"] or 1) for r in rows
                                if r["build"] == label and r["window"] == int(window)
                                and r["round"] == rnd and r["mode"] == m][0]
                    ratios.append(rate(mode) / max(rate("off"), 1))
                ratios.sort()
                med = ratios[len(ratios) // 2] if len(ratios) % 2 else \
                    (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
                print(f"{label} window {window}: {mode}/off median {med:.2f} "
                      f"({ratios[0]:.2f}-{ratios[-1]:.2f}) over {ROUNDS} rounds")
    json.dump(rows, sys.stderr)


if __name__ == "__main__":
    main()
