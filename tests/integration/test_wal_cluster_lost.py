#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Review of bug 2's fix (36fde99): a bid whose record the log LOST (node
1's writer fails: EIO, nothing written, by the hold_wal preload) is
answered NOT_SERVING, yet it is in memory, and once the writer resumed
its key was released to the peers (36fde99's release_staged: "A lost
record releases its key too"; now such a key is dropped). The client
retried on node 2, which accepted a later copy and counted it as the
duplicate of node 1's. Both nodes restart: node 1's copy is gone with its record, node 2's
copy stays counted as a duplicate (its WAL_DUP): a bid node 2 answered
ACCEPTED counted zero times, for ever. (With node 1 alone restarted, node
2's memory of node 1's count slot hides it until node 2 restarts too.)

Want: after the restart bid_count == the bids answered ACCEPTED by some
node (each once). Root only (namespace)."""

import os
import sys
import time
import unittest

import bptest
import cluster
from cluster import Cluster
from stats_tools import bidstat_json, by_key, wait_for_refresh

ARGS = ["--durability", "sync", "--open-range", "1-1", "--duration", "600"]
HOLD_SO = os.environ.get("BP_HOLD_WAL_SO", "build/tests/integration/libhold_wal.so")


def settled(c, want, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        got = {i: c.bid_count(i, 1) for i in (1, 2)}
        if all(v == want for v in got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class LostRecordRetriedElsewhere(unittest.TestCase):
    def test_a_lost_record_retried_on_the_peer_counts_once_after_a_restart(self):
        os.environ["LD_PRELOAD"] = HOLD_SO
        os.environ["BP_FAIL_WAL"] = "1"
        self.addCleanup(os.environ.pop, "LD_PRELOAD", None)
        self.addCleanup(os.environ.pop, "BP_FAIL_WAL", None)
        with Cluster("wallost") as c:
            c.start_mesh(2, args=ARGS)
            client = c.client(1)
            # Apart: the copies meet only once node 1 resumed (at the heal).
            c.partition([[1], [2]])
            r, _ = client.to(1).ask_final(bptest.bid(1, 1, 2, 10))
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            fail = os.path.join(c.root, "node1", "state", "wal", "FAIL_WAL")
            open(fail, "w").close()
            victim = bptest.bid(2, 1, 2, 11)
            r = client.to(1).ask(victim, retries=1)
            self.assertEqual(r["status"], bptest.NOT_SERVING, r)
            time.sleep(0.02)
            # The client's retry on another node: accepted there, later.
            r, _ = client.to(2).ask_final(victim)
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            acked = 2
            os.unlink(fail)
            deadline = time.time() + 15
            while "works again" not in c.node(1).text() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("works again", c.node(1).text())
            c.heal()
            time.sleep(1.5)
            wait_for_refresh(self, c.node(2).stats_name)
            dups2 = by_key(bidstat_json(self, c.node(2).stats_name))[
                "bid_duplicates_total"]["total"]
            before = {i: c.bid_count(i, 1) for i in (1, 2)}
            print(f"acked {acked}; before the restart bid_count {before}, "
                  f"node 2 dups {dups2}", file=sys.stderr)
            # Both nodes restart (a rolling deploy, a power cut): node 2
            # no longer remembers node 1's count of its lost copy.
            c.kill(1)
            c.kill(2)
            c.restart(1)
            c.restart(2)
            c.wait_serving()
            after = settled(c, acked)
            print(f"after the restart bid_count {after} (want {acked})", file=sys.stderr)
            self.assertEqual(after, {1: acked, 2: acked},
                             f"node 2 counted {dups2} duplicate(s) of a copy node 1 lost")
        self.assertEqual(c.leftovers(), [])

    def test_a_key_waits_for_its_record(self):
        """Rule 1 (docs/WAL.md "Duplicates across nodes"): node 1's copy
        (the earlier) is in memory, its record held in the writer
        (HOLD_WAL); the client, unanswered, retries on node 2. Node 1's
        key must not reach node 2 before the record is durable: else node
        2 counts its copy as the duplicate of one the kill loses, and once
        both nodes restarted the bid counts zero times."""
        os.environ["LD_PRELOAD"] = HOLD_SO
        os.environ["BP_FAIL_WAL"] = "1"
        self.addCleanup(os.environ.pop, "LD_PRELOAD", None)
        self.addCleanup(os.environ.pop, "BP_FAIL_WAL", None)
        with Cluster("walheld") as c:
            c.start_mesh(2, args=ARGS)
            client = c.client(1)
            c.partition([[1], [2]])
            hold = os.path.join(c.root, "node1", "state", "wal", "HOLD_WAL")
            open(hold, "w").close()
            victim = bptest.bid(2, 1, 2, 11)
            client.to(1).send(victim)  # applied, its record held: no answer
            time.sleep(0.3)
            r, _ = client.to(2).ask_final(victim)
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            c.heal()
            time.sleep(1.5)
            wait_for_refresh(self, c.node(2).stats_name)
            dups2 = by_key(bidstat_json(self, c.node(2).stats_name))[
                "bid_duplicates_total"]["total"]
            print(f"node 2 dups {dups2}", file=sys.stderr)
            c.kill(1)  # the held record dies with it
            os.unlink(hold)
            c.kill(2)
            c.restart(1)
            c.restart(2)
            c.wait_serving()
            after = settled(c, 1)
            print(f"after the restarts bid_count {after} (want 1)", file=sys.stderr)
            self.assertEqual(after, {1: 1, 2: 1})
        self.assertEqual(c.leftovers(), [])

    def test_a_duplicate_counts_once_its_record_is_durable(self):
        """Rule 2: node 1's copy is the later; its WAL_DUP record is held
        in the writer (HOLD_WAL) when the copies meet. Counted and shipped
        before it is durable, then lost with the kill, the duplicate would
        be counted again after the restart."""
        os.environ["LD_PRELOAD"] = HOLD_SO
        os.environ["BP_FAIL_WAL"] = "1"
        self.addCleanup(os.environ.pop, "LD_PRELOAD", None)
        self.addCleanup(os.environ.pop, "BP_FAIL_WAL", None)
        with Cluster("waldupheld") as c:
            c.start_mesh(2, args=ARGS)
            client = c.client(1)
            c.partition([[1], [2]])
            b = bptest.bid(3, 1, 2, 12)
            r, _ = client.to(2).ask_final(b)
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            time.sleep(0.02)
            r, _ = client.to(1).ask_final(b)  # sync: its record is durable
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            time.sleep(0.3)
            hold = os.path.join(c.root, "node1", "state", "wal", "HOLD_WAL")
            open(hold, "w").close()
            c.heal()
            time.sleep(1.5)
            before = {i: c.bid_count(i, 1) for i in (1, 2)}
            print(f"before the kill bid_count {before}", file=sys.stderr)
            c.kill(1)  # the held WAL_DUP dies with it
            os.unlink(hold)
            c.restart(1)
            c.wait_serving()
            after = settled(c, 1)
            print(f"after the restart bid_count {after} (want 1)", file=sys.stderr)
            for i in (1, 2):
                wait_for_refresh(self, c.node(i).stats_name)
                st = by_key(bidstat_json(self, c.node(i).stats_name))
                print(i, {k: v["total"] for k, v in st.items()
                          if k in ("bid_duplicates_total", "peer_keys_restored_total")},
                      file=sys.stderr)
            self.assertEqual(after, {1: 1, 2: 1})
        self.assertEqual(c.leftovers(), [])


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
