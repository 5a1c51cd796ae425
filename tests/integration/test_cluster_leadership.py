#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Leadership through a real etcd (docs/LEADERSHIP.md, CLUSTER.md promise 6).

Options: --etcd, --cluster-name and --lease-ttl are refused with the fix
(--check-config, no EAL). Then three nodes (peers of each other) and one
throwaway etcd member (etcd.py) in the cluster's namespace, --lease-ttl 2:
- exactly one node reports leader, with a token > 0, and every node (and
  etcd) names the same leader;
- kill -9 the leader: another takes over with a greater token (the time
  is measured and printed; the bound asserted is a generous 10 leases);
- SIGSTOP the leader beyond its lease: another leads meanwhile; after
  SIGCONT the old one does not report itself leader with its old token;
- etcd stopped: bids are still answered, every node says etcd unreachable
  and none is leader once the lease margin has passed; etcd restarted: a
  leader again.
Every wait has a deadline; the cluster and etcd are removed afterwards."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import bptest
import cluster
import etcd
from bptest import BIDPLANE
from cluster import Cluster
from stats_tools import bidstat_json, by_key, wait_for_refresh

N = 3
TTL = 2
FAILOVER_BOUND_S = 10 * TTL  # generous: the expected time is about one lease



class LeadershipOptions(unittest.TestCase):
    """The three options through the program: refused with the fix."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bp-leaderopt-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, *args):
        cmd = [BIDPLANE, "--", "--ip", "198.18.0.11", "--state-dir", f"{self.dir}/state",
               "--control-socket", f"{self.dir}/ctl.sock", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def test_bad_values_are_refused_with_the_fix(self):
        cases = [
            (["--etcd", "https://127.0.0.1:2379"], "https is not supported"),
            (["--etcd", "127.0.0.1:2379"], "not an http:// URL"),
            (["--etcd", "http://127.0.0.1"], "expected http://HOST:PORT"),
            (["--etcd", "http://127.0.0.1:0"], "a port 1..65535"),
            (["--etcd", "http://127.0.0.1:2379/v3"], "(no path)"),
            (["--etcd", "http://a:1,,http://b:2"], "an empty endpoint"),
            (["--etcd", ",".join(["http://a:1"] * 9)], "more than 8 endpoints"),
            (["--cluster-name", "a/b"], "1 to 64 letters, digits, '_' or '-'"),
            (["--cluster-name", "x" * 65], "1 to 64 letters"),
            (["--lease-ttl", "1"], "--lease-ttl 1: out of range 2..60"),
            (["--lease-ttl", "61"], "out of range 2..60"),
        ]
        for args, why in cases:
            rc, _, err = self.node(*args, "--check-config")
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(why, err, args)

    def test_good_values_pass_and_print(self):
        rc, _, err = self.node("--etcd", "http://127.0.0.1:2379,http://etcd-2.example:2379/",
                               "--cluster-name", "eu_west-1", "--lease-ttl", "7",
                               "--check-config")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.node("--etcd", "http://10.0.0.1:2379", "--cluster-name", "eu",
                                 "--print-config")
        self.assertEqual(rc, 0, err)
        self.assertIn("etcd = http://10.0.0.1:2379\n", out)
        self.assertIn("cluster-name = eu\n", out)
        self.assertIn("lease-ttl = 5\n", out)
        # Without --etcd: no etcd line, the defaults.
        rc, out, err = self.node("--print-config")
        self.assertNotIn("etcd =", out)
        self.assertIn("cluster-name = bidplane\n", out)
        # An INI file reads the same keys.
        ini = os.path.join(self.dir, "node.ini")
        with open(ini, "w") as f:
            f.write("[node]\netcd = ftp://x:1\n")
        rc, _, err = self.node("--config", ini, "--check-config")
        self.assertEqual(rc, 2, err)
        self.assertIn("not an http:// URL", err)


def status(node):
    out = node.bidctl("--json", "status")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class LoneNode(unittest.TestCase):
    """Without --etcd nothing changes: a lone node is its own leader, its
    token the local fencing epoch, and there is no etcd object."""

    def test_a_lone_node_leads_with_its_epoch(self):
        with Cluster("lone") as c:
            c.start(1)
            node = c.node(1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not status(node)["serving"]:
                time.sleep(0.1)
            s = status(node)
            self.assertTrue(s["leader"], s)
            self.assertGreater(s["fencing_epoch"], 0)
            self.assertEqual(s["fencing_token"], s["fencing_epoch"], s)
            self.assertIsNone(s["etcd"], s)
            self.assertIn("(no --etcd: a lone node leads itself)", node.bidctl("status").stdout)
            wait_for_refresh(self, node.stats_name)  # a refresh after serving
            metrics = by_key(bidstat_json(self, node.stats_name))
            self.assertEqual(metrics["leader"]["total"], 1)
            self.assertEqual(metrics["fencing_token"]["total"], s["fencing_epoch"])
            self.assertNotIn("etcd_requests_total", metrics)
            c.stop()
            self.assertEqual(c.leftovers(), [])


class Leadership(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(self.id().split(".")[-1][:20])
        self.c._make_namespace()  # etcd runs in it, beside the nodes
        self.etcd = etcd.Etcd(netns=self.c.ns)
        self.name = f"bp{os.getpid()}"
        key = os.path.join(self.c.root, "cluster.key")
        cluster.write_key(key)

        def peers(i):
            return cluster.mesh_args(key, i, N)

        self.c.start(N, args=["--open-range", "1-10", "--duration", "600", "--etcd",
                              self.etcd.url, "--cluster-name", self.name, "--lease-ttl",
                              str(TTL)], node_args=peers)

    def tearDown(self):
        for i in range(1, N + 1):  # none left stopped
            node = self.c.nodes.get(i)
            if node is not None and node.alive():
                os.kill(node.proc.pid, signal.SIGCONT)
        self.c.stop()
        self.etcd.stop()
        self.assertEqual(self.c.leftovers(), [])

    def alive(self):
        return [i for i in range(1, N + 1) if self.c.node(i).alive()]

    def statuses(self, nodes):
        return {i: status(self.c.node(i)) for i in nodes}

    def wait_leader(self, nodes, timeout, newer_than=0):
        """Until exactly one of nodes leads with a token > newer_than and
        all of them name it; (leader, token, statuses)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.statuses(nodes)
            leaders = [i for i, s in last.items() if s["leader"]]
            if len(leaders) == 1:
                i = leaders[0]
                token = last[i]["fencing_token"]
                named = {s["etcd"]["leader_node_id"] for s in last.values()}
                if token > newer_than and named == {i}:
                    return i, token, last
            self.assertLessEqual(len(leaders), 1, last)  # never two
            time.sleep(0.05)
        raise AssertionError(f"no single leader within {timeout} s: {last}")

    def test_1_one_leader_that_all_agree_on(self):
        leader, token, st = self.wait_leader(range(1, N + 1), 30)
        self.assertGreater(token, 0)
        for i, s in st.items():
            self.assertTrue(s["etcd"]["reachable"], s)
            self.assertGreater(s["etcd"]["lease_left_ms"], 0, s)
            self.assertLessEqual(s["etcd"]["lease_left_ms"], TTL * 1000, s)
            if i != leader:
                self.assertEqual(s["fencing_token"], 0, s)
        self.assertEqual(self.etcd.leader_value(f"/{self.name}/leader"), str(leader))
        text = self.c.node(leader).bidctl("status").stdout
        self.assertIn(f"leader:        yes, fencing token {token}\n", text)
        self.assertIn("etcd:          reachable", text)
        # The stats say the same (bidstat --json: the segment's names).
        wait_for_refresh(self, self.c.node(leader).stats_name)
        stats = bidstat_json(self, self.c.node(leader).stats_name)
        metrics = {k: m["total"] for k, m in by_key(stats).items()}
        self.assertEqual(metrics.get("leader"), 1, metrics)
        self.assertEqual(metrics.get("fencing_token"), token)
        self.assertGreater(metrics.get("etcd_requests_total", 0), 0)
        self.assertGreaterEqual(metrics.get("leadership_changes_total", 0), 1)
        # A leader that stops (SIGTERM) exits cleanly and revokes its
        # lease: another leads well before the lease could have expired.
        node = self.c.node(leader)
        t0 = time.monotonic()
        self.assertEqual(self.c.stop_node(leader), 0)
        self.assertIn("stopped cleanly", "".join(node.output))
        self.assertIn(f"elected leader of /{self.name}/leader, fencing token {token}",
                      "".join(node.output))
        rest = [i for i in range(1, N + 1) if i != leader]
        new, new_token, _ = self.wait_leader(rest, FAILOVER_BOUND_S, newer_than=token)
        print(f"hand-over after SIGTERM of node {leader}: node {new} leads after "
              f"{time.monotonic() - t0:.2f} s, token {token} -> {new_token}", file=sys.stderr)

    def test_2_kill_the_leader_another_takes_over(self):
        leader, token, _ = self.wait_leader(range(1, N + 1), 30)
        t0 = time.monotonic()
        self.c.kill(leader)
        rest = self.alive()
        new, new_token, _ = self.wait_leader(rest, FAILOVER_BOUND_S, newer_than=token)
        took = time.monotonic() - t0
        print(f"failover after kill -9 of node {leader}: node {new} leads after {took:.2f} s "
              f"(lease {TTL} s), token {token} -> {new_token}", file=sys.stderr)
        self.assertNotEqual(new, leader)
        self.assertGreater(new_token, token)

    def test_3_a_paused_leader_stops_leading_on_its_own_clock(self):
        leader, token, _ = self.wait_leader(range(1, N + 1), 30)
        pid = self.c.node(leader).proc.pid
        rest = [i for i in range(1, N + 1) if i != leader]
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            deadline = t0 + FAILOVER_BOUND_S
            new = None
            while time.monotonic() < deadline and new is None:
                st = self.statuses(rest)
                for i, s in st.items():
                    if s["leader"] and s["fencing_token"] > token:
                        new, new_token = i, s["fencing_token"]
                time.sleep(0.05)
            self.assertIsNotNone(new, "nobody took over from a stopped leader")
            print(f"failover from a stopped leader: node {new} after "
                  f"{time.monotonic() - t0:.2f} s, token {token} -> {new_token}",
                  file=sys.stderr)
            # Beyond its lease by far, still stopped.
            time.sleep(max(0.0, TTL + 0.5 - (time.monotonic() - t0)))
        finally:
            os.kill(pid, signal.SIGCONT)
        # At once: its status is judged on its own clock, whether or not
        # its leader thread has run since.
        s = status(self.c.node(leader))
        self.assertTrue(not s["leader"] or s["fencing_token"] > new_token, s)
        self.assertNotEqual(s["fencing_token"], token, s)
        # And the cluster settles on the new leader, the old one following.
        final, _, _ = self.wait_leader(range(1, N + 1), FAILOVER_BOUND_S, newer_than=token)
        self.assertNotEqual(final, leader)

    def test_4_etcd_down_bids_go_on_leadership_waits(self):
        leader, token, _ = self.wait_leader(range(1, N + 1), 30)
        t0 = time.monotonic()
        self.etcd.pause()
        deadline = t0 + TTL + 10
        st = None
        while time.monotonic() < deadline:
            st = self.statuses(range(1, N + 1))
            if all(not s["leader"] and not s["etcd"]["reachable"] for s in st.values()):
                break
            time.sleep(0.1)
        took = time.monotonic() - t0
        self.assertTrue(all(not s["leader"] for s in st.values()), st)
        self.assertTrue(all(not s["etcd"]["reachable"] for s in st.values()), st)
        self.assertTrue(all(s["fencing_token"] == 0 for s in st.values()), st)
        self.assertGreater(took, TTL - 1.0 - 0.5, "stepped down before the lease margin")
        print(f"etcd down: the leader stepped down after {took:.2f} s", file=sys.stderr)
        # Bids are answered on every node meanwhile.
        for i in range(1, N + 1):
            r = self.c.client(i).ask(bptest.bid(1000 + i, 1, 50 + i, 100 + i))
            self.assertEqual(r["status"], bptest.ACCEPTED, (i, r))
        t1 = time.monotonic()
        self.etcd.resume()
        new, new_token, _ = self.wait_leader(range(1, N + 1), FAILOVER_BOUND_S + 10,
                                             newer_than=token)
        print(f"etcd back: node {new} leads {time.monotonic() - t1:.2f} s after the restart, "
              f"token {token} -> {new_token}", file=sys.stderr)


if __name__ == "__main__":
    if not etcd.available():
        print("SKIP: etcd not installed (apt-get install etcd-server)")
        sys.exit(77)
    unittest.main(verbosity=2)
