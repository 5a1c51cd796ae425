#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Auction lifecycle, bidctl, fencing and shutdown, against a node on net_tap."""

import json
import os
import shutil
import struct
import tempfile
import time
import unittest

from bptest import (ACCEPTED, CLOSED, NOT_SERVING, TOO_LOW, BIDCTL, BIDPLANE, Client, Node,
                    bid, main, query, watch)


def hlc_ms(stamp):
    return stamp >> 16


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(BIDPLANE, args=["--open-range", "1-3", "--duration", "600"]).start()
        cls.client = Client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        ctl = cls.node.ctl
        rc = cls.node.stop()
        assert rc == 0, cls.node.text()
        assert "stopped cleanly" in cls.node.text()
        assert not os.path.exists(ctl), "control socket left behind"

    def ctl(self, *args):
        r = self.node.bidctl(BIDCTL, *args)
        return r

    def test_auction_closing_while_bids_arrive(self):
        r = self.ctl("open", "--auction", "100", "--reserve", "10", "--increment", "1",
                     "--duration", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.client
        accepted, closed, amount = [], [], 10
        deadline = time.time() + 15
        while time.time() < deadline and len(closed) < 20:
            reply = c.ask(bid(len(accepted) + len(closed) + 1, 100, 7, amount))
            if reply["status"] == ACCEPTED:
                accepted.append(reply)
                amount += 1
            elif reply["status"] == CLOSED:
                closed.append(reply)
            else:
                self.assertEqual(reply["status"], TOO_LOW)
        self.assertGreater(len(accepted), 0)
        self.assertEqual(len(closed), 20, "auction never closed")
        state = c.ask(query(1, 100))
        close_at = state["close_at_ms"]
        self.assertEqual(state["state"], 2)
        # Every accepted stamp is before the close time, every refusal after.
        self.assertTrue(all(hlc_ms(a["hlc"]) < close_at for a in accepted))
        self.assertTrue(all(hlc_ms(x["hlc"]) >= close_at or x["hlc"] == 0 for x in closed))
        # The winner is the last accepted bid, and settlement agrees.
        last = accepted[-1]
        self.assertEqual((state["leading_amount"], state["leading_hlc"]),
                         (last["leading_amount"], last["hlc"]))
        # Settlement follows the close by one control tick and a grace period.
        self.assertTrue(self.node.wait_for_output("settled auction 100"), "no settlement log")
        r = self.ctl("--json", "query", "100")
        self.assertEqual(r.returncode, 0, r.stderr)
        q = json.loads(r.stdout)
        self.assertTrue(q["settled"])
        self.assertEqual(q["leading_amount"], last["leading_amount"])
        self.assertEqual(q["bid_count"], len(accepted))

    def test_bidctl_open_query_list_close_status(self):
        r = self.ctl("open", "--auction", "200", "--reserve", "5", "--increment", "2",
                     "--duration", "300")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("200", r.stdout)
        dup = self.ctl("open", "--auction", "200", "--reserve", "5", "--increment", "2",
                       "--duration", "300")
        self.assertNotEqual(dup.returncode, 0)
        self.assertIn("already exists", dup.stderr)
        self.assertEqual(self.client.ask(bid(1, 200, 3, 5))["status"], ACCEPTED)

        q = json.loads(self.ctl("--json", "query", "200").stdout)
        self.assertEqual((q["leading_amount"], q["leading_bidder"], q["phase"]), (5, 3, 1))
        listing = json.loads(self.ctl("--json", "list").stdout)
        ids = {a["id"] for a in listing["auctions"]}
        self.assertTrue({1, 2, 3, 200} <= ids, ids)

        r = self.ctl("close", "200")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.client.ask(bid(2, 200, 4, 100))["status"], CLOSED)
        q = json.loads(self.ctl("--json", "query", "200").stdout)
        self.assertTrue(q["settled"])
        self.assertEqual((q["leading_amount"], q["leading_bidder"]), (5, 3))
        again = self.ctl("close", "200")
        self.assertNotEqual(again.returncode, 0)

        st = json.loads(self.ctl("--json", "status").stdout)
        self.assertEqual(st["workers"], 1)
        self.assertTrue(st["serving"])
        self.assertGreaterEqual(st["fencing_epoch"], 1)
        self.assertGreater(st["hlc"], 0)
        self.assertIn("status", self.ctl("--help").stdout + self.ctl("--help").stderr)
        missing = self.ctl("query", "987654")
        self.assertEqual(missing.returncode, 1)
        self.assertIn("987654", missing.stderr)


class Fencing(unittest.TestCase):
    def test_epoch_grows_across_restarts(self):
        state = tempfile.mkdtemp(prefix="bp-epoch-")
        self.addCleanup(shutil.rmtree, state, True)
        epochs = []
        for _ in range(2):
            node = Node(BIDPLANE, args=["--state-dir", state]).start()
            st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
            epochs.append(st["fencing_epoch"])
            self.assertEqual(node.stop(), 0)
        self.assertEqual(epochs[1], epochs[0] + 1)

    def test_unpersistable_epoch_means_not_serving(self):
        # A usable state dir whose epoch cannot be written (a directory in
        # its place): the node runs, NOT_SERVING, and retries. A state dir
        # that is no directory at all refuses the start (test_hostile).
        state = tempfile.mkdtemp(prefix="bp-noepoch-")
        os.mkdir(os.path.join(state, "fencing_epoch"))
        node = Node(BIDPLANE, args=["--open-range", "1-1", "--state-dir", state]).start()
        try:
            c = Client()
            self.assertEqual(c.ask(bid(1, 1, 1, 100))["status"], NOT_SERVING)
            self.assertEqual(c.ask(query(1, 1))["status"], NOT_SERVING)
            self.assertEqual(c.ask(watch(1, 1, 1))["status"], NOT_SERVING)
            st = json.loads(node.bidctl(BIDCTL, "--json", "status").stdout)
            self.assertFalse(st["serving"])
            c.close()
        finally:
            self.assertEqual(node.stop(), 0)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main("life")
