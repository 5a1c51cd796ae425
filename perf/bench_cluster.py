#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The cluster benchmark (issue 12, Performance); perf/bench_cluster.sh runs it.

Node A (node id 1) has two ports: a net_memif server that bidgen drives,
and a net_tap port on the bridge of a network namespace where its peers B
and C (node ids 2 and 3, one worker each, idle backoff) have theirs. The
namespace, bridge and nodes are tests/integration/cluster.py's. Every run
starts from empty state dirs, so each run sees the same table.

1. ratio: A's accepted bids per second with B and C live / the same with A
   alone (no --peer, B and C not running), same bidgen load and seed,
   uniform and zipf 0.99, alternating rounds; median and range.
2. lag: bidgen at half of A's median lone uniform rate; meanwhile a prober
   in the namespace sends one BID to A on an auction bidgen never touches,
   then QUERYs B back to back until B shows A's stamp as leading_hlc.
   lag = (receipt of the first QUERY reply from B that shows it) - (receipt
   of A's ACCEPTED reply); resolution: one QUERY round trip to B.
3. bytes: the kernel counters of the taps over each cluster run (from
   before bidgen starts to 1 s after it ends): frames the nodes sent on
   their taps (every peer message once, Ethernet header included, no
   preamble, FCS or gap), all nodes and A's own, / bids accepted by A.

Prints every figure and writes results.json and table.md in the output dir.
Everything is printed, nothing asserted but completion."""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bptest  # noqa: E402
import cluster  # noqa: E402
from cluster import Cluster, ClusterNode, node_ip  # noqa: E402

ACCEPTED = 0
A, B, C = 1, 2, 3


def env_int(name, default):
    text = os.environ.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"error: {name}={text}: expected a whole number >= 1")
    return int(text)


SECS = env_int("CLUSTER_SECONDS", 6)
ROUNDS = env_int("CLUSTER_ROUNDS", 3)
PROBES = env_int("CLUSTER_PROBES", 300)
LAG_SECS = env_int("CLUSTER_LAG_SECONDS", 12)
# Heartbeats alone are measured over this long (0: not measured).
IDLE_SECS = os.environ.get("CLUSTER_IDLE_SECONDS", "3")
if not IDLE_SECS.isdigit():
    sys.exit(f"error: CLUSTER_IDLE_SECONDS={IDLE_SECS}: expected a whole number >= 0")
IDLE_SECS = int(IDLE_SECS)
DEDUP_RATE = env_int("CLUSTER_DEDUP_RATE", 3000000)
AUCTIONS = env_int("CLUSTER_AUCTIONS", 10000)  # bidgen's 1..AUCTIONS; the prober's above
PROBE_AUCTIONS = 100
OUT = os.environ.get("CLUSTER_OUT", "build/bench-cluster")
BIN = os.environ.get("CLUSTER_BUILD_DIR", "build")
NO_HUGE = os.environ.get("CLUSTER_NO_HUGE", "0") == "1"
# B and C: every lcore on these CPUs (A's worker keeps CPU 1 to itself).
PEER_CPU = os.environ.get("CLUSTER_PEER_CPU", "0")
# --peer-window of every node (unset: the node's default).
PEER_WINDOW = os.environ.get("CLUSTER_PEER_WINDOW")
GEN_IP = "198.18.0.100"
# The loads of the throughput rounds (the smoke run takes uniform only).
KINDS = os.environ.get("CLUSTER_KINDS", "uniform zipf").split()
if not KINDS or any(k not in ("uniform", "zipf") for k in KINDS):
    sys.exit(f"error: CLUSTER_KINDS={os.environ.get('CLUSTER_KINDS')}: "
             "expected uniform, zipf or both")
# bidgen's DPDK file prefix (perf/bench_cluster.sh removes what it leaves).
GEN_PREFIX = os.environ.get("CLUSTER_PREFIX", f"bpperf-{os.getpid()}") + "-gen"
os.environ.setdefault("BP_BIDSTAT", os.path.join(BIN, "bidstat"))
import bench_report  # noqa: E402  (after BP_BIDSTAT: it reads it once)


def say(text):
    print(f"==> {text}", file=sys.stderr, flush=True)


def mem_args(mb):
    """EAL memory options for a process needing about mb MB."""
    if NO_HUGE:
        return ["--no-huge", "-m", str(mb)]
    return ["--huge-unlink"]


# What the lag run reports of A's replication (summed over its peers).
FLOW_COUNTERS = ("peer_outstanding_overflows_total", "peer_sync_pages_served_total",
                 "peer_window_full_total", "peer_pending_shipped_total",
                 "peer_pending_coalesced_total", "peer_pending_overflows_total",
                 "peer_syncs_pushed_total", "peer_retransmissions_total", "peer_tx_dropped_total",
                 "peer_tx_held_total")

class Bench:
    def __init__(self):
        os.makedirs(OUT, exist_ok=True)
        for f in os.listdir(OUT):
            if f.endswith((".json", ".txt", ".log", ".md")):
                os.unlink(os.path.join(OUT, f))
        self.c = Cluster("perf", binary=os.path.join(BIN, "bidplane"),
                         bidctl=os.path.join(BIN, "bidctl"))
        self.c._make_namespace()
        self.c.ns_made = True
        self.key_file = os.path.join(self.c.root, "cluster.key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, os.urandom(32).hex().encode() + b"\n")
        os.close(fd)
        self.sock = os.path.join(self.c.root, "memif.sock")
        self.life = {A: 0, B: 0, C: 0}
        self.gen = None
        self.died = []  # nodes that exited before they were stopped
        self.run_name = None
        # What this run made, for the smoke test to check it is all gone.
        self.made = {"netns": self.c.ns, "root": self.c.root, "dpdk_prefixes": [GEN_PREFIX],
                     "stats": []}

    # --- nodes --------------------------------------------------------------

    def common_args(self):
        return ["--open-range", f"1-{AUCTIONS + PROBE_AUCTIONS}", "--max-auctions", "200000",
                "--increment", "1", "--duration", "3600"]

    def peer_args(self, i):
        args = ["--cluster-key-file", self.key_file]
        for j in (A, B, C):
            if j != i:
                args += ["--peer", f"{j}@{node_ip(j)}"]
        return args + (["--peer-window", PEER_WINDOW] if PEER_WINDOW else [])

    def spawn(self, i, peers):
        """Node i from an empty state dir (a run never sees the last one's)."""
        self.life[i] += 1
        state = os.path.join(self.c.root, f"node{i}", "state")
        shutil.rmtree(state, ignore_errors=True)
        os.makedirs(state)
        args = self.common_args() + (self.peer_args(i) if peers else [])
        if i == A:
            # As perf/bench.sh's node: one busy-polling worker sized for
            # millions of new ids per second.
            args += ["--no-idle-backoff", "--overload-backlog", "0", "--dedup-seconds", "1",
                     "--dedup-rate", str(DEDUP_RATE)]
        node = ClusterNode(self.c, i, state, args, 1, self.life[i])
        cmd = node.cmd
        k = cmd.index("--no-huge")
        if i == A:
            cmd[k:k + 3] = mem_args(DEDUP_RATE * 192 // 1048576 + 512)
            cmd[cmd.index("--no-pci")] = f"--vdev=net_memif0,role=server,socket={self.sock}"
            cmd.insert(cmd.index("--"), "--no-pci")
        else:
            cmd[[n for n, a in enumerate(cmd) if a.startswith("--lcores=")][0]] = \
                f"--lcores=0@{PEER_CPU},1@{PEER_CPU}"
        node.spec = (args, 1, 60)
        node.life = self.life[i]
        self.c.nodes[i] = node
        node.start(timeout=60)
        self.made["stats"].append(node.stats_name)
        if node.prefix:
            self.made["dpdk_prefixes"].append(node.prefix)
        return node

    def stop_all(self):
        """Stops every node; one that exited by itself is reported (with its
        output) and its leftovers removed all the same."""
        for i in list(self.c.nodes):
            node = self.c.nodes[i]
            if node.alive():
                rc = self.c.stop_node(i)
                text = node.text()
                if rc is not None and rc < 0:  # a signal other than our SIGTERM's clean exit
                    say(f"node {i} died by signal {-rc} while stopping; its output:\n"
                        + text[-4000:])
                    self.died.append({"node": i, "exit": rc, "run": f"{self.run_name} (stop)",
                                      "output": text[-4000:]})
            elif node.proc is not None:
                rc = node.proc.wait()
                say(f"node {i} had exited by itself (exit {rc}); its output:\n"
                    + node.text()[-4000:])
                self.died.append({"node": i, "exit": rc, "run": self.run_name,
                                  "output": node.text()[-4000:]})
                node.kill()  # closes its pipe, removes its leftovers
            del self.c.nodes[i]

    def wait_serving(self, nodes, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = {i: self.status(i) for i in nodes}
            if all(s.get("serving") for s in last.values()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"not serving after {timeout} s: {last}")

    def status(self, i):
        out = self.c.nodes[i].bidctl("--json", "status")
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def start(self, cluster_run):
        self.stop_all()
        if cluster_run:
            for i in (A, B, C):
                self.spawn(i, True)
            self.wait_serving([A, B, C])
        else:
            self.spawn(A, False)
            self.wait_serving([A])

    # --- bidgen -------------------------------------------------------------

    def bidgen_cmd(self, name, secs, rate, zipf, seed):
        cmd = ["ip", "netns", "exec", self.c.ns, "timeout", "-k", "5", str(secs + 60),
               os.path.join(BIN, "bidgen")] + mem_args(512) + [
            "--file-prefix", GEN_PREFIX, "--lcores=0@0", "--no-pci",
            f"--vdev=net_memif0,role=client,socket={self.sock}", "--",
            "--duration", str(secs), "--quiet", "--json", os.path.join(OUT, name + ".json"),
            "--rate", str(rate), "--auctions", f"1-{AUCTIONS}", "--dst-ip", node_ip(A),
            "--src-ip", GEN_IP, "--seed", str(seed)]
        if zipf:
            cmd += ["--zipf", "0.99"]
        return cmd

    def bidgen_start(self, name, secs, rate=0, zipf=False, seed=1):
        log = open(os.path.join(OUT, name + ".txt"), "w")
        self.gen = subprocess.Popen(self.bidgen_cmd(name, secs, rate, zipf, seed),
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=cluster._die_with_parent)
        self.gen.log = log
        return self.gen

    def bidgen_wait(self, name):
        rc = self.gen.wait()
        self.gen.log.close()
        self.gen = None
        with open(os.path.join(OUT, name + ".txt")) as f:
            text = f.read()
        if rc != 0:
            raise RuntimeError(f"bidgen {name} failed (exit {rc}):\n{text[-3000:]}")
        with open(os.path.join(OUT, name + ".json")) as f:
            r = json.load(f)
        replies = r["replies"]["bid_reply"]
        r["accepted"] = replies.get("accepted", 0)
        got = r["received"] or 1
        r["accepted_mpps"] = r["served_mpps"] * r["accepted"] / got
        return r

    # --- taps ---------------------------------------------------------------

    def tap_counters(self, full=False):
        """{node: (tx_packets, tx_bytes)} as each running node sent them on
        its tap (the kernel side's rx); full: the kernel's whole stats64.
        A tap that cannot be read is retried, then left out."""
        res = {}
        for i, node in self.c.nodes.items():
            if not node.alive():
                continue
            for _ in range(3):
                r = self.c.exec("ip", "-j", "-s", "link", "show", "dev", node.port, check=False)
                try:
                    stats = json.loads(r.stdout)[0]["stats64"]
                except (ValueError, IndexError, KeyError):
                    time.sleep(0.05)
                    continue
                rx = stats["rx"]
                res[i] = stats if full else (rx["packets"], rx["bytes"])
                break
        return res

    # --- the runs -----------------------------------------------------------

    def cpu_seconds(self):
        """{node: CPU seconds so far (user + system, all its threads)}, and
        bidgen's under "gen"."""
        tick = os.sysconf("SC_CLK_TCK")
        pids = {str(i): n.proc.pid for i, n in self.c.nodes.items() if n.alive()}
        if self.gen is not None:
            pids["gen"] = self.gen.pid
        out = {}
        for k, pid in pids.items():
            try:
                # bidgen runs under timeout (ip netns exec execs it).
                while k == "gen" and open(f"/proc/{pid}/comm").read().strip() != "bidgen":
                    pid = int(open(f"/proc/{pid}/task/{pid}/children").read().split()[0])
                f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                out[k] = (int(f[11]) + int(f[12])) / tick
            except (OSError, IndexError, ValueError):
                out[k] = None
        return out

    def a_threads(self):
        """A's CPU seconds so far per thread name (its main lcore runs the
        control thread; lcore-worker-1 is its worker)."""
        tick = os.sysconf("SC_CLK_TCK")
        pid, out = self.c.nodes[A].proc.pid, {}
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                comm = open(f"/proc/{pid}/task/{t}/comm").read().strip()
                f = open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[comm] = out.get(comm, 0) + (int(f[11]) + int(f[12])) / tick
        return out

    def exception_counters(self):
        """{node: {counter: sum over its workers}}: peer datagrams (and ARP)
        handed by the workers to the control thread, and those dropped
        because its ring was full."""
        keys = ("exceptions_total/to_control", "drops_total/worker/exception_ring_full")
        out = {}
        for i, node in self.c.nodes.items():
            r = subprocess.run([os.environ["BP_BIDSTAT"], "--once", "--json", node.stats_name],
                               capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                continue
            m = {x["key"]: sum(x["workers"]) for x in json.loads(r.stdout)["metrics"]
                 if x["key"] in keys}
            out[str(i)] = m
        return out

    def peer_counters(self, i):
        """Node i's replication counters (flow control, full syncs), summed
        over its peers; a counter this build lacks is left out."""
        r = subprocess.run([os.environ["BP_BIDSTAT"], "--once", "--json",
                            self.c.nodes[i].stats_name],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return {}
        out = {}
        for x in json.loads(r.stdout)["metrics"]:
            name = x["key"].split("/")[0]
            if name == "peer_drops_total" and x["total"]:  # by reason
                name = "peer_drops_total/" + x["key"].split("reason=")[-1]
            if name in FLOW_COUNTERS or (name.startswith("peer_drops_total/") and x["total"]):
                out[name] = out.get(name, 0) + x["total"]
        return out

    def worker_idle_rate(self):
        """A's worker 0 over the middle of a run, as perf/bench.sh measures
        it (perf/bench_report.py): polls with frames / all polls, and time
        busy = 1 - idle polls x (time of one idle poll, measured on the
        unloaded worker in the first 0.5 s) / window."""
        name = self.c.nodes[A].stats_name
        first = bench_report.snapshot(name)
        time.sleep(0.5)
        last = bench_report.snapshot(name)
        idle_rate = (last["idle"] - first["idle"]) / max(last["t"] - first["t"], 1e-9)
        return name, idle_rate

    def watch_serving(self, stop, seen):
        """Until stop is set: A's not_serving_reason every 0.25 s, counted
        in seen (a run that answers NOT_SERVING says why)."""
        while not stop.wait(0.25):
            st = self.status(A)
            reason = str(st.get("not_serving_reason")) if st else "no status"
            seen[reason] = seen.get(reason, 0) + 1

    def throughput_run(self, name, cluster_run, zipf, seed):
        self.run_name = name
        self.start(cluster_run)
        time.sleep(0.3)
        stats, idle_rate = self.worker_idle_rate()
        before = self.tap_counters()
        exc0 = self.exception_counters()
        t0 = time.monotonic()
        self.bidgen_start(name, SECS, zipf=zipf, seed=seed)
        stop, seen = threading.Event(), {}
        watcher = threading.Thread(target=self.watch_serving, args=(stop, seen), daemon=True)
        watcher.start()
        time.sleep(1.0 + SECS / 10)
        cpu0, th0 = self.cpu_seconds(), self.a_threads()
        a = bench_report.snapshot(stats)
        time.sleep(SECS / 2)
        b = bench_report.snapshot(stats)
        cpu1, th1 = self.cpu_seconds(), self.a_threads()
        r = self.bidgen_wait(name)
        stop.set()
        watcher.join(timeout=15)
        r["a_not_serving_reasons"] = seen
        window = b["t"] - a["t"]
        busy, idle = b["busy"] - a["busy"], b["idle"] - a["idle"]
        r["a_worker"] = {"busy_polls": busy / max(busy + idle, 1),
                         "busy_time": (max(0.0, 1 - idle / idle_rate / window)
                                       if idle_rate and window > 0 else None),
                         "rx_mpps": (b["rx"] - a["rx"]) / window / 1e6}
        r["cpu_share"] = {k: (cpu1[k] - cpu0[k]) / window for k in cpu1
                          if cpu1.get(k) is not None and cpu0.get(k) is not None}
        r["a_thread_share"] = {k: (th1[k] - th0.get(k, 0)) / window for k in th1
                               if th1[k] - th0.get(k, 0) > 0}
        time.sleep(1.0)  # the last deltas and their ACKs
        after = self.tap_counters()
        r["exceptions"] = diff_counters(exc0, self.exception_counters())
        window = time.monotonic() - t0
        r["tap_window_s"] = window
        if cluster_run:
            r["peer_status_a"] = self.status(A).get("peers")
        r["tap"] = {str(i): [after[i][0] - before[i][0], after[i][1] - before[i][1]]
                    for i in after if i in before}
        with open(os.path.join(OUT, f"node-{name}.log"), "w") as f:
            for i in sorted(self.c.nodes):
                f.write(f"--- node {i}\n{self.c.nodes[i].text()}\n")
        self.stop_all()
        return r

    def idle_tap_rate(self):
        """Peer bytes per second with no client traffic (heartbeats)."""
        self.run_name = "idle"
        self.start(True)
        time.sleep(1.0)
        before, t0 = self.tap_counters(), time.monotonic()
        time.sleep(IDLE_SECS)
        after, dt = self.tap_counters(), time.monotonic() - t0
        self.stop_all()
        return {str(i): [(after[i][0] - before[i][0]) / dt, (after[i][1] - before[i][1]) / dt]
                for i in after if i in before}

    def lag_run(self, rate, probes):
        """Probes (below) while bidgen offers `rate` to A (None: no load)."""
        self.run_name = "lag" if rate is not None else "lag-idle"
        self.start(True)
        secs = LAG_SECS
        if rate is not None:
            self.bidgen_start("lag-load", secs, rate=rate, seed=7)
        warmup = min(1.5, secs / 4)
        time.sleep(warmup)
        to_a = self.c.client(A, timeout=0.5)
        to_b = self.c.client(B, timeout=0.5)
        lags, rtts, missed = [], [], 0
        self.probe_refused = {}  # status (or "no reply") -> probes A did not accept
        taps0 = self.tap_counters(full=True)
        exc0 = self.exception_counters()
        cpu0, th0, t_load = self.cpu_seconds(), self.a_threads(), time.monotonic()
        rid = 1 << 40
        deadline = time.monotonic() + secs - warmup - 0.5
        for n in range(probes):
            gen_done = self.gen is not None and self.gen.poll() is not None
            if time.monotonic() > deadline or gen_done:
                break
            auction = AUCTIONS + 1 + n % PROBE_AUCTIONS
            rid += 1
            try:
                # ask() retries a lost reply and OVERLOADED (A's idempotency
                # table full under load) up to 5 times.
                reply = to_a.ask(bptest.bid(rid, auction, 1, n + 1))
            except AssertionError:
                reply = {"status": "no reply"}
            t_a = time.perf_counter()
            if reply["status"] != ACCEPTED:
                self.probe_refused[str(reply["status"])] = \
                    self.probe_refused.get(str(reply["status"]), 0) + 1
                missed += 1
                continue
            stamp = reply["hlc"]
            seen = None
            while time.perf_counter() - t_a < 2.0:
                rid += 1
                q0 = time.perf_counter()
                to_b.send(bptest.query(rid, auction))
                data = to_b.recv(0.5)
                t = time.perf_counter()
                if data is None:
                    continue
                rtts.append(t - q0)
                q = bptest.parse_reply(data)
                if q["request_id"] == rid and q["leading_hlc"] >= stamp:
                    seen = t
                    break
            if seen is None:
                missed += 1
            else:
                lags.append((seen - t_a, time.monotonic() - t_load))
            time.sleep(0.02)
        cpu1, th1, dt = self.cpu_seconds(), self.a_threads(), time.monotonic() - t_load
        self.lag_dt = dt
        self.lag_cpu = {k: (cpu1[k] - cpu0[k]) / dt for k in cpu1
                        if cpu1.get(k) is not None and cpu0.get(k) is not None}
        self.lag_cpu.update({f"A:{k}": (th1[k] - th0.get(k, 0)) / dt for k in th1
                             if th1[k] - th0.get(k, 0) > 0})
        self.lag_exceptions = diff_counters(exc0, self.exception_counters())
        self.lag_status = {i: self.status(i).get("peers") for i in (A, B, C)}
        self.lag_flow = self.peer_counters(A)
        self.lag_flow_b = self.peer_counters(B)
        taps1 = self.tap_counters(full=True)
        # Frames the kernel could not hand to a node (its tap queue full)
        # or a node could not send.
        self.lag_taps = {i: {d: {k: taps1[i][d][k] - taps0[i][d][k] for k in taps1[i][d]}
                             for d in ("rx", "tx")} for i in taps1 if i in taps0}
        load = self.bidgen_wait("lag-load") if rate is not None else None
        self.stop_all()
        return lags, rtts, missed, load

    def kill_gen(self):
        if self.gen is not None and self.gen.poll() is None:
            self.gen.kill()
            self.gen.wait()


def diff_counters(a, b):
    return {i: {k: v - a.get(i, {}).get(k, 0) for k, v in m.items()} for i, m in b.items()}


def exc_text(e):
    return "; ".join(f"node {i}: to control {m.get('exceptions_total/to_control', 0)}, "
                     f"ring full {m.get('drops_total/worker/exception_ring_full', 0)}"
                     for i, m in sorted(e.items()))


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def spread(values):
    values = [v for v in values if v == v]  # no NaN
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "values": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def main():
    bench = Bench()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {"seconds": SECS, "rounds": ROUNDS, "peer_cpu": PEER_CPU, "auctions": AUCTIONS,
               "kinds": KINDS,
               "rounds_data": []}
    # CLUSTER_LAG_RATE=N: only the lag runs, at N requests/s.
    lag_rate = os.environ.get("CLUSTER_LAG_RATE")
    if lag_rate is not None and not lag_rate.isdigit():
        sys.exit(f"error: CLUSTER_LAG_RATE={lag_rate}: expected requests per second")
    try:
        for r in range(1, 0 if lag_rate else ROUNDS + 1):
            rnd = {"round": r}
            for kind in KINDS:
                zipf = kind == "zipf"
                for mode in ("lone", "cluster"):
                    name = f"{kind}-{mode}-{r}"
                    say(f"round {r}/{ROUNDS}: A {mode}, {kind}, bidgen at full rate ({SECS}s)")
                    run = bench.throughput_run(name, mode == "cluster", zipf, seed=r * 10 + zipf)
                    rnd[f"{kind}_{mode}"] = run
                    say(f"  accepted {run['accepted_mpps']:.3f} Mpps of "
                        f"{run['served_mpps']:.3f} served, taps {run['tap']}")
                rnd[f"{kind}_ratio"] = (rnd[f"{kind}_cluster"]["accepted_mpps"]
                                        / max(rnd[f"{kind}_lone"]["accepted_mpps"], 1e-9))
            results["rounds_data"].append(rnd)
        if IDLE_SECS and not lag_rate:
            say(f"heartbeats: the three nodes idle ({IDLE_SECS} s)")
            results["idle_tap_per_s"] = bench.idle_tap_rate()
        if lag_rate:
            half = int(lag_rate)
        else:
            half = int(statistics.median(
                x["uniform_lone"]["served_mpps"] for x in results["rounds_data"]) * 1e6 / 2)
        say(f"lag: bidgen at {half} requests/s (half of A's median lone uniform rate), "
            f"{PROBES} probes")
        lags, rtts, missed, load = bench.lag_run(half, PROBES)
        results["lag"] = {"rate": half, "probes": len(lags), "missed": missed,
                          "refused_by_a": bench.probe_refused,
                          "lag_ms": [x * 1e3 for x, _ in lags],
                          "lag_at_s": [[round(t, 3), round(x * 1e3, 3)] for x, t in lags],
                          "query_rtt_ms": [x * 1e3 for x in rtts],
                          "cpu_share": bench.lag_cpu, "peers": bench.lag_status,
                          "a_peer_counters": bench.lag_flow,
                          "b_peer_counters": bench.lag_flow_b,
                          "taps": bench.lag_taps, "exceptions": bench.lag_exceptions,
                          "a_out_bytes_per_s": (bench.lag_taps.get(A, {}).get("rx", {}).get(
                              "bytes", float("nan")) / bench.lag_dt),
                          "load": {k: load[k] for k in ("offered_mpps", "served_mpps",
                                                         "accepted_mpps", "lost")}}
        say(f"lag without load: {PROBES // 3} probes")
        lags, rtts, missed, _ = bench.lag_run(None, PROBES // 3)
        results["lag_idle"] = {"rate": 0, "probes": len(lags), "missed": missed,
                               "lag_ms": [x * 1e3 for x, _ in lags],
                               "query_rtt_ms": [x * 1e3 for x in rtts]}
    finally:
        bench.kill_gen()
        bench.stop_all()
        bench.c.stop()
        shutil.rmtree(f"/var/run/dpdk/{GEN_PREFIX}", ignore_errors=True)
    results["made"] = bench.made
    results["nodes_died"] = bench.died
    # The raw figures first: a report that fails loses nothing.
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results)


def tap_sum(run, who, field):
    """Bytes (field 1) or frames (0) the nodes sent on their taps: A's or
    all three; NaN when a tap could not be read."""
    tap = run["tap"]
    nodes = [str(A)] if who == "a" else [str(i) for i in (A, B, C)]
    if any(n not in tap for n in nodes):
        return float("nan")
    return sum(tap[n][field] for n in nodes)


def bytes_per_bid(run, who):
    return tap_sum(run, who, 1) / max(run["accepted"], 1)


def frames_per_bid(run, who):
    return tap_sum(run, who, 0) / max(run["accepted"], 1)


def busy(run):
    t = run.get("a_worker", {}).get("busy_time")
    return "-" if t is None else f"{100 * t:.1f}%"


def report(res):
    rows = ["| round | load | A alone: accepted / served Mpps | A + B + C: accepted / served Mpps"
            " | ratio | A worker busy (time) alone / cluster | peer B/accepted bid (all nodes)"
            " | of it A's out | frames/1000 bids (all) |",
            "|---|---|---|---|---|---|---|---|---|"]
    cpu_rows = ["| run | CPU share: bidgen | A | B | C | A per thread |",
                "|---|---|---|---|---|---|"]
    summary = {}
    for kind in res["kinds"] if res["rounds_data"] else ():
        ratios = [x[f"{kind}_ratio"] for x in res["rounds_data"]]
        allb = [bytes_per_bid(x[f"{kind}_cluster"], "all") for x in res["rounds_data"]]
        ab = [bytes_per_bid(x[f"{kind}_cluster"], "a") for x in res["rounds_data"]]
        summary[kind] = {"ratio": spread(ratios), "bytes_per_bid_all": spread(allb),
                         "bytes_per_bid_a_out": spread(ab)}
    for x in res["rounds_data"]:
        for kind in res["kinds"]:
            lone, cl = x[f"{kind}_lone"], x[f"{kind}_cluster"]
            rows.append(f"| {x['round']} | {kind if kind == 'uniform' else 'zipf 0.99'} | "
                        f"{lone['accepted_mpps']:.3f} / {lone['served_mpps']:.3f} | "
                        f"{cl['accepted_mpps']:.3f} / {cl['served_mpps']:.3f} | "
                        f"{x[f'{kind}_ratio']:.2f} | {busy(lone)} / {busy(cl)} | "
                        f"{bytes_per_bid(cl, 'all'):.2f} | "
                        f"{bytes_per_bid(cl, 'a'):.2f} | {1000 * frames_per_bid(cl, 'all'):.2f} |")
            for mode, run in (("alone", lone), ("cluster", cl)):
                cs = run.get("cpu_share", {})
                cpu_rows.append(f"| {x['round']} {kind} {mode} | " + " | ".join(
                    f"{cs[k]:.2f}" if k in cs else "-" for k in ("gen", "1", "2", "3")) + " | " +
                    ", ".join(f"{t} {v:.2f}" for t, v in sorted(
                        run.get("a_thread_share", {}).items()) if v >= 0.01) + " |")
    for x in res["rounds_data"]:
        for kind in res["kinds"]:
            for mode in ("lone", "cluster"):
                run = x[f"{kind}_{mode}"]
                ns = run["replies"]["bid_reply"].get("not_serving", 0)
                if ns:
                    rows.append(f"NOTE round {x['round']} {kind} {mode}: {ns} of {run['received']}"
                                f" replies NOT_SERVING; A's not_serving_reason, sampled every"
                                f" 0.25 s: {run.get('a_not_serving_reasons')}")
    for d in res.get("nodes_died", []):
        rows.append(f"NOTE node {d['node']} exited by itself (exit {d['exit']}, run "
                    f"{d['run']}) before it was stopped; its output is in results.json (nodes_died)")
    rows += [""] + cpu_rows + ["", "Frames the workers gave the control thread (peer datagrams, "
                               "ARP) and those dropped, its ring full:"]
    for x in res["rounds_data"]:
        for kind in res["kinds"]:
            rows.append(f"- {x['round']} {kind} cluster: " +
                        exc_text(x[f"{kind}_cluster"].get("exceptions", {})))
    lag = res["lag"]
    for key in ("lag", "lag_idle"):
        lag_ms = res[key]["lag_ms"]
        summary[key] = {"p50_ms": pct(lag_ms, 50), "p99_ms": pct(lag_ms, 99),
                        "max_ms": max(lag_ms) if lag_ms else None, "probes": res[key]["probes"],
                        "missed": res[key]["missed"],
                        "query_rtt_p50_ms": pct(res[key]["query_rtt_ms"], 50),
                        "query_rtt_p99_ms": pct(res[key]["query_rtt_ms"], 99),
                        "rate": res[key]["rate"]}
    res["summary"] = summary
    idle = res.get("idle_tap_per_s", {})
    lines = rows + [""]
    for kind in res["kinds"] if res["rounds_data"] else ():
        s = summary[kind]
        lines.append(f"ratio {kind}: median {s['ratio']['median']:.2f} "
                     f"({s['ratio']['min']:.2f}-{s['ratio']['max']:.2f}) over {res['rounds']} "
                     f"rounds (goal >= 0.8: {'met' if s['ratio']['median'] >= 0.8 else 'not met'})")
        lines.append(f"peer bytes per accepted bid, {kind}: all nodes' taps "
                     f"{s['bytes_per_bid_all']['median']:.2f} "
                     f"({s['bytes_per_bid_all']['min']:.2f}-{s['bytes_per_bid_all']['max']:.2f}),"
                     f" A's out {s['bytes_per_bid_a_out']['median']:.2f}")
    fmt = (lambda v: "-" if v is None else f"{v:.2f}")
    for key in ("lag", "lag_idle"):
        L = summary[key]
        load = f"{L['rate']} req/s offered to A" if L["rate"] else "no load"
        lines.append(f"lag A->B, {load}: p50 {fmt(L['p50_ms'])} ms, "
                     f"p99 {fmt(L['p99_ms'])} ms, max {fmt(L['max_ms'])} ms over {L['probes']} "
                     f"probes ({L['missed']} missed); QUERY round trip to B p50 "
                     f"{fmt(L['query_rtt_p50_ms'])} ms, p99 {fmt(L['query_rtt_p99_ms'])} ms "
                     f"(the resolution)")
    lines.append(f"lag run load: {lag['load']}")
    if lag.get("refused_by_a"):
        lines.append(f"lag run, probes A did not accept (status: count): {lag['refused_by_a']}")
    if lag["load"]["accepted_mpps"]:
        lines.append(f"lag run, A's peer bytes out per accepted bid: "
                     f"{lag['a_out_bytes_per_s'] / (lag['load']['accepted_mpps'] * 1e6):.2f}")
    thirds = [x for _, x in lag["lag_at_s"]]
    if len(thirds) >= 3:
        k = len(thirds) // 3
        lines.append(f"lag under load, median of the first third of the probes "
                     f"{statistics.median(thirds[:k]):.2f} ms, of the last third "
                     f"{statistics.median(thirds[-k:]):.2f} ms "
                     f"(over {lag['lag_at_s'][-1][0]:.1f} s)")
    lines.append("lag run, frames the workers gave the control thread: " +
                 exc_text(lag["exceptions"]))
    lines.append("lag run CPU share: " + ", ".join(f"{k} {v:.2f}"
                                                  for k, v in sorted(lag["cpu_share"].items())))
    lines.append(f"lag run, A's replication counters (both peers): {lag.get('a_peer_counters')}")
    lines.append(f"lag run, B's replication counters (both peers): {lag.get('b_peer_counters')}")
    lines.append("lag run, A's view of its peers at the end: " + ", ".join(
        f"node {p['node_id']} lag_ms {p['lag_ms']}" for p in (lag["peers"].get(1) or [])))
    lines.append("idle (heartbeats), per node: " + ", ".join(
        f"node {n} {v[0]:.1f} frames/s {v[1]:.0f} B/s" for n, v in sorted(idle.items())))
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
