#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The idempotency window in time (PROTOCOL.md "Idempotency window"), end to
end: a node whose table holds one bucket (--dedup-rate 1 --dedup-seconds 2:
8 entries) answers a new request id OVERLOADED rather than forget an answer
younger than 2 s, keeps replaying that answer, and takes new ids once the
answers are older than the window."""

import time
import unittest

from bptest import (ACCEPTED, OVERLOADED, REPLAYED, BIDPLANE, Client, Node, bid, main,
                    parse_reply, query)

WINDOW_S = 2
ENTRIES = 8  # rate 1 x 2 s x 4 headroom: one 8-way bucket


class DedupWindow(unittest.TestCase):
    def setUp(self):
        self.node = Node(BIDPLANE, args=["--open-range", "1-10", "--dedup-rate", "1",
                                         "--dedup-seconds", str(WINDOW_S)]).start()
        self.client = Client()

    def tearDown(self):
        self.client.close()
        rc = self.node.stop()
        self.assertEqual(rc, 0, self.node.text())

    def ask_once(self, payload):
        self.client.send(payload)
        data = self.client.recv()
        self.assertIsNotNone(data, "no reply")
        return parse_reply(data)

    def test_full_window_answers_overloaded_and_keeps_every_answer(self):
        self.client.ask(query(1, 1))  # ARP resolved before the clock starts
        t0 = time.monotonic()
        # ask() resends on loss: a resent request is replayed, still ACCEPTED.
        first = [self.client.ask(bid(100 + i, 1, 500 + i, 100 + 10 * i))
                 for i in range(ENTRIES)]
        for r in first:
            self.assertEqual(r["status"], ACCEPTED)
        # A ninth id would need a younger answer's entry: refused, not applied.
        self.assertEqual(self.ask_once(bid(999, 1, 777, 10000))["status"], OVERLOADED)
        # Every answer is still replayed, with its own stamp.
        for i, r in enumerate(first):
            again = self.ask_once(bid(100 + i, 1, 500 + i, 100 + 10 * i))
            self.assertEqual((again["status"], again["flags"], again["hlc"]),
                             (ACCEPTED, REPLAYED, r["hlc"]))
        self.assertLess(time.monotonic() - t0, WINDOW_S, "too slow to test inside the window")
        # Once the answers are a window old, the refused id gets in.
        time.sleep(WINDOW_S * 1.01 + 0.05 - (time.monotonic() - t0))
        r = self.ask_once(bid(999, 1, 777, 10000))
        self.assertEqual((r["status"], r["flags"]), (ACCEPTED, 0))
        self.assertEqual((r["leading_amount"], r["leading_bidder"]), (10000, 777))


if __name__ == "__main__":
    main("dedup")
