#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A node on a memif server port driven by bidgen --strict: every request
kind (bids, duplicates, conflicts, queries, watches, malformed variants),
every reply checked by bidgen. Then the node's numbers, read four ways
(bidstat --json, DPDK telemetry, bidstat --prometheus through promtool,
the exit summary), equal bidgen's counts exactly."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from bptest import BIDCTL, BIDPLANE, Node
from stats_tools import (BIDSTAT, bidstat_json, by_key, promtool_check, telemetry,
                         wait_for_refresh)

BIDGEN = os.environ.get("BP_BIDGEN", "build/bidgen")


class MemifStrict(unittest.TestCase):
    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="bp-memif-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        self.sock = os.path.join(self.run_dir, "memif.sock")
        ncpu = os.cpu_count() or 1
        self.node = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,"
                         f"socket={self.sock}",
                         args=["--open-range", "1-500", "--increment", "1"])
        self.gen_lcores = f"0@{1 % ncpu}"

    def run_bidgen(self):
        out = os.path.join(self.run_dir, "gen.json")
        gen = subprocess.run(
            [BIDGEN, "--no-huge", "-m", "512", f"--lcores={self.gen_lcores}", "--no-pci",
             f"--vdev=net_memif0,role=client,socket={self.sock}", "--",
             "--auctions", "1-500", "--count", "20000", "--rate", "50000",
             "--zipf", "0.99", "--dup-ratio", "0.03", "--conflict-ratio", "0.02",
             "--bad-ratio", "0.03", "--query-ratio", "0.05", "--watch-ratio", "0.03",
             "--timeout", "2000", "--window", "256", "--strict", "--quiet", "--json", out],
            capture_output=True, text=True, timeout=120)
        print(gen.stdout)
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
        with open(out) as f:
            return json.load(f)

    def test_bidgen_strict_run_and_every_view_of_the_counters_agrees(self):
        node = self.node.start()
        try:
            g = self.run_bidgen()
            self.assertEqual(g["mismatch_total"], 0)
            self.assertEqual(g["lost"], 0)
            self.assertEqual(g["sent"], 20000)
            wait_for_refresh(self, node.stats_name)
            stat = bidstat_json(self, node.stats_name)
            self.check_bidstat_equals_bidgen(stat, g)
            self.check_telemetry_equals_bidstat(node, by_key(stat))
            promtool_check(self, node.stats_name)
        finally:
            rc = node.stop()
        self.assertEqual(rc, 0, node.text())
        self.check_summary_equals_bidgen(node.summary, g, node.text())

    def bidgen(self, *args, timeout=120):
        return subprocess.run(
            [BIDGEN, "--no-huge", "-m", "512", f"--lcores={self.gen_lcores}", "--no-pci",
             f"--vdev=net_memif0,role=client,socket={self.sock}", "--"] + list(args),
            capture_output=True, text=True, timeout=timeout)

    def test_strict_fails_when_every_reply_is_unknown_auction(self):
        # It passed: every reply UNKNOWN_AUCTION checks nothing.
        node = self.node.start()
        try:
            gen = self.bidgen("--auctions", "100000-100100", "--count", "2000", "--rate",
                              "20000", "--strict", "--quiet")
        finally:
            node.stop()
        self.assertEqual(gen.returncode, 1, gen.stdout + gen.stderr)
        self.assertIn("bidgen: --strict: no reply shows an open auction on a serving node "
                      "(UNKNOWN_AUCTION 2000, NOT_SERVING 0", gen.stderr)
        self.assertIn("open --auctions 100000-100100 on the node", gen.stderr)

    def test_a_second_node_on_the_same_memif_socket_names_the_socket(self):
        # It said "no DPDK ports: add a device" although one was given.
        node = self.node.start()
        second = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,"
                      f"socket={self.sock}")
        try:
            out = subprocess.run(second.cmd, capture_output=True, text=True, timeout=60)
        finally:
            second.remove_stats()
            shutil.rmtree(second.dir, ignore_errors=True)
            node.stop()
        self.assertNotEqual(out.returncode, 0)
        text = out.stdout + out.stderr
        self.assertNotIn("add a device", text)
        self.assertIn(f"no DPDK port: the device net_memif0,role=server,socket={self.sock} "
                      f"failed to probe (the EAL log above says why): its memif socket "
                      f"{self.sock} is in use, another process (a node or bidgen) listens "
                      f"on it", text)

    def check_bidstat_equals_bidgen(self, stat, g):
        m = by_key(stat)
        total = lambda key: m[key]["total"] if key in m else 0  # noqa: E731
        arp = total("exceptions_total/to_control")
        # Every frame bidgen sent reached the node (plus bidgen's ARP) ...
        self.assertEqual(total("rx_packets_total"), g["sent"] + arp)
        # ... and was answered, dropped for a counted reason, or handed on.
        replies = sum(v["total"] for v in m.values() if v["name"] == "replies_total")
        drops = sum(v["total"] for v in m.values() if v["name"] == "drops_total")
        self.assertEqual(total("rx_packets_total"), replies + drops + arp)
        self.assertEqual(replies, g["received"])
        for kind in ("bid_reply", "auction_state"):
            for status, n in g["replies"][kind].items():
                self.assertEqual(total(f"replies_total/{kind}/{status}"), n, f"{kind} {status}")
        self.assertEqual(total("dedup_replayed_total"), g["replayed"])
        self.assertGreater(g["replayed"], 0)
        self.assertGreater(g["replies"]["bid_reply"]["conflict"], 0)
        self.assertGreater(g["accepted_checked"], 100)
        self.assertEqual(total("tx_packets_total"),
                         g["received"] + total("exceptions_total/from_control"))
        self.assertEqual(stat["state"], "running")
        self.assertEqual(stat["workers"], 1)
        self.assertEqual(stat["config"]["stats-name"], self.node.stats_name)

    def check_telemetry_equals_bidstat(self, node, m):
        t = telemetry(self, node.prefix, "/bidplane/stats")
        compared = 0
        for key, v in m.items():
            # Idle polls keep counting; gauges move with time.
            if v["type"] != "counter" or v["name"] == "polls_total" or "auction" in v["labels"]:
                continue
            self.assertIn(key, t)
            self.assertEqual(t[key], v["total"], key)
            compared += 1
        self.assertGreater(compared, 50)
        workers = telemetry(self, node.prefix, "/bidplane/workers")
        self.assertEqual(workers["0"]["rx_packets_total"], m["rx_packets_total"]["workers"][0])
        hlc = telemetry(self, node.prefix, "/bidplane/hlc")
        self.assertEqual(hlc["hlc_issued_total"], m["hlc_issued_total"]["total"])
        self.assertGreater(hlc["hlc_now_ms"], 0)
        # A tracked auction: telemetry, bidstat and bidctl tell one story.
        lead = [v for k, v in m.items() if v["name"] == "auction_leading_amount"
                and v["total"] > 0]
        self.assertTrue(lead)
        auction = lead[0]["labels"]["auction"]
        a = telemetry(self, node.prefix, f"/bidplane/auction,{auction}")
        self.assertEqual(a["leading_amount"], lead[0]["total"])
        self.assertEqual(a["bids"], m[f"auction_bids_total/{auction}"]["total"])
        q = node.bidctl(BIDCTL, "--json", "query", auction)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertEqual(json.loads(q.stdout)["leading_amount"], a["leading_amount"])
        bad = telemetry(self, node.prefix, "/bidplane/auction,999999")
        self.assertEqual(bad["error"], "unknown auction")

    def check_summary_equals_bidgen(self, s, g, text):
        self.assertEqual(s[("total", "rx")], g["sent"] + s[("exception", "to_control")], text)
        self.assertEqual(s[("total", "tx")], g["received"] + s[("exception", "from_control")],
                         text)
        for kind, label in (("bid_reply", "bid_reply"), ("auction_state", "state")):
            for status, n in g["replies"][kind].items():
                self.assertEqual(s.get((label, status), 0), n, f"{kind} {status}\n{text}")
        self.assertEqual(s.get(("idempotency", "replayed"), 0), g["replayed"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
