#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Recovery time of the node per GB of log (perf/README.md "The WAL in the
node" and "Snapshots in the node"): 12 s of bidgen at full speed against
--durability async, then a stop. The same log is then recovered twice: from
the log alone, and from a snapshot of it (a node started on a copy writes
one, is stopped, and the restart recovers from it). Prints the recovery
lines, the snapshot's time, size and records, and s per GB. Needs -m 7000
of memory for the node (no hugepages). BENCH_DEDUP_S: --dedup-seconds
(default 30; keys older than it leave the snapshot)."""
import json, os, re, sys, subprocess, tempfile, time, shutil
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from bptest import Node
wd = tempfile.mkdtemp(prefix="recov-", dir="/var/tmp")
state = os.path.join(wd, "state"); sock = os.path.join(wd, "m.sock")
dedup = os.environ.get("BENCH_DEDUP_S", "30")
args = ["--durability", "async", "--open-range", "1-50000", "--max-auctions", "65536", "--duration", "3600",
        "--no-idle-backoff", "--dedup-rate", "1000000", "--dedup-seconds", dedup]
NO_SNAPSHOTS = ["--snapshot-interval-s", "0", "--snapshot-log-mb", "0"]
def node(where, extra):
    n = Node("build/bidplane", workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
             args=args + extra, state_dir=where)
    n.cmd[n.cmd.index("-m") + 1] = "7000"
    return n
def wal_status(n):
    r = subprocess.run(["build/bidctl", "--socket", n.ctl, "--json", "status"], capture_output=True,
                       text=True, timeout=30)
    return json.loads(r.stdout)["wal"]
def wal_bytes(where):
    d = os.path.join(where, "wal")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
def recover(where):
    n = node(where, NO_SNAPSHOTS).start()
    m = re.search(r"recovered .* in ([0-9.]+) s: (\d+) records.*", n.text())
    n.stop()
    return float(m.group(1)), m.group(0)

n = node(state, NO_SNAPSHOTS).start(); time.sleep(2)
subprocess.run(["build/bidgen", "--no-huge", "-m", "512", "--lcores=0@1", "--no-pci",
    f"--vdev=net_memif0,role=client,socket={sock}", "--file-prefix", "bgrec", "--", "--auctions", "1-50000",
    "--bidders", "1000000", "--rate", "0", "--window", "64", "--duration", "12", "--quiet"], check=True, capture_output=True, timeout=120)
n.stop()
size = wal_bytes(state)
t, line = recover(state)
print(f"log alone: {line}\n  log {size/1e6:.1f} MB, {t:.3f} s, {t/(size/1e9):.2f} s per GB")
# A snapshot of the same log: a node on it writes one at once, then stops.
n = node(state, ["--snapshot-interval-s", "1", "--snapshot-log-mb", "0"]).start()
end = wal_status(n)["durable_lsn"]
while wal_status(n)["snapshot_lsn"] < end:
    time.sleep(0.2)
w = wal_status(n)
n.stop()
print(f"snapshot at LSN {w['snapshot_lsn']}: {w['snapshot_records']} records, "
      f"{w['snapshot_bytes'] / 1e6:.1f} MB, folded and written in {w['snapshot_duration_ms']} ms; "
      f"wal dir now {wal_bytes(state) / 1e6:.1f} MB")
t2, line2 = recover(state)
print(f"from the snapshot: {line2}\n  {t2:.3f} s ({t / t2:.2f}x faster than the log alone)")
shutil.rmtree(wd, ignore_errors=True)
