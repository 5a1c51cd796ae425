# SPDX-License-Identifier: BSD-3-Clause
"""Experiment files (tests/chaos/experiments/*.yaml): loading and the schema
check. Every error names the file, the key path and what is expected, e.g.

    fiber_cut.yaml: faults[1].partition.shape: expected one of one, halves,
    bridge; got 'half'

docs/CHAOS.md describes every key. load() returns the experiment as plain
dicts with every default filled in, so the runner never guesses."""

import os

import yaml

MAX_NODES = 16
SHAPES = ("one", "halves", "bridge")
DURABILITY = ("off", "async", "sync")
NEEDS = ("etcd", "durability", "clock_control")
ETCD_STOPS = ("sigstop", "kill")
# What a disk fault fills: the log's own volume (<state-dir>/wal a tmpfs:
# only the log runs out of space) or the whole --state-dir (the HLC
# ceiling's file too).
DISKS = ("wal", "state")
# Fault kinds and their parameters: name -> (type, default or REQUIRED).
REQUIRED = object()
NODE = "node"  # a node id, "random" (drawn from the run's seed) or "leader" (needs etcd)
LINKS = "links"  # [[a, b], ...] (both directions); absent: every link
RATE = "rate"  # a chance, 0..1
FAULTS = {
    "partition": {"shape": (SHAPES, REQUIRED), "node": (NODE, "random")},
    "heal": {},
    "delay": {"ms": (float, REQUIRED), "jitter_ms": (float, 0.0), "reorder": (bool, False),
              "loss": (RATE, 0.0), "dup": (RATE, 0.0), "between": (LINKS, None)},
    "loss": {"rate": (RATE, REQUIRED), "between": (LINKS, None)},
    "dup": {"rate": (RATE, REQUIRED), "between": (LINKS, None)},
    # jitter_s: the kill comes at a moment drawn from the seed in
    # [at, at + jitter_s] (kill -9 at random moments under load).
    "kill": {"node": (NODE, REQUIRED), "restart_after_s": (float, None),
             "jitter_s": (float, 0.0)},
    "restart": {"node": (NODE, REQUIRED)},
    # hold_ceiling_s: the node's HLC ceiling cannot be renewed from the stop
    # until that long after the resume (a directory planted at its
    # temporary), so that it answers NOT_SERVING at its ceiling on resume
    # every time, not only when its workers win the race with the renewal.
    "stop": {"node": (NODE, REQUIRED), "cont_after_s": (float, None),
             "hold_ceiling_s": (float, None)},
    "cont": {"node": (NODE, REQUIRED)},
    "release_ceiling": {"node": (NODE, REQUIRED)},
    # The node's wall clock jumps by ms (negative: back) from its offset
    # now (bidctl clock-offset); heal puts it back to the cluster's.
    "clock_jump": {"node": (NODE, REQUIRED), "ms": (int, REQUIRED)},
    # Jepsen's strobe: the clock flips between +ms and its offset now
    # every period_ms for duration_s, then is left as it was.
    "clock_strobe": {"node": (NODE, REQUIRED), "ms": (int, REQUIRED),
                     "period_ms": (float, REQUIRED), "duration_s": (float, REQUIRED)},
    # The etcd member down (needs etcd): sigstop (hung: connections stay
    # open, nothing answers) or kill (-9: refused), back (SIGCONT, or
    # restarted on the same data and ports) after back_after_s or at the
    # next heal or etcd_start.
    "etcd_stop": {"how": (ETCD_STOPS, "sigstop"), "back_after_s": (float, None)},
    "etcd_start": {},
    # A full disk: the node's log directory (cluster.disk: wal) or its
    # whole --state-dir (disk: state) is a tmpfs of its own (cluster.disk_mb,
    # mounted by the runner for every node when an experiment has a disk
    # fault), filled by a file the runner writes so
    # that leave_kb stay free; freed (the file deleted) after free_after_s,
    # by a planned disk_free, or at the next heal.
    "disk_full": {"node": (NODE, REQUIRED), "leave_kb": (int, 0),
                  "free_after_s": (float, None)},
    "disk_free": {"node": (NODE, REQUIRED)},
}
ETCD_FAULTS = ("etcd_stop", "etcd_start")
CLOCK_FAULTS = ("clock_jump", "clock_strobe")
DISK_FAULTS = ("disk_full", "disk_free")
CLOCK_OFFSET_MAX_MS = 86400000  # bidctl clock-offset's bound (control/ctl/ctl.h)
# lease_ttl_s: --lease-ttl with etcd (short: a paused leader is deposed
# within the run); async_window_ms: --async-window-ms with durability async
# (0: the node's default, 10).
CLUSTER = {"nodes": (int, 3), "durability": (DURABILITY, "off"), "etcd": (bool, False),
           "clock_offsets_ms": ("offsets", {}), "max_drift_ms": (int, 500), "workers": (int, 1),
           "lease_ttl_s": (int, 2), "async_window_ms": (int, 0), "disk_mb": (int, 16),
           "disk": (DISKS, "wal")}
