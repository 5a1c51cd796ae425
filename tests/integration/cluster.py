# SPDX-License-Identifier: BSD-3-Clause
"""A cluster of bidplane nodes for integration tests, with network faults.

Shape (docs/TESTING.md has the picture and the recipes):
- one network namespace for the whole cluster (bpc-<name>-<pid>), made by
  Cluster and deleted by stop(); the test process itself stays where it
  is and makes its client sockets inside the namespace (setns on the
  calling thread, then back), so after stop() it can check that nothing
  is left. One namespace suffices: a node's addresses live in DPDK, not in
  the kernel, so nodes cannot collide in a shared kernel stack, and a Linux
  bridge joins ports of one namespace only.
- a bridge br0 at 198.18.0.1/24: the clients' address.
- node i (1-based) on `--vdev=net_tapI,iface=bpcI,mac=02:bd:00:00:00:II`,
  IP 198.18.0.(10+i), node id i; its tap bpcI is enslaved to br0 once the
  node has started. Fixed MACs and port names survive restarts, so fault
  rules keep naming the same node.
- faults: nftables in the namespace. Partitions and loss are rules on the
  bridge family's forward hook, matched by bridge port (iifname/oifname):
  node-to-node frames cross that hook, client traffic (to/from br0's own
  address) does not, so clients keep reaching every node. Duplication is a
  netdev-family egress chain on the receiving node's port (`dup to` that
  port; a mark keeps the copy from being copied again). Delay and
  reordering divert a link through netfault.py (this kernel has no netem).
- bounded: every wait has a deadline; nodes and forwarders get SIGKILL if
  the test process dies (PR_SET_PDEATHSIG); forwarders have a lifetime.
- everything is removed by stop(), which runs from atexit and SIGTERM too:
  processes, nft tables, the namespace, state and socket dirs, stats
  segments, DPDK runtime dirs. After a SIGKILL of the test process, the
  next Cluster() removes the orphans (reap_orphans).

Create nodes from one thread (the one that calls start/restart): the
parent-death signal follows the thread that spawned them."""

import atexit
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket as _socket
import subprocess
import sys
import tempfile
import threading
import time

import bptest

BRIDGE = "br0"
CLIENT_IP = "198.18.0.1"
PORT = bptest.PORT
PEER_PORT = 7601
MAX_NODES = 16
NETFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netfault.py")
TABLE = "bpcluster"
DUP_MARK = 0x42504344  # "BPCD": a frame already duplicated

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


def node_ip(i):
    return f"198.18.0.{10 + i}"


def write_key(path, key=None):
    """A cluster key file as --cluster-key-file wants it (64 hex digits,
    mode 0600); a random key unless one is given. Returns the key."""
    key = key if key is not None else os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, key.hex().encode() + b"\n")
    os.close(fd)
    return key


def mesh_args(key_file, i, n):
    """Node i's options in a cluster of nodes 1..n where each has every
    other as a peer: the key file and one --peer per other node."""
    args = ["--cluster-key-file", key_file]
    for j in range(1, n + 1):
        if j != i:
            args += ["--peer", f"{j}@{node_ip(j)}"]
    return args


def node_mac(i):
    return f"02:bd:00:00:00:{i:02x}"


def port_mac(i):
    """The MAC of the kernel side of node i's tap (not the node's)."""
    return f"02:bc:00:00:00:{i:02x}"


def port_name(i):
    return f"bpc{i}"


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


