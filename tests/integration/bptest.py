# SPDX-License-Identifier: BSD-3-Clause
"""Integration-test support: a network namespace per test run, a bidplane
node on a net_tap port inside it, and a v1 protocol client over kernel UDP
sockets and raw AF_PACKET frames. Python standard library only.

Every run makes its own namespace (bp-<name>-<pid>), DPDK file prefix,
control socket and state directory, and removes them at exit, so runs in
parallel and leftovers never collide. Traffic stays inside the namespace, on
198.18.0.0/15 (the benchmarking range)."""

import atexit
import contextlib
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

NODE_IP = "198.18.0.2"
HOST_IP = "198.18.0.1"
PORT = 7600
IFACE = "bpt0"

MAGIC = 0xB1D5
BID, BID_REPLY, QUERY, AUCTION_STATE, WATCH, UNWATCH = 1, 2, 3, 4, 5, 6
LEN = {BID: 48, BID_REPLY: 64, QUERY: 24, AUCTION_STATE: 88, WATCH: 32, UNWATCH: 32}
(ACCEPTED, TOO_LOW, CLOSED, UNKNOWN_AUCTION, MALFORMED, OVERLOADED,
 UNSUPPORTED_VERSION, NOT_SERVING, CONFLICT) = range(9)
REPLAYED = 1


# --- namespace --------------------------------------------------------------

def run_in_netns(name):
    """Re-executes the calling script inside a fresh network namespace and
    exits with its status; returns (inside) the namespace name."""
    inside = os.environ.get("BP_NETNS")
    if inside:
        return inside
    if os.geteuid() != 0:
        print("SKIP: integration tests need root (network namespaces, DPDK tap)")
        sys.exit(77)
    ns = f"bp-{name}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, BP_NETNS=ns)
        rc = subprocess.call(["ip", "netns", "exec", ns, sys.executable] + sys.argv, env=env)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
    sys.exit(rc)


# --- the node ---------------------------------------------------------------

_node_dirs = []


@atexit.register
def _remove_node_dirs():
    for d in _node_dirs:
        shutil.rmtree(d, ignore_errors=True)


