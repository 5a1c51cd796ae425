# SPDX-License-Identifier: BSD-3-Clause
"""The chaos report: per run a timeline (timeline.dat, timeline.gp and,
with gnuplot, timeline.png: faults against served rate, latency and
replication lag), per campaign report.md and summary.json (each run's
verdict and counts, each violation)."""

import json
import os
import shutil
import subprocess
from collections import defaultdict

BUCKET_S = 0.5
ACCEPTED, NOT_SERVING = 0, 7


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def series(records):
    """Per BUCKET_S: replies/s, accepted/s, not_serving/s, unanswered/s,
    latency p50 and p99 (ms), max replication lag (ms)."""
    meta = next(r for r in records if r["type"] == "meta")
    t0 = meta["start_mono_ns"]
    rows = defaultdict(lambda: dict(replies=0, accepted=0, not_serving=0, lat=[], lag=0))
    last_send = {}
    for r in records:
        if r["type"] == "send":
            last_send[(r["rid"], r["node"])] = r["t"]
        elif r["type"] == "reply":
            b = rows[int((r["t"] - t0) / 1e9 / BUCKET_S)]
            b["replies"] += 1
            b["accepted"] += r["status"] == ACCEPTED
            b["not_serving"] += r["status"] == NOT_SERVING
            sent = last_send.get((r["rid"], r["node"]))
            if sent is not None:
                b["lat"].append((r["t"] - sent) / 1e6)
        elif r["type"] == "sample" and r.get("ok"):
            b = rows[int((r["t"] - t0) / 1e9 / BUCKET_S)]
            b["lag"] = max(b["lag"], r.get("max_lag_ms") or 0)
    out = []
    for k in range(0, max(rows, default=0) + 1):
        b = rows[k]
        p50, p99 = percentile(b["lat"], 0.5), percentile(b["lat"], 0.99)
        out.append((k * BUCKET_S, b["replies"] / BUCKET_S, b["accepted"] / BUCKET_S,
                    b["not_serving"] / BUCKET_S, p50 if p50 is not None else "NaN",
                    p99 if p99 is not None else "NaN", b["lag"]))
    return out


def fault_marks(records):
    meta = next(r for r in records if r["type"] == "meta")
    marks = []
    for r in records:
        if r["type"] != "fault":
            continue
        what = r["kind"]
        node = r["args"].get("node")
        if node is not None:
            what += f" {node}"
        if r.get("groups"):
            what += " " + "|".join(",".join(map(str, g)) for g in r["groups"])
        marks.append(((r["t"] - meta["start_mono_ns"]) / 1e9, what))
    return marks


