#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The short seeded chaos campaign (CI): a few experiments on a real
3-node cluster, each checked against the invariants (check.py). Fails on
any unexplained violation, on anything left behind, or when a run's report
is missing, and checks each experiment's premise (it did what it says).
Two need etcd (zombie_leader, etcd_down: the runner starts a member), one
kills -9 with --durability sync (kill_sync); disk_full's premise is
checked when it is in the set. The long
campaign is the same runner with --runs N (docs/CHAOS.md)."""

import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import run  # noqa: E402

EXP = os.path.join(HERE, "experiments")
# (experiment, seed): what the campaign runs (docs/CHAOS.md: its time).
CAMPAIGN = [("clock_behind", 12), ("pause_node", 14), ("zombie_leader", 15), ("clock_jump", 16),
            ("kill_sync", 17), ("etcd_down", 18)]
# disk_full seed 19 passes with its premise in 25 s, but the campaign took
# 233 s with it on the loaded machine of 2026-12-01 (over the ~150 s CI
# budget): it runs in the long campaign; add ("disk_full", 19) here to run
# it in CI (its premise is checked whenever it runs).


def records_of(r):
    with open(r["history"]) as f:
        return [json.loads(line) for line in f]


def zombie_premise(r):
    """(old leader, its token, the new leader's token, settlement tokens):
    the node stopped was the leader, another led with a greater token while
    it slept, and the closing auctions were settled."""
    recs = records_of(r)
    stop = next(x for x in recs if x["type"] == "fault" and x["kind"] == "stop")
    cont = next(x for x in recs if x["type"] == "fault" and x["kind"] == "cont")
    old = stop["leader"]
    before = [x["fencing_token"] for x in recs if x["type"] == "sample" and x.get("ok")
              and x["node"] == old and x.get("leader") and x["t1"] <= stop["t"]]
    during = [x["fencing_token"] for x in recs if x["type"] == "sample" and x.get("ok")
              and x["node"] != old and x.get("leader") and stop["t"] < x["t0"] < cont["t"]]
    keys = next(x for x in recs if x["type"] == "etcd_settled")["keys"]
    return old, max(before, default=0), max(during, default=0), [
        k["value"]["fencing_token"] for k in keys]


def etcd_down_premise(r):
    """(ACCEPTED answers while etcd was stopped, most auctions a status
    said waiting for etcd, auctions settled in etcd)."""
    recs = records_of(r)
    stop = next(x for x in recs if x["type"] == "fault" and x["kind"] == "etcd_stop")
    back = next(x for x in recs if x["type"] == "fault" and x["kind"] == "etcd_start")
    accepted = sum(1 for x in recs if x["type"] == "reply" and x["status"] == run.check.ACCEPTED
                   and stop["t_done"] < x["t"] < back["t"])
    waiting = max((x["settlements"]["waiting_for_etcd"] for x in recs if x["type"] == "sample"
                   and x.get("ok") and x.get("settlements")), default=0)
    settled = len(next(x for x in recs if x["type"] == "etcd_settled")["keys"])
    return accepted, waiting, settled


def disk_premise(r):
    """(NOT_SERVING answers of the full node while its disk was full,
    whether a status of it said `wal` then, ACCEPTED answers of it after the
    free): the log could not grow, the node said why, and served again."""
    recs = records_of(r)
    full = next(x for x in recs if x["type"] == "fault" and x["kind"] == "disk_full")
    free = next(x for x in recs if x["type"] == "fault" and (
        x["kind"] == "disk_free" or (x["kind"] == "heal" and x.get("freed"))))
    node = full["args"]["node"]
    refused = sum(1 for x in recs if x["type"] == "reply" and x["node"] == node
                  and x["status"] == run.check.NOT_SERVING and not x["replayed"]
                  and full["t_done"] < x["t"] < free["t"])
    said_wal = any(x["type"] == "sample" and x["node"] == node and x.get("ok")
                   and x.get("reason") == "wal" and full["t_done"] < x["t0"] < free["t"]
                   for x in recs)
    served = sum(1 for x in recs if x["type"] == "reply" and x["node"] == node
                 and x["status"] == run.check.ACCEPTED and not x["replayed"]
                 and x["t"] > free["t_done"])
    return refused, said_wal, served


def resumed_not_serving(r):
    """NOT_SERVING answers of the paused node from its resume to 1 s after
    the release of its ceiling (the next renewal attempt; pause_node)."""
    with open(r["history"]) as f:
        recs = [json.loads(line) for line in f]
    faults = {x["kind"]: x for x in recs if x.get("type") == "fault"}
    node = faults["cont"]["args"]["node"]
    t0, t1 = faults["cont"]["t"], faults["release_ceiling"]["t_done"]
    return sum(1 for x in recs if x.get("type") == "reply" and x["node"] == node
               and x["status"] == run.check.NOT_SERVING and t0 <= x["t"] <= t1 + 1e9)


class Campaign(unittest.TestCase):
    def test_short_campaign(self):
        out = tempfile.mkdtemp(prefix="bp-chaos-")
        ok = False
        try:
            results = []
            for name, seed in CAMPAIGN:
                rc = run.main(["--seed", str(seed), "--out", out,
                               os.path.join(EXP, name + ".yaml")])
                with open(os.path.join(out, "summary.json")) as f:
                    results += json.load(f)
                self.assertIn(rc, (0, 1, 3), name)  # 3: a host stall, named below
            by_name = {r["experiment"]: r for r in results}
            for r in results:
                with self.subTest(experiment=r["experiment"]):
                    self.assertNotEqual(r["verdict"], "skip", r.get("reason"))
                    bugs = [v for v in r["violations"] if not v.get("explained")]
                    self.assertEqual(bugs[:5], [], f"{r['experiment']} seed {r['seed']}")
                    self.assertEqual(r["leftovers"], [])
                    with open(r["history"]) as f:
                        faults = [json.loads(line) for line in f if '"type":"fault"' in line]
                    self.assertTrue(all(x["ok"] for x in faults), faults)
                    self.assertTrue(r["converged"].get("ok"), r["converged"])
                    self.assertGreater(r["counts"]["accepted"], 100, r["counts"])
                    run_dir = os.path.dirname(r["history"])
                    if shutil.which("gnuplot"):
                        self.assertTrue(os.path.exists(os.path.join(run_dir, "timeline.png")))
            # The clock experiment did what it says: node 3 answered
            # NOT_SERVING, and its clients were served elsewhere.
            self.assertGreater(by_name["clock_behind"]["counts"]["not_serving"], 50)
            # The premise of pause_node (the regression test of NOT_SERVING
            # answers that were remembered and REPLAYED): the paused node
            # did refuse bids at its HLC ceiling when it resumed.
            # Deterministic: the ceiling cannot be renewed until 0.5 s after
            # the resume (hold_ceiling_s), whatever wins the race at SIGCONT.
            self.assertGreater(resumed_not_serving(by_name["pause_node"]), 0,
                               "pause_node lost its premise: no NOT_SERVING on resume")
            # The jumped clock was quarantined: node 2 answered NOT_SERVING.
            self.assertGreater(by_name["clock_jump"]["counts"]["not_serving"], 50)
            # The zombie: the leader was stopped, another led with a greater
            # token meanwhile, and the 5 closing auctions were settled with
            # tokens newer than the zombie's (check.py I5 judged the rest).
            old, old_token, new_token, tokens = zombie_premise(by_name["zombie_leader"])
            self.assertGreater(old_token, 0, "the stopped node was not seen leading")
            self.assertGreater(new_token, old_token, "no new leader while the old one slept")
            self.assertEqual(len(tokens), 5, tokens)
            self.assertTrue(all(t > old_token for t in tokens), (old_token, tokens))
            # etcd down: bids went on, settlement waited for etcd, then all
            # 5 closing auctions were settled.
            accepted, waiting, settled = etcd_down_premise(by_name["etcd_down"])
            self.assertGreater(accepted, 100, "bids not answered while etcd was down")
            self.assertGreater(waiting, 0, "no status said waiting_for_etcd")
            self.assertEqual(settled, 5)
            # disk_full: while node 2's log could not grow it refused bids,
            # said `wal`, and once freed it took bids again.
            if "disk_full" in by_name:
                refused, said_wal, served = disk_premise(by_name["disk_full"])
                self.assertGreater(refused, 20, "the full node refused no bids")
                self.assertTrue(said_wal, "no status of the full node said wal")
                self.assertGreater(served, 20, "the node took no bid after the free")
            # kill_sync: three crashes and restarts, all applied (above).
            with open(by_name["kill_sync"]["history"]) as f:
                kinds = [json.loads(x)["kind"] for x in f if '"type":"fault"' in x]
            self.assertEqual((kinds.count("kill"), kinds.count("restart")), (3, 3), kinds)
            ok = True
        finally:
            if ok:
                shutil.rmtree(out, ignore_errors=True)
            else:  # the histories, to replay and read (docs/CHAOS.md)
                print(f"chaos campaign output kept in {out}")


if __name__ == "__main__":
    import cluster
    cluster.require_root()
    unittest.main(verbosity=2)