class Node:
    """A bidplane process on a net_tap port (iface bpt0) in this namespace,
    or on the port `vdev` names (e.g. a memif server; then no namespace is
    needed). Its stats segment is removed when it stops, unless the test
    passes keep_stats=True (then it removes it with remove_stats)."""

    def __init__(self, binary, workers=1, args=(), iface=IFACE, vdev=None, stats_name=None,
                 state_dir=None):
        self.binary = binary
        self.iface = None if vdev else iface
        self.dir = tempfile.mkdtemp(prefix="bp-node-")
        _node_dirs.append(self.dir)  # removed at exit if the test never stopped it
        self.ctl = os.path.join(self.dir, "ctl.sock")
        self.state = state_dir or os.path.join(self.dir, "state")
        name = stats_name or f"bpt-{os.getpid()}-{id(self) & 0xffff}"
        self.stats_name = name
        self.prefix = None
        # Main lcore on CPU 0, workers spread over the CPUs there are: with
        # more workers than CPUs they share (idle backoff keeps that usable).
        ncpu = os.cpu_count() or 1
        lcores = ",".join(f"{i}@{i % ncpu}" for i in range(workers + 1))
        self.cmd = [binary, "--no-huge", "-m", "512", f"--lcores={lcores}",
                    vdev or f"--vdev=net_tap0,iface={iface}", "--no-pci",
                    "--log-level=user1,info",
                    "--",
                    "--ip", NODE_IP, "--control-socket", self.ctl, "--state-dir", self.state,
                    "--stats-name", name, "--idle-sleep-us", "200"] + list(args)
        self.output = []
        self.proc = None
        self.mac = None
        self.summary = None

    def start(self, timeout=60, wait_started=True):
        """Starts the node and sets up the tap port once its banner is out;
        unless wait_started is False, then waits until it has recovered its
        log and started (`bidplane: started`)."""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read_output, daemon=True)
        self.reader.start()
        deadline = time.time() + timeout
        while time.time() < deadline and self.mac is None and self.proc.poll() is None:
            for line in list(self.output):
                m = re.search(r"port \d+ \S+ mac ([0-9a-f:]{17})", line)
                if m:
                    self.mac = bytes.fromhex(m.group(1).replace(":", ""))
            time.sleep(0.05)
        if self.mac is None:
            self.stop()
            raise RuntimeError("node did not start:\n" + self.text())
        m = re.search(r"--file-prefix[= ](\S+)", self.text())
        self.prefix = m.group(1) if m else None
        if self.iface is not None:
            subprocess.run(["ip", "addr", "add", f"{HOST_IP}/24", "dev", self.iface],
                           check=True)
            subprocess.run(["ip", "link", "set", self.iface, "up"], check=True)
        if wait_started:
            self.wait_started(max(1, deadline - time.time()))
        return self

    def wait_started(self, timeout=60):
        """Waits for the end of recovery (the node answers NOT_SERVING
        `recovering` before it)."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if "bidplane: started" in self.text():
                return self
            time.sleep(0.02)
        raise RuntimeError("node did not finish starting:\n" + self.text())

    def _read_output(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def wait_for_output(self, text, timeout=10):
        """True once the node printed `text` (e.g. a settlement line)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.text():
                return True
            time.sleep(0.05)
        return False

    def remove_runtime_dir(self):
        """The DPDK runtime dir a killed node leaves (a clean exit removes
        it; a node killed by the test, e.g. with SIGKILL, does not)."""
        if self.prefix:
            shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)

    def remove_leftovers(self):
        """What a killed node leaves: its stats segment and its lock, its
        DPDK runtime dir and its socket dir (not a state dir the test gave:
        restarts reuse it)."""
        self.remove_stats()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.stats_path() + ".lock")  # a clean exit removes it
        self.remove_runtime_dir()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stats_path(self):
        return f"/dev/shm/{self.stats_name}.bpstats"

    def remove_stats(self):
        try:
            os.unlink(self.stats_path())
        except FileNotFoundError:
            pass

    def stop(self, timeout=30, keep_stats=False):
        """SIGTERM, wait, and parse the exit summary. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        self.summary = parse_summary("".join(self.output))
        if keep_stats:  # the test looks at what the node left, then removes it
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.remove_leftovers()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def text(self):
        return "".join(self.output)

    def bidctl(self, bidctl, *args):
        return subprocess.run([bidctl, "--socket", self.ctl] + list(args),
                              capture_output=True, text=True, timeout=30)


def parse_summary(text):
    """The exit summary as {(label, name): value} plus per-worker rx."""
    out = {}
    for m in re.finditer(r"^  (\S+)\s+(\S+)\s+(\d+)$", text, re.M):
        out[(m.group(1), m.group(2))] = int(m.group(3))
    m = re.search(r"rx (\d+) pkts / \d+ bytes, tx (\d+) pkts", text)
    if m:
        out[("total", "rx")] = int(m.group(1))
        out[("total", "tx")] = int(m.group(2))
    m = re.search(r"to_control (\d+), from_control (\d+)", text)
    if m:
        out[("exception", "to_control")] = int(m.group(1))
        out[("exception", "from_control")] = int(m.group(2))
    m = re.search(r"arp (\d+), icmp (\d+), ignored (\d+)", text)
    if m:
        out[("control", "arp")] = int(m.group(1))
        out[("control", "icmp")] = int(m.group(2))
        out[("control", "ignored")] = int(m.group(3))
    for m in re.finditer(r"worker (\d+)\s+lcore \d+ rx (\d+) tx (\d+)", text):
        out[("worker", m.group(1))] = int(m.group(2))
    return out


# --- protocol ---------------------------------------------------------------

def header(mtype, length, version=1, flags=0):
    return struct.pack(">HBBHH", MAGIC, version, mtype, length, flags)


def bid(request_id, auction, bidder, amount, client_ts=0):
    return header(BID, 48) + struct.pack(">QQQQQ", request_id, auction, bidder, amount, client_ts)


def query(request_id, auction):
    return header(QUERY, 24) + struct.pack(">QQ", request_id, auction)


def watch(request_id, auction, viewer, unwatch=False):
    return header(UNWATCH if unwatch else WATCH, 32) + struct.pack(">QQQ", request_id, auction,
                                                                    viewer)


def parse_reply(data):
    magic, version, mtype, length, flags = struct.unpack(">HBBHH", data[:8])
    assert magic == MAGIC and version == 1 and length == len(data), data.hex()
    if mtype == BID_REPLY:
        assert length == 64
        rid, auc, status = struct.unpack(">QQB", data[8:25])
        assert data[25:32] == b"\0" * 7
        lead_amt, lead_bidder, hlc, cts = struct.unpack(">QQQQ", data[32:64])
        return dict(type=mtype, flags=flags, request_id=rid, auction_id=auc, status=status,
                    leading_amount=lead_amt, leading_bidder=lead_bidder, hlc=hlc, client_ts=cts)
    if mtype == AUCTION_STATE:
        assert length == 88
        rid, auc, status, state = struct.unpack(">QQBB", data[8:26])
        assert data[26:32] == b"\0" * 6
        vals = struct.unpack(">QQQQQQQ", data[32:88])
        keys = ("leading_amount", "leading_bidder", "leading_hlc", "bid_count", "viewers",
                "close_at_ms", "node_hlc")
        d = dict(type=mtype, flags=flags, request_id=rid, auction_id=auc, status=status,
                 state=state)
        d.update(zip(keys, vals))
        return d
    raise AssertionError(f"unexpected reply type {mtype}")


def overload_backoff():
    """The waits between retries of an OVERLOADED request: from 10 ms,
    doubling to 320 ms, about 4 s in all. OVERLOADED says "retry later"
    (PROTOCOL.md); under sync durability it is also the answer to a retry
    whose first try's record is not durable yet, which on a loaded machine
    can take longer than a client's receive timeout: a client that retried
    every 10 ms would give up while its ACCEPTED is still on its way."""
    wait = 0.01
    for _ in range(16):
        yield wait
        wait = min(wait * 2, 0.32)


class Client:
    """A kernel UDP socket talking to the node."""

    def __init__(self, timeout=1.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST_IP, 0))
        self.sock.settimeout(timeout)

    def send(self, payload):
        self.sock.sendto(payload, (NODE_IP, PORT))

    def recv(self, timeout=None):
        """The next reply as raw bytes, or None on timeout."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(2048)
        except (socket.timeout, BlockingIOError):
            return None
        assert addr == (NODE_IP, PORT), addr
        return data

    def ask(self, payload, retries=5):
        """Sends and waits for the reply (retrying on loss and OVERLOADED,
        as PROTOCOL.md tells clients to); returns it parsed. `retries`
        sends may go unanswered; OVERLOADED is retried apart from them,
        backing off (overload_backoff)."""
        want = struct.unpack_from("!Q", payload, 8)[0] if len(payload) >= 16 else None
        backoff = overload_backoff()
        lost = 0
        while lost < retries:
            self.send(payload)
            data = self.recv()
            # A late reply to an earlier try of another request (a retry
            # that crossed its reply) is not this request's answer.
            while data is not None and want is not None and \
                    parse_reply(data).get("request_id", want) != want:
                data = self.recv()
            if data is None:
                lost += 1
                continue
            r = parse_reply(data)
            if r["status"] != OVERLOADED:
                return r
            wait = next(backoff, None)
            if wait is None:
                raise AssertionError(f"request {r['request_id']} still OVERLOADED after its retries")
            time.sleep(wait)
        raise AssertionError("no reply after %d tries" % retries)

    def silent(self, payload, wait=0.3):
        """Sends and asserts no reply comes back."""
        self.send(payload)
        data = self.recv(timeout=wait)
        self.sock.settimeout(1.0)
        return data is None

    def close(self):
        self.sock.close()


