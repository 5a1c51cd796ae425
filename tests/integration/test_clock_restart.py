#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Stamps after a restart are greater than every stamp before it, even when
the wall clock stepped back in between (the HLC ceiling in
<state-dir>/hlc_ceiling). The first life runs with its clock 3 s ahead
(--clock-offset-ms 8000), the second with the true clock: it waits,
answering NOT_SERVING with reason `clock`, until its wall clock has passed
the stamps of the first life, then stamps above them. (How long the wait
is depends on how fast the restart was: the test checks the wait only
while the persisted ceiling is provably ahead of the clock.)"""

import json
import os
import shutil
import tempfile
import time
import unittest

from bptest import ACCEPTED, BIDCTL, BIDPLANE, NOT_SERVING, Client, Node, bid, main
from stats_tools import telemetry

AHEAD_MS = 8000


class ClockRestart(unittest.TestCase):
    def test_stamps_after_a_restart_exceed_the_previous_life(self):
        state = tempfile.mkdtemp(prefix="bp-ceiling-")
        self.addCleanup(shutil.rmtree, state, True)
        args = ["--state-dir", state, "--open-range", "1-1", "--duration", "600"]

        first = Node(BIDPLANE, args=args + ["--clock-offset-ms", str(AHEAD_MS)]).start()
        c = Client()
        try:
            reply = c.ask(bid(1, 1, 7, 100))
            self.assertEqual(reply["status"], ACCEPTED, reply)
            before = reply["hlc"]
        finally:
            c.close()
            self.assertEqual(first.stop(), 0)

        with open(os.path.join(state, "hlc_ceiling")) as f:
            ceiling_ms = int(f.read()) >> 16
        self.assertGreater(ceiling_ms, before >> 16)
        second = Node(BIDPLANE, args=args).start()
        c = Client()
        try:
            st = json.loads(second.bidctl(BIDCTL, "--json", "status").stdout)
            ahead = ceiling_ms - int(time.time() * 1000) > 300  # after the status
            waited, request, after = 0, 2, None
            deadline = time.time() + 30
            while time.time() < deadline:
                reply = c.ask(bid(request, 2, 7, 100 + request))  # auction 2: unknown is fine
                request += 1
                if reply["status"] != NOT_SERVING:
                    after = reply
                    break
                waited += 1
                time.sleep(0.1)
            self.assertIsNotNone(after, "the node never served")
            if ahead:  # the clock had not passed the first life's stamps
                self.assertGreater(waited, 0, st)
                self.assertFalse(st["serving"], st)
                self.assertEqual(st["not_serving_reason"], "clock", st)
            reply = c.ask(bid(request, 1, 8, 1000))
            self.assertEqual(reply["status"], ACCEPTED, reply)
            self.assertGreater(reply["hlc"], before)
        finally:
            c.close()
            self.assertEqual(second.stop(), 0)


    def test_a_restart_with_the_same_clock_does_not_wait(self):
        """The previous ceiling is at most a lease ahead of a sane clock:
        that is no step back, and the node serves at once, above it."""
        state = tempfile.mkdtemp(prefix="bp-ceiling-")
        self.addCleanup(shutil.rmtree, state, True)
        args = ["--state-dir", state, "--open-range", "1-1", "--duration", "600"]
        stamps = []
        for life in range(2):
            node = Node(BIDPLANE, args=args).start()
            c = Client()
            try:
                st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
                self.assertNotEqual(st["not_serving_reason"], "clock", st)
                reply = c.ask(bid(life + 1, 1, 7, 100 + life))
                self.assertEqual(reply["status"], ACCEPTED, reply)
                stamps.append(reply["hlc"])
            finally:
                c.close()
                self.assertEqual(node.stop(), 0)
        self.assertGreater(stamps[1], stamps[0])


class DurableCeiling(unittest.TestCase):
    def test_no_stamp_reaches_the_durable_ceiling(self):
        """The ceiling cannot be renewed (a directory planted where its
        temporary goes) while a reader stalls and bidctl close waits on the
        control thread: bids stop (NOT_SERVING) before any stamp reaches the
        ceiling on disk, and resume once it can be written again."""
        os.environ["BIDPLANE_TEST_HOOKS"] = "1"
        self.addCleanup(os.environ.pop, "BIDPLANE_TEST_HOOKS", None)
        state = tempfile.mkdtemp(prefix="bp-ceiling-")
        self.addCleanup(shutil.rmtree, state, True)
        node = Node(BIDPLANE, args=["--state-dir", state, "--open-range", "1-2",
                                    "--duration", "600"]).start()
        self.addCleanup(node.stop)
        c = Client()
        self.addCleanup(c.close)
        request, amount = 1, 100
        self.assertEqual(c.ask(bid(request, 1, 7, amount))["status"], ACCEPTED)
        blocker = os.path.join(state, "hlc_ceiling.tmp")
        deadline = time.time() + 10
        while time.time() < deadline:  # between two renewals
            try:
                os.mkdir(blocker)
                break
            except FileExistsError:
                time.sleep(0.01)
        with open(os.path.join(state, "hlc_ceiling")) as f:
            frozen = int(f.read())
        self.assertEqual(telemetry(self, node.prefix, "/bidplane/test/reader_stall,on"),
                         {"reader_stall": "on"})
        closing = node.bidctl(BIDCTL, "close", "2")  # waits a bounded time
        self.assertEqual(closing.returncode, 0, closing.stderr)
        accepted, refused, reason = [], 0, None
        while time.time() * 1000 < (frozen >> 16) + 500:
            request += 1
            amount += 1
            reply = c.ask(bid(request, 1, 7, amount))
            if reply["status"] == ACCEPTED:
                accepted.append(reply["hlc"])
            elif reply["status"] == NOT_SERVING:
                refused += 1
                if reason is None:
                    st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
                    reason = st["not_serving_reason"]
            time.sleep(0.005)
        self.assertTrue(accepted, "no bid was accepted before the ceiling")
        self.assertLess(max(accepted), frozen)
        self.assertGreater(refused, 0)
        self.assertEqual(reason, "hlc_ceiling")
        telemetry(self, node.prefix, "/bidplane/test/reader_stall,off")
        os.rmdir(blocker)
        deadline = time.time() + 10
        reply = None
        while time.time() < deadline:
            request += 1
            amount += 1
            reply = c.ask(bid(request, 1, 7, amount))
            if reply["status"] == ACCEPTED:
                break
            time.sleep(0.05)
        self.assertEqual(reply["status"], ACCEPTED, "bids did not resume")
        with open(os.path.join(state, "hlc_ceiling")) as f:
            self.assertLess(reply["hlc"], int(f.read()))


if __name__ == "__main__":
    main("ceiling")
