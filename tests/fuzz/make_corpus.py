#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the fuzz seed corpus: every message type, a few malformed ones,
and whole Ethernet frames (UDP BID, VLAN, ARP request, ICMP echo)."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from bptest import bid, header, query, udp_frame, watch  # noqa: E402

NODE = bytes.fromhex("020000000002")
PEER = bytes.fromhex("020000000001")
out = os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
seeds = {
    "bid": bid(1, 2, 3, 100, 5),
    "query": query(1, 2),
    "watch": watch(1, 2, 3),
    "unwatch": watch(1, 2, 3, unwatch=True),
    "bid_reply": header(2, 64) + bytes(56),
    "bid_v2": header(1, 48, version=2) + bid(1, 2, 3, 4)[8:],
    "bid_short": header(1, 20) + bid(1, 2, 3, 4)[8:20],
    "bid_zero_amount": bid(1, 2, 3, 0),
    "peer_type": header(0x10, 16) + bytes(8),
    "frame_bid": udp_frame(NODE, PEER, bid(1, 2, 3, 100), src_ip="198.18.0.1",
                           dst_ip="198.18.0.2"),
    "frame_vlan_query": udp_frame(NODE, PEER, query(7, 8), vlan=100),
    "frame_arp": b"\xff" * 6 + PEER + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1)
    + PEER + bytes([198, 18, 0, 1]) + bytes(6) + bytes([198, 18, 0, 2]),
}
icmp = bytearray(b"\x08\x00\x00\x00\x12\x34\x00\x01ping")
frame = bytearray(udp_frame(NODE, PEER, bytes(4)))
frame[23] = 1  # protocol ICMP
frame[34:] = icmp
seeds["frame_icmp"] = bytes(frame)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
