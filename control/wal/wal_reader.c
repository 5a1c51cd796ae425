/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX_CORRUPT                                                                                \
	"the log is damaged before its end, which a crash cannot do: restore the state "           \
	"directory from a backup, or move %s aside to start empty and catch up from the peers"

static int corrupt(char *err, size_t errlen, const char *shown, const char *name, uint64_t off,
		   const char *what)
{
	return wal_refuse_damage(err, errlen, shown, name, off, what, FIX_CORRUPT);
}

/* wal_file_load into *buf of *cap bytes, grown when the file is larger:
 * one buffer for every segment of a scan, so that each is read without
 * faulting in and unmapping fresh memory (recovery's largest cost after
 * the idempotency table's). */
static int file_read_into(int dirfd, const char *shown, const char *name, uint8_t **buf,
			  size_t *cap, size_t *len, char *err, size_t errlen);

int wal_file_load(int dirfd, const char *shown, const char *name, uint8_t **buf, size_t *len,
		  char *err, size_t errlen)
{
	size_t cap = 0;
	*buf = NULL;
	int rc = file_read_into(dirfd, shown, name, buf, &cap, len, err, errlen);
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

static int file_read_into(int dirfd, const char *shown, const char *name, uint8_t **buf,
			  size_t *cap, size_t *len, char *err, size_t errlen)
{
	int fd = wal_file_open(dirfd, shown, name, O_RDONLY, err, errlen);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? 0 : -errno;
	if (rc == 0 && (uint64_t)st.st_size > WAL_FILE_MAX) {
		snprintf(err, errlen,
			 "%s/%s: %" PRIu64 " bytes, more than a log file can hold (%" PRIu64
			 "); it is not one of ours: move it away",
			 shown, name, (uint64_t)st.st_size, WAL_FILE_MAX);
		rc = -EFBIG;
	}
	size_t size = rc == 0 ? (size_t)st.st_size : 0, got = 0;
	if (rc == 0 && (size > *cap || !*buf)) {
		uint8_t *grown = realloc(*buf, size ? size : 1);
		if (grown) {
			*buf = grown;
			*cap = size ? size : 1;
		} else {
			rc = -ENOMEM;
		}
	}
	uint8_t *b = *buf;
	while (rc == 0 && got < size) {
		ssize_t n = pread(fd, b + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(err, errlen,
				 "%s/%s: read failed at offset %zu: %s; check the disk", shown,
				 name, got, strerror(-rc));
		} else {
			got += (size_t)n;
		}
	}
	close(fd);
	if (rc != 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "%s/%s: out of memory", shown, name);
		return rc;
	}
	*len = size;
	return 0;
}

/* What the pre-pass learns of a segment: its header. */
struct seg {
	uint64_t lsn;
	uint32_t version; /* 2: batch marks (torn_batch); 1: torn_tail */
	uint32_t flags;
};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Where the bytes of buf[off..size) that are not a zero tail end: off
 * when they are all zeros. The writer zero-fills ahead of its appends
 * (wal_writer.h), so a last segment ends in zeros unless it was stopped
 * cleanly. */
static size_t nonzero_end(const uint8_t *buf, size_t off, size_t size)
{
	while (size > off && buf[size - 1] == 0)
		size--;
	return size;
}

/* Whether a bad record at buf[off] of a last segment is what a crash in
 * the middle of an append leaves: a record cut short by the end of the
 * file, zeros to the end (the size grew, the data never came), or a last
 * record ending exactly at the end whose checksum fails (a sector of it
 * never came). A bad length or a bad record followed by more bytes is
 * damage, not a crash. */
static bool torn_tail(const uint8_t *buf, size_t size, size_t off, enum wal_error e)
{
	if (e == WAL_ERR_SHORT || e == WAL_ERR_TRUNCATED || all_zero(buf + off, size - off))
		return true;
	return e == WAL_ERR_CHECKSUM && off + wal_peek_length(buf + off) == size;
}