@contextlib.contextmanager
def in_netns(ns):
    """Runs the block with the calling thread in namespace `ns` (sockets
    made there stay there after the block)."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(there)
        try:
            yield
        finally:
            _setns(here)
    finally:
        os.close(there)
        os.close(here)


def require_root():
    """Exits 77 (meson's skip) unless root: namespaces and taps need it."""
    if os.geteuid() != 0:
        print("SKIP: cluster tests need root (network namespaces, DPDK tap, nftables)")
        sys.exit(77)
    if shutil.which("nft") is None:
        print("SKIP: nft not found (install nftables: scripts/common.sh does)")
        sys.exit(77)


class ClusterNode(bptest.Node):
    """One node of the cluster; bptest.Node with the cluster's port, address
    and namespace. `life` counts starts (stats names differ per life)."""

    def __init__(self, cluster, i, state_dir, args, workers, life):
        self.index = i
        self.cluster = cluster
        self.ip = node_ip(i)
        self.port = port_name(i)
        self.mac_text = node_mac(i)
        vdev = f"--vdev=net_tap{i - 1},iface={self.port},mac={self.mac_text}"
        name = f"bpc-{os.getpid()}-{i}-{life}"
        super().__init__(cluster.binary, workers=workers, args=args, vdev=vdev, stats_name=name,
                         state_dir=state_dir)
        # The socket dir under the cluster's root (so reap_orphans finds it).
        os.rmdir(self.dir)
        self.dir = os.path.join(cluster.root, f"node{i}", f"run{life}")
        os.makedirs(self.dir)
        self.ctl = os.path.join(self.dir, "ctl.sock")
        self.cmd[self.cmd.index("--control-socket") + 1] = self.ctl
        self.cmd[self.cmd.index("--ip") + 1] = self.ip
        self.cmd += ["--node-id", str(i)]
        self.cmd = ["ip", "netns", "exec", cluster.ns] + self.cmd

    def start(self, timeout=60):
        # bptest.Node.start, with the parent-death signal and the bridge.
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, preexec_fn=_die_with_parent)
        self.reader = threading.Thread(target=self._read_output, daemon=True)
        self.reader.start()
        deadline = time.time() + timeout
        while time.time() < deadline and self.mac is None and self.proc.poll() is None:
            m = re.search(r"port \d+ \S+ mac ([0-9a-f:]{17})", self.text())
            if m:
                self.mac = bytes.fromhex(m.group(1).replace(":", ""))
            else:
                time.sleep(0.05)
        if self.mac is None:
            text = self.text()
            self.stop()
            raise RuntimeError(f"node {self.index} did not start:\n{text}")
        m = (re.search(r"--file-prefix[= ](\S+)", self.text())
             or re.search(r"/var/run/dpdk/([^/\s]+)/", self.text()))
        self.prefix = m.group(1) if m else None
        # net_tap gives the kernel side of the tap the node's MAC too; as a
        # bridge port that would make the MAC the bridge's own (frames to the
        # node, from other ports, would stop at the host). Another MAC there.
        self.cluster._ip("link", "set", self.port, "address", port_mac(self.index))
        self.cluster._ip("link", "set", self.port, "master", BRIDGE)
        self.cluster._ip("link", "set", self.port, "up")
        self.wait_started(max(1, deadline - time.time()))  # its log recovered
        return self

    def kill(self):
        """SIGKILL, as a crash: no exit summary, state dir left as it was."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc = None
        self.remove_leftovers()

    def stop(self, timeout=30, keep_stats=False):
        proc = self.proc
        rc = super().stop(timeout=timeout, keep_stats=keep_stats)
        if proc is not None:
            proc.stdout.close()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def bidctl(self, *args):
        """bidctl against this node (the binary from BP_BIDCTL)."""
        return super().bidctl(self.cluster.bidctl_binary, *args)


class ClusterClient(bptest.Client):
    """A kernel UDP socket at 198.18.0.1 (the bridge) aimed at one node;
    the v1 client of bptest (ask, silent, recv...). to(i) re-aims it."""

    def __init__(self, cluster, i, timeout=1.0):
        with in_netns(cluster.ns):
            super().__init__(timeout)  # binds bptest.HOST_IP, which is CLIENT_IP
        self.timeout = timeout
        self.to(i)

    def to(self, i):
        self.dest = (node_ip(i), PORT)
        return self

    def send(self, payload):
        self.sock.sendto(payload, self.dest)

    def recv(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except (TimeoutError, BlockingIOError):
                return None
            # A late reply of a node asked before (its first try timed out
            # on a loaded machine and the retry was answered): not this one.
            if addr == self.dest:
                return data

    def ask(self, payload, retries=5):
        """bptest's ask, for a client that talks to several nodes: a late
        answer to an earlier request (its retry already answered, or to
        another node) is skipped, not taken for this one's."""
        want = payload[8:16]  # the request_id of every request type
        backoff = bptest.overload_backoff()
        lost = 0
        while lost < retries:
            lost += 1  # given back below if an answer comes
            self.send(payload)
            deadline = time.monotonic() + self.sock.gettimeout()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    data, addr = self.sock.recvfrom(2048)
                except (TimeoutError, BlockingIOError):
                    break
                finally:
                    self.sock.settimeout(self.timeout)
                if addr != self.dest or data[8:16] != want:
                    continue
                r = bptest.parse_reply(data)
                if r["status"] != bptest.OVERLOADED:
                    return r
                wait = next(backoff, None)
                if wait is None:
                    raise AssertionError(f"request {r['request_id']} still OVERLOADED after its retries")
                lost -= 1
                time.sleep(wait)
                break
        raise AssertionError(f"no reply from {self.dest} after {retries} tries")

    def ask_final(self, payload, wait_s=15):
        """The request's final answer from the node it is aimed at.
        NOT_SERVING is not final (PROTOCOL.md): the first try may have
        been accepted and its reply lost or late on a loaded machine, and
        the node may turn NOT_SERVING before the retry (a clock judgement,
        a slow log). Taking that NOT_SERVING for "not accepted" would
        leave an accepted bid out of a test's oracle, so the same request
        is asked again, on the same node (a retry there is REPLAYED with
        the original stamp; on another node it would get a second one),
        until the node serves: bounded by wait_s. Returns (reply, how many
        NOT_SERVING answers were retried)."""
        deadline = time.monotonic() + wait_s
        retried = 0
        while True:
            r = self.ask(payload)
            if r["status"] != bptest.NOT_SERVING or time.monotonic() > deadline:
                return r, retried
            retried += 1
            time.sleep(0.05)


