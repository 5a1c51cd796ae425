#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The write-ahead log in the node (docs/WAL.md "The node"), --durability
async: what a node accepted survives a stop (SIGTERM) and a kill -9 (all
but the last --async-window-ms, which a paused client never risks): the
auctions, leading bids, bid_count, viewers and settlements, and a
retransmission after the restart gets its original answer with REPLAYED;
stamps after the restart are above every stamp before. A log damaged
before its end refuses the start naming the file and the offset; a torn
tail is cut off and the node starts."""

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from stats_tools import bidstat_json, by_key, wait_for_refresh
from bptest import (ACCEPTED, BIDCTL, BIDPLANE, CLOSED, REPLAYED, TOO_LOW, Client, Node, bid,
                    main, query, watch)

ARGS = ["--durability", "async", "--open-range", "1-3", "--duration", "600"]


def segments(state):
    return sorted(glob.glob(os.path.join(state, "wal", "*.wal")))


class WalRestart(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="bp-wal-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def node(self, extra=()):
        return Node(BIDPLANE, args=ARGS + list(extra), state_dir=self.state)

    def first_life(self, c):
        """Bids, watches and a settlement; returns what the client saw."""
        seen = {}
        for rid, (auction, bidder, amount) in enumerate(
                [(1, 7, 100), (1, 8, 150), (1, 7, 140), (2, 9, 50)], start=1):
            r = c.ask(bid(rid, auction, bidder, amount))
            seen[rid] = (auction, bidder, amount, r)
        self.assertEqual([seen[i][3]["status"] for i in (1, 2, 3, 4)],
                         [ACCEPTED, ACCEPTED, TOO_LOW, ACCEPTED])
        for rid, viewer in ((20, 31), (21, 32)):
            self.assertEqual(c.ask(watch(rid, 1, viewer))["status"], ACCEPTED)
        self.assertEqual(c.ask(bid(30, 3, 5, 70))["status"], ACCEPTED)
        return seen

    def check_second_life(self, node, c, seen):
        q = c.ask(query(100, 1))
        self.assertEqual((q["leading_amount"], q["leading_bidder"]), (150, 8), q)
        self.assertEqual(q["bid_count"], 2, q)
        self.assertEqual(q["viewers"], 2, q)
        q2 = c.ask(query(101, 2))
        self.assertEqual((q2["leading_amount"], q2["bid_count"]), (50, 1), q2)
        for rid, (auction, bidder, amount, before) in seen.items():
            again = c.ask(bid(rid, auction, bidder, amount))
            self.assertEqual(again["status"], before["status"], (rid, again))
            self.assertEqual(again["flags"] & REPLAYED, REPLAYED, (rid, again))
            self.assertEqual(again["hlc"], before["hlc"], (rid, again))
        # A replay counted nothing twice.
        self.assertEqual(c.ask(query(102, 1))["bid_count"], 2)
        newest = max(s[3]["hlc"] for s in seen.values())
        r = c.ask(bid(200, 1, 10, 1000))
        self.assertEqual(r["status"], ACCEPTED, r)
        self.assertGreater(r["hlc"], newest)

    def test_a_stopped_node_keeps_what_it_accepted(self):
        first = self.node().start()
        c = Client()
        try:
            seen = self.first_life(c)
            closing = first.bidctl(BIDCTL, "close", "3")
            self.assertEqual(closing.returncode, 0, closing.stderr)
        finally:
            c.close()
            self.assertEqual(first.stop(), 0)
        self.assertTrue(segments(self.state), os.listdir(self.state))

        second = self.node().start()
        c = Client()
        try:
            self.assertIn("recovered", second.text())
            st = json.loads(second.bidctl(BIDCTL, "--json", "status").stdout)
            wal = st["wal"]
            self.assertEqual(wal["durability"], "async", st)
            self.assertGreaterEqual(wal["lsn"], 9, st)  # 3 opens, 5 bids, 2 watches...
            self.assertIsNone(wal["error"], st)
            text = second.bidctl(BIDCTL, "status").stdout
            self.assertRegex(text, r"wal: +async, lsn \d+, durable \d+", text)
            wait_for_refresh(self, second.stats_name)
            m = by_key(bidstat_json(self, second.stats_name))
            self.assertGreaterEqual(m["wal_recovery_records"]["total"], 10)
            self.assertGreaterEqual(m["wal_durable_lsn"]["total"], 10)
            self.assertGreater(m["wal_fsyncs_total"]["total"], 0)
            self.assertEqual(m["not_serving/wal"]["total"], 0)
            self.assertIn("wal_fsync_latency_total/1024", m)
            self.check_second_life(second, c, seen)
            q3 = c.ask(query(103, 3))
            self.assertEqual((q3["leading_amount"], q3["bid_count"]), (70, 1), q3)
            self.assertEqual(c.ask(bid(301, 3, 6, 500))["status"], CLOSED)
            st = json.loads(second.bidctl(BIDCTL, "--json", "query", "3").stdout)
            self.assertIn("settle", json.dumps(st), st)
        finally:
            c.close()
            self.assertEqual(second.stop(), 0)

    def test_kill_9_after_the_window(self):
        first = self.node().start()
        c = Client()
        try:
            seen = self.first_life(c)
            time.sleep(0.2)  # past --async-window-ms: the log has it
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
        finally:
            c.close()
            first.stop()
        second = self.node().start()
        c = Client()
        try:
            self.check_second_life(second, c, seen)
        finally:
            c.close()
            self.assertEqual(second.stop(), 0)

    def stopped_with_bids(self):
        first = self.node().start()
        c = Client()
        try:
            self.first_life(c)
        finally:
            c.close()
            self.assertEqual(first.stop(), 0)
        segs = segments(self.state)
        self.assertEqual(len(segs), 1, segs)
        return segs[0]

    def test_a_torn_tail_is_cut_and_the_node_starts(self):
        seg = self.stopped_with_bids()
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.truncate(size - 5)  # the last record, cut short
        second = self.node().start()
        try:
            self.assertIn("cut a torn tail off", second.text())
        finally:
            self.assertEqual(second.stop(), 0)

    def test_damage_before_the_end_refuses_naming_file_and_offset(self):
        seg = self.stopped_with_bids()
        with open(seg, "r+b") as f:
            f.seek(32 + 30)  # inside the first record, after the file header
            b = f.read(1)
            f.seek(32 + 30)
            f.write(bytes([b[0] ^ 0xFF]))
        n = self.node()
        r = subprocess.run(n.cmd, capture_output=True, text=True, timeout=60)
        n.remove_leftovers()  # an exited node's segment stays, by design (STATS.md)
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertIn(os.path.basename(seg), out)
        self.assertIn("offset 32", out)
        self.assertIn("restore the state directory", out)


if __name__ == "__main__":
    main("wal")