/* Whether buf[0..len) may start a record: a cheap look at the header
 * before the checksum (the scan below tries every offset). */
static bool plausible(const uint8_t *buf, size_t len)
{
	if (len < WAL_HEADER_LEN)
		return false;
	uint32_t rlen = wal_peek_length(buf);
	return rlen >= WAL_RECORD_MIN && rlen <= len && buf[12] == 2 &&
	       wal_record_size(buf[13]) == rlen;
}

/*
 * The torn-batch rule of a version 2 last segment (docs/WAL.md "Torn
 * batches"): a bad record at buf[off], expected to be LSN next_lsn of the
 * batch that began at LSN batch_first, is what a crash during that batch's
 * pwritev leaves (sectors written in any order, none acknowledged) unless
 * a whole record of a later batch follows it somewhere: the writer starts
 * a batch only once the previous one is durable, so a later batch proves
 * this one was acknowledged. Every offset after the bad record is tried
 * (a bad length cannot be stepped over); a record found there must be of
 * the same batch: LSN >= next_lsn, and its place in the batch leading
 * back to batch_first. data_end: where the zero tail begins.
 */
static bool torn_batch(const uint8_t *buf, size_t size, size_t data_end, size_t off,
		       uint64_t batch_first, uint64_t next_lsn)
{
	/* No record starts in the zero tail (data_end on): a record is never
	 * all zeros. */
	for (size_t x = off + 1; x < data_end && x + WAL_HEADER_LEN <= size;) {
		struct wal_record r;
		size_t used;
		const char *why;
		if (!plausible(buf + x, size - x) ||
		    wal_decode(buf + x, size - x, &r, &used, &why) != WAL_OK) {
			x++;
			continue;
		}
		uint64_t pos = r.batch & WAL_BATCH_POS_MASK;
		if (r.lsn < next_lsn || pos > r.lsn || r.lsn - pos != batch_first)
			return false;
		x += used;
	}
	return true;
}

static int cut_tail(int dirfd, const char *shown, const char *name, size_t off, char *err,
		    size_t errlen)
{
	int fd = wal_file_open(dirfd, shown, name, O_RDWR, err, errlen);
	if (fd < 0)
		return fd;
	int rc = ftruncate(fd, (off_t)off) == 0 && fdatasync(fd) == 0 ? 0 : -errno;
	close(fd);
	if (rc != 0)
		snprintf(err, errlen, "%s/%s: cannot cut the torn tail at offset %zu: %s", shown,
			 name, off, strerror(-rc));
	return rc;
}

/* Reads the headers of every segment; drops a last segment too short to
 * hold one (a crash while it was created). */
static int read_headers(int dirfd, const char *shown, const uint64_t *lsns, size_t *n,
			struct seg *segs, bool repair, char *err, size_t errlen)
{
	for (size_t i = 0; i < *n; i++) {
		char name[WAL_NAME_CAP];
		wal_file_name(name, lsns[i], WAL_FILE_SEGMENT);
		int fd = wal_file_open(dirfd, shown, name, O_RDONLY, err, errlen);
		if (fd < 0)
			return fd;
		uint8_t hdr[WAL_FILE_HEADER_LEN];
		ssize_t got = pread(fd, hdr, sizeof(hdr), 0);
		close(fd);
		if (got < 0) {
			snprintf(err, errlen, "%s/%s: read failed: %s; check the disk", shown, name,
				 strerror(errno));
			return -EIO;
		}
		if (got < (ssize_t)sizeof(hdr)) {
			if (i + 1 < *n)
				return corrupt(err, errlen, shown, name, (uint64_t)got,
					       "the segment ends inside its file header");
			/* The last segment, created by a crash before its header was
			 * durable: it holds no record. */
			if (repair && unlinkat(dirfd, name, 0) == 0)
				wal_dir_sync(dirfd);
			(*n)--;
			return 0;
		}
		struct wal_file_header h;
		const char *why;
		if (wal_file_header_decode(hdr, WAL_FILE_SEGMENT, &h, &why) != 0)
			return corrupt(err, errlen, shown, name, 0, why);
		if (h.lsn != lsns[i] || h.lsn == 0)
			return corrupt(
			    err, errlen, shown, name, 16,
			    "the file header's first LSN is not the one in the file's name");
		segs[i] = (struct seg){h.lsn, h.version, h.flags};
	}
	return 0;
}

