#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Frames that fail an L2/L3/L4 check get no reply and are counted by reason;
every received frame is accounted for; admission control sheds with
OVERLOADED; SIGTERM ends the node cleanly."""

import socket
import time
import unittest

from bptest import (ACCEPTED, OVERLOADED, TOO_LOW, BIDPLANE, Client, Node, RawPort, bid, main,
                    query, udp_frame)

PER_KIND = 5


class DropCounters(unittest.TestCase):
    def test_bad_frames_are_dropped_silently_and_counted(self):
        node = Node(BIDPLANE, args=["--open-range", "1-1"]).start()
        raw = RawPort()
        good = bid(1, 1, 1, 100)
        mac = node.mac
        kinds = {
            "ip_checksum": udp_frame(mac, raw.mac, good, ip_csum=0x1234),
            "udp_checksum": udp_frame(mac, raw.mac, good, udp_csum=0x1234),
            "ip_options": udp_frame(mac, raw.mac, good, ihl=6),
            "ip_fragment": udp_frame(mac, raw.mac, good, frag=0x2000),  # MF
            "ip_length": udp_frame(mac, raw.mac, good, ip_len=400),
            "udp_length": udp_frame(mac, raw.mac, good, udp_len=30),
            "dst_mac": udp_frame(b"\x02\0\0\0\0\x09", raw.mac, good),
            "dst_ip": udp_frame(mac, raw.mac, good, dst_ip="198.18.0.77"),
            "dst_port": udp_frame(mac, raw.mac, good, dport=7601),
        }
        try:
            for name, frame in kinds.items():
                for _ in range(PER_KIND):
                    raw.send(frame)
                self.assertIsNone(raw.recv_udp_from_node(timeout=0.3), name)
            # The node still answers, and this reply proves it read all above.
            raw.send(udp_frame(mac, raw.mac, query(9, 1)))
            self.assertIsNotNone(raw.recv_udp_from_node(timeout=3))
        finally:
            raw.close()
            rc = node.stop()
        self.assertEqual(rc, 0, node.text())
        s = node.summary
        for name in kinds:
            self.assertEqual(s.get(("drop", name)), PER_KIND, f"{name}\n{node.text()}")
        # Every received frame is a reply, a drop, or handed to the control
        # thread (the kernel sends its own frames too: IPv6, ARP, ...).
        replies = sum(v for (k, _), v in s.items() if k in ("bid_reply", "state"))
        drops = sum(v for (k, _), v in s.items() if k == "drop")
        handed = s[("exception", "to_control")]
        self.assertEqual(s[("total", "rx")], replies + drops + handed, node.text())
        self.assertEqual(s[("total", "tx")], replies + s[("exception", "from_control")],
                         node.text())
        answered = s[("control", "arp")] + s[("control", "icmp")] + s[("control", "ignored")]
        self.assertLessEqual(answered, handed)


class Admission(unittest.TestCase):
    def test_backlog_is_shed_with_overloaded(self):
        # A worker that sleeps 50 ms when idle finds a long backlog on waking;
        # with --overload-backlog 32 a full burst triggers shedding.
        node = Node(BIDPLANE, args=["--open-range", "1-1", "--overload-backlog", "32",
                                    "--idle-spin-polls", "1", "--idle-sleep-us", "50000"])
        node.start()
        try:
            c = Client(timeout=2.0)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            c.ask(query(1, 1))
            statuses = []
            for round_ in range(5):
                time.sleep(0.2)  # let the worker fall asleep
                for i in range(300):
                    c.send(bid(round_ * 1000 + i + 1, 1, 7, 100 + round_ * 1000 + i))
                while True:
                    data = c.recv(timeout=1.0)
                    if data is None:
                        break
                    statuses.append(data[24])
                if OVERLOADED in statuses:
                    break
            c.close()
        finally:
            rc = node.stop()
        self.assertEqual(rc, 0)
        self.assertIn(OVERLOADED, statuses, "no backlog ever built up")
        self.assertTrue(set(statuses) <= {ACCEPTED, TOO_LOW, OVERLOADED}, set(statuses))
        self.assertEqual(statuses.count(OVERLOADED),
                         node.summary.get(("bid_reply", "overloaded")), node.text())
        self.assertEqual(node.summary.get(("admission", "shed")), statuses.count(OVERLOADED))


if __name__ == "__main__":
    main("count")
