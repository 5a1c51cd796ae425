#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""bidstat --list shows each node's state (running, exited, crashed), and
bidstat --clean removes what dead nodes left: their segments, claim files
and DPDK runtime directories, and nothing of a running node."""

import fcntl
import os
import shutil
import subprocess
import tempfile
import unittest

from bptest import BIDPLANE, Node, main
from stats_tools import BIDSTAT


def bidstat(*args):
    return subprocess.run([BIDSTAT] + list(args), capture_output=True, text=True, timeout=30)


class ListAndClean(unittest.TestCase):
    def node(self, tag):
        ctl_dir = tempfile.mkdtemp(prefix="bp-list-")
        self.addCleanup(shutil.rmtree, ctl_dir, True)
        n = Node(BIDPLANE, vdev=f"--vdev=net_memif0,role=server,socket={ctl_dir}/m.sock",
                 stats_name=f"bplist-{os.getpid()}-{tag}")
        return n.start()

    def crash(self, tag):
        n = self.node(tag)
        pid = n.proc.pid
        n.proc.kill()  # kill -9: no exit, its runtime dir stays
        n.proc.wait()
        n.stop(keep_stats=True)
        runtime = f"/var/run/dpdk/bidplane-{pid}"
        self.assertTrue(os.path.isdir(runtime), "kill -9 should leave the runtime dir")
        self.addCleanup(shutil.rmtree, runtime, True)
        self.addCleanup(n.remove_stats)
        return n, runtime

    def test_states_and_cleaning(self):
        running = self.node("running")
        self.addCleanup(running.stop)
        exited = self.node("exited")
        self.assertEqual(exited.stop(keep_stats=True), 0)
        self.addCleanup(exited.remove_stats)
        crashed, crashed_dir = self.crash("crashed")
        held, held_dir = self.crash("held")

        listing = bidstat("--list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        states = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines()[1:]}
        self.assertEqual(states[running.stats_name], "running")
        self.assertEqual(states[exited.stats_name], "exited")
        self.assertEqual(states[crashed.stats_name], "crashed")

        # A crashed node: not running, whatever its last serving gauge said.
        gone = bidstat("--once", crashed.stats_name)
        self.assertEqual(gone.returncode, 3, gone.stderr)
        self.assertIn(": gone,", gone.stdout.splitlines()[0])
        self.assertIn(", not running,", gone.stdout.splitlines()[0])
        self.assertIn("its process is gone", gone.stderr)

        # A running node: nothing of it goes.
        r = bidstat("--clean", running.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(running.stats_path()))
        self.assertTrue(os.path.exists(running.stats_path() + ".lock"))
        self.assertTrue(os.path.isdir(f"/var/run/dpdk/{running.prefix}"))
        # An exited node: its segment and claim.
        r = bidstat("--clean", exited.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(exited.stats_path()))
        self.assertFalse(os.path.exists(exited.stats_path() + ".lock"))
        # A crashed node: its segment and its runtime directory.
        r = bidstat("--clean", crashed.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(crashed.stats_path()))
        self.assertFalse(os.path.exists(crashed_dir))
        # A runtime directory whose config a primary still locks (e.g. an
        # instance's prefix that only looks like a pid) stays.
        with open(os.path.join(held_dir, "config"), "r+b") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            r = bidstat("--clean", held.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(held.stats_path()))
        self.assertTrue(os.path.isdir(held_dir), r.stdout)
        once = bidstat("--once", running.stats_name)
        self.assertEqual(once.returncode, 0, once.stderr)

    def test_a_custom_prefix_runtime_dir_goes_once_unused(self):
        """A node on --file-prefix X leaves /var/run/dpdk/X after a clean
        exit (DPDK keeps it; only a prefix the node picks is its to remove):
        bidstat --clean removes it by the marker naming the node, never while
        a process uses it, and never through a link or another user's
        directory with the same marker."""
        prefix = f"bpt-prefix-{os.getpid()}"
        ctl_dir = tempfile.mkdtemp(prefix="bp-list-")
        self.addCleanup(shutil.rmtree, ctl_dir, True)
        n = Node(BIDPLANE, vdev=f"--vdev=net_memif0,role=server,socket={ctl_dir}/m.sock",
                 stats_name=f"bplist-{os.getpid()}-prefix")
        n.cmd[n.cmd.index("--"):n.cmd.index("--")] = ["--file-prefix", prefix]
        runtime = f"/var/run/dpdk/{prefix}"
        self.addCleanup(shutil.rmtree, runtime, True)
        self.addCleanup(n.remove_stats)
        n.start()
        with open(os.path.join(runtime, "bidplane.stats-name")) as f:
            self.assertEqual(f.read(), f"stats-name = {n.stats_name}\n")
        r = bidstat("--clean", n.stats_name)  # running: nothing goes
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.isdir(runtime))
        self.assertEqual(n.stop(keep_stats=True), 0, n.text())
        self.assertTrue(os.path.isdir(runtime), "a clean exit now removes it: drop this test")

        # Planted beside it: a link to a copy, and another user's copy.
        planted = []
        for kind in ("link", "other"):
            copy = tempfile.mkdtemp(prefix=f"bp-{kind}-")
            self.addCleanup(shutil.rmtree, copy, True)
            for name in os.listdir(runtime):
                if os.path.isfile(os.path.join(runtime, name)):
                    shutil.copy(os.path.join(runtime, name), copy)
            entry = f"/var/run/dpdk/{prefix}-{kind}"
            if kind == "link":
                os.symlink(copy, entry)
                self.addCleanup(os.unlink, entry)
            else:
                shutil.copytree(copy, entry)
                os.chown(entry, 65534, 65534)
                self.addCleanup(shutil.rmtree, entry, True)
            planted.append((entry, copy))

        # A secondary (dpdk-dumpcap) holds its shared lock on an fbarray.
        fbarray = next(f for f in os.listdir(runtime) if f.startswith("fbarray_"))
        with open(os.path.join(runtime, fbarray), "rb") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            r = bidstat("--clean", n.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(n.stats_path()), r.stdout)  # the segment went
        self.assertTrue(os.path.isdir(runtime), r.stdout)
        r = bidstat("--clean", n.stats_name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(runtime), r.stdout)
        self.assertIn(f"removed {runtime} (node '{n.stats_name}', no process uses it)",
                      r.stdout)
        for entry, copy in planted:
            self.assertTrue(os.path.lexists(entry), entry)
            self.assertIn("config", os.listdir(copy))


if __name__ == "__main__":
    main("bidstat-list")
