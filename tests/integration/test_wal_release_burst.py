#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""--durability sync: a group commit releases every reply parked behind it
at once, more than a TX queue holds (dataplane/park.c). The hold_wal
preload holds the log writer while bidgen sends a few thousand bids over
memif, all parked; released together, every one must reach bidgen: none
dropped by the full TX queue (before, some were: 64 of 2,528 in one run,
the node's `tx dropped` and bidgen's lost replies). And a worker parks
more than the 4096 replies it used to (WORKER_PARK_MAX 8192) without
refusing a bid for want of a place. Root only (bidgen, DPDK)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from bptest import Node

BIDPLANE = os.environ.get("BP_BIDPLANE", "build/bidplane")
BIDGEN = os.environ.get("BP_BIDGEN", "build/bidgen")
HOLD_SO = os.environ.get("BP_HOLD_WAL_SO", "build/tests/integration/libhold_wal.so")


def summary_value(summary, name):
    m = re.search(rf"^  wal +{name} (\d+)$", summary, re.M)
    return int(m.group(1)) if m else None


@unittest.skipUnless(os.geteuid() == 0, "bidgen (DPDK) needs root")
class ReleaseBurst(unittest.TestCase):
    def held_run(self, bids, rate):
        """bidgen sends `bids` bids on as many auctions while the log writer
        is held, released 1.5 s in: bidgen's JSON and the node's output."""
        work = tempfile.mkdtemp(prefix="bp-release-")
        self.addCleanup(shutil.rmtree, work, True)
        self.addCleanup(shutil.rmtree, f"/var/run/dpdk/bpgen-rel-{os.getpid()}", True)
        flag = os.path.join(work, "hold")
        sock = os.path.join(work, "memif.sock")
        os.environ["LD_PRELOAD"] = HOLD_SO
        os.environ["BP_HOLD_WAL"] = flag
        try:
            node = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                        args=["--durability", "sync", "--open-range", f"1-{bids}",
                              "--duration", "600", "--dedup-rate", "20000"])
            node.start()
        finally:
            del os.environ["LD_PRELOAD"]
            del os.environ["BP_HOLD_WAL"]
        out = os.path.join(work, "bidgen.json")
        try:
            time.sleep(1)  # the opens durable
            open(flag, "w").close()
            time.sleep(0.2)  # a commit already in its pwritev goes on
            # Released 1.5 s in, when every bid is parked (bidgen sends
            # them within 50 ms and waits up to 5 s for the replies).
            threading.Timer(1.5, os.unlink, [flag]).start()
            gen = subprocess.run(
                [BIDGEN, "--no-huge", "-m", "512", "--lcores=0@0", "--no-pci",
                 f"--file-prefix=bpgen-rel-{os.getpid()}",
                 f"--vdev=net_memif0,role=client,socket={sock}", "--",
                 "--auctions", f"1-{bids}", "--bidders", "1000000", "--count", str(bids),
                 "--rate", str(rate), "--timeout", "5000", "--quiet", "--json", out],
                capture_output=True, text=True, timeout=120)
        finally:
            time.sleep(1.6)  # the timer has fired
            if os.path.exists(flag):
                os.unlink(flag)
            node.stop()
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
        g = json.load(open(out))
        print(f"bidgen: sent {g['sent']}, received {g['received']}, lost {g['lost']}; "
              f"replies {g['replies']['bid_reply']}", file=sys.stderr)
        return g, node.text()

    def test_every_released_reply_reaches_the_client(self):
        g, summary = self.held_run(4000, 0)
        self.assertGreater(summary_value(summary, "parked"), 2048,
                           "too few parked to fill a TX queue:\n" + summary)
        dropped = re.search(r"tx dropped (\d+)", summary)
        self.assertEqual(int(dropped.group(1)) if dropped else 0, 0, summary)
        self.assertEqual(g["lost"], 0, summary)
        self.assertEqual(g["received"], 4000, summary)

    def test_more_than_4096_replies_park_behind_one_commit(self):
        """A worker parks what comes during two slow commits (WORKER_PARK_MAX
        8192): more than the 4096 it had, with no bid refused for want of a
        place (wal ring_full) and every reply delivered."""
        g, summary = self.held_run(8000, 100000)
        self.assertGreater(summary_value(summary, "parked"), 4096, summary)
        self.assertEqual(summary_value(summary, "ring_full"), 0, summary)
        self.assertEqual(g["lost"], 0, summary)


if __name__ == "__main__":
    unittest.main(verbosity=2)
