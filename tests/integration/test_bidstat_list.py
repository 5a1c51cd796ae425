#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""bidstat --list shows each node's state (running, exited, crashed), and
bidstat --clean removes what dead nodes left: their segments, claim files
and DPDK runtime directories, and nothing of a running node."""

import os
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
        n = Node(BIDPLANE, vdev=f"--vdev=net_memif0,role=server,socket={ctl_dir}/m.sock",
                 stats_name=f"bplist-{os.getpid()}-{tag}")
        return n.start()

    def test_states_and_cleaning(self):
        running = self.node("running")
        self.addCleanup(running.stop)
        exited = self.node("exited")
        self.assertEqual(exited.stop(keep_stats=True), 0)
        crashed = self.node("crashed")
        crashed_pid = crashed.proc.pid
        crashed.proc.kill()  # kill -9: no exit, its runtime dir stays
        crashed.proc.wait()
        crashed.stop(keep_stats=True)
        runtime = f"/var/run/dpdk/bidplane-{crashed_pid}"
        self.assertTrue(os.path.isdir(runtime), "kill -9 should leave the runtime dir")

        listing = bidstat("--list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        states = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines()[1:]}
        self.assertEqual(states[running.stats_name], "running")
        self.assertEqual(states[exited.stats_name], "exited")
        self.assertEqual(states[crashed.stats_name], "crashed")

        clean = bidstat("--clean")
        self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)
        self.assertFalse(os.path.exists(exited.stats_path()))
        self.assertFalse(os.path.exists(crashed.stats_path()))
        self.assertFalse(os.path.exists(runtime))
        self.assertIn(f"bidplane-{crashed_pid}", clean.stdout)
        self.assertTrue(os.path.exists(running.stats_path()))
        once = bidstat("--once", running.stats_name)
        self.assertEqual(once.returncode, 0, once.stderr)


if __name__ == "__main__":
    main("bidstat-list")
