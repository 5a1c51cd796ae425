#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The cluster's options through the program (CLUSTER.md, "Options"):
--check-config reads --cluster-key-file as the start will, refusing what
cluster_key_load refuses; --print-config's [peers] reads back the same.
No EAL starts, no root needed: the parsing itself is test_config.c's."""

import os
import shutil
import subprocess
import tempfile
import unittest

from bptest import BIDPLANE

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"


class ClusterOptions(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bp-clusteropt-")
        self.key = self.write("cluster.key", KEY, 0o600)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text, mode):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def node(self, *args):
        """bidplane -- ARGS with the scratch paths; (exit status, stdout, stderr)."""
        cmd = [BIDPLANE, "--", "--ip", "198.18.0.11", "--state-dir", f"{self.dir}/state",
               "--control-socket", f"{self.dir}/ctl.sock", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def check(self, key):
        return self.node("--peer", "2@198.18.0.12", "--cluster-key-file", key, "--check-config")

    def test_a_good_key_passes(self):
        rc, _, err = self.check(self.key)
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK", err)

    def test_check_config_refuses_what_the_start_refuses(self):
        fifo = os.path.join(self.dir, "fifo.key")
        os.mkfifo(fifo, 0o600)
        link = os.path.join(self.dir, "link.key")
        os.symlink(self.key, link)
        cases = [
            (self.write("open.key", KEY, 0o640), "chmod 600"),
            (self.write("short.key", KEY[:40], 0o600), "exactly 64 hex digits"),
            (self.write("zero.key", "0" * 64, 0o600), "all zeros"),
            (link, "is a symlink"),
            (fifo, "not a regular file"),  # and no hang: O_NONBLOCK
            (os.path.join(self.dir, "missing.key"), "cannot open"),
        ]
        for path, want in cases:
            with self.subTest(key=os.path.basename(path)):
                rc, _, err = self.check(path)
                self.assertEqual(rc, 2, err)
                self.assertIn(f"--cluster-key-file {path}", err)
                self.assertIn(want, err)

    def test_a_peer_without_a_key_names_the_recipe(self):
        rc, _, err = self.node("--peer", "2@198.18.0.12", "--check-config")
        self.assertEqual(rc, 2, err)
        self.assertIn("--peer needs --cluster-key-file", err)
        self.assertIn("umask 077; head -c 32 /dev/urandom", err)

    def test_print_config_reads_back_the_same(self):
        rc, first, err = self.node("--peer", "2@198.18.0.12", "--peer-port", "7700", "--peer",
                                   "3@198.18.0.13:7800", "--cluster-key-file", self.key,
                                   "--print-config")
        self.assertEqual(rc, 0, err)
        self.assertIn("[peers]\n2 = 198.18.0.12:7700\n3 = 198.18.0.13:7800\n", first)
        self.assertIn(f"cluster-key-file = {self.key}\n", first)
        ini = self.write("printed.ini", first, 0o600)
        rc, again, err = self.node("--config", ini, "--print-config")
        self.assertEqual(rc, 0, err)
        self.assertEqual(again, first)


if __name__ == "__main__":
    unittest.main(verbosity=2)
