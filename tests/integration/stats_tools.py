# SPDX-License-Identifier: BSD-3-Clause
"""Reading a node's numbers the ways an operator would: bidstat (--json,
--prometheus checked by promtool) and DPDK telemetry (dpdk-telemetry.py)."""

import json
import os
import shutil
import subprocess
import time

BIDSTAT = os.environ.get("BP_BIDSTAT", "build/bidstat")
TELEMETRY = shutil.which("dpdk-telemetry.py") or "/usr/bin/dpdk-telemetry.py"
PROMTOOL = shutil.which("promtool")


def bidstat(*args, user=None, timeout=30):
    cmd = [BIDSTAT] + list(args)
    if user:
        cmd = ["setpriv"] + user + ["--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def bidstat_json(test, name):
    r = bidstat("--once", "--json", name)
    test.assertEqual(r.returncode, 0, r.stderr)
    return json.loads(r.stdout)


def by_key(stat):
    return {m["key"]: m for m in stat["metrics"]}


def wait_for_refresh(test, name, refreshes=2, timeout=10):
    """Waits until the control thread refreshed its values `refreshes`
    times after now, so copies it makes (e.g. CAS retries) are current."""
    first = bidstat_json(test, name)["updated_unix_ms"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if bidstat_json(test, name)["updated_unix_ms"] >= first + refreshes * 100:
            return
        time.sleep(0.05)
    test.fail(f"the stats of {name} were not refreshed in {timeout} s")


def telemetry(test, prefix, command):
    """One command through dpdk-telemetry.py; its answer's value."""
    test.assertIsNotNone(prefix, "the node's --file-prefix is unknown")
    r = subprocess.run([TELEMETRY, "-f", prefix], input=command + "\n", capture_output=True,
                       text=True, timeout=30)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    name = command.split(",")[0]
    for line in r.stdout.splitlines():
        line = line.strip().removeprefix("-->").strip()
        if line.startswith("{") and f'"{name}"' in line:
            return json.loads(line)[name]
    test.fail(f"no answer to {command}: {r.stdout} {r.stderr}")


def promtool_check(test, name):
    """bidstat --prometheus passes `promtool check metrics` (lint included)."""
    test.assertIsNotNone(PROMTOOL, "promtool missing: apt-get install prometheus")
    r = bidstat("--prometheus", name)
    test.assertEqual(r.returncode, 0, r.stderr)
    test.assertIn("bidplane_rx_packets_total{worker=\"0\"}", r.stdout)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=r.stdout,
                           capture_output=True, text=True, timeout=30)
    test.assertEqual(check.returncode, 0, check.stdout + check.stderr)
    return r.stdout
