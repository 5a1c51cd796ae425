#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Recovery time of the node per GB of log (perf/README.md "The WAL in the
node"): tests/integration/wal_gen writes a log of BIDS accepted bids over
100 auctions, once with every key still inside the idempotency window
(stamped now) and once with every key an hour old, then a node (one worker
on a net_null port that receives nothing) recovers it; prints the node's
recovery line and s per GB. BIDPLANE=path compares another build (give it
WAL_GEN_VERSION=1 for a build before batch marks)."""
import os, re, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from bptest import Node

BIDPLANE = os.environ.get("BIDPLANE", "build/bidplane")
WAL_GEN = os.environ.get("BP_WAL_GEN", "build/tests/integration/wal_gen")
BIDS = int(os.environ.get("BIDS", "2000000"))
ARGS = ["--dedup-rate", "300000", "--dedup-seconds", "30"]

for label, age_ms in (("keys in the window", 0), ("keys an hour old", 3600 * 1000)):
    wd = tempfile.mkdtemp(prefix="recov-", dir="/var/tmp")
    state = os.path.join(wd, "state")
    subprocess.run([WAL_GEN, state, "100", str(BIDS), str(age_ms)], check=True,
                   capture_output=True)
    size = sum(os.path.getsize(os.path.join(state, "wal", f))
               for f in os.listdir(os.path.join(state, "wal")))
    n = Node(BIDPLANE, vdev="--vdev=net_null0,no-rx=1", args=ARGS, state_dir=state)
    n.cmd[n.cmd.index("-m") + 1] = "3000"
    n.start(timeout=600, wait_started=False)  # a build before it prints no start line
    n.wait_for_output("recovered", timeout=600)
    m = re.search(r"recovered .* in ([0-9.]+) s: (\d+) records.*", n.text())
    n.stop()
    t = float(m.group(1))
    print(f"{label}: log {size / 1e6:.1f} MB, {t:.3f} s, {t / (size / 1e9):.2f} s per GB")
    print("  " + m.group(0))
    shutil.rmtree(wd, ignore_errors=True)
