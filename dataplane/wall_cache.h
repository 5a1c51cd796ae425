/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wall clock a worker reads while it answers a burst: CLOCK_REALTIME
 * in Unix ms, taken once per burst from the TSC instead of a clock_gettime
 * (~25 ns) per HLC reading. Each thread recalibrates against CLOCK_REALTIME
 * every WALL_CACHE_REFRESH_MS, so the value is within 1 ms of the wall
 * clock (TSC rate error over 1 ms is microseconds; a burst lasts tens of
 * them), and it never goes back on one thread: a clock stepped back holds
 * it where it was until the clock catches up, as the HLC holds its stamps.
 *
 * node_wall_ms (node.h), the node's HLC wall clock, returns wall_cache_ms
 * (plus --clock-offset-ms) while it is set, CLOCK_REALTIME otherwise.
 *
 * Threads: all state is thread-local. wall_cache_begin and wall_cache_end
 * on the thread answering the burst (a worker, or the packet-path
 * benchmark); after rte_eal_init (the TSC rate), else each begin is a
 * clock_gettime.
 */
#ifndef BIDPLANE_WALL_CACHE_H
#define BIDPLANE_WALL_CACHE_H

#include <stdint.h>

#define WALL_CACHE_REFRESH_MS 1

/* This thread's wall clock for the burst it answers (Unix ms); 0: none. */
extern _Thread_local uint64_t wall_cache_ms;

/* Sets wall_cache_ms for the burst starting now; returns the TSC reading
 * it was taken at, the burst's one "now" for everything else that needs
 * one (the idempotency table's ages). */
uint64_t wall_cache_begin(void);

/* Ends the burst: node_wall_ms reads CLOCK_REALTIME again. */
static inline void wall_cache_end(void)
{
	wall_cache_ms = 0;
}

#endif
