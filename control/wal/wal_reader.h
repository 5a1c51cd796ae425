/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reads the log back (docs/WAL.md "Reading"): the segments of
 * <state-dir>/wal in LSN order, every record checked (wal_decode) and the
 * LSNs dense across segments.
 *
 *  - A torn tail (what a crash in the middle of an append leaves) is cut
 *    off: in the last segment only, a last record that runs past the end of
 *    the file, or fails its checksum and ends exactly at the end of the
 *    file, or is followed only by zeros. With `repair` the file is
 *    truncated to the last good record and fdatasync'd; the scan reports
 *    the bytes cut either way.
 *  - A segment opened after a write failure (WAL_SEG_AFTER_FAILURE) ends
 *    the previous segment at its own first LSN: the bytes after are
 *    ignored (never acknowledged).
 *  - Anything else (a bad record before the end, an LSN gap or overlap, a
 *    bad file header, a name that is not a regular file) refuses: a
 *    negative errno and a message naming the file, the byte offset and the
 *    fix.
 *
 * Threads: any one thread, while no writer appends to the directory
 * (recovery runs before the writer starts). Blocks on I/O.
 */
#ifndef BIDPLANE_WAL_READER_H
#define BIDPLANE_WAL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_record.h"
#include "wal_segment.h"

/* Called for each record in LSN order; non-zero stops the scan, which
 * then returns -ECANCELED. */
typedef int (*wal_record_fn)(const struct wal_record *r, void *arg);

struct wal_scan {
	uint64_t last_lsn; /* the last record's LSN; after_lsn when there is none later */
	uint64_t records;  /* delivered: LSN > after_lsn */
	uint64_t segments;
	uint64_t bytes;	    /* of the segments read */
	uint64_t cut_bytes; /* of a torn tail (0: none) */
	char cut_file[WAL_NAME_CAP];
};

/* The largest file the reader loads (a segment or a snapshot). */
#define WAL_FILE_MAX (UINT64_C(1) << 30)

/*
 * Scans the log in the wal directory `dirfd` (`shown`: its path, for
 * messages), calling fn for every record after `after_lsn` (a snapshot's
 * LSN, or 0). The log must hold every LSN from after_lsn + 1 to its end.
 * 0 with *out, or a negative errno with the message in err.
 */
int wal_read_log(int dirfd, const char *shown, uint64_t after_lsn, bool repair, wal_record_fn fn,
		 void *arg, struct wal_scan *out, char *err, size_t errlen);

/* Reads a whole file of the wal directory (regular, at most WAL_FILE_MAX)
 * into a malloc'd buffer: 0 with *buf (free it) and *len, or a negative
 * errno with a message. */
int wal_file_load(int dirfd, const char *shown, const char *name, uint8_t **buf, size_t *len,
		  char *err, size_t errlen);

#endif
