#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""bidctl clock-offset on a running node (fault injection, issue 15): the
node's wall clock jumps, and what the HLC promises still holds.

- One node alone: a jump back of 10 s never makes its stamps go back (the
  HLC keeps its maximum); a jump forward of 10 s is covered by a durable
  ceiling above the new stamps; bidctl status shows the injected offset;
  an offset beyond a day is refused with the bound, and changes nothing.
- Three nodes: node 2 jumps 10 s forward. Its peers refuse what it sends
  (clock_ahead, counted) and their clocks do not move; it is quarantined
  (NOT_SERVING, reason clock). After the jump back it serves again, with
  stamps above every one it issued, and the cluster converges."""

import contextlib
import json
import os
import threading
import time
import unittest

import bptest
import cluster
from cluster import Cluster
from stats_tools import bidstat_json, by_key, wait_for_refresh

JUMP_MS = 10000
DRIFT_MS = 500
# A few heartbeats (PEER_HEARTBEAT_MS 200) and status reads.
QUARANTINE_MAX_S = 1.0
BACK_MS = 3000  # a lone node's jump back: it waits about this less the bound
LONE_DRIFT_MS = 500  # the default --max-drift-ms
OFFSETS_MAX_S = 2.5


def status(node):
    out = node.bidctl("--json", "status")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def set_offset(node, ms):
    out = node.bidctl("--json", "clock-offset", str(ms))
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)



class Bidder:
    """Rising bids on auction 1 of one node; every ACCEPTED stamp kept."""

    def __init__(self, c, i, rid):
        self.client = c.client(i)
        self.rid = rid
        self.amount = 0
        self.accepted_amount = 0
        self.stamps = []

    def bid(self):
        self.rid += 1
        self.amount += 1
        r = self.client.ask(bptest.bid(self.rid, 1, 7, self.amount))
        if r["status"] == bptest.ACCEPTED:
            self.stamps.append(r["hlc"])
            self.accepted_amount = self.amount
        return r


class OneNode(unittest.TestCase):
    def setUp(self):
        self.c = Cluster("clockjump1")
        self.c.start(1, args=["--open-range", "1-1", "--duration", "600"])
        self.node = self.c.node(1)

    def tearDown(self):
        self.c.stop()
        self.assertEqual(self.c.leftovers(), [])

    def accepted(self, b, count):
        """count ACCEPTED bids (a NOT_SERVING while a ceiling is renewed is
        asked again, bounded)."""
        deadline = time.monotonic() + 10
        got = 0
        while got < count and time.monotonic() < deadline:
            r = b.bid()
            if r["status"] == bptest.ACCEPTED:
                got += 1
            else:
                self.assertEqual(r["status"], bptest.NOT_SERVING, r)
        self.assertEqual(got, count, "the node stopped taking bids")

    def test_jumps_never_move_stamps_back(self):
        b = Bidder(self.c, 1, 1000)
        self.accepted(b, 20)
        self.assertEqual(status(self.node)["injected_clock_offset_ms"], 0)

        # Back: the HLC keeps its maximum, now ahead of the wall clock by
        # more than the drift bound. Alone (no peer to be off from), the
        # node still takes no bid until its wall clock is within the bound
        # of its HLC: its stamps would run ahead of real time.
        t0 = time.monotonic()
        answer = set_offset(self.node, -BACK_MS)
        self.assertEqual(answer, {"injected_clock_offset_ms": -BACK_MS,
                                  "previous_injected_clock_offset_ms": 0})
        st = status(self.node)
        self.assertEqual(st["injected_clock_offset_ms"], -BACK_MS, st)
        self.assertFalse(st["serving"], st)
        self.assertEqual(st["not_serving_reason"], "clock", st)
        self.assertEqual(b.bid()["status"], bptest.NOT_SERVING)
        top = max(b.stamps)
        self.accepted(b, 50)
        waited_s = time.monotonic() - t0
        self.assertGreater(waited_s, (BACK_MS - LONE_DRIFT_MS) / 1000 - 0.3,
                           "it took bids while its HLC was ahead of its clock")
        self.assertEqual(b.stamps, sorted(set(b.stamps)), "stamps went back or repeated")
        self.assertGreater(min(b.stamps[20:]), top)
        ahead = bptest_ms(max(b.stamps)) - int(time.time() * 1000) + BACK_MS
        self.assertLessEqual(ahead, LONE_DRIFT_MS, "a stamp ran ahead of the wall clock")
        text = self.node.bidctl("status").stdout
        self.assertIn(f"clock_offset:  -{BACK_MS} ms (injected: fault injection)\n", text)

        # Forward: the stamps follow the clock, under a durable ceiling.
        set_offset(self.node, JUMP_MS)
        self.accepted(b, 20)
        now_ms = int(time.time() * 1000)
        self.assertGreater(bptest_ms(b.stamps[-1]), now_ms + JUMP_MS - 2000)
        with open(os.path.join(self.node.state, "hlc_ceiling")) as f:
            ceiling = int(f.read())
        self.assertGreater(ceiling, b.stamps[-1])
        self.assertEqual(b.stamps, sorted(set(b.stamps)))

    def test_an_offset_beyond_a_day_is_refused_and_changes_nothing(self):
        for word in ("86400001", "-86400001", "99999999999999999999"):
            r = self.node.bidctl("clock-offset", word)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(f"ms {word} is out of range -86400000..86400000", r.stderr)
        r = self.node.bidctl("clock-offset", "10s")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("'10s' is not a decimal number of ms", r.stderr)
        self.assertEqual(status(self.node)["injected_clock_offset_ms"], 0)
        self.assertEqual(Bidder(self.c, 1, 1).bid()["status"], bptest.ACCEPTED)


def bptest_ms(hlc):
    return hlc >> 16


class ThreeNodes(unittest.TestCase):
    def setUp(self):
        self.c = Cluster("clockjump3")
        key = os.path.join(self.c.root, "cluster.key")
        cluster.write_key(key)

        def node_args(i):
            return cluster.mesh_args(key, i, 3) + ["--max-drift-ms", str(DRIFT_MS)]

        self.c.start(3, args=["--open-range", "1-1", "--duration", "600"], node_args=node_args)
        self.wait(lambda: all(status(self.c.node(i))["serving"] for i in (1, 2, 3)), 30,
                  "the cluster never served")

    def tearDown(self):
        self.c.stop()
        self.assertEqual(self.c.leftovers(), [])

    def wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail(what)

    def serving_for(self, i, seconds):
        """Whether node i serves at every status read for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not status(self.c.node(i))["serving"]:
                return False
            time.sleep(0.05)
        return True

    def clock_ahead_drops(self, i, sender):
        name = self.c.node(i).stats_name
        wait_for_refresh(self, name)
        return by_key(bidstat_json(self, name))[f"peer_drops_total/{sender}/clock_ahead"]["total"]

    def test_a_jump_forward_is_quarantined_and_recovers_after_the_jump_back(self):
        b = Bidder(self.c, 2, 5000)
        for _ in range(20):
            self.assertEqual(b.bid()["status"], bptest.ACCEPTED)
        before = {i: self.clock_ahead_drops(i, 2) for i in (1, 3)}

        t0 = time.monotonic()
        set_offset(self.c.node(2), JUMP_MS)
        # Quarantined at its next heartbeats: replication runs on the
        # monotonic clock, so the jump makes no peer look unheard (it did
        # when its timers ran on the wall clock: docs/CHAOS.md); the bids it
        # takes before that carry its clock, 10 s ahead.
        accepted_before = len(b.stamps)
        unheard = []

        def quarantined():
            st = status(self.c.node(2))
            unheard.extend(p["node_id"] for p in st["peers"] if not p["reachable"])
            return st["not_serving_reason"] == "clock"
        self.wait(quarantined, 15, "never quarantined")
        quarantine_s = time.monotonic() - t0
        print(f"quarantined {quarantine_s:.2f} s after the jump", flush=True)
        self.assertEqual(unheard, [], "the jump made peers look unreachable")
        self.assertLess(quarantine_s, QUARANTINE_MAX_S,
                        f"quarantined {quarantine_s:.2f} s after the jump")
        self.assertEqual(b.bid()["status"], bptest.NOT_SERVING)
        st = status(self.c.node(2))
        self.assertEqual(st["injected_clock_offset_ms"], JUMP_MS, st)
        # What it ships carries its HLC, 10 s ahead (an auction opened on it
        # now): its peers refuse it, counted, and their clocks stay.
        r = self.c.node(2).bidctl("open", "--auction", "99", "--reserve", "1", "--increment",
                                  "1", "--duration", "600")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for i in (1, 3):
            self.wait(lambda: self.clock_ahead_drops(i, 2) > before[i], 10,
                      f"node {i} counted no clock_ahead from node 2 (before the jump "
                      f"{before[i]}, now {self.clock_ahead_drops(i, 2)})")
            s = status(self.c.node(i))
            self.assertTrue(s["serving"], s)
            self.assertLess(s["hlc"] >> 16, int(time.time() * 1000) + 2 * DRIFT_MS, s)
            self.assertEqual(s["injected_clock_offset_ms"], 0, s)
            self.assertNotEqual(self.c.node(i).bidctl("query", "99").returncode, 0)

        top = max(b.stamps)
        ahead_ms = (status(self.c.node(2))["hlc"] >> 16) - int(time.time() * 1000)
        t1 = time.monotonic()
        set_offset(self.c.node(2), 0)
        # Its peers' clock offsets are measured again at once (its
        # heartbeats were not scheduled on the jumped clock), no peer looks
        # unheard...
        def offsets_in_bound():
            peers = status(self.c.node(2))["peers"]
            unheard.extend(p["node_id"] for p in peers if not p["reachable"])
            return all(p["clock_offset_ms"] is not None and
                       abs(p["clock_offset_ms"]) <= DRIFT_MS for p in peers)
        self.wait(offsets_in_bound, JUMP_MS / 1000 + 5, "offsets never back in bound")
        offsets_s = time.monotonic() - t1
        print(f"offsets in bound {offsets_s:.2f} s after the jump back", flush=True)
        self.assertEqual(unheard, [], "the jump back made peers look unreachable")
        self.assertLess(offsets_s, OFFSETS_MAX_S,
                        f"peers' offsets back in bound {offsets_s:.2f} s after the jump back")
        # ...but its HLC kept its maximum, ahead of its wall clock: it takes
        # no bid (reason clock) until its wall clock is back within the
        # drift bound of it, so that no stamp runs ahead of real time.
        self.assertEqual(status(self.c.node(2))["not_serving_reason"], "clock")
        self.wait(lambda: self.serving_for(2, 1.0), JUMP_MS / 1000 + 15,
                  "node 2 never served steadily again after the jump back")
        recovery_s = time.monotonic() - t1 - 1.0
        # A status read between two flips of the quarantine can still miss
        # one (docs/CHAOS.md, clock findings): a bid is taken within 5 s.
        self.wait(lambda: b.bid()["status"] == bptest.ACCEPTED, 5,
                  "node 2 served but took no bid")
        self.assertGreater(b.stamps[-1], top)
        self.assertEqual(b.stamps, sorted(set(b.stamps)))
        stamp_ahead_ms = bptest_ms(b.stamps[-1]) - int(time.time() * 1000)
        self.assertLessEqual(stamp_ahead_ms, DRIFT_MS,
                             "after the jump back it stamped ahead of real time")
        print(f"jump +{JUMP_MS} ms: quarantined after {quarantine_s:.2f} s "
              f"({len(b.stamps) - accepted_before} bids accepted meanwhile); jump back with "
              f"the HLC {ahead_ms} ms ahead: offsets in bound after {offsets_s:.2f} s, "
              f"serving again after {recovery_s:.2f} s")

        def same_everywhere():
            if any(self.c.node(i).bidctl("query", "99").returncode != 0 for i in (1, 3)):
                return False
            views = [json.loads(self.c.node(i).bidctl("--json", "query", "1").stdout)
                     for i in (1, 2, 3)]
            keys = ("leading_amount", "leading_hlc", "bid_count")
            return all({k: v[k] for k in keys} == {k: views[0][k] for k in keys}
                       for v in views) and views[0]["leading_amount"] == b.accepted_amount
        self.wait(same_everywhere, 30, "no convergence after the jump back")

    def test_no_bid_taken_when_the_jump_back_lifts_the_peer_quarantine(self):
        """The jump back restarts the peers' clock estimates, which lifts
        the peer-clock quarantine at once; the HLC, still ahead, must stop
        bids before that (clock_jump seed 16 took one, stamped 3.9 s ahead
        of real time, in the 4 ms between "clock back in bound with the
        peers" and "the HLC is ... ahead"). A flood of bids across the jump
        back: none ACCEPTED. The old node took some in most runs."""
        set_offset(self.c.node(2), JUMP_MS)
        self.wait(lambda: status(self.c.node(2))["not_serving_reason"] == "clock", 15,
                  "never quarantined")
        # An auction defined now is stamped by its HLC, 10 s ahead (as bids
        # taken before the quarantine are): at the jump back the HLC stays
        # about that far ahead of real time.
        r = self.c.node(2).bidctl("open", "--auction", "99", "--reserve", "1", "--increment",
                                  "1", "--duration", "600")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreater((status(self.c.node(2))["hlc"] >> 16) - int(time.time() * 1000),
                           JUMP_MS // 2)
        flood = self.c.client(2)
        flood.sock.setblocking(False)
        accepted, sent, stop = [], [0], threading.Event()

        def send_all():
            rid = 90000
            while not stop.is_set():
                rid += 1
                flood.send(bptest.bid(rid, 1, 9, 100000 + rid))
                sent[0] += 1
                try:
                    while True:
                        r = bptest.parse_reply(flood.sock.recvfrom(2048)[0])
                        if r["status"] == bptest.ACCEPTED:
                            accepted.append(r)
                except (BlockingIOError, TimeoutError):
                    pass
                time.sleep(0.0001)
        t = threading.Thread(target=send_all, daemon=True)
        t.start()
        time.sleep(0.2)
        set_offset(self.c.node(2), 0)
        time.sleep(0.5)
        stop.set()
        t.join(5)
        time.sleep(0.5)  # replies of the last bids (sync: after their fsync)
        with contextlib.suppress(BlockingIOError):
            while True:
                r = bptest.parse_reply(flood.sock.recvfrom(2048)[0])
                if r["status"] == bptest.ACCEPTED:
                    accepted.append(r)
        print(f"flood of {sent[0]} bids across the jump back: {len(accepted)} ACCEPTED",
              flush=True)
        self.assertGreater(sent[0], 500)
        self.assertEqual(accepted, [], "bids taken while the HLC ran ahead")


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
