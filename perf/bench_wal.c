/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log's group commit (docs/WAL.md), printed, never
 * asserted:
 *  1. the raw commit of a batch of B records: pwritev + fdatasync against
 *     io_uring (a writev linked to an fsync(DATASYNC), one submit, two
 *     completions), for B = 1, 8, 64, 512: commits/s (= fsyncs/s),
 *     records/s and the commit latency p50/p99;
 *  2. the library end to end (control/wal/wal_writer.h): P producer threads
 *     submitting as fast as their rings take records, one writer thread
 *     group-committing: records/s, fsyncs/s and records per fsync.
 *  3. zero-filled segments against plain appends (docs/WAL.md "Zero-filled
 *     segments"): one producer paced at BENCH_RATE records/s (default
 *     200000, about a sync node's batches here), the writer with and
 *     without zeros ahead, alternating for BENCH_ROUNDS (default 3): the
 *     fdatasync's mean, p50 and p99 (the writer's histogram) per run.
 * Usage: bench_wal [DIR...] (default: /var/tmp and /dev/shm, a disk and a
 * tmpfs); BENCH_SECONDS per case (default 1); BENCH_ZERO_ONLY=1: only 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "wal_record.h"
#include "wal_recover.h"
#include "wal_writer.h"

#define MAX_BATCH   512
#define MAX_SAMPLES (1 << 20)
/* Bounds on what a case leaves on a (possibly shared, RAM-backed) file
 * system: a raw case starts its file over past FILE_CAP bytes, a producer
 * of the library stops after PRODUCER_CAP records (~270 MB). */
#define FILE_CAP     (UINT64_C(64) << 20)
#define PRODUCER_CAP (UINT64_C(4) << 20)

static double seconds = 1.0;
static uint64_t samples[MAX_SAMPLES];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t bid_record(uint8_t *buf, uint64_t i)
{
	struct wal_record r = {
	    .type = WAL_BID,
	    .u.bid = {1 + i % 1000, 1 + i % 97, i + 1, 1 + i, 1 + i, 1, BP_ACCEPTED}};
	size_t len = wal_encode(buf, WAL_RECORD_MAX, &r);
	wal_seal(buf, len, i + 1);
	return len;
}

struct result {
	uint64_t commits, records;
	double secs, p50_us, p99_us;
};

static void summarize(struct result *r, size_t n)
{
	size_t k = n < MAX_SAMPLES ? n : MAX_SAMPLES;
	qsort(samples, k, sizeof(samples[0]), cmp_u64);
	r->p50_us = k ? (double)samples[k / 2] / 1e3 : 0;
	r->p99_us = k ? (double)samples[k * 99 / 100] / 1e3 : 0;
}

