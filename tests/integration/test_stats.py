#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The stats segment from outside: bidstat with no node, across a node
restart, after the node exits, without permission and with the group's;
and a reader hammering the segment while the node opens and settles many
auctions never sees an inconsistent directory. Nodes run on memif server
ports nobody connects to (idle), so no namespace is needed."""

import grp
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import bptest
from bptest import BIDCTL, BIDPLANE, Node
from stats_tools import bidstat, bidstat_json, by_key, promtool_check, wait_for_refresh

HAMMER = os.environ.get("BP_STATS_HAMMER", "build/tests/integration/stats_hammer")
NOBODY = ["--reuid=65534", "--regid=65534"]
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def drop_reasons(header, macro):
    """The reasons of an X-macro list (PEER_FOREACH_DROP, REPL_FOREACH_DROP)
    as the source has them: a reason added there is checked here too."""
    with open(os.path.join(SOURCE, header)) as f:
        text = f.read()
    body = text[text.index(f"#define {macro}(X)"):]
    body = body[:body.index("\n\n")]
    return re.findall(r"X\(\w+, (\w+)\)", body)


PEER_REASONS = [r for r in drop_reasons("control/replication/peer_proto.h", "PEER_FOREACH_DROP")
                if r != "none"]
REPL_REASONS = drop_reasons("control/node/replicate.h", "REPL_FOREACH_DROP")
PEER_FAMILIES = ["peer_messages_total/{p}/in", "peer_messages_total/{p}/out",
                 "peer_bytes_total/{p}/in", "peer_bytes_total/{p}/out",
                 "peer_entries_total/{p}/in", "peer_entries_total/{p}/out",
                 "peer_deltas_pending/{p}", "peer_lag_ms/{p}", "peer_retransmissions_total/{p}",
                 "peer_full_syncs_total/{p}", "peer_sync_pages_served_total/{p}",
                 "peer_tx_dropped_total/{p}", "peer_reachable/{p}", "peer_rtt_us/{p}",
                 "peer_clock_offset_known/{p}", "peer_clock_offset_ms/{p}/ahead",
                 "peer_clock_offset_ms/{p}/behind"]


class Stats(unittest.TestCase):
    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="bp-stats-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        self.name = f"bpt-stats-{os.getpid()}"

    def node(self, *args, group=None):
        sock = os.path.join(self.run_dir, "memif.sock")
        extra = ["--stats-group", group] if group else []
        n = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                 stats_name=self.name, state_dir=os.path.join(self.run_dir, "state"),
                 args=list(args) + extra)
        self.addCleanup(n.remove_stats)
        self.addCleanup(n.stop)
        return n.start()

    def test_no_node_is_a_clear_error(self):
        r = bidstat("--once", self.name)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("no node publishes stats as", r.stderr)
        self.assertIn(f"--stats-name {self.name}", r.stderr)
        r = bidstat("--once", "bad/name")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = bidstat("--interval", "0", self.name)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--interval", r.stderr)

    def test_bidstat_follows_a_restart_and_reports_the_exit(self):
        first = self.node("--open-range", "1-3")
        live = subprocess.Popen([os.environ.get("BP_BIDSTAT", "build/bidstat"),
                                 "--json", "--interval", "0.1", "--count", "600", self.name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        updates = []
        reader = threading.Thread(target=lambda: updates.extend(
            json.loads(line) for line in live.stdout), daemon=True)
        reader.start()
        try:
            self.wait_until(lambda: len(updates) >= 2, "bidstat's first updates")
            pid1 = updates[0]["pid"]
            self.assertEqual(updates[0]["state"], "running")
            self.assertEqual(first.stop(keep_stats=True), 0, first.text())
            self.wait_until(lambda: updates[-1]["state"] == "exited", "the exit to show")
            second = self.node("--open-range", "1-3")
            self.wait_until(lambda: updates[-1]["pid"] != pid1, "the new node to show")
            self.assertEqual(updates[-1]["state"], "running")
            self.assertIn("node restarted", " ".join(u.get("notice", "") for u in updates))
            live.send_signal(2)  # SIGINT: bidstat stops and says how the node is
            self.assertEqual(live.wait(timeout=10), 0, live.stderr.read())
            self.assertEqual(second.stop(keep_stats=True), 0, second.text())
        finally:
            if live.poll() is None:
                live.kill()
            reader.join(timeout=5)
        # The last node exited: bidstat shows its final values, says so, exits 3.
        r = bidstat("--once", self.name)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("exited", r.stderr)
        self.assertIn("the node has exited", r.stdout)
        # Its last serving gauge said 1; the header says it serves nothing now.
        header = r.stdout.splitlines()[0]
        self.assertIn(": exited,", header)
        self.assertIn(", not running,", header)
        self.assertNotRegex(header, r"\bserving\b")

    def test_reading_needs_the_stats_group(self):
        group = f"bpt{os.getpid()}"
        subprocess.run(["groupadd", group], check=True)
        self.addCleanup(subprocess.run, ["groupdel", group])
        gid = grp.getgrnam(group).gr_gid
        n = self.node(group=group)
        st = os.stat(n.stats_path())
        self.assertEqual(st.st_mode & 0o777, 0o640)  # the group reads, never writes
        self.assertEqual(st.st_gid, gid)
        r = bidstat("--once", self.name, user=NOBODY + ["--clear-groups"])
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("permission denied", r.stderr)
        self.assertIn("usermod -aG", r.stderr)
        r = bidstat("--once", "--json", self.name, user=NOBODY + [f"--groups={gid}"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["state"], "running")
        # The same group may use bidctl: the control socket is theirs too.
        self.assertEqual(os.stat(n.ctl).st_gid, gid)
        os.chmod(n.dir, 0o755)  # the test's own directory, for nobody to reach the socket
        ctl = ["setpriv"] + NOBODY
        r = subprocess.run(ctl + [f"--groups={gid}", "--", BIDCTL, "--socket", n.ctl, "status"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(ctl + ["--clear-groups", "--", BIDCTL, "--socket", n.ctl, "status"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_directory_stays_whole_while_auctions_open_and_settle(self):
        n = self.node("--stats-auctions", "8")
        stop = os.path.join(self.run_dir, "stop")
        hammer = subprocess.Popen([HAMMER, self.name, "120", stop], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        rounds = 120
        try:
            for i in range(1, rounds + 1):
                r = n.bidctl(BIDCTL, "open", "--auction", str(i), "--reserve", "1",
                             "--increment", "1", "--duration", "600")
                self.assertEqual(r.returncode, 0, r.stderr)
                if i % 3 == 0:  # leave some open, so slots fill and free
                    continue
                r = n.bidctl(BIDCTL, "close", str(i))
                self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            open(stop, "w").close()
            out, err = hammer.communicate(timeout=150)
        print(out)
        self.assertEqual(hammer.returncode, 0, out + err)
        h = json.loads(out)
        self.assertEqual(h["broken"], 0)
        self.assertGreater(h["snapshots"], 0)
        self.assertGreaterEqual(h["directory_versions"], 2)
        self.assertGreater(h["auction_sightings"], 0)
        wait_for_refresh(self, self.name)
        m = by_key(bidstat_json(self, self.name))
        self.assertEqual(m["auction_events_total/opened"]["total"], rounds)
        self.assertEqual(m["auction_events_total/settled"]["total"], rounds - rounds // 3)
        tracked = m["stats_auctions/tracked"]["total"]
        self.assertEqual(tracked, 8)  # the slots freed by settlements were reused
        self.assertEqual(tracked, len([k for k in m if k.startswith("auction_phase/")]))
        # Every unsettled auction is tracked or counted as untracked.
        self.assertEqual(m["stats_auctions/untracked"]["total"], rounds // 3 - tracked)

    def key_file(self):
        path = os.path.join(self.run_dir, "cluster.key")
        with open(path, "w") as f:
            f.write(KEY)
        os.chmod(path, 0o600)
        return path

    def test_a_lone_node_publishes_no_peer_values(self):
        self.node()
        wait_for_refresh(self, self.name)
        m = by_key(bidstat_json(self, self.name))
        self.assertEqual([k for k in m if k.startswith("peer_") or k == "clock_quarantined"], [])
        self.assertEqual(m["not_serving/peer_clock"]["total"], 0)
        r = bidstat("--once", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\npeers", r.stdout)

    def test_a_cluster_node_publishes_each_peer(self):
        # The peers do not exist: nobody answers ARP, so every message the
        # node would send (heartbeats every 200 ms, its sync request) is
        # counted as not sent, and nothing comes in.
        self.node("--node-id", "1", "--peer", "2@198.18.0.12", "--peer", "3@198.18.0.13",
                  "--cluster-key-file", self.key_file())
        wait_for_refresh(self, self.name)
        first = by_key(bidstat_json(self, self.name))
        for p in ("2", "3"):
            for family in PEER_FAMILIES:
                self.assertIn(family.format(p=p), first)
            for reason in PEER_REASONS + REPL_REASONS:
                self.assertEqual(first[f"peer_drops_total/{p}/{reason}"]["total"], 0)
            self.assertEqual(first[f"peer_messages_total/{p}/out"]["labels"],
                             {"peer": p, "direction": "out"})
            self.assertEqual(first[f"peer_reachable/{p}"]["total"], 0)
            self.assertEqual(first[f"peer_clock_offset_known/{p}"]["total"], 0)
            self.assertEqual(first[f"peer_messages_total/{p}/in"]["total"], 0)
            self.assertEqual(first[f"peer_messages_total/{p}/out"]["total"], 0)
        self.assertNotIn("peer_drops_total/2/none", first)
        for reason in PEER_REASONS:
            self.assertEqual(first[f"peer_drops_total/unknown/{reason}"]["total"], 0)
        self.assertEqual(first["clock_quarantined"]["total"], 0)
        self.assertEqual(first["not_serving/peer_clock"]["total"], 0)
        self.assertEqual(len([k for k in first if k.startswith("peer_reachable/")]), 2)
        time.sleep(0.6)  # three heartbeats
        wait_for_refresh(self, self.name)
        later = by_key(bidstat_json(self, self.name))
        for p in ("2", "3"):
            key = f"peer_tx_dropped_total/{p}"
            self.assertGreaterEqual(later[key]["total"], first[key]["total"] + 2, key)

        text = promtool_check(self, self.name)
        self.assertIn('bidplane_peer_messages_total{peer="2",direction="out"} 0\n', text)
        self.assertIn('bidplane_peer_drops_total{peer="3",reason="bad_mac"} 0\n', text)
        self.assertIn('bidplane_peer_drops_total{peer="unknown",reason="short"} 0\n', text)
        self.assertIn("# TYPE bidplane_peer_lag_seconds gauge\n", text)
        self.assertIn('bidplane_peer_lag_seconds{peer="2"} 0.000\n', text)
        self.assertIn('bidplane_peer_clock_offset_seconds{peer="3",sign="behind"} 0.000\n', text)
        self.assertIn('bidplane_not_serving{reason="peer_clock"} 0\n', text)

        r = bidstat("--once", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        view = r.stdout[r.stdout.index("\npeers"):]
        rows = {line.split()[0]: line.split() for line in view.splitlines()[3:5]}
        self.assertEqual(sorted(rows), ["2", "3"], view)
        self.assertEqual(rows["2"][1], "no", view)  # reachable

    def test_every_peer_of_a_full_cluster_fits_the_directory(self):
        peers = []
        for i in range(2, 17):  # 16 nodes: this one and 15 peers
            peers += ["--peer", f"{i}@198.18.0.{10 + i}"]
        self.node("--node-id", "1", "--cluster-key-file", self.key_file(), *peers)
        m = by_key(bidstat_json(self, self.name))
        self.assertEqual(sorted(int(k.split("/")[1]) for k in m
                                if k.startswith("peer_reachable/")), list(range(2, 17)))
        self.assertIn("peer_drops_total/16/unknown_slot", m)

    def wait_until(self, cond, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail(f"timed out waiting for {what}")


class ClusterStats(unittest.TestCase):
    """Two real nodes (cluster.py): traffic both ways, the clock offset with
    its sign, and what a partition does to reachability, the deltas pending,
    the lag and the retransmissions."""

    def setUp(self):
        import cluster  # needs root: imported only when the test runs
        self.cluster_module = cluster
        self.run_dir = tempfile.mkdtemp(prefix="bp-pstats-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        self.key = os.path.join(self.run_dir, "cluster.key")
        with open(self.key, "w") as f:
            f.write(KEY)
        os.chmod(self.key, 0o600)

    def values(self, c, i):
        return {k: v["total"] for k, v in by_key(bidstat_json(self, c.node(i).stats_name)).items()}

    def wait_for(self, c, i, cond, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.values(c, i)
            if cond(m):
                return m
            time.sleep(0.1)
        self.fail(f"node {i}: timed out waiting for {what}: "
                  f"{ {k: v for k, v in m.items() if k.startswith('peer_')} }")

    def test_two_peers_traffic_clock_and_partition(self):
        cl = self.cluster_module
        other = {1: 2, 2: 1}
        with cl.Cluster("pstats") as c:
            # Node 2's clock 150 ms ahead: inside --max-drift-ms (500), so
            # neither node is quarantined.
            c.start(2, args=["--open-range", "1-1", "--cluster-key-file", self.key],
                    node_args=lambda i: ["--peer", f"{other[i]}@{cl.node_ip(other[i])}"] +
                    (["--clock-offset-ms", "150"] if i == 2 else []))
            for i in (1, 2):
                p = other[i]
                m = self.wait_for(c, i, lambda m: m[f"peer_reachable/{p}"] == 1 and
                                  m[f"peer_clock_offset_known/{p}"] == 1, "a reachable peer")
                for d in ("in", "out"):
                    self.assertGreater(m[f"peer_messages_total/{p}/{d}"], 0)
                    # Every message has a 40-byte header and a tag.
                    self.assertGreater(m[f"peer_bytes_total/{p}/{d}"],
                                       40 * m[f"peer_messages_total/{p}/{d}"])
                self.assertEqual(m["clock_quarantined"], 0)
                self.assertEqual(m["not_serving/peer_clock"], 0)
            m1, m2 = self.values(c, 1), self.values(c, 2)
            self.assertTrue(100 <= m1["peer_clock_offset_ms/2/ahead"] <= 200, m1)
            self.assertEqual(m1["peer_clock_offset_ms/2/behind"], 0)
            self.assertTrue(100 <= m2["peer_clock_offset_ms/1/behind"] <= 200, m2)
            self.assertEqual(m2["peer_clock_offset_ms/1/ahead"], 0)

            # A datagram too short to be a peer message: refused before its
            # sender is known.
            forger = c.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(forger.close)
            forger.sendto(b"short", (cl.node_ip(1), cl.PEER_PORT))
            self.wait_for(c, 1, lambda m: m["peer_drops_total/unknown/short"] == 1,
                          "the refused datagram")

            client = c.client(1)
            r = client.ask(bptest.bid(1, 1, 7, 1000))
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            self.wait_for(c, 2, lambda m: m["peer_entries_total/1/in"] >= 1, "the merged entry")
            self.wait_for(c, 1, lambda m: m["peer_entries_total/2/out"] >= 1 and
                          m["peer_deltas_pending/2"] == 0, "the acknowledged entry")
            view = bidstat("--once", c.node(1).stats_name).stdout
            row = view[view.index("\npeers"):].splitlines()[3].split()
            self.assertEqual(row[:2], ["2", "yes"], view)
            self.assertTrue(row[9].startswith("+"), view)  # the peer's clock is ahead

            c.partition([[1], [2]])
            r = client.ask(bptest.bid(2, 1, 8, 2000))
            self.assertEqual(r["status"], bptest.ACCEPTED, r)
            before = self.values(c, 1)["peer_retransmissions_total/2"]
            m = self.wait_for(c, 1, lambda m: m["peer_reachable/2"] == 0 and
                              m["peer_deltas_pending/2"] >= 1 and m["peer_lag_ms/2"] >= 1000 and
                              m["peer_retransmissions_total/2"] > before, "the partition")
            c.heal()
            self.wait_for(c, 1, lambda m: m["peer_reachable/2"] == 1 and
                          m["peer_deltas_pending/2"] == 0 and m["peer_lag_ms/2"] == 0,
                          "the healed link")
            self.wait_for(c, 2, lambda m: m["peer_entries_total/1/in"] >= 2, "the second entry")
            text = promtool_check(self, c.node(1).stats_name)  # non-zero times, in seconds
            self.assertRegex(text, r'bidplane_peer_rtt_seconds\{peer="2"\} 0\.\d{6}\n')
            self.assertRegex(text, r'bidplane_peer_clock_offset_seconds\{peer="2",sign="ahead"\} '
                             r'0\.1\d\d\n')
            print(bidstat("--once", c.node(1).stats_name).stdout)

    def test_a_clock_off_from_the_peers_shows_as_quarantined(self):
        cl = self.cluster_module
        other = {1: 2, 2: 1}
        with cl.Cluster("pstatsq") as c:
            # 800 ms apart, the bound 500: in a 2-node cluster both stop.
            c.start(2, args=["--cluster-key-file", self.key],
                    node_args=lambda i: ["--peer", f"{other[i]}@{cl.node_ip(other[i])}"] +
                    (["--clock-offset-ms", "800"] if i == 2 else []))
            m = self.wait_for(c, 1, lambda m: m["clock_quarantined"] == 1, "the quarantine")
            self.assertEqual(m["not_serving/peer_clock"], 1)
            self.assertEqual(m["serving"], 0)
            self.assertTrue(700 <= m["peer_clock_offset_ms/2/ahead"] <= 900, m)
            view = bidstat("--once", c.node(1).stats_name).stdout
            self.assertIn("peers   ** clock quarantined: not serving", view)
            m = self.wait_for(c, 2, lambda m: m["clock_quarantined"] == 1, "the quarantine")
            self.assertTrue(700 <= m["peer_clock_offset_ms/1/behind"] <= 900, m)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root (setpriv, groupadd, DPDK)")
        raise SystemExit(77)
    unittest.main(verbosity=2)
