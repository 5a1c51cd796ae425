/* SPDX-License-Identifier: BSD-3-Clause */
#include "pncounter.h"

#include <stddef.h>

void pncounter_init(struct pncounter *c)
{
	gcounter_init(&c->p);
	gcounter_init(&c->n);
}

int pncounter_inc(struct pncounter *c, unsigned int replica, uint64_t k, struct pncounter *delta)
{
	return gcounter_add(&c->p, replica, k, delta != NULL ? &delta->p : NULL);
}

int pncounter_dec(struct pncounter *c, unsigned int replica, uint64_t k, struct pncounter *delta)
{
	return gcounter_add(&c->n, replica, k, delta != NULL ? &delta->n : NULL);
}

int64_t pncounter_value(const struct pncounter *c)
{
	uint64_t p = gcounter_value(&c->p);
	uint64_t n = gcounter_value(&c->n);
	uint64_t magnitude;

	/* p and n are each in [0, UINT64_MAX]; their difference may not fit. */
	if (p >= n) {
		magnitude = p - n;
		return magnitude > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)magnitude;
	}
	magnitude = n - p;
	if (magnitude > (uint64_t)INT64_MAX)
		return INT64_MIN;
	return -(int64_t)magnitude;
}

uint64_t pncounter_value_floor0(const struct pncounter *c)
{
	int64_t v = pncounter_value(c);

	return v > 0 ? (uint64_t)v : 0;
}

void pncounter_merge(struct pncounter *into, const struct pncounter *from)
{
	gcounter_merge(&into->p, &from->p);
	gcounter_merge(&into->n, &from->n);
}

int pncounter_equal(const struct pncounter *a, const struct pncounter *b)
{
	return gcounter_equal(&a->p, &b->p) && gcounter_equal(&a->n, &b->n);
}
