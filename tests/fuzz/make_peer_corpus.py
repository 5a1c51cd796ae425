#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the seed corpus of fuzz_peer: one message of each peer type
(docs/PEER_PROTOCOL.md), tagged with the fuzz target's key, plus a few
refused ones. The encoder here is written from the document alone (Python's
hashlib BLAKE2b, not libsodium), so the seeds also cross-check the C codec:
the unit tests' golden vectors are these messages.

    make_peer_corpus.py           writes tests/fuzz/corpus_peer/
    make_peer_corpus.py --golden  prints the golden messages as hex
"""
import hashlib
import os
import struct
import sys

MAGIC, VERSION = 0xB1D5, 1
HEARTBEAT, ACK, DELTA, SYNC_REQUEST, SYNC, KEYS = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
PERSON = b"bidplane-peer-v1"
TEST_KEY = bytes(range(1, 33))  # the unit tests' and the fuzz target's key
HLC = (1700000000000 << 16) | 3


def tag(data, key=TEST_KEY):
    return hashlib.blake2b(data, digest_size=16, key=key, person=PERSON).digest()


def message(mtype, body, sender=1, receiver=2, incarnation=7, seq=1, hlc=HLC, key=TEST_KEY,
            version=VERSION, flags=0):
    length = 40 + len(body) + 16
    head = struct.pack(">HBBHHHHIQQQ", MAGIC, version, mtype, length, flags, sender, receiver,
                       0, incarnation, seq, hlc)
    data = head + body
    return data + tag(data, key)


def counter(slots):
    return bytes([len(slots)]) + b"".join(struct.pack(">HQ", n, v) for n, v in slots)


def entry(auction, definition=None, leader=None, bid_count=None, viewers=None, dups=None):
    parts = ((definition is not None) | (leader is not None) << 1
             | (bid_count is not None) << 2 | (viewers is not None) << 3
             | (dups is not None) << 4)
    out = struct.pack(">QB", auction, parts)
    if definition is not None:
        hlc, node, phase, reserve, increment, close_at = definition
        out += struct.pack(">QHBQQQ", hlc, node, phase, reserve, increment, close_at)
    if leader is not None:
        out += struct.pack(">QQQH", *leader)
    if bid_count is not None:
        out += counter(bid_count)
    if viewers is not None:
        out += counter(viewers[0]) + counter(viewers[1])
    if dups is not None:
        out += counter(dups)
    return out


def keys(*records):
    """KEYS body: (bidder, request_id, auction, amount, hlc, node) each."""
    return struct.pack(">H", len(records)) + b"".join(struct.pack(">QQQQQH", *k) for k in records)


def entries(*es):
    return struct.pack(">H", len(es)) + b"".join(es)


DEF42 = (HLC - 5, 1, 1, 100, 10, 1700000600000)
GOLDEN = {
    "heartbeat": message(HEARTBEAT, struct.pack(">QQQ", 1000, 2000, 3000)),
    # From a node with --etcd: flags bit 0, FENCED (LEADERSHIP.md "Mixed clusters").
    "heartbeat_fenced": message(HEARTBEAT, struct.pack(">QQQ", 1000, 2000, 3000), flags=1),
    "ack": message(ACK, struct.pack(">QB", 9, 2) + struct.pack(">QQQQ", 1, 3, 5, 5),
                   sender=2, receiver=1, incarnation=9, seq=5),
    "delta": message(DELTA, entries(
        entry(42, definition=DEF42, leader=(150, HLC - 1, 77, 1), bid_count=[(1, 3), (3, 1)],
              viewers=([(1, 2)], [(2, 1)])),
        entry(43, leader=(500, HLC - 2, 78, 2))), seq=2),
    "sync_request": message(SYNC_REQUEST, struct.pack(">QQ", 0x1234, 0), sender=2, receiver=1,
                            incarnation=9, seq=6),
    "sync": message(SYNC, struct.pack(">QQQ", 0x1234, 0, 0) + entries(
        entry(42, definition=(HLC, 2, 2, 100, 10, 1700000600000))), seq=3),
    "delta_dups": message(DELTA, entries(
        entry(42, bid_count=[(1, 3), (2, 2)], dups=[(2, 1)])), sender=2, receiver=1,
        incarnation=9, seq=7),
    "keys": message(KEYS, keys((77, 5, 42, 150, HLC - 1, 1), (77, 6, 42, 160, HLC, 1),
                               (78, 1, 43, 500, HLC - 2, 1)), seq=4),
}


def refused():
    hb = GOLDEN["heartbeat"]
    return {
        "bad_mac": message(HEARTBEAT, struct.pack(">QQQ", 1, 2, 3), key=bytes(32)),
        "bad_version": message(HEARTBEAT, struct.pack(">QQQ", 1, 2, 3), version=2),
        "short": hb[:40],
        "bad_header_flags": message(HEARTBEAT, struct.pack(">QQQ", 1, 2, 3), flags=2),
        "unknown_type": message(0x1F, b""),
        "malformed_delta": message(DELTA, entries(entry(5, leader=(0, 1, 1, 1)))),
        "empty_sync": message(SYNC, struct.pack(">QQQ", 9, 100, 0) + entries()),
        "empty_keys": message(KEYS, keys()),
        "unsorted_keys": message(KEYS, keys((78, 1, 43, 500, HLC, 1), (77, 5, 42, 150, HLC, 1))),
        "client_bid": struct.pack(">HBBHH", MAGIC, 1, 1, 48, 0) + bytes(40),
    }


def main():
    if "--golden" in sys.argv:
        for name, data in GOLDEN.items():
            print(name, data.hex())
        return
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_peer")
    os.makedirs(out, exist_ok=True)
    seeds = dict(GOLDEN)
    seeds.update(refused())
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
