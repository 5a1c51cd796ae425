/* SPDX-License-Identifier: BSD-3-Clause */
#include "hlc.h"

#include <errno.h>
#include <inttypes.h>
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

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

int hlc_domain_init(struct hlc_domain *d, unsigned int nsources, uint64_t max_drift_ms,
		    hlc_wall_fn wall, void *wall_arg)
{
	if (nsources == 0 || nsources > HLC_MAX_SOURCES)
		return -EINVAL;
	atomic_init(&d->floor, 0);
	d->wall = wall ? wall : hlc_wall_realtime;
	d->wall_arg = wall_arg;
	d->max_drift_ms = max_drift_ms;
	d->source_bits = bits_for(nsources);
	d->nsources = nsources;
	return 0;
}

int hlc_clock_init(struct hlc_clock *c, struct hlc_domain *d, unsigned int source)
{
	if (!d || source >= d->nsources)
		return -EINVAL;
	c->domain = d;
	c->last = 0;
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

static inline hlc_t max3(hlc_t a, hlc_t b, hlc_t c)
{
	hlc_t m = a > b ? a : b;
	return m > c ? m : c;
}

/*
 * The smallest stamp of this source above `base` (and at least the wall
 * clock): (counter << bits | source). When the millisecond's counters are
 * used up, carry into the physical part. At HLC_MAX_MS (year 10889) the
 * physical part saturates and the counter wraps: unreachable in practice.
 */
static hlc_t next_after(struct hlc_clock *c, hlc_t base, uint64_t wall)
{
	const unsigned int bits = c->domain->source_bits;
	const uint64_t counters = UINT64_C(1) << (HLC_LOGICAL_BITS - bits);
	uint64_t ms = hlc_ms(base);
	if (wall > ms)
		return hlc_make(wall, c->source);
	uint64_t counter = (uint64_t)(hlc_logical(base) >> bits) + 1;
	if (counter >= counters) {
		count(&c->logical_overflows);
		counter = 0;
		if (ms < HLC_MAX_MS)
			ms++;
	}
	return hlc_make(ms, (uint16_t)(counter << bits | c->source));
}

hlc_t hlc_now_after(struct hlc_clock *c, hlc_t after)
{
	struct hlc_domain *d = c->domain;
	hlc_t floor = atomic_load_explicit(&d->floor, memory_order_acquire);
	hlc_t t = next_after(c, max3(c->last, floor, after), wall_ms(d));
	c->last = t;
	count(&c->issued);
	return t;
}

hlc_t hlc_now(struct hlc_clock *c)
{
	return hlc_now_after(c, 0);
}

int hlc_observe(struct hlc_clock *c, hlc_t remote)
{
	struct hlc_domain *d = c->domain;
	uint64_t wall = wall_ms(d);
	if (hlc_ms(remote) > wall && hlc_ms(remote) - wall > d->max_drift_ms) {
		count(&c->drift_refusals);
		return -ERANGE;
	}
	hlc_t cur = atomic_load_explicit(&d->floor, memory_order_relaxed);
	while (cur < remote &&
	       !atomic_compare_exchange_weak_explicit(&d->floor, &cur, remote, memory_order_release,
						      memory_order_relaxed))
		;
	if (c->last < remote)
		c->last = remote;
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
	hlc_t floor = atomic_load_explicit(&((struct hlc_domain *)d)->floor, memory_order_acquire);
	hlc_t wall = hlc_make(wall_ms(d), 0);
	return floor > wall ? floor : wall;
}

void hlc_counters_add(const struct hlc_clock *c, struct hlc_counters *sum)
{
	struct hlc_clock *m = (struct hlc_clock *)c;
	sum->issued += atomic_load_explicit(&m->issued, memory_order_relaxed);
	sum->logical_overflows += atomic_load_explicit(&m->logical_overflows, memory_order_relaxed);
	sum->drift_refusals += atomic_load_explicit(&m->drift_refusals, memory_order_relaxed);
	sum->observed += atomic_load_explicit(&m->observed, memory_order_relaxed);
}
