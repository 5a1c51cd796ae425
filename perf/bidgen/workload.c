/* SPDX-License-Identifier: BSD-3-Clause */
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t workload_random(struct workload *w)
{
	uint64_t *s = w->rng;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static double unit(struct workload *w)
{
	return (double)(workload_random(w) >> 11) * 0x1.0p-53;
}

int workload_init(struct workload *w, const struct workload_params *p)
{
	memset(w, 0, sizeof(*w));
	double sum =
	    p->dup_ratio + p->conflict_ratio + p->bad_ratio + p->query_ratio + p->watch_ratio;
	if (p->first_auction == 0 || p->last_auction < p->first_auction || p->bidders == 0 ||
	    sum > 1.0 || p->dup_ratio < 0 || p->conflict_ratio < 0 || p->bad_ratio < 0 ||
	    p->query_ratio < 0 || p->watch_ratio < 0 || p->zipf_s < 0)
		return -EINVAL;
	w->p = *p;
	w->nauctions = p->last_auction - p->first_auction + 1;
	if (w->nauctions > (1u << 24))
		return -EINVAL;
	uint64_t x = p->seed ? p->seed : 1;
	for (int i = 0; i < 4; i++) {
		x += UINT64_C(0x9E3779B97F4A7C15);
		uint64_t z = x;
		z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
		w->rng[i] = z ^ (z >> 31);
	}
	w->next_amount = calloc(w->nauctions, sizeof(uint64_t));
	if (!w->next_amount)
		return -ENOMEM;
	for (uint64_t i = 0; i < w->nauctions; i++)
		w->next_amount[i] = 100;
	if (p->zipf_s > 0) {
		w->zipf_cdf = malloc(w->nauctions * sizeof(double));
		if (!w->zipf_cdf) {
			workload_fini(w);
			return -ENOMEM;
		}
		double total = 0;
		for (uint64_t i = 0; i < w->nauctions; i++) {
			total += 1.0 / pow((double)(i + 1), p->zipf_s);
			w->zipf_cdf[i] = total;
		}
		for (uint64_t i = 0; i < w->nauctions; i++)
			w->zipf_cdf[i] /= total;
	}
	return 0;
}

void workload_fini(struct workload *w)
{
	free(w->zipf_cdf);
	free(w->next_amount);
	w->zipf_cdf = NULL;
	w->next_amount = NULL;
}

enum req_kind workload_next_kind(struct workload *w)
{
	double u = unit(w);
	const struct workload_params *p = &w->p;
	if ((u -= p->dup_ratio) < 0)
		return KIND_DUP;
	if ((u -= p->conflict_ratio) < 0)
		return KIND_CONFLICT;
	if ((u -= p->query_ratio) < 0)
		return KIND_QUERY;
	if ((u -= p->watch_ratio) < 0)
		return KIND_WATCH;
	if ((u -= p->bad_ratio) < 0)
		return (enum req_kind)(KIND_BAD_MAGIC + workload_random(w) % 5);
	return KIND_BID;
}

uint64_t workload_auction(struct workload *w)
{
	if (!w->zipf_cdf)
		return w->p.first_auction + workload_random(w) % w->nauctions;
	double u = unit(w);
	uint64_t lo = 0, hi = w->nauctions - 1;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (w->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return w->p.first_auction + lo;
}

uint64_t workload_amount(struct workload *w, uint64_t auction)
{
	uint64_t *next = &w->next_amount[auction - w->p.first_auction];
	uint64_t r = workload_random(w);
	if (r % 4 == 0 && *next > 10) /* a quarter of the bids come in low */
		return *next - 1 - (r >> 8) % 10;
	*next += 1 + (r >> 8) % 20;
	if (*next > (UINT64_C(1) << 62))
		*next = 100;
	return *next;
}

uint64_t workload_bidder(struct workload *w)
{
	return 1 + workload_random(w) % w->p.bidders;
}
