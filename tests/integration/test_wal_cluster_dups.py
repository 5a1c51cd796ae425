#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A retry accepted on another node counts once, also when the two copies
meet only after one node restarts (issue 15's bug 2; PROTOCOL.md "Retries
on another node", docs/WAL.md "Duplicates across nodes").

A client whose first try times out may retry its BID on another node,
which has not seen the key and accepts a second copy. The nodes compare
the keys of their accepted bids (KEYS messages) and the node with the
later copy counts it as a duplicate. That comparison lived in memory only:
a node killed before its copy met the other forgot its keys, and the two
copies were counted twice for ever (the long chaos campaign of 2026-12-01,
partition_kill_skew seeds 1010, 1023, 1062 and 1101). A first restore of
the keys without what had been counted before the kill counted some
duplicates twice instead (a bid lost from bid_count).

Deterministic here, on two nodes with --durability sync, one auction per
case, the copies kept apart by a partition:
  1. the restarted node's copy is the later: after the restart it compares
     its own copy, restored from its log, with the peer's and counts it;
  2. the restarted node's copy is the earlier: its key, restored from its
     log, goes to the peer, which counts its own later copy;
  3. the duplicate was counted before the kill: the restarted node knows
     it from its log and does not count it again.
After the restart every auction's bid_count is 1 on both nodes."""

import os
import sys
import time
import unittest

import bptest
import cluster
from cluster import Cluster

N = 2
BIDDER = 7
AMOUNT = 500


def settled_counts(c, auctions, want=1, timeout=20):
    """Every node's bid_count of each auction, once all are `want` (or
    what they are at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {a: {i: c.bid_count(i, a) for i in range(1, N + 1)} for a in auctions}
        if all(v == want for per in got.values() for v in per.values()) \
                or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class DuplicatesAcrossRestart(unittest.TestCase):
    def accept_on(self, client, node, rid, auction):
        r, _ = client.to(node).ask_final(bptest.bid(rid, auction, BIDDER, AMOUNT))
        self.assertEqual(r["status"], bptest.ACCEPTED, f"node {node}: {r}")
        return r["hlc"]

    def two_copies(self, client, first, second, rid, auction):
        """The same BID accepted on `first`, then (later stamp) on `second`."""
        h1 = self.accept_on(client, first, rid, auction)
        time.sleep(0.02)  # a later millisecond: the second copy is the later
        h2 = self.accept_on(client, second, rid, auction)
        self.assertLess(h1, h2)

    def test_copies_that_meet_after_a_restart_count_once(self):
        with Cluster("waldups") as c:
            c.start_mesh(N, args=["--durability", "sync", "--open-range", "1-3",
                                  "--duration", "600"])
            client = c.client(1)
            # 3: counted by node 1 before the kill.
            c.partition([[1], [2]])
            self.two_copies(client, 2, 1, 301, 3)
            c.heal()
            before = settled_counts(c, [3])
            self.assertEqual(before, {3: {1: 1, 2: 1}}, "the duplicate was not counted")
            # 1: node 1's copy the later; 2: node 1's copy the earlier.
            c.partition([[1], [2]])
            self.two_copies(client, 2, 1, 101, 1)
            self.two_copies(client, 1, 2, 201, 2)
            # ACCEPTED in sync mode: node 1's records are durable now.
            c.kill(1)
            c.heal()
            c.restart(1)
            c.wait_serving()
            after = settled_counts(c, [1, 2, 3])
            print(f"bid_count after the restart (want 1 everywhere): {after}", file=sys.stderr)
            self.assertEqual(after, {a: {1: 1, 2: 1} for a in (1, 2, 3)})
            # The retransmission on the restarted node repeats its answer.
            r = client.to(1).ask(bptest.bid(101, 1, BIDDER, AMOUNT))
            self.assertEqual((r["status"], r["flags"] & bptest.REPLAYED),
                             (bptest.ACCEPTED, bptest.REPLAYED), r)
        self.assertEqual(c.leftovers(), [])


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
