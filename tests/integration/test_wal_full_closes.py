#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A full disk while many auctions close (docs/WAL.md "The reserve"): the
control thread logs a close and a settlement per auction, and 60 000 of
them (~7 MB) would use up the log's reserve (~4 MiB) and fail the writer
with ENOSPC, its records lost: review 5's reproduction, on 843c7eb. Now
closes and settlements wait while the log is full: the writer stays full,
never failed, nothing is closed while full, and once space returns every
auction closes. Root only (mount)."""

import json
import os
import time
import unittest

from bptest import ACCEPTED, BIDCTL, BIDPLANE, NOT_SERVING, Client, Node, TmpfsStateDir, bid, main

AUCTIONS = 60000
DURATION = 8  # the auctions close this long after the start
ARGS = ["--durability", "sync", "--open-range", f"1-{AUCTIONS}", "--duration", str(DURATION)]


@unittest.skipUnless(os.geteuid() == 0, "needs root (mount -t tmpfs)")
class ClosesWhileFull(TmpfsStateDir, unittest.TestCase):
    def setUp(self):
        self.mount_state("bp-fullclose-", "32m")

    def status(self, node):
        return json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)

    def test_closes_wait_while_the_log_is_full(self):
        t0 = time.time()
        node = Node(BIDPLANE, args=ARGS, state_dir=self.state).start()
        c = Client(timeout=0.5)
        try:
            self.assertEqual(c.ask(bid(1, 1, 1, 10))["status"], ACCEPTED)
            filler = self.fill(leave=16 * 1024)
            rid, amount, refused = 1, 10, False
            while not refused and time.time() - t0 < DURATION - 2:
                rid += 1
                amount += 1
                refused = c.ask(bid(rid, 1, 2, amount), retries=3)["status"] == NOT_SERVING
            self.assertTrue(refused, "the log never turned full before the closes")
            # Past the close time, still full: nothing closed, the log not failed.
            while time.time() - t0 < DURATION + 3:
                time.sleep(0.5)
            st = self.status(node)
            self.assertTrue(st["wal"]["full"], st["wal"])
            self.assertNotIn("failed", st["wal"]["error"] or "", st["wal"])
            self.assertEqual(st["auctions_closed"], 0, st)
            os.unlink(filler)  # space returns: the closes go on
            deadline = time.time() + 30
            while time.time() < deadline:
                st = self.status(node)
                if st["auctions_closed"] >= AUCTIONS and not st["wal"]["full"]:
                    break
                time.sleep(0.5)
            self.assertEqual(st["auctions_closed"], AUCTIONS, st)
            self.assertIsNone(st["wal"]["error"], st["wal"])
            self.assertNotIn("write-ahead log failed", node.text())
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    main("fullclose")
