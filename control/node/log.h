/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's log: one line format, one destination. Every line, DPDK's own
 * included, goes to stderr (which systemd hands to journald) as
 *
 *   2026-12-01T10:22:00.123Z INFO    bidplane.control: control socket /run/...
 *
 * time (UTC, ms), level, subsystem (the DPDK log type), message. Nothing
 * else writes to syslog. The workers never log; what traffic can trigger on
 * the slow path is rate-limited and counted (log_allow).
 *
 * Threads: log_init once on the main thread before rte_eal_init; BP_LOG
 * from any non-worker thread; the stream keeps a line buffer per thread and
 * its own writer thread.
 */
#ifndef BIDPLANE_LOG_H
#define BIDPLANE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_log.h>

/* The node's subsystems, one DPDK log type each ("bidplane.<name>"). */
#define BP_FOREACH_LOG_SUBSYSTEM(X)                                                                \
	X(MAIN, main)                                                                              \
	X(CONTROL, control)                                                                        \
	X(SERVICE, service)                                                                        \
	X(LIFECYCLE, lifecycle)                                                                    \
	X(STATS, stats)                                                                            \
	X(LEADER, leader)

enum bp_log_subsystem {
#define BP_LOG_ENUM(id, name) BP_LOG_##id,
	BP_FOREACH_LOG_SUBSYSTEM(BP_LOG_ENUM)
#undef BP_LOG_ENUM
	    BP_LOG_SUBSYSTEMS
};

extern int bp_log_types[BP_LOG_SUBSYSTEMS];

#define BP_LOG(level, subsystem, ...)                                                              \
	rte_log(RTE_LOG_##level, (uint32_t)bp_log_types[BP_LOG_##subsystem], __VA_ARGS__)

/* Registers the subsystems at `level`, and makes stderr, in the format
 * above, the one destination; lines are written by a thread of their own,
 * so that no thread of the node blocks on a full stderr (a line that finds
 * the queue full is dropped, counted, and said). 0 or a negative errno. */
int log_init(int level);

/* Lines dropped so far (any thread). */
uint64_t log_dropped(void);

/*
 * A rate limit for lines that traffic or load can trigger: at most `burst`
 * lines, refilled at `per_second`; what it refuses is counted in
 * `suppressed`, and said in the next line let through. One limiter per
 * kind of line, used by one thread.
 */
struct log_limit {
	double per_second;
	double burst;
	double tokens;
	uint64_t last_ms;
	uint64_t suppressed;
	uint64_t suppressed_total;
};

/* Whether a line may be written now (now_ms: any clock that grows). On
 * true, *suppressed is how many were refused since the last one. */
bool log_allow(struct log_limit *l, uint64_t now_ms, uint64_t *suppressed);

#endif
