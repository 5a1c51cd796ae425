#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""--durability sync under kill -9 (docs/WAL.md "The node"): a client bids
as fast as the node answers while the node is killed at a random moment,
ROUNDS times, each restart on the same --state-dir. After every restart,
every bid the client saw ACCEPTED is there: QUERY shows it or a higher bid,
bid_count counts each once (at least the ACCEPTED ones seen, at most those
sent), and a retransmission of each gets its original answer and stamp
with REPLAYED. Bounded: about 3 s a round. The final check retransmits every bid.
Every other round writes snapshots every second, each held 0.3 s between
its durable .snap.tmp and its rename (slow_rename.c), so that kills land
while one is being written: the .snap.tmp left is ignored, and the next
snapshot removes it."""

import glob
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import unittest

from bptest import (ACCEPTED, BIDPLANE, NOT_SERVING, OVERLOADED, REPLAYED, Client, Node, bid,
                    main, parse_reply, query)

ROUNDS = int(os.environ.get("BP_WAL_CRASH_ROUNDS", "20"))
AUCTIONS = 4
ARGS = ["--durability", "sync", "--open-range", f"1-{AUCTIONS}", "--duration", "3600",
        "--dedup-seconds", "600", "--dedup-rate", "200"]
SNAPSHOTS = ["--snapshot-interval-s", "1"]
SLOW_RENAME = os.environ.get("BP_SLOW_RENAME", "build/tests/integration/libslow_rename.so")


def start_node(state, snapshots):
    """A node on `state`; with snapshots, each held before its rename."""
    if not snapshots:
        return Node(BIDPLANE, args=ARGS + ["--snapshot-interval-s", "0"], state_dir=state).start()
    env = {"LD_PRELOAD": SLOW_RENAME, "BP_SLOW_SNAPSHOT_MS": "300"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the node inherits them
    try:
        return Node(BIDPLANE, args=ARGS + SNAPSHOTS, state_dir=state).start()
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


class Loader(threading.Thread):
    """Bids with rising amounts, a few in flight, until stopped or the
    node stops answering; keeps every ACCEPTED reply by request id."""

    def __init__(self, next_rid, amounts):
        super().__init__(daemon=True)
        self.c = Client(timeout=0.2)
        self.rid = next_rid
        self.amounts = amounts  # auction -> the next amount to bid
        self.sent = {}  # rid -> (auction, bidder, amount)
        self.accepted = {}  # rid -> reply
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            burst = []
            for _ in range(8):
                a = random.randint(1, AUCTIONS)
                amount = self.amounts[a]
                self.amounts[a] += 1
                b = (a, random.randint(1, 1000), amount)
                self.sent[self.rid] = b
                burst.append(self.rid)
                try:
                    self.c.send(bid(self.rid, *b))
                except OSError:  # the node was killed: its tap is gone
                    del self.sent[self.rid]  # never sent: the rid is the next one's
                    burst.pop()
                    self.stop.set()
                    break
                self.rid += 1
            for _ in burst:
                data = self.c.recv(timeout=0.2)
                if data is None:
                    break
                r = parse_reply(data)
                if r["status"] == ACCEPTED and not r["flags"] & REPLAYED:
                    self.accepted[r["request_id"]] = r
            time.sleep(0.01)  # ~800 bids a second: the keys fit --dedup-rate
        self.c.close()


class WalCrash(unittest.TestCase):
    def test_kill_9_never_loses_an_accepted_bid(self):
        state = tempfile.mkdtemp(prefix="bp-walcrash-")
        print("STATE", state); self.addCleanup(lambda: os.environ.get("BP_KEEP") or shutil.rmtree(state, True))
        sent, accepted = {}, {}
        amounts = {a: 10 for a in range(1, AUCTIONS + 1)}
        rid = 1
        last = set()
        started = time.time()
        snapshots_seen, tmp_left = set(), 0
        for round_no in range(ROUNDS):
            node = start_node(state, snapshots=os.environ.get("BP_NOSNAP") is None and round_no % 2 == 1)
            try:
                if accepted:
                    self.check(node, sent, accepted, last, round_no)
                loader = Loader(rid, amounts)
                loader.start()
                time.sleep(random.uniform(0.3, 1.5))
                node.proc.send_signal(signal.SIGKILL)  # mid-load
                node.proc.wait(timeout=10)
                loader.stop.set()
                # Stopped for sure before the next round: a loader still
                # running would send to the next life with the rids the
                # next loader uses, and its bids would be counted but not
                # in `sent`.
                loader.join(timeout=60)
                self.assertFalse(loader.is_alive(), "the load thread did not stop")
                rid = loader.rid
                sent.update(loader.sent)
                accepted.update(loader.accepted)
                last = set(loader.accepted)
            finally:
                node.stop()
            snapshots_seen.update(glob.glob(os.path.join(state, "wal", "*.snap")))
            tmp_left += len(glob.glob(os.path.join(state, "wal", "*.snap.tmp")))
        self.assertGreater(len(accepted), ROUNDS * 10, "too little load to mean anything")
        node = start_node(state, snapshots=True)
        try:
            self.check(node, sent, accepted, set(accepted), ROUNDS)
            if ROUNDS >= 2:
                self.assertTrue(snapshots_seen, "no round wrote a snapshot")
                # The next snapshot removes what a kill left half-written.
                deadline = time.time() + 10
                while time.time() < deadline and glob.glob(os.path.join(state, "wal", "*.tmp")):
                    time.sleep(0.1)
                self.assertEqual(glob.glob(os.path.join(state, "wal", "*.tmp")), [])
        finally:
            self.assertEqual(node.stop(), 0)
        print(f"{ROUNDS} kill -9 rounds, {len(accepted)} ACCEPTED bids seen, "
              f"{len(sent)} sent, all recovered, {len(snapshots_seen)} snapshots seen, "
              f"{tmp_left} rounds left a .snap.tmp, {time.time() - started:.0f} s")

    def ask_serving(self, c, payload):
        deadline = time.time() + 10
        while True:
            r = c.ask(payload, retries=20)
            if r["status"] not in (NOT_SERVING, OVERLOADED) or time.time() > deadline:
                return r
            time.sleep(0.05)

    def check(self, node, sent, accepted, last, round_no):
        """Every bid of the round just killed is retransmitted (those the
        kill put at risk), and a sample of the older ones."""
        c = Client()
        try:
            for a in range(1, AUCTIONS + 1):
                mine = [r for r in accepted.values() if r["auction_id"] == a]
                q = self.ask_serving(c, query(10 ** 9 + a, a))
                best = max((sent[r["request_id"]][2] for r in mine), default=0)
                best_rid = [r["request_id"] for r in mine if sent[r["request_id"]][2] == best]
                self.assertGreaterEqual(q["leading_amount"], best, (round_no, a, q, best_rid))
                tried = sum(1 for b in sent.values() if b[0] == a)
                self.assertGreaterEqual(q["bid_count"], len(mine), (round_no, a, q))
                self.assertLessEqual(q["bid_count"], tried, (round_no, a, q))
            older = [r for r in accepted if r not in last]
            for rid in sorted(last) + random.sample(older, min(200, len(older))):
                before = accepted[rid]
                again = self.ask_serving(c, bid(rid, *sent[rid]))
                self.assertEqual(again["status"], ACCEPTED, (round_no, rid, again))
                self.assertEqual(again["flags"] & REPLAYED, REPLAYED, (round_no, rid, again))
                self.assertEqual(again["hlc"], before["hlc"], (round_no, rid, again))
        finally:
            c.close()


if __name__ == "__main__":
    main("walcrash")
