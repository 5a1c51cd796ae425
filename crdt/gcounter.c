/* SPDX-License-Identifier: BSD-3-Clause */
#include "gcounter.h"

#include <errno.h>
#include <string.h>

/* *acc += n, stopping at UINT64_MAX. Returns -ERANGE when it had to stop. */
static inline int add_saturating(uint64_t *acc, uint64_t n)
{
	if (__builtin_add_overflow(*acc, n, acc)) {
		*acc = UINT64_MAX;
		return -ERANGE;
	}
	return 0;
}

void gcounter_init(struct gcounter *g)
{
	memset(g, 0, sizeof(*g));
}

int gcounter_add(struct gcounter *g, unsigned int replica, uint64_t n, struct gcounter *delta)
{
	int rc;

	if (replica >= CRDT_MAX_REPLICAS)
		return -EINVAL;
	rc = add_saturating(&g->slot[replica], n);
	/* A saturating add still moved the slot (to UINT64_MAX): the delta carries it. */
	if (delta != NULL)
		delta->slot[replica] = g->slot[replica];
	return rc;
}

int gcounter_raise(struct gcounter *g, unsigned int replica, uint64_t value, struct gcounter *delta)
{
	if (replica >= CRDT_MAX_REPLICAS)
		return -EINVAL;
	if (value > g->slot[replica])
		g->slot[replica] = value;
	if (delta != NULL)
		delta->slot[replica] = g->slot[replica];
	return 0;
}

uint64_t gcounter_value(const struct gcounter *g)
{
	uint64_t sum = 0;

	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++)
		(void)add_saturating(&sum, g->slot[r]);
	return sum;
}

void gcounter_merge(struct gcounter *into, const struct gcounter *from)
{
	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++)
		if (from->slot[r] > into->slot[r])
			into->slot[r] = from->slot[r];
}

int gcounter_equal(const struct gcounter *a, const struct gcounter *b)
{
	return memcmp(a->slot, b->slot, sizeof(a->slot)) == 0;
}

void gcounter_workers_init(struct gcounter_workers *gw)
{
	for (unsigned int w = 0; w < CRDT_MAX_WORKERS; w++)
		atomic_init(&gw->w[w], 0);
}

int gcounter_workers_add(struct gcounter_workers *gw, unsigned int worker, uint64_t n)
{
	uint64_t cur;
	int rc;

	if (worker >= CRDT_MAX_WORKERS)
		return -EINVAL;
	/*
	 * Only this worker writes slot `worker`, so a plain load and store
	 * cannot lose an update; the atomics only make the value whole for
	 * readers on other threads. No read-modify-write, no lock prefix.
	 */
	cur = atomic_load_explicit(&gw->w[worker], memory_order_relaxed);
	rc = add_saturating(&cur, n);
	atomic_store_explicit(&gw->w[worker], cur, memory_order_relaxed);
	return rc;
}

uint64_t gcounter_workers_sum(const struct gcounter_workers *gw)
{
	uint64_t sum = 0;

	/*
	 * Relaxed loads: the slots are independent monotonic counters, so a sum
	 * taken while workers add is some value between the sums before and
	 * after; no ordering with other memory is promised or needed.
	 */
	for (unsigned int w = 0; w < CRDT_MAX_WORKERS; w++)
		(void)add_saturating(&sum, atomic_load_explicit(&gw->w[w], memory_order_relaxed));
	return sum;
}
