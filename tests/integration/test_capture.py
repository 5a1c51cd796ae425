#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Packet capture (docs/CAPTURE.md). The Wireshark dissector
(dist/wireshark/bidplane.lua) through tshark: on frames built here, every
field of every message with its exact value, statuses and states by name,
REPLAYED, HLC split, the peer port, and an expert info for each malformed
kind; on the frames bidgen writes with --pcap. Then dpdk-dumpcap attached to
a running node (hugepages and a known --file-prefix) captures a bidgen run:
every frame decodes and the counts in the capture equal bidgen's."""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest

from bptest import BIDPLANE, Node, udp_frame
from stats_tools import bidstat_json, by_key, wait_for_refresh

BIDGEN = os.environ.get("BP_BIDGEN", "build/bidgen")
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISSECTOR = os.path.join(SRC, "dist", "wireshark", "bidplane.lua")
TSHARK = shutil.which("tshark")
DUMPCAP = shutil.which("dpdk-dumpcap")

STATUS = ["ACCEPTED", "TOO_LOW", "CLOSED", "UNKNOWN_AUCTION", "MALFORMED", "OVERLOADED",
          "UNSUPPORTED_VERSION", "NOT_SERVING", "CONFLICT"]
NODE_MAC = bytes.fromhex("020000000002")
HOST_MAC = bytes.fromhex("020000000001")
HLC = (1796120485587 << 16) | 42  # 2026-12-01 10:21:25.587 UTC, logical 42


def hdr(mtype, length, version=1, flags=0, magic=0xB1D5):
    return struct.pack(">HBBHH", magic, version, mtype, length, flags)


