/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hybrid logical clock (HLC) for bidplane. Plain C11, no DPDK.
 *
 * Stamp layout (PROTOCOL.md): 64 bits, high 48 = Unix milliseconds (the
 * physical part), low 16 = logical part. Each source (a worker, or the
 * control thread) owns the logical values congruent to its number modulo
 * the number of sources S: logical = counter x S + source. That is what
 * makes every stamp issued by one node unique without the sources sharing a
 * counter.
 *
 * Budget: 65,536 logical values per millisecond per node, split evenly: a
 * source has floor(65,536 / S) counters per millisecond (3,855 = 3.86 M
 * stamps/s with 16 workers + control). The node spends them on what needs a
 * unique stamp only: an ACCEPTED bid. Decisions that only need the time
 * (is the auction closed?) and answers that only show it (AUCTION_STATE)
 * read the clock (hlc_read, hlc_domain_read), which issues nothing.
 *
 * Why not blocks leased from one node-wide allocator (any source could use
 * the whole budget)? Causality (G3) makes a bid's stamp exceed the leading
 * bid's, often stamped by another worker moments before; with blocks that
 * stamp is usually in a block leased after ours, so ours is abandoned. In
 * virtual time (perf/bench_hlc_load, 16 workers x 6 M requests/s, 60%
 * accepted, 10,000 uniform auctions) blocks of 64 lost 31% of the stamps
 * they leased and ran 31 ms ahead of the wall clock in 200 ms; interleaved
 * slots stayed on it with no carry, because the sources' counters advance
 * together.
 *
 * Scaling: one `struct hlc_clock` per source, each on its own cache line and
 * written only by its owner. The node-wide `struct hlc_domain` holds a floor
 * that only `hlc_observe` (remote stamps, rare) raises, and the largest
 * millisecond any source has stamped, raised at most once per millisecond
 * per source; sources read the floor on every stamp, which costs a
 * shared-state cache hit, never a transfer of a written line between cores.
 *
 * Guarantees (each has a test in tests/unit/clock/test_hlc.c):
 *  G1 Monotonic per source: every stamp a clock issues is greater than every
 *     stamp it issued before, even when the wall clock steps back.
 *  G2 Unique per node: two sources of one domain never issue equal stamps
 *     (their logical values differ modulo S).
 *  G3 Causality inside the node: a stamp issued with hlc_now_after(c, s), or
 *     hlc_candidate_after(c, s) then hlc_issue, is greater than s. Workers
 *     pass the stamp of the state they read (an auction's leading bid) so
 *     causally later bids get larger stamps.
 *  G4 Causality across nodes: after hlc_observe(c, r) succeeds, every stamp
 *     of every source in the domain is greater than r.
 *  G5 Drift guard: hlc_observe refuses (-ERANGE) a remote stamp whose
 *     physical part is more than max_drift_ms ahead of the local wall clock;
 *     the clock and the domain are then unchanged and the refusal is counted.
 *  G6 Logical overflow: when a source's counters of one millisecond are used
 *     up, the stamp carries into the physical part (the clock runs ahead of
 *     the wall clock until the wall clock catches up); each carry is counted
 *     in logical_overflows. A source can issue floor(65,536 / S) stamps per
 *     millisecond before carrying: 3,855/ms = 3.86 M/s with 17 sources,
 *     4,096/ms with 16, 32,768/ms with 2.
 *  G7 Readings: hlc_domain_read is at least every stamp the domain issued
 *     before the read, and issues nothing; hlc_read is at most the stamp its
 *     clock would issue next.
 *  G8 Limit: a caller that issues a stamp only when hlc_within_limit says
 *     so never issues one at or above the domain's limit (the node's durable
 *     HLC ceiling: control/state/hlc_ceiling.h), whatever its threads do.
 *
 * Threads: hlc_domain_init before any clock is used, from one thread.
 * hlc_now, hlc_now_after, hlc_candidate_after, hlc_issue, hlc_read and
 * hlc_observe on a clock only from the thread that owns that clock.
 * hlc_domain_read and the counters from any thread.
 */
