#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A short cluster demo (README): three bidplane nodes, each on a net_tap
port in a network namespace of its own, joined by a bridge, replicating to
each other. A client bids on random nodes; after a partition of node 3
from the others heals, every node answers QUERY the same way. bidctl status
shows each node's peers (reachable, lag, clock offset) and bidstat the
per-peer traffic. Everything it makes is removed at the end.

Run as root after ./scripts/demo.sh has built the tree (or via
scripts/cluster_demo.sh, which builds first)."""

import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
BUILD = os.path.join(HERE, "..", "build")
# The test suite runs it with its own build's programs.
BIDPLANE = os.environ.get("BP_BIDPLANE", os.path.join(BUILD, "bidplane"))
BIDCTL = os.environ.get("BP_BIDCTL", os.path.join(BUILD, "bidctl"))
BIDSTAT = os.environ.setdefault("BP_BIDSTAT", os.path.join(BUILD, "bidstat"))

import bptest  # noqa: E402
import cluster  # noqa: E402

N = 3
AUCTIONS = 10


def bids(c, rng, count, nodes, rid):
    """count bids on random nodes; returns the next request id and the
    number accepted."""
    client = c.client(1)
    accepted = 0
    for _ in range(count):
        rid += 1
        client.to(rng.choice(nodes))
        auction = rng.randint(1, AUCTIONS)
        r = client.ask(bptest.bid(rid, auction, rng.randint(1, 500), rng.randint(100, 10000)))
        accepted += r["status"] == bptest.ACCEPTED
    return rid, accepted


def table(c, rid):
    """QUERY of every auction on every node, as rows."""
    client = c.client(1)
    rows = []
    for a in range(1, AUCTIONS + 1):
        row = []
        for i in range(1, N + 1):
            rid += 1
            client.to(i)
            r = client.ask(bptest.query(rid, a))
            row.append((r["leading_amount"], r["leading_bidder"], r["bid_count"]))
        rows.append((a, row))
    return rid, rows


def print_table(rows):
    print(f"{'auction':>7}  " + "  ".join(f"{'node ' + str(i):>22}" for i in range(1, N + 1)))
    for a, row in rows:
        cells = [f"{amt:>7} by {bidder:>4}, {n:>3} bids" for amt, bidder, n in row]
        same = "" if len(set(row)) == 1 else "   <- differ"
        print(f"{a:>7}  " + "  ".join(cells) + same)


def wait_serving(c):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all('"serving":true' in c.node(i).bidctl("--json", "status").stdout
               for i in range(1, N + 1)):
            return
        time.sleep(0.1)
    raise SystemExit("the nodes did not start serving in 30 s")


def main():
    cluster.require_root()
    rng = random.Random(7)
    with cluster.Cluster("demo", binary=BIDPLANE, bidctl=BIDCTL) as c:
        key = os.path.join(c.root, "cluster.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, os.urandom(32).hex().encode())
        os.close(fd)

        def peers(i):
            args = ["--cluster-key-file", key]
            for j in range(1, N + 1):
                if j != i:
                    args += ["--peer", f"{j}@{cluster.node_ip(j)}"]
            return args

        print(f"== three nodes at {', '.join(cluster.node_ip(i) for i in range(1, N + 1))}, "
              f"each with the other two as --peer, auctions 1-{AUCTIONS}")
        c.start(N, args=["--open-range", f"1-{AUCTIONS}", "--reserve", "100", "--duration",
                         "600"], node_args=peers)
        wait_serving(c)
        rid, ok = bids(c, rng, 300, [1, 2, 3], 0)
        print(f"== 300 bids on random nodes: {ok} accepted")
        c.partition([[1, 2], [3]])
        print("== partition: node 3 cut off from 1 and 2 (clients still reach all three)")
        rid, ok1 = bids(c, rng, 150, [1, 2], rid)
        rid, ok3 = bids(c, rng, 150, [3], rid)
        print(f"== 150 bids on nodes 1-2 ({ok1} accepted), 150 on node 3 ({ok3} accepted)")
        time.sleep(0.5)
        rid, rows = table(c, rid)
        print_table(rows)
        c.heal()
        healed = time.monotonic()
        same = False
        while not same and time.monotonic() - healed < 20:
            time.sleep(0.1)
            rid, rows = table(c, rid)
            same = all(len(set(row)) == 1 for _, row in rows)
        print(f"== healed; {time.monotonic() - healed:.1f} s later:")
        print_table(rows)
        print("== every node answers the same" if same else "== the nodes still differ")
        for i in range(1, N + 1):
            print(f"== bidctl status (node {i})")
            print(c.node(i).bidctl("status").stdout, end="")
        print("== bidstat --once (node 1), the peers section")
        out = subprocess.run([BIDSTAT, "--once", c.node(1).stats_name], capture_output=True,
                             text=True, timeout=30)
        lines = out.stdout.splitlines()
        start = next((k for k, line in enumerate(lines) if line.startswith("peers")), None)
        print("\n".join(lines[start:start + N + 1]) if start is not None else out.stdout)
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