struct seg_ctx {
	int dirfd;
	const char *shown;
	uint64_t after_lsn;
	uint64_t next_lsn; /* the LSN the next record must have */
	bool repair;
	wal_record_fn fn;
	void *arg;
	struct wal_scan *out;
	char *err;
	size_t errlen;
	uint8_t *buf; /* the segment being read, reused for the next */
	size_t cap;
};

/* Reads one segment's records with LSN below `limit` (the next segment's
 * first; UINT64_MAX for the last). */
static int read_segment(struct seg_ctx *c, const struct seg *s, uint64_t limit,
			bool next_after_failure, bool last)
{
	char name[WAL_NAME_CAP];
	wal_file_name(name, s->lsn, WAL_FILE_SEGMENT);
	size_t size;
	int rc =
	    file_read_into(c->dirfd, c->shown, name, &c->buf, &c->cap, &size, c->err, c->errlen);
	if (rc != 0)
		return rc;
	const uint8_t *buf = c->buf;
	c->out->segments++;
	c->out->bytes += size;
	size_t off = WAL_FILE_HEADER_LEN;
	uint64_t batch_first = c->next_lsn; /* a segment starts with a batch */
	while (rc == 0 && off < size && c->next_lsn < limit) {
		struct wal_record r;
		size_t used;
		const char *why;
		enum wal_error e = wal_decode(buf + off, size - off, &r, &used, &why);
		if (e == WAL_OK && r.version != s->version) {
			e = WAL_ERR_VERSION;
			why = "the record's version is not its segment's";
		}
		if (e != WAL_OK) {
			size_t data_end = last ? nonzero_end(buf, off, size) : size;
			if (data_end == off) {
				/* Zeros to the end of the last segment: the zeros its
				 * writer wrote ahead, the segment's end, not a torn
				 * write. Cut (repair) so that the segment ends at its
				 * last record once a later one follows it. */
				if (c->repair)
					rc = cut_tail(c->dirfd, c->shown, name, off, c->err,
						      c->errlen);
				size = off;
				break;
			}
			bool torn = s->version == 1 ? torn_tail(buf, size, off, e)
						    : torn_batch(buf, size, data_end, off,
								 batch_first, c->next_lsn);
			if (last && torn) {
				c->out->cut_bytes = size - off;
				snprintf(c->out->cut_file, sizeof(c->out->cut_file), "%s", name);
				if (c->repair)
					rc = cut_tail(c->dirfd, c->shown, name, off, c->err,
						      c->errlen);
				size = off;
				break;
			}
			char what[200];
			snprintf(
			    what, sizeof(what), "bad record (%s: %s)%s", wal_error_name(e), why,
			    last && s->version == 2
				? ", and a later group commit follows it, so it was acknowledged"
				: "");
			rc = corrupt(c->err, c->errlen, c->shown, name, off, what);
			break;
		}
		if (r.lsn != c->next_lsn) {
			char what[160];
			snprintf(what, sizeof(what),
				 "record has LSN %" PRIu64 " where LSN %" PRIu64 " must follow",
				 r.lsn, c->next_lsn);
			rc = corrupt(c->err, c->errlen, c->shown, name, off, what);
			break;
		}
		if (s->version == 2 && (r.batch & WAL_BATCH_POS_MASK) != r.lsn - batch_first) {
			char what[160];
			snprintf(what, sizeof(what),
				 "record LSN %" PRIu64 " says it is number %u of its group commit, "
				 "which began at LSN %" PRIu64,
				 r.lsn, r.batch & WAL_BATCH_POS_MASK, batch_first);
			rc = corrupt(c->err, c->errlen, c->shown, name, off, what);
			break;
		}
		if (r.batch & WAL_BATCH_END)
			batch_first = r.lsn + 1;
		if (r.lsn > c->after_lsn) {
			if (c->fn && c->fn(&r, c->arg) != 0) {
				snprintf(c->err, c->errlen,
					 "%s/%s: offset %zu: replay of LSN %" PRIu64
					 " stopped by its consumer",
					 c->shown, name, off, r.lsn);
				rc = -ECANCELED;
				break;
			}
			c->out->records++;
			c->out->last_lsn = r.lsn;
		}
		c->next_lsn++;
		off += used;
	}
	if (rc == 0 && !last) {
		if (c->next_lsn < limit && limit <= c->after_lsn + 1 && off == size) {
			/* A gap the snapshot covers: those records are in it. */
			c->next_lsn = limit;
		} else if (c->next_lsn != limit) {
			char what[160];
			snprintf(what, sizeof(what),
				 "the segment ends before LSN %" PRIu64
				 ", the next segment starts at %" PRIu64,
				 c->next_lsn, limit);
			rc = corrupt(c->err, c->errlen, c->shown, name, off, what);
		} else if (off < size && !next_after_failure && !all_zero(buf + off, size - off)) {
			/* Zeros are no record: the writer's reserve or zeros ahead,
			 * left by a crash during a rollover (wal_writer.c
			 * roll_over), and the next segment starts at the LSN that
			 * follows, so nothing is missing. */
			rc = corrupt(c->err, c->errlen, c->shown, name, off,
				     "bytes after the segment's last record");
		}
	}
	return rc;
}

