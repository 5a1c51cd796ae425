/* SPDX-License-Identifier: BSD-3-Clause */
/* The per-burst wall clock from the TSC (wall_cache.h). */
#include "wall_cache.h"

#include <time.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>

#define WALL_NS_PER_S  UINT64_C(1000000000)
#define WALL_NS_PER_MS UINT64_C(1000000)

_Thread_local uint64_t wall_cache_ms;

/* One thread's calibration: CLOCK_REALTIME at a TSC reading. */
struct calibration {
	uint64_t tsc_hz;
	uint64_t base_tsc;
	uint64_t base_ns;
	uint64_t next_refresh_tsc;
	uint64_t last_ms; /* what this thread returned last: never less */
};

static _Thread_local struct calibration cal;

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * WALL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void recalibrate(void)
{
	cal.tsc_hz = rte_get_tsc_hz(); /* 0 before rte_eal_init: recalibrate each time */
	cal.base_ns = realtime_ns();
	cal.base_tsc = rte_rdtsc();
	cal.next_refresh_tsc = cal.base_tsc + cal.tsc_hz / 1000 * WALL_CACHE_REFRESH_MS;
}

uint64_t wall_cache_begin(void)
{
	uint64_t now = rte_rdtsc();
	uint64_t tsc = now;
	/* now < base_tsc: another core's TSC after a migration; start over. */
	if (unlikely(now >= cal.next_refresh_tsc || now < cal.base_tsc)) {
		recalibrate();
		now = cal.base_tsc;
	}
	/* now - base_tsc < 1 ms of ticks: the product cannot overflow. */
	uint64_t ns = cal.base_ns;
	if (cal.tsc_hz)
		ns += (now - cal.base_tsc) * WALL_NS_PER_S / cal.tsc_hz;
	uint64_t ms = ns / WALL_NS_PER_MS;
	if (ms < cal.last_ms)
		ms = cal.last_ms;
	cal.last_ms = ms;
	wall_cache_ms = ms ? ms : 1; /* 0 means "no burst" */
	return tsc;
}
