/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Random CRDT values for the property tests, biased towards the edges.
 *
 * Uniform 64-bit draws almost never collide and almost never sit next to
 * UINT64_MAX, yet ties (equal amounts, stamps, nodes) and saturation are
 * where merges go wrong. So each case draws a small palette of edge-biased
 * values and most fields are picked from it: values in one case repeat
 * often, and 0, 1, UINT64_MAX and their neighbours come up in every run.
 */
#ifndef BIDPLANE_TESTS_CRDT_GEN_H
#define BIDPLANE_TESTS_CRDT_GEN_H

#include <stdint.h>

#include "prop.h"
#include "bidmax.h"
#include "gcounter.h"
#include "lww.h"
#include "pncounter.h"

#define GEN_PALETTE 4

struct gen {
	struct prop_rng rng;
	uint64_t palette[GEN_PALETTE];
};

/*
 * Seeds g from the run's base seed and a stream name (FNV-1a), so each
 * property draws its own sequence yet replays from BIDPLANE_SEED alone.
 */
static inline void gen_seed(struct gen *g, const char *stream)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *stream; stream++)
		h = (h ^ (uint8_t)*stream) * UINT64_C(0x100000001b3);
	prop_seed(&g->rng, prop_base_seed() ^ h);
}

static inline uint64_t gen_edge_u64(struct prop_rng *r)
{
	switch (prop_below(r, 8)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT64_MAX;
	case 3:
		return UINT64_MAX - 1 - prop_below(r, 3);
	case 4:
		return prop_below(r, 16);
	case 5:
		return (uint64_t)INT64_MAX - 1 + prop_below(r, 3); /* around 2^63 */
	default:
		return prop_next(r);
	}
}

/* Starts a new case: a fresh palette shared by everything the case draws. */
static inline void gen_case(struct gen *g)
{
	for (int i = 0; i < GEN_PALETTE; i++)
		g->palette[i] = gen_edge_u64(&g->rng);
}

static inline uint64_t gen_u64(struct gen *g)
{
	if (prop_below(&g->rng, 4) != 0)
		return g->palette[prop_below(&g->rng, GEN_PALETTE)];
	return gen_edge_u64(&g->rng);
}

static inline uint16_t gen_node(struct gen *g)
{
	static const uint16_t edges[] = {0, 1, 2, UINT16_MAX};

	if (prop_below(&g->rng, 5) != 0)
		return edges[prop_below(&g->rng, sizeof(edges) / sizeof(edges[0]))];
	return (uint16_t)prop_next(&g->rng);
}

static inline unsigned int gen_replica(struct gen *g)
{
	switch (prop_below(&g->rng, 4)) {
	case 0:
		return 0;
	case 1:
		return CRDT_MAX_REPLICAS - 1;
	default:
		return (unsigned int)prop_below(&g->rng, CRDT_MAX_REPLICAS);
	}
}

/* From empty to fully populated: density d fills a slot with odds d/4. */
static inline void gen_gcounter(struct gen *g, struct gcounter *out)
{
	uint64_t density = prop_below(&g->rng, 5);

	gcounter_init(out);
	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++)
		if (prop_below(&g->rng, 4) < density)
			out->slot[r] = gen_u64(g);
}

static inline void gen_pncounter(struct gen *g, struct pncounter *out)
{
	gen_gcounter(g, &out->p);
	gen_gcounter(g, &out->n);
}

/* A bid (amount 1..BID_AMOUNT_MAX) or, when the amount drawn is 0, the
 * empty register. Draws above the bound fold onto it, so that the edges
 * UINT64_MAX, UINT64_MAX-1 become BID_AMOUNT_MAX, BID_AMOUNT_MAX-1. */
static inline void gen_bid(struct gen *g, struct bid *out)
{
	bidmax_init(out);
	out->amount = gen_u64(g);
	if (out->amount > BID_AMOUNT_MAX)
		out->amount -= (uint64_t)BID_AMOUNT_MAX + 1;
	if (out->amount == 0)
		return;
	out->hlc = gen_u64(g);
	out->bidder = gen_u64(g);
	out->node = gen_node(g);
}

static inline void gen_lww(struct gen *g, struct lww *out)
{
	lww_init(out);
	out->hlc = gen_u64(g);
	out->value = gen_u64(g);
	out->node = gen_node(g);
}

#endif