RETRIES = {"max": (int, 5), "timeout_ms": (float, 300.0), "backoff_ms": (float, 20.0),
           "backoff_cap_ms": (float, 500.0), "jitter": (RATE, 0.5), "other_node": (RATE, 0.5)}
HOT = {"auctions": (int, 3), "fraction": (RATE, 0.7)}
CLOSING = {"auctions": (int, 0), "after_s": (float, 10.0)}
WORKLOAD = {"duration_s": (float, 20.0), "rate": (float, 200.0), "clients": (int, 4),
            "auctions": (int, 40), "hot": ("hot", {}), "closing": ("closing", {}),
            "retries": ("retries", {}), "duplicate_sends": (RATE, 0.0)}
TOP = {"name": (str, REQUIRED), "description": (str, ""), "needs": ("needs", []),
       "converge_s": (float, 30.0), "cluster": ("cluster", {}), "workload": ("workload", {}),
       "faults": ("faults", [])}
SECTIONS = {"cluster": CLUSTER, "workload": WORKLOAD, "hot": HOT, "closing": CLOSING,
            "retries": RETRIES}


class SchemaError(ValueError):
    pass


def load(path):
    """The experiment in `path`, checked and with defaults; SchemaError on
    any problem (file, key, what is expected)."""
    name = os.path.basename(path)
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise SchemaError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SchemaError(f"{name}: not YAML: {e}") from None
    return check(doc, name)


