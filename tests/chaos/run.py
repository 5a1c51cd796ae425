#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The chaos runner: experiments (tests/chaos/experiments/*.yaml) run from a
seed against a real cluster (tests/integration/cluster.py), each into a
history the checker (check.py) judges; a report and a timeline per run.

    sudo python3 tests/chaos/run.py --seed 1 --out /tmp/chaos \\
        tests/chaos/experiments/fiber_cut.yaml
    sudo python3 tests/chaos/run.py --runs 100 --seed 1 --out /tmp/chaos   # every experiment
    python3 tests/chaos/run.py --plan --seed 1 EXPERIMENT   # the schedule and requests only

One run: a fresh cluster (its own namespace, sockets, state dirs), the
workload's client threads (every send and reply recorded with monotonic
times), the fault schedule on the main thread (nodes are made from the
thread that started them: their parent-death signal follows it), status
samples of every node; then every fault healed, every node running,
convergence awaited (bounded), every node's final view of every auction
touched; the cluster removed and checked gone. A run is bounded by a
watchdog; the seed alone fixes the schedule and every request (what a node
answers, and when, is the cluster's part). Exit status: 0 when every run
passed or was skipped, 1 when a violation is unexplained, 2 on a bad
experiment file."""

import argparse
import errno
import glob
import hashlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import check  # noqa: E402
import report  # noqa: E402
import schema  # noqa: E402

EXPERIMENTS = os.path.join(HERE, "experiments")
SAMPLE_S = 0.25
SETUP_BUDGET_S = 120  # cluster start, final queries, teardown
# This runner starts an etcd member per run for experiments with
# cluster.etcd (tests/integration/etcd.py) and resolves node "leader".
RUNNER_RUNS_ETCD = True
BIDCTL_TIMEOUT_S = 2.0  # a status sample
DEDUP_SECONDS = 120  # longer than a run's workload and convergence (16-30 s and converge_s)
FINAL_TIMEOUT_S, FINAL_TRIES = 5.0, 3  # a final view
HOST_PROBE_S = 0.25  # the host probe's period (HostProbe)


def now():
    return time.monotonic_ns()


def timed_read_output(node):
    """The harness's reader of a node's output, with each line's arrival
    time kept too (node.timed), for the history's log records."""
    node.timed = []
    for line in node.proc.stdout:
        node.timed.append((now(), line))
        node.output.append(line)


class Recorder:
    """The history: records appended from every thread, written at the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, record_type, **fields):
        rec = dict(type=record_type, **fields)
        rec.setdefault("t", now())
        with self.lock:
            self.records.append(rec)
        return rec

    def write(self, path):
        with self.lock, open(path, "w") as f:
            for r in self.records:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")


# --- the plan: everything the seed decides ----------------------------------

def plan(exp, seed):
    """The run's requests per client and its fault schedule, from the seed
    alone: {clients: [[request...]...], faults: [...], closing: [...]}."""
    rng = random.Random(f"{exp['name']}/{seed}")
    w = exp["workload"]
    n = exp["cluster"]["nodes"]
    auctions = list(range(1, w["auctions"] + 1))
    hot = auctions[:w["hot"]["auctions"]]
    cold = auctions[len(hot):] or hot
    closing = list(range(w["auctions"] + 1, w["auctions"] + 1 + w["closing"]["auctions"]))
    amount = {a: 0 for a in auctions + closing}
    total = int(w["duration_s"] * w["rate"])
    clients = [[] for _ in range(w["clients"])]
    for i in range(total):
        if closing and rng.random() < 0.15:
            a = rng.choice(closing)
        elif hot and rng.random() < w["hot"]["fraction"]:
            a = rng.choice(hot)
        else:
            a = rng.choice(cold)
        # Mostly rising, some too low: both outcomes occur.
        amount[a] = max(1, amount[a] + rng.randint(-3, 10))
        clients[i % w["clients"]].append(dict(
            rid=i + 1, due_s=i / w["rate"], auction=a, bidder=rng.randint(1, 99),
            amount=amount[a], node=rng.randint(1, n), dup=rng.random() < w["duplicate_sends"],
            rng=rng.random()))
    faults = []
    for f in exp["faults"]:
        args = dict(f["args"])
        if args.get("node") == "random":
            args["node"] = rng.randint(1, n)
        if f["kind"] == "partition" and args["shape"] == "halves":
            del args["node"]  # drawn all the same: the stream stays as it was
        at = f["at"]
        if args.get("jitter_s"):  # drawn only when asked: older streams stay as they were
            at = round(at + rng.uniform(0, args["jitter_s"]), 3)
        faults.append(dict(at=at, kind=f["kind"], args=args))
        f = dict(f, at=at)
        if f["kind"] == "kill" and args.get("restart_after_s") is not None:
            faults.append(dict(at=f["at"] + args["restart_after_s"], kind="restart",
                               args=dict(node=args["node"])))
        if f["kind"] == "stop" and args.get("cont_after_s") is not None:
            faults.append(dict(at=f["at"] + args["cont_after_s"], kind="cont",
                               args=dict(node=args["node"])))
            if args.get("hold_ceiling_s") is not None:
                faults.append(dict(at=f["at"] + args["cont_after_s"] + args["hold_ceiling_s"],
                                   kind="release_ceiling", args=dict(node=args["node"])))
        if f["kind"] == "disk_full" and args.get("free_after_s") is not None:
            faults.append(dict(at=f["at"] + args["free_after_s"], kind="disk_free",
                               args=dict(node=args["node"])))
        if f["kind"] == "etcd_stop" and args.get("back_after_s") is not None:
            faults.append(dict(at=f["at"] + args["back_after_s"], kind="etcd_start", args={}))
    faults.sort(key=lambda f: f["at"])
    return dict(clients=clients, faults=faults, closing=closing,
                fault_seed=rng.randint(1, 2**31))


def plan_digest(p):
    return hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()[:16]


def groups_for(shape, node, n):
    """A partition's groups: one node alone, two halves, or two halves
    joined by a bridge node (in no group: it keeps its links)."""
    ids = list(range(1, n + 1))
    if shape == "one":
        return [[node], [i for i in ids if i != node]]
    if shape == "halves":
        k = math.ceil(n / 2)
        return [ids[:k], ids[k:]]
    rest = [i for i in ids if i != node]
    k = math.ceil(len(rest) / 2)
    return [rest[:k], rest[k:]]


# --- support: what the node can do today ------------------------------------

def missing_needs(exp, binary, bidctl=None):
    """Why the experiment cannot run on this node yet, or None."""
    try:
        text = subprocess.run([binary, "--help"], capture_output=True, text=True,
                              timeout=30).stdout
    except OSError as e:
        return f"cannot run {binary}: {e.strerror}"
    text += subprocess.run([binary, "--", "--help"], capture_output=True, text=True,
                           timeout=30).stdout
    why = []
    if "etcd" in exp["needs"]:
        if not RUNNER_RUNS_ETCD:
            why.append("needs etcd: this runner does not start etcd")
        elif "--etcd" not in text:
            why.append("needs etcd: the node has no --etcd option yet (fenced settlement, "
                       "CLUSTER.md promise 6, is being built)")
        elif not any(os.access(os.path.join(d, "etcd"), os.X_OK)
                     for d in os.environ.get("PATH", "").split(":")):
            why.append("needs etcd: no etcd binary on PATH (apt-get install etcd-server)")
    if "durability" in exp["needs"] and "--durability" not in text:
        why.append("needs durability: the node has no --durability option yet (the "
                   "write-ahead log is being built)")
    if "clock_control" in exp["needs"]:
        helps = ""
        try:
            helps = subprocess.run([bidctl or "build/bidctl", "--help"], capture_output=True,
                                   text=True, timeout=30).stdout
        except OSError:
            pass
        if "clock-offset" not in helps:
            why.append("needs clock_control: this bidctl has no clock-offset command (changes "
                       "a running node's clock offset)")
    return "; ".join(why) or None


# --- the workload -----------------------------------------------------------

class ClientThread(threading.Thread):
    """One client: its planned requests at their times, retries with
    exponential backoff and jitter (on the same node or another), duplicate
    sends; every datagram sent and received recorded."""

    def __init__(self, idx, c, cl, requests, exp, start, stop_at, rec):
        super().__init__(name=f"client{idx}", daemon=True)
        self.idx = idx
        self.requests = requests
        self.retries = exp["workload"]["retries"]
        self.nodes = exp["cluster"]["nodes"]
        self.start_ns = start
        self.stop_at = stop_at
        self.rec = rec
        self.error = None
        with cl.in_netns(c.ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((cl.CLIENT_IP, 0))

    def run(self):
        try:
            for req in self.requests:
                due = self.start_ns + int(req["due_s"] * 1e9)
                if due >= self.stop_at:
                    break
                delay = (due - now()) / 1e9
                if delay > 0:
                    self.receive(now() + int(delay * 1e9), None)
                self.one(req)
            self.receive(now() + int(self.retries["timeout_ms"] * 1e6), None)  # late replies
        except Exception as e:  # noqa: BLE001  (reported by the runner)
            self.error = e
        finally:
            self.sock.close()

    def one(self, req):
        import bptest
        rng = random.Random(req["rng"])
        payload = bptest.bid(req["rid"], req["auction"], req["bidder"], req["amount"],
                             client_ts=req["rid"])
        node = req["node"]
        for attempt in range(self.retries["max"]):
            if attempt and rng.random() < self.retries["other_node"] and self.nodes > 1:
                node = rng.choice([i for i in range(1, self.nodes + 1) if i != node])
            copies = 2 if req["dup"] and attempt == 0 else 1
            for copy in range(copies):
                self.rec.add("send", client=self.idx, node=node, rid=req["rid"],
                             auction=req["auction"], bidder=req["bidder"],
                             amount=req["amount"], attempt=attempt, copy=copy)
                self.sock.sendto(payload, (node_ip(node), 7600))
            status = self.receive(now() + int(self.retries["timeout_ms"] * 1e6), req["rid"])
            if status is not None and status not in (check.OVERLOADED, check.NOT_SERVING):
                return
            if now() >= self.stop_at:
                return
            backoff = min(self.retries["backoff_cap_ms"],
                          self.retries["backoff_ms"] * 2**attempt)
            backoff *= 1 - self.retries["jitter"] * rng.random()
            self.receive(now() + int(backoff * 1e6), None)

    def receive(self, until, rid):
        """Records every reply until `until` (monotonic ns); returns the
        status of the first reply to `rid` (None: none came)."""
        import bptest
        while True:
            left = (until - now()) / 1e9
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(2048)
            except (TimeoutError, BlockingIOError, socket.timeout):
                return None
            t = now()
            try:
                r = bptest.parse_reply(data)
            except AssertionError:
                self.rec.add("garbage", t=t, client=self.idx, hex=data.hex())
                continue
            if r["type"] != bptest.BID_REPLY:
                continue
            self.rec.add("reply", t=t, client=self.idx, node=node_of(addr[0]),
                         rid=r["request_id"], auction=r["auction_id"], status=r["status"],
                         replayed=bool(r["flags"] & bptest.REPLAYED), hlc=r["hlc"],
                         leading_amount=r["leading_amount"],
                         leading_bidder=r["leading_bidder"])
            if r["request_id"] == rid:
                return r["status"]


def node_ip(i):
    return f"198.18.0.{10 + i}"


def node_of(ip):
    return int(ip.rsplit(".", 1)[1]) - 10


def bidctl_json(c, i, *args, timeout=BIDCTL_TIMEOUT_S):
    """bidctl --json against node i, bounded; (dict or None, error text)."""
    node = c.nodes.get(i)
    if node is None or not node.alive():
        return None, "node not running"
    try:
        r = subprocess.run([c.bidctl_binary, "--socket", node.ctl, "--json"] + list(args),
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "bidctl timed out (node stopped?)"
    try:
        return json.loads(r.stdout), (r.stderr.strip() if r.returncode else None)
    except json.JSONDecodeError:
        return None, (r.stderr or r.stdout).strip() or f"bidctl exit {r.returncode}"


def leadership(st):
    """What a status says of leadership and settlement (CLUSTER.md)."""
    e = st.get("etcd") or {}
    return dict(leader=bool(st.get("leader")), fencing_token=st.get("fencing_token", 0),
                fencing_rejections=st.get("fencing_rejections", 0),
                settlements=st.get("settlements"), etcd_reachable=e.get("reachable"),
                etcd_leader=e.get("leader_node_id"))


class Sampler(threading.Thread):
    """bidctl --json status of every node every SAMPLE_S seconds."""

    def __init__(self, c, rec, lives):
        super().__init__(name="sampler", daemon=True)
        self.c, self.rec, self.lives = c, rec, lives
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(SAMPLE_S):
            for i in sorted(self.c.nodes):
                t0 = now()
                st, err = bidctl_json(self.c, i, "status")
                t1 = now()
                if st is None or err:
                    self.rec.add("sample", t=t1, t0=t0, t1=t1, node=i, life=self.lives[i],
                                 ok=False, error=err)
                    continue
                lags = [p.get("lag_ms") or 0 for p in st.get("peers", [])]
                self.rec.add("sample", t=t1, t0=t0, t1=t1, node=i, life=self.lives[i], ok=True,
                             serving=st["serving"], reason=st.get("not_serving_reason"),
                             hlc=st["hlc"], max_lag_ms=max(lags, default=0),
                             unreachable=sum(1 for p in st.get("peers", [])
                                             if not p.get("reachable")),
                             **leadership(st))


def pressure_totals():
    """The kernel's pressure stall totals (/proc/pressure, microseconds
    some task of the host waited): {io_some_us, io_full_us, cpu_some_us,
    memory_some_us}, or {} without PSI."""
    out = {}
    for res in ("io", "cpu", "memory"):
        try:
            with open(f"/proc/pressure/{res}") as f:
                for line in f:
                    kind, *fields = line.split()
                    total = dict(x.split("=") for x in fields).get("total")
                    if total is not None and (res == "io" or kind == "some"):
                        out[f"{res}_{kind}_us"] = int(total)
        except OSError:
            pass
    return out


class HostProbe(threading.Thread):
    """What the host did to everyone, beside the nodes: every HOST_PROBE_S
    a 4 KiB write and fsync of a file in the cluster's temp dir (the file
    system of the nodes' state dirs and etcd's data), how late the probe's
    own sleep woke (a starved runner), and the kernel's pressure totals.
    One `host` record each: t0, t1, fsync_ms, late_ms, psi. A disk that
    stands still stalls the probe's fsync with the nodes' (the campaign of
    2026-12-01b: etcd_down seed 2022, zombie_leader seed 2074), so the
    checker can tell a host stall from a node that stopped answering.
    A probe still in its fsync at the end is recorded as ongoing."""

    def __init__(self, root, rec):
        super().__init__(name="host-probe", daemon=True)
        self.path, self.rec = os.path.join(root, "host-probe"), rec
        self.done = threading.Event()
        self.in_fsync_since = None

    def run(self):
        block = b"\0" * 4096
        late_ms = 0.0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            self.rec.add("host", ok=False, error=f"cannot create {self.path}: {e}")
            return
        try:
            while not self.done.is_set():
                t0 = now()
                self.in_fsync_since = t0
                os.pwrite(fd, block, 0)
                os.fsync(fd)
                t1 = now()
                self.in_fsync_since = None
                self.rec.add("host", t=t1, t0=t0, t1=t1, ok=True,
                             fsync_ms=round((t1 - t0) / 1e6, 3), late_ms=round(late_ms, 3),
                             psi=pressure_totals())
                due = time.monotonic() + HOST_PROBE_S
                self.done.wait(HOST_PROBE_S)
                late_ms = max(0.0, (time.monotonic() - due) * 1000)
        except OSError as e:
            self.rec.add("host", ok=False, error=f"{self.path}: {e}")
        finally:
            os.close(fd)

    def stall_ms_since(self, t0):
        """The longest fsync or late wake-up since monotonic t0 (ns), one
        still in progress included."""
        with self.rec.lock:
            seen = [max(r["fsync_ms"], r["late_ms"]) for r in self.rec.records
                    if r["type"] == "host" and r.get("ok") and r["t1"] >= t0]
        since = self.in_fsync_since
        if since is not None:
            seen.append((now() - since) / 1e6)
        return max(seen, default=0)

    def finish(self):
        """Stops the probe without waiting for a stuck fsync."""
        self.done.set()
        self.join(timeout=1.0)
        since = self.in_fsync_since
        if self.is_alive() and since is not None:
            t1 = now()
            self.rec.add("host", t=t1, t0=since, t1=t1, ok=True, ongoing=True,
                         fsync_ms=round((t1 - since) / 1e6, 3), late_ms=0.0,
                         psi=pressure_totals())


class Strobe(threading.Thread):
    """Jepsen's clock strobe: node's clock flips between its offset + ms and
    its offset every period_ms for duration_s, then is left as it was.
    Flips are `clock` records; one that fails ends the strobe (recorded)."""

    def __init__(self, run, c, args):
        super().__init__(name=f"strobe{args['node']}", daemon=True)
        self.run_, self.c, self.args = run, c, args
        self.base = run.offsets[args["node"]]
        self.done = threading.Event()
        self.flips = 0

    def run(self):
        node, period = self.args["node"], self.args["period_ms"] / 1000
        end = time.monotonic() + self.args["duration_s"]
        try:
            while time.monotonic() < end and not self.done.is_set():
                ahead = self.flips % 2 == 0
                self.run_.set_clock(self.c, node, self.base + (self.args["ms"] if ahead else 0),
                                    "strobe")
                self.flips += 1
                self.done.wait(period)
            if self.run_.offsets[node] != self.base:
                self.run_.set_clock(self.c, node, self.base, "strobe")
        except RuntimeError:
            pass  # the clock record says what failed

    def finish(self):
        self.done.set()
        self.join(timeout=BIDCTL_TIMEOUT_S * 3)


# --- one run ----------------------------------------------------------------

class Run:
    def __init__(self, exp, seed, out_dir, binary=None, bidctl=None):
        self.exp, self.seed, self.out = exp, seed, out_dir
        self.binary, self.bidctl = binary, bidctl
        self.rec = Recorder()
        self.probe = None
        self.stopped = set()
        self.held = set()  # nodes whose HLC ceiling renewal is blocked (hold_ceiling)
        self.killed = set()
        self.lives = {}
        # Each node's clock offset now: the cluster's, then what clock
        # faults made of it (heal puts the cluster's back).
        self.offsets = {}
        self.strobes = []
        self.etcd = None  # the run's etcd member (cluster.etcd)
        self.etcd_down = None  # None, "sigstop" or "kill": how the member is down now
        self.last_leader = None  # the node "leader" named last (a cont follows its stop)
        self.disks = {}  # node -> its tmpfs state dir (experiments with a disk fault)
        self.fillers = {}  # node -> the file that fills its disk now
        self.cluster_name = f"chaos{seed}"

    def node_args(self, i, key_file):
        cfg = self.exp["cluster"]
        w = self.exp["workload"]
        args = ["--open-range", f"1-{w['auctions']}", "--duration", "600",
                "--cluster-key-file", key_file, "--max-drift-ms", str(cfg["max_drift_ms"]),
                # Keys kept longer than a run lasts: the two copies of a
                # retry accepted on two nodes always meet inside the window
                # (PROTOCOL.md: copies that meet later are both counted, a
                # documented limit, not what the experiments test), and a
                # restarted node compares them again (WAL.md "Duplicates
                # across nodes"). 2000 new keys/s is ten times a workload's.
                "--dedup-seconds", str(DEDUP_SECONDS), "--dedup-rate", "2000"]
        for j in range(1, cfg["nodes"] + 1):
            if j != i:
                args += ["--peer", f"{j}@{node_ip(j)}"]
        offset = cfg["clock_offsets_ms"].get(i)
        if offset:
            args += ["--clock-offset-ms", str(offset)]
        # Always said: the node's default is sync, and "off" must be off.
        args += ["--durability", cfg["durability"]]
        if cfg["durability"] == "async" and cfg["async_window_ms"]:
            args += ["--async-window-ms", str(cfg["async_window_ms"])]
        if self.etcd is not None:
            args += ["--etcd", self.etcd.url, "--cluster-name", self.cluster_name,
                     "--lease-ttl", str(cfg["lease_ttl_s"])]
        return args

    def execute(self):
        """Runs the experiment; returns the history's path."""
        import cluster as cl
        cl.ClusterNode._read_output = timed_read_output
        os.makedirs(self.out, exist_ok=True)
        p = plan(self.exp, self.seed)
        cfg = self.exp["cluster"]
        w = self.exp["workload"]
        c = cl.Cluster(f"chaos{self.seed % 10000}", binary=self.binary, bidctl=self.bidctl)
        try:
            if cfg["etcd"]:
                # One throwaway member in the cluster's namespace (the nodes'
                # leader threads reach it on its loopback), its data under
                # the run's temp dir; stopped before the cluster is removed.
                import etcd
                c._make_namespace()
                self.etcd = etcd.Etcd(netns=c.ns, name="chaos", root=c.root)
            key_file = os.path.join(c.root, "cluster.key")
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, os.urandom(32).hex().encode() + b"\n")
            os.close(fd)
            if any(f["kind"] in schema.DISK_FAULTS for f in self.exp["faults"]):
                self.mount_disks(c, cfg["nodes"], cfg["disk_mb"], cfg["disk"])
            self.rec.add("meta", experiment=self.exp, seed=self.seed, nodes=cfg["nodes"],
                         drift_ms=cfg["max_drift_ms"], durability=cfg["durability"],
                         etcd=cfg["etcd"], clock_offsets_ms=cfg["clock_offsets_ms"],
                         cluster_name=self.cluster_name if cfg["etcd"] else None,
                         lease_ttl_s=cfg["lease_ttl_s"] if cfg["etcd"] else None,
                         async_window_ms=cfg["async_window_ms"] or 10,
                         disk_mb=cfg["disk_mb"] if self.disks else None,
                         disk=cfg["disk"] if self.disks else None,
                         plan_digest=plan_digest(p), start_mono_ns=0, start_wall_ns=0)
            self.probe = HostProbe(c.root, self.rec)
            self.probe.start()
            c.start(cfg["nodes"], args=[], workers=cfg["workers"],
                    node_args=lambda i: self.node_args(i, key_file))
            for i in c.nodes:
                self.offsets[i] = cfg["clock_offsets_ms"].get(i, 0)
                self.lives[i] = 1
                self.rec.add("life", node=i, life=1)
            self.all_nodes = {i: [c.nodes[i]] for i in c.nodes}
            self.wait_started(c)
            self.open_closing(c, p["closing"], w["closing"]["after_s"])
            self.run_workload(c, cl, p)
            self.heal_all(c, "end")
            self.converge(c)
            self.final(c)
            self.final_etcd()
            self.collect_settles()
        finally:
            if self.probe is not None:
                self.probe.finish()
            etcd_left = self.stop_etcd()
            c.stop()
            disk_left = self.unmount_disks(c)
            self.rec.add("end", leftovers=c.leftovers() + etcd_left + disk_left)
            history = os.path.join(self.out, "history.jsonl")
            self.rec.write(history)
        return history

    def stop_etcd(self):
        """The member killed and its data removed; what is left of it."""
        if self.etcd is None:
            return []
        proc, data = self.etcd.proc, self.etcd.dir
        self.etcd.stop()
        left = []
        if proc is not None and proc.poll() is None:
            left.append(f"etcd process {proc.pid}")
        if data and os.path.exists(data):
            left.append(data)
        return left

    def final_etcd(self):
        """etcd's settlements, /<cluster>/settled/*, with their revisions
        (an `etcd_settled` record; ok false when etcd did not answer)."""
        if self.etcd is None:
            return
        import base64
        prefix = f"/{self.cluster_name}/settled/".encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        answer = None
        for _ in range(FINAL_TRIES):
            answer = self.etcd.post("/v3/kv/range", {
                "key": base64.b64encode(prefix).decode(),
                "range_end": base64.b64encode(end).decode()}, timeout=FINAL_TIMEOUT_S)
            if answer is not None:
                break
        keys = []
        for kv in (answer or {}).get("kvs") or []:
            key = base64.b64decode(kv["key"]).decode()
            try:
                value = json.loads(base64.b64decode(kv.get("value", "")))
            except ValueError:
                value = base64.b64decode(kv.get("value", "")).decode(errors="replace")
            keys.append(dict(key=key, auction=int(key.rsplit("/", 1)[1]), value=value,
                             version=int(kv.get("version", 0)),
                             create_revision=int(kv.get("create_revision", 0)),
                             mod_revision=int(kv.get("mod_revision", 0))))
        self.rec.add("etcd_settled", ok=answer is not None, keys=keys)

    def find_leader(self, c, timeout=15):
        """The node that says it leads, when exactly one does (bounded)."""
        deadline = time.monotonic() + timeout
        answered, seen = set(), set()
        while time.monotonic() < deadline:
            leaders = []
            for i in sorted(c.nodes):
                st, _ = bidctl_json(c, i, "status")
                if st is not None:
                    answered.add(i)
                    if st.get("leader"):
                        leaders.append(i)
            seen.update(leaders)
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.1)
        # Which it was: no node answering bidctl is not the same failure as
        # nodes answering with no leader, or with two.
        silent = sorted(set(c.nodes) - answered)
        raise RuntimeError(f"no single leader within {timeout} s: "
                           + (f"nodes {silent} never answered bidctl status; " if silent else "")
                           + f"nodes seen leading: {sorted(seen)}")

    def target(self, c, kind, args):
        """The node a fault names: "leader" is the current leader for a
        fault that strikes (kill, stop, partition, a clock), and the node it
        struck for the faults that undo it (restart, cont, release_ceiling)."""
        node = args.get("node")
        if node != "leader":
            return node
        if kind in ("restart", "cont", "release_ceiling", "disk_free"):
            if self.last_leader is None:
                raise RuntimeError(f"{kind} of the leader, but no fault struck a leader before")
            return self.last_leader
        self.last_leader = self.find_leader(c)
        return self.last_leader

    def etcd_stop(self, how):
        if self.etcd_down:
            raise RuntimeError(f"etcd is already down ({self.etcd_down})")
        if how == "sigstop":
            os.kill(self.etcd.proc.pid, signal.SIGSTOP)
        else:
            self.etcd.proc.kill()
            self.etcd.proc.wait(timeout=30)
            self.etcd.proc = None
        self.etcd_down = how

    def etcd_start(self):
        """The member back: resumed, or restarted on its data and ports."""
        if self.etcd_down == "sigstop":
            os.kill(self.etcd.proc.pid, signal.SIGCONT)
        elif self.etcd_down == "kill":
            self.etcd.start()
        was, self.etcd_down = self.etcd_down, None
        return was

    def wait_started(self, c):
        """Until every node answers status (serving or not: a skewed
        node is expected not to), bounded."""
        deadline = time.monotonic() + 30
        for i in c.nodes:
            while time.monotonic() < deadline:
                st, err = bidctl_json(c, i, "status")
                if st is not None and not err:
                    break
                time.sleep(0.1)
        # Peers heard, and every node whose clock is in bound serving (or
        # the bound passed): the workload starts on a settled cluster.
        cfg = self.exp["cluster"]
        good = [i for i in c.nodes
                if abs(cfg["clock_offsets_ms"].get(i, 0)) <= cfg["max_drift_ms"]]
        while time.monotonic() < deadline:
            sts = {i: bidctl_json(c, i, "status")[0] for i in c.nodes}
            if all(s and all(p.get("reachable") for p in s.get("peers", []))
                   for s in sts.values()) and all(sts[i]["serving"] for i in good):
                break
            time.sleep(0.1)

    def open_closing(self, c, ids, after_s):
        for a in ids:
            st, err = bidctl_json(c, 1, "open", "--auction", str(a), "--reserve", "1",
                                  "--increment", "1", "--duration", str(max(1, round(after_s))))
            self.rec.add("open", auction=a, ok=err is None, error=err,
                         close_at_ms=(st or {}).get("close_at_ms"))

    def run_workload(self, c, cl, p):
        w = self.exp["workload"]
        start = now()
        # The (monotonic, wall) pair the checker turns stamps into real time by.
        meta = self.rec.records[0]
        meta["start_mono_ns"] = now()
        meta["start_wall_ns"] = time.time_ns()
        stop_at = start + int(w["duration_s"] * 1e9)
        clients = [ClientThread(i, c, cl, reqs, self.exp, start, stop_at, self.rec)
                   for i, reqs in enumerate(p["clients"])]
        sampler = Sampler(c, self.rec, self.lives)
        sampler.start()
        for t in clients:
            t.start()
        for f in p["faults"]:
            due = start + int(f["at"] * 1e9)
            while now() < due:
                time.sleep(min(0.05, (due - now()) / 1e9))
            self.apply(c, f, p["fault_seed"])
        for t in clients:
            t.join(timeout=w["duration_s"] + 60)
        self.sampler = sampler
        errors = [t.error for t in clients if t.error] + [
            f"client {t.idx} still running" for t in clients if t.is_alive()]
        if errors:
            raise RuntimeError(f"workload failed: {errors[0]}")

    def apply(self, c, f, fault_seed):
        kind, args = f["kind"], f["args"]
        t0 = now()
        done = {}
        try:
            if args.get("node") == "leader":
                args = dict(args, node=self.target(c, kind, args))
                done["leader"] = args["node"]
            if kind == "partition":
                groups = groups_for(args["shape"], args.get("node"), len(c.nodes))
                c.partition(groups)
                done["groups"] = groups
            elif kind == "heal":
                self.heal_all(c, "schedule", record=False)
            elif kind == "delay":
                c.delay(args["ms"], jitter_ms=args["jitter_ms"], reorder=args["reorder"],
                        seed=fault_seed, between=args["between"], lifetime=300,
                        loss=args["loss"], dup=args["dup"])
            elif kind == "loss":
                c.loss(args["rate"], between=args["between"])
            elif kind == "dup":
                c.duplicate(args["rate"], between=args["between"])
            elif kind == "kill":
                c.kill(args["node"])
                self.killed.add(args["node"])
            elif kind == "restart":
                self.restart(c, args["node"])
            elif kind == "stop":
                os.kill(c.nodes[args["node"]].proc.pid, signal.SIGSTOP)
                self.stopped.add(args["node"])
                if args.get("hold_ceiling_s") is not None:
                    self.hold_ceiling(c, args["node"])
            elif kind == "release_ceiling":
                self.release_ceiling(c, args["node"])
            elif kind == "cont":
                os.kill(c.nodes[args["node"]].proc.pid, signal.SIGCONT)
                self.stopped.discard(args["node"])
            elif kind == "clock_jump":
                node = args["node"]
                done["offset_ms"] = self.set_clock(c, node, self.offsets[node] + args["ms"],
                                                   "jump")
            elif kind == "clock_strobe":
                strobe = Strobe(self, c, args)
                strobe.start()
                self.strobes.append(strobe)
            elif kind == "etcd_stop":
                self.etcd_stop(args["how"])
            elif kind == "etcd_start":
                self.etcd_start()
            elif kind == "disk_full":
                done["free_bytes"] = self.fill_disk(args["node"], args["leave_kb"])
            elif kind == "disk_free":
                self.free_disk(args["node"])
            ok, err = True, None
        except Exception as e:  # noqa: BLE001  (recorded: the run goes on)
            ok, err = False, f"{type(e).__name__}: {e}"
        self.rec.add("fault", t=t0, t_done=now(), kind=kind, args=args, ok=ok, error=err,
                     at=f["at"], **done)

    def ceiling_blocker(self, c, i):
        return os.path.join(c.nodes[i].state, "hlc_ceiling.tmp")

    def hold_ceiling(self, c, i):
        """A directory where node i writes its next HLC ceiling: every
        renewal fails (and is retried) until release_ceiling. Node i is
        stopped: a temporary left by a renewal it was in is replaced."""
        path = self.ceiling_blocker(c, i)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
        os.makedirs(path, exist_ok=True)
        self.held.add(i)

    def release_ceiling(self, c, i):
        if i in self.held:
            os.rmdir(self.ceiling_blocker(c, i))
            self.held.discard(i)

    # --- a full disk: each node's state dir a tmpfs of its own ---------------

    def mount_disks(self, c, n, size_mb, what):
        """Every node's log directory (what "wal": <state>/wal, the log's own
        volume) or whole --state-dir (what "state": the harness's
        <root>/node<i>/state) a tmpfs of size_mb, mounted before the node
        starts; unmount_disks removes them (also on failure and SIGTERM:
        execute's finally, and at exit)."""
        import atexit
        atexit.register(self.unmount_disks, c)
        for i in range(1, n + 1):
            path = os.path.join(c.root, f"node{i}", "state")
            if what == "wal":
                path = os.path.join(path, "wal")
            os.makedirs(path, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs",
                            path], check=True, capture_output=True, timeout=30)
            self.disks[i] = path

    def unmount_disks(self, c):
        """The tmpfs state dirs unmounted (lazily when a process still
        holds one) and the cluster's root removed; what is still mounted."""
        for path in list(self.disks.values()):
            if os.path.ismount(path):
                r = subprocess.run(["umount", path], capture_output=True, timeout=30)
                if r.returncode != 0:
                    subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
        left = [f"tmpfs {p}" for p in self.disks.values() if os.path.ismount(p)]
        if not left:
            self.disks.clear()
            self.fillers.clear()
            shutil.rmtree(c.root, ignore_errors=True)
        return left

    def fill_disk(self, i, leave_kb):
        """Node i's disk filled by a file of zeros so that about leave_kb
        KiB stay free (tmpfs: a page's granularity); returns the bytes
        free after it. The file is written by the runner, not the node."""
        path = self.disks.get(i)
        if path is None:
            raise RuntimeError(f"node {i} has no disk of its own (no tmpfs state dir)")
        filler = os.path.join(path, f"chaos-filler-{len(self.fillers)}")
        st = os.statvfs(path)
        todo = max(0, st.f_bavail * st.f_frsize - leave_kb * 1024)
        chunk = b"\0" * (1 << 20)
        self.fillers[i] = filler
        with open(filler, "wb", buffering=0) as f:
            try:
                while todo > 0:
                    todo -= f.write(chunk[:min(todo, len(chunk))])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    def free_disk(self, i):
        filler = self.fillers.pop(i, None)
        if filler is not None:
            os.unlink(filler)

    def restart(self, c, i):
        if i not in self.killed:
            return
        node = c.restart(i)
        self.killed.discard(i)
        self.lives[i] += 1
        self.all_nodes[i].append(node)
        self.rec.add("life", node=i, life=self.lives[i])
        # A wrong clock stays wrong across a restart; the node starts with
        # the cluster's offset (its command line), so the fault's is set again.
        if self.offsets[i] != self.exp["cluster"]["clock_offsets_ms"].get(i, 0):
            self.set_clock(c, i, self.offsets[i], "restart")

    def set_clock(self, c, i, offset_ms, why):
        """bidctl clock-offset on node i, recorded (a `clock` record);
        raises when the node did not take it. Returns the offset."""
        t0 = now()
        out, err = bidctl_json(c, i, "clock-offset", str(offset_ms))
        ok = out is not None and not err and out.get("injected_clock_offset_ms") == offset_ms
        self.rec.add("clock", t=t0, t_done=now(), node=i, offset_ms=offset_ms,
                     previous_ms=(out or {}).get("previous_injected_clock_offset_ms"), ok=ok,
                     error=None if ok else (err or f"answered {out}"), why=why)
        if not ok:
            raise RuntimeError(f"bidctl clock-offset {offset_ms} on node {i}: {err or out}")
        self.offsets[i] = offset_ms
        return offset_ms

    def heal_all(self, c, why, record=True):
        """Every fault gone: network whole, stopped nodes resumed, killed
        nodes restarted."""
        t0 = now()
        for strobe in self.strobes:
            strobe.finish()
        self.strobes = []
        c.heal()
        for i in sorted(self.held):
            self.release_ceiling(c, i)
        for i in sorted(self.stopped):
            os.kill(c.nodes[i].proc.pid, signal.SIGCONT)
        resumed = sorted(self.stopped)
        self.stopped.clear()
        restarted = sorted(self.killed)
        for i in restarted:
            self.restart(c, i)
        clocks = self.reset_clocks(c)
        etcd_back = self.etcd_start() if self.etcd_down else None
        freed = sorted(self.fillers)
        for i in freed:
            self.free_disk(i)
        if record:
            self.rec.add("fault", t=t0, t_done=now(), kind="heal", args={}, ok=True, error=None,
                         at=None, why=why, resumed=resumed, restarted=restarted, clocks=clocks,
                         etcd=etcd_back, freed=freed)

    def reset_clocks(self, c):
        """Every clock back to the cluster's offset; the nodes put back."""
        start = self.exp["cluster"]["clock_offsets_ms"]
        reset = []
        for i in sorted(self.offsets):
            if self.offsets[i] != start.get(i, 0):
                self.set_clock(c, i, start.get(i, 0), "heal")
                reset.append(i)
        return reset

    def touched(self):
        w = self.exp["workload"]
        return list(range(1, w["auctions"] + 1 + w["closing"]["auctions"]))

    def views(self, c):
        """{node: {auction: view}} from bidctl --json list."""
        out = {}
        for i in sorted(c.nodes):
            page, err = bidctl_json(c, i, "list", "--limit", "1000")
            keys = check.STATE_KEYS + (("settled",) if self.etcd is not None else ())
            out[i] = {a["id"]: {k: a.get(k) for k in keys}
                      for a in (page or {}).get("auctions", [])}
        return out

    def all_settled(self, v):
        """With etcd, also awaited: every closed auction settled on every
        node (settlement waits for every peer's final report and for etcd,
        then resumes: promise 6)."""
        return self.etcd is None or all(
            x.get("settled") for per in v.values() for x in per.values()
            if x.get("state") == "closed")

    def converge(self, c):
        """Until every node shows the same view twice in a row (0.3 s
        apart), at most converge_s seconds; once more when the host probe
        saw the host stand still meanwhile (the bound is on the nodes' time,
        not the host's: final views read right after a stall are not final,
        seen with a 40 s fsfreeze during etcd_down's convergence)."""
        start, t0 = time.monotonic(), now()
        ok = self.converge_once(c)
        stall_ms = self.probe.stall_ms_since(t0) if self.probe is not None else 0
        extended = not ok and stall_ms >= check.HOST_STALL_MS
        if extended:
            ok = self.converge_once(c)
        self.sampler.done.set()
        self.sampler.join(timeout=10)
        self.rec.add("converged", ok=ok, seconds=round(time.monotonic() - start, 3),
                     host_stall_ms=round(stall_ms), extended=extended)

    def converge_once(self, c):
        start = time.monotonic()
        last = None
        # A node whose clock is off by more than the bound cannot converge
        # (it refuses its peers' stamps, promise 4): the others are awaited.
        cfg = self.exp["cluster"]
        good = [i for i in sorted(c.nodes)
                if abs(cfg["clock_offsets_ms"].get(i, 0)) <= cfg["max_drift_ms"]] or [1]
        while time.monotonic() - start < self.exp["converge_s"]:
            v = {i: x for i, x in self.views(c).items() if i in good}
            same = (all(v[i] == v[good[0]] for i in v) and all(v.values())
                    and self.all_settled(v))
            if same and v == last:
                return True
            last = v if same else None
            time.sleep(0.3)
        return False

    def final(self, c):
        """Every node's final status and view of every auction touched. A
        slow answer is asked again (a loaded host has stalled the node's
        service thread, which answers bidctl, for over 2 s): the state is
        final, only the reading is late."""
        def ask(i, *args):
            for attempt in range(FINAL_TRIES):
                out, err = bidctl_json(c, i, *args, timeout=FINAL_TIMEOUT_S)
                if out is not None or "timed out" not in (err or ""):
                    return out, err, attempt + 1
            return out, err, FINAL_TRIES
        for i in sorted(c.nodes):
            t0 = now()
            st, err, tries = ask(i, "status")
            self.rec.add("final_status", node=i, status=st, error=err, tries=tries, t0=t0)
            for a in self.touched():
                t0 = now()
                view, err, tries = ask(i, "query", str(a))
                if view is not None and "error" in view:
                    view, err = None, view["error"]
                self.rec.add("final", node=i, auction=a, view=view, error=err, tries=tries,
                             t0=t0)

    def collect_settles(self):
        """Every node life's log lines (with their arrival times) and its
        settlements."""
        import re
        for i, lives in self.all_nodes.items():
            for life, node in enumerate(lives, start=1):
                for t, line in list(getattr(node, "timed", [])):
                    self.rec.add("log", t=t, node=i, life=life, line=line.rstrip("\n"))
                    m = re.search(r"settled auction (\d+): winner bidder (\d+) amount (\d+) "
                                  r"hlc (\d+)\.(\d+), (\d+) bids", line)
                    if m:
                        self.rec.add("settle", t=t, node=i, life=life, auction=int(m.group(1)),
                                     bidder=int(m.group(2)), amount=int(m.group(3)),
                                     hlc_ms=int(m.group(4)), logical=int(m.group(5)),
                                     bids=int(m.group(6)))


