/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Snapshots (docs/WAL.md "Snapshots"): <state-dir>/wal/<LSN>.snap holds
 * the node's whole state as of LSN (every record up to it applied), as a
 * file header and a sequence of records in the log's codec, numbered 1..n
 * in their LSN field, closed by a WAL_SNAPSHOT_END record that counts
 * them. It is written to <LSN>.snap.tmp, fsync'd, renamed and the
 * directory fsync'd, so that a snapshot file is either whole or absent;
 * only then are the segments it makes useless (all their records <= LSN)
 * and older snapshots deleted. Disk use is therefore one snapshot plus the
 * segments written since it (and the current one).
 *
 * A snapshot is a whole file renamed into place: damage to it is never a
 * crash, so loading the newest refuses (file, offset, fix) rather than
 * falling back to an older one, whose later segments may be gone.
 *
 * The content comes from the caller: fill() calls wal_snapshot_add once per
 * record. The state a snapshot holds may include effects of records after
 * LSN (the node copies a state that keeps changing); replaying them after
 * it must then be harmless, which the node's records are by their keys
 * (docs/WAL.md "Replay").
 *
 * Threads: any one thread at a time per state directory (it blocks:
 * fsync); concurrently with the log writer, whose current segment is never
 * deleted.
 */
#ifndef BIDPLANE_WAL_SNAPSHOT_H
#define BIDPLANE_WAL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "wal_reader.h"
#include "wal_record.h"

struct wal_snapshot_out;

/* Appends one record to the snapshot being written: 0, -EINVAL when r is
 * not a valid record (wal_record_check), or the negative errno of a
 * failed write (the snapshot then fails as a whole). */
int wal_snapshot_add(struct wal_snapshot_out *s, const struct wal_record *r);

/* Writes the records of the state; returns 0 or a negative errno. */
typedef int (*wal_snapshot_fill_fn)(struct wal_snapshot_out *s, void *arg);

struct wal_snapshot_info {
	uint64_t lsn;
	uint64_t records; /* state records, without the end record */
	uint64_t bytes;	  /* of the file */
	uint64_t removed_segments;
	uint64_t removed_snapshots;
};

/* Writes the snapshot of `lsn` under <state_dir>/wal, then deletes what it
 * makes useless. 0 with *info (may be NULL), or a negative errno with a
 * message (nothing is deleted then). */
int wal_snapshot_write(const char *state_dir, uint64_t lsn, wal_snapshot_fill_fn fill, void *arg,
		       struct wal_snapshot_info *info, char *err, size_t errlen);

/* Loads the newest snapshot of the wal directory, checked whole before fn
 * sees any of its records (the end record is not passed). 0 with *lsn
 * (0 when there is none) and *records, or a negative errno with the file,
 * the offset and the fix. */
int wal_snapshot_load(int dirfd, const char *shown, wal_record_fn fn, void *arg, uint64_t *lsn,
		      uint64_t *records, char *err, size_t errlen);

/* Deletes the segments whose records are all <= lsn (never the last one),
 * the snapshots older than lsn and leftover temporary snapshots; counts
 * them in *info when not NULL. 0 or a negative errno. */
int wal_log_truncate(int dirfd, uint64_t lsn, struct wal_snapshot_info *info);

#endif
