/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_recover.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wal_snapshot.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wal_recover(const char *state_dir, wal_record_fn snapshot_cb, wal_record_fn record_cb,
		void *arg, struct wal_recovery *out, char *err, size_t errlen)
{
	uint64_t start = now_ns();
	memset(out, 0, sizeof(*out));
	char shown[512];
	snprintf(shown, sizeof(shown), "%s/%s", state_dir, WAL_DIR_NAME);
	int dirfd = wal_dir_open(state_dir, true, err, errlen);
	if (dirfd < 0)
		return dirfd;
	int rc = wal_snapshot_load(dirfd, shown, snapshot_cb, arg, &out->snapshot_lsn,
				   &out->snapshot_records, err, errlen);
	struct wal_scan scan;
	if (rc == 0)
		rc = wal_read_log(dirfd, shown, out->snapshot_lsn, true, record_cb, arg, &scan, err,
				  errlen);
	close(dirfd);
	if (rc != 0)
		return rc;
	out->last_lsn = scan.last_lsn;
	out->next_lsn = scan.last_lsn + 1;
	out->records = scan.records;
	out->segments = scan.segments;
	out->log_bytes = scan.bytes;
	out->cut_bytes = scan.cut_bytes;
	memcpy(out->cut_file, scan.cut_file, sizeof(out->cut_file));
	out->elapsed_ns = now_ns() - start;
	return 0;
}