# --- a campaign -------------------------------------------------------------

def experiment_files(paths):
    files = []
    for p in paths or [EXPERIMENTS]:
        files += sorted(glob.glob(os.path.join(p, "*.yaml"))) if os.path.isdir(p) else [p]
    return files


def budget_s(exp):
    # converge_s twice: once more after a host stall (Run.converge).
    return exp["workload"]["duration_s"] + 2 * exp["converge_s"] + SETUP_BUDGET_S


def bidctl_silent(error):
    """Whether a fault failed only because bidctl did not answer."""
    return any(x in (error or "") for x in ("timed out", "never answered bidctl"))


def not_applied(records):
    """A fault that could not be applied: the run did not test what the
    experiment says. Each with the window in which bidctl's silence made it
    (silent_window), when that is why: check.attribute_host_stalls names a
    host stall that covers it."""
    out, strike = [], None
    for f in records:
        if f["type"] == "fault" and not f["ok"]:
            v = dict(invariant="fault_not_applied", explained=None,
                     detail=f"{f['kind']} {f['args']} at {f['at']} s: {f['error']}")
            if bidctl_silent(f["error"]):
                strike = v["silent_window"] = (f["t"], f["t_done"])
            elif "no fault struck a leader before" in (f["error"] or "") and strike:
                v["silent_window"] = strike  # the undo of a strike that bidctl's silence failed
            out.append(v)
        if f["type"] == "clock" and not f["ok"] and f["why"] == "strobe":
            v = dict(invariant="fault_not_applied", explained=None,
                     detail=f"clock_strobe flip of node {f['node']} to {f['offset_ms']} ms: "
                     f"{f['error']}")
            if bidctl_silent(f["error"]):
                v["silent_window"] = (f["t"], f["t_done"])
            out.append(v)
    return out


