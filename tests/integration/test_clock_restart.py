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


if __name__ == "__main__":
    main("ceiling")
