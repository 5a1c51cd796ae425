#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Runs the etcd client's C tests (tests/unit/control/leader/
test_etcd_client.c: leases, campaigns, the guarded settlement txn, the
zombie leader's refused write) against a throwaway etcd member on
loopback (etcd.py), then removes it."""

import os
import subprocess
import sys

import etcd

if __name__ == "__main__":
    if not etcd.available():
        print("SKIP: etcd not installed (apt-get install etcd-server)")
        sys.exit(77)
    binary = os.environ["BP_TEST_ETCD_CLIENT"]
    with etcd.Etcd() as member:
        r = subprocess.run([binary], env=dict(os.environ, BP_ETCD_URL=member.url), timeout=120)
    sys.exit(r.returncode)
