#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Self-test of the cluster harness (cluster.py, netfault.py).

The nodes do not talk to each other yet, so node-to-node traffic is made
by the test: a QUERY written straight into node A's tap (AF_PACKET on its
kernel side, so the bridge never sees it) with node B's MAC and IP as the
source. Node A answers B: that reply leaves A's port, crosses the bridge
and goes out of B's port, where an AF_PACKET socket on B's port watches
it. So every fault is checked on real frames between two node ports, and
client traffic (from the bridge's own address) is checked beside it.

Pass/fail depends on counts and on generous time bounds only; every loop
is bounded."""

import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
import unittest

import bptest
import cluster
from bptest import query, udp_frame
from cluster import PEER_PORT, Cluster, node_ip, node_mac, port_name

N = 3
SO_TIMESTAMP = 29  # SO_TIMESTAMP_OLD: struct timeval, 64-bit


class Link:
    """Frames from node `src` to node `dst`, made and watched as the module
    docstring says."""

    def __init__(self, c, src, dst):
        self.src, self.dst = src, dst
        self.inject = c.inject_socket(src)
        self.watch = c.watch_socket(dst)
        self.watch.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)

    def send(self, request_id):
        """Makes node src send one reply (request_id) toward node dst."""
        frame = udp_frame(bptest.mac_bytes(node_mac(self.src)), bptest.mac_bytes(node_mac(self.dst)),
                          query(request_id, 1), src_ip=node_ip(self.dst), dst_ip=node_ip(self.src),
                          sport=PEER_PORT)
        for _ in range(100):  # the tap's queue may be full for a moment
            try:
                self.inject.send(frame)
                return
            except BlockingIOError:
                time.sleep(0.001)
            except OSError as e:
                if e.errno != 105:  # ENOBUFS
                    raise
                time.sleep(0.001)
        raise AssertionError("could not inject a frame")

    def collect(self, quiet=0.5, limit=20.0):
        """[(arrival time (epoch s, the kernel's), request_id)] of replies src -> dst leaving dst's
        port, until none came for `quiet` seconds (at most `limit`)."""
        out = []
        src, dst = socket.inet_aton(node_ip(self.src)), socket.inet_aton(node_ip(self.dst))
        end = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            r, _, _ = select.select([self.watch], [], [], 0.05)
            if not r:
                continue
            frame, anc, _, addr = self.watch.recvmsg(4096, socket.CMSG_SPACE(16))
            stamp = time.time()  # the kernel's receive time, when it gives it
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                    sec, usec = struct.unpack("=qq", data[:16])
                    stamp = sec + usec / 1e6
            if addr[2] != socket.PACKET_OUTGOING or len(frame) < 50:
                continue
            if frame[12:14] != b"\x08\x00" or frame[23] != 17:
                continue
            if frame[26:30] != src or frame[30:34] != dst:
                continue
            sport, dport = struct.unpack(">HH", frame[34:38])
            if sport != bptest.PORT or dport != PEER_PORT:
                continue
            out.append((stamp, struct.unpack(">Q", frame[50:58])[0]))
            last = time.monotonic()
        return out

    def burst(self, first, count, pace_every=50, pause=0.005):
        """Sends count requests (ids first..), pausing now and then so the
        tap and the node keep up; returns {id: send time}."""
        sent = {}
        for k in range(count):
            sent[first + k] = time.time()  # as the watch socket's stamps
            self.send(first + k)
            if k % pace_every == pace_every - 1:
                time.sleep(pause)
        return sent

    def close(self):
        self.inject.close()
        self.watch.close()


class ClusterHarness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster("harness")
        cls.c.start(N, args=["--open-range", "1-1"])
        cls.client = cls.c.client(1)
        cls.next_id = 1000

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def ids(self, count):
        first = ClusterHarness.next_id
        ClusterHarness.next_id += count
        return first

    def link(self, src, dst):
        link = Link(self.c, src, dst)
        self.addCleanup(link.close)
        return link

    def delivered(self, src, dst, count=20):
        """How many of `count` replies from src reached dst's port."""
        link = self.link(src, dst)
        link.burst(self.ids(count), count)
        got = link.collect()
        return len({rid for _, rid in got})

    def assert_clients_reach_all(self):
        for i in range(1, N + 1):
            r = self.client.to(i).ask(query(self.ids(1), 1))
            self.assertEqual(r["status"], bptest.ACCEPTED, (i, r))  # 0: the auction's state

    # The tests run in name order; each leaves the faults healed.

    def test_1_every_node_answers_query_and_arp(self):
        for i in range(1, N + 1):
            r = self.client.to(i).ask(query(self.ids(1), 1))
            self.assertEqual(r["type"], bptest.AUCTION_STATE, r)
            r = self.client.to(i).ask(query(self.ids(1), 99))
            self.assertEqual(r["status"], bptest.UNKNOWN_AUCTION, r)
        neigh = self.c.exec("ip", "neigh", "show", "dev", cluster.BRIDGE).stdout
        for i in range(1, N + 1):  # the client's kernel resolved each node by ARP
            self.assertRegex(neigh, rf"{node_ip(i)} lladdr {node_mac(i)}", neigh)
        for i in range(1, N + 1):
            self.assertEqual(self.delivered(i, i % N + 1), 20, f"link {i}->{i % N + 1} whole")

    def test_2_partition_cuts_nodes_not_clients(self):
        self.c.partition([[1, 2], [3]])
        try:
            print(self.c.ruleset())
            self.assertEqual(self.delivered(1, 3), 0, "1->3 crossed the partition")
            self.assertEqual(self.delivered(3, 2), 0, "3->2 crossed the partition")
            self.assertEqual(self.delivered(1, 2), 20, "1->2 is inside one group")
            self.assertEqual(self.delivered(2, 1), 20, "2->1 is inside one group")
            self.assert_clients_reach_all()
        finally:
            self.c.heal()
        self.assertEqual(self.delivered(1, 3), 20, "heal restores 1->3")
        self.assertEqual(self.delivered(3, 2), 20, "heal restores 3->2")

    def test_3_loss_drops_about_half(self):
        count = 2000
        self.c.loss(0.5, between=[(1, 3)])
        try:
            link = self.link(1, 3)
            link.burst(self.ids(count), count)
            got = len({rid for _, rid in link.collect()})
            self.assert_clients_reach_all()
            untouched = self.delivered(1, 2, 100)  # another link keeps all
        finally:
            self.c.heal()
        print(f"loss 50%: {got} of {count} delivered; link 1->2: {untouched} of 100")
        self.assertGreater(got, 0.3 * count)
        self.assertLess(got, 0.7 * count)
        self.assertEqual(untouched, 100)

    def test_4_duplicate_doubles(self):
        count = 500
        self.c.duplicate(1.0, between=[(1, 3)])
        try:
            link = self.link(1, 3)
            link.burst(self.ids(count), count)
            got = link.collect()
            self.assert_clients_reach_all()
        finally:
            self.c.heal()
        distinct = {rid for _, rid in got}
        print(f"duplicate 100%: {len(got)} frames for {len(distinct)} replies of {count}")
        self.assertGreaterEqual(len(distinct), 0.95 * count)
        self.assertEqual(len(got), 2 * len(distinct))
        self.assertEqual(self.delivered(1, 3, 100), 100)  # healed: once each
        link = self.link(1, 3)
        link.burst(self.ids(50), 50)
        self.assertEqual(len(link.collect()), 50)

    def test_5_delay_holds_each_frame(self):
        ms = 150
        self.c.delay(ms, between=[(1, 3)])
        try:
            link = self.link(1, 3)
            sent = link.burst(self.ids(30), 30, pace_every=1, pause=0.01)
            got = link.collect(quiet=1.0)
            self.assert_clients_reach_all()
            untouched = self.delivered(1, 2, 20)
        finally:
            report = self.c.heal()
        print(report.strip())
        waits = [t - sent[rid] for t, rid in got]
        self.assertEqual(len(got), 30, report)
        print(f"delay {ms} ms: waits {min(waits) * 1000:.0f}..{max(waits) * 1000:.0f} ms")
        self.assertGreaterEqual(min(waits), ms / 1000)
        self.assertLess(max(waits), 5.0)
        self.assertEqual(untouched, 20)
        self.assertEqual(self.delivered(1, 3), 20, "healed")

    def _order(self, reorder):
        self.c.delay(5, jitter_ms=60, reorder=reorder, seed=7, between=[(1, 3)])
        try:
            link = self.link(1, 3)
            first = self.ids(100)
            link.burst(first, 100, pace_every=1, pause=0.002)
            got = [rid for _, rid in link.collect(quiet=1.0)]
        finally:
            self.c.heal()
        self.assertEqual(sorted(got), list(range(first, first + 100)))
        return got

    def test_6_reorder_only_when_asked(self):
        got = self._order(reorder=True)
        inversions = sum(1 for a, b in zip(got, got[1:]) if b < a)
        print(f"reorder: {inversions} adjacent inversions in 100")
        self.assertGreater(inversions, 0)
        got = self._order(reorder=False)
        self.assertEqual(got, sorted(got), "jitter without reorder kept order")

    def test_7_kill_and_restart_keep_state(self):
        def epoch():
            r = self.c.node(3).bidctl("--json", "status")
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)["fencing_epoch"]

        before = epoch()
        state = self.c.node(3).state
        self.c.kill(3)
        self.assertFalse(self.c.node(3).alive())
        self.assertTrue(os.path.isdir(state))
        self.c.restart(3)
        self.assertEqual(self.c.node(3).state, state)
        self.assertEqual(epoch(), before + 1)
        self.assert_clients_reach_all()
        self.assertEqual(self.delivered(1, 3), 20, "the new port is on the bridge")
        self.assertEqual(self.delivered(3, 1), 20)

    def test_8_faults_follow_a_restarted_node(self):
        self.c.partition([[1, 2], [3]])
        try:
            self.c.kill(3)
            self.c.restart(3)
            self.assertEqual(self.delivered(1, 3), 0)
            self.assert_clients_reach_all()
        finally:
            self.c.heal()

    def test_9_stop_leaves_nothing(self):
        c = self.c
        pids = [n.proc.pid for n in c.nodes.values()]
        c.delay(10, between=[(1, 2)])  # a forwarder running at stop
        pids += [p.pid for p in c.forwarders.values()]
        prefixes = [n.prefix for n in c.nodes.values()]
        c.stop()
        self.assertEqual(c.leftovers(), [])
        netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        self.assertNotIn(c.ns, netns)
        for pid in pids:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"pid {pid} still there")
        for p in prefixes:
            self.assertFalse(p and os.path.exists(f"/var/run/dpdk/{p}"), p)
        shm = [f for f in os.listdir("/dev/shm") if f.startswith(f"bpc-{os.getpid()}-")]
        self.assertEqual(shm, [])

    def test_a_orphans_of_a_killed_test_are_reaped(self):
        # A test process killed by SIGKILL runs no cleanup: its nodes die
        # with it (parent-death signal), the next Cluster() reaps the rest.
        code = ("import cluster, sys, time\n"
                "c = cluster.Cluster('orphan').start(1)\n"
                "print(c.ns, c.root, c.node(1).proc.pid, c.node(1).stats_name, flush=True)\n"
                "time.sleep(60)\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            ns, root, pid, stats = child.stdout.readline().split()
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}/cmdline") and time.monotonic() < deadline:
            with open(f"/proc/{pid}/stat") as f:  # a zombie, until init reaps it
                if f.read().split(") ")[1].startswith("Z"):
                    break
            time.sleep(0.05)
        self.assertTrue(os.path.exists(f"/run/netns/{ns}"), "nothing to reap: test broken")
        gone = cluster.reap_orphans()
        print("reaped:", gone)
        self.assertIn(ns, gone)
        self.assertFalse(os.path.exists(f"/run/netns/{ns}"))
        self.assertFalse(os.path.exists(root))
        self.assertFalse(os.path.exists(f"/dev/shm/{stats}.bpstats"))
        self.assertFalse(os.path.exists(f"/dev/shm/{stats}.bpstats.lock"))
        self.assertFalse(os.path.exists(f"/var/run/dpdk/bidplane-{pid}"))


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
