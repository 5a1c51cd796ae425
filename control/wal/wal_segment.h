/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log's files (docs/WAL.md "Files"): <state-dir>/wal/<first LSN as 20
 * digits>.wal, a segment of records, and <LSN as 20 digits>.snap, a
 * snapshot covering every record up to that LSN. Both start with a
 * 32-byte file header:
 *
 *   0  8 bytes magic     "BPWALSEG" (segment) or "BPWALSNP" (snapshot)
 *   8  u32 version       WAL_FILE_VERSION (2; 1 is read)
 *  12  u32 flags         WAL_SEG_AFTER_FAILURE or 0
 *  16  u64 lsn           the segment's first LSN / the snapshot's LSN
 *  24  u64 checksum      XXH3-64 of bytes 0..24
 *
 * The state directory may be hostile (a FIFO or a symlink planted under a
 * log name): every file is opened with O_NOFOLLOW and O_NONBLOCK relative
 * to the wal directory's descriptor, and anything but a regular file is
 * refused with its name.
 *
 * Threads: any one thread per directory at a time (they block: fsync).
 */
#ifndef BIDPLANE_WAL_SEGMENT_H
#define BIDPLANE_WAL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_DIR_NAME	    "wal"
#define WAL_FILE_HEADER_LEN 32
/* Version 2: the segment's records are version 2 and carry batch marks
 * (wal_record.h); version 1 files (no marks) are still read. */
#define WAL_FILE_VERSION    2
#define WAL_NAME_DIGITS	    20
#define WAL_NAME_CAP	    32 /* 20 digits, a suffix, NUL */
#define WAL_SEGMENT_SUFFIX  ".wal"
#define WAL_SNAPSHOT_SUFFIX ".snap"
/* The segment was opened after a write or fsync failure: the previous
 * segment's bytes from this segment's first LSN on were never durable
 * (never acknowledged) and are ignored, whatever they hold. */
#define WAL_SEG_AFTER_FAILURE 0x1u

enum wal_file_kind { WAL_FILE_SEGMENT, WAL_FILE_SNAPSHOT };

struct wal_file_header {
	enum wal_file_kind kind;
	uint32_t version; /* decoded: 1 or 2; encode writes it (0: WAL_FILE_VERSION) */
	uint32_t flags;
	uint64_t lsn;
};

/* "<20 digits><suffix>" */
void wal_file_name(char out[WAL_NAME_CAP], uint64_t lsn, enum wal_file_kind kind);

/* Opens <state_dir>/wal (created when missing and `create`) without
 * following a symlink: its descriptor, or a negative errno with a message
 * naming the directory and the fix. */
int wal_dir_open(const char *state_dir, bool create, char *err, size_t errlen);

/* Damage that a crash cannot explain: writes "<shown>/<name>: offset OFF:
 * WHAT; " and then `fix` (a printf format taking `shown` once) into err.
 * Returns -EBADMSG. */
int wal_refuse_damage(char *err, size_t errlen, const char *shown, const char *name, uint64_t off,
		      const char *what, const char *fix);

/* Opens a file of the wal directory (flags: O_RDONLY or O_RDWR, plus
 * O_CREAT | O_EXCL to create one): O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC, and
 * refused (-EINVAL) unless a regular file. A descriptor, or a negative
 * errno with a message naming the file ("shown" is the directory's path as
 * the user gave it) and the fix. */
int wal_file_open(int dirfd, const char *shown, const char *name, int flags, char *err,
		  size_t errlen);

void wal_file_header_encode(uint8_t out[WAL_FILE_HEADER_LEN], const struct wal_file_header *h);

/* 0, or -EBADMSG with *why (static text) when the bytes are not a header of
 * `kind`. */
int wal_file_header_decode(const uint8_t in[WAL_FILE_HEADER_LEN], enum wal_file_kind kind,
			   struct wal_file_header *h, const char **why);

/* Creates the segment <first_lsn>.wal: writes its header, fdatasyncs it and
 * fsyncs the directory, so that records appended to it and synced are
 * found after a crash. Any file of that name is replaced (the caller
 * knows it holds no record it needs: recovery ended before first_lsn). The
 * descriptor (O_RDWR), or a negative errno with a message. sync: NULL for
 * fdatasync (tests inject failures). */
int wal_segment_create(int dirfd, const char *shown, uint64_t first_lsn, uint32_t flags,
		       int (*sync)(int fd), char *err, size_t errlen);

/* The LSNs of the directory's files of `kind`, ascending, in a malloc'd
 * array (*lsns, free it) of *n. Names that are not exactly 20 digits and
 * the suffix are skipped. 0 or a negative errno. */
int wal_list(int dirfd, enum wal_file_kind kind, uint64_t **lsns, size_t *n);

/* fsync of the directory: 0 or a negative errno. */
int wal_dir_sync(int dirfd);

#endif
