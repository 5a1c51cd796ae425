#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What an fdatasync of an append costs by how the file was prepared
(perf/README.md "Zero-filled segments"; docs/WAL.md): each round writes
BATCH bytes then fdatasyncs, N times, into five files side by side (the
same moments for each, interleaved):
  append   a file that grows with every write (the log before zero-fill)
  falloc   posix_fallocate'd to its full size first (ext4: unwritten extents)
  zero     zero-filled to its full size first (written blocks)
  zchunk   zeros written 1 MiB ahead of the appends (what wal_writer does)
  fzchunk  fallocate --keep-size, then zeros 1 MiB ahead
The time is the write + fdatasync. Usage: bench_fsync_layout.py [DIR]
(default /var/tmp); BATCH (48000: about 700 bid records), N (300),
ROUNDS (2)."""

import os
import sys
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
BATCH = int(os.environ.get("BATCH", "48000"))
N = int(os.environ.get("N", "300"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CHUNK = 1 << 20
SIZE = max(32 << 20, (BATCH * N + CHUNK) // CHUNK * CHUNK)
KINDS = ("append", "falloc", "zero", "zchunk", "fzchunk")
ZEROS = b"\0" * CHUNK


def prepare(work, kind):
    path = os.path.join(work, kind)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
    if kind == "falloc":
        os.posix_fallocate(fd, 0, SIZE)
    elif kind == "fzchunk":
        os.system(f"fallocate --keep-size -l {SIZE} {path}")
    elif kind == "zero":
        for _ in range(SIZE // CHUNK):
            os.write(fd, ZEROS)
    os.fsync(fd)
    return {"fd": fd, "path": path, "zeroed": 0}


def main():
    work = os.path.join(DIR, f"bench-fsync-{os.getpid()}")
    os.makedirs(work)
    times = {k: [] for k in KINDS}
    buf = b"x" * BATCH
    try:
        for _ in range(ROUNDS):
            files = {k: prepare(work, k) for k in KINDS}
            for i in range(N):
                for kind, f in files.items():
                    t = time.perf_counter()
                    if kind.endswith("zchunk") and (i + 1) * BATCH > f["zeroed"]:
                        os.pwrite(f["fd"], ZEROS, f["zeroed"])
                        f["zeroed"] += CHUNK
                    os.pwrite(f["fd"], buf, i * BATCH)
                    os.fdatasync(f["fd"])
                    times[kind].append((time.perf_counter() - t) * 1e6)
            for f in files.values():
                os.close(f["fd"])
                os.unlink(f["path"])
    finally:
        os.rmdir(work)
    print(f"{DIR}: {ROUNDS} x {N} appends of {BATCH} bytes + fdatasync, interleaved")
    print("| file | p50 us | p90 us | p99 us | mean us |")
    print("|---|---:|---:|---:|---:|")
    for kind, t in times.items():
        t.sort()
        n = len(t)
        print(f"| {kind} | {t[n // 2]:.0f} | {t[int(n * 0.9)]:.0f} | {t[int(n * 0.99)]:.0f} "
              f"| {sum(t) / n:.0f} |")


if __name__ == "__main__":
    main()
