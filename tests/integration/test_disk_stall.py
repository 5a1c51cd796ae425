#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A disk that stops answering (the hold_fsync preload: every fsync and
fdatasync of the node waits while a flag file exists) must not silence
`bidctl`: the chaos campaign of 2026-12-01b lost a node's final views
(etcd_down seed 2022, about 90 s) and every node's status (zombie_leader
seed 2074, 27 s) while the host's fsyncs stood still, because the thread
that answers the control socket also renewed the HLC ceiling with an
fsync. Now the ceiling has a thread of its own: during the stall status
answers at once and says why bids are refused, bids are answered
NOT_SERVING, and the node serves again once the disk answers.
Root only."""

import json
import os
import subprocess
import tempfile
import time
import unittest

import cluster
from bptest import ACCEPTED, NOT_SERVING, bid, wait_for
from cluster import Cluster

HOLD_SO = os.environ.get("BP_HOLD_FSYNC_SO", "build/tests/integration/libhold_fsync.so")
# The ceiling is renewed once less than max drift + 500 ms is left of its
# lease (max drift + 1000 ms): with the default drift (500 ms) bids stop
# about 1 s after the last renewal that reached the disk.
STALL_S = 2.5
ANSWER_S = 1.0  # a status of an idle node takes milliseconds


def timed_status(node, timeout=3.0):
    """(status or None, seconds): bidctl --json status, bounded."""
    t0 = time.monotonic()
    try:
        r = subprocess.run([node.cluster.bidctl_binary, "--socket", node.ctl, "--json",
                            "status"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0
    return json.loads(r.stdout), time.monotonic() - t0


class DiskStall(unittest.TestCase):
    def setUp(self):
        self.flag = tempfile.mktemp(prefix="bp-hold-fsync-")
        self.addCleanup(self.release)
        os.environ["BP_HOLD_FSYNC"] = self.flag
        self.addCleanup(os.environ.pop, "BP_HOLD_FSYNC", None)

    def release(self):
        if os.path.exists(self.flag):
            os.unlink(self.flag)

    def start(self, name, durability):
        c = Cluster(name)
        self.addCleanup(c.stop)
        os.environ["LD_PRELOAD"] = HOLD_SO
        try:
            c.start(1, args=["--open-range", "1-1", "--duration", "600",
                             "--durability", durability])
        finally:
            del os.environ["LD_PRELOAD"]
        wait_for("serving", lambda: (timed_status(c.node(1))[0] or {}).get("serving"))
        return c

    def check_stall(self, c):
        node, cl = c.node(1), c.client(1)
        self.assertEqual(cl.ask(bid(1, 1, 7, 10))["status"], ACCEPTED)
        open(self.flag, "w").close()
        time.sleep(STALL_S)
        answers = [timed_status(node) for _ in range(3)]
        for st, took in answers:
            self.assertIsNotNone(st, f"bidctl status unanswered for {took:.1f} s while "
                                     "fsync stood still (the control socket waits on the disk)")
            self.assertLess(took, ANSWER_S, f"bidctl status took {took:.2f} s")
        st = answers[-1][0]
        self.assertFalse(st["serving"], st)
        self.assertIn(st["not_serving_reason"], ("hlc_ceiling", "wal"), st)
        self.assertEqual(cl.ask(bid(2, 1, 8, 11))["status"], NOT_SERVING)
        self.release()
        wait_for("serving again", lambda: (timed_status(node)[0] or {}).get("serving"),
                 timeout=5)
        self.assertEqual(cl.ask(bid(3, 1, 9, 12))["status"], ACCEPTED)

    def test_status_answers_while_fsync_stands_still(self):
        """--durability off: only the HLC ceiling waits on the disk."""
        self.check_stall(self.start("stall-off", "off"))

    def test_status_answers_while_fsync_stands_still_sync(self):
        """--durability sync (the campaign's): the log writer waits too."""
        self.check_stall(self.start("stall-sync", "sync"))


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
