/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery (docs/WAL.md "Recovery"): loads the newest snapshot of
 * <state-dir>/wal, then replays every record after its LSN in LSN order,
 * cutting a torn tail off the last segment. The writer then starts at
 * next_lsn (wal_writer_config.first_lsn).
 *
 * Threads: the main thread at start, before the log writer runs (blocks).
 */
#ifndef BIDPLANE_WAL_RECOVER_H
#define BIDPLANE_WAL_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "wal_reader.h"

struct wal_recovery {
	uint64_t snapshot_lsn; /* 0: no snapshot */
	uint64_t snapshot_records;
	uint64_t last_lsn; /* the last LSN of the log (snapshot_lsn when none later) */
	uint64_t next_lsn; /* last_lsn + 1: where the writer starts */
	uint64_t records;  /* replayed from the segments */
	uint64_t segments;
	uint64_t log_bytes;
	uint64_t cut_bytes; /* of a torn tail, cut off */
	char cut_file[WAL_NAME_CAP];
	uint64_t elapsed_ns;
};

/*
 * snapshot_cb gets the snapshot's records (may be NULL), record_cb the
 * log's records after it (may be NULL), both with arg; a non-zero return
 * stops recovery (-ECANCELED). 0 with *out, or a negative errno with a
 * message naming the file, the offset and the fix.
 */
int wal_recover(const char *state_dir, wal_record_fn snapshot_cb, wal_record_fn record_cb,
		void *arg, struct wal_recovery *out, char *err, size_t errlen);

#endif
