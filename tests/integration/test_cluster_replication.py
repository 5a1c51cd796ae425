#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Replication between three nodes (issue 12, CLUSTER.md promises 1-4, 7).

Clients bid and watch on random nodes (hot auctions 1-3, cold 4-40); an
oracle keeps what the replies imply: the ACCEPTED bids (amount, HLC, node)
and the WATCH/UNWATCH replies. Then every node must answer QUERY for every
auction identically and as the oracle says: leading bid = the maximum of the
accepted ones (higher amount, earlier HLC, lower node), bid_count = their
number, each idempotency key (bidder, request_id) once (a retry accepted on
two nodes is one bid), viewers = watches - unwatches (floored at 0). The same under loss,
duplication, delay and reordering; across a partition healed; across a node
killed and restarted (full sync); a retry accepted on both sides of a
partition counts once after the heal. Forged, replayed, truncated and
unknown-sender peer messages change nothing. A node whose clock is 10 s
ahead is quarantined and never moves the others' clocks.

Faults are between the nodes only (client traffic is never touched), so
the clients' replies are the truth. Every wait is bounded; a convergence
time is printed for each case (the closing note's numbers)."""

import json
import os
import random
import socket
import struct
import sys
import threading
import time
import unittest

import bptest
import cluster
from cluster import Cluster, node_ip, node_mac
from stats_tools import bidstat_json, by_key, wait_for_refresh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))
import make_peer_corpus as peer  # noqa: E402  (the document's own encoder)

N = 3
AUCTIONS = 40
HOT = (1, 2, 3)
ACCEPTED, CLOSED, NOT_SERVING = 0, 2, 7
NOT_SERVING_WAIT_S = 15  # a client's retries of one NOT_SERVING request
CONVERGE_S = 40
CLIENTS = 4  # concurrent clients of a workload



class Oracle:
    """What the clients' replies imply, per auction."""

    def __init__(self):
        self.accepted = {}  # auction -> [(amount, hlc, node, (bidder, request_id))]
        self.viewers = {}   # auction -> watches - unwatches

    def accept(self, a, amount, hlc, node, key):
        self.accepted.setdefault(a, []).append((amount, hlc, node, key))

    def expect(self, a):
        bids = self.accepted.get(a, [])
        lead = max(bids, key=lambda b: (b[0], -b[1], -b[2])) if bids else (0, 0, 0)
        # Copies of one key (a retry accepted on another node) are one bid.
        return dict(leading_amount=lead[0], leading_hlc=lead[1],
                    bid_count=len({b[3] for b in bids}),
                    viewers=max(0, self.viewers.get(a, 0)))


