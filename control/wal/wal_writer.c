/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "wal_reader.h"
#include "wal_segment.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define TMPFS_MAGIC_NUMBER 0x01021994 /* linux/magic.h's TMPFS_MAGIC */

typedef uint8_t wal_slot[WAL_RECORD_MAX];

struct wal_producer {
	/* The producer's line. */
	alignas(64) _Atomic uint64_t tail;
	uint64_t head_cache;
	_Atomic uint64_t ring_full;
	_Atomic uint64_t refused;
	struct wal_writer *w;
	wal_slot *slots;
	uint64_t mask;
	/* The writer's line. */
	alignas(64) _Atomic uint64_t head;
	_Atomic uint64_t durable; /* the ticket of the last durable record */
	uint64_t taken;		  /* records of the batch being committed */
	uint64_t seen;		  /* the tail as this gather read it */
};

struct wal_counters {
	_Atomic uint64_t records, bytes, batches, fsyncs, segments;
	_Atomic uint64_t failures, resumes, probe_failures, lost;
	_Atomic uint64_t fsync_us[WAL_LATENCY_BUCKETS];
	_Atomic uint64_t fsync_ns;
	_Atomic uint64_t zero_bytes;
	_Atomic uint64_t full;
	_Atomic uint64_t reserve_bytes; /* allocated past the last record (show_reserve) */
};

struct wal_writer {
	/* Read by every producer on each submit; written on failure/resume. */
	alignas(64) _Atomic uint64_t gen; /* odd: failed */
	_Atomic int error;
	_Atomic int failed_op;
	_Atomic bool full;	/* the reserve could not grow: admits stop */
	_Atomic int full_error; /* why not (a negative errno) */
	alignas(64) _Atomic uint64_t durable_lsn;
	_Atomic uint64_t lsn; /* the last assigned */
	_Atomic bool stop;
	_Atomic bool resume_requested;
	/* Writer thread only. */
	struct wal_writer_config cfg;
	char shown[512];
	int dirfd;
	int fd;
	uint64_t seg_off;
	uint64_t zeroed_to;	 /* the segment's bytes below this are records or zeros */
	uint64_t reserved_to;	 /* ... or allocated space (keep_reserve) */
	uint64_t full_retry_ns;	 /* full: when the reserve is tried again */
	uint64_t roll_retry_ns;	 /* a rollover without room: when it is tried again */
	uint64_t space_check_ns; /* when the file system's free space is looked at next */
	bool zero_fill;		 /* zeros ahead of the appends in this segment (zero_ahead) */
	uint64_t next_lsn;
	struct iovec *iov;
	pthread_t thread;
	bool running;
	struct wal_counters c;
	unsigned int nproducers;
	unsigned int next_ring; /* where the next gather starts */
	uint64_t last_fsync_ns; /* the last commit's fdatasync, for the linger */
	struct wal_producer *producers;
	wal_slot *slabs;
};

static void add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int default_sync(int fd)
{
	return fdatasync(fd);
}

static int check_config(const struct wal_writer_config *c, char *err, size_t errlen)
{
	const char *why = NULL;
	if (!c->state_dir)
		why = "no state directory";
	else if (c->first_lsn == 0)
		why = "first_lsn must be >= 1 (recovery's next_lsn)";
	else if (c->producers == 0 || c->producers > WAL_PRODUCERS_MAX)
		why = "producers must be 1..256";
	else if (c->batch_max > WAL_BATCH_POS_MASK + 1)
		why = "batch_max must be at most 32768 (a record's place in its batch)";
	else if (c->ring_slots < 2 || (c->ring_slots & (c->ring_slots - 1)) != 0)
		why = "ring_slots must be a power of two >= 2";
	else if (c->segment_bytes < WAL_SEGMENT_MIN_BYTES)
		why = "segment_bytes must be >= 4096";
	else if (c->segment_bytes + c->reserve_bytes + WAL_RESERVE_STEP +
		     (uint64_t)(c->batch_max ? c->batch_max : WAL_BATCH_DEFAULT) *
			 WAL_RECORD_LARGEST >
		 WAL_FILE_MAX)
		why = "segment_bytes and the reserve past it must fit a log file (WAL_FILE_MAX, "
		      "1 GiB): use smaller segments";
	if (!why)
		return 0;
	snprintf(err, errlen, "log writer: %s", why);
	return -EINVAL;
}

/* Refuses to start below the end of an existing log. */
static int check_no_later_segment(struct wal_writer *w, char *err, size_t errlen)
{
	uint64_t *lsns;
	size_t n;
	int rc = wal_list(w->dirfd, WAL_FILE_SEGMENT, &lsns, &n);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot list the log: %s", w->shown, strerror(-rc));
		return rc;
	}
	if (n > 0 && lsns[n - 1] > w->cfg.first_lsn) {
		snprintf(
		    err, errlen,
		    "%s: the log has a segment from LSN %llu, past the writer's first LSN %llu: "
		    "run recovery (wal_recover) first and start at its next_lsn",
		    w->shown, (unsigned long long)lsns[n - 1],
		    (unsigned long long)w->cfg.first_lsn);
		rc = -EEXIST;
	}
	free(lsns);
	return rc;
}

