/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reading a stats segment (stats_segment.h): open it by name, take
 * consistent snapshots of its directory and values, notice when the node
 * replaced it or went away. Plain C, no DPDK, no privileges beyond read
 * access to the segment.
 *
 * Threads: a reader and its snapshots belong to one thread; any number of
 * readers, in any processes and threads, may read one segment at once.
 * Every read of a mapping is guarded against SIGBUS (a segment truncated
 * under the reader): the first read installs a process-wide SIGBUS
 * handler that acts only inside those reads, per thread.
 */
#ifndef BIDPLANE_STATS_READER_H
#define BIDPLANE_STATS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats_segment.h"

struct stats_reader {
	const uint8_t *map;
	size_t size;
	bool mapped; /* by us (open), not borrowed (attach) */
	dev_t dev;
	ino_t ino;
	char name[STATS_NAME_MAX];
};

/*
 * Opens NAME.bpstats. 0, or with err set:
 *   -ENOENT   no segment of that name (no node has run under it);
 *   -EACCES   no read permission (the bidplane group, or root, may read);
 *   -EPROTO   a segment version this reader does not know;
 *   -EBADMSG  not a stats segment (a FIFO, a symbolic link, ...: never
 *             followed or blocked on), or a damaged one;
 *   -EINVAL   not a valid name.
 */
int stats_reader_open(struct stats_reader *r, const char *name, char *err, size_t errlen);

/* Reads a segment mapped by this process (the node's telemetry). */
int stats_reader_attach(struct stats_reader *r, const void *map, size_t size);

void stats_reader_close(struct stats_reader *r);

enum stats_change {
	STATS_SAME = 0, /* the name still leads to this segment */
	STATS_REPLACED, /* a new node published under the name */
	STATS_GONE,	/* the name was removed */
};
enum stats_change stats_reader_check(const struct stats_reader *r);

/* The header fields a reader needs, copied. */
struct stats_info {
	int32_t pid;
	uint32_t state; /* enum stats_state */
	uint32_t nworkers;
	uint64_t started_unix_ms;
	uint64_t updated_unix_ms;
	uint64_t exited_unix_ms;
	uint64_t dir_seq;
	char name[STATS_NAME_MAX];
	char node_version[32];
	char config[STATS_CONFIG_MAX];
};

/* One consistent copy of the directory and its values. */
struct stats_snapshot {
	struct stats_info info;
	uint32_t count;
	struct stats_entry *entries; /* count */
	uint32_t *first;	     /* values of entry i: values[first[i]] .. */
	uint64_t *values;
	uint64_t taken_ns;    /* CLOCK_MONOTONIC */
	unsigned int retries; /* directory changes that made us copy again */
	uint32_t cap_entries;
	uint32_t cap_values;
};

/*
 * Fills s (buffers are reused across calls; zero it before the first).
 * 0; -EAGAIN when the directory kept changing (try again); -EBADMSG when
 * a copy the sequence lock says is whole fails its digest or bounds (a
 * writer bug, never expected); -EFAULT when the segment was truncated
 * under the reader (damaged: s holds no entries); -ENOMEM.
 */
int stats_snapshot_take(const struct stats_reader *r, struct stats_snapshot *s);

/* The header's fields alone (no directory): 0 or -EFAULT (truncated). */
int stats_reader_info(const struct stats_reader *r, struct stats_info *info);
void stats_snapshot_free(struct stats_snapshot *s);

/* Sum of entry i's values. */
uint64_t stats_snapshot_total(const struct stats_snapshot *s, uint32_t i);
/* The entry with this name and labels, or -1. */
int stats_snapshot_find(const struct stats_snapshot *s, const char *name, const char *labels);

/* "running", "exited", ... */
const char *stats_state_name(uint32_t state);

#endif