class Workload:
    """Seeded bids and watches on random nodes from concurrent clients (the
    interleaving varies; every reply goes to the oracle)."""

    def __init__(self, c, seed):
        self.c = c
        self.rng = random.Random(seed)
        self.client = c.client(1)
        self.rid = seed * 10_000_000
        self.oracle = Oracle()
        self.amount = {a: 0 for a in range(1, AUCTIONS + 1)}
        self.lock = threading.Lock()
        self.errors = []
        self.not_serving = 0  # NOT_SERVING answers retried (printed by converge)

    def run(self, count, nodes, clients=CLIENTS):
        """count requests, spread over `clients` concurrent clients (one
        socket and thread each), each on random nodes."""
        base = self.rid
        self.rid += count + 1
        rngs = [random.Random(self.rng.random()) for _ in range(clients)]
        socks = [self.c.client(1) for _ in range(clients)]
        threads = [threading.Thread(target=self._client, args=(socks[t], rngs[t], nodes,
                                                               range(base + 1 + t, base + 1 +
                                                                     count, clients)))
                   for t in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        for sock in socks:
            sock.close()
        if self.errors:
            raise self.errors[0]

    def _client(self, client, rng, nodes, rids):
        try:
            for rid in rids:
                self._request(client, rng, rng.choice(nodes), rid)
        except Exception as e:  # re-raised by run, on the test's thread
            self.errors.append(e)

    def _request(self, client, rng, n, rid):
        a = rng.choice(HOT) if rng.random() < 0.7 else rng.randint(4, AUCTIONS)
        client.to(n)
        if rng.random() < 0.8:
            # Mostly rising amounts, some too low: both outcomes occur.
            with self.lock:
                self.amount[a] += rng.randint(-3, 10)
                amount = max(1, self.amount[a])
            bidder = rng.randint(1, 99)
            r = self._final(client, bptest.bid(rid, a, bidder, amount))
            if r["status"] == ACCEPTED:
                with self.lock:
                    self.oracle.accept(a, amount, r["hlc"], n, (bidder, rid))
        else:
            unwatch = rng.random() < 0.3
            r = self._final(client, bptest.watch(rid, a, rng.randint(1, 99), unwatch))
            if r["status"] == ACCEPTED:
                with self.lock:
                    self.oracle.viewers[a] = self.oracle.viewers.get(a, 0) + (-1 if unwatch
                                                                               else 1)

    def _final(self, client, payload):
        """The final answer (cluster.ClusterClient.ask_final), counting the
        NOT_SERVING answers retried."""
        r, retried = client.ask_final(payload, NOT_SERVING_WAIT_S)
        if retried:
            with self.lock:
                self.not_serving += retried
        return r

    def views(self, nodes):
        """QUERY of every auction on every node: {auction: [view per node]}."""
        out = {}
        for a in range(1, AUCTIONS + 1):
            out[a] = []
            for n in nodes:
                self.client.to(n)
                self.rid += 1
                r = self.client.ask(bptest.query(self.rid, a))
                out[a].append({k: r[k] for k in ("status", "state", "leading_amount",
                                                  "leading_hlc", "bid_count", "viewers",
                                                  "close_at_ms")})
        return out

    def problems(self, nodes, keys=None):
        bad = []
        for a, views in self.views(nodes).items():
            want = self.oracle.expect(a)
            want = {k: want[k] for k in keys or want}
            if any(v != views[0] for v in views):
                bad.append(f"auction {a}: nodes differ: {views}")
                continue
            got = {k: views[0][k] for k in want}
            if got != want:
                bad.append(f"auction {a}: {got} but the replies imply {want}")
        return bad

    def converge(self, nodes, what, keys=None):
        """Waits (bounded) until every node agrees with the others and with
        the oracle (on `keys` of it, default all); returns the seconds it
        took."""
        start = time.monotonic()
        bad = []
        while time.monotonic() - start < CONVERGE_S:
            bad = self.problems(nodes, keys)
            if not bad:
                took = time.monotonic() - start
                print(f"{what}: converged in {took:.2f} s "
                      f"({sum(len(v) for v in self.oracle.accepted.values())} accepted bids"
                      + (f", {self.not_serving} NOT_SERVING retried" if self.not_serving else "")
                      + ")")
                return took
            time.sleep(0.2)
        # What the nodes say about themselves, to explain a failure (the
        # WAL's lost replies and held replays, NOT_SERVING reasons).
        for n in nodes:
            out = self.c.node(n).bidctl("--json", "status")
            print(f"node {n} status: {out.stdout.strip()}", file=sys.stderr)
        raise AssertionError(f"{what}: no convergence in {CONVERGE_S} s:\n" + "\n".join(bad[:10]))


def status(node):
    out = node.bidctl("--json", "status")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_serving(c, nodes, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(status(c.node(i))["serving"] for i in nodes):
            return
        time.sleep(0.1)
    raise AssertionError("not serving: " + str([status(c.node(i)) for i in nodes]))


def wait_caught_up(c, nodes, timeout=CONVERGE_S):
    """Until every node hears every peer and has nothing unacknowledged
    (lag_ms 0): all it shipped, bids and keys, has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        peers = [p for i in nodes for p in status(c.node(i))["peers"]]
        if all(p["reachable"] and p["lag_ms"] == 0 for p in peers):
            return
        time.sleep(0.1)
    raise AssertionError("not caught up: " + str([status(c.node(i))["peers"] for i in nodes]))


class ClusterCase(unittest.TestCase):
    extra = {}  # node -> extra options

    def setUp(self):
        self.c = Cluster(self.id().split(".")[-1][:20])
        self.key = os.urandom(32)
        self.key_file = os.path.join(self.c.root, "cluster.key")
        cluster.write_key(self.key_file, self.key)
        self.c.start(N, args=["--open-range", f"1-{AUCTIONS}", "--duration", "600"],
                     node_args=self.node_args)
        wait_serving(self.c, self.nodes_serving())

    def nodes_serving(self):
        return range(1, N + 1)

    def node_args(self, i):
        return cluster.mesh_args(self.key_file, i, N) + self.extra.get(i, [])

    def tearDown(self):
        self.c.stop()
        self.assertEqual(self.c.leftovers(), [])


class Convergence(ClusterCase):
    def test_1_no_faults(self):
        w = Workload(self.c, 1)
        w.run(600, [1, 2, 3])
        w.converge([1, 2, 3], "no faults")
        for i in range(1, N + 1):
            peers = status(self.c.node(i))["peers"]
            self.assertEqual(sorted(p["node_id"] for p in peers), [j for j in range(1, N + 1)
                                                                   if j != i])
            self.assertTrue(all(p["reachable"] for p in peers), peers)
            self.assertTrue(all(p["clock_offset_ms"] is not None for p in peers), peers)

    def test_2_loss_duplication_delay_reordering(self):
        # 20% loss and 20% duplication on every link; one link also delayed
        # and reordered (its forwarder drops and copies too).
        self.c.loss(0.2)
        self.c.duplicate(0.2)
        self.c.delay(3, jitter_ms=6, reorder=True, seed=2, between=[(2, 3)], loss=0.2, dup=0.2)
        w = Workload(self.c, 2)
        w.run(600, [1, 2, 3])
        start = time.monotonic()
        w.converge([1, 2, 3], "20% loss + 20% duplication (+ delay/reorder on 2-3), faults on")
        print(f"  (with the faults still on, {time.monotonic() - start:.2f} s)")
        print(self.c.heal())

    def test_3_partition_then_heal(self):
        w = Workload(self.c, 3)
        w.run(100, [1, 2, 3])
        self.c.partition([[1, 2], [3]])
        w.run(300, [1, 2])
        w.run(200, [3])
        # The cut is real: node 3 has not seen the other side's bids.
        time.sleep(0.5)
        views = w.views([1, 3])
        self.assertTrue(any(v[0] != v[1] for v in views.values()), "the partition cut nothing")
        self.c.heal()
        w.converge([1, 2, 3], "partition {1,2}|{3} healed")

    def test_4_restart_gets_the_full_state(self):
        w = Workload(self.c, 4)
        w.run(200, [1, 2, 3])
        w.converge([1, 2, 3], "before the restart")
        self.c.kill(3)
        w.run(200, [1, 2])
        self.c.restart(3)
        wait_serving(self.c, [3])
        # Its own slots of before come back from the peers: bid_count
        # counts its old bids once, and new ones on top.
        w.run(200, [1, 2, 3])
        w.converge([1, 2, 3], "node 3 killed, bids on 1-2, restarted (full sync)")

    def test_6_what_a_restarted_node_sent_before_it_heard_its_peers_arrives(self):
        # Node 3 restarts cut off from both peers and takes bids: its
        # deltas wait, kept, until the cut heals. Hearing the peers then
        # (a first incarnation of theirs seen in this life) must not drop
        # them unsent: the peers did not restart and pull nothing.
        self.c.kill(3)
        self.c.partition([[1, 2], [3]])
        self.c.restart(3)
        wait_serving(self.c, [3])
        w = Workload(self.c, 7)
        w.run(150, [3])
        time.sleep(0.5)
        self.c.heal()
        w.converge([1, 2, 3], "node 3 restarted cut off, took bids, then healed")

    def test_8_a_second_restart_cut_off_pushes_a_new_sync(self):
        # As test_5, twice: the full state node 3 pushes after its second
        # restart must not reuse the sync_id of the one it pushed in its
        # previous life (the peers would take it for a late copy of that
        # completed sync, ignore it, and its bids would never arrive).
        # The nodes must agree on everything; the counts are checked against
        # the oracle only after the first restart: after the second, a slot
        # of this node that a peer holds is taken for an echo when this
        # life has counted as many already (one slot per node id: the
        # counts of two lives cannot be told apart), so some may be lost.
        w = Workload(self.c, 8)
        for life in (2, 3):
            self.c.kill(3)
            self.c.partition([[1, 2], [3]])
            self.c.restart(3)
            wait_serving(self.c, [3])
            w.run(100, [3])
            time.sleep(0.5)
            self.c.heal()
            w.converge([1, 2, 3], f"node 3 restarted cut off (life {life}), took bids, healed",
                       keys=None if life == 2 else ("leading_amount", "leading_hlc"))

    def test_7_restart_cut_off_learns_its_old_counts_late(self):
        # Node 3 restarts while cut off from both peers: its start ends
        # without their state (no peer heard). Its own counts of before,
        # which only the peers hold, must still come back once the cut
        # heals, not be taken for echoes: else node 3 shows its new count
        # only and its peers the old one, for ever.
        w = Workload(self.c, 5)
        w.run(200, [1, 2, 3])
        w.converge([1, 2, 3], "before the restart")
        self.c.kill(3)
        self.c.partition([[1, 2], [3]])
        self.c.restart(3)
        wait_serving(self.c, [3])
        self.c.heal()
        w.converge([1, 2, 3], "node 3 restarted cut off, then healed")
        w.run(200, [1, 2, 3])
        w.converge([1, 2, 3], "and bids on every node after")


class FlowControl(ClusterCase):
    # A small window, so that a partition fills it within a few bids.
    extra = {i: ["--peer-window", "16"] for i in range(1, N + 1)}

    def flow(self, i):
        """Node i's flow-control numbers, summed over its peers."""
        wait_for_refresh(self, self.c.node(i).stats_name)
        names = ("peer_window_full_total", "peer_pending_auctions", "peer_keys_behind",
                 "peer_pending_shipped_total", "peer_pending_overflows_total",
                 "peer_outstanding_overflows_total", "peer_syncs_pushed_total",
                 "peer_keys_overrun_total")
        metrics = by_key(bidstat_json(self, self.c.node(i).stats_name)).items()
        return {n: sum(m["total"] for k, m in metrics if k == n or k.startswith(n + "/"))
                for n in names}

    def test_retry_on_another_node_counts_once(self):
        # Issue 12: a client that times out on node 1 retries the same BID
        # (bidder, request_id) on node 2, which has not heard of it (the
        # partition keeps node 1's bid from replicating): both accept it.
        # After the heal the bid is counted once everywhere, and the
        # earlier copy leads.
        w = Workload(self.c, 7)
        w.run(60, [1, 2, 3])
        w.converge([1, 2, 3], "before the retries")
        before = {i: self.flow(i) for i in (1, 2)}  # the start may push syncs
        self.c.partition([[1], [2, 3]])
        retries = [(1, 1001), (5, 1002), (6, 1003), (1, 1004)]
        for i, (a, bidder) in enumerate(retries):
            amount = 10**6 * (i + 1)
            w.rid += 1
            key = (bidder, w.rid)
            for n in (1, 2):
                w.client.to(n)
                r = w.client.ask(bptest.bid(w.rid, a, bidder, amount))
                self.assertEqual(r["status"], ACCEPTED, (n, a, r))
                w.oracle.accept(a, amount, r["hlc"], n, key)
        # Before the heal each side counts its own copy once: node 2's
        # copies reached node 3 (same side), and a retry there is TOO_LOW.
        a, bidder = retries[2]
        rid = w.oracle.accepted[a][-1][3][1]
        w.client.to(3)
        # Node 2's copy reaches node 3 (bounded; not a fixed sleep: on a
        # loaded machine half a second was not always enough).
        deadline = time.monotonic() + 20
        while True:
            w.rid += 1
            q = w.client.ask(bptest.query(w.rid, a))
            if q["leading_amount"] >= 10**6 * 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(q["leading_amount"], 10**6 * 3, ("node 2's copy on node 3", q))
        r = w.client.ask(bptest.bid(rid, a, bidder, 10**6 * 3))
        self.assertEqual(r["status"], bptest.TOO_LOW, ("a retry where a copy is known", r))
        # More bids on both sides, more messages than a window holds
        # (--peer-window 16): what changed waits pending, coalesced, and the
        # KEYS of the retries wait in the key log; all of it ships once the
        # heal's ACKs open the windows, with no full sync.
        w.run(300, [1], clients=1)  # serial: spread over many batches
        w.run(300, [2, 3], clients=1)
        waiting = {i: self.flow(i) for i in (1, 2)}
        for i, f in waiting.items():
            self.assertGreaterEqual(f["peer_window_full_total"], 1, (i, f))
            self.assertGreaterEqual(f["peer_pending_auctions"], 1, (i, f))
            self.assertGreaterEqual(f["peer_keys_behind"], 1, (i, f))
        self.c.heal()
        # Each side alone agrees with the oracle (one copy each): wait
        # until the copies met, then until what they revealed shipped.
        start = time.monotonic()
        wait_caught_up(self.c, range(1, N + 1))
        time.sleep(0.3)
        wait_caught_up(self.c, range(1, N + 1))
        print(f"caught up {time.monotonic() - start:.2f} s after the heal")
        w.converge([1, 2, 3], "the same BID key accepted on both sides of {1}|{2,3}, healed")
        # Counted once for good: nothing comes back later.
        time.sleep(1.0)
        self.assertEqual(w.problems([1, 2, 3]), [])
        # Exactly one node counted each duplicate, the owner of the later
        # copy (bidstat's bid_duplicates_total): node 2, as it accepted
        # after node 1 answered, on the same wall clock; never node 3.
        dups = {}
        for i in range(1, N + 1):
            wait_for_refresh(self, self.c.node(i).stats_name)
            dups[i] = by_key(bidstat_json(self, self.c.node(i).stats_name))[
                "bid_duplicates_total"]["total"]
        self.assertEqual(dups, {1: 0, 2: len(retries), 3: 0})
        # What waited was shipped later, through the windows: no full sync
        # was pushed, no kept message was forgotten, no key overwritten.
        for i in (1, 2):
            f = self.flow(i)
            self.assertGreater(f["peer_pending_shipped_total"], 0, (i, f))
            self.assertEqual(f["peer_pending_auctions"], 0, (i, f))
            self.assertEqual(f["peer_keys_behind"], 0, (i, f))
            for name in ("peer_pending_overflows_total", "peer_outstanding_overflows_total",
                         "peer_syncs_pushed_total", "peer_keys_overrun_total"):
                self.assertEqual(f[name], before[i][name], (i, name, f, before[i]))
        # Node 2 restarts: its dups slot comes back from its peers with its
        # bid_count slot, so the bids still count once there and everywhere.
        self.c.kill(2)
        self.c.restart(2)
        wait_serving(self.c, [2])
        wait_caught_up(self.c, range(1, N + 1))
        w.converge([1, 2, 3], "node 2 (which counted the duplicates) restarted")


class Hostile(ClusterCase):
    def inject(self, i, payload, src=2, sport=cluster.PEER_PORT):
        """A UDP datagram into node i's port, as if from node src."""
        s = self.c.inject_socket(i)
        frame = bptest.udp_frame(bptest.mac_bytes(node_mac(i)), bptest.mac_bytes(node_mac(src)),
                                 payload, src_ip=node_ip(src), dst_ip=node_ip(i), sport=sport,
                                 dport=cluster.PEER_PORT)
        s.send(frame)
        s.close()

    def test_forged_replayed_truncated_unknown_change_nothing(self):
        # Node 2 restarted once: its incarnation is 2, so 1 is a stale one.
        self.c.kill(2)
        self.c.restart(2)
        wait_serving(self.c, [2])
        w = Workload(self.c, 5)
        w.run(100, [1, 2, 3])
        w.converge([1, 2, 3], "before the hostile messages")
        before = w.views([1, 2, 3])
        hlc = (int(time.time() * 1000) << 16)
        # A leader of amount 10**12 for auction 1: if any of these merged,
        # QUERY would show it.
        body = peer.entries(peer.entry(1, leader=(10**12, hlc, 77, 2)))
        inc = status(self.c.node(2))["fencing_epoch"]
        good = dict(sender=2, receiver=1, incarnation=inc, hlc=hlc)
        forged = peer.message(peer.DELTA, body, seq=10**9, key=os.urandom(32), **good)
        unknown = peer.message(peer.DELTA, body, seq=10**9 + 1, key=self.key,
                               **dict(good, sender=9))
        truncated = peer.message(peer.DELTA, body, seq=10**9 + 2, key=self.key, **good)[:-5]
        self.assertGreater(inc, 1)
        stale = peer.message(peer.DELTA, body, seq=10**9 + 3, key=self.key,
                             **dict(good, incarnation=inc - 1))
        wrong_receiver = peer.message(peer.DELTA, body, seq=10**9 + 4, key=self.key,
                                      **dict(good, receiver=3))
        for msg in (forged, unknown, truncated, stale, wrong_receiver):
            self.inject(1, msg)
        # Authentic, its HLC 400 ms ahead (inside --max-drift-ms), but an
        # entry stamped after it: refused as stamp_ahead, and the clock of
        # node 1 must not have moved to the refused message's HLC.
        ahead_ms = int(time.time() * 1000) + 400
        ahead = peer.message(peer.DELTA,
                             peer.entries(peer.entry(1, leader=(10**12, (ahead_ms << 16) + 1, 77,
                                                                2))),
                             seq=10**9 + 6, key=self.key, **dict(good, hlc=ahead_ms << 16))
        self.inject(1, ahead)
        time.sleep(0.05)
        self.assertLess(status(self.c.node(1))["hlc"] >> 16, ahead_ms - 150,
                        "a refused message moved the clock")
        # From node 2's real address but another port: wrong_address.
        self.inject(1, peer.message(peer.DELTA, body, seq=10**9 + 5, key=self.key, **good),
                    sport=40000)
        # A real message of node 2 to node 1, captured and sent again.
        watch = self.c.watch_socket(1)
        watch.settimeout(5)
        captured = None
        deadline = time.monotonic() + 10
        while captured is None and time.monotonic() < deadline:
            frame = watch.recv(2048)
            # Ethernet, IPv4 (no options), UDP dport 7601, from node 2.
            if (len(frame) > 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17
                    and frame[26:30] == socket.inet_aton(node_ip(2))
                    and struct.unpack(">H", frame[36:38])[0] == cluster.PEER_PORT):
                captured = frame
        watch.close()
        self.assertIsNotNone(captured, "no peer message from node 2 seen")
        s = self.c.inject_socket(1)
        for _ in range(3):
            s.send(captured)
        s.close()
        time.sleep(1)
        self.assertEqual(w.views([1, 2, 3]), before)
        st = status(self.c.node(1))
        self.assertTrue(st["serving"], st)
        # Each refusal counted under its reason (bidstat, the stats segment).
        wait_for_refresh(self, self.c.node(1).stats_name)
        counts = self.drop_counts(1)
        for reason in ("bad_mac", "unknown_node", "bad_length", "stale_incarnation",
                       "wrong_receiver", "wrong_address", "replay", "stamp_ahead"):
            self.assertGreaterEqual(counts.get(reason, 0), 1, (reason, counts))
        w.run(50, [1, 2, 3])
        w.converge([1, 2, 3], "after the hostile messages")

    def drop_counts(self, i):
        """peer_drops_total by reason, summed over the peers (and the
        unattributed ones), from bidstat --json."""
        out = {}
        for key, m in by_key(bidstat_json(self, self.c.node(i).stats_name)).items():
            parts = key.split("/")
            if parts[0] == "peer_drops_total":
                out[parts[2]] = out.get(parts[2], 0) + m["total"]
        return out


class Clock(ClusterCase):
    extra = {3: ["--clock-offset-ms", "10000"]}

    def nodes_serving(self):
        return [1, 2]

    def test_a_clock_10s_ahead_is_quarantined(self):
        deadline = time.monotonic() + 20
        st = None
        while time.monotonic() < deadline:
            st = status(self.c.node(3))
            if st["not_serving_reason"] == "clock":
                break
            time.sleep(0.1)
        self.assertEqual(st["not_serving_reason"], "clock", st)
        offsets = [p["clock_offset_ms"] for p in st["peers"]]
        self.assertTrue(all(o is not None and o < -9000 for o in offsets), st)
        # What node 3 ships carries its clock, 10 s ahead: refused and
        # counted by the others, and auction 99 never reaches them.
        r = self.c.node(3).bidctl("open", "--auction", "99", "--reserve", "1", "--increment", "1",
                                  "--duration", "600")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        w = Workload(self.c, 6)
        w.run(200, [1, 2])
        w.converge([1, 2], "beside a node 10 s ahead")
        for i in (1, 2):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                wait_for_refresh(self, self.c.node(i).stats_name)
                m = by_key(bidstat_json(self, self.c.node(i).stats_name))
                if m["peer_drops_total/3/clock_ahead"]["total"] >= 1:
                    break
            self.assertGreaterEqual(m["peer_drops_total/3/clock_ahead"]["total"], 1)
            w.client.to(i)
            w.rid += 1
            self.assertEqual(w.client.ask(bptest.query(w.rid, 99))["status"],
                             bptest.UNKNOWN_AUCTION)
        # Node 3 takes no bid, and the good nodes' clocks did not move 10 s.
        w.client.to(3)
        r = w.client.ask(bptest.bid(1, 1, 1, 10**9))
        self.assertEqual(r["status"], bptest.NOT_SERVING)
        now_ms = int(time.time() * 1000)
        for i in (1, 2):
            s = status(self.c.node(i))
            self.assertTrue(s["serving"], s)
            self.assertLess(s["hlc"] >> 16, now_ms + 2000, s)
        for a in range(1, AUCTIONS + 1):
            for b in w.oracle.accepted.get(a, []):
                self.assertLess(b[1] >> 16, now_ms + 2000)


if __name__ == "__main__":
    cluster.require_root()
    unittest.main(verbosity=2)
