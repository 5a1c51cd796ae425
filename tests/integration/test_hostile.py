#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A hostile or careless host: what others may plant in the world-writable
/dev/shm (a FIFO, a symbolic link), a segment truncated under its reader,
two nodes on one --state-dir or one --stats-name, failed starts, SIGHUP and
a closed stdout, and what DPDK would leave on disk (runtime directories,
hugepage files).

The script runs in a mount namespace of its own with a private tmpfs on
/dev/shm, so the segments of nodes other people run on this host neither
disturb it nor see its planted files. Nodes run on memif server ports
nobody connects to (idle)."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from bptest import BIDPLANE, NODE_IP, Node
from stats_tools import BIDSTAT, bidstat

SLOW_RENAME = os.environ.get("BP_SLOW_RENAME", "build/tests/integration/libslow_rename.so")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def in_private_shm():
    """Re-executes this script in a mount namespace whose /dev/shm is a
    fresh tmpfs; returns inside it."""
    if os.environ.get("BP_PRIVATE_SHM"):
        return
    if os.geteuid() != 0:
        print("SKIP: needs root (mount namespace, DPDK)")
        sys.exit(77)
    env = dict(os.environ, BP_PRIVATE_SHM="1")
    mount = 'mount -t tmpfs -o mode=1777 bp-shm /dev/shm && exec "$@"'
    sys.exit(subprocess.call(["unshare", "--mount", "--propagation", "private", "--", "sh",
                              "-c", mount, "sh", sys.executable] + sys.argv, env=env))


def hugepages_ready():
    """Reserves 2 MiB hugepages and mounts hugetlbfs (this namespace
    only) when needed; returns (ok, reason, restore) where restore undoes
    the reservation."""
    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        before = int(f.read())

    def free():
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())

    def restore():
        if before == 0:
            with open(path, "w") as f:
                f.write("0")
    try:
        if free() < 128:
            with open(path, "w") as f:
                f.write(str(before + 128))
    except OSError as e:
        return False, f"cannot reserve hugepages: {e}", lambda: None
    if free() < 64:
        restore()
        return False, f"nr_hugepages is {before} and cannot be raised", lambda: None
    with open("/proc/mounts") as f:
        if " hugetlbfs " not in f.read():
            os.makedirs("/dev/hugepages", exist_ok=True)
            if subprocess.call(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"]) != 0:
                restore()
                return False, "cannot mount hugetlbfs", lambda: None
    return True, "", restore


def hugetlbfs_mounts():
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2] == "hugetlbfs"]


def hugepage_files(prefix):
    return [f for m in hugetlbfs_mounts() for f in os.listdir(m) if f.startswith(prefix)]


def runtime_dir(prefix):
    return f"/var/run/dpdk/{prefix}"


