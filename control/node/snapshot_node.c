/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bp-snap (snapshot_node.h): wakes every SNAP_POLL_MS, and when a snapshot
 * is due folds the newest snapshot and the log up to the durable LSN into
 * the next one.
 */
#include "snapshot_node.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctl.h"
#include "log.h"
#include "wal_fold.h"
#include "wal_node.h"
#include "wal_reader.h"
#include "wal_segment.h"
#include "wal_snapshot.h"

#define SNAP_POLL_MS	     20
#define SNAP_RETRY_MS_NO_INT 10000 /* a failed size-triggered snapshot, --snapshot-interval-s 0 */

struct snapshot_node {
	struct control *c;
	pthread_t thread;
	_Atomic bool stop;
	_Atomic uint64_t requested, served; /* snapshot_node_request tickets */
	uint64_t interval_ms, log_bytes;
	uint64_t last_lsn;	/* the newest snapshot's LSN */
	uint64_t bytes_base;	/* the writer's bytes when the last snapshot was taken */
	uint64_t carried_bytes; /* log bytes since the snapshot, from recovery */
	uint64_t next_try_ms;	/* monotonic: a failure waits until then */
	uint64_t last_try_ms;	/* monotonic: the interval counts from the last attempt */
	_Atomic uint64_t snapshots, failures, lsn, bytes, records, duration_us, at_ms, removed;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The log scan up to L: fold each record, stop once L is in, or at once
 * when the node stops (a fold of a large log takes seconds to minutes:
 * the node's exit must not wait for it; the snapshot is simply not
 * written). */
struct upto {
	struct wal_fold *fold;
	uint64_t lsn;
	bool reached;
	const _Atomic bool *stop;
};

static int fold_snapshot_unless_stopped(const struct wal_record *r, void *arg)
{
	struct upto *u = arg;
	if (atomic_load_explicit(u->stop, memory_order_relaxed))
		return -1;
	return wal_fold_snapshot_record(r, u->fold);
}

static int fold_upto(const struct wal_record *r, void *arg)
{
	struct upto *u = arg;
	if (atomic_load_explicit(u->stop, memory_order_relaxed) ||
	    wal_fold_log_record(r, u->fold) != 0)
		return -1;
	if (r->lsn >= u->lsn) {
		u->reached = true;
		return 1; /* the writer may be appending after it: read no further */
	}
	return 0;
}

/* The newest snapshot and the log after it up to lsn, folded. */
static int fold_state(struct snapshot_node *s, struct wal_fold *fold, uint64_t lsn, char *err,
		      size_t errlen)
{
	const char *state_dir = s->c->node->cfg.state_dir;
	char shown[512];
	snprintf(shown, sizeof(shown), "%s/%s", state_dir, WAL_DIR_NAME);
	int dirfd = wal_dir_open(state_dir, false, err, errlen);
	if (dirfd < 0)
		return dirfd;
	uint64_t prev = 0, records = 0;
	struct upto u = {.fold = fold, .lsn = lsn, .stop = &s->stop};
	int rc = wal_snapshot_load(dirfd, shown, fold_snapshot_unless_stopped, &u, &prev, &records,
				   err, errlen);
	u.reached = prev >= lsn;
	struct wal_scan scan;
	if (rc == 0 && !u.reached) {
		rc = wal_read_log(dirfd, shown, prev, false, fold_upto, &u, &scan, err, errlen);
		if (rc == -ECANCELED && u.reached)
			rc = 0;
		else if (rc == 0)
			rc = -EIO, snprintf(err, errlen,
					    "%s: the log ends at LSN %" PRIu64
					    " before the durable LSN %" PRIu64,
					    shown, scan.last_lsn, lsn);
	}
	if (atomic_load(&s->stop))
		rc = -ECANCELED, snprintf(err, errlen, "the node is stopping");
	else if (rc != 0 && wal_fold_error(fold))
		snprintf(err, errlen, "%s: %s", shown, wal_fold_error(fold));
	close(dirfd);
	return rc;
}

static void say_done(struct snapshot_node *s, const struct wal_snapshot_info *info,
		     uint64_t took_us)
{
	atomic_store(&s->lsn, info->lsn);
	atomic_store(&s->bytes, info->bytes);
	atomic_store(&s->records, info->records);
	atomic_store(&s->duration_us, took_us);
	atomic_store(&s->at_ms, node_now_ms(s->c->node));
	atomic_fetch_add(&s->removed, info->removed_segments);
	atomic_fetch_add(&s->snapshots, 1);
	BP_LOG(INFO, SERVICE,
	       "snapshot at LSN %" PRIu64 ": %" PRIu64 " records, %" PRIu64
	       " bytes in %.3f s; deleted %" PRIu64 " segments and %" PRIu64 " older snapshots\n",
	       info->lsn, info->records, info->bytes, (double)took_us / 1e6, info->removed_segments,
	       info->removed_snapshots);
}

/* One snapshot of the durable LSN. 0 (also when nothing changed since the
 * last one) or a negative errno, said in the log. */
static int take_snapshot(struct snapshot_node *s)
{
	struct node *n = s->c->node;
	struct wal_writer_stats ws;
	wal_node_stats(s->c, &ws);
	uint64_t lsn = ws.durable_lsn;
	if (lsn <= s->last_lsn)
		return 0; /* nothing new: the newest snapshot is the state */
	uint64_t t0 = mono_us();
	char err[1024] = "";
	struct wal_fold *fold = wal_fold_create(n->cfg.max_auctions, node_now_ms(n),
						(uint64_t)n->cfg.dedup_seconds * 1000);
	int rc = fold ? fold_state(s, fold, lsn, err, sizeof(err)) : -ENOMEM;
	if (!fold)
		snprintf(err, sizeof(err), "out of memory for the snapshot's state");
	struct wal_snapshot_info info = {0};
	if (rc == 0)
		rc = wal_snapshot_write(n->cfg.state_dir, lsn, wal_fold_emit, fold, &info, err,
					sizeof(err));
	wal_fold_destroy(fold);
	if (rc == -ECANCELED && atomic_load(&s->stop)) {
		BP_LOG(INFO, SERVICE,
		       "snapshot at LSN %" PRIu64 " left unwritten: the node stops\n", lsn);
		return rc;
	}
	if (rc != 0) {
		atomic_fetch_add(&s->failures, 1);
		BP_LOG(ERR, SERVICE,
		       "snapshot at LSN %" PRIu64 " failed (%s): %s; the last snapshot and the log "
		       "are kept, still serving; tried again in %" PRIu64 " s\n",
		       lsn, strerror(-rc), err,
		       (s->interval_ms ? s->interval_ms : SNAP_RETRY_MS_NO_INT) / 1000);
		return rc;
	}
	s->last_lsn = lsn;
	s->bytes_base = ws.bytes;
	s->carried_bytes = 0;
	say_done(s, &info, mono_us() - t0);
	return 0;
}

static bool due(struct snapshot_node *s, uint64_t now)
{
	if (atomic_load(&s->requested) != atomic_load(&s->served))
		return true;
	if (now < s->next_try_ms)
		return false;
	if (s->interval_ms && now - s->last_try_ms >= s->interval_ms)
		return true;
	if (s->log_bytes) {
		struct wal_writer_stats ws;
		wal_node_stats(s->c, &ws);
		return ws.bytes - s->bytes_base + s->carried_bytes >= s->log_bytes;
	}
	return false;
}

static void *snap_main(void *arg)
{
	struct snapshot_node *s = arg;
	while (!atomic_load(&s->stop)) {
		uint64_t now = mono_ms();
		if (!due(s, now)) {
			usleep(SNAP_POLL_MS * 1000);
			continue;
		}
		uint64_t ticket = atomic_load(&s->requested);
		int rc = take_snapshot(s);
		s->last_try_ms = mono_ms();
		s->next_try_ms = rc == 0 ? 0
					 : s->last_try_ms + (s->interval_ms ? s->interval_ms
									    : SNAP_RETRY_MS_NO_INT);
		atomic_store(&s->served, ticket);
	}
	return NULL;
}

/* When the recovered snapshot was written (its file's time, for its age),
 * and its size. */
static uint64_t snapshot_written_ms(const char *state_dir, uint64_t lsn, uint64_t *bytes)
{
	char name[WAL_NAME_CAP], path[BP_PATH_MAX + 2 * WAL_NAME_CAP];
	wal_file_name(name, lsn, WAL_FILE_SNAPSHOT);
	snprintf(path, sizeof(path), "%s/%s/%s", state_dir, WAL_DIR_NAME, name);
	struct stat st;
	if (lsn == 0 || stat(path, &st) != 0)
		return 0;
	*bytes = (uint64_t)st.st_size;
	return (uint64_t)st.st_mtim.tv_sec * 1000 + (uint64_t)st.st_mtim.tv_nsec / 1000000;
}

int snapshot_node_start(struct control *c, char *err, size_t errlen)
{
	const struct bp_config *cfg = &c->node->cfg;
	if (!c->wal.writer || (cfg->snapshot_interval_s == 0 && cfg->snapshot_log_mb == 0))
		return 0;
	struct snapshot_node *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "no memory for the snapshot thread");
		return -ENOMEM;
	}
	s->c = c;
	s->interval_ms = (uint64_t)cfg->snapshot_interval_s * 1000;
	s->log_bytes = (uint64_t)cfg->snapshot_log_mb << 20;
	s->last_lsn = c->wal.recovery.snapshot_lsn;
	s->carried_bytes = c->wal.recovery.log_bytes;
	s->last_try_ms = mono_ms();
	atomic_store(&s->lsn, s->last_lsn);
	uint64_t bytes = 0;
	atomic_store(&s->at_ms, snapshot_written_ms(cfg->state_dir, s->last_lsn, &bytes));
	atomic_store(&s->bytes, bytes);
	atomic_store(&s->records, c->wal.recovery.snapshot_records);
	int rc = pthread_create(&s->thread, NULL, snap_main, s);
	if (rc != 0) {
		free(s);
		snprintf(err, errlen, "cannot start the snapshot thread: %s", strerror(rc));
		return -rc;
	}
	pthread_setname_np(s->thread, "bp-snap");
	c->wal.snap = s;
	return 0;
}

