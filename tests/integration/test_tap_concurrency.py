#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Per-auction total order under concurrency: two workers (sharing the
machine's cores), many clients bidding on one hot auction. From the replies
alone: ACCEPTED amounts ordered by HLC stamp strictly increase, stamps are
unique, and the final QUERY shows the maximum accepted bid."""

import random
import threading
import unittest

from bptest import ACCEPTED, OVERLOADED, TOO_LOW, BIDPLANE, Client, Node, bid, main, query

CLIENTS = 8
BIDS_PER_CLIENT = 150
ROUNDS = 3


def bidder(auction, index, seed, out):
    rng = random.Random(seed)
    c = Client(timeout=2.0)
    amount = 100
    for i in range(BIDS_PER_CLIENT):
        amount += rng.randrange(1, 40)
        rid = auction * 100000 + i + 1  # (bidder, request_id) unique across rounds
        r = c.ask(bid(rid, auction, 1000 + index, amount, client_ts=i), retries=20)
        out.append(r)
        if r["status"] == TOO_LOW and r["leading_amount"] >= amount:
            amount = r["leading_amount"]  # catch up, like a real bidder
    c.close()


class HotAuction(unittest.TestCase):
    def test_accepted_bids_form_one_order(self):
        node = Node(BIDPLANE, workers=2, args=["--open-range", f"1-{ROUNDS}",
                                               "--increment", "1"]).start()
        try:
            for auction in range(1, ROUNDS + 1):
                with self.subTest(auction=auction):
                    self.check_round(auction)
        finally:
            rc = node.stop()
        self.assertEqual(rc, 0, node.text())
        workers = [node.summary.get(("worker", str(w)), 0) for w in range(2)]
        print(f"frames per worker: {workers}")

    def check_round(self, auction):
        seed = random.randrange(1 << 30)
        replies = [[] for _ in range(CLIENTS)]
        threads = [threading.Thread(target=bidder, args=(auction, i, seed + i, replies[i]))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        flat = [r for rs in replies for r in rs]
        self.assertEqual(len(flat), CLIENTS * BIDS_PER_CLIENT, f"seed {seed}")
        self.assertTrue({r["status"] for r in flat} <= {ACCEPTED, TOO_LOW, OVERLOADED})
        accepted = sorted((r for r in flat if r["status"] == ACCEPTED), key=lambda r: r["hlc"])
        self.assertGreater(len(accepted), CLIENTS)
        stamps = [r["hlc"] for r in accepted]
        self.assertEqual(len(set(stamps)), len(stamps), "duplicate HLC stamps")
        amounts = [r["leading_amount"] for r in accepted]
        for a, b in zip(amounts, amounts[1:]):
            self.assertLess(a, b, f"accepted amounts not increasing by HLC (seed {seed})")
        # Every reply's leading bid is one bid: amount and bidder agree with
        # an accepted bid (or none).
        by_amount = {r["leading_amount"]: r["leading_bidder"] for r in accepted}
        for r in flat:
            if r["leading_amount"]:
                self.assertEqual(by_amount.get(r["leading_amount"]), r["leading_bidder"])
        final = Client().ask(query(1, auction))
        top = accepted[-1]
        self.assertEqual((final["leading_amount"], final["leading_bidder"], final["leading_hlc"]),
                         (top["leading_amount"], top["leading_bidder"], top["hlc"]))
        self.assertEqual(final["bid_count"], len(accepted))


if __name__ == "__main__":
    main("conc")