/* Whether zeros ahead pay on the segment's file system: tmpfs has no
 * journal (its fdatasync does nothing) and would spend memory on them. */
static bool zero_fill_pays(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) != 0 || sf.f_type != TMPFS_MAGIC_NUMBER;
}

/* The writer appends to fd, a segment just created (its header only). */
static void use_segment(struct wal_writer *w, int fd)
{
	w->fd = fd;
	w->seg_off = WAL_FILE_HEADER_LEN;
	w->zeroed_to = WAL_FILE_HEADER_LEN;
	w->reserved_to = WAL_FILE_HEADER_LEN;
	w->zero_fill = w->cfg.zero_fill && zero_fill_pays(fd);
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a > b ? a : b;
	return m > c ? m : c;
}

/* The segment file's size: its records, and zeros or space past them. */
static uint64_t file_end(const struct wal_writer *w)
{
	return max3(w->seg_off, w->zeroed_to, w->reserved_to);
}

/* The stats' reserve_bytes: what is allocated past the last record now
 * (each change of it, not only commits: an idle writer shows it too). */
static void show_reserve(struct wal_writer *w)
{
	atomic_store_explicit(&w->c.reserve_bytes,
			      w->reserved_to > w->seg_off ? w->reserved_to - w->seg_off : 0,
			      memory_order_relaxed);
}

/* Zeros over [from, to) of fd: 0 or a negative errno (a write that makes
 * no progress is the disk being full). */
static int write_zeros(int fd, uint64_t from, uint64_t to)
{
	static uint8_t zeros[1u << 16]; /* never written */
	for (uint64_t off = from; off < to;) {
		struct iovec iov[16];
		int n = 0;
		for (uint64_t left = to - off; n < 16 && left > 0; n++) {
			size_t len = left > sizeof(zeros) ? sizeof(zeros) : (size_t)left;
			iov[n] = (struct iovec){zeros, len};
			left -= len;
		}
		ssize_t wrote = pwritev(fd, iov, n, (off_t)off);
		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote <= 0)
			return wrote < 0 ? -errno : -ENOSPC;
		off += (uint64_t)wrote;
	}
	return 0;
}

/* Space for [from, to) of fd, which is `from` long: fallocate, not zeros
 * (the space is what is wanted, and it costs no writes: an "unwritten"
 * extent reads as zeros, the reader's zero tail), zeros only where the
 * file system has no fallocate. A failure gives back what it allocated
 * (the file as it was) and returns the negative errno. */
static int allocate(int fd, uint64_t from, uint64_t to)
{
	int rc = fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0 ? 0 : -errno;
	if (rc == -EOPNOTSUPP)
		rc = write_zeros(fd, from, to);
	if (rc != 0 && ftruncate(fd, (off_t)from) != 0) {
		/* What was allocated stays: zeros past the end, a zero tail. */
	}
	return rc;
}

/* Where a reserve for a batch ending at `end` is allocated to: the
 * reserve and WAL_RESERVE_STEP more, so that most batches allocate
 * nothing. */
static uint64_t reserve_end(const struct wal_writer *w, uint64_t end)
{
	return end + w->cfg.reserve_bytes + WAL_RESERVE_STEP;
}

/* The reserve (wal_writer.h): keeps cfg.reserve_bytes allocated past
 * `end`, the end of the batch about to be written. 0 or a negative errno
 * (nothing changed). */
static int keep_reserve(struct wal_writer *w, uint64_t end)
{
	if (w->cfg.reserve_bytes == 0 || w->reserved_to >= end + w->cfg.reserve_bytes)
		return 0;
	uint64_t from = file_end(w), to = reserve_end(w, end);
	int rc = from < to ? allocate(w->fd, from, to) : 0;
	if (rc != 0)
		return rc;
	w->reserved_to = to;
	show_reserve(w);
	return 0;
}

/* The log cannot grow (wal_writer.h "The reserve"): admits stop. Seq_cst,
 * so that once it is stored a producer's next admit sees it: each can then
 * hand over at most the one record it is between admit and submit. */
static void turn_full(struct wal_writer *w, int rc)
{
	atomic_store_explicit(&w->full_error, rc, memory_order_relaxed);
	if (!atomic_exchange_explicit(&w->full, true, memory_order_seq_cst))
		add(&w->c.full, 1);
	w->full_retry_ns = now_ns() + (uint64_t)WAL_FULL_RETRY_MS * 1000000u;
}

/* What the file system under fd has free for an unprivileged user (what
 * df shows as available); UINT64_MAX when it cannot tell. */
static uint64_t fs_free(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) != 0)
		return UINT64_MAX;
	return (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize;
}

/* Whether the disk has filled: less than a reserve step free beside the
 * reserve, so the next extension would fail. Asked at most every
 * WAL_SPACE_WATCH_MS: a full disk turns the writer full at once, not
 * after the step's worth of records its reserve still takes. */
static bool space_short(struct wal_writer *w)
{
	uint64_t now = now_ns();
	if (now < w->space_check_ns)
		return false;
	w->space_check_ns = now + (uint64_t)WAL_SPACE_WATCH_MS * 1000000u;
	return fs_free(w->fd) < WAL_RESERVE_STEP;
}