def write_pcap(path, frames):
    """A classic pcap (Ethernet) of the frames, 1 ms apart."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000, i * 1000, len(frame), len(frame)))
            f.write(frame)


def to_node(payload, dport=7600):
    return udp_frame(NODE_MAC, HOST_MAC, payload, sport=40000, dport=dport)


def from_node(payload, sport=7600):
    return udp_frame(HOST_MAC, NODE_MAC, payload, src_ip="198.18.0.2", dst_ip="198.18.0.1",
                     sport=sport, dport=40000)


FIELDS = ["frame.number", "udp.dstport", "bidplane.magic", "bidplane.version", "bidplane.type",
          "bidplane.length", "bidplane.flags", "bidplane.flags.replayed", "bidplane.request_id",
          "bidplane.auction_id", "bidplane.bidder_id", "bidplane.amount", "bidplane.client_ts",
          "bidplane.viewer_id", "bidplane.status", "bidplane.state", "bidplane.leading_amount",
          "bidplane.leading_bidder", "bidplane.hlc", "bidplane.hlc.ms", "bidplane.hlc.logical",
          "bidplane.leading_hlc.ms", "bidplane.leading_hlc.logical", "bidplane.bid_count",
          "bidplane.viewers", "bidplane.close_at_ms", "bidplane.node_hlc.ms",
          "bidplane.node_hlc.logical", "bidplane.peer_body", "_ws.col.Info",
          "_ws.expert.message", "_ws.lua.error", "_ws.malformed.expert"]


def tshark_fields(test, pcap, fields=FIELDS, extra=()):
    """One dict per frame: field -> value ('' when absent); every field is
    shown as its value (statuses by name: -E header, showname off)."""
    if TSHARK is None:
        test.skipTest("tshark missing: apt-get install tshark")
    cmd = [TSHARK, "-n", "-r", pcap, "-X", f"lua_script:{DISSECTOR}", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"] + list(extra)
    for name in fields:
        cmd += ["-e", name]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    test.assertEqual(r.returncode, 0, r.stderr)
    test.assertNotIn("Lua", r.stderr, r.stderr)
    rows = []
    for line in r.stdout.splitlines():
        values = line.split("\t")
        rows.append(dict(zip(fields, values + [""] * (len(fields) - len(values)))))
    return rows


class DissectorOnBuiltFrames(unittest.TestCase):
    """Known frames, known values: a wrong offset, name or flag fails."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bp-dissect-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def decode(self, frames, fields=FIELDS, extra=()):
        pcap = os.path.join(self.dir, "frames.pcap")
        write_pcap(pcap, frames)
        rows = tshark_fields(self, pcap, fields, extra)
        self.assertEqual(len(rows), len(frames))
        return rows

    def test_every_field_of_every_message(self):
        frames = [
            to_node(hdr(1, 48) + struct.pack(">QQQQQ", 11, 22, 33, 44, 55)),
            from_node(hdr(2, 64, flags=1) + struct.pack(">QQB7xQQQQ", 11, 22, 8, 100, 77, HLC,
                                                         55)),
            to_node(hdr(3, 24) + struct.pack(">QQ", 0, 23)),
            to_node(hdr(5, 32) + struct.pack(">QQQ", 12, 24, 66)),
            to_node(hdr(6, 32) + struct.pack(">QQQ", 13, 25, 67)),
            from_node(hdr(4, 88) + struct.pack(">QQBB6xQQQQQQQ", 14, 26, 0, 2, 500, 88, HLC,
                                               9, 3, 1796120486000, HLC | 0xFFFF)),
        ]
        bid, reply, query, watch, unwatch, state = self.decode(frames)
        for row, t in zip((bid, reply, query, watch, unwatch, state),
                          ("1", "2", "3", "5", "6", "4")):
            self.assertEqual(row["bidplane.magic"], "0xb1d5")
            self.assertEqual(row["bidplane.version"], "1")
            self.assertEqual(int(row["bidplane.type"], 0), int(t))
            self.assertEqual(row["_ws.expert.message"], "", row)
            self.assertEqual(row["_ws.lua.error"] + row["_ws.malformed.expert"], "", row)
        self.assertEqual([bid[k] for k in ("bidplane.length", "bidplane.request_id",
                                           "bidplane.auction_id", "bidplane.bidder_id",
                                           "bidplane.amount", "bidplane.client_ts")],
                         ["48", "11", "22", "33", "44", "55"])
        self.assertEqual(bid["bidplane.flags.replayed"], "0")
        self.assertIn("BID req=11 auction=22 bidder=33 amount=44", bid["_ws.col.Info"])
        self.assertEqual(reply["bidplane.flags.replayed"], "1")
        self.assertEqual(reply["bidplane.status"], "8")
        self.assertIn("BID_REPLY CONFLICT [REPLAYED]", reply["_ws.col.Info"])
        self.assertEqual([reply[k] for k in ("bidplane.length", "bidplane.request_id",
                                             "bidplane.auction_id", "bidplane.leading_amount",
                                             "bidplane.leading_bidder", "bidplane.client_ts",
                                             "bidplane.hlc.ms", "bidplane.hlc.logical")],
                         ["64", "11", "22", "100", "77", "55", "1796120485587", "42"])
        self.assertEqual(int(reply["bidplane.hlc"], 0), HLC)
        self.assertEqual([query[k] for k in ("bidplane.request_id", "bidplane.auction_id")],
                         ["0", "23"])
        self.assertEqual(query["bidplane.bidder_id"], "")
        self.assertEqual([watch[k] for k in ("bidplane.request_id", "bidplane.auction_id",
                                             "bidplane.viewer_id")], ["12", "24", "66"])
        self.assertEqual(unwatch["bidplane.viewer_id"], "67")
        self.assertIn("UNWATCH", unwatch["_ws.col.Info"])
        self.assertEqual([state[k] for k in (
            "bidplane.length", "bidplane.request_id", "bidplane.auction_id", "bidplane.status",
            "bidplane.state", "bidplane.leading_amount", "bidplane.leading_bidder",
            "bidplane.leading_hlc.ms", "bidplane.leading_hlc.logical", "bidplane.bid_count",
            "bidplane.viewers", "bidplane.close_at_ms", "bidplane.node_hlc.ms",
            "bidplane.node_hlc.logical")],
            ["88", "14", "26", "0", "2", "500", "88", "1796120485587", "42", "9", "3",
             "1796120486000", "1796120485587", "65535"])
        self.assertIn("AUCTION_STATE ACCEPTED", state["_ws.col.Info"])

    def test_statuses_and_states_by_name(self):
        frames = [from_node(hdr(2, 64) + struct.pack(">QQB7xQQQQ", 1, 2, code, 0, 0, 0, 0))
                  for code in range(len(STATUS))]
        frames += [from_node(hdr(4, 88) + struct.pack(">QQBB6x56x", 1, 2, 3, s))
                   for s in range(3)]
        # -V text shows the names ("Status: TOO_LOW (1)").
        pcap = os.path.join(self.dir, "names.pcap")
        write_pcap(pcap, frames)
        if TSHARK is None:
            self.skipTest("tshark missing: apt-get install tshark")
        r = subprocess.run([TSHARK, "-n", "-r", pcap, "-X", f"lua_script:{DISSECTOR}", "-O",
                            "bidplane"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        for code, name in enumerate(STATUS):
            self.assertIn(f"Status: {name} ({code})", r.stdout)
            self.assertIn(f"BID_REPLY {name} req=1", r.stdout)
        for s, name in enumerate(("unknown", "open", "closed")):
            self.assertIn(f"State: {name} ({s})", r.stdout)
        self.assertIn("Type: BID_REPLY (0x02)", r.stdout)
        self.assertIn("HLC stamp physical: ", r.stdout)

    def test_malformed_kinds_get_an_expert_info_and_never_a_lua_error(self):
        cases = [
            (to_node(b"\xb1\xd5\x01"), "Shorter than the 8-byte header"),
            (to_node(b"\x12\x34" + bytes(46)), "Magic is not 0xB1D5"),
            (to_node(hdr(1, 48) + bytes(20)), "Message shorter than its type's length"),
            (to_node(hdr(3, 40) + bytes(32)), "Message longer than its type's length"),
            (to_node(hdr(3, 99) + struct.pack(">QQ", 1, 2)), "Length field does not equal"),
            (to_node(hdr(1, 48, version=2) + bytes(40)), "Version is not 1"),
            (to_node(hdr(7, 8)), "Unknown message type"),
            (to_node(hdr(3, 24, flags=1) + struct.pack(">QQ", 1, 2)), "Flags must be 0"),
            (from_node(hdr(2, 64) + struct.pack(">QQB", 1, 2, 0) + b"\x01" + bytes(38)),
             "Reserved bytes are not zero"),
            (to_node(hdr(0x10, 12) + b"peer", dport=7601), "Node-to-node type"),
            (to_node(hdr(0x1F, 8), dport=7600), "Node-to-node type"),
        ]
        rows = self.decode([c[0] for c in cases])
        for (frame, want), row in zip(cases, rows):
            self.assertIn(want, row["_ws.expert.message"], row)
            self.assertEqual(row["_ws.lua.error"] + row["_ws.malformed.expert"], "", row)
        truncated = rows[2]
        self.assertEqual(truncated["bidplane.request_id"], "0")  # 8..16 present
        self.assertEqual(truncated["bidplane.amount"], "")  # 32..40 missing
        peer = rows[9]
        self.assertEqual(int(peer["bidplane.type"], 0), 0x10)
        self.assertIn("peer (reserved) type 0x10", peer["_ws.col.Info"])
        self.assertEqual(peer["bidplane.peer_body"], "70656572")

    def test_bidgens_own_pcap_decodes(self):
        """bidgen --pcap writes the first 1000 frames it sends."""
        if os.geteuid() != 0:
            self.skipTest("bidgen (DPDK) needs root")
        sock = os.path.join(self.dir, "memif.sock")
        pcap = os.path.join(self.dir, "bidgen.pcap")
        self.addCleanup(shutil.rmtree, f"/var/run/dpdk/bpgen-pcap-{os.getpid()}", True)
        node = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                    args=["--open-range", "1-50", "--dedup-rate", "10000"])
        node.start()
        try:
            gen = subprocess.run(
                [BIDGEN, "--no-huge", "-m", "512", "--lcores=0@1", "--no-pci",
                 f"--file-prefix=bpgen-pcap-{os.getpid()}",
                 f"--vdev=net_memif0,role=client,socket={sock}", "--", "--auctions", "1-50",
                 "--count", "500", "--rate", "20000", "--query-ratio", "0.2",
                 "--watch-ratio", "0.2", "--dup-ratio", "0.1", "--quiet", "--pcap", pcap],
                capture_output=True, text=True, timeout=120)
        finally:
            node.stop()
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
        rows = tshark_fields(self, pcap, extra=["-Y", "udp.dstport == 7600"])
        self.assertEqual(len(rows), 500)
        types = {}
        for row in rows:
            self.assertEqual(row["bidplane.magic"], "0xb1d5", row)
            self.assertEqual(row["_ws.expert.message"], "", row)
            self.assertEqual(row["_ws.lua.error"] + row["_ws.malformed.expert"], "", row)
            t = int(row["bidplane.type"], 0)
            types[t] = types.get(t, 0) + 1
        self.assertEqual(set(types), {1, 3, 5}, types)  # bidgen sends no UNWATCH


def free_hugepages():
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())
    except OSError:
        return 0