class Cluster:
    """N nodes on one bridge in a namespace of their own, and the faults
    between them. Use as a context manager or call stop(); stop also runs
    at exit and on SIGTERM."""

    def __init__(self, name="cluster", binary=None, bidctl=None):
        require_root()
        self.ns = f"bpc-{name}-{os.getpid()}"[:60]
        self.binary = binary or bptest.BIDPLANE
        self.bidctl_binary = bidctl or bptest.BIDCTL
        reap_orphans()
        self.root = tempfile.mkdtemp(prefix=f"bp-cluster-{os.getpid()}-")
        self.nodes = {}
        self.clients = []
        self.forwarders = {}  # (a, b) -> Popen
        self.blocked = set()  # (a, b): frames a -> b dropped at the bridge
        self.losses = {}  # (a, b) -> rate in 0..1
        self.dups = {}  # (a, b) -> rate in 0..1: frames a -> b copied at b's port
        self.diverted = set()  # (a, b): through a forwarder, not the bridge
        self.stopped = False
        self.ns_made = False
        atexit.register(self.stop)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so atexit runs

    # --- plumbing -----------------------------------------------------------

    def _run(self, *cmd, check=True, input=None):
        r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, input=input)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def _ip(self, *args):
        return self._run("ip", "-n", self.ns, *args)

    def exec(self, *cmd, check=True, input=None):
        """Runs a command inside the cluster's namespace."""
        return self._run("ip", "netns", "exec", self.ns, *cmd, check=check, input=input)

    def _make_namespace(self):
        self._run("ip", "netns", "add", self.ns)
        self.ns_made = True
        self._ip("link", "set", "lo", "up")
        self._ip("link", "add", BRIDGE, "type", "bridge")
        # No STP delay: a port forwards as soon as it is enslaved.
        self._ip("link", "set", BRIDGE, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        self._ip("addr", "add", f"{CLIENT_IP}/24", "dev", BRIDGE)
        self._ip("link", "set", BRIDGE, "up")

    # --- nodes --------------------------------------------------------------

    def start(self, n, args=(), workers=1, node_args=None, timeout=60):
        """Starts nodes 1..n. `args` go to every node (after --ip, --node-id,
        --state-dir...); node_args(i) -> list adds per-node options (e.g.
        peers, once the node has them). Returns self."""
        if not 1 <= n <= MAX_NODES:
            raise ValueError(f"a cluster has 1..{MAX_NODES} nodes, not {n}")
        if not self.ns_made:
            self._make_namespace()
        for i in range(1, n + 1):
            extra = list(node_args(i)) if node_args else []
            self._spawn(i, list(args) + extra, workers, timeout)
        self.apply_rules()
        return self

    def _spawn(self, i, args, workers, timeout, life=1):
        state = os.path.join(self.root, f"node{i}", "state")
        os.makedirs(state, exist_ok=True)
        node = ClusterNode(self, i, state, args, workers, life)
        node.spec = (args, workers, timeout)
        node.life = life
        self.nodes[i] = node
        node.start(timeout=timeout)
        return node

    def node(self, i):
        return self.nodes[i]

    def bid_count(self, i, auction):
        """Node i's bid_count of an auction by bidctl (None: no answer)."""
        out = self.node(i).bidctl("--json", "query", str(auction))
        return json.loads(out.stdout)["bid_count"] if out.returncode == 0 else None

    def start_mesh(self, n, args=(), timeout=30):
        """n nodes, each the others' peer under one cluster key file,
        started with args; returns once all of them serve."""
        key = os.path.join(self.root, "cluster.key")
        write_key(key)
        self.start(n, args=args, node_args=lambda i: mesh_args(key, i, n))
        self.wait_serving(timeout)

    def wait_serving(self, timeout=30):
        """Until every node's bidctl status says serving."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sts = [n.bidctl("--json", "status") for n in self.nodes.values()]
            if all(s.returncode == 0 and json.loads(s.stdout)["serving"] for s in sts):
                return
            time.sleep(0.1)
        raise AssertionError("the nodes are not serving")

    def client(self, i=1, timeout=1.0):
        """A client at 198.18.0.1 aimed at node i (to(j) re-aims it)."""
        c = ClusterClient(self, i, timeout)
        self.clients.append(c)
        return c

    def socket(self, family, kind, proto=0):
        """A socket made inside the namespace (e.g. AF_PACKET on a port)."""
        with in_netns(self.ns):
            return _socket.socket(family, kind, proto)

    def inject_socket(self, i):
        """An AF_PACKET socket on node i's port: what it sends goes straight
        into node i, as if from the wire (the bridge never sees it), e.g.
        crafted peer messages. Its frames carry DUP_MARK, so the duplication
        rules leave them alone."""
        s = self.socket(_socket.AF_PACKET, _socket.SOCK_RAW, _socket.htons(0x0003))
        s.setsockopt(_socket.SOL_SOCKET, _socket.SO_MARK, DUP_MARK)
        s.bind((port_name(i), 0))
        return s

    def watch_socket(self, i):
        """An AF_PACKET socket on node i's port that sees what node i sends
        (incoming) and what reaches it (PACKET_OUTGOING: after every fault)."""
        s = self.socket(_socket.AF_PACKET, _socket.SOCK_RAW, _socket.htons(0x0003))
        s.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 4 << 20)
        s.bind((port_name(i), 0))
        return s

    def kill(self, i):
        """SIGKILL node i (a crash); its state dir stays for restart(i)."""
        self.nodes[i].kill()

    def restart(self, i, timeout=60):
        """Starts node i again, same options and state dir, after kill(i) or
        stop_node(i). The fault rules are applied again (its port is new)."""
        old = self.nodes[i]
        if old.alive():
            raise RuntimeError(f"node {i} is running: kill({i}) or stop_node({i}) first")
        args, workers, _ = old.spec
        self._spawn(i, args, workers, timeout, life=old.life + 1)
        self.apply_rules()
        return self.nodes[i]

    def stop_node(self, i, timeout=30):
        """SIGTERM node i and wait; returns its exit code."""
        node = self.nodes[i]
        rc = node.stop(timeout=timeout)
        node.remove_leftovers()
        return rc

    # --- faults -------------------------------------------------------------

    def _pairs(self, between):
        """Directed pairs (a, b) for `between`: None = every pair of nodes;
        else a list of (a, b) links, each meaning both directions."""
        ids = sorted(self.nodes)
        if between is None:
            links = [(a, b) for a in ids for b in ids if a < b]
        else:
            links = [tuple(link) for link in between]
        out = set()
        for a, b in links:
            if a == b or a not in self.nodes or b not in self.nodes:
                raise ValueError(f"bad link {a}-{b}: nodes are {ids}")
            out |= {(a, b), (b, a)}
        return out

    def partition(self, groups):
        """Cuts the links between groups (e.g. [[1, 2], [3]]): frames between
        their ports are dropped at the bridge; clients still reach every
        node. Nodes in no group keep all their links. Replaces any earlier
        partition."""
        seen = [i for g in groups for i in g]
        if len(seen) != len(set(seen)) or any(i not in self.nodes for i in seen):
            raise ValueError(f"groups {groups}: each node at most once, nodes are "
                             f"{sorted(self.nodes)}")
        self.blocked = set()
        for gi, g in enumerate(groups):
            for gj, h in enumerate(groups):
                if gi != gj:
                    self.blocked |= {(a, b) for a in g for b in h}
        self.apply_rules()

    def block(self, links):
        """Drops frames a -> b at the bridge for each (a, b) in links, one
        direction only (partition cuts both): e.g. a node's reports kept
        from one peer while it still hears everyone. Replaces any earlier
        block or partition; heal() removes it."""
        for a, b in links:
            if a == b or a not in self.nodes or b not in self.nodes:
                raise ValueError(f"bad link {a}->{b}: nodes are {sorted(self.nodes)}")
        self.blocked = set(map(tuple, links))
        self.apply_rules()

    def loss(self, rate, between=None):
        """Drops each frame between the given nodes with probability rate
        (0..1, in steps of 1e-4) at the bridge; rate 0 removes the loss."""
        self._set_rate(self.losses, rate, between)

    def duplicate(self, rate, between=None):
        """Sends each frame between the given nodes twice with probability
        rate (0..1): a copy at the receiving node's port."""
        self._set_rate(self.dups, rate, between)

    def _set_rate(self, table, rate, between):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate {rate}: want 0..1")
        for pair in self._pairs(between):
            if rate == 0:
                table.pop(pair, None)
            else:
                table[pair] = rate
        self.apply_rules()

    def delay(self, ms, jitter_ms=0.0, reorder=False, seed=0, between=None, lifetime=600,
              loss=0.0, dup=0.0):
        """Sends the traffic of each given link through a netfault.py
        forwarder: each frame waits ms + uniform(0, jitter_ms); with reorder
        frames may overtake each other (seeded by seed + link). The bridge's
        loss and duplication rules do not apply to a diverted link: give
        loss and dup (chances) here for the forwarder to apply."""
        links = {tuple(sorted(p)) for p in self._pairs(between)}
        for a, b in sorted(links):
            self._stop_forwarder(a, b)
            cmd = ["ip", "netns", "exec", self.ns, sys.executable, NETFAULT,
                   "--a", port_name(a), "--a-mac", node_mac(a),
                   "--b", port_name(b), "--b-mac", node_mac(b),
                   "--delay-ms", str(ms), "--jitter-ms", str(jitter_ms),
                   "--seed", str(seed * 1000 + a * 17 + b), "--lifetime", str(lifetime),
                   "--loss", str(loss), "--dup", str(dup)]
            if reorder:
                cmd.append("--reorder")
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, preexec_fn=_die_with_parent)
            line = _readline(p, timeout=10)
            if line.strip() != "ready":
                p.kill()
                p.wait()
                raise RuntimeError(f"netfault {a}<->{b} did not start: {line}{p.stdout.read()}")
            self.forwarders[(a, b)] = p
            self.diverted |= {(a, b), (b, a)}
        self.apply_rules()

    def _stop_forwarder(self, a, b):
        p = self.forwarders.pop((a, b), None)
        if p is None:
            return ""
        bptest.terminate(p, 5)
        self.diverted -= {(a, b), (b, a)}
        with p.stdout:
            return p.stdout.read()

    def heal(self):
        """Removes every fault: partitions, loss, duplication, forwarders.
        Returns the forwarders' exit lines (their counts)."""
        report = "".join(self._stop_forwarder(a, b) for a, b in list(self.forwarders))
        self.blocked, self.losses, self.dups, self.diverted = set(), {}, {}, set()
        self.apply_rules()
        return report

    def ruleset(self):
        """The nft script of the current faults (what apply_rules loads)."""
        out = [f"table bridge {TABLE}", f"delete table bridge {TABLE}",
               f"table bridge {TABLE} {{",
               "  chain links {",
               "    type filter hook forward priority 0; policy accept;"]
        for a, b in sorted(self.blocked | self.diverted):
            out.append(f'    iifname "{port_name(a)}" oifname "{port_name(b)}" drop')
        for (a, b), rate in sorted(self.losses.items()):
            out.append(f'    iifname "{port_name(a)}" oifname "{port_name(b)}" '
                       f"{_chance(rate)} drop")
        out += ["  }", "}"]
        out += [f"table netdev {TABLE}", f"delete table netdev {TABLE}",
                f"table netdev {TABLE} {{"]
        for b in sorted({b for _, b in self.dups}):
            if not self.nodes[b].alive():
                continue  # its port is gone; restart() applies the rules again
            out += [f"  chain dup{b} {{",
                    f'    type filter hook egress device "{port_name(b)}" priority 0;']
            for (a, bb), rate in sorted(self.dups.items()):
                if bb == b:
                    out.append(f"    ether saddr {node_mac(a)} meta mark != {DUP_MARK:#x} "
                               f"{_chance(rate)} "
                               f'meta mark set {DUP_MARK:#x} dup to "{port_name(b)}"')
            out.append("  }")
        out.append("}")
        return "\n".join(out) + "\n"

    def apply_rules(self):
        """Loads ruleset() atomically (one nft transaction)."""
        self.exec("nft", "-f", "-", input=self.ruleset())

    # --- teardown -----------------------------------------------------------

    def stop(self):
        """Stops everything and removes every trace; safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        for c in self.clients:
            with contextlib.suppress(OSError):
                c.close()
        for a, b in list(self.forwarders):
            self._stop_forwarder(a, b)
        for node in self.nodes.values():
            if node.proc is not None:
                with contextlib.suppress(Exception):
                    node.stop(timeout=20)
            node.remove_leftovers()
        if self.ns_made:
            self._run("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self):
        """What of this cluster is still on the machine (empty after stop)."""
        left = []
        if os.path.exists(f"/run/netns/{self.ns}"):
            left.append(f"namespace {self.ns}")
        if os.path.exists(self.root):
            left.append(self.root)
        # A file system a test mounted under the root (e.g. a small tmpfs
        # as a node's state dir) and did not unmount.
        with open("/proc/self/mounts") as f:
            left += [f"mount {m}" for m in (line.split()[1] for line in f)
                     if m.startswith(self.root + "/")]
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                left.append(f"node {node.index} pid {node.proc.pid}")
            if node.prefix and os.path.exists(f"/var/run/dpdk/{node.prefix}"):
                left.append(f"/var/run/dpdk/{node.prefix}")
            if os.path.exists(node.dir):
                left.append(node.dir)
        for p in self.forwarders.values():
            if p.poll() is None:
                left.append(f"forwarder pid {p.pid}")
        tag = f"bpc-{os.getpid()}-"
        left += [f"/dev/shm/{f}" for f in os.listdir("/dev/shm") if f.startswith(tag)]
        return left

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _pid_alive(pid):
    """Exists and is no zombie (a zombie has exited; its parent has not
    reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def reap_orphans():
    """Removes what a cluster whose test process died by SIGKILL left (its
    nodes and forwarders died with it, by the parent-death signal): the
    namespace bpc-*-PID, /dev/shm/bpc-PID-*, the temp dir bp-cluster-PID-*,
    for each PID that no longer runs. Returns what it removed."""
    gone = []

    def dead(text):
        return text.isdigit() and not _pid_alive(int(text))

    netns = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    for ns in netns:
        m = re.fullmatch(r"bpc-.+-(\d+)", ns)
        if m and dead(m.group(1)):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
            gone.append(ns)
    bidstat = os.environ.get("BP_BIDSTAT", "build/bidstat")
    listing = subprocess.run([bidstat, "--list"], capture_output=True, text=True, timeout=30)
    for line in listing.stdout.splitlines()[1:]:
        fields = line.split()
        m = re.fullmatch(r"bpc-(\d+)-\d+-\d+", fields[0]) if fields else None
        if not m or not dead(m.group(1)):
            continue
        # A node of a dead test that still runs (it missed the parent-death
        # signal) is killed first; then bidstat --clean NAME removes its
        # segment, claim and DPDK runtime dir, as an operator would.
        if len(fields) > 2 and fields[1] == "running" and fields[2].isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(fields[2]), signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _pid_alive(int(fields[2])) and time.monotonic() < deadline:
                time.sleep(0.05)
        # Until its claim and its DPDK runtime dir (the node's default
        # --file-prefix, bidplane-PID) are free: a dying node holds them a
        # little longer, and bidstat --clean leaves a runtime dir whose
        # locks are still held (the segment may go first: CI saw the dir
        # stay once).
        segment = f"/dev/shm/{fields[0]}.bpstats"
        runtime = (f"/var/run/dpdk/bidplane-{fields[2]}"
                   if len(fields) > 2 and fields[2].isdigit() else None)
        deadline = time.monotonic() + 10
        while True:
            subprocess.run([bidstat, "--clean", fields[0]], capture_output=True, timeout=30)
            left = os.path.exists(segment) or (runtime and os.path.exists(runtime))
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        gone.append(fields[0] + ".bpstats")
    tmp = tempfile.gettempdir()
    for f in os.listdir(tmp):
        m = re.match(r"bp-cluster-(\d+)-", f)
        if m and dead(m.group(1)):
            # A tmpfs a killed test mounted under it (a node's disk in the
            # chaos runner's disk experiments) first.
            root = os.path.join(tmp, f)
            with open("/proc/self/mounts") as mounts:
                under = [x.split()[1] for x in mounts if x.split()[1].startswith(root + "/")]
            for path in sorted(under, reverse=True):
                subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
            shutil.rmtree(root, ignore_errors=True)
            gone.append(f)
    return gone


def _chance(rate):
    """The nft match true with probability rate (nothing when always)."""
    n = round(rate * 10000)
    return "" if n >= 10000 else f"numgen random mod 10000 < {n}"


def _readline(proc, timeout):
    """The first line of proc's output, or '' after timeout (bounded)."""
    box = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else ""
