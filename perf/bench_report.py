#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""perf/bench.sh's helper.
  bench_report.py sample STATS_NAME SECONDS OUT.json
      while bidgen runs: the node worker's polls over the middle of the run
      (bidstat --json), written as its busy fraction.
  bench_report.py half DIR ROUNDS
      half the median served uniform rate, in requests/s (the latency run).
  bench_report.py report DIR ROUNDS
      the table (table.md), results.json and a latency CDF plot (gnuplot).

Two busy fractions of worker 0, both from the stats segment (bidstat):
- polls: polls_total{result=busy} / all polls, the share of RX polls that
  found frames. The node runs with --no-idle-backoff, so an idle poll is
  cheap (tens of ns) and a busy one is a burst (microseconds): this share
  is far below the share of time spent busy.
- time: 1 - (idle polls x the time one idle poll takes) / the window, the
  time of one idle poll measured on the same worker just before bidgen's
  traffic starts (idle polls per second of the unloaded worker). An
  estimate: another process on the worker's CPU slows both alike.
A full-rate run whose time fraction is below BUSY_BOUND had a worker with
time to spare while bidgen offered all it could: the generator (or the
link) was the bottleneck, the run is marked generator-bound and its ratio
does not measure the node."""
import json
import os
import statistics
import subprocess
import sys
import time

BIDSTAT = os.environ.get("BP_BIDSTAT", "build/bidstat")
BUSY_BOUND = 0.9


def worker0(stat, key):
    for m in stat["metrics"]:
        if m["key"] == key:
            return m["workers"][0]
    raise KeyError(f"no {key} in bidstat --json")


def snapshot(name):
    r = subprocess.run([BIDSTAT, "--once", "--json", name], capture_output=True, text=True,
                       timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"bidstat {name}: {r.stderr.strip()}")
    s = json.loads(r.stdout)
    return {"t": s["updated_unix_ms"] / 1000.0, "rx": worker0(s, "rx_packets_total"),
            "busy": worker0(s, "polls_total/busy"), "idle": worker0(s, "polls_total/idle")}


def sample(name, seconds, path):
    """Measures the unloaded worker's idle poll rate over 0.5 s (bench.sh
    starts bidgen after that), waits for it to receive (at most 30 s),
    skips a tenth of the run, then measures over half of it."""
    first = snapshot(name)
    time.sleep(0.5)
    last = snapshot(name)
    idle_s = last["t"] - first["t"]
    idle_rate = ((last["idle"] - first["idle"]) / idle_s
                 if idle_s > 0 and last["rx"] == first["rx"] else 0.0)
    deadline = time.time() + 30
    while snapshot(name)["rx"] == last["rx"]:
        if time.time() > deadline:
            sys.exit(f"sample {name}: the worker received nothing in 30 s")
        time.sleep(0.05)
    time.sleep(seconds / 10)
    a = snapshot(name)
    time.sleep(max(seconds / 2, 0.3))
    b = snapshot(name)
    busy, idle, rx = b["busy"] - a["busy"], b["idle"] - a["idle"], b["rx"] - a["rx"]
    polls, window = busy + idle, b["t"] - a["t"]
    out = {"seconds": window, "busy_polls": busy, "idle_polls": idle, "rx": rx,
           "busy_fraction": busy / polls if polls else 0.0,
           "frames_per_busy_poll": rx / busy if busy else 0.0,
           "rx_mpps": rx / window / 1e6 if window > 0 else 0.0,
           # The time the worker spent in idle polls, at the rate it polled
           # when it had nothing at all to do: the rest is time busy.
           "idle_polls_per_s_unloaded": idle_rate,
           "busy_time_fraction": (max(0.0, 1 - idle / idle_rate / window)
                                  if idle_rate and window > 0 else None)}
    with open(path, "w") as f:
        json.dump(out, f, indent=2)


def load(d, name):
    with open(os.path.join(d, f"{name}.json")) as f:
        r = json.load(f)
    busy = os.path.join(d, f"{name}.busy.json")
    if os.path.exists(busy):
        with open(busy) as f:
            r["node_busy"] = json.load(f)
    return r


def busy_time(r):
    """The time fraction, or the poll fraction when the unloaded poll rate
    was not measured (traffic came within its 0.5 s)."""
    b = r["node_busy"]
    return b["busy_time_fraction"] if b["busy_time_fraction"] is not None else b[
        "busy_fraction"]


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "values": xs}


def report(d, rounds):
    rows, per_round = [], []
    for i in range(1, rounds + 1):
        c, u, z = (load(d, f"{k}-{i}") for k in ("ceiling", "uniform", "zipf"))
        rnd = {"round": i, "ceiling": c, "uniform": u, "zipf": z}
        for k, r in (("uniform", u), ("zipf", z)):
            r["ratio"] = r["served_mpps"] / c["served_mpps"] if c["served_mpps"] else 0.0
            r["generator_bound"] = busy_time(r) < BUSY_BOUND
        per_round.append(rnd)
    lat = load(d, "latency")

    def row(label, r, ratio=None):
        lat_us = r["latency_us"]
        b = r.get("node_busy")
        busy = (f"{b['busy_fraction'] * 100:5.1f}% | {busy_time(r) * 100:5.1f}% | "
                f"{b['frames_per_busy_poll']:5.1f}" if b else "     - |      - |     -")
        bound = ("generator" if r.get("generator_bound") else "node") if "ratio" in r else "-"
        return (f"| {label:<22} | {r['offered_mpps']:7.3f} | {r['served_mpps']:7.3f} | "
                + (f"{ratio:5.2f}" if ratio is not None else "    -")
                + f" | {busy} | {bound:<9} | {lat_us['p50']:7.1f} | {lat_us['p99']:8.1f} | "
                f"{r['mismatch_total']:4d} | {r['lost']:5d} |")

    rows = [
        "| run                    | offered | served  | ratio | polls  | time   | f/poll "
        "| bound     | p50 us  | p99 us   | mism | lost  |",
        "|------------------------|---------|---------|-------|--------|--------|--------"
        "|-----------|---------|----------|------|-------|",
    ]
    for rnd in per_round:
        i = rnd["round"]
        rows.append(row(f"{i} ceiling (testpmd)", rnd["ceiling"]))
        rows.append(row(f"{i} bidplane uniform", rnd["uniform"], rnd["uniform"]["ratio"]))
        rows.append(row(f"{i} bidplane zipf 0.99", rnd["zipf"], rnd["zipf"]["ratio"]))
    rows.append(row(f"half load {lat['offered_mpps']:.3f} Mpps", lat))

    ceil = spread([r["ceiling"]["served_mpps"] for r in per_round])
    ru = spread([r["uniform"]["ratio"] for r in per_round])
    rz = spread([r["zipf"]["ratio"] for r in per_round])
    node_bound = {k: sum(not r[k]["generator_bound"] for r in per_round)
                  for k in ("uniform", "zipf")}
    summary = [
        "",
        f"ceiling (bidgen --echo against testpmd 5tswap: the generator's own capacity "
        f"against a trivial echo): median {ceil['median']:.3f} Mpps, "
        f"{ceil['min']:.3f}-{ceil['max']:.3f}",
        f"ratio uniform: median {ru['median']:.2f} ({ru['min']:.2f}-{ru['max']:.2f}), "
        f"node-bound in {node_bound['uniform']} of {rounds} rounds",
        f"ratio zipf 0.99: median {rz['median']:.2f} ({rz['min']:.2f}-{rz['max']:.2f}), "
        f"node-bound in {node_bound['zipf']} of {rounds} rounds",
        f"half load: p50 {lat['latency_us']['p50']:.1f} us, p99 {lat['latency_us']['p99']:.1f} "
        f"us, p99.9 {lat['latency_us']['p999']:.1f} us",
    ]
    for rnd in per_round:
        for k in ("uniform", "zipf"):
            r = rnd[k]
            if r["generator_bound"]:
                summary.append(
                    f"round {rnd['round']} {k}: generator-bound: the worker was busy "
                    f"{busy_time(r) * 100:.0f}% of the time (frames in "
                    f"{r['node_busy']['busy_fraction'] * 100:.1f}% of its polls) while "
                    f"bidgen offered all it could ({r['offered_mpps']:.3f} Mpps); its ratio "
                    f"measures bidgen, not the node")
    node_runs = [rnd[k] for rnd in per_round for k in ("uniform", "zipf")] + [lat]
    mismatches = sum(r["mismatch_total"] for r in node_runs)
    lost = sum(r["lost"] for r in node_runs)
    summary.append(f"mismatches {mismatches}, lost {lost} (node runs)")
    print("\n".join(rows + summary))
    results = {
        "rounds": rounds,
        "ceiling_mpps": ceil,
        "ratio_uniform": ru,
        "ratio_zipf": rz,
        "node_bound_rounds": node_bound,
        "busy_bound": BUSY_BOUND,
        "half_load_mpps": lat["offered_mpps"],
        "half_load_latency_us": lat["latency_us"],
        "mismatches": mismatches,
        "lost": lost,
        "per_round": per_round,
        "latency_run": lat,
    }
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(d, "table.md"), "w") as f:
        f.write("\n".join(rows + summary) + "\n")
    plot(d, {"half load": lat, "uniform": per_round[-1]["uniform"],
             "zipf": per_round[-1]["zipf"], "ceiling": per_round[-1]["ceiling"]})
    print(f"results: {os.path.join(d, 'results.json')}")


def plot(d, runs):
    data = os.path.join(d, "latency_cdf.dat")
    with open(data, "w") as f:
        for name, r in runs.items():
            f.write(f'"{name}"\n')
            for pct, us in r["latency_cdf_us"]:
                f.write(f"{max(us, 0.01)} {pct}\n")
            f.write("\n\n")
    png = os.path.join(d, "latency_cdf.png")
    script = f"""set terminal png size 900,560
set output '{png}'
set title 'bidplane latency CDF over memif (bidgen, TSC round trip; last round)'
set logscale x
set xlabel 'latency (us)'
set ylabel 'percentile'
set key bottom right
set grid
plot for [i=0:{len(runs) - 1}] '{data}' index i using 1:2 with linespoints title columnheader(1)
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)
        print(f"plot: {png}")
    except (OSError, subprocess.SubprocessError) as e:
        print(f"no plot ({e}); install gnuplot-nox")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "sample":
        sample(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "half":
        rounds = int(sys.argv[3])
        mpps = statistics.median(load(sys.argv[2], f"uniform-{i}")["served_mpps"]
                                 for i in range(1, rounds + 1))
        print(max(int(mpps * 1e6 / 2), 1000))
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
