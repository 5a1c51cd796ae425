#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Snapshots in the node (docs/WAL.md "Snapshots in the node"): bids,
watches, a close and a settlement, a snapshot, more of them, then a restart
(SIGTERM and kill -9) from the snapshot and the log after it: every
ACCEPTED bid is there, bid_count and viewers are exactly what they were,
and a retransmission of a key from before or after the snapshot gets its
original status and stamp with REPLAYED. Under load with small segments
the segments a snapshot covers are deleted and the wal directory stays
under the documented bound. A flipped byte in the snapshot refuses the
start naming the file, the offset and the fix; a .snap.tmp a crash left is
ignored and then removed; a snapshot that cannot be written is counted and
the node keeps serving."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from stats_tools import bidstat_json, by_key, wait_for_refresh
from bptest import (ACCEPTED, BIDCTL, BIDPLANE, NOT_SERVING, REPLAYED, Client, Node, bid, main,
                    query, watch)

ARGS = ["--durability", "sync", "--open-range", "1-3", "--duration", "600",
        "--dedup-seconds", "600", "--dedup-rate", "200", "--snapshot-interval-s", "2"]


def wal_dir(state):
    return os.path.join(state, "wal")


def files(state, suffix):
    return sorted(glob.glob(os.path.join(wal_dir(state), "*" + suffix)))


def dir_bytes(state):
    total = 0
    for name in os.listdir(wal_dir(state)):
        try:
            total += os.path.getsize(os.path.join(wal_dir(state), name))
        except FileNotFoundError:
            pass  # deleted between the listing and the stat
    return total


def wal_status(node):
    for _ in range(3):  # a loaded machine may keep bidctl past its 5 s
        r = node.bidctl(BIDCTL, "--json", "status")
        if r.returncode == 0:
            return json.loads(r.stdout)["wal"]
    raise AssertionError(r.stderr)