def check(doc, name="<experiment>"):
    """Checks a parsed document; returns it with defaults filled in."""
    ctx = Checker(name)
    exp = ctx.mapping(doc, "", TOP)
    nodes = exp["cluster"]["nodes"]
    if not 1 <= nodes <= MAX_NODES:
        ctx.fail("cluster.nodes", f"1..{MAX_NODES}", nodes)
    for node, _ in exp["cluster"]["clock_offsets_ms"].items():
        if not 1 <= node <= nodes:
            ctx.fail(f"cluster.clock_offsets_ms.{node}", f"a node id 1..{nodes}", node)
    w = exp["workload"]
    for key, low in (("duration_s", 1), ("rate", 1), ("clients", 1), ("auctions", 1)):
        if w[key] < low:
            ctx.fail(f"workload.{key}", f"at least {low}", w[key])
    if not 0 <= w["hot"]["auctions"] <= w["auctions"]:
        ctx.fail("workload.hot.auctions", f"0..workload.auctions ({w['auctions']})",
                 w["hot"]["auctions"])
    if exp["cluster"]["etcd"] and not 2 <= exp["cluster"]["lease_ttl_s"] <= 60:
        ctx.fail("cluster.lease_ttl_s", "2..60 (--lease-ttl)", exp["cluster"]["lease_ttl_s"])
    if exp["cluster"]["async_window_ms"] < 0:
        ctx.fail("cluster.async_window_ms", "at least 0 (0: the node's default)",
                 exp["cluster"]["async_window_ms"])
    if exp["cluster"]["disk_mb"] < 1:
        ctx.fail("cluster.disk_mb", "at least 1 (MiB of each node's tmpfs state dir)",
                 exp["cluster"]["disk_mb"])
    if w["retries"]["max"] < 1:
        ctx.fail("workload.retries.max", "at least 1 (the first try counts)", w["retries"]["max"])
    if exp["cluster"]["etcd"] and "etcd" not in exp["needs"]:
        exp["needs"].append("etcd")
    if exp["cluster"]["durability"] != "off" and "durability" not in exp["needs"]:
        exp["needs"].append("durability")
    for i, fault in enumerate(exp["faults"]):
        where = f"faults[{i}]"
        if fault["at"] > w["duration_s"]:
            ctx.fail(f"{where}.at", f"within the workload (0..{w['duration_s']} s)", fault["at"])
        for key, value in fault["args"].items():
            if key == "node" and value == "leader" and "etcd" not in exp["needs"]:
                ctx.fail(f"{where}.{fault['kind']}.node",
                         "a node id or random (leader needs etcd: add needs: [etcd])", value)
            if key == "node" and is_int(value) and not 1 <= value <= nodes:
                ctx.fail(f"{where}.{fault['kind']}.node",
                         f"a node id 1..{nodes}, random or leader", value)
            if key == "between":
                for link in value or []:
                    if not all(1 <= n <= nodes for n in link):
                        ctx.fail(f"{where}.{fault['kind']}.between",
                                 f"links of node ids 1..{nodes}", link)
        if fault["kind"] in ETCD_FAULTS and not exp["cluster"]["etcd"]:
            ctx.fail(f"{where}.{fault['kind']}", "a cluster with etcd (cluster.etcd: true)",
                     fault["kind"])
        if fault["kind"] == "kill" and fault["at"] + fault["args"]["jitter_s"] > w["duration_s"]:
            ctx.fail(f"{where}.kill.jitter_s",
                     f"at + jitter_s within the workload (0..{w['duration_s']} s)",
                     fault["args"]["jitter_s"])
        if fault["kind"] in CLOCK_FAULTS and "clock_control" not in exp["needs"]:
            exp["needs"].append("clock_control")
        if fault["kind"] in CLOCK_FAULTS and abs(fault["args"]["ms"]) > CLOCK_OFFSET_MAX_MS:
            ctx.fail(f"{where}.{fault['kind']}.ms",
                     f"-{CLOCK_OFFSET_MAX_MS}..{CLOCK_OFFSET_MAX_MS} (a day)",
                     fault["args"]["ms"])
        if fault["kind"] == "clock_strobe" and fault["args"]["period_ms"] < 10:
            ctx.fail(f"{where}.clock_strobe.period_ms", "at least 10 (a flip is a bidctl run)",
                     fault["args"]["period_ms"])
        if fault["kind"] in DISK_FAULTS and exp["cluster"]["durability"] == "off":
            ctx.fail(f"{where}.{fault['kind']}",
                     "a cluster with a log to fill (cluster.durability: sync or async)", "off")
        if fault["kind"] == "disk_full" and fault["args"]["leave_kb"] < 0:
            ctx.fail(f"{where}.disk_full.leave_kb", "at least 0 (KiB left free)",
                     fault["args"]["leave_kb"])
        if fault["kind"] == "partition" and nodes < 2:
            ctx.fail(f"{where}.partition", "a cluster of at least 2 nodes", nodes)
        if fault["kind"] == "partition" and fault["args"]["shape"] == "bridge" and nodes < 3:
            ctx.fail(f"{where}.partition.shape", "bridge needs at least 3 nodes", nodes)
    exp["faults"].sort(key=lambda f: f["at"])
    return exp