# --- raw frames -------------------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_bytes(s):
    return bytes.fromhex(s.replace(":", ""))


def iface_mac(iface):
    with open(f"/sys/class/net/{iface}/address") as f:
        return mac_bytes(f.read().strip())


def udp_frame(dst_mac, src_mac, payload, src_ip=HOST_IP, dst_ip=NODE_IP, sport=40000,
              dport=PORT, vlan=None, ip_csum=None, udp_csum=None, ihl=5, frag=0,
              udp_len=None, ip_len=None):
    """An Ethernet/IPv4/UDP frame; every header field can be made wrong."""
    options = b"\x01" * (4 * (ihl - 5))
    ulen = udp_len if udp_len is not None else 8 + len(payload)
    src = socket.inet_aton(src_ip)
    dst = socket.inet_aton(dst_ip)
    pseudo = src + dst + struct.pack(">BBH", 0, 17, 8 + len(payload))
    udp = struct.pack(">HHHH", sport, dport, ulen, 0) + payload
    uc = csum(pseudo + udp) or 0xFFFF
    if udp_csum is not None:
        uc = udp_csum
    udp = udp[:6] + struct.pack(">H", uc) + udp[8:]
    tot = ip_len if ip_len is not None else 4 * ihl + len(udp)
    ip = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 1, frag, 64, 17, 0, src, dst) + options
    ic = csum(ip) if ip_csum is None else ip_csum
    ip = ip[:10] + struct.pack(">H", ic) + ip[12:]
    eth = dst_mac + src_mac
    if vlan is not None:
        eth += struct.pack(">HH", 0x8100, vlan)
    return eth + struct.pack(">H", 0x0800) + ip + udp


SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


class RawPort:
    """AF_PACKET socket on an interface: sends frames as if from the wire and
    sees what the node sends. The kernel moves a received VLAN tag out of
    the frame into auxiliary data; recv_udp_from_node reports it."""

    def __init__(self, iface=IFACE):
        self.iface = iface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.sock.bind((iface, 0))
        self.mac = iface_mac(iface)

    def send(self, frame):
        self.sock.send(frame)

    def recv_udp_from_node(self, timeout=1.0, with_vlan=False):
        """The next frame carrying UDP from the node's port (bytes, with any
        VLAN tag removed), or None; with_vlan: (frame, tci or None)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            frame, ancdata, _, addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(32))
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            tci = None
            for level, kind, data in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, _, _, _, _, vlan_tci, _ = struct.unpack("=IIIHHHH", data[:20])
                    if status & TP_STATUS_VLAN_VALID:
                        tci = vlan_tci
            if struct.unpack(">H", frame[12:14])[0] == 0x8100:  # tag left in the data
                tci = struct.unpack(">H", frame[14:16])[0]
                frame = frame[:12] + frame[16:]
            if struct.unpack(">H", frame[12:14])[0] != 0x0800 or frame[14 + 9] != 17:
                continue
            if struct.unpack(">H", frame[34:36])[0] == PORT:
                return (frame, tci) if with_vlan else frame
        return (None, None) if with_vlan else None

    def close(self):
        self.sock.close()


def run_script(test, path, env, timeout, cwd):
    """Runs a script as CI and scripts do (its own session, stdin
    /dev/null, no terminal), bounded: on timeout its whole process group
    gets SIGTERM and the test fails. Asserts exit 0; returns its output and
    its pid (what it names its temporaries after)."""
    proc = subprocess.Popen([path], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        text, _ = proc.communicate()
        test.fail(f"{os.path.basename(path)} did not finish in {timeout} s:\n" + text)
    print(text)
    test.assertEqual(proc.returncode, 0, text)
    return text, proc.pid


def terminate(proc, timeout):
    """SIGTERM, then SIGKILL after timeout seconds: a helper process stops
    within a bound whatever it does."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


BIDPLANE = os.environ.get("BP_BIDPLANE", "build/bidplane")
BIDCTL = os.environ.get("BP_BIDCTL", "build/bidctl")


def wait_for(what, check, timeout=20):
    """check()'s first true value, asked every 0.1 s; AssertionError naming
    `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class TmpfsStateDir:
    """A test's --state-dir on a tmpfs of its own (root: mount), removed
    with the test; fill() takes its free space."""

    def mount_state(self, prefix, size):
        self.state = tempfile.mkdtemp(prefix=prefix)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.state],
                       check=True)
        self.addCleanup(shutil.rmtree, self.state, True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.state])

    def fill(self, leave):
        """A filler file that leaves about `leave` bytes free: its path."""
        st = os.statvfs(self.state)
        free = st.f_bavail * st.f_frsize
        path = os.path.join(self.state, "filler")
        with open(path, "wb") as f:
            f.write(b"\0" * max(0, free - leave))
        return path


def main(name):
    """Entry point of a test script: namespace, then unittest. The binaries
    come from BP_BIDPLANE and BP_BIDCTL (meson sets them)."""
    run_in_netns(name)
    unittest.main(argv=sys.argv[:1], verbosity=2)