def run_one(exp, seed, out, args):
    """One run into out/; its result (the checker's verdict, or a skip)."""
    os.makedirs(out, exist_ok=True)
    why = missing_needs(exp, args.bidplane, args.bidctl)
    if why:
        result = dict(verdict="skip", reason=why, experiment=exp["name"], seed=seed)
    else:
        # The watchdog: past its budget the run is stopped (SIGTERM: the
        # cluster's atexit and SIGTERM handlers remove everything).
        timer = threading.Timer(budget_s(exp), lambda: os.kill(os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
        try:
            history = Run(exp, seed, out, args.bidplane, args.bidctl).execute()
        finally:
            timer.cancel()
        records = check.load(history)
        result = check.verdict(records)
        result.update(experiment=exp["name"], seed=seed, history=history)
        result["converged"] = next((r for r in records if r["type"] == "converged"), {})
        result["leftovers"] = next((r["leftovers"] for r in records if r["type"] == "end"), [])
        if result["leftovers"]:
            result["violations"].append(dict(invariant="leftovers", explained=None,
                                             detail=f"left behind: {result['leftovers']}"))
        result["violations"] += not_applied(records)
        check.attribute_host_stalls(records, result)
        report.timeline(records, out)
    with open(os.path.join(out, "check.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiments", nargs="*",
                   help="experiment files or folders (default: tests/chaos/experiments)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    p.add_argument("--runs", type=int, default=None,
                   help="runs in all, cycling through the experiments with seeds seed, "
                   "seed+1, ... (default: each experiment once)")
    p.add_argument("--out", default="chaos-out", help="output folder (default chaos-out)")
    p.add_argument("--plan", action="store_true",
                   help="print each run's schedule and request digest, run nothing")
    p.add_argument("--bidplane", default=os.environ.get("BP_BIDPLANE", "build/bidplane"))
    p.add_argument("--bidctl", default=os.environ.get("BP_BIDCTL", "build/bidctl"))
    a = p.parse_args(argv)
    if a.runs is not None and a.runs < 1:
        p.error("--runs must be at least 1")
    return a


def main(argv):
    args = parse_args(argv)
    try:
        exps = [schema.load(f) for f in experiment_files(args.experiments)]
    except schema.SchemaError as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 2
    if not exps:
        print("run.py: no experiment files (*.yaml) found", file=sys.stderr)
        return 2
    runs = args.runs or len(exps)
    todo = [(exps[k % len(exps)], args.seed + k) for k in range(runs)]
    if args.plan:
        for exp, seed in todo:
            p = plan(exp, seed)
            print(json.dumps(dict(experiment=exp["name"], seed=seed, faults=p["faults"],
                                  requests=sum(map(len, p["clients"])),
                                  digest=plan_digest(p))))
        return 0
    os.environ.setdefault("BP_BIDSTAT", os.path.join(os.path.dirname(args.bidctl), "bidstat"))
    os.environ.setdefault("BP_BIDPLANE", args.bidplane)
    os.environ.setdefault("BP_BIDCTL", args.bidctl)
    import cluster as cl
    cl.require_root()
    results = []
    for exp, seed in todo:
        out = os.path.join(args.out, f"{exp['name']}-seed{seed}")
        t = time.monotonic()
        r = run_one(exp, seed, out, args)
        r["seconds"] = round(time.monotonic() - t, 1)
        results.append(r)
        print(f"{exp['name']} seed {seed}: {r['verdict']}"
              + (f" ({r['reason']})" if r["verdict"] == "skip" else
                 f" ({r['counts']['requests']} requests, {r['counts']['accepted']} accepted, "
                 f"{r['unexplained']} unexplained / {r['explained']} explained violations, "
                 f"{r['seconds']} s)"), flush=True)
        for v in r.get("violations", []):
            if not v.get("explained"):
                print(f"  {v['invariant']}: {v['detail']}"
                      + (f"\n    {v['host_stall']}" if v.get("host_stall") else ""), flush=True)
    report.campaign(results, args.out)
    print(f"report: {os.path.join(args.out, 'report.md')}")
    if any(r["verdict"] == "fail" for r in results):
        return 1
    return 3 if any(r["verdict"] == "host_stall" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
