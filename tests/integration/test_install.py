# SPDX-License-Identifier: BSD-3-Clause
"""`meson install` as a package would do it: a build with -Dprefix=/usr
-Dnative=false (kept in <build>/install-test, so later runs are
incremental), installed with --destdir into a temporary root. Then: the
tree is where Debian keeps things; every tool answers --version with
meson's version; every long option of each --help is in its man page and
the other way round; each page renders with `man -l`; `systemd-analyze
verify` passes the unit; sysusers.d and tmpfiles.d make the group and
/run/bidplane; the installed node accepts the installed sample config
(--check-config) and starts with it, answering the installed bidctl.

Needs root for the node's start (DPDK) only; the rest runs as anyone.
Skips a part, saying why, when its tool (scdoc, man, systemd-analyze) is
missing: scripts/common.sh installs them."""

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

SOURCE = os.environ.get("BP_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BP_BUILD_ROOT", os.path.join(SOURCE, "build"))
PKG_BUILD = os.path.join(BUILD, "install-test")
PREFIX = "/usr"

# Each tool: (installed path, man page, section), as Debian lays them out.
TOOLS = {
    "bidplane": ("usr/sbin/bidplane", "bidplane", 8),
    "bidctl": ("usr/bin/bidctl", "bidctl", 8),
    "bidstat": ("usr/bin/bidstat", "bidstat", 1),
    "bidgen": ("usr/bin/bidgen", "bidgen", 1),
}
DIST_FILES = [
    "usr/lib/systemd/system/bidplane@.service",
    "usr/lib/sysusers.d/bidplane.conf",
    "usr/lib/tmpfiles.d/bidplane.conf",
    "usr/libexec/bidplane/bidplane-hugepages",
    "etc/bidplane/bidplane.ini",
    "etc/bidplane/bidplane.env",
    "usr/share/bidplane/wireshark/bidplane.lua",
]


