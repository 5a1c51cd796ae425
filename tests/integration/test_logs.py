#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The node's log: one line format (UTC time, level, subsystem) on stderr,
DPDK's lines included, and --log-level."""

import re
import subprocess
import unittest

from bptest import BIDPLANE, Node, main

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


if __name__ == "__main__":
    main("logs")
