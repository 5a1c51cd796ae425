/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's side of the stats segment (stats_segment.h): build it, name
 * its values in the directory, publish it under NAME.bpstats, mark it
 * exited. Plain C, no DPDK.
 *
 * Threads: everything here on one thread (the node's main/control thread),
 * except that workers write their own blocks (stats_writer_worker_block)
 * and any thread may read. Directory changes go between stats_dir_begin and
 * stats_dir_end; readers never see the directory in between.
 */
#ifndef BIDPLANE_STATS_WRITER_H
#define BIDPLANE_STATS_WRITER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats_segment.h"

struct stats_writer;

struct stats_identity {
	const char *name;	  /* [A-Za-z0-9_.-], 1..STATS_NAME_MAX-1 chars */
	const char *group;	  /* readers' group; NULL or "": owner only */
	const char *node_version; /* shown by bidstat */
	const char *config;	  /* INI text, cut at STATS_CONFIG_MAX - 1 */
	uint32_t nworkers;	  /* 1..STATS_MAX_VALUES */
	uint32_t dir_capacity;	  /* directory entries */
	size_t worker_block;	  /* bytes of each worker's block */
	size_t control_block;	  /* bytes of the control thread's block */
};

/*
 * Builds the segment under a temporary name (not yet visible). Fails with
 * -EBUSY when a running node already publishes NAME, -EINVAL on a bad
 * name or size, or another -errno; err says what to do. On success
 * stats_writer_note() may hold a warning (e.g. the group does not exist).
 */
int stats_writer_create(struct stats_writer **out, const struct stats_identity *id, char *err,
			size_t errlen);

/* A warning from create, or "". */
const char *stats_writer_note(const struct stats_writer *w);

/* Worker i's block, STATS_CACHE_LINE-aligned, zeroed. */
void *stats_writer_worker_block(struct stats_writer *w, unsigned int worker);
/* The control thread's block, aligned and zeroed. */
void *stats_writer_control_block(struct stats_writer *w);

void stats_dir_begin(struct stats_writer *w);
void stats_dir_end(struct stats_writer *w);

/* A value of the control block (count 1). 0, -ENOSPC (directory full) or
 * -EINVAL (bad name/labels, or the value is not in the control block). */
int stats_dir_add_value(struct stats_writer *w, const char *name, const char *labels,
			const char *help, enum stats_kind kind, const _Atomic uint64_t *value);

/* `count` values of the control block, value i at first + i * stride
 * bytes: a per-worker vector the control thread keeps. */
int stats_dir_add_vector(struct stats_writer *w, const char *name, const char *labels,
			 const char *help, enum stats_kind kind, const _Atomic uint64_t *first,
			 uint32_t count, size_t stride);

/* The field at byte `offset` of every worker's block, as one vector. */
int stats_dir_add_worker_field(struct stats_writer *w, const char *name, const char *labels,
			       const char *help, enum stats_kind kind, size_t offset);

/* Removes every entry whose values start in [first, first + bytes) of the
 * control block; returns how many. */
unsigned int stats_dir_remove_values(struct stats_writer *w, const void *first, size_t bytes);

/* Entries in the directory now. */
uint32_t stats_dir_count(const struct stats_writer *w);

/* Makes the segment visible as NAME.bpstats (replacing a previous one)
 * with state RUNNING. 0 or -errno with err set. */
int stats_writer_publish(struct stats_writer *w, char *err, size_t errlen);

/* Records that the node is alive at unix_ms (bidstat shows staleness). */
void stats_writer_heartbeat(struct stats_writer *w, uint64_t unix_ms);

/* The mapping, for an in-process reader (stats_reader_attach). */
const void *stats_writer_map(const struct stats_writer *w, size_t *size);

/* Marks the segment EXITED (values are final) and unmaps it; it stays
 * visible until the next node of the name replaces it. An unpublished
 * segment is removed. NULL is ignored. */
void stats_writer_close(struct stats_writer *w, uint64_t unix_ms);

/* Removes NAME.bpstats, whatever node made it (tests, cleanup). */
int stats_segment_unlink(const char *name);

#endif