/* How far a segment may go past segment_bytes, its reserve and one batch
 * included, while its rollover waits for room: a file the reader takes
 * (WAL_FILE_MAX; check_config makes room for it). */
static uint64_t segment_cap(const struct wal_writer *w)
{
	return WAL_FILE_MAX - w->cfg.reserve_bytes - WAL_RESERVE_STEP -
	       (uint64_t)w->cfg.batch_max * WAL_RECORD_LARGEST;
}

/* Whether the current segment may take a batch of `bytes` more, past
 * segment_bytes, with its reserve kept. */
static bool may_stay(const struct wal_writer *w, uint64_t bytes)
{
	return w->cfg.reserve_bytes && w->seg_off + bytes <= segment_cap(w);
}

uint64_t wal_writer_reserve_bound(unsigned int producers, unsigned int ring_slots)
{
	return (uint64_t)producers * ((uint64_t)ring_slots + 1) * WAL_RECORD_LARGEST;
}

static int alloc_rings(struct wal_writer *w)
{
	unsigned int n = w->cfg.producers;
	size_t slots = (size_t)n * w->cfg.ring_slots;
	w->producers = aligned_alloc(64, sizeof(struct wal_producer) * n);
	w->slabs = aligned_alloc(64, slots * sizeof(wal_slot));
	w->iov = calloc(w->cfg.batch_max, sizeof(struct iovec));
	if (!w->producers || !w->slabs || !w->iov)
		return -ENOMEM;
	memset(w->producers, 0, sizeof(struct wal_producer) * n);
	for (unsigned int i = 0; i < n; i++) {
		struct wal_producer *p = &w->producers[i];
		p->w = w;
		p->slots = w->slabs + (size_t)i * w->cfg.ring_slots;
		p->mask = w->cfg.ring_slots - 1;
	}
	w->nproducers = n;
	return 0;
}

void wal_writer_destroy(struct wal_writer *w)
{
	if (!w)
		return;
	if (w->running)
		wal_writer_stop(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->producers);
	free(w->slabs);
	free(w->iov);
	free(w);
}

struct wal_writer *wal_writer_create(const struct wal_writer_config *c, char *err, size_t errlen)
{
	if (check_config(c, err, errlen) != 0)
		return NULL;
	struct wal_writer *w = aligned_alloc(64, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "log writer: out of memory");
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	w->cfg = *c;
	if (!w->cfg.batch_max)
		w->cfg.batch_max = WAL_BATCH_DEFAULT;
	if (!w->cfg.idle_us)
		w->cfg.idle_us = 20;
	if (!w->cfg.linger_us)
		w->cfg.linger_us = WAL_LINGER_DEFAULT_US;
	if (!w->cfg.sync)
		w->cfg.sync = default_sync;
	w->fd = -1;
	snprintf(w->shown, sizeof(w->shown), "%s/%s", c->state_dir, WAL_DIR_NAME);
	w->dirfd = wal_dir_open(c->state_dir, true, err, errlen);
	if (w->dirfd < 0 || check_no_later_segment(w, err, errlen) != 0) {
		wal_writer_destroy(w);
		return NULL;
	}
	if (alloc_rings(w) != 0) {
		snprintf(err, errlen, "log writer: out of memory for %u rings of %u slots",
			 c->producers, c->ring_slots);
		wal_writer_destroy(w);
		return NULL;
	}
	int fd = wal_segment_create(w->dirfd, w->shown, c->first_lsn, 0, w->cfg.sync, err, errlen);
	if (fd < 0) {
		wal_writer_destroy(w);
		return NULL;
	}
	use_segment(w, fd);
	int rc = keep_reserve(w, w->seg_off);
	if (rc != 0)
		turn_full(w, rc); /* starts full: says so, and tries again */
	w->next_lsn = c->first_lsn;
	atomic_store(&w->lsn, c->first_lsn - 1);
	atomic_store(&w->durable_lsn, c->first_lsn - 1);
	add(&w->c.segments, 1);
	return w;
}

struct wal_producer *wal_writer_producer(struct wal_writer *w, unsigned int i)
{
	return i < w->nproducers ? &w->producers[i] : NULL;
}

int wal_submit(struct wal_producer *p, const uint8_t *rec, size_t len, struct wal_receipt *r)
{
	if (len < WAL_RECORD_MIN || len > WAL_RECORD_MAX || wal_peek_length(rec) != len)
		return -EINVAL;
	/* Read before the push: a record pushed under a generation that a
	 * failure then ends is reported LOST (see wal_outcome). */
	uint64_t gen = atomic_load_explicit(&p->w->gen, memory_order_acquire);
	if (gen & 1) {
		add(&p->refused, 1);
		return -EIO;
	}
	uint64_t t = atomic_load_explicit(&p->tail, memory_order_relaxed);
	if (t - p->head_cache > p->mask) {
		p->head_cache = atomic_load_explicit(&p->head, memory_order_acquire);
		if (t - p->head_cache > p->mask) {
			add(&p->ring_full, 1);
			return -EAGAIN;
		}
	}
	memcpy(p->slots[t & p->mask], rec, len);
	atomic_store_explicit(&p->tail, t + 1, memory_order_release);
	r->ticket = t + 1;
	r->gen = gen;
	return 0;
}

