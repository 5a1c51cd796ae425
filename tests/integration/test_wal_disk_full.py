#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A full disk under --durability sync (docs/WAL.md "The node", "The
reserve"): the state directory is a small tmpfs, nearly filled. Bids are
answered until the log sees it cannot grow; from then on no bid is answered
ACCEPTED (NOT_SERVING), a bid answered NOT_SERVING changed nothing (the
leading bid and bid_count are those of the ACCEPTED bids: the reserve
kept the disk from failing a record in flight), bidctl status says why
(`wal`, "free space"),
a retry of a bid whose record was lost is never REPLAYED ACCEPTED (not
even after the resume, when memory still holds its key; what it is told
then still holds after a restart), and every bid seen ACCEPTED is in the log (after a restart its
retransmission is REPLAYED with its stamp). Once
space returns the node serves again by itself. Root only (mount)."""

import json
import os
import time
import unittest

from bptest import (ACCEPTED, BIDCTL, BIDPLANE, NOT_SERVING, REPLAYED, Client, Node,
                    TmpfsStateDir, bid, main, query)

ARGS = ["--durability", "sync", "--open-range", "1-1", "--duration", "3600"]


@unittest.skipUnless(os.geteuid() == 0, "needs root (mount -t tmpfs)")
class WalDiskFull(TmpfsStateDir, unittest.TestCase):
    def setUp(self):
        self.mount_state("bp-walfull-", "16m")

    def test_no_accepted_without_a_record_and_service_returns(self):
        node = Node(BIDPLANE, args=ARGS, state_dir=self.state).start()
        c = Client(timeout=0.5)
        accepted, amount, rid = {}, 10, 1
        try:
            self.assertEqual(c.ask(bid(rid, 1, 1, amount))["status"], ACCEPTED)
            for _ in range(20):  # before the disk fills: their records must stay
                rid += 1
                amount += 1
                r = c.ask(bid(rid, 1, 2, amount))
                self.assertEqual(r["status"], ACCEPTED, r)
                accepted[rid] = (2, amount, r["hlc"])
            # The disk fills: the log turns full within its space watch (less
            # than a reserve step free: docs/WAL.md "The reserve").
            filler = self.fill(leave=16 * 1024)
            refused = None
            deadline = time.time() + 30
            while refused is None and time.time() < deadline:
                rid += 1
                amount += 1
                r = c.ask(bid(rid, 1, 2, amount), retries=3)
                if r["status"] == ACCEPTED:
                    accepted[rid] = (2, amount, r["hlc"])
                elif r["status"] == NOT_SERVING:
                    refused = r
                    refused_bid = bid(rid, 1, 2, amount)
            self.assertIsNotNone(refused, "the log never ran out of space")
            # Its retry at once (before the service thread says NOT_SERVING,
            # or after): its record was never written, so never ACCEPTED.
            self.assertEqual(c.ask(refused_bid)["status"], NOT_SERVING)
            self.assertGreater(len(accepted), 10)
            # Nothing but the ACCEPTED bids took effect: the old node applied
            # the bid in flight when the disk filled and answered it
            # NOT_SERVING (its leading_amount was that bid's, bid_count one
            # too many).
            q = c.ask(query(10 ** 6 + 1, 1))
            self.assertEqual((q["leading_amount"], q["bid_count"]),
                             (max(a for _, a, _ in accepted.values()), 1 + len(accepted)), q)
            for _ in range(40):  # the service thread sees it within 50 ms
                st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
                if not st["serving"]:
                    break
                time.sleep(0.05)
            self.assertFalse(st["serving"], st)
            self.assertIn(st["not_serving_reason"], ("wal", "hlc_ceiling"), st)
            self.assertIn("free space", st["wal"]["error"] or "", st)
            self.assertTrue(st["wal"]["full"], st)
            for _ in range(20):  # still full: still no ACCEPTED
                rid += 1
                amount += 1
                self.assertEqual(c.ask(bid(rid, 1, 3, amount))["status"], NOT_SERVING)
            os.unlink(filler)  # space returns
            served = None
            deadline = time.time() + 15
            while served is None and time.time() < deadline:
                rid += 1
                amount += 1
                r = c.ask(bid(rid, 1, 4, amount))
                if r["status"] == ACCEPTED:
                    served = r
                    accepted[rid] = (4, amount, r["hlc"])
                time.sleep(0.1)
            self.assertIsNotNone(served, "the node did not resume:\n" + node.text()[-2000:])
            self.assertIn("works again", node.text())
            # The bid answered NOT_SERVING when the log filled, retried now
            # that the node serves again: its record was lost (or it was
            # never applied), so never REPLAYED ACCEPTED from memory
            # (docs/WAL.md "A lost record's key").
            again = c.ask(refused_bid)
            self.assertNotEqual((again["status"], again["flags"] & REPLAYED),
                                (ACCEPTED, REPLAYED), again)
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)
        node = Node(BIDPLANE, args=ARGS, state_dir=self.state).start()
        c = Client()
        try:
            q = c.ask(query(10 ** 6, 1))
            # What the retry was told after the resume still holds: a final
            # answer is REPLAYED as it was (its record is durable).
            a2 = c.ask(refused_bid)
            if again["status"] != NOT_SERVING:
                self.assertEqual((a2["status"], a2["flags"] & REPLAYED, a2["hlc"]),
                                 (again["status"], REPLAYED, again["hlc"]), (again, a2))
            self.assertGreaterEqual(q["leading_amount"], max(a for _, a, _ in accepted.values()))
            # Each one's record made it: its retransmission is REPLAYED as it was.
            for rid, (bidder, amount, hlc) in accepted.items():
                again = c.ask(bid(rid, 1, bidder, amount))
                self.assertEqual((again["status"], again["flags"] & REPLAYED, again["hlc"]),
                                 (ACCEPTED, REPLAYED, hlc), (rid, again))
        finally:
            c.close()
            self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    main("walfull")
