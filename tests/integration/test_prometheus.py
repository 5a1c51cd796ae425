#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""bidstat --serve ADDR:PORT (docs/STATS.md): HTTP as Prometheus expects it
(content type, HELP and TYPE lines, the text of bidstat --prometheus), 404,
405, 431, 503, a slow client that cannot stall it, SIGTERM; then Debian's
prometheus server, started here on loopback with a throwaway config and
data directory, scrapes it every second while bidgen sends bids, and a
query through its HTTP API returns the node's accepted-bid count. The node
runs on a memif server port (no namespace needed)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from bptest import BIDPLANE, Node, terminate
from stats_tools import BIDSTAT, bidstat, bidstat_json, by_key, wait_for_refresh

BIDGEN = os.environ.get("BP_BIDGEN", "build/bidgen")
PROMETHEUS = shutil.which("prometheus")
ACCEPTED = 'bidplane_replies_total{kind="bid_reply",status="accepted",worker="0"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("the node (DPDK) needs root")
        self.dir = tempfile.mkdtemp(prefix="bp-prom-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "memif.sock")
        self.node = Node(BIDPLANE, workers=1,
                         vdev=f"--vdev=net_memif0,role=server,socket={self.sock}",
                         args=["--open-range", "1-100", "--increment", "1",
                               "--dedup-rate", "10000"])
        self.addCleanup(self.node.stop)
        self.node.start()
        self.name = self.node.stats_name

    def serve(self, name=None):
        """bidstat --serve on a port the kernel picks; (process, url)."""
        proc = subprocess.Popen([BIDSTAT, "--serve", "127.0.0.1:0", name or self.name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(stop)
        line = proc.stderr.readline()
        m = re.search(r"\(port (\d+)\), path /metrics", line)
        if m is None:
            proc.kill()
            self.fail(f"bidstat --serve did not start: {line}{proc.stderr.read()}")
        return proc, f"http://127.0.0.1:{m.group(1)}"

    def get(self, url, method="GET"):
        req = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def raw(self, port, data, read=True):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            return s.recv(65536).decode(errors="replace") if read else None

    def test_metrics_over_http_as_prometheus_expects(self):
        proc, url = self.serve()
        status, headers, body = self.get(url + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                        headers["Content-Type"])
        self.assertEqual(int(headers["Content-Length"]), len(body.encode()))
        # The same families, HELP and TYPE lines and series as --prometheus.
        cli = bidstat("--prometheus", self.name)
        self.assertEqual(cli.returncode, 0, cli.stderr)

        def shape(text):
            return ([line for line in text.splitlines() if line.startswith("#")],
                    [line.rsplit(" ", 1)[0] for line in text.splitlines()
                     if not line.startswith("#")])
        self.assertEqual(shape(body), shape(cli.stdout))
        self.assertIn("# TYPE bidplane_replies_total counter", body)
        self.assertIn("# HELP bidplane_up ", body)
        self.assertIn("bidplane_up 1\n", body)
        self.assertIn(ACCEPTED + " 0\n", body)
        check = subprocess.run(["promtool", "check", "metrics"], input=body,
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # HEAD: the headers alone; a query string is ignored.
        status, headers, head_body = self.get(url + "/metrics", "HEAD")
        self.assertEqual((status, head_body), (200, ""))
        self.assertEqual(self.get(url + "/metrics?x=1")[0], 200)
        # Other paths and methods.
        status, _, text = self.get(url + "/")
        self.assertEqual(status, 404)
        self.assertIn("/metrics", text)
        self.assertEqual(self.get(url + "/metricsx")[0], 404)
        status, headers, _ = self.get(url + "/metrics", "POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        port = int(url.rsplit(":", 1)[1])
        self.assertIn("400 Bad Request", self.raw(port, b"garbage\r\n\r\n"))
        self.assertIn("431 ", self.raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000))
        self.assertIsNone(proc.poll())

    def test_a_slow_client_stalls_nothing_and_is_dropped(self):
        proc, url = self.serve()
        port = int(url.rsplit(":", 1)[1])
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for s in slow:
            s.sendall(b"GET /metr")  # and never the rest
        t0 = time.time()
        status = None
        # All slots may be taken by the slow ones: a scrape succeeds once
        # their time (5 s) is up, and never waits for them longer.
        for _ in range(100):
            try:
                status = self.get(url + "/metrics")[0]
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.2)
        self.assertEqual(status, 200)
        self.assertLess(time.time() - t0, 8)
        for s in slow:
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(100), b"")  # closed by the server
            except ConnectionResetError:
                pass
            s.close()
        self.assertLess(time.time() - t0, 12)

    def test_sigterm_stops_it_and_bad_arguments_name_the_fix(self):
        proc, url = self.serve()
        conn = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=5), 0)
        conn.close()
        r = bidstat("--serve", "127.0.0.1", self.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--serve 127.0.0.1: expected ADDR:PORT, e.g. 127.0.0.1:9464", r.stderr)
        r = bidstat("--serve", "127.0.0.1:0", "--json", self.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--serve answers scrapes until stopped", r.stderr)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            r = bidstat("--serve", f"127.0.0.1:{taken.getsockname()[1]}", self.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("another process listens there", r.stderr)
        r = bidstat("--serve", "192.0.2.1:9464", self.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not an address of this host", r.stderr)

    def test_no_node_is_503(self):
        proc, url = self.serve(f"bpt-none-{os.getpid()}")
        status, _, text = self.get(url + "/metrics")
        self.assertEqual(status, 503)
        self.assertIn("no node publishes stats as", text)

    def test_prometheus_scrapes_it_and_its_api_returns_the_accepted_bids(self):
        if PROMETHEUS is None:
            self.fail("prometheus missing: apt-get install prometheus")
        proc, url = self.serve()
        target = url.removeprefix("http://")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: bidplane\n    scrape_interval: 1s\n"
                    "    scrape_timeout: 1s\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        data = os.path.join(self.dir, "tsdb")
        prom_port = free_port()
        log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.addCleanup(log.close)
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={data}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=log, stderr=subprocess.STDOUT)

        self.addCleanup(terminate, prom, 20)
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        def query(expr):
            q = urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen(f"{api}/query?{q}", timeout=5) as r:
                    answer = json.load(r)
            except (urllib.error.URLError, ConnectionError):
                return None
            self.assertEqual(answer["status"], "success", answer)
            result = answer["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        def wait_for(expr, want, timeout=60):
            deadline = time.time() + timeout
            got = None
            while time.time() < deadline and prom.poll() is None:
                got = query(expr)
                if got == want:
                    return
                time.sleep(0.5)
            log.seek(0)
            self.fail(f"{expr} = {got}, want {want} (prometheus rc {prom.poll()}):\n"
                      + log.read()[-3000:])

        wait_for('up{job="bidplane"}', 1.0)
        wait_for("bidplane_up", 1.0)
        gen = subprocess.run(
            [BIDGEN, "--no-huge", "-m", "512", f"--lcores=0@{1 % (os.cpu_count() or 1)}",
             "--no-pci", f"--file-prefix=bpgen-prom-{os.getpid()}",
             f"--vdev=net_memif0,role=client,socket={self.sock}", "--",
             "--auctions", "1-100", "--count", "3000", "--rate", "20000", "--dup-ratio",
             "0.05", "--timeout", "2000", "--strict", "--quiet"],
            capture_output=True, text=True, timeout=120)
        shutil.rmtree(f"/var/run/dpdk/bpgen-prom-{os.getpid()}", ignore_errors=True)
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr)
        wait_for_refresh(self, self.name)
        accepted = by_key(bidstat_json(self, self.name))[
            "replies_total/bid_reply/accepted"]["total"]
        self.assertGreater(accepted, 100)
        t0 = time.time()
        wait_for('sum(bidplane_replies_total{kind="bid_reply",status="accepted"})',
                 float(accepted))
        print(f"prometheus: {accepted} accepted bids, as bidstat --json says, "
              f"{time.time() - t0:.1f} s after bidgen ended")
        terminate(prom, 20)
        self.assertEqual(prom.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