class Hostile(unittest.TestCase):
    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="bp-hostile-")
        self.addCleanup(shutil.rmtree, self.run_dir, True)
        self.count = 0

    def node(self, name=None, state=None, args=(), start=True, timeout=60, eal=()):
        """A node on its own memif socket; started unless start=False."""
        self.count += 1
        sock = os.path.join(self.run_dir, f"memif{self.count}.sock")
        n = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                 stats_name=name or f"bpt-hostile-{os.getpid()}-{self.count}",
                 state_dir=state or os.path.join(self.run_dir, f"state{self.count}"),
                 args=list(args))
        n.cmd[1:1] = list(eal)
        self.addCleanup(n.remove_stats)
        self.addCleanup(n.stop)
        return n.start(timeout=timeout) if start else n

    def run_node(self, n, timeout=60):
        """Runs a node that is expected to refuse to start: (rc, output)."""
        r = subprocess.run(n.cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    # --- what sits at the segment's name -----------------------------------

    def test_a_fifo_at_the_segment_path_blocks_nobody(self):
        name = f"bpt-fifo-{os.getpid()}"
        path = f"/dev/shm/{name}.bpstats"
        os.mkfifo(path)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        start = time.time()
        r = bidstat("--once", name, timeout=10)  # the old bidstat blocked in open
        self.assertLess(time.time() - start, 5)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not a regular file", r.stderr)
        # A node of that name does not hang either: it replaces the FIFO.
        n = self.node(name=name, timeout=30)
        self.assertTrue(os.path.isfile(path))
        r = bidstat("--once", "--json", name, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["pid"], n.proc.pid)
        self.assertEqual(n.stop(timeout=20), 0, n.text())

    def test_a_symlink_at_the_segment_path_is_not_followed(self):
        target = self.node()
        name = f"bpt-link-{os.getpid()}"
        path = f"/dev/shm/{name}.bpstats"
        os.symlink(target.stats_path(), path)
        self.addCleanup(lambda: os.path.lexists(path) and os.unlink(path))
        r = bidstat("--once", name, timeout=10)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("symbolic link", r.stderr)
        # A node of that name replaces the link, never writes through it.
        before = os.stat(target.stats_path()).st_ino
        n = self.node(name=name)
        self.assertFalse(os.path.islink(path))
        self.assertEqual(os.stat(target.stats_path()).st_ino, before)
        self.assertEqual(n.stop(), 0, n.text())

    def test_a_segment_truncated_under_bidstat_is_damaged_not_a_crash(self):
        src = self.node()
        name = f"bpt-trunc-{os.getpid()}"
        path = f"/dev/shm/{name}.bpstats"
        shutil.copyfile(src.stats_path(), path)  # a running node's segment, frozen
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        live = subprocess.Popen([BIDSTAT, "--json", "--interval", "0.1", name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = live.stdout.readline()
            if not first.startswith("{"):
                live.kill()
                self.fail(first + live.stderr.read())
            os.truncate(path, 4096)  # the header stays, the directory goes
            rc = live.wait(timeout=10)
        finally:
            if live.poll() is None:
                live.kill()
        err = live.stderr.read()
        self.assertEqual(rc, 1, f"bidstat ended with {rc} (-7 is SIGBUS): {err}")
        self.assertIn("damaged segment", err)
        self.assertIn("truncated", err)

    # --- one node per state dir, per stats name -----------------------------

    def epoch(self, state):
        try:
            with open(os.path.join(state, "fencing_epoch")) as f:
                return int(f.read())
        except FileNotFoundError:
            return 0

    def test_a_second_node_on_one_state_dir_refuses(self):
        state = os.path.join(self.run_dir, "shared-state")
        first = self.node(state=state)
        second = self.node(state=state, start=False)
        r = subprocess.run(second.cmd, capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        # A configuration error (exit 2), in one plain line before EAL
        # starts: not an EAL exit ("EAL: Error - exiting with code: 1").
        self.assertEqual(r.returncode, 2, out)
        self.assertNotIn("EAL", out)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn(f"bidplane: --state-dir {state} is in use by the running node pid "
                      f"{first.proc.pid}", r.stderr)
        self.assertIn("stop that node first, or give this one its own --state-dir", r.stderr)
        self.assertEqual(self.epoch(state), 1)  # bumped once, by the first
        self.assertFalse(os.path.exists(second.stats_path()), "a failed start left a segment")
        self.assertEqual(first.stop(), 0, first.text())
        again = self.node(state=state)  # the lock died with the first node
        self.assertEqual(self.epoch(state), 2)
        self.assertEqual(again.stop(), 0, again.text())

    def test_a_failed_start_bumps_no_epoch_and_leaves_no_segment(self):
        first = self.node()
        second = self.node(start=False)
        ctl = second.cmd.index("--control-socket")
        second.cmd[ctl + 1] = first.ctl  # in use by the first node
        rc, out = self.run_node(second)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("is in use by a running node", out)
        self.assertEqual(self.epoch(second.state), 0, out)
        self.assertFalse(os.path.exists(second.stats_path()), "a failed start left a segment")
        self.assertEqual(first.stop(), 0, first.text())

    def test_a_state_dir_that_is_a_file_refuses_to_start(self):
        blocker = os.path.join(self.run_dir, "a-file")
        open(blocker, "w").close()
        for state in (blocker, blocker + "/state"):
            n = self.node(state=state, start=False)
            rc, out = self.run_node(n)
            self.assertNotEqual(rc, 0, out)
            self.assertIn(f"--state-dir {state} is not a directory", out)
            self.assertIn("pass a directory", out)

    def test_two_nodes_started_at_once_with_one_stats_name(self):
        """The second node starts while the first is between building its
        segment and publishing it (slow_rename holds the first there for
        4 s, so the window is open every time, not by chance)."""
        name = f"bpt-race-{os.getpid()}"
        first, second = (self.node(name=name, start=False) for _ in range(2))
        env = dict(os.environ, LD_PRELOAD=SLOW_RENAME, BP_SLOW_RENAME_MS="4000")
        procs = [subprocess.Popen(first.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=env)]
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not glob.glob(f"/dev/shm/{name}.bpstats.*tmp"):
                if procs[0].poll() is not None:
                    self.fail("the first node exited: " + procs[0].stdout.read())
                time.sleep(0.02)
            built = time.time()
            procs.append(subprocess.Popen(second.cmd, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
            while time.time() < built + 8 and procs[1].poll() is None:
                time.sleep(0.1)
            time.sleep(max(0.0, built + 6 - time.time()))  # the first has published
            running = [p for p in procs if p.poll() is None]
            for p in running:
                p.send_signal(signal.SIGTERM)
            outs = [p.communicate(timeout=30)[0] for p in procs]
            self.assertEqual(len(running), 1, f"{len(running)} nodes ran with one stats name:\n"
                             + "\n---\n".join(outs))
            self.assertIs(running[0], procs[0], "\n---\n".join(outs))
            self.assertEqual(procs[0].returncode, 0, outs[0])
            self.assertIn(f"stats name '{name}' is in use by the running node pid "
                          f"{procs[0].pid}", outs[1])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    # --- signals and output ---------------------------------------------------

    def test_sighup_drains_and_exits_cleanly(self):
        n = self.node()
        prefix = n.prefix
        self.assertTrue(prefix and os.path.isdir(runtime_dir(prefix)), n.text())
        n.proc.send_signal(signal.SIGHUP)
        rc = n.proc.wait(timeout=30)
        n.reader.join(timeout=5)
        self.assertEqual(rc, 0, n.text())
        self.assertIn("SIGHUP received", n.text())
        self.assertIn("summary", n.text())
        self.assertIn("stopped cleanly", n.text())
        self.assertFalse(os.path.exists(n.ctl), "the control socket was left")
        self.assertFalse(os.path.exists(runtime_dir(prefix)), "the runtime dir was left")

    def test_a_closed_stdout_does_not_kill_the_node(self):
        n = self.node(start=False)
        err = open(os.path.join(self.run_dir, "stderr"), "w+")
        p = subprocess.Popen(n.cmd, stdout=subprocess.PIPE, stderr=err)
        try:
            p.stdout.readline()  # bidplane ... | head -1
            p.stdout.close()
            deadline = time.time() + 30
            while time.time() < deadline and p.poll() is None and not os.path.exists(n.ctl):
                time.sleep(0.1)
            time.sleep(1)  # the banner and the logs go to the closed pipe
            self.assertIsNone(p.poll(), f"the node died: {p.returncode}")
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=30)
            self.assertEqual(rc, 0, f"exit {rc} (-13 is SIGPIPE)")
            self.assertFalse(os.path.exists(n.ctl), "the control socket was left")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            err.close()

    # --- what DPDK leaves on disk -------------------------------------------

    def test_a_failed_eal_init_leaves_no_runtime_dir(self):
        n = self.node(start=False, eal=["--vdev=net_nosuchdriver0"])
        rc, out = self.run_node(n)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("EAL init failed", out)
        m = re.search(r"--file-prefix (bidplane-\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertFalse(os.path.exists(runtime_dir(m.group(1))),
                         f"{runtime_dir(m.group(1))} was left")

    def test_a_node_with_its_own_file_prefix_leaves_no_hugepage_files(self):
        ok, reason, restore = hugepages_ready()
        if not ok:
            self.skipTest(reason)
        self.addCleanup(restore)
        prefix = f"bpthp{os.getpid()}"
        sock = os.path.join(self.run_dir, "memif-hp.sock")
        n = Node(BIDPLANE, workers=1, vdev=f"--vdev=net_memif0,role=server,socket={sock}",
                 stats_name=f"bpt-hp-{os.getpid()}",
                 state_dir=os.path.join(self.run_dir, "state-hp"))
        n.cmd[n.cmd.index("--no-huge"):n.cmd.index("512") + 1] = ["-m", "64", "--file-prefix",
                                                                  prefix]
        self.addCleanup(n.remove_stats)
        self.addCleanup(n.stop)
        self.addCleanup(shutil.rmtree, runtime_dir(prefix), True)
        n.start()
        self.assertGreater(len(hugepage_files(prefix)), 0, "the node used no hugepages")
        self.assertEqual(n.stop(), 0, n.text())
        self.assertEqual(hugepage_files(prefix), [])

    def test_bench_stats_cost_leaves_no_hugepages(self):
        ok, reason, restore = hugepages_ready()
        if not ok:
            self.skipTest(reason)
        self.addCleanup(restore)

        def leftovers():
            dpdk = os.listdir("/var/run/dpdk") if os.path.isdir("/var/run/dpdk") else []
            return (set(hugepage_files("bpcost-")), {d for d in dpdk if d.startswith("bpcost-")})
        before = leftovers()
        env = dict(os.environ, STATS_COST_RUNS="2", STATS_COST_AUCTIONS="10",
                   STATS_COST_BIDS="1000")
        r = subprocess.run(["bash", os.path.join(ROOT, "perf", "bench_stats_cost.sh")],
                           capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("counters cost", r.stdout)
        after = leftovers()
        self.assertEqual(after[0] - before[0], set(), "hugepage files left")
        self.assertEqual(after[1] - before[1], set(), "runtime dirs left")

    # --- a bare bidstat -------------------------------------------------------

    def test_a_bare_bidstat_picks_the_live_node(self):
        old = self.node(name=f"bpt-old-{os.getpid()}")
        self.assertEqual(old.stop(keep_stats=True), 0, old.text())
        live = self.node(name=f"bpt-live-{os.getpid()}")
        r = bidstat("--once", "--json", timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual((got["name"], got["pid"]), (live.stats_name, live.proc.pid))


if __name__ == "__main__":
    in_private_shm()
    unittest.main(verbosity=2)