def hugetlbfs_mounted():
    with open("/proc/mounts") as f:
        return any(line.split()[2] == "hugetlbfs" for line in f if len(line.split()) > 2)


NEED_PAGES = 160  # the node (~62 pages with --dedup-rate 10000) and dumpcap's pool


class DumpcapOnARunningNode(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("DPDK secondary processes and hugepages need root")
        if DUMPCAP is None:
            self.skipTest("dpdk-dumpcap missing: apt-get install dpdk")
        if not hugetlbfs_mounted():
            self.skipTest("hugetlbfs not mounted (mount -t hugetlbfs nodev /dev/hugepages): "
                          "dpdk-dumpcap attaches only to a node on hugepages")
        self.reserve_hugepages()
        self.dir = tempfile.mkdtemp(prefix="bp-capture-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.prefix = f"bpcap-{os.getpid()}"
        self.addCleanup(self.remove_prefix_files, self.prefix)
        self.addCleanup(self.remove_prefix_files, self.prefix + "-gen")

    def reserve_hugepages(self):
        """Adds pages when too few are free; gives back what it added."""
        free = free_hugepages()
        if free >= NEED_PAGES:
            return
        path = "/proc/sys/vm/nr_hugepages"
        with open(path) as f:
            before = int(f.read())
        try:
            with open(path, "w") as f:
                f.write(str(before + NEED_PAGES - free))
        except OSError:
            pass
        self.addCleanup(self.restore_hugepages, path, before)
        if free_hugepages() < NEED_PAGES:
            self.skipTest(f"{free_hugepages()} free hugepages, {NEED_PAGES} needed "
                          f"(echo N > {path})")

    @staticmethod
    def restore_hugepages(path, before):
        with open(path, "w") as f:
            f.write(str(before))

    @staticmethod
    def remove_prefix_files(prefix):
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        for name in os.listdir("/dev/hugepages"):
            if name.startswith(prefix + "map_"):
                os.unlink(os.path.join("/dev/hugepages", name))

    def start_node(self):
        sock = os.path.join(self.dir, "memif.sock")
        self.sock = sock
        node = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                    args=["--open-range", "1-200", "--increment", "1", "--dedup-rate", "10000"])
        # On hugepages, with a prefix we know: what a secondary needs.
        i = node.cmd.index("--no-huge")
        node.cmd[i:i + 3] = [f"--file-prefix={self.prefix}"]
        self.addCleanup(node.stop)
        node.start()
        self.assertEqual(node.prefix, self.prefix)
        return node

    def start_dumpcap(self, pcap):
        log = open(os.path.join(self.dir, "dumpcap.log"), "w+")
        self.addCleanup(log.close)
        cap = subprocess.Popen([DUMPCAP, f"--file-prefix={self.prefix}", "-i", "net_memif0",
                                "-w", pcap], stdout=log, stderr=subprocess.STDOUT)

        def stop():
            if cap.poll() is None:
                cap.kill()
                cap.wait()
        self.addCleanup(stop)
        deadline = time.time() + 30
        while time.time() < deadline and cap.poll() is None:
            log.seek(0)
            # Its progress line (stderr) starts once the port is mirrored.
            if "Packets captured: " in log.read():
                return cap, log
            time.sleep(0.1)
        log.seek(0)
        self.fail(f"dpdk-dumpcap did not attach (rc {cap.poll()}):\n{log.read()}")

    def run_bidgen(self):
        out = os.path.join(self.dir, "gen.json")
        ncpu = os.cpu_count() or 1
        gen = subprocess.run(
            [BIDGEN, "--no-huge", "-m", "512", f"--lcores=0@{1 % ncpu}", "--no-pci",
             f"--file-prefix={self.prefix}-gen",
             f"--vdev=net_memif0,role=client,socket={self.sock}", "--",
             "--auctions", "1-200", "--count", "3000", "--rate", "20000",
             "--dup-ratio", "0.05", "--conflict-ratio", "0.02", "--bad-ratio", "0.03",
             "--query-ratio", "0.05", "--watch-ratio", "0.05", "--timeout", "2000",
             "--strict", "--quiet", "--json", out],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
        with open(out) as f:
            return json.load(f)

    def test_dumpcap_captures_a_bidgen_run_and_every_frame_decodes(self):
        node = self.start_node()
        pcap = os.path.join(self.dir, "run.pcapng")
        cap, log = self.start_dumpcap(pcap)
        g = self.run_bidgen()
        self.assertEqual(g["lost"], 0)
        wait_for_refresh(self, node.stats_name)
        m = by_key(bidstat_json(self, node.stats_name))
        rx, tx = m["rx_packets_total"]["total"], m["tx_packets_total"]["total"]
        cap.send_signal(signal.SIGINT)
        self.assertEqual(cap.wait(timeout=30), 0)
        log.seek(0)
        text = log.read()
        got = re.search(r"Packets received/dropped on interface 'net_memif0': (\d+)/(\d+)", text)
        self.assertIsNotNone(got, text)
        # Every frame in and out of the port, none dropped by the capture.
        self.assertEqual((int(got.group(1)), int(got.group(2))), (rx + tx, 0), text)

        rows = tshark_fields(self, pcap, extra=["-Y", "udp"])
        requests = [r for r in rows if r["bidplane.magic"] != "" or r["_ws.expert.message"]]
        self.assertEqual(len(requests), len(rows), "a UDP frame without a bidplane tree")
        for row in rows:
            self.assertEqual(row["_ws.lua.error"] + row["_ws.malformed.expert"], "", row)
        to_node = [r for r in rows if r["udp.dstport"] == "7600"]
        replies = {"bid_reply": {}, "auction_state": {}}
        replayed = 0
        for row in rows:
            info = row["_ws.col.Info"]
            kind = ("bid_reply" if info.startswith("BID_REPLY ") else
                    "auction_state" if info.startswith("AUCTION_STATE ") else None)
            if kind is None:
                continue
            # A reply decodes to its last field.
            last = "bidplane.client_ts" if kind == "bid_reply" else "bidplane.node_hlc.ms"
            self.assertNotEqual(row[last], "", row)
            name = STATUS[int(row["bidplane.status"])].lower()
            replies[kind][name] = replies[kind].get(name, 0) + 1
            replayed += row["bidplane.flags.replayed"] == "1"
        self.assertEqual(len(to_node), g["sent"])
        self.assertEqual(sum(len(r) and sum(r.values()) for r in replies.values()),
                         g["received"])
        for kind in replies:
            want = {k: v for k, v in g["replies"][kind].items() if v}
            self.assertEqual(replies[kind], want, kind)
        self.assertEqual(replayed, g["replayed"])
        self.assertGreater(replayed, 0)
        print(f"captured {len(rows)} UDP frames of {rx + tx}: {len(to_node)} requests "
              f"(bidgen sent {g['sent']}), replies {replies}, replayed {replayed}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