/* The slot a submit would fill, or NULL when the ring is full (counted
 * only by a submit that gives up: a probe is no refusal). */
static wal_slot *next_slot(struct wal_producer *p, uint64_t *tail)
{
	uint64_t t = atomic_load_explicit(&p->tail, memory_order_relaxed);
	if (t - p->head_cache > p->mask) {
		p->head_cache = atomic_load_explicit(&p->head, memory_order_acquire);
		if (t - p->head_cache > p->mask)
			return NULL;
	}
	*tail = t;
	return &p->slots[t & p->mask];
}

bool wal_producer_room(struct wal_producer *p)
{
	uint64_t t;
	if (atomic_load_explicit(&p->w->gen, memory_order_acquire) & 1)
		return false;
	return next_slot(p, &t) != NULL;
}

bool wal_producer_failed(const struct wal_producer *p)
{
	return atomic_load_explicit(&p->w->gen, memory_order_acquire) & 1;
}

bool wal_producer_full(const struct wal_producer *p)
{
	return atomic_load_explicit(&p->w->full, memory_order_seq_cst);
}

bool wal_writer_full(const struct wal_writer *w)
{
	return atomic_load_explicit(&w->full, memory_order_acquire);
}

int wal_submit_record(struct wal_producer *p, const struct wal_record *rec, struct wal_receipt *r)
{
	uint64_t gen = atomic_load_explicit(&p->w->gen, memory_order_acquire);
	if (gen & 1) {
		add(&p->refused, 1);
		return -EIO;
	}
	uint64_t t;
	wal_slot *slot = next_slot(p, &t);
	if (!slot) {
		add(&p->ring_full, 1);
		return -EAGAIN;
	}
	/* Encoded in place: the one copy of the record before the writer's
	 * pwritev. */
	if (wal_encode(*slot, WAL_RECORD_MAX, rec) == 0)
		return -EINVAL;
	atomic_store_explicit(&p->tail, t + 1, memory_order_release);
	r->ticket = t + 1;
	r->gen = gen;
	return 0;
}

/*
 * Durable only if no failure or resume came between the submit and now:
 * the writer turns the generation before it can publish a durable ticket
 * past a lost record (resume), so reading the ticket first and the
 * generation second never sees a lost record's ticket as durable under
 * its own generation.
 */
enum wal_outcome wal_outcome(const struct wal_producer *p, const struct wal_receipt *r)
{
	uint64_t d = atomic_load_explicit(&p->durable, memory_order_acquire);
	uint64_t g = atomic_load_explicit(&p->w->gen, memory_order_acquire);
	if (g != r->gen)
		return WAL_LOST;
	return r->ticket <= d ? WAL_DURABLE : WAL_PENDING;
}

uint64_t wal_durable_lsn(const struct wal_writer *w)
{
	return atomic_load_explicit(&w->durable_lsn, memory_order_acquire);
}

int wal_writer_error(const struct wal_writer *w)
{
	if (!(atomic_load_explicit(&w->gen, memory_order_acquire) & 1))
		return 0;
	return atomic_load_explicit(&w->error, memory_order_relaxed);
}

void wal_writer_describe(const struct wal_writer *w, char *buf, size_t len)
{
	int e = wal_writer_error(w);
	if (e == 0 && wal_writer_full(w)) {
		int fe = atomic_load_explicit(&w->full_error, memory_order_relaxed);
		snprintf(buf, len,
			 "the log in %s cannot grow (%s): %s; no bid is taken until %llu KiB "
			 "can be kept ahead for the records in flight (tried every %d ms)",
			 w->shown, strerror(-fe),
			 fe == -ENOSPC || fe == -EDQUOT ? "free space on that file system"
							: "check the disk (dmesg)",
			 (unsigned long long)(w->cfg.reserve_bytes >> 10), WAL_FULL_RETRY_MS);
		return;
	}
	if (e == 0) {
		snprintf(buf, len, "%s", "");
		return;
	}
	static const char *const ops[] = {
	    [WAL_OP_NONE] = "the log failed",
	    [WAL_OP_WRITE] = "a log write failed",
	    [WAL_OP_SYNC] = "a log fdatasync failed",
	    [WAL_OP_SEGMENT] = "creating a log segment failed",
	    [WAL_OP_PROBE] = "the probe write of a resume failed",
	};
	int op = atomic_load_explicit(&w->failed_op, memory_order_relaxed);
	snprintf(buf, len,
		 "%s in %s: %s; nothing since the last durable LSN %llu is acknowledged; %s, then "
		 "resume (a probe write and fdatasync of a new segment)",
		 ops[op >= 0 && op <= WAL_OP_PROBE ? op : 0], w->shown, strerror(-e),
		 (unsigned long long)wal_durable_lsn(w),
		 e == -ENOSPC || e == -EDQUOT ? "free space on that file system"
					      : "check the disk (dmesg)");
}