static int open_scratch(const char *dir, char *path, size_t len)
{
	snprintf(path, len, "%s/bench-wal-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		perror(path);
	return fd;
}

/* B records per commit with pwritev + fdatasync. */
static int run_pwritev(const char *dir, unsigned int batch, struct result *r)
{
	char path[512];
	int fd = open_scratch(dir, path, sizeof(path));
	if (fd < 0)
		return -1;
	static uint8_t recs[MAX_BATCH][WAL_RECORD_MAX];
	struct iovec iov[MAX_BATCH];
	uint64_t off = 0, i = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	memset(r, 0, sizeof(*r));
	while (now_ns() < end) {
		for (unsigned int k = 0; k < batch; k++)
			iov[k] = (struct iovec){recs[k], bid_record(recs[k], i++)};
		uint64_t t0 = now_ns();
		ssize_t n = pwritev(fd, iov, (int)batch, (off_t)off);
		if (n <= 0 || fdatasync(fd) != 0) {
			perror("pwritev/fdatasync");
			break;
		}
		if (r->commits < MAX_SAMPLES)
			samples[r->commits] = now_ns() - t0;
		off += (uint64_t)n;
		if (off > FILE_CAP && ftruncate(fd, 0) == 0)
			off = 0;
		r->commits++;
		r->records += batch;
	}
	r->secs = (double)(now_ns() - start) / 1e9;
	summarize(r, r->commits);
	close(fd);
	unlink(path);
	return 0;
}

/* The same with io_uring: writev linked to fsync(DATASYNC). */
static int run_uring(const char *dir, unsigned int batch, struct result *r)
{
	char path[512];
	int fd = open_scratch(dir, path, sizeof(path));
	if (fd < 0)
		return -1;
	struct io_uring ring;
	int rc = io_uring_queue_init(8, &ring, 0);
	if (rc < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc));
		close(fd);
		unlink(path);
		return -1;
	}
	static uint8_t recs[MAX_BATCH][WAL_RECORD_MAX];
	struct iovec iov[MAX_BATCH];
	uint64_t off = 0, i = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	memset(r, 0, sizeof(*r));
	while (now_ns() < end) {
		size_t bytes = 0;
		for (unsigned int k = 0; k < batch; k++) {
			iov[k] = (struct iovec){recs[k], bid_record(recs[k], i++)};
			bytes += iov[k].iov_len;
		}
		uint64_t t0 = now_ns();
		struct io_uring_sqe *w = io_uring_get_sqe(&ring);
		io_uring_prep_writev(w, fd, iov, batch, off);
		w->flags |= IOSQE_IO_LINK;
		struct io_uring_sqe *s = io_uring_get_sqe(&ring);
		io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
		io_uring_submit_and_wait(&ring, 2);
		bool ok = true;
		for (int c = 0; c < 2; c++) {
			struct io_uring_cqe *cqe;
			if (io_uring_wait_cqe(&ring, &cqe) != 0 || cqe->res < 0)
				ok = false;
			io_uring_cqe_seen(&ring, cqe);
		}
		if (!ok) {
			fprintf(stderr, "io_uring write/fsync failed\n");
			break;
		}
		if (r->commits < MAX_SAMPLES)
			samples[r->commits] = now_ns() - t0;
		off += bytes;
		if (off > FILE_CAP && ftruncate(fd, 0) == 0)
			off = 0;
		r->commits++;
		r->records += batch;
	}
	r->secs = (double)(now_ns() - start) / 1e9;
	summarize(r, r->commits);
	io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
	return 0;
}

struct producer_arg {
	struct wal_producer *p;
	_Atomic bool *stop;
	_Atomic unsigned int *done;
	uint64_t submitted;
};

static void *produce(void *arg)
{
	struct producer_arg *a = arg;
	uint8_t buf[WAL_RECORD_MAX];
	struct wal_record r = {.type = WAL_BID, .u.bid = {1, 1, 1, 1, 1, 1, BP_ACCEPTED}};
	while (!atomic_load_explicit(a->stop, memory_order_relaxed) &&
	       a->submitted < PRODUCER_CAP) {
		r.u.bid.request_id = a->submitted + 1;
		size_t len = wal_encode(buf, sizeof(buf), &r);
		struct wal_receipt rc;
		if (wal_submit(a->p, buf, len, &rc) == 0)
			a->submitted++;
	}
	atomic_fetch_add(a->done, 1);
	return NULL;
}

