#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A node on a memif server port driven by bidgen --strict: every request
kind (bids, duplicates, conflicts, queries, watches, malformed variants),
every reply checked by bidgen, and the node's counters equal bidgen's."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from bptest import BIDPLANE, parse_summary

BIDGEN = os.environ.get("BP_BIDGEN", "build/perf/bidgen/bidgen")


class MemifStrict(unittest.TestCase):
    def test_bidgen_strict_run_and_counters_agree(self):
        run = tempfile.mkdtemp(prefix="bp-memif-")
        self.addCleanup(shutil.rmtree, run, True)
        sock = os.path.join(run, "memif.sock")
        node_cmd = [BIDPLANE, "--no-huge", "-m", "512", "--lcores=0@0,1@1", "--no-pci",
                    f"--vdev=net_memif0,role=server,socket={sock}", "--",
                    "--ip", "198.18.0.2", "--open-range", "1-500", "--increment", "1",
                    "--control-socket", os.path.join(run, "ctl"),
                    "--state-dir", os.path.join(run, "state")]
        node = subprocess.Popen(node_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        out = []
        reader = threading.Thread(target=lambda: out.extend(node.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not any(" mac " in l for l in out):
                self.assertIsNone(node.poll(), "".join(out))
                time.sleep(0.05)
            gen = subprocess.run(
                [BIDGEN, "--no-huge", "-m", "512", "--lcores=0@1", "--no-pci",
                 f"--vdev=net_memif0,role=client,socket={sock}", "--",
                 "--auctions", "1-500", "--count", "20000", "--rate", "50000",
                 "--zipf", "0.99", "--dup-ratio", "0.03", "--conflict-ratio", "0.02",
                 "--bad-ratio", "0.03", "--query-ratio", "0.05", "--watch-ratio", "0.03",
                 "--timeout", "2000", "--window", "256", "--strict", "--quiet", "--json",
                 os.path.join(run, "gen.json")],
                capture_output=True, text=True, timeout=120)
            print(gen.stdout)
            self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
            with open(os.path.join(run, "gen.json")) as f:
                g = json.load(f)
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(timeout=30)
            reader.join(timeout=5)
        text = "".join(out)
        self.assertEqual(node.returncode, 0, text)
        s = parse_summary(text)
        self.assertEqual(g["mismatch_total"], 0)
        self.assertEqual(g["lost"], 0)
        self.assertEqual(g["sent"], 20000)
        # The node saw every request (plus bidgen's ARP) and every reply
        # bidgen counted, status by status.
        self.assertEqual(s[("total", "rx")], g["sent"] + s[("exception", "to_control")], text)
        self.assertEqual(s[("total", "tx")], g["received"] + s[("exception", "from_control")],
                         text)
        for kind, label in (("bid_reply", "bid_reply"), ("auction_state", "state")):
            for status, n in g["replies"][kind].items():
                self.assertEqual(s.get((label, status), 0), n, f"{kind} {status}\n{text}")
        self.assertEqual(s.get(("idempotency", "replayed"), 0), g["replayed"])
        self.assertGreater(g["replayed"], 0)
        self.assertGreater(g["replies"]["bid_reply"]["conflict"], 0)
        self.assertGreater(g["accepted_checked"], 100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