void wal_writer_resume(struct wal_writer *w)
{
	atomic_store_explicit(&w->resume_requested, true, memory_order_release);
}

/* Turns the generation odd: submits stop, receipts of every record not
 * yet durable become LOST. The batch being written is dropped. */
static void fail(struct wal_writer *w, int rc, enum wal_failed_op op, uint64_t batch)
{
	atomic_store_explicit(&w->error, rc, memory_order_relaxed);
	atomic_store_explicit(&w->failed_op, (int)op, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->gen, 1, memory_order_release);
	add(&w->c.failures, 1);
	add(&w->c.lost, batch);
}

/* Adds up to batch_max - *n records of p (to its tail as gathered). */
static void take_ring(struct wal_writer *w, struct wal_producer *p, size_t *n, uint64_t *bytes,
		      uint64_t *budget)
{
	p->taken = 0;
	if (*n == w->cfg.batch_max)
		return;
	uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
	uint64_t take = p->seen - head;
	if (take > w->cfg.batch_max - *n)
		take = w->cfg.batch_max - *n;
	uint64_t i = 0;
	for (; i < take; i++) {
		uint8_t *rec = p->slots[(head + i) & p->mask];
		size_t len = wal_peek_length(rec);
		if (len > *budget)
			break;
		*budget -= len;
		w->iov[(*n)++] = (struct iovec){rec, len};
		*bytes += len;
	}
	p->taken = i;
}

/*
 * Full (wal_writer.h "The reserve"): what the urgent rings may still add
 * to the reserve. The workers stopped admitting when the writer turned
 * full, so their rings hold all they will ever add; the urgent producers
 * (control, service) do not ask, and a close wave or an --open-range
 * could use up the reserve ahead of the workers' records (committed
 * after the urgent ones) and have them LOST. So the urgent rings get what
 * the reserve holds beyond the workers' rings, each record counted at its
 * largest size and one more per ring. Their records wait in their rings
 * (and the control thread's backlog) for the rest.
 */
static uint64_t urgent_budget(const struct wal_writer *w, unsigned int ordinary)
{
	if (!w->cfg.reserve_bytes || !atomic_load_explicit(&w->full, memory_order_relaxed))
		return UINT64_MAX;
	uint64_t room = w->reserved_to > w->seg_off ? w->reserved_to - w->seg_off : 0;
	uint64_t need = 0;
	for (unsigned int i = 0; i < ordinary; i++) {
		const struct wal_producer *p = &w->producers[i];
		need += (p->seen - atomic_load_explicit(&p->head, memory_order_relaxed) + 1) *
			WAL_RECORD_LARGEST;
	}
	return room > need ? room - need : 0;
}

/*
 * Collects up to batch_max records from the rings, oldest first per ring.
 * The tails are read in producer order, so the urgent rings' (index >=
 * urgent_from) after every other's, and the urgent rings' records come
 * first: a record handed over by a thread that saw what an urgent
 * producer submitted before (an auction published after its open record)
 * is never committed in an earlier batch than that record. The other
 * rings start one further each batch, so that none waits behind the
 * others when batches are full. Every ring's count is set (0 when
 * skipped): release_slots and publish read them all.
 */
static size_t gather(struct wal_writer *w, uint64_t *bytes)
{
	size_t n = 0;
	*bytes = 0;
	unsigned int ordinary = w->cfg.urgent_from && w->cfg.urgent_from < w->nproducers
				    ? w->cfg.urgent_from
				    : w->nproducers;
	for (unsigned int i = 0; i < w->nproducers; i++)
		w->producers[i].seen =
		    atomic_load_explicit(&w->producers[i].tail, memory_order_acquire);
	uint64_t budget = urgent_budget(w, ordinary), unlimited = UINT64_MAX;
	for (unsigned int i = ordinary; i < w->nproducers; i++)
		take_ring(w, &w->producers[i], &n, bytes, &budget);
	unsigned int first = w->next_ring % ordinary;
	w->next_ring = (first + 1) % ordinary;
	for (unsigned int k = 0; k < ordinary; k++)
		take_ring(w, &w->producers[(first + k) % ordinary], &n, bytes, &unlimited);
	return n;
}

/* Gives the ring slots of the batch back to their producers. */
static void release_slots(struct wal_writer *w)
{
	for (unsigned int i = 0; i < w->nproducers; i++) {
		struct wal_producer *p = &w->producers[i];
		if (!p->taken)
			continue;
		uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
		atomic_store_explicit(&p->head, head + p->taken, memory_order_release);
	}
}

/* pwritev of iov[0..n) at off, whole: 0 or a negative errno (a write that
 * makes no progress is the disk being full). */
