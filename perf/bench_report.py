#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Turns the benchmark's bidgen JSON files into the table, results.json and
a latency CDF plot (gnuplot). Usage: bench_report.py DIR"""
import json
import os
import subprocess
import sys

d = sys.argv[1]
runs = {name: json.load(open(os.path.join(d, f"{name}.json")))
        for name in ("testpmd", "uniform", "zipf", "latency")}
ceiling = runs["testpmd"]["served_mpps"]


def row(label, r, ratio=True):
    lat = r["latency_us"]
    return (f"| {label:<26} | {r['served_mpps']:7.3f} | "
            + (f"{r['served_mpps'] / ceiling:5.2f} | " if ratio else "    - | ")
            + f"{lat['p50']:7.1f} | {lat['p99']:8.1f} | {lat['p999']:8.1f} | "
            f"{r['mismatch_total']:10d} |")


lines = [
    "| run                        | Mpps    | ratio | p50 us  | p99 us   | p99.9 us | mismatches |",
    "|----------------------------|---------|-------|---------|----------|----------|------------|",
    row("testpmd 5tswap (ceiling)", runs["testpmd"], ratio=False),
    row("bidplane uniform", runs["uniform"]),
    row("bidplane zipf 0.99", runs["zipf"]),
    row(f"bidplane at {runs['latency']['offered_mpps']:.3f} Mpps", runs["latency"]),
]
print("\n".join(lines))
results = {
    "ceiling_mpps": ceiling,
    "uniform_mpps": runs["uniform"]["served_mpps"],
    "zipf_mpps": runs["zipf"]["served_mpps"],
    "ratio_uniform": runs["uniform"]["served_mpps"] / ceiling,
    "ratio_zipf": runs["zipf"]["served_mpps"] / ceiling,
    "half_load_mpps": runs["latency"]["offered_mpps"],
    "half_load_latency_us": runs["latency"]["latency_us"],
    "mismatches": sum(r["mismatch_total"] for k, r in runs.items() if k != "testpmd"),
    "runs": runs,
}
with open(os.path.join(d, "results.json"), "w") as f:
    json.dump(results, f, indent=2)
with open(os.path.join(d, "table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")

data = os.path.join(d, "latency_cdf.dat")
with open(data, "w") as f:
    for name in ("latency", "uniform", "zipf", "testpmd"):
        f.write(f'"{name}"\n')
        for pct, us in runs[name]["latency_cdf_us"]:
            f.write(f"{max(us, 0.01)} {pct}\n")
        f.write("\n\n")
png = os.path.join(d, "latency_cdf.png")
script = f"""set terminal png size 900,560
set output '{png}'
set title 'bidplane latency CDF over memif (bidgen, TSC round trip)'
set logscale x
set xlabel 'latency (us)'
set ylabel 'percentile'
set key bottom right
set grid
plot for [i=0:3] '{data}' index i using 1:2 with linespoints title columnheader(1)
"""
try:
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print(f"plot: {png}")
except (OSError, subprocess.CalledProcessError) as e:
    print(f"no plot ({e}); install gnuplot-nox")
print(f"results: {os.path.join(d, 'results.json')}")
