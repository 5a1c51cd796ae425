/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What bidgen sends next: the request mix (bids, duplicates, conflicts,
 * queries, watches, malformed variants), which auction (uniform or zipf),
 * and bid amounts that rise per auction so a realistic share of bids wins.
 * Deterministic for a seed. Memory is allocated once by workload_init.
 * Single-threaded.
 */
#ifndef BIDGEN_WORKLOAD_H
#define BIDGEN_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

enum req_kind {
	KIND_BID = 0,
	KIND_DUP,      /* exact retransmission of an answered bid: REPLAYED */
	KIND_CONFLICT, /* an answered bid's key with another amount: CONFLICT */
	KIND_QUERY,
	KIND_WATCH,
	KIND_BAD_MAGIC,	  /* no reply */
	KIND_BAD_RANDOM,  /* random bytes, never the magic: no reply */
	KIND_BAD_LENGTH,  /* MALFORMED */
	KIND_BAD_ZERO,	  /* a zero field: MALFORMED */
	KIND_BAD_VERSION, /* UNSUPPORTED_VERSION */
	KIND_COUNT
};

struct workload_params {
	uint64_t first_auction;
	uint64_t last_auction;
	uint64_t bidders;
	double zipf_s; /* 0: uniform */
	double dup_ratio;
	double conflict_ratio;
	double bad_ratio;
	double query_ratio;
	double watch_ratio;
	uint64_t seed;
};

struct workload {
	struct workload_params p;
	uint64_t nauctions;
	double *zipf_cdf;      /* nauctions entries when zipf_s > 0 */
	uint64_t *next_amount; /* per auction */
	uint64_t rng[4];
};

/* 0, or -EINVAL (bad ratios/range) / -ENOMEM. */
int workload_init(struct workload *w, const struct workload_params *p);
void workload_fini(struct workload *w);

enum req_kind workload_next_kind(struct workload *w);
uint64_t workload_auction(struct workload *w);
/* A bid amount for the auction: mostly rising (likely to lead), sometimes
 * below the last one sent (likely TOO_LOW). */
uint64_t workload_amount(struct workload *w, uint64_t auction);
uint64_t workload_bidder(struct workload *w);
uint64_t workload_random(struct workload *w);

#endif