#ifndef BIDPLANE_HLC_H
#define BIDPLANE_HLC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
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
	/* No stamp at or above this may be issued (0: no limit): the node's
	 * durable HLC ceiling. On the floor's line: read with it. */
	_Atomic uint64_t limit;
	/* The largest millisecond of any stamp issued; read by hlc_domain_read. */
	alignas(HLC_CACHE_LINE) _Atomic uint64_t stamped_ms;
	alignas(HLC_CACHE_LINE) hlc_wall_fn wall;
	void *wall_arg;
	uint64_t max_drift_ms;
	unsigned int nsources; /* S: the logical part is counter x S + source */
	unsigned int counters; /* counters per millisecond: 65,536 / S */
	uint64_t reciprocal;   /* divides a logical part by S (hlc.c) */
	/* Counted by the observing source; sum over clocks with hlc_counters. */
};

struct hlc_clock {
	alignas(HLC_CACHE_LINE) struct hlc_domain *domain;
	hlc_t last;
	uint64_t published_ms; /* stamped_ms is at least this */
	hlc_t carry;	       /* the candidate that would carry (G6), or 0 */
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

/*
 * The stamp this clock would issue next that is greater than `after` (G3),
 * without issuing it: the same value comes back until a stamp is issued
 * (or the wall clock, the floor or `after` moves it on), so a decision can
 * be made with the stamp a bid would get and the stamp spent only if the bid
 * is accepted. hlc_domain_read covers it from now on (G7).
 */
hlc_t hlc_candidate_after(struct hlc_clock *c, hlc_t after);

/* Issues `candidate`, a value hlc_candidate_after returned with no stamp
 * issued on this clock since (G1, G2, G6). */
void hlc_issue(struct hlc_clock *c, hlc_t candidate);

/* A new stamp for a local event (G1, G2, G4, G6). */
hlc_t hlc_now(struct hlc_clock *c);

/* A new stamp that is also greater than `after` (G3). */
hlc_t hlc_now_after(struct hlc_clock *c, hlc_t after);

/*
 * This source's time without a stamp: max(wall, floor, last issued), at
 * most the stamp it would issue next (G7). Touches no written shared line:
 * for decisions that need the time, not a stamp.
 */
hlc_t hlc_read(const struct hlc_clock *c);

/*
 * Merges a remote stamp (G4, G5). Returns 0, or -ERANGE when refused by the
 * drift guard (nothing changes, drift_refusals counts it).
 */
int hlc_observe(struct hlc_clock *c, hlc_t remote);

/* Whether hlc_observe would take `remote` now (the drift guard, G5),
 * changing and counting nothing: for a caller with more checks to make
 * before it observes. Any thread. */
bool hlc_within_drift(const struct hlc_domain *d, hlc_t remote);

/* Sets the limit every stamp must stay below (G8), e.g. a ceiling the node
 * made durable. Any thread; 0 lifts it. */
static inline void hlc_domain_set_limit(struct hlc_domain *d, hlc_t limit)
{
	atomic_store_explicit(&d->limit, limit, memory_order_release);
}

/* Whether `stamp` may be issued under the domain's limit (G8). */
static inline int hlc_within_limit(const struct hlc_clock *c, hlc_t stamp)
{
	hlc_t limit = atomic_load_explicit(&c->domain->limit, memory_order_acquire);
	return limit == 0 || stamp < limit;
}

/* Raises the domain's floor to at least t without the drift guard: for a
 * bound the node itself persisted (the HLC ceiling of its previous life),
 * before its clocks stamp. Any thread. */
void hlc_domain_raise_floor(struct hlc_domain *d, hlc_t t);

/*
 * The node's HLC without issuing a stamp (G7): the end of the latest
 * millisecond among the wall clock, the floor and every stamp issued, so at
 * least every stamp the domain issued before the read. "Before" means that
 * the reader saw the stamp's effect through acquire/release (e.g. it read an
 * auction's leading bid first).
 */
hlc_t hlc_domain_read(const struct hlc_domain *d);

/* Adds this clock's counters into *sum (any thread; relaxed reads). */
void hlc_counters_add(const struct hlc_clock *c, struct hlc_counters *sum);

#endif
