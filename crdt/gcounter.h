/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * G-Counter: a grow-only counter with one slot per replica.
 *
 * Overflow policy: SATURATE. A slot never wraps: an increment that would pass
 * UINT64_MAX leaves the slot at UINT64_MAX and returns -ERANGE; the value
 * (sum of slots) saturates at UINT64_MAX too. Saturation keeps the merge a
 * join (max per slot), so replicas still converge.
 */
#ifndef BIDPLANE_GCOUNTER_H
#define BIDPLANE_GCOUNTER_H

#include <stdatomic.h>
#include <stdint.h>

#include "crdt_common.h"

struct gcounter {
	uint64_t slot[CRDT_MAX_REPLICAS];
};

void gcounter_init(struct gcounter *g);

/*
 * Adds n to replica's slot. When delta is not NULL, the new slot value is
 * also written into delta (other slots of delta untouched), so a caller can
 * collect a delta group across several mutations.
 * Returns 0, -EINVAL (replica out of range) or -ERANGE (saturated).
 */
int gcounter_add(struct gcounter *g, unsigned int replica, uint64_t n, struct gcounter *delta);

/* Sets replica's slot to max(slot, value): how a node publishes its own
 * per-worker sum into the replicated state. Returns 0 or -EINVAL. */
int gcounter_raise(struct gcounter *g, unsigned int replica, uint64_t value,
		   struct gcounter *delta);

/* Sum of all slots, saturated at UINT64_MAX. */
uint64_t gcounter_value(const struct gcounter *g);

/* into := into JOIN from (slot-wise max). */
void gcounter_merge(struct gcounter *into, const struct gcounter *from);

int gcounter_equal(const struct gcounter *a, const struct gcounter *b);

/*
 * Per-worker slots of one node's counter. Worker w writes only slot w, with
 * a relaxed atomic store, so readers on other threads see whole values;
 * gcounter_workers_sum may run on any thread.
 */
struct gcounter_workers {
	_Atomic uint64_t w[CRDT_MAX_WORKERS];
};

/* Zeroes every worker slot; call before any worker runs. */
void gcounter_workers_init(struct gcounter_workers *gw);

/* Called only by worker `worker`. Saturates like gcounter_add; -ERANGE then.
 * Returns 0, -EINVAL (worker out of range) or -ERANGE. */
int gcounter_workers_add(struct gcounter_workers *gw, unsigned int worker, uint64_t n);
uint64_t gcounter_workers_sum(const struct gcounter_workers *gw);

#endif
