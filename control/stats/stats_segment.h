/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stats segment: a POSIX shared-memory object, /dev/shm/<NAME>.bpstats,
 * that a node publishes and readers (bidstat, the node's own telemetry
 * thread) map read-only. It needs no DPDK and no root to read: the node
 * gives it mode 0640 and the bidplane group.
 *
 *   [struct stats_header][directory: dir_capacity x struct stats_entry]
 *   [value blocks: one per worker, one for the control thread]
 *
 * Every value is a little-endian uint64_t, read and written as a relaxed
 * 64-bit atomic (never torn). A per-worker block is written by its worker
 * only, with plain stores (stat.h); the control block by the control thread.
 *
 * The directory names the values. It changes while the node runs (an
 * auction's entries come and go), so the control thread, its only writer,
 * publishes it under a sequence lock:
 *   writer: dir_seq odd (relaxed store, release fence), change entries,
 *           dir_count and dir_digest, dir_seq even (release store);
 *   reader: s1 = dir_seq (acquire), retry while odd; copy; acquire fence;
 *           retry unless dir_seq == s1.
 * dir_digest is the XOR of stats_entry_hash() over the live entries: a
 * reader can prove that its copy is one the writer published.
 *
 * Lifetime: a node builds its segment under a temporary name and renames it
 * over NAME.bpstats, so the name never points at a half-built segment and a
 * reader of a replaced segment notices (the name's inode changes). At exit
 * the node sets state EXITED and leaves the segment for a last look; the
 * next node of that name replaces it.
 */
#ifndef BIDPLANE_STATS_SEGMENT_H
#define BIDPLANE_STATS_SEGMENT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAGIC   0x3153544154535042ull /* "BPSTATS1" read as little-endian */
#define STATS_VERSION 1
#define STATS_SUFFIX  ".bpstats"
#define STATS_SHM_DIR "/dev/shm"
/* In a node's DPDK runtime directory (/var/run/dpdk/<file-prefix>): one
 * line "stats-name = NAME", so that bidstat --clean knows whose directory
 * of any prefix it is once the node is gone. */
#define STATS_RUNTIME_MARKER	 "bidplane.stats-name"
#define STATS_RUNTIME_MARKER_KEY "stats-name = "
#define STATS_NAME_MAX		 64
#define STATS_CONFIG_MAX	 2048
#define STATS_MAX_VALUES	 64 /* values of one entry (one per worker) */
#define STATS_CACHE_LINE	 64
#define STATS_FIELD_NAME	 64
#define STATS_FIELD_LABEL	 96
#define STATS_FIELD_HELP	 80

enum stats_state {
	STATS_STARTING = 0, /* being built (never visible under the name) */
	STATS_RUNNING = 1,
	STATS_EXITED = 2, /* the node stopped; values are final */
};

enum stats_kind {
	STATS_COUNTER = 1, /* only grows */
	STATS_GAUGE = 2,
};

struct stats_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t segment_size;
	uint32_t entry_size;
	uint32_t dir_capacity;
	uint64_t dir_offset;
	int32_t pid;
	uint32_t nworkers;
	uint64_t started_unix_ms;
	char name[STATS_NAME_MAX];
	char node_version[32];
	char config[STATS_CONFIG_MAX]; /* the effective configuration, INI text */

	alignas(STATS_CACHE_LINE) _Atomic uint32_t state;
	_Atomic uint64_t updated_unix_ms; /* control thread, every refresh */
	_Atomic uint64_t exited_unix_ms;

	/* The directory's sequence lock and what it protects. */
	alignas(STATS_CACHE_LINE) _Atomic uint64_t dir_seq;
	_Atomic uint32_t dir_count;
	_Atomic uint64_t dir_digest;
};

/*
 * One named value or per-worker vector. Prometheus-style naming: `name` is
 * the metric family without the "bidplane_" prefix (counters end in
 * _total), `labels` is "key=value,key=value" with values in [A-Za-z0-9_.-].
 * A per-worker entry has `count` values, value i at offset + i * stride;
 * otherwise count is 1.
 */
struct stats_entry {
	char name[STATS_FIELD_NAME];
	char labels[STATS_FIELD_LABEL];
	char help[STATS_FIELD_HELP];
	uint8_t kind; /* enum stats_kind */
	uint8_t per_worker;
	uint16_t reserved;
	uint32_t offset;
	uint32_t stride;
	uint32_t count;
};

_Static_assert(sizeof(struct stats_entry) == 256, "entries are four cache lines");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "values are 64-bit atomics");

/* Naming rules, shared by the writer and every reader (stats_names.c). */
/* A segment name: 1..STATS_NAME_MAX-1 of [A-Za-z0-9_.-], not "." or "..". */
bool stats_segment_name_valid(const char *name);
/* A metric family: [a-z_][a-z0-9_]*, NUL inside the field. */
bool stats_metric_name_valid(const char *name, size_t field);
/* "", or "k=v" pairs joined by ',' with k like a metric name and v of
 * [A-Za-z0-9_.-]+, NUL inside the field. */
bool stats_labels_valid(const char *labels, size_t field);
/* "/dev/shm/NAME.bpstats" into buf; false when the name is not valid or
 * the path does not fit. */
bool stats_segment_path(const char *name, char *buf, size_t len);

/* Whether the entry belongs to one tracked auction (label auction=ID). */
bool stats_entry_is_auction(const struct stats_entry *e);

/* The entry's key: its name, then each label value after a '/'
 * ("replies_total/bid_reply/accepted"), in the characters DPDK telemetry
 * allows ('.' and '-' become '_'). bidstat --json and the telemetry
 * commands name values by it. false when it does not fit. */
struct stats_entry;
bool stats_entry_key(const struct stats_entry *e, char *buf, size_t len);

/* FNV-1a over the whole entry (its unused bytes are zero). */
static inline uint64_t stats_entry_hash(const struct stats_entry *e)
{
	const unsigned char *p = (const unsigned char *)e;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < sizeof(*e); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#endif
