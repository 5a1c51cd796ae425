#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A seeded userspace link between two node ports, for delay and reordering
(this machine's kernel has no netem). Run by cluster.py inside the
cluster's namespace, one process per link, as etcd's robustness tests put a
proxy between peers.

It holds an AF_PACKET socket on each of the two bridge ports (the kernel
side of each node's tap). A frame node A sends (seen as incoming on port A)
whose destination is node B's MAC, or a broadcast/multicast, is held for
delay + uniform(0, jitter) ms and then written to port B, which hands it to
node B; and the other way round. The bridge itself drops the frames between
the two ports while the link is diverted (cluster.py's nft rule), so each
frame arrives once, late. With --reorder the frames leave in deadline order
(jitter reorders them); without, a frame never leaves before the one ahead
of it (delay only). The random stream comes from --seed alone.

Bounded: it exits after --lifetime seconds, when its parent dies, or on
SIGTERM; at most --max-queue frames wait (more are dropped and counted).
Prints `ready` once both sockets are bound and, at exit, one line of counts."""

import argparse
import heapq
import os
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="bridge port of node A (its tap)")
    p.add_argument("--a-mac", required=True, help="node A's MAC (aa:bb:cc:dd:ee:ff)")
    p.add_argument("--b", required=True)
    p.add_argument("--b-mac", required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--reorder", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=600.0, help="seconds before it exits")
    p.add_argument("--max-queue", type=int, default=65536)
    p.add_argument("--loss", type=float, default=0.0, help="drop a frame with this chance")
    p.add_argument("--dup", type=float, default=0.0, help="send a frame twice with this chance")
    a = p.parse_args(argv)
    if a.delay_ms < 0 or a.jitter_ms < 0:
        p.error("--delay-ms and --jitter-ms must be >= 0")
    if not (0 <= a.loss <= 1 and 0 <= a.dup <= 1):
        p.error("--loss and --dup are chances, 0..1")
    return a


def mac(text):
    raw = bytes.fromhex(text.replace(":", ""))
    if len(raw) != 6:
        raise SystemExit(f"netfault: bad MAC {text!r}: want aa:bb:cc:dd:ee:ff")
    return raw


class Link:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.socks = {}
        for name in (args.a, args.b):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((name, 0))
            s.setblocking(False)
            self.socks[name] = s
        # What arrives on one port and is for the other node goes out there.
        self.route = {args.a: (args.b, mac(args.b_mac)), args.b: (args.a, mac(args.a_mac))}
        self.queue = []  # (due, seq, out_port, frame)
        self.seq = 0
        self.last_due = {args.a: 0.0, args.b: 0.0}
        self.forwarded = self.dropped = self.lost = self.duplicated = 0

    def due_time(self, out_port):
        a = self.args
        due = time.monotonic() + (a.delay_ms + self.rng.uniform(0.0, a.jitter_ms)) / 1000.0
        if not a.reorder:  # keep order per direction: never before the frame ahead
            due = max(due, self.last_due[out_port])
            self.last_due[out_port] = due
        return due

    def take(self, port):
        out_port, out_mac = self.route[port]
        s = self.socks[port]
        for _ in range(256):  # bounded per wakeup
            try:
                frame, addr = s.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:  # the port went down (its node was killed)
                return
            if addr[2] == socket.PACKET_OUTGOING:  # ours or the bridge's, toward the node
                continue
            dst = frame[:6]
            if dst != out_mac and not dst[0] & 1:
                continue
            # Loss and duplication here too: the bridge's nft rules do not see
            # a diverted link's frames. A copy gets its own delay, so with
            # --reorder it may arrive before the original.
            if self.rng.random() < self.args.loss:
                self.lost += 1
                continue
            copies = 2 if self.rng.random() < self.args.dup else 1
            self.duplicated += copies - 1
            for _ in range(copies):
                if len(self.queue) >= self.args.max_queue:
                    self.dropped += 1
                    continue
                self.seq += 1
                heapq.heappush(self.queue, (self.due_time(out_port), self.seq, out_port, frame))

    def flush(self):
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            _, _, port, frame = heapq.heappop(self.queue)
            try:
                self.socks[port].send(frame)
                self.forwarded += 1
            except OSError:  # the node is gone (killed): its port vanished
                self.dropped += 1

    def run(self, parent):
        end = time.monotonic() + self.args.lifetime
        while time.monotonic() < end and os.getppid() == parent:
            timeout = 0.2
            if self.queue:
                timeout = min(timeout, max(0.0, self.queue[0][0] - time.monotonic()))
            try:
                ready, _, _ = select.select(list(self.socks.values()), [], [], timeout)
            except OSError:
                return
            for port, s in self.socks.items():
                if s in ready:
                    self.take(port)
            self.flush()


def main(argv):
    args = parse_args(argv)
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    link = Link(args)
    print("ready", flush=True)
    try:
        link.run(parent)
    finally:
        print(f"netfault {args.a}<->{args.b}: forwarded {link.forwarded} dropped {link.dropped}"
              f" lost {link.lost} duplicated {link.duplicated}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
