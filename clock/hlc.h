/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hybrid logical clock (HLC) for bidplane. Plain C11, no DPDK.
 *
 * Stamp layout (PROTOCOL.md): 64 bits, high 48 = Unix milliseconds (the
 * physical part), low 16 = logical part. Inside the logical part the low
 * `source_bits` bits name the stamping source (a worker, or the control
 * thread), the rest is a counter. That is what makes every stamp issued by
 * one node unique without the sources sharing a counter.
 *
 * Scaling: one `struct hlc_clock` per source, each on its own cache line and
 * written only by its owner. The node-wide `struct hlc_domain` holds a floor
 * that only `hlc_observe` (remote stamps, rare) raises; sources read it on
 * every stamp, which costs a shared-state cache hit, never a transfer of a
 * written line between cores.
 *
 * Guarantees (each has a test in tests/unit/test_hlc.c):
 *  G1 Monotonic per source: every stamp a clock issues is greater than every
 *     stamp it issued before, even when the wall clock steps back.
 *  G2 Unique per node: two sources of one domain never issue equal stamps
 *     (their source bits differ).
 *  G3 Causality inside the node: a stamp issued with hlc_now_after(c, s) is
 *     greater than s. Workers pass the stamp of the state they read (an
 *     auction's leading bid) so causally later bids get larger stamps.
 *  G4 Causality across nodes: after hlc_observe(c, r) succeeds, every stamp
 *     of every source in the domain is greater than r.
 *  G5 Drift guard: hlc_observe refuses (-ERANGE) a remote stamp whose
 *     physical part is more than max_drift_ms ahead of the local wall clock;
 *     the clock and the domain are then unchanged and the refusal is counted.
 *  G6 Logical overflow: when the counter of one millisecond is used up, the
 *     stamp carries into the physical part (the clock runs ahead of the wall
 *     clock until the wall clock catches up); each carry is counted. With
 *     S sources a source can issue 2^(16 - bits(S)) stamps per millisecond
 *     before carrying (4096/ms = 4.1 M/s with up to 15 sources).
 *
 * Threads: hlc_domain_init before any clock is used, from one thread.
 * hlc_now, hlc_now_after and hlc_observe on a clock only from the thread that
 * owns that clock. hlc_domain_read and the counters from any thread.
 */
#ifndef BIDPLANE_HLC_H
#define BIDPLANE_HLC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MASK ((UINT64_C(1) << HLC_LOGICAL_BITS) - 1)
#define HLC_MAX_MS	 ((UINT64_C(1) << (64 - HLC_LOGICAL_BITS)) - 1)
#define HLC_MAX_SOURCES	 256
#define HLC_CACHE_LINE	 64
/* Enough for "281474976710655.65535" and the terminating NUL. */
#define HLC_FORMAT_LEN 24

typedef uint64_t hlc_t;

/* Returns the wall clock in Unix milliseconds. */
typedef uint64_t (*hlc_wall_fn)(void *arg);

static inline hlc_t hlc_make(uint64_t ms, uint16_t logical)
{
	return (ms << HLC_LOGICAL_BITS) | logical;
}

static inline uint64_t hlc_ms(hlc_t t)
{
	return t >> HLC_LOGICAL_BITS;
}

static inline uint16_t hlc_logical(hlc_t t)
{
	return (uint16_t)(t & HLC_LOGICAL_MASK);
}

static inline int hlc_cmp(hlc_t a, hlc_t b)
{
	return (a > b) - (a < b);
}

/* Writes "ms.logical" into buf; returns the length as snprintf does. */
int hlc_format(hlc_t t, char *buf, size_t len);

/* CLOCK_REALTIME in Unix milliseconds; arg is ignored. */
uint64_t hlc_wall_realtime(void *arg);

struct hlc_domain {
	/* Raised by hlc_observe with release order; read by every stamp. */
	alignas(HLC_CACHE_LINE) _Atomic uint64_t floor;
	alignas(HLC_CACHE_LINE) hlc_wall_fn wall;
	void *wall_arg;
	uint64_t max_drift_ms;
	unsigned int source_bits;
	unsigned int nsources;
	/* Counted by the observing source; sum over clocks with hlc_counters. */
};

struct hlc_clock {
	alignas(HLC_CACHE_LINE) struct hlc_domain *domain;
	hlc_t last;
	uint16_t source;
	/* Written only by the owner; others read them as statistics. */
	_Atomic uint64_t issued;
	_Atomic uint64_t logical_overflows;
	_Atomic uint64_t drift_refusals;
	_Atomic uint64_t observed;
};

struct hlc_counters {
	uint64_t issued;
	uint64_t logical_overflows;
	uint64_t drift_refusals;
	uint64_t observed;
};

/*
 * nsources: how many clocks will stamp in this domain (1..HLC_MAX_SOURCES).
 * wall may be NULL for hlc_wall_realtime. Returns 0 or -EINVAL.
 */
int hlc_domain_init(struct hlc_domain *d, unsigned int nsources, uint64_t max_drift_ms,
		    hlc_wall_fn wall, void *wall_arg);

/* source < d->nsources. Returns 0 or -EINVAL. */
int hlc_clock_init(struct hlc_clock *c, struct hlc_domain *d, unsigned int source);

/* A new stamp for a local event (G1, G2, G4, G6). */
hlc_t hlc_now(struct hlc_clock *c);

/* A new stamp that is also greater than `after` (G3). */
hlc_t hlc_now_after(struct hlc_clock *c, hlc_t after);

/*
 * Merges a remote stamp (G4, G5). Returns 0, or -ERANGE when refused by the
 * drift guard (nothing changes, drift_refusals counts it).
 */
int hlc_observe(struct hlc_clock *c, hlc_t remote);

/* Raises the domain's floor to at least t without the drift guard: for a
 * bound the node itself persisted (the HLC ceiling of its previous life),
 * before its clocks stamp. Any thread. */
void hlc_domain_raise_floor(struct hlc_domain *d, hlc_t t);

/* The node's current HLC without issuing a stamp: max(floor, wall). */
hlc_t hlc_domain_read(const struct hlc_domain *d);

/* Adds this clock's counters into *sum (any thread; relaxed reads). */
void hlc_counters_add(const struct hlc_clock *c, struct hlc_counters *sum);

#endif
