# SPDX-License-Identifier: BSD-3-Clause
"""A throwaway etcd member for tests (Debian's etcd-server, 3.4).

Etcd(netns=None) starts `etcd` on 127.0.0.1 with two free ports (client
and peer) and a temporary data dir, and waits until /health says true;
stop() (also at exit, and on SIGTERM through the caller's cleanup) kills
it and removes the data dir. With netns, etcd runs inside that network
namespace (`ip netns exec`): the nodes of a cluster.Cluster run there and
reach it on the namespace's own loopback (their leader thread's HTTP goes
through the kernel, not DPDK). pause()/resume() stop and restart the same
member on the same ports and data (as an outage of etcd), kill() is a
crash. Nothing assumes a running etcd service: the test command installs
etcd-server (scripts/common.sh) and every test starts its own.

Python standard library only."""

import atexit
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


def available():
    return os.access(ETCD, os.X_OK)


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@contextlib.contextmanager
def _in_netns(ns):
    if ns is None:
        yield
        return
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        _libc.setns(here, CLONE_NEWNET)
        os.close(here)
        os.close(there)


def _free_ports(ns, count):
    """Ports free on 127.0.0.1 in the namespace (bound, read, released)."""
    with _in_netns(ns):
        socks = [socket.socket() for _ in range(count)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            return [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()


class Etcd:
    def __init__(self, netns=None, name="bptest", root=None):
        if not available():
            raise RuntimeError(f"{ETCD} not found: apt-get install etcd-server "
                               "(scripts/test.sh installs it)")
        self.netns = netns
        self.name = name
        self.client_port, self.peer_port = _free_ports(netns, 2)
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.dir = tempfile.mkdtemp(prefix="bp-etcd-", dir=root)  # root: the caller's temp dir
        self.proc = None
        self.log_path = os.path.join(self.dir, "etcd.log")
        atexit.register(self.stop)
        self.start()

    def _cmd(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [ETCD, "--name", self.name, "--data-dir", os.path.join(self.dir, "data"),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-state", "new",
               "--log-level", "warn", "--logger", "zap"]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        return cmd

    def start(self, timeout=30):
        """Starts (or restarts, same data and ports) the member; waits until healthy."""
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self._cmd(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited ({self.proc.returncode}):\n{self.log()}")
            if self.healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"etcd not healthy within {timeout} s:\n{self.log()}")

    def log(self):
        with contextlib.suppress(OSError), open(self.log_path) as f:
            return f.read()[-4000:]
        return ""

    def post(self, path, body, timeout=2.0):
        """One JSON-gateway request from inside the namespace; the answer, or None."""
        with _in_netns(self.netns):
            req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read())
            except (urllib.error.URLError, OSError, ValueError):
                return None

    def healthy(self):
        with _in_netns(self.netns):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    return json.loads(r.read()).get("health") == "true"
            except (urllib.error.URLError, OSError, ValueError):
                return False

    def leader_value(self, election):
        """The value of an election's leader key (str), or None."""
        name = base64.b64encode(election.encode()).decode()
        a = self.post("/v3/election/leader", {"name": name})
        kv = (a or {}).get("kv")
        return base64.b64decode(kv.get("value", "")).decode() if kv else None

    def pause(self, timeout=30):
        """Stops the member (SIGTERM), keeping its data: an etcd outage."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        self.proc = None

    def resume(self, timeout=30):
        return self.start(timeout)

    def stop(self):
        """Kills the member and removes its data; idempotent."""
        if self.proc is not None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
            self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
