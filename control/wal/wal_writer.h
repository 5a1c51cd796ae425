/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log writer (docs/WAL.md "Writing"): producers (the workers, the
 * control thread) hand encoded records (wal_encode, LSN 0) to one writer
 * thread through one single-producer single-consumer ring each, without
 * blocking, locking or allocating. The writer drains every ring, gives the
 * records their LSNs (in ring order, so a producer's records get
 * increasing LSNs), seals them, appends them to the current segment with
 * pwritev and commits the whole batch with one fdatasync (group commit),
 * then publishes what is durable. It rolls to a new segment once the
 * current one would pass segment_bytes.
 *
 * Zero-filled segments (docs/WAL.md "Zero-filled segments"; with
 * zero_fill, which the node turns on): ahead of its appends the writer writes zeros, WAL_ZERO_AHEAD
 * bytes at a time, so that most fdatasyncs flush records written over blocks already on disk and
 * commit no file-system metadata (size, extents). The zero tail is trimmed when the writer stops
 * and before it rolls over; after a crash the reader takes a zero tail of the last segment for its
 * end.
 *
 * What is durable is published twice, with release stores after the
 * fdatasync: per producer, the ticket of its last durable record (a worker
 * parks the reply of a record until wal_outcome says DURABLE), and the
 * log's durable_lsn (status, snapshots).
 *
 * Failures are sticky (PostgreSQL's fsyncgate: a failed fsync may have
 * dropped the dirty pages, so retrying it and believing a later success
 * would acknowledge lost records). A failed pwritev (ENOSPC, EIO, ...),
 * fdatasync or segment creation publishes the error, turns the writer's
 * generation odd (wal_submit refuses, every outstanding receipt becomes
 * LOST) and durable_lsn stops. Only wal_writer_resume gets it going again:
 * the writer then creates a new segment starting at durable_lsn + 1,
 * flagged WAL_SEG_AFTER_FAILURE (the reader ignores what the failed
 * segment holds from there on), with a header write and fdatasync that
 * probe the disk; if they fail it stays failed. Records still in the rings
 * are dropped (LOST) and the generation turns even. A receipt's outcome is
 * conservative: a record made durable just before a failure may be
 * reported LOST, never the reverse. After a resume, the node's memory may
 * hold changes whose records were lost (it answered them NOT_SERVING): it
 * writes a snapshot to make the log cover its memory again.
 *
 * The reserve (docs/WAL.md "The reserve"; reserve_bytes, 0: none) keeps a
 * full disk from ever being a failure: the writer keeps reserve_bytes
 * allocated (fallocate) past the end of the batch it writes, so that a
 * write inside them cannot find the disk full. When it cannot extend them,
 * or the file system has less than WAL_RESERVE_STEP free, the writer
 * turns *full*: the workers' admits stop (wal_producer_full:
 * NOT_SERVING), and what their rings already hold (reserve_bytes covers
 * them: wal_writer_reserve_bound) is written and made durable as always,
 * into the reserve. The urgent producers, which do not ask, get only what
 * the reserve holds beyond the workers' rings; the rest waits in their
 * rings. Nothing is lost, no receipt turns LOST, and no change is left in
 * memory without its record. A rollover without room for the next
 * segment's reserve leaves the current segment going on past
 * segment_bytes (up to what the reader takes, WAL_FILE_MAX). Every
 * WAL_FULL_RETRY_MS a full writer tries again, and turns back once the
 * reserve and a step of free space are there.
 *
 * Threads: create, start, stop, destroy and resume from the thread that
 * owns the writer (the node's main or service thread); wal_submit from the
 * one thread that owns the producer (one producer per worker, one for the
 * control thread); wal_outcome and wal_producer_full from that thread too;
 * wal_durable_lsn, wal_writer_error, wal_writer_full and wal_writer_stats
 * from any thread. The writer
 * thread is a plain pthread that blocks on I/O; it never touches RCU
 * state, so it is never an RCU reader and holds no grace period.
 */
#ifndef BIDPLANE_WAL_WRITER_H
#define BIDPLANE_WAL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_record.h"

#define WAL_PRODUCERS_MAX     256
#define WAL_BATCH_DEFAULT     4096
#define WAL_LINGER_DEFAULT_US 200
#define WAL_LATENCY_BUCKETS   32 /* fsync latency: bucket 0 < 1 us, b: [2^(b-1), 2^b) us */
#define WAL_SEGMENT_MIN_BYTES 4096
#define WAL_ZERO_AHEAD	      (1u << 20) /* zeros written past the appends, at a time */
/* The reserve grows by this much at a time. Each fallocate is a metadata
 * commit at the next fdatasync, so a MiB, as the zeros, keeps that to one
 * per MiB of log; 4 KiB steps doubled the fdatasync's mean (370-444 us
 * against 179-234 us at 200k records/s, review 5). */
#define WAL_RESERVE_STEP   (1u << 20)
#define WAL_FULL_RETRY_MS  100 /* full: how often the reserve is tried again */
#define WAL_SPACE_WATCH_MS 10  /* how often the file system's free space is looked at */

struct wal_writer_config {
	const char *state_dir;
	uint64_t first_lsn;	 /* wal_recovery.next_lsn: >= 1 */
	unsigned int producers;	 /* 1 .. WAL_PRODUCERS_MAX */
	unsigned int ring_slots; /* per producer: a power of two >= 2 */
	uint64_t segment_bytes;	 /* roll over past this: >= WAL_SEGMENT_MIN_BYTES */
	unsigned int batch_max;	 /* records per commit, <= 32768; 0: WAL_BATCH_DEFAULT */
	unsigned int idle_us;	 /* sleep when every ring is empty; 0: 20 */
	/* After a commit, before the next: wait for more records up to half
	 * the last fsync's time, at most this long (0: WAL_LINGER_DEFAULT_US).
	 * A client waiting on a commit (sync replies) answers with its next
	 * request within its round trip; without the wait, those requests
	 * miss the commit that starts as the last one ends, and every commit
	 * carries half the clients (wal_writer.c "linger"). */
	unsigned int linger_us;
	int (*sync)(int fd); /* NULL: fdatasync; tests inject failures */
	/* Write zeros ahead of the appends (wal_writer.c "zero_ahead"): the
	 * node turns it on (docs/WAL.md "Zero-filled segments"). */
	bool zero_fill;
	/* Producers urgent_from .. producers-1 are urgent (0: none): their
	 * records are committed no later than any record handed over after
	 * them by a thread that saw them submitted (gather, docs/WAL.md). */
	unsigned int urgent_from;
	/* Bytes kept allocated past the appends (above, "The reserve"); 0:
	 * none, a full disk is a failure. */
	uint64_t reserve_bytes;
};

/* The reserve that holds every record the producers can have handed over
 * when their admits stop: each ring full, and the one record each may be
 * between its admit and its submit, at the largest record's size. */
uint64_t wal_writer_reserve_bound(unsigned int producers, unsigned int ring_slots);

struct wal_writer;
struct wal_producer;

/* What wal_submit hands back; keep it with the parked reply. */
struct wal_receipt {
	uint64_t ticket; /* the producer's record count, this one included */
	uint64_t gen;	 /* the writer's generation at submit */
};

enum wal_outcome { WAL_PENDING, WAL_DURABLE, WAL_LOST };

/* What failed, for the message (wal_writer_describe). */
enum wal_failed_op { WAL_OP_NONE, WAL_OP_WRITE, WAL_OP_SYNC, WAL_OP_SEGMENT, WAL_OP_PROBE };

/*
 * Creates the first segment (first_lsn) under <state_dir>/wal and the
 * rings. Refuses (NULL, *err) a bad config or a log that already holds a
 * later segment (recovery must run first: first_lsn is its next_lsn).
 */
struct wal_writer *wal_writer_create(const struct wal_writer_config *c, char *err, size_t errlen);

/* Starts the writer thread: 0 or a negative errno. */
int wal_writer_start(struct wal_writer *w);

/* Commits what was submitted before the call, then stops the thread. */
void wal_writer_stop(struct wal_writer *w);

/* Stops the thread if running, closes the segment, frees everything. */
void wal_writer_destroy(struct wal_writer *w);

/* Producer i (0 .. producers - 1). */
struct wal_producer *wal_writer_producer(struct wal_writer *w, unsigned int i);

/*
 * Hands one encoded record rec[0..len) (len == its length field) to the
 * writer: copies it into the ring; never blocks. 0 with *r; -EAGAIN when
 * the ring is full (answer OVERLOADED); -EIO when the writer has failed
 * (answer NOT_SERVING; wal_writer_error says why); -EINVAL for a len that
 * is not the record's.
 */
int wal_submit(struct wal_producer *p, const uint8_t *rec, size_t len, struct wal_receipt *r);

/*
 * The same from a decoded record, encoded straight into the ring slot (the
 * workers' path: one encode, no copy). -EINVAL when rec fails
 * wal_record_check; otherwise as wal_submit.
 */
int wal_submit_record(struct wal_producer *p, const struct wal_record *rec, struct wal_receipt *r);

/* Whether the next submit would find a free slot and a healthy writer:
 * true stays true until this producer submits (only the writer frees
 * slots), so a worker asks before it changes memory, and the submit after
 * can then fail only if the writer fails in between. */
bool wal_producer_room(struct wal_producer *p);

/* Whether the writer has failed (sticky until wal_writer_resume). */
bool wal_producer_failed(const struct wal_producer *p);

/* Whether the log cannot grow (above, "The reserve"): a producer that
 * changes memory before it submits asks this first, and answers
 * NOT_SERVING. Records submitted anyway are still written, while the
 * reserve lasts. */
bool wal_producer_full(const struct wal_producer *p);

/* Whether the record of a receipt is durable, still pending, or lost. */
enum wal_outcome wal_outcome(const struct wal_producer *p, const struct wal_receipt *r);

/* The highest LSN whose record, and every one before it, is durable. */
uint64_t wal_durable_lsn(const struct wal_writer *w);

/* The writer's sticky error: 0, or the negative errno of the failure. */
int wal_writer_error(const struct wal_writer *w);

/* Whether the log cannot grow just now (full); any thread. */
bool wal_writer_full(const struct wal_writer *w);

/* "what failed: why; the fix" for a failed writer, or why a full one
 * cannot grow ("" when healthy). */
void wal_writer_describe(const struct wal_writer *w, char *buf, size_t len);

/* Asks the writer thread to resume after a failure (see above); it does
 * so on its next turn. wal_writer_error turns 0 once it has. */
void wal_writer_resume(struct wal_writer *w);

struct wal_writer_stats {
	uint64_t records, bytes, batches, fsyncs, segments;
	uint64_t failures, resumes, probe_failures;
	uint64_t lost;		     /* records dropped by failures */
	uint64_t ring_full, refused; /* submits refused: ring full, writer failed */
	uint64_t lsn, durable_lsn;
	uint64_t fsync_us[WAL_LATENCY_BUCKETS];
	uint64_t fsync_ns;	/* the fdatasyncs' time, summed: the mean beside the buckets */
	uint64_t zero_bytes;	/* zeros written ahead of the appends */
	uint64_t full;		/* times the reserve could not grow (turned full) */
	uint64_t reserve_bytes; /* allocated past the appends now */
	int error;
	int full_error; /* while full: why the reserve could not grow (negative errno) */
};

/* A copy of the counters (each exact, not a snapshot across them). */
void wal_writer_stats(const struct wal_writer *w, struct wal_writer_stats *s);

#endif