static int write_all(int fd, struct iovec *iov, size_t n, uint64_t off)
{
	while (n > 0) {
		int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
		ssize_t wrote = pwritev(fd, iov, cnt, (off_t)off);
		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote <= 0)
			return wrote < 0 ? -errno : -ENOSPC;
		off += (uint64_t)wrote;
		size_t left = (size_t)wrote;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (left > 0) { /* a partial iovec: the rest of it next */
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/*
 * Zeros ahead of the appends: before a batch that ends past what is
 * zeroed, the zeros from its end to WAL_ZERO_AHEAD further (at most to
 * segment_bytes). That batch's fdatasync commits the file's growth (size,
 * allocation: file-system metadata, a journal commit on ext4) once for the
 * whole chunk, and the batches after it, written over blocks already on
 * disk, flush data alone: a shorter fdatasync (perf/README.md "Zero-filled
 * segments"). fallocate alone does not do it: ext4's preallocated extents
 * are "unwritten" and the first write to each is a metadata change again.
 * A zero write that fails (no space) gives its bytes back, and the segment
 * is appended to as before: the records' own write says whether there is
 * room, as without zeros.
 */
static void zero_ahead(struct wal_writer *w, uint64_t end)
{
	if (!w->zero_fill || end <= w->zeroed_to)
		return;
	uint64_t to = end + WAL_ZERO_AHEAD;
	if (to > w->cfg.segment_bytes)
		to = w->cfg.segment_bytes > end ? w->cfg.segment_bytes : end;
	uint64_t size = file_end(w);
	if (write_zeros(w->fd, end, to) != 0) {
		if (ftruncate(w->fd, (off_t)size) != 0) {
			/* The zeros stay: a zero tail the reader takes for the end. */
		}
		w->zero_fill = false;
		return;
	}
	add(&w->c.zero_bytes, to - end);
	w->zeroed_to = to;
}

/* Cuts the zeros and the reserve past the last record, durably: a
 * segment that is not the last should end at its last record (the reader
 * takes only zeros after it), so before a rollover; and at a clean stop. */
static int trim_zero_tail(struct wal_writer *w)
{
	if (file_end(w) <= w->seg_off)
		return 0;
	if (ftruncate(w->fd, (off_t)w->seg_off) != 0 || fdatasync(w->fd) != 0)
		return -errno;
	w->zeroed_to = w->seg_off;
	w->reserved_to = w->seg_off;
	show_reserve(w);
	return 0;
}

/*
 * The next segment, with its reserve, before the current one is trimmed:
 * if it cannot be made, the current one keeps its reserve and the writer
 * goes on into it (full). A crash between the two leaves zeros after the
 * older segment's last record, which the reader takes for its end.
 */
static int roll_over(struct wal_writer *w)
{
	char err[256];
	int fd =
	    wal_segment_create(w->dirfd, w->shown, w->next_lsn, 0, w->cfg.sync, err, sizeof(err));
	if (fd < 0)
		return fd;
	uint64_t reserved = w->cfg.reserve_bytes ? reserve_end(w, WAL_FILE_HEADER_LEN) : 0;
	int rc = reserved ? allocate(fd, WAL_FILE_HEADER_LEN, reserved) : 0;
	if (rc == 0)
		rc = trim_zero_tail(w);
	if (rc != 0) {
		char name[WAL_NAME_CAP];
		wal_file_name(name, w->next_lsn, WAL_FILE_SEGMENT);
		close(fd);
		/* Durably gone: else a crash could leave a segment from
		 * next_lsn beside the records the older one goes on with. */
		if (unlinkat(w->dirfd, name, 0) == 0)
			wal_dir_sync(w->dirfd);
		return rc;
	}
	close(w->fd);
	use_segment(w, fd);
	if (reserved)
		w->reserved_to = reserved;
	show_reserve(w);
	add(&w->c.segments, 1);
	return 0;
}

static void count_fsync(struct wal_writer *w, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned int b = us == 0 ? 0 : 64 - (unsigned int)__builtin_clzll(us);
	if (b >= WAL_LATENCY_BUCKETS)
		b = WAL_LATENCY_BUCKETS - 1;
	add(&w->c.fsync_us[b], 1);
	add(&w->c.fsync_ns, ns);
	add(&w->c.fsyncs, 1);
}

static void publish(struct wal_writer *w, size_t n, uint64_t bytes)
{
	for (unsigned int i = 0; i < w->nproducers; i++) {
		struct wal_producer *p = &w->producers[i];
		if (p->taken)
			atomic_store_explicit(&p->durable,
					      atomic_load_explicit(&p->head, memory_order_relaxed),
					      memory_order_release);
	}
	atomic_store_explicit(&w->durable_lsn, w->next_lsn - 1, memory_order_release);
	add(&w->c.records, n);
	add(&w->c.bytes, bytes);
	add(&w->c.batches, 1);
}

/* One group commit: LSNs, seal, pwritev, one fdatasync, publish. */
static void commit(struct wal_writer *w, size_t n, uint64_t bytes)
{
	/* Full: into the reserve, past segment_bytes if it must. */
	bool full = atomic_load_explicit(&w->full, memory_order_relaxed);
	if (!full && w->seg_off + bytes > w->cfg.segment_bytes &&
	    w->seg_off > WAL_FILE_HEADER_LEN && now_ns() >= w->roll_retry_ns) {
		int rc = roll_over(w);
		if (rc != 0 && w->cfg.reserve_bytes) {
			/* A rollover needs a second reserve beside this one: without
			 * room for it the segment goes on past segment_bytes (up to
			 * segment_cap) and the rollover is tried again later. */
			w->roll_retry_ns = now_ns() + (uint64_t)WAL_FULL_RETRY_MS * 1000000u;
			if (!may_stay(w, bytes)) {
				turn_full(w, rc);
				full = true;
			}
		} else if (rc != 0) {
			release_slots(w);
			fail(w, rc, WAL_OP_SEGMENT, n);
			return;
		}
	}
	if (!full) {
		int rc = keep_reserve(w, w->seg_off + bytes);
		if (rc == 0 && w->cfg.reserve_bytes && space_short(w))
			rc = -ENOSPC;
		if (rc != 0)
			turn_full(w, rc);
	}
	/* Each record says its place in the batch and the last one ends it:
	 * the reader can tell a torn last batch from damage to an older one
	 * (docs/WAL.md "Torn batches"). A batch never spans two segments. */
	for (size_t i = 0; i < n; i++)
		wal_seal_batch(w->iov[i].iov_base, w->iov[i].iov_len, w->next_lsn + i,
			       (unsigned int)i, i + 1 == n);
	atomic_store_explicit(&w->lsn, w->next_lsn + n - 1, memory_order_relaxed);
	zero_ahead(w, w->seg_off + bytes);
	int rc = write_all(w->fd, w->iov, n, w->seg_off);
	/* The bytes are in the page cache (or lost): the slots can go. */
	release_slots(w);
	if (rc != 0) {
		fail(w, rc, WAL_OP_WRITE, n);
		return;
	}
	w->seg_off += bytes;
	w->next_lsn += n;
	show_reserve(w);
	uint64_t t0 = now_ns();
	rc = w->cfg.sync(w->fd) == 0 ? 0 : -errno;
	w->last_fsync_ns = now_ns() - t0;
	count_fsync(w, w->last_fsync_ns);
	if (rc != 0) {
		fail(w, rc ? rc : -EIO, WAL_OP_SYNC, n);
		return;
	}
	publish(w, n, bytes);
}

/* Drops what the rings hold (submitted under the failed generation). */
static void drop_rings(struct wal_writer *w)
{
	for (unsigned int i = 0; i < w->nproducers; i++) {
		struct wal_producer *p = &w->producers[i];
		uint64_t tail = atomic_load_explicit(&p->tail, memory_order_acquire);
		uint64_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
		add(&w->c.lost, tail - head);
		atomic_store_explicit(&p->head, tail, memory_order_release);
	}
}

static void try_resume(struct wal_writer *w)
{
	atomic_store_explicit(&w->resume_requested, false, memory_order_relaxed);
	uint64_t first = wal_durable_lsn(w) + 1;
	char err[256];
	int fd = wal_segment_create(w->dirfd, w->shown, first, WAL_SEG_AFTER_FAILURE, w->cfg.sync,
				    err, sizeof(err));
	if (fd < 0) {
		atomic_store_explicit(&w->error, fd, memory_order_relaxed);
		atomic_store_explicit(&w->failed_op, WAL_OP_PROBE, memory_order_relaxed);
		add(&w->c.probe_failures, 1);
		return;
	}
	close(w->fd);
	use_segment(w, fd);
	int rc = keep_reserve(w, w->seg_off);
	if (rc != 0)
		turn_full(w, rc);
	w->next_lsn = first;
	atomic_store_explicit(&w->lsn, first - 1, memory_order_relaxed);
	drop_rings(w);
	atomic_store_explicit(&w->error, 0, memory_order_relaxed);
	atomic_store_explicit(&w->failed_op, WAL_OP_NONE, memory_order_relaxed);
	/* Before any later ticket is published durable (wal_outcome). */
	atomic_fetch_add_explicit(&w->gen, 1, memory_order_release);
	add(&w->c.resumes, 1);
	add(&w->c.segments, 1);
}

/* Full: every WAL_FULL_RETRY_MS, the next segment if this one is past its
 * size, and the reserve again; admits resume once both work. */
static void retry_full(struct wal_writer *w)
{
	if (now_ns() < w->full_retry_ns)
		return;
	int rc = w->seg_off >= w->cfg.segment_bytes ? roll_over(w) : 0;
	if (rc != 0 && may_stay(w, 0))
		rc = 0; /* no room for a second reserve: on in this segment */
	if (rc == 0)
		rc = keep_reserve(w, w->seg_off);
	if (rc == 0 && fs_free(w->fd) < WAL_RESERVE_STEP)
		rc = -ENOSPC;
	if (rc != 0) {
		turn_full(w, rc);
		return;
	}
	atomic_store_explicit(&w->full_error, 0, memory_order_relaxed);
	atomic_store_explicit(&w->full, false, memory_order_release);
}

static void pause_us(unsigned int us)
{
	struct timespec ts = {0, (long)us * 1000};
	nanosleep(&ts, NULL);
}

/* Records waiting in the rings, not yet gathered. */
static uint64_t pending(const struct wal_writer *w)
{
	uint64_t n = 0;
	for (unsigned int i = 0; i < w->nproducers; i++) {
		const struct wal_producer *p = &w->producers[i];
		n += atomic_load_explicit(&p->tail, memory_order_acquire) -
		     atomic_load_explicit(&p->head, memory_order_relaxed);
	}
	return n;
}

/*
 * The linger, right after a commit: clients whose records that commit made
 * durable send their next ones within a round trip, while the records that
 * came during the commit are already waiting. Committing those at once
 * leaves the new ones for the commit after, so a closed loop of W
 * outstanding requests settles into two alternating halves of W/2 per
 * fsync. Waiting up to half the last fsync's time (at most linger_us) for
 * them, in steps of idle_us, puts both in one commit: twice the records
 * per fsync for at most +50% latency, and nothing when fsync is fast (tmpfs,
 * a fast device) or the batch is full already.
 */
static void linger(struct wal_writer *w)
{
	uint64_t budget = w->last_fsync_ns / 2;
	if (budget > (uint64_t)w->cfg.linger_us * 1000)
		budget = (uint64_t)w->cfg.linger_us * 1000;
	if (budget < (uint64_t)w->cfg.idle_us * 1000)
		return;
	uint64_t end = now_ns() + budget;
	while (pending(w) < w->cfg.batch_max && now_ns() < end &&
	       !atomic_load_explicit(&w->stop, memory_order_acquire))
		pause_us(w->cfg.idle_us);
}

static void *writer_main(void *arg)
{
	struct wal_writer *w = arg;
	/* The idle sleep is the wake-up delay of the next record (under
	 * --durability sync, of its parked reply): Linux's default 50 us timer
	 * slack would more than triple a 20 us sleep. */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	for (;;) {
		bool stopping = atomic_load_explicit(&w->stop, memory_order_acquire);
		if (atomic_load_explicit(&w->gen, memory_order_relaxed) & 1) {
			if (atomic_load_explicit(&w->resume_requested, memory_order_acquire))
				try_resume(w);
			else if (stopping)
				break;
			else
				pause_us(1000);
			continue;
		}
		if (atomic_load_explicit(&w->full, memory_order_relaxed))
			retry_full(w);
		uint64_t bytes;
		size_t n = gather(w, &bytes);
		if (n > 0) {
			commit(w, n, bytes);
			linger(w);
		} else if (stopping)
			break;
		else
			pause_us(w->cfg.idle_us);
	}
	return NULL;
}

int wal_writer_start(struct wal_writer *w)
{
	if (w->running)
		return -EALREADY;
	atomic_store(&w->stop, false);
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0)
		return -rc;
	pthread_setname_np(w->thread, "bp-wal");
	w->running = true;
	return 0;
}

void wal_writer_stop(struct wal_writer *w)
{
	if (!w->running)
		return;
	atomic_store_explicit(&w->stop, true, memory_order_release);
	pthread_join(w->thread, NULL);
	w->running = false;
	/* Stopped healthy: the segment ends at its last record, as without
	 * zeros (a failed writer's segment is left as the failure left it). */
	if (!(atomic_load_explicit(&w->gen, memory_order_acquire) & 1))
		trim_zero_tail(w);
}

void wal_writer_stats(const struct wal_writer *w, struct wal_writer_stats *s)
{
	memset(s, 0, sizeof(*s));
	const struct wal_counters *c = &w->c;
	s->records = atomic_load_explicit(&c->records, memory_order_relaxed);
	s->bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
	s->batches = atomic_load_explicit(&c->batches, memory_order_relaxed);
	s->fsyncs = atomic_load_explicit(&c->fsyncs, memory_order_relaxed);
	s->segments = atomic_load_explicit(&c->segments, memory_order_relaxed);
	s->failures = atomic_load_explicit(&c->failures, memory_order_relaxed);
	s->resumes = atomic_load_explicit(&c->resumes, memory_order_relaxed);
	s->probe_failures = atomic_load_explicit(&c->probe_failures, memory_order_relaxed);
	s->lost = atomic_load_explicit(&c->lost, memory_order_relaxed);
	for (unsigned int i = 0; i < WAL_LATENCY_BUCKETS; i++)
		s->fsync_us[i] = atomic_load_explicit(&c->fsync_us[i], memory_order_relaxed);
	s->fsync_ns = atomic_load_explicit(&c->fsync_ns, memory_order_relaxed);
	s->zero_bytes = atomic_load_explicit(&c->zero_bytes, memory_order_relaxed);
	s->full = atomic_load_explicit(&c->full, memory_order_relaxed);
	s->reserve_bytes = atomic_load_explicit(&c->reserve_bytes, memory_order_relaxed);
	for (unsigned int i = 0; i < w->nproducers; i++) {
		s->ring_full +=
		    atomic_load_explicit(&w->producers[i].ring_full, memory_order_relaxed);
		s->refused += atomic_load_explicit(&w->producers[i].refused, memory_order_relaxed);
	}
	s->lsn = atomic_load_explicit(&w->lsn, memory_order_relaxed);
	s->durable_lsn = wal_durable_lsn(w);
	s->error = wal_writer_error(w);
	/* A failed writer is failed, not full (its flag stays until resume):
	 * bidctl status takes full_error for "FULL". */
	s->full_error = s->error == 0 && wal_writer_full(w)
			    ? atomic_load_explicit(&w->full_error, memory_order_relaxed)
			    : 0;
}