static int count_record(const struct wal_record *r, void *arg)
{
	(void)r;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Reads back what a library run wrote (warm page cache: the CPU cost of
 * recovery, decode and checks, not the disk's read speed). */
static void report_recovery(const char *state)
{
	struct wal_recovery out;
	char err[512];
	uint64_t n = 0;
	if (wal_recover(state, NULL, count_record, &n, &out, err, sizeof(err)) != 0) {
		fprintf(stderr, "recovery: %s\n", err);
		return;
	}
	double secs = (double)out.elapsed_ns / 1e9;
	printf("|   recovery of it | %" PRIu64 " records, %.0f MB, %" PRIu64
	       " segments in %.2f s: %.1f s per GB |\n",
	       n, (double)out.log_bytes / 1e6, out.segments, secs,
	       out.log_bytes ? secs / ((double)out.log_bytes / 1e9) : 0.0);
}

/* The library: P producers, one writer. */
static void run_library(const char *dir, unsigned int producers)
{
	char state[512], err[512];
	snprintf(state, sizeof(state), "%s/bench-wal-state-XXXXXX", dir);
	if (!mkdtemp(state)) {
		perror(state);
		return;
	}
	struct wal_writer_config c = {.state_dir = state,
				      .first_lsn = 1,
				      .producers = producers,
				      .ring_slots = 4096,
				      .segment_bytes = 64u << 20};
	struct wal_writer *w = wal_writer_create(&c, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	wal_writer_start(w);
	_Atomic bool stop = false;
	_Atomic unsigned int done = 0;
	pthread_t t[8];
	struct producer_arg args[8];
	uint64_t start = now_ns();
	for (unsigned int i = 0; i < producers; i++) {
		args[i] = (struct producer_arg){wal_writer_producer(w, i), &stop, &done, 0};
		pthread_create(&t[i], NULL, produce, &args[i]);
	}
	uint64_t end = start + (uint64_t)(seconds * 1e9);
	while (now_ns() < end && atomic_load(&done) < producers)
		usleep(10000);
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < producers; i++)
		pthread_join(t[i], NULL);
	wal_writer_stop(w);
	double secs = (double)(now_ns() - start) / 1e9;
	struct wal_writer_stats s;
	wal_writer_stats(w, &s);
	uint64_t p50 = 0, seen = 0;
	for (int b = 0; b < WAL_LATENCY_BUCKETS && seen * 2 < s.fsyncs; b++) {
		seen += s.fsync_us[b];
		p50 = b == 0 ? 1 : UINT64_C(1) << b;
	}
	printf("| library, %u producer%s | %.0f | %.0f | %.1f | < %" PRIu64 " us |\n", producers,
	       producers > 1 ? "s" : "", (double)s.records / secs, (double)s.fsyncs / secs,
	       s.fsyncs ? (double)s.records / (double)s.fsyncs : 0.0, p50);
	wal_writer_destroy(w);
	report_recovery(state);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", state);
}

/* A bucket bound of the writer's fsync histogram at quantile q. */
static uint64_t fsync_quantile_us(const struct wal_writer_stats *s, double q)
{
	uint64_t seen = 0;
	for (int b = 0; b < WAL_LATENCY_BUCKETS; b++) {
		seen += s->fsync_us[b];
		if ((double)seen >= q * (double)s->fsyncs)
			return b == 0 ? 1 : UINT64_C(1) << b;
	}
	return 0;
}

/* One paced producer (rate records/s) against a writer with or without
 * zeros ahead: the fdatasyncs' time. */
static void run_zero_case(const char *dir, bool zero, double rate)
{
	char state[512], err[512];
	snprintf(state, sizeof(state), "%s/bench-wal-zero-XXXXXX", dir);
	if (!mkdtemp(state)) {
		perror(state);
		return;
	}
	struct wal_writer_config c = {.state_dir = state,
				      .first_lsn = 1,
				      .producers = 1,
				      .ring_slots = 1 << 16,
				      .segment_bytes = 64u << 20,
				      .zero_fill = zero};
	/* BENCH_RESERVE=1: the node's reserve (wal_writer_reserve_bound of 3
	 * producers, 16384 slots), as start_writer sets it. */
	const char *res = getenv("BENCH_RESERVE");
	if (res && *res == '1')
		c.reserve_bytes = wal_writer_reserve_bound(3, 16384);
	struct wal_writer *w = wal_writer_create(&c, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	wal_writer_start(w);
	struct wal_producer *p = wal_writer_producer(w, 0);
	struct wal_record r = {.type = WAL_BID, .u.bid = {1, 1, 1, 1, 1, 1, BP_ACCEPTED}};
	uint64_t start = now_ns(), sent = 0, refused = 0;
	uint64_t end = start + (uint64_t)(seconds * 1e9);
	for (uint64_t now = start; now < end && sent < PRODUCER_CAP; now = now_ns()) {
		uint64_t due = (uint64_t)((double)(now - start) * rate / 1e9);
		for (; sent < due; sent++) {
			uint8_t buf[WAL_RECORD_MAX];
			r.u.bid.request_id = sent + 1;
			size_t len = wal_encode(buf, sizeof(buf), &r);
			struct wal_receipt rc;
			refused += wal_submit(p, buf, len, &rc) != 0;
		}
		usleep(50);
	}
	wal_writer_stop(w);
	struct wal_writer_stats s;
	wal_writer_stats(w, &s);
	double secs = (double)(now_ns() - start) / 1e9;
	printf("| %s | %.0f | %.0f | %.1f | %.0f us | <= %" PRIu64 " us | <= %" PRIu64
	       " us | %" PRIu64 " |\n",
	       zero ? "zeros ahead" : "append", (double)s.records / secs, (double)s.fsyncs / secs,
	       s.fsyncs ? (double)s.records / (double)s.fsyncs : 0.0,
	       s.fsyncs ? (double)s.fsync_ns / 1e3 / (double)s.fsyncs : 0.0,
	       fsync_quantile_us(&s, 0.5), fsync_quantile_us(&s, 0.99), refused);
	wal_writer_destroy(w);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", state);
}

static void run_zero_ab(const char *dir)
{
	const char *env = getenv("BENCH_RATE");
	double rate = env && *env ? atof(env) : 200000;
	env = getenv("BENCH_ROUNDS");
	int rounds = env && *env ? atoi(env) : 3;
	printf("\n| segment, paced at %.0f records/s | records/s | fsyncs/s | records per fsync "
	       "| fsync mean | p50 | p99 | refused |\n",
	       rate);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < rounds; i++) {
		run_zero_case(dir, i % 2 == 0, rate);
		run_zero_case(dir, i % 2 != 0, rate);
	}
}

static const char *fs_name(const char *dir)
{
	struct statfs sf;
	if (statfs(dir, &sf) != 0)
		return "?";
	return sf.f_type == 0x01021994 ? "tmpfs" : "disk";
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_SECONDS");
	if (env && *env)
		seconds = atof(env);
	const char *defaults[] = {"/var/tmp", "/dev/shm"};
	const char **dirs = argc > 1 ? (const char **)argv + 1 : defaults;
	int ndirs = argc > 1 ? argc - 1 : 2;
	const unsigned int batches[] = {1, 8, 64, 512};
	const char *zero_only = getenv("BENCH_ZERO_ONLY");
	for (int d = 0; d < ndirs && zero_only && *zero_only == '1'; d++) {
		printf("\n%s (%s), %.1f s per case, 68-byte bid records\n", dirs[d],
		       fs_name(dirs[d]), seconds);
		run_zero_ab(dirs[d]);
	}
	for (int d = 0; d < ndirs && !(zero_only && *zero_only == '1'); d++) {
		printf("\n%s (%s), %.1f s per case, 68-byte bid records\n\n", dirs[d],
		       fs_name(dirs[d]), seconds);
		printf("| method, records per commit | records/s | fsyncs/s | commit p50 | commit "
		       "p99 |\n");
		printf("|---|---:|---:|---:|---:|\n");
		for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			struct result r;
			if (run_pwritev(dirs[d], batches[b], &r) == 0)
				printf(
				    "| pwritev+fdatasync, %u | %.0f | %.0f | %.1f us | %.1f us |\n",
				    batches[b], (double)r.records / r.secs,
				    (double)r.commits / r.secs, r.p50_us, r.p99_us);
			if (run_uring(dirs[d], batches[b], &r) == 0)
				printf("| io_uring writev+fsync, %u | %.0f | %.0f | %.1f us | %.1f "
				       "us |\n",
				       batches[b], (double)r.records / r.secs,
				       (double)r.commits / r.secs, r.p50_us, r.p99_us);
		}
		printf("\n| library | records/s | fsyncs/s | records per fsync | fsync p50 |\n");
		printf("|---|---:|---:|---:|---:|\n");
		run_library(dirs[d], 1);
		run_library(dirs[d], 2);
		run_zero_ab(dirs[d]);
	}
	return 0;
}
