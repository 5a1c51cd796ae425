#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The write-ahead log's cost in the node at full load (perf/README.md "The
WAL in the node"): issue 13's goal is `sync` at >= 0.8x the rate of `off`.

"Full load" is the rate `off` serves when saturated, offered open loop to
every mode. A closed loop (W requests outstanding) cannot measure it: its
rate is W / latency, and sync's latency includes a group commit (1-8 ms
here), so sync loses by construction at any W below rate x commit time. An
open-loop offer at off's rate asks the question the goal means: can the
node sustain that rate while it parks the ACCEPTED replies until durable?

Each round: (1) calibrate: `off` offered as much as bidgen can send
(--rate 0, open loop); what it answers per second is the round's full
load R; (2) off, async and sync offered R open loop (bidgen --rate R). No
window: a closed loop's lost replies stay outstanding for good and shrink
its window, which stalled a closed-loop calibration at 4,000/s on the
loaded VM. The modes' order alternates from round to round (off first,
then sync first), so that neighbours' load drifts hit both. The ratio of a
round is what sync (async) served over what off served at the same offer;
the median and range over the rounds are printed, and again over the
rounds where bidgen did send >= 90% of R in both runs (else bidgen, not
the node, was short of CPU).

Per run: offered and served accepted/s, ACCEPTED reply latency
p50/p99/p99.9 (bidgen's histogram of first ACCEPTED replies), lost and
OVERLOADED replies, and from the node's exit summary fsyncs/s, records per
fsync, bytes per bid, the mean fsync time and the fsync p50/p99, parked
replies and refusals (ring_full: no ring slot or parking place).

  BENCH_SECONDS (4), BENCH_ROUNDS (3), BENCH_MODES ("off async sync"),
  BENCH_RATE (0: calibrate each round; N: offer N/s, no calibration),
  BENCH_LOAD (1.0: offer R x this), BENCH_CAL_WINDOW (0: open loop; N: a
  closed loop of N), BENCH_WINDOW (0: none; N caps what is outstanding),
  BENCH_GEN_CPU (0: bidgen
  beside the node's control thread and log writer, as perf/bench.sh
  places it), BENCH_BUILDS ("build": LABEL=DIR or DIR, each round runs
  every build), BENCH_DEDUP_RATE (3000000), BENCH_STATE_DIR (/var/tmp:
  where the state directories go; the disk under test).
Non-interactive; builds `build` with meson and ninja when it has no
bidplane yet (a fresh clone). Needs no root."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from bptest import Node  # noqa: E402

BUILDS = [b.split("=", 1) if "=" in b else (b, b)
          for b in os.environ.get("BENCH_BUILDS", os.environ.get("BENCH_BUILD_DIR", "build")).split()]
SECS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MODES = os.environ.get("BENCH_MODES", "off async sync").split()
RATE = int(os.environ.get("BENCH_RATE", "0"))
LOAD = float(os.environ.get("BENCH_LOAD", "1.0"))
CAL_WINDOW = os.environ.get("BENCH_CAL_WINDOW", "0")
WINDOW = os.environ.get("BENCH_WINDOW", "0")
GEN_CPU = os.environ.get("BENCH_GEN_CPU", "0")
# New keys per second the idempotency table is sized for: below the node's
# full-load rate, new bids are answered OVERLOADED once it fills, and
# accepted/s measures the table, not the log.
DEDUP_RATE = os.environ.get("BENCH_DEDUP_RATE", "3000000")
STATE_ROOT = os.environ.get("BENCH_STATE_DIR", "/var/tmp")
AUCTIONS = "1-50000"
OPENS = 50000  # the open records logged at start (66 bytes each)
OPEN_BYTES = 66


def ensure_built(build):
    """A fresh clone has no build: make one (the default directory only)."""
    binary = os.path.join(build, "bidplane")
    if os.path.exists(binary):
        return
    path = os.path.join(ROOT, build) if not os.path.isabs(build) else build
    if not os.path.exists(os.path.join(path, "build.ninja")):
        subprocess.run(["meson", "setup", path], cwd=ROOT, check=True)
    subprocess.run(["ninja", "-C", path, "bidplane", "bidgen"], cwd=ROOT, check=True)


def node_wal(text):
    wal = {k: int(v) for k, v in re.findall(r"^  wal +(\w+) (\d+)$", text, re.M)}
    m = re.search(r"fsync p50 <= (\d+) us, p99 <= (\d+) us, p99.9 <= (\d+) us", text)
    wal["fsync_p50_us"], wal["fsync_p99_us"], wal["fsync_p999_us"] = \
        (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
    return wal


def one(mode, workdir, build, rate, window):
    """One node, one bidgen run: what bidgen saw and the node's summary."""
    state = tempfile.mkdtemp(prefix=f"wal-{mode}-", dir=workdir)
    sock = os.path.join(workdir, f"memif-{mode}.sock")
    node = Node(os.path.join(build, "bidplane"), workers=1,
                vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                args=["--durability", mode, "--open-range", AUCTIONS, "--max-auctions",
                      "65536", "--duration", "3600", "--no-idle-backoff",
                      "--dedup-rate", DEDUP_RATE, "--dedup-seconds", "1"],
                state_dir=state)
    # The idempotency table (192 B per key of the rated load), the parked
    # replies' mbufs and the rest.
    node.cmd[node.cmd.index("-m") + 1] = str(768 + int(DEDUP_RATE) * 192 // (1 << 20))
    node.start()
    out = os.path.join(workdir, f"bidgen-{mode}.json")
    try:
        time.sleep(2)  # the opens' records written first
        gen_prefix = f"bgwal{os.getpid()}"
        cmd = [os.path.join(build, "bidgen"), "--no-huge", "-m", "512", f"--lcores=0@{GEN_CPU}",
               "--no-pci", f"--vdev=net_memif0,role=client,socket={sock}",
               "--file-prefix", gen_prefix, "--",
               "--auctions", AUCTIONS, "--bidders", "1000000", "--rate", str(rate),
               "--window", str(window), "--duration", str(SECS), "--json", out, "--quiet"]
        for attempt in (1, 2):  # bidgen died in the memif PMD now and then (README)
            g = subprocess.run(cmd, capture_output=True, timeout=SECS + 60)
            if g.returncode == 0:
                break
            print(f"NOTE: bidgen exited {g.returncode} ({mode}, rate {rate}, attempt "
                  f"{attempt}): {g.stderr.decode(errors='replace')[-300:]}",
                  file=sys.stderr, flush=True)
        else:
            raise RuntimeError(f"bidgen failed twice ({mode}, rate {rate})")
    finally:
        node.stop()
        # bidgen's DPDK runtime dir: a primary leaves it behind when it exits.
        shutil.rmtree(f"/var/run/dpdk/bgwal{os.getpid()}", ignore_errors=True)
    g = json.load(open(out))
    shutil.rmtree(state, ignore_errors=True)
    br = {k.upper(): v for k, v in g["replies"]["bid_reply"].items()}
    st = {k.upper(): v for k, v in g["replies"]["auction_state"].items()}
    summary = node.text()
    summary = summary[summary.find("=== bidplane"):]
    secs = g["send_seconds"] or 1
    return dict(mode=mode, rate=rate, window=int(window), secs=secs,
                offered=g["sent"] / secs, accepted=br.get("ACCEPTED", 0) / secs,
                replies=g["received"] / secs, lost=g["lost"],
                overloaded=br.get("OVERLOADED", 0) + st.get("OVERLOADED", 0),
                lat=g.get("accepted_latency_us", g["latency_us"]), wal=node_wal(summary),
                summary=summary)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def print_table(rows):
    print("| round | build | mode | offered/s | accepted/s | ACCEPTED p50 / p99 / p99.9 us "
          "| lost | OVERLOADED | fsyncs/s | records/fsync | bytes/bid | fsync mean us "
          "| fsync p50/p99 us | parked | ring_full |")
    print("|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        w, s = r["wal"], r["secs"]
        if not r["mode"].startswith("off") and "records" not in w:
            # No exit summary (a node that did not stop within 30 s was
            # killed): bidgen's figures only.
            lat = r["lat"]
            print(f"| {r['round']} | {r['build']} | {r['mode']} | {r['offered']:,.0f} | "
                  f"{r['accepted']:,.0f} | {lat['p50']:,.0f} / {lat['p99']:,.0f} / "
                  f"{lat['p999']:,.0f} | {r['lost']:,} | {r['overloaded']:,} | "
                  + " | ".join(["n/a"] * 7) + " |")
            continue
        fs = w.get("fsyncs", 0)
        # The opens the control thread logged at start (those it could not
        # hand over are wal control_lost): not bids.
        opens = OPENS - w.get("control_lost", 0) if fs else 0
        recs = max(0, w.get("records", 0) - opens)
        mean = w.get("fsync_us", 0) / fs if fs else 0
        lat = r["lat"]
        print(f"| {r['round']} | {r['build']} | {r['mode']} | {r['offered']:,.0f} | "
              f"{r['accepted']:,.0f} | {lat['p50']:,.0f} / {lat['p99']:,.0f} / "
              f"{lat['p999']:,.0f} | {r['lost']:,} | {r['overloaded']:,} | {fs / s:,.0f} | "
              f"{recs / fs if fs else 0:.1f} | "
              f"{(w.get('bytes', 0) - opens * OPEN_BYTES) / recs if recs else 0:.0f} | "
              f"{mean:,.0f} | {w.get('fsync_p50_us', 0)}/{w.get('fsync_p99_us', 0)} | "
              f"{w.get('parked', 0):,} | {w.get('ring_full', 0):,} |")


def print_ratios(rows, cal):
    print()
    for label, _ in BUILDS:
        if cal:
            rates = [c["accepted"] for c in cal if c["build"] == label]
            how = f"closed loop of {CAL_WINDOW}" if CAL_WINDOW != "0" else "open loop, rate 0"
            print(f"{label}: full load (off, {how}) median "
                  f"{median(rates):,.0f} accepted/s ({min(rates):,.0f}-{max(rates):,.0f})")
        for mode in MODES:
            if mode == "off" or "off" not in MODES:
                continue
            ratios, clean = [], []
            for rnd in range(1, ROUNDS + 1):
                got = {r["mode"]: r for r in rows if r["build"] == label and r["round"] == rnd}
                ratio = got[mode]["accepted"] / max(got["off"]["accepted"], 1)
                ratios.append(ratio)
                # bidgen sent what was asked in both runs: the ratio is the
                # node's; else the machine's (bidgen starved of CPU).
                if all(got[m]["offered"] >= 0.9 * got[m]["rate"] for m in ("off", mode)):
                    clean.append(ratio)
            med = median(ratios)
            goal = ("" if mode != "sync" else "; goal >= 0.8 met" if med >= 0.8
                    else "; goal >= 0.8 NOT met")
            print(f"{label}: {mode}/off median {med:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
                  f"over {ROUNDS} rounds{goal}; rounds where bidgen offered >= 90% of the "
                  f"rate in both: {len(clean)}"
                  + (f", median {median(clean):.2f} ({min(clean):.2f}-{max(clean):.2f})"
                     if clean else ""))


def main():
    for _, build in BUILDS:
        ensure_built(build)
    workdir = tempfile.mkdtemp(prefix="bench-wal-", dir=STATE_ROOT)
    rows, cal = [], []
    try:
        for rnd in range(1, ROUNDS + 1):
            for label, build in BUILDS:
                rate = RATE
                if not rate:
                    c = one("off", workdir, build, 0, CAL_WINDOW)
                    c.update(build=label, round=rnd, mode="off (calibration)")
                    cal.append(c)
                    # Every request it answered is load, not only the bids.
                    rate = int(c["replies"] * LOAD)
                    print(f"round {rnd} {label}: full load {c['replies']:,.0f} replies/s "
                          f"({c['accepted']:,.0f} accepted/s): offering {rate:,}/s",
                          file=sys.stderr, flush=True)
                order = MODES if rnd % 2 else list(reversed(MODES))
                for mode in order:
                    r = one(mode, workdir, build, rate, WINDOW)
                    r.update(build=label, round=rnd)
                    rows.append(r)
                    print(f"round {rnd} {label} {mode}: {r['accepted']:,.0f} accepted/s of "
                          f"{r['offered']:,.0f} offered, ACCEPTED p50 {r['lat']['p50']:,.0f} us",
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(cal + rows)
    print_ratios(rows, cal)
    json.dump(dict(calibration=cal, rows=rows), sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
