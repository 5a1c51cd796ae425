#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The invariant checker: reads a history (history.jsonl, written by run.py)
and says which of the cluster's promises it breaks. Independent of the
node's code: it knows the client protocol (PROTOCOL.md), the promises
(CLUSTER.md, issue 15) and the history's records, nothing else.

    python3 tests/chaos/check.py OUT/fiber_cut-seed1/history.jsonl

prints one JSON object (verdict, violations, counts) and exits 0 when no
violation is left unexplained, 1 otherwise, 3 when the only ones left are
bidctl's silence inside a host stall the runner measured (host_stall).

History records (one JSON object a line, `type` first; times `t` are the
runner's CLOCK_MONOTONIC in ns; meta gives one (monotonic, wall) pair):
  meta     experiment, seed, nodes, drift_ms, durability, clock_offsets_ms,
           start_mono_ns, start_wall_ns
  send     client, node, rid, auction, bidder, amount, attempt, copy
  reply    client, node, rid, auction, status, replayed, hlc,
           leading_amount, leading_bidder (every BID_REPLY datagram received)
  fault    kind, args, and what it did (groups, node, ...)
  life     node, life: node (re)started and serving its port
  sample   t0, t1, node, life, ok, serving, reason, hlc, max_lag_ms
           (a bidctl --json status taken between t0 and t1)
  settle   node, life, auction, bidder, amount, hlc_ms, logical, bids
           (a "settled auction" line of the node's log)
  log      node, life, line: every line of the node's output, t its arrival
  clock    node, offset_ms, previous_ms, ok, why: bidctl clock-offset run
           (clock_jump, clock_strobe, heal, restart), t its start
  final    node, auction, view (bidctl --json query), or error
  etcd_settled ok, keys [{key, auction, value, version, create_revision,
           mod_revision}]: etcd's /<cluster>/settled/* at the end
  converged ok, seconds
  host     t0, t1, fsync_ms, late_ms, psi (ongoing): the runner's host probe
           (a 4 KiB fsync in the cluster's temp dir every 0.25 s, how late
           its sleep woke, the kernel's pressure totals)
  end      leftovers

The invariants (issue 15's numbering):
  I1 no acknowledged ACCEPTED bid lost: per auction and node, bid_count is
     at least the distinct keys acknowledged ACCEPTED and at most those plus
     the keys with an unanswered send (a reply lost, the bid perhaps taken);
     the leading amount is at least the highest acknowledged one.
  I2 convergence: every node's final view of every auction touched is the
     same (state, leading_*, bid_count, viewers, close_at_ms).
  I3 the converged leader is the maximum of the ACCEPTED bids by the order
     (higher amount, earlier HLC, lower node): no acknowledged bid beats it,
     and it is an acknowledged bid or one whose reply was lost.
  I4 per node and auction, ACCEPTED amounts increase strictly with the HLC.
  I5 settlement: without etcd each node settles an auction at most once
     (its log), every node that settled shows the same winner, and the
     winner is I3's maximum among the bids stamped before the close time;
     no bid stamped at or after the close is ACCEPTED. With etcd
     (check_fenced, promise 6): one record on every node and in etcd (a key
     written once), every closed auction settled, the winner the maximum of
     the bids ACCEPTED before the close and the converged leader, tokens
     never smaller in etcd's write order, no write by a token a greater
     leading one superseded before the close.
  I6 no ACCEPTED while NOT_SERVING: what a history can show is samples,
     not the node's state between them. An ACCEPTED reply is a violation
     when the evidence surely before its send and surely after its reply
     (a status sample naming a quarantine reason (QUARANTINE: not
     hlc_ceiling, a wait for a durable ceiling akin to OVERLOADED), read
     between bidctl's start and end; a first NOT_SERVING reply of that
     node, between its send and receipt, when such a sample is near and no
     change of its clock offset came within EVIDENCE_GAP_S before it; a log
     line "not taking bids"; same life, all within EVIDENCE_GAP_S) both say not
     serving, with no serving evidence between (nor a "taking bids" line
     up to LOG_SLACK_S after): the node said NOT_SERVING on both sides of
     it. A flip to serving and back inside that gap that the node does not
     log cannot be told from a violation.
  I7 every REPLAYED reply repeats an original answer to the key (status and
     HLC), when the originals were all seen (no unanswered send); a node
     answers a key ACCEPTED once (a second first answer with another stamp:
     it forgot the key, promise 5 after a restart).
  I8 HLC stamps of a node's ACCEPTED replies are unique per node (distinct
     keys, distinct stamps), every stamp after a restart is above every
     stamp of the lives before, and no stamp's physical part is more than
     drift_ms ahead of real time at the reply's receipt.
"""

import argparse
import json
import sys
from collections import defaultdict

ACCEPTED, TOO_LOW, CLOSED, UNKNOWN_AUCTION = 0, 1, 2, 3
OVERLOADED, NOT_SERVING = 5, 7
FINAL = (ACCEPTED, TOO_LOW, CLOSED, UNKNOWN_AUCTION)
STATE_KEYS = ("state", "leading_amount", "leading_bidder", "leading_hlc", "bid_count",
              "viewers", "close_at_ms")
SETTLEMENT_KEYS = ("amount", "bidder", "hlc", "node_id", "fencing_token", "settled_at_ms")
EVIDENCE_GAP_S = 1.0
QUARANTINE = ("clock", "peer_clock", "fencing", "recovering")
LOG_SLACK_S = 0.2
NAMES = {
    "I1": "I1_no_lost_ack", "I2": "I2_convergence", "I3": "I3_leader_is_max",
    "I4": "I4_increasing_per_node", "I5": "I5_settlement", "I6": "I6_not_serving",
    "I7": "I7_replayed_repeats", "I8": "I8_hlc",
}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def hlc_ms(hlc):
    return hlc >> 16


def fmt_hlc(hlc):
    return f"{hlc >> 16}.{hlc & 0xFFFF}"


class History:
    """The records of one run, indexed for the checks."""

    def __init__(self, records):
        self.records = records
        self.meta = next((r for r in records if r["type"] == "meta"), {})
        self.sends = [r for r in records if r["type"] == "send"]
        self.replies = [r for r in records if r["type"] == "reply"]
        self.faults = [r for r in records if r["type"] == "fault"]
        self.samples = [r for r in records if r["type"] == "sample"]
        self.settles = [r for r in records if r["type"] == "settle"]
        self.finals = [r for r in records if r["type"] == "final"]
        self.lives = [r for r in records if r["type"] == "life"]
        self.etcd_settled = next((r for r in records if r["type"] == "etcd_settled"), None)
        self.kills = [f for f in self.faults if f["kind"] == "kill" and f.get("ok", True)]
        self.requests = {}  # rid -> (auction, bidder, amount)
        for s in self.sends:
            self.requests.setdefault(s["rid"], (s["auction"], s["bidder"], s["amount"]))
        # Sends per (rid, node) against the replies from that node: a send
        # not answered may have been taken, its reply lost.
        sent = defaultdict(int)
        for s in self.sends:
            sent[(s["rid"], s["node"])] += 1
        answered = defaultdict(int)
        for r in self.replies:
            answered[(r["rid"], r["node"])] += 1
        self.unanswered = {rid for (rid, node), n in sent.items() if answered[(rid, node)] < n}
        self.acked = defaultdict(list)  # auction -> ACCEPTED replies (first per rid and node)
        seen = set()
        for r in self.replies:
            if r["status"] == ACCEPTED and (r["rid"], r["node"]) not in seen:
                seen.add((r["rid"], r["node"]))
                self.acked[r["auction"]].append(r)
        self.views = defaultdict(dict)  # auction -> node -> view
        self.final_errors = []
        for f in self.finals:
            if f.get("view") is not None:
                self.views[f["auction"]][f["node"]] = f["view"]
            else:
                self.final_errors.append(f)
        self.touched = sorted({s["auction"] for s in self.sends} | set(self.views))

    def wall_ms(self, t):
        """Real time (Unix ms) at monotonic t."""
        return (self.meta["start_wall_ns"] + t - self.meta["start_mono_ns"]) / 1e6

    def secs(self, t):
        return (t - self.meta.get("start_mono_ns", 0)) / 1e9

    def life_of(self, node, t):
        """Which life of `node` a reply received at t came from."""
        life = 1
        for r in self.lives:
            if r["node"] == node and r["t"] <= t:
                life = max(life, r["life"])
        return life

    def possible(self, auction):
        """Requests for the auction, not acknowledged ACCEPTED, with an
        unanswered send: maybe taken, their reply lost."""
        acked = {r["rid"] for r in self.acked[auction]}
        return {rid for rid in self.unanswered
                if self.requests[rid][0] == auction and rid not in acked}


class Result:
    def __init__(self):
        self.violations = []

    def add(self, inv, detail, **where):
        self.violations.append(dict(invariant=NAMES[inv], detail=detail, **where))


def beats(a, b):
    """Whether bid a = (amount, hlc, node) is ahead of b under the order
    (higher amount; on equal amounts the earlier HLC; then the lower node).
    None for an unknown field compares as a tie."""
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[1] is None or b[1] is None or a[1] == b[1]:
        return a[2] is not None and b[2] is not None and a[2] < b[2]
    return a[1] < b[1]


def max_bid(replies):
    best = None
    for r in replies:
        bid = (r["amount"], r["hlc"], r["node"], r["bidder"], r["rid"])
        if best is None or beats(bid, best):
            best = bid
    return best


def enrich(h, replies):
    """ACCEPTED replies with their request's amount and bidder."""
    out = []
    for r in replies:
        _, bidder, amount = h.requests.get(r["rid"], (None, None, None))
        out.append(dict(r, amount=amount, bidder=bidder))
    return out


def check_lost(h, res):
    for a in h.touched:
        acked = {r["rid"] for r in h.acked[a]}
        possible = h.possible(a)
        top = max((h.requests[rid][2] for rid in acked), default=0)
        for node, v in sorted(h.views[a].items()):
            if v["bid_count"] < len(acked):
                res.add("I1", f"auction {a}: node {node} counts {v['bid_count']} bids, but "
                        f"{len(acked)} distinct bids were acknowledged ACCEPTED",
                        auction=a, node=node, short=len(acked) - v["bid_count"])
            elif v["bid_count"] > len(acked) + len(possible):
                res.add("I1", f"auction {a}: node {node} counts {v['bid_count']} bids, more "
                        f"than the {len(acked)} acknowledged plus {len(possible)} unanswered: "
                        "a bid counted twice", auction=a, node=node,
                        extra=v["bid_count"] - len(acked) - len(possible))
            if v["leading_amount"] < top:
                above = sorted(rid for rid in acked if h.requests[rid][2] > v["leading_amount"])
                res.add("I1", f"auction {a}: node {node} leads with {v['leading_amount']}, "
                        f"below the acknowledged ACCEPTED {top}: that bid is lost",
                        auction=a, node=node, rids=above)


def check_convergence(h, res):
    nodes = h.meta.get("nodes", 0)
    for f in h.final_errors:
        res.add("I2", f"node {f['node']} gave no final view of auction {f['auction']}: "
                f"{f.get('error')}", auction=f["auction"], node=f["node"])
    for a in h.touched:
        views = h.views[a]
        if not views:
            continue
        if len(views) < nodes:
            missing = sorted(set(range(1, nodes + 1)) - set(views))
            if not any(f["auction"] == a for f in h.final_errors):
                res.add("I2", f"auction {a}: no final view from nodes {missing}", auction=a)
        shown = {n: tuple(v.get(k) for k in STATE_KEYS) for n, v in views.items()}
        if len(set(shown.values())) > 1:
            diff = {n: {k: v.get(k) for k in STATE_KEYS} for n, v in sorted(views.items())}
            # Which nodes stand apart: those off the view most nodes show.
            common = max(set(shown.values()), key=list(shown.values()).count)
            apart = sorted(n for n, s in shown.items() if s != common)
            res.add("I2", f"auction {a}: nodes differ: {diff}", auction=a, nodes=apart)


def check_leader(h, res, auction, view, bids, what, inv):
    """The view's leader against the bids that count (I3, and I5 with the
    bids stamped before the close)."""
    best = max_bid(bids)
    lead = (view["leading_amount"], view["leading_hlc"], None)
    possible = [h.requests[rid] for rid in h.possible(auction)]
    if best is not None and beats(best[:3], lead):
        res.add(inv, f"auction {auction}: {what} {view['leading_amount']} "
                f"(bidder {view['leading_bidder']}, hlc {fmt_hlc(view['leading_hlc'])}), but "
                f"the acknowledged bid {best[0]} (bidder {best[3]}, hlc {fmt_hlc(best[1])}, "
                f"node {best[2]}, rid {best[4]}) is ahead of it", auction=auction,
                rids=[best[4]])
        return
    if view["leading_amount"] == 0:
        return
    is_acked = any(b["amount"] == view["leading_amount"] and b["bidder"] == view[
        "leading_bidder"] and b["hlc"] == view["leading_hlc"] for b in bids)
    # Or a copy whose reply was lost: also of a request acknowledged by
    # another node (its first try taken by a node that never answered).
    copies = [h.requests[rid] for rid in h.unanswered if h.requests[rid][0] == auction]
    is_possible = any(p[2] == view["leading_amount"] and p[1] == view["leading_bidder"]
                      for p in possible + copies)
    if not (is_acked or is_possible):
        res.add(inv, f"auction {auction}: {what} {view['leading_amount']} (bidder "
                f"{view['leading_bidder']}, hlc {fmt_hlc(view['leading_hlc'])}), which no "
                "acknowledged bid and no unanswered request has", auction=auction)


def check_leaders(h, res):
    for a in h.touched:
        for node, v in sorted(h.views[a].items()):
            n = len(res.violations)
            check_leader(h, res, a, v, enrich(h, h.acked[a]), f"node {node} leads with", "I3")
            for x in res.violations[n:]:
                x["node"] = node


def check_increasing(h, res):
    per = defaultdict(list)  # (node, auction) -> [(hlc, amount, rid)]
    for a, replies in h.acked.items():
        for r in replies:
            if not r["replayed"]:
                per[(r["node"], a)].append((r["hlc"], h.requests[r["rid"]][2], r["rid"], r["t"]))
    for (node, a), bids in sorted(per.items()):
        bids.sort()
        for prev, cur in zip(bids, bids[1:]):
            if cur[1] <= prev[1]:
                res.add("I4", f"auction {a}, node {node}: ACCEPTED {cur[1]} at hlc "
                        f"{fmt_hlc(cur[0])} (rid {cur[2]}) after ACCEPTED {prev[1]} at hlc "
                        f"{fmt_hlc(prev[0])} (rid {prev[2]})", auction=a, node=node,
                        lives=[h.life_of(node, prev[3]), h.life_of(node, cur[3])],
                        rids=[prev[2]])


def check_settlement(h, res):
    logged = defaultdict(list)  # (node, auction) -> settle records
    for s in h.settles:
        logged[(s["node"], s["auction"])].append(s)
    for (node, a), recs in sorted(logged.items()):
        if len(recs) > 1:
            res.add("I5", f"auction {a}: node {node} settled it {len(recs)} times (lives "
                    f"{[r['life'] for r in recs]})", auction=a, node=node)
    by_auction = defaultdict(dict)
    for (node, a), recs in logged.items():
        by_auction[a][node] = recs[-1]
    for a, recs in sorted(by_auction.items()):
        winners = {n: (r["amount"], r["bidder"], r["hlc_ms"], r["logical"])
                   for n, r in recs.items()}
        if len(set(winners.values())) > 1:
            res.add("I5", f"auction {a}: nodes settled different winners "
                    f"(amount, bidder, hlc ms, logical): {dict(sorted(winners.items()))}",
                    auction=a)
    for (node, a), recs in sorted(logged.items()):
        v = h.views[a].get(node)
        w = recs[-1]
        if v and (v["leading_amount"], v["leading_bidder"], v["leading_hlc"]) != (
                w["amount"], w["bidder"], (w["hlc_ms"] << 16) | w["logical"]):
            res.add("I5", f"auction {a}: node {node} settled on {w['amount']} (bidder "
                    f"{w['bidder']}, hlc {w['hlc_ms']}.{w['logical']}) but shows "
                    f"{v['leading_amount']} (bidder {v['leading_bidder']}, hlc "
                    f"{fmt_hlc(v['leading_hlc'])}) at the end: the settled winner changed, "
                    "different winners over time", auction=a, node=node)
    for a in h.touched if not h.meta.get("etcd") else ():  # with etcd: check_fenced
        for node, v in sorted(h.views[a].items()):
            if not v.get("settled"):
                continue
            close = v["close_at_ms"]
            before = [b for b in enrich(h, h.acked[a]) if hlc_ms(b["hlc"]) < close]
            check_leader(h, res, a, v, before, f"node {node} settled on", "I5")
    for a, replies in h.acked.items():
        closes = {v["close_at_ms"] for v in h.views[a].values()}
        for r in replies:
            if closes and hlc_ms(r["hlc"]) >= min(closes):
                res.add("I5", f"auction {a}: node {r['node']} ACCEPTED rid {r['rid']} stamped "
                        f"{fmt_hlc(r['hlc'])}, at or after the close {min(closes)}",
                        auction=a, node=r["node"])


def settlement_of(view):
    s = view.get("settlement")
    return None if s is None else {k: s.get(k) for k in SETTLEMENT_KEYS}


def leader_tokens(h):
    """(t1, node, token) of every status that said leader: the token was
    leading (its election key the oldest) when the status was read."""
    out = []
    for r in h.samples:
        if r.get("ok") and r.get("leader") and r.get("fencing_token"):
            out.append((r["t1"], r["node"], r["fencing_token"]))
    return out


def close_slack_ms(h):
    """How early (real time) a leader may settle: its clock may be ahead by
    the drift bound, and by any offset the run gave it."""
    offsets = [x for x in h.meta.get("clock_offsets_ms", {}).values()]
    offsets += [r["offset_ms"] for r in h.records if r["type"] == "clock"]
    return h.meta.get("drift_ms", 500) + max([0] + offsets)


def check_fenced(h, res):
    """I5 with etcd (promise 6), from the final views and etcd's keys:
    - one record: every node's `settlement` of an auction is the same object
      and is etcd's /<cluster>/settled/<id>, a key written once (version 1);
    - settled: every auction closed at the end is settled (settlement waits
      for a peer or etcd, then resumes);
    - the winner: the record is the maximum (I3's order) of the bids seen
      ACCEPTED stamped before the close, and the converged leader;
    - tokens in write order: etcd's mod_revision orders the writes; a later
      write never carries a smaller token (a leader's key is created only
      once every older one is gone, and the txn compares the writer's key:
      so once token T has written, an older one can write no more);
    - no zombie: a token that a status showed superseded by a greater
      leading one before the close (less the clocks' slack) wrote nothing:
      the greater leader's key existed only once the older key was gone."""
    if not h.meta.get("etcd"):
        return
    ek = h.etcd_settled
    if ek is None or not ek.get("ok"):
        res.add("I5", "etcd's settlements (/<cluster>/settled/*) were not read at the end")
        etcd_keys = {}
    else:
        etcd_keys = {k["auction"]: k for k in ek["keys"]}
    nodes = h.meta.get("nodes", 0)
    auctions = sorted(set(h.views) | set(etcd_keys))
    for a in auctions:
        views = h.views.get(a, {})
        per = {n: settlement_of(v) for n, v in sorted(views.items())}
        key = etcd_keys.get(a)
        closed = any(v.get("state") == "closed" for v in views.values())
        if key is None and not any(per.values()):
            if closed:
                res.add("I5", f"auction {a}: closed on nodes "
                        f"{sorted(n for n, v in views.items() if v.get('state') == 'closed')} "
                        "but never settled (not in etcd, no node shows a settlement)", auction=a)
            continue
        if key is not None and key["version"] != 1:
            res.add("I5", f"auction {a}: etcd's {key['key']} was written {key['version']} "
                    "times: settled more than once", auction=a)
        want = ({k: key["value"].get(k) for k in SETTLEMENT_KEYS}
                if key is not None and isinstance(key["value"], dict) else None)
        if key is None:
            res.add("I5", f"auction {a}: nodes show settlements {per}, but etcd has no "
                    "settlement key: not written through the fenced txn", auction=a)
            want = next(x for x in per.values() if x)
        for n, x in per.items():
            if x != want:
                res.add("I5", f"auction {a}: node {n} shows settlement {x}, etcd has {want}: "
                        "not the same record on every node", auction=a, node=n)
        if len(views) < nodes:
            res.add("I5", f"auction {a}: settled, but no final view from nodes "
                    f"{sorted(set(range(1, nodes + 1)) - set(views))}", auction=a)
        if want is None:
            continue
        close = next((v["close_at_ms"] for v in views.values()), None)
        if close is not None:
            as_view = dict(leading_amount=want["amount"], leading_bidder=want["bidder"],
                           leading_hlc=want["hlc"])
            before = [b for b in enrich(h, h.acked[a]) if hlc_ms(b["hlc"]) < close]
            check_leader(h, res, a, as_view, before, "settled on", "I5")
        for n, v in sorted(views.items()):
            if (v["leading_amount"], v["leading_bidder"], v["leading_hlc"]) != (
                    want["amount"], want["bidder"], want["hlc"]):
                res.add("I5", f"auction {a}: settled on {want['amount']} (bidder "
                        f"{want['bidder']}, hlc {fmt_hlc(want['hlc'] or 0)}) but node {n} "
                        f"leads with {v['leading_amount']} (bidder {v['leading_bidder']}, hlc "
                        f"{fmt_hlc(v['leading_hlc'])}): settled before every bid accepted "
                        "before the close was merged", auction=a, node=n)
        if not want.get("fencing_token"):
            res.add("I5", f"auction {a}: settlement {want} carries no fencing token",
                    auction=a)
            continue
        if close is not None:
            led = leader_tokens(h)
            limit = close - close_slack_ms(h)
            newer = [(t, n, tok) for t, n, tok in led
                     if tok > want["fencing_token"] and h.wall_ms(t) < limit]
            if newer:
                t, n, tok = min(newer)
                res.add("I5", f"auction {a}: settled with token {want['fencing_token']}, but "
                        f"node {n} led with the greater token {tok} at {h.secs(t):.3f} s, "
                        f"before the close less {close_slack_ms(h)} ms of clock slack: a "
                        "deposed leader (a zombie) settled", auction=a)
    writes = sorted(etcd_keys.values(), key=lambda k: k["mod_revision"])
    for prev, cur in zip(writes, writes[1:]):
        pt = (prev["value"] or {}).get("fencing_token", 0) if isinstance(prev["value"],
                                                                        dict) else 0
        ct = (cur["value"] or {}).get("fencing_token", 0) if isinstance(cur["value"],
                                                                       dict) else 0
        if ct < pt:
            res.add("I5", f"auction {cur['auction']} settled at etcd revision "
                    f"{cur['mod_revision']} with token {ct}, after auction {prev['auction']} at "
                    f"revision {prev['mod_revision']} with the greater token {pt}: an older "
                    "leader wrote after a newer one", auction=cur["auction"])


def check_not_serving(h, res):
    # Evidence of a node's state, each an interval (lo, hi) in which the
    # state was read: a status sample (bidctl ran from t0 to t1), a first
    # NOT_SERVING answer (decided between its send and its reply), a log
    # line of the node (written at most LOG_SLACK_S before it arrived).
    sends = defaultdict(list)
    for s in h.sends:
        sends[(s["rid"], s["node"])].append(s["t"])

    def sent_before(r):
        return max((t for t in sends.get((r["rid"], r["node"]), []) if t <= r["t"]),
                   default=r["t"])

    evidence = defaultdict(list)  # node -> [(lo, hi, serving, what)]
    quarantine = defaultdict(list)  # node -> [(t0, t1)] of samples with a quarantine reason
    for s in h.samples:
        if not s.get("ok"):
            continue
        # Not serving for a reason of I6 (quarantined, fenced, recovering);
        # another reason (hlc_ceiling: stamps wait for a durable ceiling,
        # as bids wait with OVERLOADED) is no evidence either way.
        if not s["serving"] and s.get("reason") not in QUARANTINE:
            continue
        if not s["serving"]:
            quarantine[s["node"]].append((s["t0"], s["t1"]))
        evidence[s["node"]].append((s["t0"], s["t1"], s["serving"],
                                    f"status sample {h.secs(s['t0']):.3f}-"
                                    f"{h.secs(s['t1']):.3f} s (reason {s.get('reason')})"))
    gap = int(EVIDENCE_GAP_S * 1e9)
    # Right after a change of a node's clock offset its NOT_SERVING answers
    # have another reason than a quarantine: a jump forward moves its HLC
    # past the durable ceiling (hlc_ceiling until the service thread renews
    # it), and the node's judgement of its clock needs heartbeats after the
    # change (about 0.2 s, more under load), serving meanwhile. A
    # quarantine sample after that judgement says nothing of those answers.
    changes = defaultdict(list)  # node -> [(t, t_done + gap)] of clock changes
    for c in h.records:
        if c["type"] == "clock":
            changes[c["node"]].append((c["t"], c.get("t_done", c["t"]) + gap))
    for r in h.replies:
        # A REPLAYED answer repeats the past (I7), it says nothing of now;
        # a NOT_SERVING answer says no reason: it counts when a sample
        # within the gap names a quarantine reason, and no clock change
        # came just before it.
        if r["status"] == NOT_SERVING and not r["replayed"] and any(
                t0 - gap <= r["t"] <= t1 + gap for t0, t1 in quarantine[r["node"]]) and not any(
                c0 <= r["t"] <= c1 for c0, c1 in changes[r["node"]]):
            evidence[r["node"]].append((sent_before(r), r["t"], False,
                                        f"NOT_SERVING reply at {h.secs(r['t']):.3f} s"))
    # The node's own log says when it stops and starts taking bids (the
    # peer-clock quarantine, the end of recovery).
    for r in h.records:
        if r["type"] == "log" and "taking bids" in r["line"]:
            evidence[r["node"]].append((r["t"] - int(LOG_SLACK_S * 1e9), r["t"],
                                        "not taking bids" not in r["line"],
                                        f"log line at {h.secs(r['t']):.3f} s"))
    for r in h.replies:
        if r["status"] != ACCEPTED or r["replayed"]:
            continue
        ev = evidence.get(r["node"], [])
        send_t = sent_before(r)
        before = [e for e in ev if not e[2] and e[1] <= send_t]
        after = [e for e in ev if not e[2] and e[0] >= r["t"]]
        if not before or not after:
            continue
        b = max(before, key=lambda e: e[1])
        a = min(after, key=lambda e: e[0])
        span = (b[0], a[1] + int(LOG_SLACK_S * 1e9))
        served = any(e[2] and e[1] >= span[0] and e[0] <= span[1] for e in ev)
        life = h.life_of(r["node"], r["t"])
        if (not served and (a[1] - b[0]) / 1e9 <= EVIDENCE_GAP_S
                and h.life_of(r["node"], b[0]) == life == h.life_of(r["node"], a[1])):
            res.add("I6", f"node {r['node']} answered ACCEPTED to rid {r['rid']} (auction "
                    f"{r['auction']}, received at {h.secs(r['t']):.3f} s) between {b[3]} and "
                    f"{a[3]}, both not serving", auction=r["auction"], node=r["node"])


def check_forgotten(h, res):
    """I7, promise 5's other half: a node answers a key ACCEPTED once; a
    repeat gets REPLAYED with the original stamp. Two first answers
    ACCEPTED to one key from one node with different stamps: it forgot the
    key (a restart that lost it, or its idempotency table did)."""
    first = {}  # (node, rid) -> first ACCEPTED reply, not REPLAYED
    for r in h.replies:
        if r["status"] != ACCEPTED or r["replayed"]:
            continue
        prev = first.setdefault((r["node"], r["rid"]), r)
        if prev is not r and prev["hlc"] != r["hlc"]:
            lives = [h.life_of(r["node"], prev["t"]), h.life_of(r["node"], r["t"])]
            res.add("I7", f"node {r['node']} answered rid {r['rid']} (auction {r['auction']}) "
                    f"ACCEPTED twice, not REPLAYED: hlc {fmt_hlc(prev['hlc'])} (life {lives[0]}) "
                    f"then {fmt_hlc(r['hlc'])} (life {lives[1]}): it forgot the key",
                    auction=r["auction"], node=r["node"], lives=lives, rids=[r["rid"]],
                    forgot=True)


def check_replayed(h, res):
    originals = defaultdict(set)  # rid -> {(status, hlc)}
    for r in h.replies:
        if not r["replayed"] and r["status"] in FINAL:
            originals[r["rid"]].add((r["status"], r["hlc"]))
    for r in h.replies:
        if not r["replayed"]:
            continue
        if r["rid"] not in h.requests:
            res.add("I7", f"node {r['node']} sent REPLAYED for rid {r['rid']}, never sent",
                    node=r["node"])
            continue
        if r["status"] not in FINAL:
            res.add("I7", f"node {r['node']} sent REPLAYED with status {r['status']} for rid "
                    f"{r['rid']}: only final statuses are remembered", node=r["node"])
            continue
        if r["status"] == ACCEPTED and r["hlc"] == 0:
            res.add("I7", f"node {r['node']}: REPLAYED ACCEPTED for rid {r['rid']} with no "
                    "stamp", node=r["node"])
            continue
        if r["rid"] in h.unanswered:
            continue  # the original may be one whose reply was lost
        seen = originals.get(r["rid"], set())
        if (r["status"], r["hlc"]) not in seen:
            res.add("I7", f"node {r['node']}: REPLAYED (status {r['status']}, hlc "
                    f"{fmt_hlc(r['hlc'])}) for rid {r['rid']} (auction {r['auction']}) repeats "
                    f"no original answer {sorted(seen)}", auction=r["auction"], node=r["node"])


def check_hlc(h, res):
    drift = h.meta.get("drift_ms", 500)
    stamps = defaultdict(dict)  # node -> hlc -> rid
    lives = defaultdict(lambda: defaultdict(list))  # node -> life -> [hlc]
    for r in h.replies:
        if r["status"] != ACCEPTED or r["replayed"]:
            continue
        node = r["node"]
        other = stamps[node].setdefault(r["hlc"], r["rid"])
        if other != r["rid"]:
            res.add("I8", f"node {node} stamped rid {other} and rid {r['rid']} both "
                    f"{fmt_hlc(r['hlc'])}", node=node)
        lives[node][h.life_of(node, r["t"])].append(r["hlc"])
        ahead = hlc_ms(r["hlc"]) - h.wall_ms(r["t"])
        if ahead > drift:
            res.add("I8", f"node {node} stamped rid {r['rid']} {fmt_hlc(r['hlc'])}, "
                    f"{ahead:.0f} ms ahead of real time at its reply (bound {drift} ms)",
                    node=node, ahead_ms=round(ahead), reply_t=r["t"])
    for node, per in lives.items():
        for life in sorted(per):
            before = [x for k, v in per.items() if k < life for x in v]
            if before and min(per[life]) <= max(before):
                res.add("I8", f"node {node}, life {life}: stamp {fmt_hlc(min(per[life]))} not "
                        f"above {fmt_hlc(max(before))} of an earlier life", node=node)


CHECKS = (check_lost, check_convergence, check_leaders, check_increasing, check_settlement,
          check_fenced, check_not_serving, check_replayed, check_forgotten, check_hlc)


def check(records):
    """The violations of a history (a list of records): [{invariant, detail,
    auction?, node?}], and counts."""
    h = History(records)
    res = Result()
    for fn in CHECKS:
        fn(h, res)
    counts = dict(
        sends=len(h.sends), replies=len(h.replies),
        requests=len(h.requests),
        accepted=sum(len({r["rid"] for r in v}) for v in h.acked.values()),
        not_serving=sum(1 for r in h.replies if r["status"] == NOT_SERVING),
        replayed=sum(1 for r in h.replies if r["replayed"]),
        unanswered=len(h.unanswered), faults=len(h.faults), samples=len(h.samples),
        auctions=len(h.touched), settled=len(h.settles),
        settled_etcd=len((h.etcd_settled or {}).get("keys") or []),
        fault_kinds={k: sum(1 for f in h.faults if f["kind"] == k)
                     for k in sorted({f["kind"] for f in h.faults})})
    return h, res.violations, counts


def quarantined(h):
    """Nodes whose clock offset is beyond the drift bound for the whole run
    and that ended NOT_SERVING because of their clock: by promise 4 they
    refuse their peers' stamps (all ahead of their clock), so they cannot
    converge while their clock is wrong."""
    drift = h.meta.get("drift_ms", 500)
    offsets = {int(k): v for k, v in h.meta.get("clock_offsets_ms", {}).items()}
    out = set()
    for r in h.records:
        if r["type"] == "final_status" and r.get("status"):
            n = r["node"]
            if (abs(offsets.get(n, 0)) > drift and not r["status"].get("serving")
                    and r["status"].get("not_serving_reason") == "clock"):
                out.add(n)
    return out


def forward_offset_ms(h, node, t):
    """The largest offset ahead node's clock was given up to t (its start
    offset, or a clock record sent before t): its HLC never goes back, so
    its stamps may stay that far ahead of real time after the clock is put
    back, until real time catches up."""
    offsets = {int(k): x for k, x in h.meta.get("clock_offsets_ms", {}).items()}
    most = max(0, offsets.get(node, 0))
    for r in h.records:
        if r["type"] == "clock" and r["node"] == node and r["t"] <= t:
            most = max(most, r["offset_ms"])
    return most


ASYNC_WHY = ("durability async: every bid it takes to explain was answered ACCEPTED within "
             "--async-window-ms before its node's kill -9 (WAL.md: may be lost; window_rids)")
ASYNC_SLACK_MS = 100  # a reply read by the client after it left the node
KILL_SLACK_MS = 1000  # a reply still in the client's socket when the kill was done


def in_async_window(h, rid):
    """Whether an ACCEPTED answer to rid came from a node killed within
    --async-window-ms (plus the reply's way to the client) after it: with
    async that bid may be lost (WAL.md: the log is at most the window
    behind the replies)."""
    window = (h.meta.get("async_window_ms") or 10) + ASYNC_SLACK_MS
    for r in h.replies:
        if r["rid"] != rid or r["status"] != ACCEPTED or r["replayed"]:
            continue
        for k in h.kills:
            if k["args"].get("node") == r["node"] and k["t"] - window * MS <= r["t"] <= (
                    k.get("t_done", k["t"]) + KILL_SLACK_MS * MS):
                return True
    return False


def explain_async(h, v):
    """With async, a loss explained only by bids answered within the
    window before their node's kill."""
    rids = v.get("rids")
    if v["invariant"] == NAMES["I1"] and v.get("short"):
        a = v["auction"]
        windowed = sorted({r["rid"] for r in h.acked[a] if in_async_window(h, r["rid"])})
        if v["short"] <= len(windowed):
            v["window_rids"] = windowed
            return ASYNC_WHY
        return None
    if v["invariant"] in (NAMES["I4"], NAMES["I7"]) and len(set(v.get("lives", []))) < 2:
        return None
    if rids and all(in_async_window(h, rid) for rid in rids):
        v["window_rids"] = rids
        return ASYNC_WHY
    return None


MS = 1_000_000  # ns

LOST_COPY_S = 5.0  # a record not durable after this long turns its node NOT_SERVING (WAL.md)
LOST_COPY_WHY = (
    "a copy of an acknowledged bid was sent to a node that never answered it and was killed "
    "with -9 soon after: that node may have taken it and replicated its count before its "
    "record was durable, then lost it with its log, while the retry was accepted elsewhere; "
    "the peers keep the lost copy's count (DESIGN.md \"What others see before durability\"; "
    "lost_copy_rids)")


def lost_copies(h, auction):
    """Acknowledged keys of the auction with a send to another node that
    never answered it and was killed within LOST_COPY_S after the send, in
    the same life: a copy that node may have taken and lost."""
    out = set()
    answered = {(r["rid"], r["node"]) for r in h.replies}
    for r in h.acked[auction]:
        for s in h.sends:
            if s["rid"] != r["rid"] or s["node"] == r["node"] or (
                    s["rid"], s["node"]) in answered:
                continue
            for k in h.kills:
                if (k["args"].get("node") == s["node"]
                        and s["t"] <= k.get("t_done", k["t"])
                        and k["t"] - s["t"] <= LOST_COPY_S * 1e9
                        and h.life_of(s["node"], s["t"]) == h.life_of(s["node"], k["t"])):
                    out.add(r["rid"])
    return sorted(out)


def explain_lost_copy(h, v):
    """A bid counted once more than acknowledged, explained by copies
    lost with a killed node (LOST_COPY_WHY), as many as there are extras."""
    if v["invariant"] != NAMES["I1"] or not v.get("extra"):
        return None
    rids = lost_copies(h, v["auction"])
    if v["extra"] > len(rids):
        return None
    v["lost_copy_rids"] = rids
    return LOST_COPY_WHY


def explain(h, v):
    """Why a violation is expected of today's node, or None (a bug).
    Only the limitations the cluster documents: a node quarantined for its
    clock does not converge (promise 4), no write-ahead log yet
    (--durability), no fenced settlement yet (--etcd)."""
    durability = h.meta.get("durability", "off")
    q = quarantined(h)
    named = set(v.get("nodes", [])) | ({v["node"]} if v.get("node") else set())
    if q and named and named <= q and v["invariant"] in (NAMES["I1"], NAMES["I2"],
                                                            NAMES["I3"]):
        return (f"node(s) {sorted(named)} quarantined for a clock beyond --max-drift-ms "
                f"{h.meta.get('drift_ms')} (NOT_SERVING, reason clock, at the end): they "
                "refuse their peers' stamps, so they cannot converge while their clock is "
                "wrong (CLUSTER.md promise 4)")
    kills = [f for f in h.faults if f["kind"] == "kill"]
    inv = v["invariant"]
    if inv == NAMES["I8"] and v.get("ahead_ms") is not None:
        fwd = forward_offset_ms(h, v["node"], v["reply_t"])
        if fwd and v["ahead_ms"] <= fwd + h.meta.get("drift_ms", 500):
            return (f"node {v['node']}'s clock was set {fwd} ms ahead (fault injection) at or "
                    "before this reply: its stamps follow its clock, and its HLC never goes "
                    "back, so they stay ahead until real time catches up (the drift guard "
                    "protects the peers, not real time)")
    same_life = v.get("forgot") and len(set(v["lives"])) < 2  # no kill forgets that
    if durability == "off" and kills and not same_life and inv in (
            NAMES["I1"], NAMES["I2"], NAMES["I3"], NAMES["I7"]):
        return ("durability off (no write-ahead log in the node yet): node(s) "
                f"{sorted({f['args']['node'] for f in kills})} killed with -9; what a killed "
                "node acknowledged and had not yet shipped is gone (CLUSTER.md promise 5 needs "
                "--durability sync)")
    if durability == "off" and inv in (NAMES["I4"], NAMES["I7"]) and len(
            set(v.get("lives", []))) > 1:
        return ("durability off: a node restarted with no log forgot its accepted bids until "
                "its peers' state arrived (the two answers are of different lives)")
    if durability in ("sync", "async") and kills:
        why = explain_lost_copy(h, v)
        if why:
            return why
    if durability == "async" and kills and inv in (NAMES["I1"], NAMES["I3"], NAMES["I4"],
                                                    NAMES["I7"]):
        return explain_async(h, v)
    if inv == NAMES["I5"] and "different winners" in v["detail"] and not h.meta.get("etcd"):
        return ("no --etcd in this run: each node settles alone at the close with what it "
                "has merged by then (promise 6 needs --etcd)")
    return None


# --- host stalls --------------------------------------------------------------
#
# A violation that only says "bidctl did not answer" (a final view missing,
# a fault that needed the leader's status) cannot tell a node that stopped
# serving its control socket from a host that stood still for everyone.
# The runner's probe (run.py HostProbe) tells them apart: it fsyncs a small
# file on the nodes' file system every 0.25 s and notes how late its own
# sleep woke. Such a violation whose window a probe stall covers at least
# half of is a host stall, named with the probe's numbers: not a pass, not
# a node bug (the verdict `host_stall`). Without a stall the violation
# stays a failure: a node silent on an idle host is a bug.

HOST_STALL_MS = 1000  # a 4 KiB fsync or a 0.25 s sleep this late: the host stood still


def host_stalls(records):
    """[{t0, t1, fsync_ms, late_ms, io_full, cpu_some}] from the host probe's
    records, overlapping stalls merged; io_full and cpu_some: the share of
    the span in which the kernel saw tasks stalled (/proc/pressure), or
    None."""
    probes = sorted((r for r in records if r["type"] == "host" and r.get("ok")),
                    key=lambda r: r["t0"])
    spans = []
    for k, r in enumerate(probes):
        if r["fsync_ms"] >= HOST_STALL_MS:
            t0, t1 = r["t0"], r["t1"]
        elif r.get("late_ms", 0) >= HOST_STALL_MS:
            t0, t1 = r["t0"] - int(r["late_ms"] * 1e6), r["t0"]  # the sleep ended late
        else:
            continue
        before = next((p for p in reversed(probes[:k]) if p["t1"] <= t0), None)
        span = dict(t0=t0, t1=t1, fsync_ms=r["fsync_ms"], late_ms=r.get("late_ms", 0),
                    psi0=(before or {}).get("psi") or {}, psi1=r.get("psi") or {})
        if spans and t0 <= spans[-1]["t1"]:
            last = spans[-1]
            last.update(t1=max(last["t1"], t1), fsync_ms=max(last["fsync_ms"], span["fsync_ms"]),
                        late_ms=max(last["late_ms"], span["late_ms"]), psi1=span["psi1"])
        else:
            spans.append(span)
    for sp in spans:
        dt_us = max(1.0, (sp["t1"] - sp["t0"]) / 1e3)
        for key, name in (("io_full_us", "io_full"), ("cpu_some_us", "cpu_some")):
            a, b = sp["psi0"].get(key), sp["psi1"].get(key)
            sp[name] = None if a is None or b is None else min(1.0, (b - a) / dt_us)
        del sp["psi0"], sp["psi1"]
    return spans


def describe_stall(h, sp):
    psi = []
    if sp["io_full"] is not None:
        psi.append(f"I/O pressure full {sp['io_full']:.0%}")
    if sp["cpu_some"] is not None:
        psi.append(f"CPU pressure some {sp['cpu_some']:.0%}")
    what = []
    if sp["fsync_ms"] >= HOST_STALL_MS:
        what.append(f"one fsync of a 4 KiB file on the nodes' file system took "
                    f"{sp['fsync_ms'] / 1000:.1f} s")
    if sp["late_ms"] >= HOST_STALL_MS:
        what.append(f"the runner's 0.25 s sleep woke {sp['late_ms'] / 1000:.1f} s late")
    return (f"host stall from {h.secs(sp['t0']):.1f} to {h.secs(sp['t1']):.1f} s: "
            + " and ".join(what) + (f" ({', '.join(psi)})" if psi else "")
            + "; bidctl went unanswered inside it: inconclusive, the host stood still for "
            "every process (its disk or CPUs taken by other jobs); run it again on a quieter "
            "host")


def silent_window(h, v):
    """The (t0, t1) in which bidctl's silence made this violation, or None
    when it is not such a violation."""
    if v.get("silent_window"):
        return tuple(v["silent_window"])
    if v["invariant"] != NAMES["I2"] or "timed out" not in v["detail"]:
        return None
    f = next((f for f in h.final_errors if f["node"] == v.get("node")
              and f["auction"] == v.get("auction")), None)
    if f is None:
        return None
    # Older histories have no t0: the tries' bound (run.py FINAL_TIMEOUT_S).
    return (f.get("t0", f["t"] - int(f.get("tries", 1) * 5e9)), f["t"])


def attribute_host_stalls(records, result):
    """Marks each violation that only bidctl's silence made, inside a host
    stall, with `host_stall` (the probe's evidence), and sets the verdict:
    fail when another violation is unexplained, host_stall when only such
    ones are left, pass otherwise. Returns result."""
    h = History(records)
    spans = host_stalls(records)
    for v in result["violations"]:
        if v.get("explained") or v.get("host_stall"):
            continue
        w = silent_window(h, v)
        if w is None:
            continue
        for sp in spans:
            covered = min(w[1], sp["t1"]) - max(w[0], sp["t0"])
            if covered > 0 and covered * 2 >= w[1] - w[0]:
                v["host_stall"] = describe_stall(h, sp)
                break
    bugs = [v for v in result["violations"] if not v.get("explained") and not v.get("host_stall")]
    stalled = [v for v in result["violations"] if v.get("host_stall")]
    result.update(verdict="fail" if bugs else ("host_stall" if stalled else "pass"),
                  unexplained=len(bugs), host_stall=len(stalled),
                  explained=len(result["violations"]) - len(bugs) - len(stalled))
    return result


def verdict(records):
    h, violations, counts = check(records)
    for v in violations:
        v["explained"] = explain(h, v)
    return attribute_host_stalls(records, dict(violations=violations, counts=counts))


def main(argv):
    p = argparse.ArgumentParser(description="Checks a chaos history against the invariants.")
    p.add_argument("history", help="history.jsonl written by tests/chaos/run.py")
    a = p.parse_args(argv)
    try:
        records = load(a.history)
    except (OSError, json.JSONDecodeError) as e:
        print(f"check.py: {a.history}: {e}", file=sys.stderr)
        return 2
    out = verdict(records)
    print(json.dumps(out, indent=1))
    return {"pass": 0, "host_stall": 3}.get(out["verdict"], 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
