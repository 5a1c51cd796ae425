/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The idempotency table alone: ns per dedup_hash, per claim + finish of a
 * new key (one at a time, and over bursts of 32 with the hash and prefetch
 * first, as the packet path does), and per replay of a recent key. The
 * table is sized like the node's: `rate` new keys per second for `seconds`
 * (default: the node's defaults, 100000 x 10); the clock advances one
 * window per rate x seconds keys, so the run is at exactly the rated load.
 *   build/perf/bench_dedup [rate] [seconds]
 * Printed, never asserted. Single-threaded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dedup.h"

#define BURST 32

static struct dedup_key key_of(uint64_t i)
{
	return (struct dedup_key){
	    .actor = 1 + i % 100003, .request_id = i * 0x9E3779B97F4A7C15ull, .kind = DEDUP_BID};
}

static uint64_t new_keys, refused;

/* Claim + finish of key i at time i (the window is keys_per_window). */
static void claim_new(struct dedup_table *t, uint64_t i, uint64_t hash)
{
	struct dedup_key k = key_of(i);
	struct dedup_claim c;
	struct dedup_answer a, fin = {.auction_id = i, .detail = i, .hlc = i, .status = 0};
	if (dedup_claim(t, &k, hash, i, &c, &a) == DEDUP_NEW)
		dedup_finish(t, &c, &fin, i);
	else
		refused++;
}

/* Key i of a burst: the first of a burst hashes and prefetches all 32. */
static void claim_in_burst(struct dedup_table *t, uint64_t i)
{
	static uint64_t h[BURST];
	if (i % BURST == 0)
		for (int j = 0; j < BURST; j++) {
			struct dedup_key k = key_of(i + (uint64_t)j);
			h[j] = dedup_hash(t, &k);
			dedup_prefetch(t, h[j]);
		}
	claim_new(t, i, h[i % BURST]);
}

int main(int argc, char **argv)
{
	uint64_t rate = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
	uint64_t seconds = argc > 2 ? strtoull(argv[2], NULL, 10) : 10;
	uint64_t keys = rate * seconds;
	struct dedup_params p = {.window = keys, .keys = keys};
	struct dedup_table *t = dedup_create(&p);
	if (!t) {
		fprintf(stderr, "bench_dedup: cannot create a table for %" PRIu64 " keys\n", keys);
		return 1;
	}
	printf("table: %" PRIu64 " keys per window, %" PRIu64 " entries, %zu bytes "
	       "(%d per entry, %.0f per key)\n",
	       keys, dedup_capacity(t), dedup_bytes(&p), DEDUP_ENTRY_BYTES,
	       (double)dedup_bytes(&p) / (double)keys);

	/* Two windows first, so the runs below evict like a node in steady
	 * state instead of filling an empty table. */
	for (new_keys = 0; new_keys < 2 * keys; new_keys++) {
		struct dedup_key k = key_of(new_keys);
		claim_new(t, new_keys, dedup_hash(t, &k));
	}
	const uint64_t iters = 1000000;
	uint64_t sink = 0;
	BENCH("dedup_hash", iters, {
		struct dedup_key k = key_of(i);
		sink += dedup_hash(t, &k);
	});
	bench_sink(sink);
	refused = 0;
	BENCH("claim+finish, new key", iters, {
		struct dedup_key k = key_of(new_keys);
		claim_new(t, new_keys, dedup_hash(t, &k));
		new_keys++;
	});
	new_keys += BURST - new_keys % BURST;
	BENCH("claim+finish, new, in bursts", iters, {
		claim_in_burst(t, new_keys);
		new_keys++;
	});
	/* Just answered keys, again: the replay of a retransmission (the
	 * last 65536, or half a window when less). */
	uint64_t recent = keys / 2 < 65536 ? keys / 2 : 65536;
	BENCH("claim of a recent key (DONE)", iters, {
		uint64_t j = new_keys - 1 - i % recent;
		struct dedup_key k = key_of(j);
		struct dedup_claim c;
		struct dedup_answer a;
		sink += dedup_claim(t, &k, dedup_hash(t, &k), new_keys, &c, &a);
	});
	bench_sink(sink);
	printf("refused (window full) during the new-key runs: %" PRIu64 " of %" PRIu64 "\n",
	       refused, (uint64_t)BENCH_RUNS * 2 * iters);
	dedup_destroy(t);
	return 0;
}