class Checker:
    def __init__(self, name):
        self.name = name

    def fail(self, key, expected, got):
        raise SchemaError(f"{self.name}: {key or '(top level)'}: expected {expected}; got {got!r}")

    def mapping(self, doc, where, spec):
        if doc is None and where:
            doc = {}
        if not isinstance(doc, dict):
            self.fail(where, "a mapping of " + ", ".join(spec), doc)
        unknown = [k for k in doc if k not in spec]
        if unknown:
            self.fail(join(where, str(unknown[0])), "one of the keys " + ", ".join(spec),
                      unknown[0])
        out = {}
        for key, (kind, default) in spec.items():
            path = join(where, key)
            if key not in doc:
                if default is REQUIRED:
                    self.fail(path, f"a value ({describe(kind)}): the key is required",
                              "nothing")
                value = default
                if kind in SECTIONS:
                    value = self.mapping({}, path, SECTIONS[kind])
                elif isinstance(default, (list, dict)):
                    value = type(default)(default)
                out[key] = value
                continue
            out[key] = self.value(doc[key], path, kind)
        return out

    def value(self, v, path, kind):
        if kind in SECTIONS:
            return self.mapping(v, path, SECTIONS[kind])
        if kind == "faults":
            if not isinstance(v, list):
                self.fail(path, "a list of faults ({at: SECONDS, KIND: {...}})", v)
            return [self.fault(f, f"{path}[{i}]") for i, f in enumerate(v)]
        if kind == "needs":
            if not isinstance(v, list) or any(n not in NEEDS for n in v):
                self.fail(path, "a list of " + ", ".join(NEEDS), v)
            return list(v)
        if kind == "offsets":
            if not isinstance(v, dict) or not all(is_int(k) and is_int(x) for k, x in v.items()):
                self.fail(path, "a mapping NODE: MILLISECONDS (integers, negative = behind)", v)
            return dict(v)
        if kind == NODE:
            if v not in ("random", "leader") and not is_int(v):
                self.fail(path, "a node id, random or leader", v)
            return v
        if kind == LINKS:
            if v is None:
                return None
            if not isinstance(v, list) or not all(
                    isinstance(x, list) and len(x) == 2 and all(is_int(n) for n in x)
                    and x[0] != x[1] for x in v):
                self.fail(path, "a list of links [[A, B], ...] between two different nodes", v)
            return [list(x) for x in v]
        if kind == RATE:
            if not is_number(v) or not 0 <= v <= 1:
                self.fail(path, "a chance from 0 to 1", v)
            return float(v)
        if isinstance(kind, tuple):
            if v not in kind:
                self.fail(path, "one of " + ", ".join(kind), v)
            return v
        if kind is bool:
            if not isinstance(v, bool):
                self.fail(path, "true or false", v)
            return v
        if kind is int:
            if not is_int(v):
                self.fail(path, "an integer", v)
            return v
        if kind is float:
            if not is_number(v) or v < 0:
                self.fail(path, "a number >= 0", v)
            return float(v)
        if kind is str:
            if not isinstance(v, str):
                self.fail(path, "a string", v)
            return v
        raise AssertionError(kind)

    def fault(self, f, path):
        if not isinstance(f, dict) or "at" not in f:
            self.fail(path, "a mapping {at: SECONDS, KIND: {...}} with KIND one of "
                      + ", ".join(FAULTS), f)
        kinds = [k for k in f if k != "at"]
        if len(kinds) != 1 or kinds[0] not in FAULTS:
            self.fail(path, "exactly one fault kind besides 'at', one of " + ", ".join(FAULTS),
                      kinds)
        kind = kinds[0]
        at = self.value(f["at"], f"{path}.at", float)
        args = self.mapping(f[kind], f"{path}.{kind}", FAULTS[kind])
        return {"at": at, "kind": kind, "args": args}


def join(where, key):
    return f"{where}.{key}" if where else key


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def describe(kind):
    if isinstance(kind, tuple):
        return "one of " + ", ".join(kind)
    return getattr(kind, "__name__", str(kind))
