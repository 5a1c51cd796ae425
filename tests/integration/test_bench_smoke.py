#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""perf/bench.sh, short (1 s per stage, one round), run as CI and scripts
run it: no terminal (a new session), stdin /dev/null. It must complete,
write results.json with 0 mismatches in every node run, and leave none of
its processes, DPDK prefixes, stats segments or run directories behind.
Never a speed: the figures of a 1 s run on a shared machine mean nothing."""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import bptest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIDPLANE = os.environ.get("BP_BIDPLANE", os.path.join(ROOT, "build", "bidplane"))


class BenchSmoke(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="bp-bench-smoke-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def leftovers(self, pid):
        prefix = f"bpbench-{pid}-"
        found = (glob.glob(f"/var/run/dpdk/{prefix}*") + glob.glob(f"/dev/shm/{prefix}*")
                 + glob.glob(f"/dev/hugepages/{prefix}*"))
        ps = subprocess.run(["pgrep", "-f", f"--file-prefix {prefix}"], capture_output=True,
                            text=True)
        return found + ps.stdout.split()

    def test_smoke_run_completes_without_a_terminal_with_no_mismatch(self):
        env = dict(os.environ, BENCH_SECONDS="1", BENCH_ROUNDS="1", BENCH_OUT=self.out,
                   BENCH_BUILD_DIR=os.path.dirname(os.path.abspath(BIDPLANE)),
                   BENCH_NO_HUGE="1", BENCH_DEDUP_RATE="500000")
        before = set(glob.glob("/tmp/bidplane-bench.*"))
        text, pid = bptest.run_script(self, os.path.join(ROOT, "perf", "bench.sh"), env, 100, ROOT)
        with open(os.path.join(self.out, "results.json")) as f:
            results = json.load(f)
        self.assertEqual(results["mismatches"], 0, text)
        runs = [r[k] for r in results["per_round"] for k in ("uniform", "zipf")]
        runs.append(results["latency_run"])
        for r in runs:
            self.assertEqual(r["mismatch_total"], 0, text)
            self.assertGreater(r["sent"], 0, text)
            self.assertIn("busy_fraction", r["node_busy"], text)
        self.assertGreater(results["per_round"][0]["ceiling"]["sent"], 0, text)
        self.assertEqual(self.leftovers(pid), [], text)
        self.assertEqual(set(glob.glob("/tmp/bidplane-bench.*")) - before, set(), text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