int wal_read_log(int dirfd, const char *shown, uint64_t after_lsn, bool repair, wal_record_fn fn,
		 void *arg, struct wal_scan *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->last_lsn = after_lsn;
	uint64_t *lsns;
	size_t n;
	int rc = wal_list(dirfd, WAL_FILE_SEGMENT, &lsns, &n);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot list the log: %s", shown, strerror(-rc));
		return rc;
	}
	struct seg *segs = calloc(n ? n : 1, sizeof(*segs));
	if (!segs) {
		free(lsns);
		snprintf(err, errlen, "%s: out of memory", shown);
		return -ENOMEM;
	}
	rc = read_headers(dirfd, shown, lsns, &n, segs, repair, err, errlen);
	if (rc == 0 && n > 0 && segs[0].lsn > after_lsn + 1) {
		char name[WAL_NAME_CAP];
		wal_file_name(name, segs[0].lsn, WAL_FILE_SEGMENT);
		char what[200];
		if (after_lsn == 0)
			snprintf(what, sizeof(what),
				 "the log starts at LSN %" PRIu64
				 " and there is no snapshot: records 1..%" PRIu64 " are missing",
				 segs[0].lsn, segs[0].lsn - 1);
		else
			snprintf(what, sizeof(what),
				 "the log starts at LSN %" PRIu64
				 " but the snapshot covers only up to LSN %" PRIu64
				 ": records are missing",
				 segs[0].lsn, after_lsn);
		rc = corrupt(err, errlen, shown, name, 0, what);
	}
	struct seg_ctx c = {.dirfd = dirfd,
			    .shown = shown,
			    .after_lsn = after_lsn,
			    .next_lsn = n ? segs[0].lsn : 0,
			    .repair = repair,
			    .fn = fn,
			    .arg = arg,
			    .out = out,
			    .err = err,
			    .errlen = errlen};
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool last = i + 1 == n;
		uint64_t limit = last ? UINT64_MAX : segs[i + 1].lsn;
		rc = read_segment(&c, &segs[i], limit,
				  !last && (segs[i + 1].flags & WAL_SEG_AFTER_FAILURE), last);
	}
	free(c.buf);
	free(segs);
	free(lsns);
	return rc;
}
