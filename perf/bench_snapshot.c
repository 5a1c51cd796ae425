/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's snapshot without the node (perf/README.md "Snapshots in the
 * node"): a log of N auction opens and M accepted bids (one key each, all
 * inside the window) folded into a snapshot (control/wal/wal_fold.h), the
 * snapshot written (fsync, rename, directory fsync) and loaded back into a
 * fold, as the next snapshot does. Prints the time of each step and the
 * snapshot's size. Printed, never asserted.
 *
 *   ./build/perf/bench_snapshot [DIR [AUCTIONS [KEYS]]]   # default /var/tmp 50000 100000
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "hlc.h"
#include "proto.h"
#include "wal_fold.h"
#include "wal_segment.h"
#include "wal_snapshot.h"

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/var/tmp";
	uint64_t auctions = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000;
	uint64_t keys = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/bp-bench-snap-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	const uint64_t now = 1700000000000, window = 600000;
	struct wal_fold *f = wal_fold_create(auctions, now, window);
	uint64_t t0 = bench_ns();
	for (uint64_t id = 1; id <= auctions; id++) {
		struct wal_record o = {.type = WAL_AUCTION_OPEN,
				       .u.open = {id, 1, 1, now + 1, 0, 0}};
		wal_fold_log_record(&o, f);
	}
	for (uint64_t k = 1; k <= keys; k++) {
		struct wal_record b = {.type = WAL_BID,
				       .u.bid = {1 + k % auctions, k, k, k,
						 hlc_make(now, (uint16_t)k), 1, BP_ACCEPTED}};
		wal_fold_log_record(&b, f);
	}
	uint64_t t1 = bench_ns();
	char err[1024] = "";
	struct wal_snapshot_info info;
	if (wal_snapshot_write(dir, auctions + keys, wal_fold_emit, f, &info, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uint64_t t2 = bench_ns();
	wal_fold_destroy(f);
	f = wal_fold_create(auctions, now, window);
	int dirfd = wal_dir_open(dir, false, err, sizeof(err));
	uint64_t lsn, records;
	uint64_t t3 = bench_ns();
	if (dirfd < 0 || wal_snapshot_load(dirfd, dir, wal_fold_snapshot_record, f, &lsn, &records,
					   err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uint64_t t4 = bench_ns();
	close(dirfd);
	wal_fold_destroy(f);
	printf("%" PRIu64 " auctions, %" PRIu64 " keys: fold of the log %.1f ms, snapshot written "
	       "%.1f ms (%" PRIu64 " records, %" PRIu64 " bytes, %.1f bytes per key+auction), "
	       "loaded back %.1f ms\n",
	       auctions, keys, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, info.records,
	       info.bytes, (double)info.bytes / (double)(auctions + keys), (double)(t4 - t3) / 1e6);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