def wait_for_snapshot(test, node, lsn, timeout=20):
    """The status once a snapshot at `lsn` or later is written."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        wal = wal_status(node)
        if wal["snapshot_lsn"] >= lsn:
            return wal
        time.sleep(0.1)
    test.fail(f"no snapshot at LSN >= {lsn} within {timeout} s: {wal}\n{node.text()}")


def auctions_now(c, ids):
    """Each auction's (leader, bidder, bid_count, viewers), once the node
    serves (a restarted node may answer NOT_SERVING for a moment)."""
    out = {}
    for i, a in enumerate(ids):
        deadline = time.time() + 15
        q = c.ask(query(9 * 10 ** 8 + i, a))
        while q["status"] == NOT_SERVING and time.time() < deadline:
            time.sleep(0.1)
            q = c.ask(query(9 * 10 ** 8 + i, a))
        out[a] = (q["leading_amount"], q["leading_bidder"], q["bid_count"], q["viewers"])
    return out


class WalSnapshot(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="bp-snap-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def node(self, extra=()):
        return Node(BIDPLANE, args=ARGS + list(extra), state_dir=self.state)

    def bids(self, c, seen, rows, first_rid):
        for rid, (auction, bidder, amount) in enumerate(rows, start=first_rid):
            seen[rid] = ("bid", (auction, bidder, amount), c.ask(bid(rid, auction, bidder, amount)))

    def views(self, c, seen, rows, first_rid):
        for rid, (auction, viewer, unwatch) in enumerate(rows, start=first_rid):
            r = c.ask(watch(rid, auction, viewer, unwatch=unwatch))
            self.assertEqual(r["status"], ACCEPTED, r)
            seen[rid] = ("view", (auction, viewer, unwatch), r)

    def retransmit_all(self, c, seen):
        for rid, (kind, args, before) in sorted(seen.items()):
            if kind == "bid":
                again = c.ask(bid(rid, *args))
            else:
                a, v, unwatch = args
                again = c.ask(watch(rid, a, v, unwatch=unwatch))
            self.assertEqual(again["status"], before["status"], (rid, again, before))
            self.assertEqual(again["flags"] & REPLAYED, REPLAYED, (rid, again))
            if kind == "bid":
                self.assertEqual(again["hlc"], before["hlc"], (rid, again, before))

    def restart_from_a_snapshot(self, kill):
        first = self.node().start()
        c = Client()
        seen = {}
        try:
            self.bids(c, seen, [(1, 7, 100), (1, 8, 150), (1, 7, 140), (2, 9, 50), (3, 5, 70)], 1)
            self.views(c, seen, [(1, 31, False), (1, 32, False), (1, 31, True), (2, 33, False)],
                       20)
            self.assertEqual(first.bidctl(BIDCTL, "close", "3").returncode, 0)
            self.assertTrue(first.wait_for_output("settled", timeout=10), first.text())
            lsn = wal_status(first)["durable_lsn"]
            wal = wait_for_snapshot(self, first, lsn)
            snap_lsn = wal["snapshot_lsn"]
            self.assertGreater(wal["snapshot_bytes"], 32, wal)
            self.assertGreater(wal["snapshot_records"], 10, wal)
            self.assertGreaterEqual(wal["snapshots"], 1, wal)
            self.assertEqual(wal["snapshot_failures"], 0, wal)
            self.assertIsNotNone(wal["snapshot_age_s"], wal)
            self.assertEqual(len(files(self.state, ".snap")), 1, os.listdir(wal_dir(self.state)))
            text = first.bidctl(BIDCTL, "status").stdout
            self.assertRegex(text, r"snapshot: +lsn \d+, \d+ s old, \d+ bytes, \d+ records", text)
            wait_for_refresh(self, first.stats_name)
            m = by_key(bidstat_json(self, first.stats_name))
            self.assertGreaterEqual(m["wal_snapshots_total"]["total"], 1)
            self.assertGreaterEqual(m["wal_snapshot_lsn"]["total"], snap_lsn)
            self.assertGreater(m["wal_snapshot_bytes"]["total"], 32)
            self.assertEqual(m["wal_snapshot_failures_total"]["total"], 0)
            self.assertIn("wal_snapshot_age_seconds", m)
            self.assertIn("wal_snapshot_duration_us", m)
            # After the snapshot: more bids, a watch, a TOO_LOW.
            self.bids(c, seen, [(1, 10, 300), (2, 11, 60), (2, 12, 55), (1, 13, 200)], 40)
            self.views(c, seen, [(2, 34, False), (1, 32, True)], 60)
            before = auctions_now(c, [1, 2, 3])
            self.assertEqual(before[1][2], 3, before)  # 100, 150, 300 ACCEPTED
            self.assertEqual(before[1][3], 0, before)  # 2 watches, 2 unwatches
            self.assertEqual(before[2][2:], (2, 2), before)
            if kill:
                time.sleep(0.1)  # sync: what was answered is durable already
                first.proc.send_signal(signal.SIGKILL)
                first.proc.wait(timeout=10)
        finally:
            c.close()
            rc = first.stop()
        if not kill:
            self.assertEqual(rc, 0)
        second = self.node(["--snapshot-interval-s", "0", "--snapshot-log-mb", "0"]).start()
        c = Client()
        try:
            m = re.search(r"recovered .*?: (\d+) records .*snapshot at LSN (\d+)\)", second.text())
            self.assertIsNotNone(m, second.text())
            # Recovered from that snapshot, and the records after it from the log.
            self.assertEqual((int(m.group(2)), int(m.group(1)) > 0), (snap_lsn, True), m.group(0))
            self.assertEqual(auctions_now(c, [1, 2, 3]), before)
            self.retransmit_all(c, seen)
            self.assertEqual(auctions_now(c, [1, 2, 3]), before)  # nothing counted twice
            q3 = c.ask(query(99, 3))
            self.assertEqual((q3["leading_amount"], q3["bid_count"]), (70, 1), q3)
            st = json.loads(second.bidctl(BIDCTL, "--json", "query", "3").stdout)
            self.assertIn("settle", json.dumps(st), st)
            newest = max(s[2]["hlc"] for s in seen.values() if s[0] == "bid")
            r = c.ask(bid(500, 1, 10, 1000))
            self.assertEqual(r["status"], ACCEPTED, r)
            self.assertGreater(r["hlc"], newest)
        finally:
            c.close()
            self.assertEqual(second.stop(), 0)

    def test_restart_after_sigterm_from_the_snapshot_and_the_log(self):
        self.restart_from_a_snapshot(kill=False)

    def test_restart_after_kill_9_from_the_snapshot_and_the_log(self):
        self.restart_from_a_snapshot(kill=True)

    def test_the_wal_directory_stays_bounded_under_load(self):
        """1 MiB segments, a snapshot per MiB of log: the directory holds
        one snapshot (two while the next is written), the log since it and
        the current segment (plus what arrives while a snapshot is
        written); the oldest segments go."""
        extra = ["--durability", "async", "--wal-segment-mb", "1", "--snapshot-log-mb", "1",
                 "--snapshot-interval-s", "2", "--dedup-seconds", "2", "--dedup-rate", "50000"]
        node = self.node(extra).start()
        c = Client(timeout=0.5)
        largest, snap_largest, reserve, rid, t0 = 0, 0, 0, 1, time.time()
        try:
            while rid < 60000 and time.time() - t0 < 60:
                for _ in range(32):
                    c.send(bid(rid, 1 + rid % 3, rid, 10 + rid))
                    rid += 1
                for _ in range(32):
                    if c.recv(timeout=0.2) is None:
                        break
                if rid % 1024 < 32:
                    largest = max(largest, dir_bytes(self.state))
                    wal = wal_status(node)
                    snap_largest = max(snap_largest, wal["snapshot_bytes"])
                    reserve = max(reserve, wal["reserve_bytes"])
            wal = wait_for_snapshot(self, node, wal_status(node)["durable_lsn"])
            snap_largest = max(snap_largest, wal["snapshot_bytes"])
            before = auctions_now(c, [1, 2, 3])
            segs = files(self.state, ".wal")
            self.assertLessEqual(len(segs), 2, segs)
            self.assertNotIn("00000000000000000001.wal", [os.path.basename(s) for s in segs])
            self.assertEqual(len(files(self.state, ".snap")), 1)
            # One snapshot (two while the next one is written) + 1 MiB of
            # log since it + the current 1 MiB segment, and the log written
            # while a snapshot is folded, and the current segment's reserve
            # (docs/WAL.md "The reserve": at most what status showed and
            # one more page).
            bound = 2 * snap_largest + 3 * (1 << 20) + reserve + 4096
            self.assertLessEqual(largest, bound, (largest, snap_largest, wal))
            print(f"{rid - 1} bids, {wal['snapshots']} snapshots, wal dir at most {largest} "
                  f"bytes (bound {bound}, reserve {reserve}), last snapshot {wal['snapshot_bytes']} bytes in "
                  f"{wal['snapshot_duration_ms']} ms")
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)
        second = self.node(extra).start()
        c = Client()
        try:
            self.assertEqual(auctions_now(c, [1, 2, 3]), before)
        finally:
            c.close()
            self.assertEqual(second.stop(), 0)

    def stopped_with_a_snapshot(self):
        node = self.node().start()
        c = Client()
        try:
            seen = {}
            self.bids(c, seen, [(1, 7, 100), (2, 8, 150)], 1)
            wait_for_snapshot(self, node, wal_status(node)["durable_lsn"])
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)
        snaps = files(self.state, ".snap")
        self.assertEqual(len(snaps), 1)
        return snaps[0]

    def test_a_flipped_byte_in_the_snapshot_refuses_the_start(self):
        snap = self.stopped_with_a_snapshot()
        with open(snap, "r+b") as f:
            f.seek(32 + 30)  # inside the first record, after the file header
            b = f.read(1)
            f.seek(32 + 30)
            f.write(bytes([b[0] ^ 0x40]))
        n = self.node()
        r = subprocess.run(n.cmd, capture_output=True, text=True, timeout=60)
        n.remove_leftovers()
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertIn(os.path.basename(snap), out)
        self.assertIn("offset 32", out)
        self.assertIn("restore the state directory", out)

    def test_a_failed_snapshot_is_counted_and_the_node_keeps_serving(self):
        """The wal directory immutable (chattr +i: no file can be created,
        not even by root): snapshots fail, are counted and logged, the old
        snapshot and the log stay, bids are still ACCEPTED; once the
        directory is writable again the next snapshot works."""
        wal = wal_dir(self.state)
        node = self.node().start()
        c = Client()
        locked = False
        try:
            self.assertEqual(c.ask(bid(1, 1, 7, 100))["status"], ACCEPTED)
            first = wait_for_snapshot(self, node, wal_status(node)["durable_lsn"])
            old = files(self.state, ".snap")
            if subprocess.run(["chattr", "+i", wal], capture_output=True).returncode != 0:
                self.skipTest("chattr +i is not supported here")
            locked = True
            self.assertEqual(c.ask(bid(2, 1, 8, 200))["status"], ACCEPTED)
            deadline = time.time() + 20
            while wal_status(node)["snapshot_failures"] == 0 and time.time() < deadline:
                time.sleep(0.1)
            st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
            self.assertGreaterEqual(st["wal"]["snapshot_failures"], 1, st)
            self.assertTrue(st["serving"], st)
            self.assertEqual(st["wal"]["snapshot_lsn"], first["snapshot_lsn"], st)
            self.assertEqual(files(self.state, ".snap"), old)
            self.assertEqual(c.ask(bid(3, 1, 9, 300))["status"], ACCEPTED)
            self.assertRegex(node.text(), r"snapshot at LSN \d+ failed .*still serving")
            subprocess.run(["chattr", "-i", wal], check=True)
            locked = False
            wait_for_snapshot(self, node, wal_status(node)["durable_lsn"], timeout=30)
            self.assertEqual(auctions_now(c, [1])[1][2], 3)
        finally:
            if locked:
                subprocess.run(["chattr", "-i", wal])
            c.close()
            self.assertEqual(node.stop(), 0)

    def test_a_leftover_snap_tmp_is_ignored_and_removed(self):
        self.stopped_with_a_snapshot()
        tmp = os.path.join(wal_dir(self.state), "99999999999999999999.snap.tmp")
        with open(tmp, "wb") as f:
            f.write(b"half a snapshot, a crash's leftover")
        node = self.node().start()
        c = Client()
        try:
            self.assertEqual(c.ask(bid(3, 1, 9, 500))["status"], ACCEPTED)
            wait_for_snapshot(self, node, wal_status(node)["durable_lsn"])
            self.assertFalse(os.path.exists(tmp), os.listdir(wal_dir(self.state)))
            self.assertEqual(auctions_now(c, [1])[1][2], 2)
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    main("walsnap")
