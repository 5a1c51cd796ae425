#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A stalled RCU reader under load: replaced leading-bid records are never
leaked, and service recovers (issue: a control-thread stall leaked records
for good and the node then answered OVERLOADED forever).

1. Slow control-socket clients (connected, silent past the server's
   per-client budget) while bidgen bids: they used to keep the control
   thread an online RCU reader for 100 ms each, filling the workers' defer
   queues. Now the service thread serves them and is no reader: nothing
   is shed for want of a grace period and every record comes back.
2. A reader held online on purpose (test hook) while bidgen bids: bids
   that would retire a record are shed OVERLOADED once the retirement
   queue is full; after the stall every record comes back and bids are
   ACCEPTED again."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from bptest import BIDPLANE, Node
from stats_tools import bidstat_json, by_key, telemetry, wait_for_refresh

BIDGEN = os.environ.get("BP_BIDGEN", "build/bidgen")
AUCTIONS = "1-200"  # warmed up, then bid on under load
FRESH = "201-400"  # first bid on after the load: bidgen's amounts restart per run


def total(stat, key):
    m = by_key(stat)
    return m[key]["total"] if key in m else 0


class ReaderStall(unittest.TestCase):
    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="bp-stall-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        self.sock = os.path.join(self.run_dir, "memif.sock")
        self.ncpu = os.cpu_count() or 1

    def start_node(self, *args):
        node = Node(BIDPLANE, workers=1,
                    vdev=f"--vdev=net_memif0,role=server,socket={self.sock}",
                    args=["--open-range", "1-400", "--increment", "1",
                          # admission control off, and an idempotency table
                          # for a million new ids a second: every OVERLOADED
                          # is the stall's
                          "--overload-backlog", "0", "--dedup-rate", "1000000",
                          "--dedup-seconds", "1"] + list(args))
        node.start()
        self.addCleanup(node.stop)
        return node

    def bidgen(self, count, seed, auctions=AUCTIONS):
        out = os.path.join(self.run_dir, f"gen-{seed}.json")
        gen = subprocess.run(
            [BIDGEN, "--no-huge", "-m", "512", f"--lcores=0@{1 % self.ncpu}", "--no-pci",
             f"--vdev=net_memif0,role=client,socket={self.sock}", "--",
             "--auctions", auctions, "--count", str(count), "--rate", "0",
             "--window", "256", "--timeout", "2000", "--seed", str(seed), "--quiet",
             "--json", out],
            capture_output=True, text=True, timeout=180)
        self.assertIn(gen.returncode, (0, 1), gen.stdout + gen.stderr)
        with open(out) as f:
            return json.load(f)

    def free_records(self, node):
        wait_for_refresh(self, node.stats_name)
        return total(bidstat_json(self, node.stats_name), "bid_records/free")

    def wait_free(self, node, want, timeout=20):
        """Polls until the free records are back at `want` (workers reclaim
        in their loop; the stats refresh every 100 ms). Bounded."""
        deadline = time.time() + timeout
        free = None
        while time.time() < deadline:
            free = self.free_records(node)
            if free == want:
                return free
            time.sleep(0.1)
        return free

    def warm_up(self, node):
        """Every auction gets a leader, so that later the records in use are
        exactly one per auction plus those waiting for a grace period."""
        g = self.bidgen(2000, seed=1)
        self.assertGreater(g["replies"]["bid_reply"].get("accepted", 0), 200)
        return self.free_records(node)

    def test_slow_control_clients_do_not_stall_reclamation(self):
        node = self.start_node()
        before = self.warm_up(node)
        stop = threading.Event()

        def slow_clients():
            # Ten at a time, each silent past the 100 ms per-client budget.
            while not stop.is_set():
                conns = []
                for _ in range(10):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(node.ctl)
                    conns.append(s)
                time.sleep(0.15)
                for s in conns:
                    s.close()

        t = threading.Thread(target=slow_clients, daemon=True)
        t.start()
        try:
            g = self.bidgen(100000, seed=2)
        finally:
            stop.set()
            t.join()
        accepted = g["replies"]["bid_reply"].get("accepted", 0)
        self.assertGreater(accepted, 20000, g["replies"])
        stat = bidstat_json(self, node.stats_name)
        self.assertEqual(total(stat, "bid_retire_full_total"), 0)
        self.assertEqual(self.wait_free(node, before), before)
        after = self.bidgen(2000, seed=3, auctions=FRESH)
        self.assertGreater(after["replies"]["bid_reply"].get("accepted", 0), 200)

    def test_a_stalled_reader_sheds_then_recovers_without_leaking(self):
        os.environ["BIDPLANE_TEST_HOOKS"] = "1"
        self.addCleanup(os.environ.pop, "BIDPLANE_TEST_HOOKS", None)
        # 1 ms of budget: a retirement queue of 8192 records per worker.
        node = self.start_node("--stall-budget-ms", "1")
        before = self.warm_up(node)
        self.assertEqual(telemetry(self, node.prefix, "/bidplane/test/reader_stall,on"),
                         {"reader_stall": "on"})
        try:
            stalled = self.bidgen(30000, seed=4)
        finally:
            telemetry(self, node.prefix, "/bidplane/test/reader_stall,off")
        shed = stalled["replies"]["bid_reply"].get("overloaded", 0)
        accepted = stalled["replies"]["bid_reply"].get("accepted", 0)
        # The queue absorbed at most its capacity, then bids were shed.
        self.assertGreater(accepted, 0, stalled["replies"])
        self.assertLessEqual(accepted, 8192, stalled["replies"])
        self.assertGreater(shed, 10000, stalled["replies"])
        wait_for_refresh(self, node.stats_name)
        stat = bidstat_json(self, node.stats_name)
        self.assertEqual(total(stat, "bid_retire_full_total"), shed)
        # After the stall: every record back, bids accepted again.
        self.assertEqual(self.wait_free(node, before), before)
        after = self.bidgen(2000, seed=5, auctions=FRESH)
        self.assertGreater(after["replies"]["bid_reply"].get("accepted", 0), 200)
        self.assertEqual(after["replies"]["bid_reply"].get("overloaded", 0), 0)


if __name__ == "__main__":
    from bptest import main
    main("stall")
