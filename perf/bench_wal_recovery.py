#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Recovery time of the node per GB of log (perf/README.md "The WAL in the
node"): 12 s of bidgen at full speed against --durability async, then a
restart; prints the node's recovery line and s per GB. Needs -m 7000 of
memory for the node (no hugepages)."""
import os, re, sys, subprocess, tempfile, time, shutil
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from bptest import Node
wd = tempfile.mkdtemp(prefix="recov-", dir="/var/tmp")
state = os.path.join(wd, "state"); sock = os.path.join(wd, "m.sock")
args = ["--durability", "async", "--open-range", "1-50000", "--max-auctions", "65536", "--duration", "3600",
        "--no-idle-backoff", "--dedup-rate", "1000000", "--dedup-seconds", "30"]
def node():
    n = Node("build/bidplane", workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}", args=args, state_dir=state)
    n.cmd[n.cmd.index("-m") + 1] = "7000"
    return n
n = node().start(); time.sleep(2)
subprocess.run(["build/bidgen", "--no-huge", "-m", "512", "--lcores=0@1", "--no-pci",
    f"--vdev=net_memif0,role=client,socket={sock}", "--file-prefix", "bgrec", "--", "--auctions", "1-50000",
    "--bidders", "1000000", "--rate", "0", "--window", "64", "--duration", "12", "--quiet"], check=True, capture_output=True, timeout=120)
n.stop()
size = sum(os.path.getsize(os.path.join(state, "wal", f)) for f in os.listdir(os.path.join(state, "wal")))
n = node().start()
m = re.search(r"recovered .* in ([0-9.]+) s: (\d+) records.*", n.text())
print(m.group(0)); n.stop()
t = float(m.group(1)); print(f"log {size/1e6:.1f} MB, {t:.3f} s, {t/(size/1e9):.2f} s per GB")
shutil.rmtree(wd, ignore_errors=True)
