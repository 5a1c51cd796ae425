#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The node's log: one line format (UTC time, level, subsystem) on stderr,
DPDK's lines included, and --log-level."""

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from bptest import BIDCTL, BIDPLANE, Node, main

F_SETPIPE_SZ = 1031

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARNING|NOTICE|INFO|DEBUG) +"
                  r"[a-z][a-z0-9_.]*: \S")


class Logs(unittest.TestCase):
    def lines(self, node):
        return [line.rstrip("\n") for line in node.output]

    def test_every_log_line_has_time_level_and_subsystem(self):
        node = Node(BIDPLANE).start()
        try:
            text = self.lines(node)
        finally:
            self.assertEqual(node.stop(), 0)
        logged = [line for line in text if LINE.match(line)]
        ours = [line for line in logged if " bidplane.control: control socket " in line]
        self.assertEqual(len(ours), 1, "\n".join(text))
        self.assertTrue(any(" eal: " in line for line in logged), "\n".join(text))
        # What is not a log line is the node's own output: the EAL arguments,
        # the banner, the summary. No log line lacks the prefix.
        for line in text:
            self.assertFalse(line.startswith(("EAL: ", "USER1: ", "TELEMETRY: ")), line)

    def test_log_level_hides_the_levels_below(self):
        node = Node(BIDPLANE, args=["--log-level", "warning"]).start()
        try:
            text = "\n".join(self.lines(node))
        finally:
            self.assertEqual(node.stop(), 0)
        self.assertNotIn("bidplane.control: control socket", text)
        self.assertNotRegex(text, r"INFO +bidplane\.")  # DPDK's follow EAL's --log-level

    def test_a_bad_log_level_is_refused_with_the_choices(self):
        r = subprocess.run([BIDPLANE, "--", "--ip", "198.18.0.2", "--log-level", "loud"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-level loud: one of error, warning, notice, info, debug", r.stderr)


class FullStderr(unittest.TestCase):
    def test_a_full_stderr_stalls_no_thread_of_the_node(self):
        """stderr is a pipe nobody reads (journald stalled): settlements are
        logged, yet bidctl answers and SIGTERM ends the node at once."""
        run = tempfile.mkdtemp(prefix="bp-logs-")
        self.addCleanup(shutil.rmtree, run, True)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)  # the smallest a pipe holds
        ctl = os.path.join(run, "ctl.sock")
        out = open(os.path.join(run, "stdout"), "w")
        self.addCleanup(out.close)
        cmd = [BIDPLANE, "--no-huge", "-m", "512", "-l", "0-1", "--no-pci",
               f"--vdev=net_memif0,role=server,socket={run}/m.sock",
               "--log-level=*:debug",  # DPDK alone fills the pipe at start
               "--", "--ip", "198.18.0.2", "--control-socket", ctl, "--state-dir",
               os.path.join(run, "state"), "--stats-name", f"bplogs-{os.getpid()}"]
        node = subprocess.Popen(cmd, stdout=out, stderr=w)
        os.close(w)
        self.addCleanup(lambda: node.poll() is None and node.kill())
        deadline = time.time() + 30
        # Started: its log recovered (bidctl open is refused until then).
        while time.time() < deadline and "bidplane: started" not in open(out.name).read():
            time.sleep(0.1)
        self.assertIn("bidplane: started", open(out.name).read(), "the node did not start")
        for auction in range(1, 6):
            done = subprocess.run([BIDCTL, "--socket", ctl, "open", "--auction", str(auction),
                                   "--reserve", "1", "--increment", "1", "--duration", "1"],
                                  capture_output=True, text=True, timeout=15)
            self.assertEqual(done.returncode, 0, done.stderr)
        time.sleep(2.5)  # they close and settle; the service thread logs each
        status = subprocess.run([BIDCTL, "--socket", ctl, "status"], capture_output=True,
                                text=True, timeout=15)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("auctions:      0 open, 5 closed, 5 settled", status.stdout)
        node.send_signal(signal.SIGTERM)
        self.assertEqual(node.wait(timeout=15), 0)
        os.unlink(f"/dev/shm/bplogs-{os.getpid()}.bpstats")


if __name__ == "__main__":
    main("logs")
