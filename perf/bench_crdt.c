/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRDT micro-benchmarks: ns per merge, per-worker add, bid comparison and
 * encode+decode round trip of each type. Inputs rotate through a table of
 * random states so that no call sees the same operands twice in a row;
 * merges go into a small table of accumulators, as a node merges deltas into
 * its auctions.
 */
#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "crdt_codec.h"

#define ITERS  2000000u
#define STATES 256u /* power of two */
#define MASK   (STATES - 1)

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Random values (kept far from saturation) in the first `populated` slots. */
static void fill_gcounter(struct gcounter *g, unsigned int populated)
{
	gcounter_init(g);
	for (unsigned int r = 0; r < populated; r++)
		g->slot[r] = rnd() >> 8;
}

static struct gcounter gc_from[STATES], gc_into[STATES];
static struct pncounter pn_from[STATES], pn_into[STATES];
static struct bid bids[STATES], bid_into[STATES];
static struct lww lwws[STATES], lww_into[STATES];
static struct gcounter_workers workers;

static void bench_counter_merges(unsigned int populated, const char *gc_name, const char *pn_name)
{
	for (unsigned int k = 0; k < STATES; k++) {
		fill_gcounter(&gc_from[k], populated);
		fill_gcounter(&gc_into[k], populated);
		fill_gcounter(&pn_from[k].p, populated);
		fill_gcounter(&pn_from[k].n, populated);
		fill_gcounter(&pn_into[k].p, populated);
		fill_gcounter(&pn_into[k].n, populated);
	}
	BENCH(gc_name, ITERS, gcounter_merge(&gc_into[i & MASK], &gc_from[(i * 7) & MASK]));
	BENCH(pn_name, ITERS, pncounter_merge(&pn_into[i & MASK], &pn_from[(i * 7) & MASK]));
}

static void bench_registers(void)
{
	for (unsigned int k = 0; k < STATES; k++) {
		/* Few distinct amounts and stamps, so the tie-breaks run too. */
		bids[k] = (struct bid){.amount = 1 + rnd() % 8,
				       .hlc = rnd() % 4,
				       .bidder = rnd(),
				       .node = (uint16_t)(rnd() % 3)};
		lwws[k] =
		    (struct lww){.hlc = rnd() % 8, .value = rnd(), .node = (uint16_t)(rnd() % 3)};
		bidmax_init(&bid_into[k]);
		lww_init(&lww_into[k]);
	}
	BENCH("bid_cmp", ITERS,
	      bench_sink((uint64_t)bid_cmp(&bids[i & MASK], &bids[(i + 1) & MASK])));
	BENCH("bidmax_merge", ITERS,
	      bench_sink((uint64_t)bidmax_merge(&bid_into[i & MASK], &bids[(i * 7) & MASK])));
	BENCH("lww_merge", ITERS, lww_merge(&lww_into[i & MASK], &lwws[(i * 7) & MASK]));
}

static void bench_workers(void)
{
	gcounter_workers_init(&workers);
	BENCH("gcounter_workers_add", ITERS,
	      gcounter_workers_add(&workers, (unsigned int)(i & 7), 1));
	BENCH("gcounter_workers_sum", ITERS, bench_sink(gcounter_workers_sum(&workers)));
}

static void bench_codec(void)
{
	uint8_t buf[CRDT_PNCOUNTER_MAX_LEN];
	struct gcounter gc;
	struct pncounter pn;
	struct bid bid;
	struct lww lww;

	/* All slots populated: the longest encodings. */
	for (unsigned int k = 0; k < STATES; k++) {
		fill_gcounter(&gc_from[k], CRDT_MAX_REPLICAS);
		fill_gcounter(&pn_from[k].p, CRDT_MAX_REPLICAS);
		fill_gcounter(&pn_from[k].n, CRDT_MAX_REPLICAS);
	}
	BENCH("gcounter encode+decode (16)", ITERS / 4, {
		int n = gcounter_encode(&gc_from[i & MASK], buf, sizeof(buf));
		bench_sink((uint64_t)gcounter_decode(buf, (size_t)n, &gc));
	});
	BENCH("pncounter encode+decode (16)", ITERS / 4, {
		int n = pncounter_encode(&pn_from[i & MASK], buf, sizeof(buf));
		bench_sink((uint64_t)pncounter_decode(buf, (size_t)n, &pn));
	});
	BENCH("bidmax encode+decode", ITERS, {
		int n = bidmax_encode(&bids[i & MASK], buf, sizeof(buf));
		bench_sink((uint64_t)bidmax_decode(buf, (size_t)n, &bid));
	});
	BENCH("lww encode+decode", ITERS, {
		int n = lww_encode(&lwws[i & MASK], buf, sizeof(buf));
		bench_sink((uint64_t)lww_decode(buf, (size_t)n, &lww));
	});
}

int main(void)
{
	bench_counter_merges(CRDT_MAX_REPLICAS, "gcounter_merge (16 slots)",
			     "pncounter_merge (16+16 slots)");
	bench_counter_merges(2, "gcounter_merge (2 slots)", "pncounter_merge (2+2 slots)");
	bench_registers();
	bench_workers();
	bench_codec();
	return 0;
}
