/* SPDX-License-Identifier: BSD-3-Clause */
#include "hlc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

int hlc_format(hlc_t t, char *buf, size_t len)
{
	return snprintf(buf, len, "%" PRIu64 ".%u", hlc_ms(t), (unsigned int)hlc_logical(t));
}

uint64_t hlc_wall_realtime(void *arg)
{
	(void)arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int hlc_domain_init(struct hlc_domain *d, unsigned int nsources, uint64_t max_drift_ms,
		    hlc_wall_fn wall, void *wall_arg)
{
	if (nsources == 0 || nsources > HLC_MAX_SOURCES)
		return -EINVAL;
	atomic_init(&d->floor, 0);
	atomic_init(&d->limit, 0);
	atomic_init(&d->stamped_ms, 0);
	d->wall = wall ? wall : hlc_wall_realtime;
	d->wall_arg = wall_arg;
	d->max_drift_ms = max_drift_ms;
	d->nsources = nsources;
	d->counters = (1u << HLC_LOGICAL_BITS) / nsources;
	/* x / n == (x * reciprocal) >> 32 for every 16-bit x and n < 2^16: the
	 * error, below x / 2^32 < 2^-16, never reaches the next integer. */
	d->reciprocal = (UINT64_C(1) << 32) / nsources + 1;
	return 0;
}

int hlc_clock_init(struct hlc_clock *c, struct hlc_domain *d, unsigned int source)
{
	if (!d || source >= d->nsources)
		return -EINVAL;
	c->domain = d;
	c->last = 0;
	c->published_ms = 0;
	c->carry = 0;
	c->source = (uint16_t)source;
	atomic_init(&c->issued, 0);
	atomic_init(&c->logical_overflows, 0);
	atomic_init(&c->drift_refusals, 0);
	atomic_init(&c->observed, 0);
	return 0;
}

/* Single writer: a plain add made of a relaxed load and store. */
static inline void count(_Atomic uint64_t *ctr)
{
	atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline uint64_t wall_ms(const struct hlc_domain *d)
{
	uint64_t ms = d->wall(d->wall_arg);
	return ms > HLC_MAX_MS ? HLC_MAX_MS : ms;
}

static inline uint64_t max2(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline uint64_t floor_of(const struct hlc_domain *d)
{
	return atomic_load_explicit(&((struct hlc_domain *)d)->floor, memory_order_acquire);
}

static inline hlc_t stamp_of(const struct hlc_clock *c, uint64_t ms, uint64_t counter)
{
	return hlc_make(ms, (uint16_t)(counter * c->domain->nsources + c->source));
}

/*
 * The smallest stamp of this source above `base` (and at least the wall
 * clock): counter x S + source. When the millisecond's counters are used
 * up, carry into the physical part. At HLC_MAX_MS (year 10889) the
 * physical part saturates and the counter wraps: unreachable in practice.
 */
static hlc_t next_after(const struct hlc_clock *c, hlc_t base, uint64_t wall, bool *carried)
{
	const unsigned int n = c->domain->nsources;
	uint64_t ms = hlc_ms(base);
	*carried = false;
	if (wall > ms)
		return stamp_of(c, wall, 0);
	/* The first counter whose value exceeds base's logical part. */
	uint64_t logical = hlc_logical(base);
	uint64_t quotient = (logical * c->domain->reciprocal) >> 32;
	uint64_t counter = quotient + (logical - quotient * n >= c->source);
	if (counter >= c->domain->counters) {
		*carried = true;
		counter = 0;
		if (ms < HLC_MAX_MS)
			ms++;
	}
	return stamp_of(c, ms, counter);
}

static hlc_t candidate(const struct hlc_clock *c, hlc_t after, bool *carried)
{
	const struct hlc_domain *d = c->domain;
	hlc_t base = max2(max2(c->last, floor_of(d)), after);
	return next_after(c, base, wall_ms(d), carried);
}

/* Raises stamped_ms to ms, at most once per millisecond per source: before
 * a candidate can be written anywhere, so hlc_domain_read covers it (G7). */
static void publish_ms(struct hlc_clock *c, uint64_t ms)
{
	if (ms <= c->published_ms)
		return;
	_Atomic uint64_t *hw = &c->domain->stamped_ms;
	uint64_t cur = atomic_load_explicit(hw, memory_order_relaxed);
	while (cur < ms && !atomic_compare_exchange_weak_explicit(
			       hw, &cur, ms, memory_order_relaxed, memory_order_relaxed))
		;
	c->published_ms = ms;
}

hlc_t hlc_candidate_after(struct hlc_clock *c, hlc_t after)
{
	bool carried;
	hlc_t t = candidate(c, after, &carried);
	/* Counted when issued: a carry decided against is no carry. */
	c->carry = carried ? t : 0;
	publish_ms(c, hlc_ms(t));
	return t;
}

void hlc_issue(struct hlc_clock *c, hlc_t t)
{
	if (c->carry != 0 && t == c->carry)
		count(&c->logical_overflows);
	c->carry = 0;
	c->last = t;
	count(&c->issued);
}

hlc_t hlc_now_after(struct hlc_clock *c, hlc_t after)
{
	hlc_t t = hlc_candidate_after(c, after);
	hlc_issue(c, t);
	return t;
}

hlc_t hlc_now(struct hlc_clock *c)
{
	return hlc_now_after(c, 0);
}

hlc_t hlc_read(const struct hlc_clock *c)
{
	const struct hlc_domain *d = c->domain;
	return max2(max2(hlc_make(wall_ms(d), 0), floor_of(d)), c->last);
}

bool hlc_within_drift(const struct hlc_domain *d, hlc_t remote)
{
	uint64_t wall = wall_ms(d);
	return !(hlc_ms(remote) > wall && hlc_ms(remote) - wall > d->max_drift_ms);
}

int hlc_observe(struct hlc_clock *c, hlc_t remote)
{
	struct hlc_domain *d = c->domain;
	if (!hlc_within_drift(d, remote)) {
		count(&c->drift_refusals);
		return -ERANGE;
	}
	hlc_t cur = atomic_load_explicit(&d->floor, memory_order_relaxed);
	while (cur < remote &&
	       !atomic_compare_exchange_weak_explicit(&d->floor, &cur, remote, memory_order_release,
						      memory_order_relaxed))
		;
	count(&c->observed);
	return 0;
}

void hlc_domain_raise_floor(struct hlc_domain *d, hlc_t t)
{
	hlc_t cur = atomic_load_explicit(&d->floor, memory_order_relaxed);
	while (cur < t && !atomic_compare_exchange_weak_explicit(
			      &d->floor, &cur, t, memory_order_release, memory_order_relaxed))
		;
}

hlc_t hlc_domain_read(const struct hlc_domain *d)
{
	uint64_t stamped =
	    atomic_load_explicit(&((struct hlc_domain *)d)->stamped_ms, memory_order_relaxed);
	uint64_t ms = max2(max2(wall_ms(d), hlc_ms(floor_of(d))), stamped);
	return hlc_make(ms, HLC_LOGICAL_MASK);
}

void hlc_counters_add(const struct hlc_clock *c, struct hlc_counters *sum)
{
	struct hlc_clock *m = (struct hlc_clock *)c;
	sum->issued += atomic_load_explicit(&m->issued, memory_order_relaxed);
	sum->logical_overflows += atomic_load_explicit(&m->logical_overflows, memory_order_relaxed);
	sum->drift_refusals += atomic_load_explicit(&m->drift_refusals, memory_order_relaxed);
	sum->observed += atomic_load_explicit(&m->observed, memory_order_relaxed);
}
