/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PN-Counter: two G-Counters, increments (p) and decrements (n).
 * The value is p - n as a signed 64-bit number, clamped to INT64 range;
 * pncounter_value_floor0 gives max(0, value), the protocol's "viewers".
 * Overflow policy: each half SATURATES as a G-Counter does (-ERANGE).
 */
#ifndef BIDPLANE_PNCOUNTER_H
#define BIDPLANE_PNCOUNTER_H

#include <stdint.h>

#include "gcounter.h"

struct pncounter {
	struct gcounter p;
	struct gcounter n;
};

void pncounter_init(struct pncounter *c);
/* delta may be NULL; as gcounter_add. */
int pncounter_inc(struct pncounter *c, unsigned int replica, uint64_t k, struct pncounter *delta);
int pncounter_dec(struct pncounter *c, unsigned int replica, uint64_t k, struct pncounter *delta);
int64_t pncounter_value(const struct pncounter *c);
uint64_t pncounter_value_floor0(const struct pncounter *c);
void pncounter_merge(struct pncounter *into, const struct pncounter *from);
int pncounter_equal(const struct pncounter *a, const struct pncounter *b);

#endif
