/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear latency histogram: exact below 64, then 32 linear sub-buckets
 * per power of two (relative error below 3.2%). Fixed memory, no
 * allocation, O(1) record. Single-threaded.
 */
#ifndef BIDGEN_HISTOGRAM_H
#define BIDGEN_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (64 * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t max;
	uint64_t sum;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t v);
/* The value at percentile p (0 < p <= 100): an upper bound of its bucket,
 * never above the maximum seen. 0 when empty. */
uint64_t hist_percentile(const struct histogram *h, double p);

#endif