def read(path):
    with open(path) as f:
        return f.read()


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def build_and_install(destdir):
    """Configures (once) and builds the packaging build, then installs it."""
    if not os.path.exists(os.path.join(PKG_BUILD, "build.ninja")):
        r = run(["meson", "setup", PKG_BUILD, SOURCE, f"-Dprefix={PREFIX}", "-Dnative=false",
                 "-Dtests=false"], timeout=300)
        if r.returncode != 0:
            raise RuntimeError("meson setup failed:\n" + r.stdout + r.stderr)
    r = run(["ninja", "-C", PKG_BUILD], timeout=900)
    if r.returncode != 0:
        raise RuntimeError("ninja failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
    r = run(["meson", "install", "-C", PKG_BUILD, "--no-rebuild", "--destdir", destdir],
            timeout=300)
    if r.returncode != 0:
        raise RuntimeError("meson install failed:\n" + r.stdout + r.stderr)


# --- --help against the man page -----------------------------------------

LONG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def help_options(text):
    """(defined, mentioned): long options that start an indented line of
    --help (what it defines), and every one it names before its examples."""
    body = re.split(r"^Examples?\b", text, maxsplit=1, flags=re.M)[0]
    defined = set()
    for line in body.splitlines():
        m = re.match(r"^\s+(?:-\S, )?--([a-z][a-z0-9-]*)", line)
        if m:
            defined.add(m.group(1))
    return defined, set(LONG.findall(body))


def man_options(scd):
    """(terms, mentioned): the long options on the term lines (those
    starting with '*') of the OPTIONS and COMMANDS sections of an scdoc
    page, and every long option the page names anywhere."""
    terms, section = set(), None
    for line in scd.splitlines():
        if line.startswith("# "):
            section = line[2:].strip()
        elif section in ("OPTIONS", "COMMANDS") and line.startswith("*"):
            terms.update(LONG.findall(line))
    return terms, set(LONG.findall(scd))


def help_man_mismatch(help_text, scd):
    """What differs between a tool's --help and its man page, or ''."""
    defined, said = help_options(help_text)
    terms, named = man_options(scd)
    problems = []
    if not defined:
        problems.append("--help defines no option (its format changed?)")
    for o in sorted(defined - terms):
        problems.append(f"--{o} is in --help but is no term of the man page's OPTIONS")
    for o in sorted(said - named):
        problems.append(f"--{o} is named in --help but nowhere in the man page")
    for o in sorted(terms - said):
        problems.append(f"--{o} is a term of the man page but not in --help")
    return "; ".join(problems)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="bp-install-")
        build_and_install(cls.dest)
        info = json.loads(run(["meson", "introspect", "--projectinfo", PKG_BUILD]).stdout)
        cls.version = info["version"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.dest, rel)

    def test_tree_is_where_debian_keeps_things(self):
        for name, (rel, page, section) in TOOLS.items():
            self.assertTrue(os.access(self.path(rel), os.X_OK), f"{rel} not installed")
        for rel in DIST_FILES:
            self.assertTrue(os.path.isfile(self.path(rel)), f"{rel} not installed")
        self.assertTrue(os.access(self.path("usr/libexec/bidplane/bidplane-hugepages"),
                                  os.X_OK))
        unit = read(self.path("usr/lib/systemd/system/bidplane@.service"))
        for want in ("ExecStart=/usr/sbin/bidplane ", "--config /etc/bidplane/%i.ini",
                     "Restart=on-failure", "RuntimeDirectory=bidplane", "Group=bidplane",
                     "ExecStartPre=+/usr/libexec/bidplane/bidplane-hugepages",
                     "EnvironmentFile=-/etc/bidplane/%i.env"):
            self.assertIn(want, unit)
        self.assertNotIn("@", unit.replace("bidplane@", "").replace("%i", ""),
                         "an unsubstituted @variable@ in the unit")

    def test_packaging_build_is_portable(self):
        opts = json.loads(run(["meson", "introspect", "--buildoptions", PKG_BUILD]).stdout)
        self.assertEqual({o["name"]: o["value"] for o in opts}["native"], False)
        commands = read(os.path.join(PKG_BUILD, "compile_commands.json"))
        self.assertNotIn("-march=native", commands)

    def test_every_tool_has_version_from_meson(self):
        for name, (rel, _, _) in TOOLS.items():
            r = run([self.path(rel), "--version"], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), f"{name} {self.version}")

    def test_help_options_match_the_man_page(self):
        for name, (rel, page, section) in TOOLS.items():
            r = run([self.path(rel), "--help"], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            scd = read(os.path.join(SOURCE, "docs", "man", f"{page}.{section}.scd"))
            self.assertEqual(help_man_mismatch(r.stdout, scd), "", name)

    def test_the_help_man_check_can_fail(self):
        """A page without one option's term, or with one too many, fails."""
        r = run([self.path(TOOLS["bidctl"][0]), "--help"], timeout=30)
        scd = read(os.path.join(SOURCE, "docs", "man", "bidctl.8.scd"))
        self.assertEqual(help_man_mismatch(r.stdout, scd), "")
        missing = scd.replace("*--json*\n", "")
        self.assertIn("--json", help_man_mismatch(r.stdout, missing))
        extra = scd.replace("# COMMANDS\n", "# COMMANDS\n\n*--frobnicate*\n\tNo such.\n")
        self.assertIn("--frobnicate", help_man_mismatch(r.stdout, extra))
        gone = r.stdout.replace("--version", "--versio")
        self.assertIn("--version", help_man_mismatch(gone, scd))

    def test_man_pages_render(self):
        if not shutil.which("man"):
            self.skipTest("man is not installed (apt-get install man-db)")
        if not shutil.which("scdoc"):
            self.skipTest("scdoc is not installed: no man pages built (apt-get install scdoc)")
        for name, (_, page, section) in TOOLS.items():
            rel = f"usr/share/man/man{section}/{page}.{section}"
            self.assertTrue(os.path.isfile(self.path(rel)), f"{rel} not installed")
            r = run(["man", "-l", self.path(rel)], timeout=60,
                    env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", f"{rel}: {r.stderr}")
            self.assertIn("NAME", r.stdout)
            self.assertIn(f"{page} -", r.stdout)
            self.assertIn("--version", re.sub(r"\x08.", "", r.stdout))

    def verify_root(self):
        """A root for systemd-analyze: the installed tree and the host's
        own units (the targets the unit names)."""
        root = tempfile.mkdtemp(prefix="bp-vroot-")
        shutil.copytree(self.dest, root, dirs_exist_ok=True, symlinks=True)
        # In /etc/systemd/system of the root, where they do not mix with
        # the installed units; a bidplane unit the host has is left out.
        host = next(d for d in ("/lib/systemd/system", "/usr/lib/systemd/system")
                    if os.path.isdir(d))
        shutil.copytree(host, os.path.join(root, "etc/systemd/system"), symlinks=True,
                        ignore=shutil.ignore_patterns("bidplane*"))
        return root

    def test_systemd_analyze_verifies_the_unit(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (apt-get install systemd)")
        root = self.verify_root()
        try:
            env = dict(os.environ, MANPATH=self.path("usr/share/man"), SYSTEMD_PAGER="cat")
            # --man=yes (the default) runs man on Documentation=: with
            # scdoc missing there is no page to find.
            man = [] if shutil.which("scdoc") and shutil.which("man") else ["--man=no"]
            r = run(["systemd-analyze", "verify", f"--root={root}"] + man +
                    ["bidplane@bidplane.service"], timeout=120, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stderr.strip(), "", "systemd-analyze warned")
            # The check is real: a unit naming a missing binary fails it.
            os.unlink(os.path.join(root, "usr/sbin/bidplane"))
            r = run(["systemd-analyze", "verify", f"--root={root}"] + man +
                    ["bidplane@bidplane.service"], timeout=120, env=env)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("/usr/sbin/bidplane", r.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_sysusers_and_tmpfiles_make_group_and_run_dir(self):
        for tool in ("systemd-sysusers", "systemd-tmpfiles"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed (apt-get install systemd)")
        root = tempfile.mkdtemp(prefix="bp-sysroot-")
        try:
            shutil.copytree(self.dest, root, dirs_exist_ok=True, symlinks=True)
            r = run(["systemd-sysusers", f"--root={root}", "bidplane.conf"])
            self.assertEqual(r.returncode, 0, r.stderr)
            groups = dict(line.split(":")[0:3:2] for line in
                          read(os.path.join(root, "etc/group")).splitlines())
            self.assertIn("bidplane", groups)
            r = run(["systemd-tmpfiles", f"--root={root}", "--create", "bidplane.conf"])
            self.assertEqual(r.returncode, 0, r.stderr)
            st = os.stat(os.path.join(root, "run/bidplane"))
            self.assertEqual(st.st_mode & 0o7777, 0o750)
            self.assertEqual(st.st_gid, int(groups["bidplane"]))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_hugepage_helper_refuses_a_bad_count(self):
        helper = self.path("usr/libexec/bidplane/bidplane-hugepages")
        r = run([helper], env=dict(os.environ, BIDPLANE_HUGEPAGES="lots"), timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("BIDPLANE_HUGEPAGES='lots' is not a number", r.stderr)
        # 0: the node runs with --no-huge; nothing is reserved or mounted.
        r = run([helper], env=dict(os.environ, BIDPLANE_HUGEPAGES="0"), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_hugepage_helper_takes_free_2mib_pages_and_leaves_other_sizes(self):
        """The helper grows the 2 MiB pool only by what is missing from its
        free pages, and does nothing when pages of another size are
        reserved (e.g. 1 GiB pages from the kernel command line)."""
        helper = self.path("usr/libexec/bidplane/bidplane-hugepages")
        sysfs = tempfile.mkdtemp(prefix="bp-sysfs-")
        self.addCleanup(shutil.rmtree, sysfs, True)

        def pool(size, nr, free):
            d = os.path.join(sysfs, f"hugepages-{size}kB")
            os.makedirs(d, exist_ok=True)
            for name, v in (("nr_hugepages", nr), ("free_hugepages", free)):
                with open(os.path.join(d, name), "w") as f:
                    f.write(f"{v}\n")
            return d

        small = pool(2048, 10, 10)
        big = pool(1048576, 4, 4)
        env = dict(os.environ, BIDPLANE_HUGEPAGES="20", BIDPLANE_HUGEPAGES_SYSFS=sysfs)
        r = run([helper], env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(small, "nr_hugepages")) as f:
            self.assertEqual(f.read().strip(), "10")  # 1 GiB pages in use: untouched
        pool(1048576, 0, 0)
        r = run([helper], env=env, timeout=30)
        with open(os.path.join(small, "nr_hugepages")) as f:
            self.assertEqual(f.read().strip(), "20")  # 10 in use + the 10 missing
        self.assertEqual(r.returncode, 1)  # the fake pool did not grow: said so
        self.assertIn("only 10 of 20 2 MiB hugepages are free", r.stderr)
        del big

    def test_sample_config_is_accepted_and_complete(self):
        node = self.path(TOOLS["bidplane"][0])
        sample = self.path("etc/bidplane/bidplane.ini")
        scratch = tempfile.mkdtemp(prefix="bp-sample-")
        try:
            # As installed; only the paths moved off the system's.
            r = run([node, "--", "--config", sample, "--state-dir", f"{scratch}/state",
                     "--control-socket", f"{scratch}/ctl.sock", "--check-config"], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration OK", r.stderr)
            r = run([node, "--", "--config", sample, "--print-config"], timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            text = read(sample)
            # The sample shows every key, set or commented out.
            for key in re.findall(r"^([a-z][a-z0-9-]*) = ", r.stdout, re.M):
                self.assertRegex(text, rf"(?m)^[;#]?{key} = ", f"{key} missing in the sample")
            # And --check-config names a problem: a key the node does not know.
            bad = os.path.join(scratch, "bad.ini")
            with open(bad, "w") as f:
                f.write(text + "frobnicate = 1\n")
            r = run([node, "--", "--config", bad, "--check-config"], timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("frobnicate", r.stderr)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def test_the_units_command_line_passes_check_config(self):
        """ExecStart as systemd would run bidplane@bidplane: %i replaced,
        $EAL_ARGS from the installed bidplane.env, paths in the destdir."""
        unit = read(self.path("usr/lib/systemd/system/bidplane@.service"))
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        env = read(self.path("etc/bidplane/bidplane.env"))
        eal = re.search(r'^EAL_ARGS="([^"]*)"', env, re.M).group(1)
        words = []
        for w in exec_start.replace("%i", "bidplane").split():
            if w == "$EAL_ARGS":
                words += eal.split()
            elif w.startswith("/"):
                words.append(self.path(w.lstrip("/")))
            else:
                words.append(w)
        scratch = tempfile.mkdtemp(prefix="bp-unitcmd-")
        try:
            r = run(words + ["--state-dir", f"{scratch}/state", "--control-socket",
                             f"{scratch}/ctl.sock", "--check-config"], timeout=30)
            self.assertEqual(r.returncode, 0, " ".join(words) + "\n" + r.stderr)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def test_installed_node_starts_with_the_sample_config(self):
        if os.geteuid() != 0:
            self.skipTest("starting a DPDK node needs root")
        node = self.path(TOOLS["bidplane"][0])
        bidctl = self.path(TOOLS["bidctl"][0])
        scratch = tempfile.mkdtemp(prefix="bp-inst-")
        name = f"bpinst-{os.getpid()}"
        ctl = os.path.join(scratch, "ctl.sock")
        cmd = [node, "--no-huge", "-m", "512", "-l", "0-1", "--no-pci",
               f"--vdev=net_memif0,role=server,socket={scratch}/memif.sock",
               "--file-prefix", name, "--",
               "--config", self.path("etc/bidplane/bidplane.ini"),
               "--control-socket", ctl, "--state-dir", f"{scratch}/state",
               "--stats-name", name]
        log = open(os.path.join(scratch, "node.log"), "w+")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 60
            status = None
            while time.time() < deadline and proc.poll() is None:
                if os.path.exists(ctl):
                    status = run([bidctl, "--socket", ctl, "status"], timeout=30)
                    if status.returncode == 0:
                        break
                time.sleep(0.2)
            log.seek(0)
            output = log.read()
            self.assertIsNone(proc.poll(), "the node exited:\n" + output)
            self.assertIsNotNone(status, "no control socket:\n" + output)
            self.assertEqual(status.returncode, 0, status.stderr + output)
            self.assertIn(self.version, status.stdout)
            self.assertIn(f"bidplane {self.version}: node 1 on 198.18.0.2:7600", output)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            shutil.rmtree(scratch, ignore_errors=True)
            for f in (f"/dev/shm/{name}.bpstats", f"/dev/shm/{name}.bpstats.lock"):
                if os.path.exists(f):
                    os.unlink(f)
            shutil.rmtree(f"/var/run/dpdk/{name}", ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
