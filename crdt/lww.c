/* SPDX-License-Identifier: BSD-3-Clause */
#include "lww.h"

#include <string.h>

/* Total order of writes: later stamp, then higher node, then higher value. */
static int lww_cmp(const struct lww *a, const struct lww *b)
{
	if (a->hlc != b->hlc)
		return (a->hlc > b->hlc) - (a->hlc < b->hlc);
	if (a->node != b->node)
		return (a->node > b->node) - (a->node < b->node);
	return (a->value > b->value) - (a->value < b->value);
}

void lww_init(struct lww *r)
{
	memset(r, 0, sizeof(*r));
}

void lww_set(struct lww *r, uint64_t hlc, uint16_t node, uint64_t value, struct lww *delta)
{
	const struct lww write = {.hlc = hlc, .value = value, .node = node};

	/*
	 * Joined, not assigned: with the fresh stamp the caller promises this
	 * is an assignment, and a stale stamp can then never move the register
	 * backwards (a mutation must be an inflation for deltas to converge).
	 */
	lww_merge(r, &write);
	if (delta != NULL)
		*delta = write;
}

void lww_merge(struct lww *into, const struct lww *from)
{
	if (lww_cmp(from, into) > 0)
		*into = *from;
}

/* Field by field, not through lww_cmp, so tests can hold one against the other. */
int lww_equal(const struct lww *a, const struct lww *b)
{
	return a->hlc == b->hlc && a->value == b->value && a->node == b->node;
}
