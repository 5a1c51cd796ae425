/* SPDX-License-Identifier: BSD-3-Clause */
#include "histogram.h"

#include <string.h>

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned int bucket_of(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned int)v;
	unsigned int msb = 63 - (unsigned int)__builtin_clzll(v);
	unsigned int shift = msb - HIST_SUB_BITS;
	unsigned int sub = (unsigned int)(v >> shift) & (HIST_SUB - 1);
	return (shift + 1) * HIST_SUB + sub;
}

/* The largest value that falls into bucket b. */
static uint64_t bucket_top(unsigned int b)
{
	if (b < 2 * HIST_SUB)
		return b;
	unsigned int shift = b / HIST_SUB - 1;
	uint64_t base = (uint64_t)(HIST_SUB + b % HIST_SUB) << shift;
	return base + ((UINT64_C(1) << shift) - 1);
}

void hist_record(struct histogram *h, uint64_t v)
{
	h->bucket[bucket_of(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

uint64_t hist_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)((p / 100.0) * (double)h->count + 0.999999);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned int b = 0; b < HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			uint64_t top = bucket_top(b);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
