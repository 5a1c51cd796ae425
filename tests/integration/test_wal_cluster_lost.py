#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Review of bug 2's fix (36fde99): a bid whose record the log LOST (the
writer failed: here node 1's state dir fills) is answered NOT_SERVING,
yet it is in memory and its key is released to the peers
(replicate_idem.c release_staged: "A lost record releases its key too").
The client retries on node 2, which accepts a later copy and counts it as
the duplicate of node 1's copy. Node 1 restarts: its copy is gone with
its record, node 2's copy stays counted as a duplicate: a bid node 2
answered ACCEPTED counts zero times (bid_count one short, for ever).

Want: after the restart bid_count == the bids answered ACCEPTED by some
node (each once). Root only (mount, namespace)."""

import os
import subprocess
import sys
import time
import unittest

import bptest
import cluster
from cluster import Cluster
from stats_tools import bidstat_json, by_key, wait_for_refresh

ARGS = ["--durability", "sync", "--open-range", "1-1", "--duration", "600"]


def fill(path, leave):
    st = os.statvfs(path)
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def settled(c, want, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        got = {i: c.bid_count(i, 1) for i in (1, 2)}
        if all(v == want for v in got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class LostRecordRetriedElsewhere(unittest.TestCase):
    def test_a_lost_record_retried_on_the_peer_counts_once_after_a_restart(self):
        c = Cluster("wallost")
        state1 = os.path.join(c.root, "node1", "state")
        os.makedirs(state1)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", state1], check=True)
        try:
            with c:
                key = os.path.join(c.root, "cluster.key")
                cluster.write_key(key)
                c.start(2, args=ARGS, node_args=lambda i: cluster.mesh_args(key, i, 2))
                c.wait_serving()
                client = c.client(1)
                acked, rid, amount = 0, 1, 10
                r = client.to(1).ask(bptest.bid(rid, 1, 2, amount))
                self.assertEqual(r["status"], bptest.ACCEPTED, r)
                acked += 1
                filler = fill(state1, 16 * 1024)
                victim = None
                deadline = time.time() + 30
                while victim is None and time.time() < deadline:
                    rid += 1
                    amount += 1
                    r = client.to(1).ask(bptest.bid(rid, 1, 2, amount), retries=3)
                    if r["status"] == bptest.ACCEPTED:
                        acked += 1
                    elif r["status"] == bptest.NOT_SERVING:
                        victim = bptest.bid(rid, 1, 2, amount)
                self.assertIsNotNone(victim, "node 1's log never filled")
                time.sleep(0.02)
                # The client's retry on another node: accepted there.
                r, _ = client.to(2).ask_final(victim)
                self.assertEqual(r["status"], bptest.ACCEPTED, r)
                acked += 1
                time.sleep(1.0)
                wait_for_refresh(self, c.node(2).stats_name)
                dups2 = by_key(bidstat_json(self, c.node(2).stats_name))[
                    "bid_duplicates_total"]["total"]
                before = {i: c.bid_count(i, 1) for i in (1, 2)}
                print(f"acked {acked}; before the restart bid_count {before}, "
                      f"node 2 dups {dups2}", file=sys.stderr)
                os.unlink(filler)
                c.kill(1)
                c.restart(1)
                c.wait_serving()
                after = settled(c, acked)
                print(f"after the restart bid_count {after} (want {acked})", file=sys.stderr)
                self.assertEqual(after, {1: acked, 2: acked},
                                 f"node 2 counted {dups2} duplicate(s) of a copy node 1 lost")
        finally:
            c.stop()
            subprocess.run(["umount", "-l", state1])
            subprocess.run(["rm", "-rf", c.root])


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
