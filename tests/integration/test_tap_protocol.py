#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""PROTOCOL.md over a real kernel client: a node on net_tap in a network
namespace, answered through plain UDP sockets and raw frames."""

import os
import random
import struct
import subprocess
import unittest

from bptest import (ACCEPTED, AUCTION_STATE, BID, BID_REPLY, CLOSED, CONFLICT, HOST_IP,
                    MALFORMED, NODE_IP, PORT, QUERY, REPLAYED, TOO_LOW, UNKNOWN_AUCTION,
                    UNSUPPORTED_VERSION, BIDPLANE, Client, Node, RawPort, bid, csum,
                    header, main, parse_reply, query, udp_frame, watch)


class Protocol(unittest.TestCase):
    """One node, auctions 1-50 (reserve 100, increment 10), many requests."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(BIDPLANE, args=["--open-range", "1-50", "--reserve", "100",
                                        "--increment", "10", "--duration", "600"]).start()
        cls.client = Client()
        cls.rid = 1000

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        rc = cls.node.stop()
        assert rc == 0, cls.node.text()

    def next_rid(self):
        type(self).rid += 1
        return self.rid

    def test_accepted_then_too_low_then_accepted(self):
        c = self.client
        r = c.ask(bid(self.next_rid(), 1, 501, 100, client_ts=0xABCDEF))
        self.assertEqual(r["status"], ACCEPTED)
        self.assertEqual((r["leading_amount"], r["leading_bidder"]), (100, 501))
        self.assertEqual(r["client_ts"], 0xABCDEF)
        self.assertEqual(r["flags"], 0)
        self.assertNotEqual(r["hlc"], 0)
        first_hlc = r["hlc"]
        r = c.ask(bid(self.next_rid(), 1, 502, 109))  # needs 100 + 10
        self.assertEqual(r["status"], TOO_LOW)
        self.assertEqual((r["leading_amount"], r["leading_bidder"]), (100, 501))
        r = c.ask(bid(self.next_rid(), 1, 502, 110))
        self.assertEqual(r["status"], ACCEPTED)
        self.assertEqual((r["leading_amount"], r["leading_bidder"]), (110, 502))
        self.assertGreater(r["hlc"], first_hlc)

    def test_below_reserve_is_too_low(self):
        r = self.client.ask(bid(self.next_rid(), 2, 7, 99))
        self.assertEqual(r["status"], TOO_LOW)
        self.assertEqual((r["leading_amount"], r["leading_bidder"]), (0, 0))

    def test_unknown_auction_is_not_stamped(self):
        r = self.client.ask(bid(self.next_rid(), 999999, 7, 500))
        self.assertEqual(r["status"], UNKNOWN_AUCTION)
        self.assertEqual(r["hlc"], 0)
        self.assertEqual(r["auction_id"], 999999)

    def test_retransmission_is_replayed_and_changes_nothing(self):
        c = self.client
        req = bid(77, 3, 900, 200, client_ts=5)
        first = c.ask(req)
        self.assertEqual(first["status"], ACCEPTED)
        outbid = c.ask(bid(self.next_rid(), 3, 901, 300))
        self.assertEqual(outbid["status"], ACCEPTED)
        again = c.ask(req)
        self.assertEqual(again["status"], ACCEPTED)
        self.assertEqual(again["flags"], REPLAYED)
        self.assertEqual(again["hlc"], first["hlc"])
        # The replay shows the current leading bid, and did not bid again.
        self.assertEqual((again["leading_amount"], again["leading_bidder"]), (300, 901))
        state = c.ask(query(1, 3))
        self.assertEqual(state["bid_count"], 2)

    def test_replayed_too_low_keeps_its_status(self):
        c = self.client
        c.ask(bid(self.next_rid(), 4, 1, 500))
        req = bid(88, 4, 2, 100)
        first = c.ask(req)
        self.assertEqual(first["status"], TOO_LOW)
        again = c.ask(req)
        self.assertEqual((again["status"], again["flags"], again["hlc"]),
                         (TOO_LOW, REPLAYED, first["hlc"]))

    def test_reused_key_with_other_amount_or_auction_is_conflict(self):
        c = self.client
        self.assertEqual(c.ask(bid(99, 5, 3, 150))["status"], ACCEPTED)
        r = c.ask(bid(99, 5, 3, 160))
        self.assertEqual(r["status"], CONFLICT)
        self.assertEqual(r["hlc"], 0)
        self.assertEqual(c.ask(bid(99, 6, 3, 150))["status"], CONFLICT)
        # A conflict is not remembered and changed nothing.
        self.assertEqual(c.ask(query(1, 5))["leading_amount"], 150)

    def test_bad_fields_are_malformed_with_fields_copied(self):
        c = self.client
        cases = {
            "zero request_id": bid(0, 1, 1, 100),
            "zero auction_id": bid(5, 0, 1, 100),
            "zero bidder_id": bid(5, 1, 0, 100),
            "zero amount": bid(5, 1, 1, 0),
            "amount 2^63": bid(5, 1, 1, 1 << 63),
            "flags set": header(BID, 48, flags=1) + bid(5, 1, 1, 100)[8:],
        }
        for name, req in cases.items():
            with self.subTest(name):
                r = c.ask(req)
                self.assertEqual(r["type"], BID_REPLY)
                self.assertEqual(r["status"], MALFORMED)
                self.assertEqual(r["request_id"], struct.unpack(">Q", req[8:16])[0])
                self.assertEqual(r["hlc"], 0)

    def test_wrong_length_is_malformed(self):
        c = self.client
        short = header(BID, 40) + bid(6, 1, 1, 100)[8:40]
        r = c.ask(short)
        self.assertEqual((r["type"], r["status"], r["request_id"], r["auction_id"]),
                         (BID_REPLY, MALFORMED, 6, 1))
        lying = header(BID, 47) + bid(6, 1, 1, 100)[8:]
        self.assertEqual(c.ask(lying)["status"], MALFORMED)
        q = header(QUERY, 30) + query(7, 1)[8:] + b"\0" * 6
        r = c.ask(q)
        self.assertEqual((r["type"], r["status"], r["request_id"]), (AUCTION_STATE, MALFORMED, 7))
        tiny = header(BID, 12) + b"\0\0\0\x09"  # request_id cut short: zero
        r = c.ask(tiny)
        self.assertEqual((r["status"], r["request_id"]), (MALFORMED, 0))

    def test_other_version_is_unsupported(self):
        c = self.client
        v2 = header(BID, 48, version=2) + bid(8, 1, 1, 100, client_ts=3)[8:]
        r = c.ask(v2)
        self.assertEqual((r["type"], r["status"], r["request_id"], r["client_ts"]),
                         (BID_REPLY, UNSUPPORTED_VERSION, 8, 3))
        q2 = header(QUERY, 24, version=7) + query(9, 1)[8:]
        r = c.ask(q2)
        self.assertEqual((r["type"], r["status"], r["request_id"]),
                         (AUCTION_STATE, UNSUPPORTED_VERSION, 9))

    def test_garbage_gets_no_reply(self):
        c = self.client
        good = bid(10, 1, 1, 100)
        cases = {
            "bad magic": b"\xB1\xD6" + good[2:],
            "shorter than a header": good[:7],
            "unknown type": header(0x07, 48) + good[8:],
            "node-to-node type": header(0x10, 48) + good[8:],
            "reply type": header(BID_REPLY, 64) + b"\0" * 56,
            "unknown type, other version": header(0x09, 48, version=3) + good[8:],
        }
        for name, payload in cases.items():
            with self.subTest(name):
                self.assertTrue(c.silent(payload), name)
        self.assertEqual(c.ask(good)["type"], BID_REPLY)  # still answering

    def test_query_known_and_unknown(self):
        c = self.client
        c.ask(bid(self.next_rid(), 7, 42, 130))
        r = c.ask(query(55, 7))
        self.assertEqual((r["type"], r["status"], r["state"], r["request_id"]),
                         (AUCTION_STATE, ACCEPTED, 1, 55))
        self.assertEqual((r["leading_amount"], r["leading_bidder"], r["bid_count"]),
                         (130, 42, 1))
        self.assertNotEqual(r["leading_hlc"], 0)
        self.assertGreater(r["close_at_ms"], 0)
        self.assertGreater(r["node_hlc"], r["leading_hlc"])
        r = c.ask(query(56, 424242))
        self.assertEqual((r["status"], r["state"], r["leading_amount"]),
                         (UNKNOWN_AUCTION, 0, 0))

    def test_watch_unwatch_counts_viewers_and_replays(self):
        c = self.client
        self.assertEqual(c.ask(watch(1, 8, 1001))["viewers"], 1)
        self.assertEqual(c.ask(watch(1, 8, 1002))["viewers"], 2)
        again = c.ask(watch(1, 8, 1002))
        self.assertEqual((again["flags"], again["viewers"]), (REPLAYED, 2))
        self.assertEqual(c.ask(watch(2, 8, 1001, unwatch=True))["viewers"], 1)
        self.assertEqual(c.ask(watch(2, 8, 1002, unwatch=True))["viewers"], 0)
        # More leaving than joined never shows below zero.
        self.assertEqual(c.ask(watch(3, 8, 1003, unwatch=True))["viewers"], 0)
        # Same key, other type: conflict.
        self.assertEqual(c.ask(watch(1, 8, 1001, unwatch=True))["status"], CONFLICT)
        self.assertEqual(c.ask(watch(1, 424242, 77))["status"], UNKNOWN_AUCTION)
        zero = watch(0, 8, 1001)
        self.assertEqual(c.ask(zero)["status"], MALFORMED)

    def test_arp_and_ping_are_answered(self):
        self.client.ask(query(1, 1))  # resolves the node's MAC by ARP
        neigh = subprocess.run(["ip", "neigh", "show", NODE_IP], capture_output=True,
                               text=True).stdout
        self.assertIn(self.node.mac.hex(":"), neigh)
        ping = subprocess.run(["ping", "-c", "2", "-W", "2", "-i", "0.2", NODE_IP],
                              capture_output=True, text=True)
        self.assertEqual(ping.returncode, 0, ping.stdout + ping.stderr)

    def test_vlan_tagged_bid_gets_tagged_reply(self):
        raw = RawPort("bpt0")
        try:
            raw.send(udp_frame(self.node.mac, raw.mac, bid(4242, 9, 1, 100), vlan=100))
            reply, tci = raw.recv_udp_from_node(timeout=3, with_vlan=True)
        finally:
            raw.close()
        self.assertIsNotNone(reply, "no reply to a VLAN-tagged bid")
        self.assertEqual(tci, 100, "the reply lost its VLAN tag")
        r = parse_reply(reply[42:])
        self.assertEqual((r["request_id"], r["status"]), (4242, ACCEPTED))

    def test_reply_headers_and_checksums(self):
        raw = RawPort("bpt0")
        raw.send(udp_frame(self.node.mac, raw.mac, query(31337, 1), sport=45678))
        frame = raw.recv_udp_from_node(timeout=3)
        raw.close()
        self.assertIsNotNone(frame)
        self.assertEqual(frame[0:6], raw.mac)
        self.assertEqual(frame[6:12], self.node.mac)
        ip = frame[14:34]
        self.assertEqual(csum(ip), 0, "IPv4 header checksum")
        self.assertEqual(ip[12:16], bytes([198, 18, 0, 2]))
        self.assertEqual(ip[16:20], bytes([198, 18, 0, 1]))
        udp = frame[34:]
        sport, dport, ulen, _ = struct.unpack(">HHHH", udp[:8])
        self.assertEqual((sport, dport, ulen), (PORT, 45678, 8 + 88))
        pseudo = ip[12:20] + struct.pack(">BBH", 0, 17, ulen)
        self.assertEqual(csum(pseudo + udp[:ulen]), 0, "UDP checksum")
        self.assertEqual(parse_reply(udp[8:ulen])["request_id"], 31337)

    def test_random_datagram_storm_is_survived(self):
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        c = Client(timeout=0.05)
        for i in range(3000):
            n = rng.randrange(0, 120)
            payload = bytes(rng.getrandbits(8) for _ in range(n))
            if i % 3 == 0 and n >= 8:  # right magic, random rest
                payload = b"\xB1\xD5" + payload[2:]
            c.send(payload)
            while c.recv(timeout=0) is not None:
                pass
        c.close()
        r = self.client.ask(bid(self.next_rid(), 10, 5, 100))
        self.assertEqual(r["status"], ACCEPTED)


if __name__ == "__main__":
    main("proto")