void snapshot_node_stop(struct control *c)
{
	struct snapshot_node *s = c->wal.snap;
	if (!s)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	c->wal.snap = NULL;
	free(s);
}

bool snapshot_node_request(struct control *c)
{
	struct snapshot_node *s = c->wal.snap;
	if (!s)
		return false;
	atomic_fetch_add(&s->requested, 1);
	return true;
}

void snapshot_node_stats(const struct control *c, struct snapshot_node_stats *out)
{
	struct snapshot_node *s = c->wal.snap;
	*out = (struct snapshot_node_stats){.lsn = c->wal.recovery.snapshot_lsn};
	if (!s)
		return;
	out->snapshots = atomic_load(&s->snapshots);
	out->failures = atomic_load(&s->failures);
	out->lsn = atomic_load(&s->lsn);
	out->bytes = atomic_load(&s->bytes);
	out->records = atomic_load(&s->records);
	out->duration_us = atomic_load(&s->duration_us);
	out->at_ms = atomic_load(&s->at_ms);
	out->removed_segments = atomic_load(&s->removed);
}

void snapshot_node_status(const struct control *c, struct ctl_status *out)
{
	struct snapshot_node_stats st;
	snapshot_node_stats(c, &st);
	uint64_t now = node_now_ms(c->node);
	out->snapshot_lsn = st.lsn;
	out->snapshot_age_s = st.at_ms == 0    ? -1
			      : now > st.at_ms ? (int64_t)((now - st.at_ms) / 1000)
					       : 0;
	out->snapshot_bytes = st.bytes;
	out->snapshot_records = st.records;
	out->snapshot_duration_ms = st.duration_us / 1000;
	out->snapshots = st.snapshots;
	out->snapshot_failures = st.failures;
}