def timeline(records, out_dir):
    """Writes timeline.dat and timeline.gp; timeline.png when gnuplot is
    installed (Debian gnuplot-nox, scripts/common.sh). Returns the PNG's
    path or None."""
    meta = next((r for r in records if r["type"] == "meta"), None)
    if meta is None or not meta.get("start_mono_ns"):
        return None
    dat = os.path.join(out_dir, "timeline.dat")
    with open(dat, "w") as f:
        f.write("# t_s replies_per_s accepted_per_s not_serving_per_s p50_ms p99_ms lag_ms\n")
        for row in series(records):
            f.write(" ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in row) + "\n")
    marks = fault_marks(records)
    title = f"{meta['experiment']['name']} seed {meta['seed']}"
    end = max((r["t"] for r in records), default=meta["start_mono_ns"])
    end_s = (end - meta["start_mono_ns"]) / 1e9
    lines = ['set terminal pngcairo noenhanced size 1100,800 font ",9"' if has_cairo()
             else "set terminal png noenhanced size 1100,800",
             f"set xrange [0:{end_s:.1f}]",
             "set output 'timeline.png'", "set multiplot layout 3,1 title '" + title + "'",
             "set xlabel 'seconds since the workload started'", "set grid",
             "set lmargin 10", "set rmargin 32",
             "set key outside right"]
    arrows = []
    for k, (t, what) in enumerate(marks):
        arrows.append(f"set arrow {k + 1} from {t:.3f}, graph 0 to {t:.3f}, graph 1 nohead "
                      "lc rgb 'red' dt 2")
    labels = [f"set label {k + 1} '{what}' at {t:.3f}, graph {0.95 - 0.08 * (k % 6):.2f} "
              "tc rgb 'red' front" for k, (t, what) in enumerate(marks)]
    lines += arrows + labels
    lines += ["set ylabel 'replies / s'",
              "plot 'timeline.dat' u 1:2 w l t 'replies', '' u 1:3 w l t 'ACCEPTED', "
              "'' u 1:4 w l t 'NOT SERVING'",
              "unset label", "set ylabel 'latency ms'", "set logscale y",
              "plot 'timeline.dat' u 1:5 w l t 'p50', '' u 1:6 w l t 'p99'",
              "unset logscale y", "set ylabel 'max lag ms'",
              "plot 'timeline.dat' u 1:7 w steps t 'replication lag (bidctl status)'",
              "unset multiplot"]
    gp = os.path.join(out_dir, "timeline.gp")
    with open(gp, "w") as f:
        f.write("\n".join(lines) + "\n")
    if shutil.which("gnuplot") is None:
        return None
    r = subprocess.run(["gnuplot", "timeline.gp"], cwd=out_dir, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        with open(os.path.join(out_dir, "timeline.err"), "w") as f:
            f.write(r.stderr)
        return None
    return os.path.join(out_dir, "timeline.png")


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        try:
            r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                               timeout=30)
            _cairo = "pngcairo" in r.stdout + r.stderr
        except OSError:
            _cairo = False
    return _cairo


def campaign(results, out_dir):
    """report.md and summary.json over every run of a campaign."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(results, f, indent=1)
    total = defaultdict(int)
    lines = ["# Chaos campaign", "",
             "| experiment | seed | verdict | requests | accepted | NOT_SERVING | replayed | "
             "unanswered | faults | converged (s) | violations (unexplained / explained) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        total["runs"] += 1
        total[r["verdict"]] += 1
        if r["verdict"] == "skip":
            lines.append(f"| {r['experiment']} | {r['seed']} | skip: {r['reason']} "
                         "| | | | | | | | |")
            continue
        c = r["counts"]
        for k in ("requests", "accepted", "faults", "replies"):
            total[k] += c[k]
        total["unexplained"] += r["unexplained"]
        total["explained"] += r["explained"]
        conv = r.get("converged", {})
        lines.append(f"| {r['experiment']} | {r['seed']} | {r['verdict']} | {c['requests']} | "
                     f"{c['accepted']} | {c['not_serving']} | {c['replayed']} | "
                     f"{c['unanswered']} | {c['faults']} | "
                     f"{conv.get('seconds')}{'' if conv.get('ok') else ' (not converged)'} | "
                     f"{r['unexplained']} / {r['explained']}"
                     + (f" / {r['host_stall']} host stall" if r.get("host_stall") else "") + " |")
    lines += ["", f"{total['runs']} runs: {total['pass']} pass, {total['fail']} fail, "
              + (f"{total['host_stall']} host stall (inconclusive: bidctl silent while the "
                 "host stood still), " if total["host_stall"] else "")
              + f"{total['skip']} skipped; {total['requests']} requests ({total['replies']} "
              f"replies), {total['accepted']} accepted, {total['faults']} faults; "
              f"{total['unexplained']} unexplained and {total['explained']} explained "
              "violations.", ""]
    by_kind = defaultdict(list)
    for r in results:
        for v in r.get("violations", []):
            key = v.get("explained") or ("HOST STALL" if v.get("host_stall") else None)
            by_kind[(v["invariant"], key)].append((r["experiment"], r["seed"], v))
    if by_kind:
        lines += ["## Violations", ""]
    for (inv, why), items in sorted(by_kind.items(), key=lambda x: (x[0][1] is not None, x[0])):
        label = why if why == "HOST STALL" else ("explained: " + why if why else "UNEXPLAINED")
        lines.append(f"### {inv}: {len(items)} ({label})")
        for exp, seed, v in items[:5]:
            lines.append(f"- {exp} seed {seed}: {v['detail']}"
                         + (f" ({v['host_stall']})" if v.get("host_stall") else ""))
        if len(items) > 5:
            lines.append(f"- ... and {len(items) - 5} more (summary.json)")
        lines.append("")
    lines += ["Timelines: <experiment>-seed<N>/timeline.png; histories: "
              "<experiment>-seed<N>/history.jsonl (python3 tests/chaos/check.py FILE)."]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
