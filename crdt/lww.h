/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Last-writer-wins register of a 64-bit value. The write with the later HLC
 * stamp wins; equal stamps are broken by the higher node id, then by the
 * higher value (so merge stays a join even on inconsistent input).
 */
#ifndef BIDPLANE_LWW_H
#define BIDPLANE_LWW_H

#include <stdint.h>

struct lww {
	uint64_t hlc; /* 0: never written */
	uint64_t value;
	uint16_t node;
};

void lww_init(struct lww *r);
/* A local write; the caller supplies a fresh stamp. delta may be NULL. */
void lww_set(struct lww *r, uint64_t hlc, uint16_t node, uint64_t value, struct lww *delta);
void lww_merge(struct lww *into, const struct lww *from);
int lww_equal(const struct lww *a, const struct lww *b);

#endif
