#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Recovery time of the node per GB of log (perf/README.md "The WAL in the
node"): 12 s of bidgen at full speed against --durability async, then a
restart; prints the node's recovery line and s per GB. Needs -m 7000 of
memory for the node (no hugepages). BENCH_SNAPSHOT=1: a snapshot is taken
once the load ends (perf/README.md "Snapshots"), so the restart recovers
from it; its time, size and records are printed too."""
import json, os, re, sys, subprocess, tempfile, time, shutil
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from bptest import Node
wd = tempfile.mkdtemp(prefix="recov-", dir="/var/tmp")
state = os.path.join(wd, "state"); sock = os.path.join(wd, "m.sock")
args = ["--durability", "async", "--open-range", "1-50000", "--max-auctions", "65536", "--duration", "3600",
        "--no-idle-backoff", "--dedup-rate", "1000000", "--dedup-seconds", "30"]
snapshot = os.environ.get("BENCH_SNAPSHOT") == "1"
args += ["--snapshot-interval-s", "0", "--snapshot-log-mb", "0"] if not snapshot else \
    ["--snapshot-interval-s", "3", "--snapshot-log-mb", "0"]
def wal_status(n):
    r = subprocess.run(["build/bidctl", "--socket", n.ctl, "--json", "status"], capture_output=True,
                       text=True, timeout=30)
    return json.loads(r.stdout)["wal"]
def node():
    n = Node("build/bidplane", workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}", args=args, state_dir=state)
    n.cmd[n.cmd.index("-m") + 1] = "7000"
    return n
n = node().start(); time.sleep(2)
subprocess.run(["build/bidgen", "--no-huge", "-m", "512", "--lcores=0@1", "--no-pci",
    f"--vdev=net_memif0,role=client,socket={sock}", "--file-prefix", "bgrec", "--", "--auctions", "1-50000",
    "--bidders", "1000000", "--rate", "0", "--window", "64", "--duration", "12", "--quiet"], check=True, capture_output=True, timeout=120)
if snapshot:
    end = wal_status(n)["durable_lsn"]
    while wal_status(n)["snapshot_lsn"] < end:
        time.sleep(0.2)
    w = wal_status(n)
    print(f"snapshot at LSN {w['snapshot_lsn']}: {w['snapshot_records']} records, "
          f"{w['snapshot_bytes'] / 1e6:.1f} MB in {w['snapshot_duration_ms']} ms")
    print([l for l in n.text().splitlines() if "snapshot at LSN" in l][-1])
n.stop()
size = sum(os.path.getsize(os.path.join(state, "wal", f)) for f in os.listdir(os.path.join(state, "wal")))
n = node().start()
m = re.search(r"recovered .* in ([0-9.]+) s: (\d+) records.*", n.text())
print(m.group(0)); n.stop()
t = float(m.group(1)); print(f"log {size/1e6:.1f} MB, {t:.3f} s, {t/(size/1e9):.2f} s per GB")
shutil.rmtree(wd, ignore_errors=True)
