/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Single-writer statistics counters. The owner thread adds with a relaxed
 * load and store (a plain add, no locked instruction); any other thread may
 * read with a relaxed load and sees a whole, possibly slightly old, value.
 */
#ifndef BIDPLANE_STAT_H
#define BIDPLANE_STAT_H

#include <stdatomic.h>
#include <stdint.h>

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
#ifdef BP_NO_WORKER_STATS
	/* perf/bench_packet_path_nostats: what the counters cost a worker. */
	(void)c;
	(void)n;
#else
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
#endif
}

static inline void stat_inc(_Atomic uint64_t *c)
{
	stat_add(c, 1);
}

static inline uint64_t stat_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
