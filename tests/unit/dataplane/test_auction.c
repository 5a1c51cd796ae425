/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The auction engine under EAL (no ports, no hugepages): auction rules,
 * the per-auction total order with two lcores racing on one auction, the
 * close-then-grace-period rule, and RCU reclamation of replaced records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "auction.h"
#include "auction_bid.h"
#include "prop.h"
#include "runtime_dir.h"

#define RACERS	      2
#define BIDS_PER_RACE 200000
/* Reader ids: the racers, the control reader, and one that stalls. */
#define CONTROL_READER RACERS
#define STALLED_READER (RACERS + 1)
#define READERS	       (RACERS + 2)
#define RETIRE_CAP     1024

static struct auction_table table;
static struct hlc_domain domain;
static struct hlc_clock clocks[RACERS + 1];
static struct bid_ctx ctxs[RACERS + 1];
static struct runtime_dir runtime;

struct accepted {
	uint64_t amount;
	uint64_t hlc;
};

struct race {
	struct auction *a;
	unsigned int reader;
	uint64_t seed;
	unsigned int n;
	struct accepted *out;
	uint64_t replies_inconsistent;
};

static struct race races[RACERS];

/* Bids rising amounts on one auction; records what it was told. */
static int racer(void *arg)
{
	struct race *r = arg;
	struct prop_rng rng;
	prop_seed(&rng, r->seed);
	struct rte_rcu_qsbr *qs = table.qsbr;
	rte_rcu_qsbr_thread_register(qs, r->reader);
	rte_rcu_qsbr_thread_online(qs, r->reader);
	uint64_t amount = 1;
	for (unsigned int i = 0; i < BIDS_PER_RACE; i++) {
		amount += 1 + prop_below(&rng, 3);
		struct bid_outcome o;
		auction_place_bid(r->a, &ctxs[r->reader], 100 + r->reader, amount, &o);
		bid_ctx_end_burst(&ctxs[r->reader]);
		if (o.status == BP_ACCEPTED) {
			r->out[r->n++] = (struct accepted){amount, o.hlc};
			if (o.leading.amount != amount || o.leading.hlc != o.hlc)
				r->replies_inconsistent++;
		} else if (o.status == BP_TOO_LOW) {
			if (o.leading.amount < amount)
				amount = o.leading.amount; /* catch up */
		}
		rte_rcu_qsbr_quiescent(qs, r->reader);
		bid_ctx_reclaim(&ctxs[r->reader]);
	}
	rte_rcu_qsbr_thread_offline(qs, r->reader);
	rte_rcu_qsbr_thread_unregister(qs, r->reader);
	return 0;
}

static int cmp_hlc(const void *a, const void *b)
{
	const struct accepted *x = a, *y = b;
	return (x->hlc > y->hlc) - (x->hlc < y->hlc);
}

static void accepted_bids_form_one_order_under_a_race(void **state)
{
	(void)state;
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&table, 1, 1, 1, far), 0);
	struct auction *a = auction_lookup(&table, 1);
	assert_non_null(a);

	uint64_t seed = prop_base_seed();
	for (unsigned int i = 0; i < RACERS; i++)
		races[i] = (struct race){.a = a,
					 .reader = i,
					 .seed = seed + i,
					 .out = calloc(BIDS_PER_RACE, sizeof(struct accepted))};
	/* One racer on the worker lcore, one on this (main) lcore. */
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	assert_int_equal(rte_eal_remote_launch(racer, &races[0], lcore), 0);
	racer(&races[1]);
	rte_eal_mp_wait_lcore();

	unsigned int total = races[0].n + races[1].n;
	struct accepted *all = calloc(total, sizeof(*all));
	memcpy(all, races[0].out, races[0].n * sizeof(*all));
	memcpy(all + races[0].n, races[1].out, races[1].n * sizeof(*all));
	qsort(all, total, sizeof(*all), cmp_hlc);
	for (unsigned int i = 1; i < total; i++) {
		if (!(all[i].amount > all[i - 1].amount && all[i].hlc > all[i - 1].hlc))
			prop_report("accepted order", seed, i);
		assert_true(all[i].amount > all[i - 1].amount);
		assert_true(all[i].hlc > all[i - 1].hlc);
	}
	assert_int_equal(races[0].replies_inconsistent + races[1].replies_inconsistent, 0);
	struct bid lead = auction_leading(a);
	assert_int_equal(lead.amount, all[total - 1].amount);
	assert_int_equal(lead.hlc, all[total - 1].hlc);
	assert_int_equal(auction_worker_sum(&table, a, AUCTION_BIDS), total);
	printf("accepted %u of %u bids; CAS retries %lu + %lu\n", total, RACERS * BIDS_PER_RACE,
	       (unsigned long)ctxs[0].cas_retries, (unsigned long)ctxs[1].cas_retries);
	free(all);
	for (unsigned int i = 0; i < RACERS; i++)
		free(races[i].out);
}

static void auction_rules(void **state)
{
	(void)state;
	unsigned int me = RACERS; /* the control reader */
	struct rte_rcu_qsbr *qs = table.qsbr;
	rte_rcu_qsbr_thread_register(qs, me);
	rte_rcu_qsbr_thread_online(qs, me);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&table, 2, 100, 10, far), 0);
	assert_int_equal(auction_open(&table, 2, 100, 10, far), -EEXIST);
	assert_int_equal(auction_open(&table, 3, 0, 10, far), -EINVAL);
	/* No bid exceeds BID_AMOUNT_MAX: a reserve above it is unwinnable. */
	assert_int_equal(auction_open(&table, 3, (uint64_t)BID_AMOUNT_MAX + 1, 10, far), -ERANGE);
	assert_int_equal(auction_open(&table, 3, UINT64_MAX, 10, far), -ERANGE);
	assert_int_equal(auction_open(&table, 3, 100, UINT64_MAX, far), -ERANGE);
	assert_null(auction_lookup(&table, 3));
	struct auction *a = auction_lookup(&table, 2);
	struct bid_outcome o;

	auction_place_bid(a, &ctxs[me], 7, 99, &o);
	assert_int_equal(o.status, BP_TOO_LOW);
	assert_int_equal(o.leading.amount, 0);
	assert_int_equal(o.hlc, 0); /* only accepted bids are stamped */
	auction_place_bid(a, &ctxs[me], 7, 100, &o);
	assert_int_equal(o.status, BP_ACCEPTED);
	auction_place_bid(a, &ctxs[me], 8, 109, &o);
	assert_int_equal(o.status, BP_TOO_LOW);
	assert_int_equal(o.leading.bidder, 7);
	auction_place_bid(a, &ctxs[me], 8, UINT64_C(1) << 62, &o);
	assert_int_equal(o.status, BP_ACCEPTED);
	/* increment past the leading amount saturates instead of wrapping */
	auction_place_bid(a, &ctxs[me], 9, 5, &o);
	assert_int_equal(o.status, BP_TOO_LOW);

	/* Closed: after close and a grace period nothing is accepted. */
	assert_int_equal(auction_close(&table, a), 0);
	assert_int_equal(auction_close(&table, a), -EALREADY);
	rte_rcu_qsbr_synchronize(qs, me);
	auction_place_bid(a, &ctxs[me], 9, UINT64_C(1) << 62 | 1000, &o);
	assert_int_equal(o.status, BP_CLOSED);
	assert_int_equal(auction_leading(a).bidder, 8);

	/* Past its close time an open auction refuses bids by their stamp. */
	uint64_t past = hlc_wall_realtime(NULL) - 1;
	assert_int_equal(auction_open(&table, 4, 1, 1, past), 0);
	auction_place_bid(auction_lookup(&table, 4), &ctxs[me], 1, 10, &o);
	assert_int_equal(o.status, BP_CLOSED);
	/* ... and reports itself closed, before the control thread's tick. */
	struct bp_auction_state st = {0};
	auction_fill_state(&table, auction_lookup(&table, 4), past + 1, &st);
	assert_int_equal(st.phase, BP_PHASE_CLOSED);
	auction_fill_state(&table, auction_lookup(&table, 4), past - 1, &st);
	assert_int_equal(st.phase, BP_PHASE_OPEN);

	rte_rcu_qsbr_thread_offline(qs, me);
	rte_rcu_qsbr_thread_unregister(qs, me);
}

static void replaced_records_are_reclaimed(void **state)
{
	(void)state;
	unsigned int me = RACERS;
	struct rte_rcu_qsbr *qs = table.qsbr;
	unsigned int before = rte_mempool_avail_count(table.bid_pool);
	rte_rcu_qsbr_thread_register(qs, me);
	rte_rcu_qsbr_thread_online(qs, me);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	for (uint64_t id = 100; id < 200; id++) {
		assert_int_equal(auction_open(&table, id, 1, 1, far), 0);
		struct auction *a = auction_lookup(&table, id);
		struct bid_outcome o;
		for (uint64_t amt = 1; amt <= 5; amt++) {
			auction_place_bid(a, &ctxs[me], 1, amt, &o);
			assert_int_equal(o.status, BP_ACCEPTED);
		}
		bid_ctx_end_burst(&ctxs[me]);
		auction_close(&table, a);
		assert_int_equal(auction_remove(&table, a), 0);
		rte_rcu_qsbr_quiescent(qs, me);
	}
	assert_null(auction_lookup(&table, 150));
	rte_rcu_qsbr_thread_offline(qs, me);
	rte_rcu_qsbr_thread_unregister(qs, me);
	/* Everyone is quiescent now: reclaim what was deferred. */
	bid_ctx_reclaim(&ctxs[me]);
	for (int i = 0; i < 64; i++)
		bid_ctx_reclaim(&ctxs[me]);
	/* 500 records were taken, 400 retired by replacement: all of those
	 * must be back. The 100 last leaders leave with their auctions through
	 * the hash's own defer queue, which reclaims in batches on later
	 * writes, so up to 100 may still be pending. */
	unsigned int after = rte_mempool_avail_count(table.bid_pool);
	assert_true(after + 100 >= before);
}

/*
 * A reader that stays online without reporting quiescence (a preempted or
 * blocked thread) holds every grace period. Bids that would retire a record
 * then find the queue full and are answered OVERLOADED; nothing is lost, and
 * once the reader reports again every record comes back and bids are
 * accepted again.
 */
static void a_stalled_reader_slows_acceptance_and_never_leaks(void **state)
{
	(void)state;
	unsigned int me = CONTROL_READER;
	struct bid_ctx *c = &ctxs[me];
	struct rte_rcu_qsbr *qs = table.qsbr;
	rte_rcu_qsbr_thread_register(qs, me);
	rte_rcu_qsbr_thread_online(qs, me);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&table, 300, 1, 1, far), 0);
	struct auction *a = auction_lookup(&table, 300);
	struct bid_outcome o;
	uint64_t amount = 1;
	auction_place_bid(a, c, 1, amount++, &o); /* the first leader retires nothing */
	assert_int_equal(o.status, BP_ACCEPTED);
	bid_ctx_end_burst(c);
	rte_rcu_qsbr_quiescent(qs, me);
	while (retire_pending(&c->retired))
		bid_ctx_reclaim(c);
	unsigned int before = rte_mempool_avail_count(table.bid_pool);
	uint64_t full_before = c->retire_full;

	rte_rcu_qsbr_thread_register(qs, STALLED_READER);
	rte_rcu_qsbr_thread_online(qs, STALLED_READER);
	unsigned int accepted = 0, overloaded = 0;
	for (int i = 0; i < 3 * RETIRE_CAP; i++) {
		auction_place_bid(a, c, 1, amount, &o);
		if (o.status == BP_ACCEPTED) {
			accepted++;
			amount++;
		} else {
			assert_int_equal(o.status, BP_OVERLOADED);
			assert_int_equal(o.hlc, 0);
			overloaded++;
		}
		bid_ctx_end_burst(c);
		rte_rcu_qsbr_quiescent(qs, me);
		bid_ctx_reclaim(c);
	}
	/* The queue absorbs exactly its capacity, then sheds; no record is
	 * dropped on the floor. */
	assert_int_equal(accepted, RETIRE_CAP);
	assert_int_equal(overloaded, 2 * RETIRE_CAP);
	assert_int_equal(c->retire_full - full_before, 2 * RETIRE_CAP);
	assert_int_equal(retire_pending(&c->retired), RETIRE_CAP);
	assert_int_equal(rte_mempool_avail_count(table.bid_pool) + RETIRE_CAP, before);

	/* The stall ends: everything comes back, bids are accepted again. */
	rte_rcu_qsbr_quiescent(qs, STALLED_READER);
	bid_ctx_reclaim(c);
	assert_int_equal(retire_pending(&c->retired), 0);
	assert_int_equal(rte_mempool_avail_count(table.bid_pool), before);
	auction_place_bid(a, c, 1, amount, &o);
	assert_int_equal(o.status, BP_ACCEPTED);
	assert_int_equal(auction_leading(a).amount, amount);

	rte_rcu_qsbr_thread_offline(qs, STALLED_READER);
	rte_rcu_qsbr_thread_unregister(qs, STALLED_READER);
	rte_rcu_qsbr_thread_offline(qs, me);
	rte_rcu_qsbr_thread_unregister(qs, me);
}

/* HLC G8: a bid whose stamp would reach the durable ceiling is not
 * accepted (NOT_SERVING, counted), and is again once the limit moves. */
static void no_stamp_reaches_the_limit(void **state)
{
	(void)state;
	unsigned int me = CONTROL_READER;
	struct bid_ctx *c = &ctxs[me];
	rte_rcu_qsbr_thread_register(table.qsbr, me);
	rte_rcu_qsbr_thread_online(table.qsbr, me);
	uint64_t now = hlc_wall_realtime(NULL);
	assert_int_equal(auction_open(&table, 400, 1, 1, now + 3600 * 1000), 0);
	struct auction *a = auction_lookup(&table, 400);
	struct bid_outcome o;
	uint64_t refused = c->ceiling_refusals;
	hlc_domain_set_limit(&domain, hlc_make(now - 1000, 0)); /* behind the clock */
	auction_place_bid(a, c, 1, 10, &o);
	assert_int_equal(o.status, BP_NOT_SERVING);
	assert_int_equal(o.hlc, 0);
	assert_int_equal(c->ceiling_refusals, refused + 1);
	assert_int_equal(auction_leading(a).amount, 0);
	hlc_domain_set_limit(&domain, hlc_make(now + 60000, 0));
	auction_place_bid(a, c, 1, 10, &o);
	assert_int_equal(o.status, BP_ACCEPTED);
	assert_true(o.hlc < hlc_make(now + 60000, 0));
	hlc_domain_set_limit(&domain, 0);
	bid_ctx_end_burst(c);
	rte_rcu_qsbr_thread_offline(table.qsbr, me);
	rte_rcu_qsbr_thread_unregister(table.qsbr, me);
}

static int setup(void **state)
{
	(void)state;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=bp-ut-auction-%d", getpid());
	char *argv[] = {"test_auction",
			"--no-huge",
			"-m",
			"256",
			"-l",
			"0-1",
			"--no-pci",
			prefix,
			"--log-level=lib.*:warning",
			NULL};
	if (rte_eal_init(9, argv) < 0)
		return -1;
	runtime_dir_note(&runtime);
	if (hlc_domain_init(&domain, RACERS + 1, 500, NULL, NULL) != 0)
		return -1;
	if (auction_table_create(&table, "ut_auctions", 1024, READERS,
				 (RACERS + 1) * (RETIRE_CAP + 1), 0, SOCKET_ID_ANY) != 0)
		return -1;
	for (unsigned int i = 0; i <= RACERS; i++)
		if (hlc_clock_init(&clocks[i], &domain, i) != 0 ||
		    bid_ctx_init(&ctxs[i], &table, &clocks[i], i, 1, RETIRE_CAP) != 0)
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned int i = 0; i <= RACERS; i++)
		bid_ctx_fini(&ctxs[i]);
	auction_table_destroy(&table);
	rte_eal_cleanup();
	runtime_dir_remove(&runtime);
	return 0;
}

/* With peers, bid_count is the cluster's accepted bids less the copies a
 * node found to be a retry of a bid another node accepted first (dups),
 * never below 0. */
static void bid_count_less_duplicates(void **state)
{
	(void)state;
	struct auction_table cluster;
	assert_int_equal(
	    auction_table_create(&cluster, "ut_cluster", 16, READERS, 16, 3, SOCKET_ID_ANY), 0);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&cluster, 9, 100, 10, far), 0);
	struct auction *a = auction_lookup(&cluster, 9);
	struct auction_view v;
	atomic_store(auction_remote_slot(&cluster, a, AUCTION_BIDS, 1), 3);
	atomic_store(auction_remote_slot(&cluster, a, AUCTION_BIDS, 2), 2);
	auction_view(&cluster, a, 0, &v);
	assert_int_equal(v.bid_count, 5);
	atomic_store(auction_remote_slot(&cluster, a, AUCTION_DUPS, 0), 1);
	atomic_store(auction_remote_slot(&cluster, a, AUCTION_DUPS, 2), 1);
	auction_view(&cluster, a, 0, &v);
	assert_int_equal(v.bid_count, 3);
	/* The viewers' slots are apart from the dups'. */
	assert_int_equal(v.viewers, 0);
	atomic_store(auction_remote_slot(&cluster, a, AUCTION_DUPS, 1), 10);
	auction_view(&cluster, a, 0, &v);
	assert_int_equal(v.bid_count, 0);
	auction_table_destroy(&cluster);
}

static int count_one(struct auction *a, void *arg)
{
	(void)a;
	(*(unsigned int *)arg)++;
	return 0;
}

/* A bid context's counter slot is below the table's readers, the slots
 * auction_view sums: the last one counts, one past it is refused. */
static void counter_slots_are_the_readers(void **state)
{
	(void)state;
	struct auction_table t;
	assert_int_equal(auction_table_create(&t, "ut_slots", 16, 3, 16, 0, SOCKET_ID_ANY), 0);
	struct bid_ctx c;
	assert_int_equal(bid_ctx_init(&c, &t, &clocks[0], 3, 1, 16), -EINVAL);
	assert_int_equal(bid_ctx_init(&c, &t, &clocks[0], 2, 1, 16), 0);
	rte_rcu_qsbr_thread_register(t.qsbr, 2);
	rte_rcu_qsbr_thread_online(t.qsbr, 2);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&t, 5, 10, 1, far), 0);
	struct auction *a = auction_lookup(&t, 5);
	struct bid_outcome o;
	auction_place_bid(a, &c, 9, 10, &o);
	assert_int_equal(o.status, BP_ACCEPTED);
	auction_add_viewer(a, &c, 1);
	struct auction_view v;
	auction_view(&t, a, 0, &v);
	assert_int_equal(v.bid_count, 1);
	assert_int_equal(v.viewers, 1);
	rte_rcu_qsbr_thread_offline(t.qsbr, 2);
	rte_rcu_qsbr_thread_unregister(t.qsbr, 2);
	bid_ctx_fini(&c);
	auction_table_destroy(&t);
}

/* DPDK heap in use, all sockets (memzones and mempools come from it too). */
static size_t heap_allocated(void)
{
	size_t sum = 0;
	for (unsigned int i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats s;
		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) == 0)
			sum += s.heap_allocsz_bytes;
	}
	return sum;
}

/*
 * Bytes per auction of a full lone one-worker table (3 readers: the worker,
 * the control and the telemetry thread), measured as the DPDK heap the
 * table takes divided by its capacity: the auctions, the index, a
 * leading-bid record each and the defer queue. The goal for the
 * auction is 256 bytes; the whole table stays under 384 (640 and more with
 * 16 slots per counter and a mempool header per auction).
 */
static void memory_per_auction(void **state)
{
	(void)state;
	const uint32_t capacity = 65536;
	size_t before = heap_allocated();
	struct auction_table t;
	assert_int_equal(auction_table_create(&t, "ut_mem", capacity, 3, 0, 0, SOCKET_ID_ANY), 0);
	size_t table = heap_allocated() - before;
	printf("auction table of %u: %zu bytes of DPDK heap, %.1f per auction\n", capacity, table,
	       (double)table / capacity);
	assert_true(table / capacity <= 384);
	auction_table_destroy(&t);
}

/* Every reader's counter slots and the cluster's slots are apart: each
 * reader counts into its own, and the view adds them all up. */
static void readers_and_cluster_slots_are_apart(void **state)
{
	(void)state;
	enum { N_READERS = 5, N_REMOTE = 3 };
	struct auction_table t;
	assert_int_equal(
	    auction_table_create(&t, "ut_apart", 16, N_READERS, 16, N_REMOTE, SOCKET_ID_ANY), 0);
	uint64_t far = hlc_wall_realtime(NULL) + 3600 * 1000;
	assert_int_equal(auction_open(&t, 5, 10, 1, far), 0);
	struct auction *a = auction_lookup(&t, 5);
	for (unsigned int w = 0; w < N_READERS; w++) {
		for (unsigned int i = 0; i <= w; i++)
			atomic_fetch_add(auction_worker_slot(a, AUCTION_BIDS, w), 1);
		atomic_fetch_add(auction_worker_slot(a, AUCTION_VIEWERS_UP, w), 2);
		atomic_fetch_add(auction_worker_slot(a, AUCTION_VIEWERS_DOWN, w), 1);
	}
	for (unsigned int i = 0; i < N_REMOTE; i++)
		atomic_store(auction_remote_slot(&t, a, AUCTION_BIDS, i), 100);
	assert_int_equal(auction_worker_sum(&t, a, AUCTION_BIDS), 15);
	assert_int_equal(auction_worker_sum(&t, a, AUCTION_VIEWERS_UP), 10);
	assert_int_equal(auction_worker_sum(&t, a, AUCTION_VIEWERS_DOWN), 5);
	assert_int_equal(auction_remote_sum(&t, a, AUCTION_BIDS), 300);
	assert_int_equal(auction_remote_sum(&t, a, AUCTION_VIEWERS_UP), 0);
	struct auction_view v;
	auction_view(&t, a, 0, &v);
	assert_int_equal(v.bid_count, 315);
	assert_int_equal(v.viewers, 5);
	auction_table_destroy(&t);
}

/*
 * The auction index against a model: random opens and removes of ids from
 * a small range (so ids come back, tombstones are reused and cleaned, and
 * the index is rebuilt), plus ids that are never opened; every lookup,
 * single and bulk, agrees with the model; removed auctions come back to the
 * pool after their grace period, so churn never runs out of room.
 */
#define MODEL_IDS 192
static struct auction *model[MODEL_IDS];

static uint64_t model_id(unsigned int i)
{
	/* Spread over the whole 64-bit range, UINT64_MAX included. */
	return i == MODEL_IDS - 1 ? UINT64_MAX : (uint64_t)i * 0x10001 + 1;
}

static void index_matches_model(struct auction_table *t, struct prop_rng *rng)
{
	for (unsigned int i = 0; i < MODEL_IDS; i++)
		assert_ptr_equal(auction_lookup(t, model_id(i)), model[i]);
	assert_null(auction_lookup(t, 1ull << 63 | 12345));
	uint64_t ids[32];
	const uint64_t *idp[32];
	struct auction *out[32];
	unsigned int which[32];
	for (unsigned int j = 0; j < 32; j++) {
		which[j] = (unsigned int)prop_below(rng, MODEL_IDS);
		ids[j] = model_id(which[j]);
		idp[j] = &ids[j];
	}
	auction_lookup_bulk(t, idp, 32, out);
	for (unsigned int j = 0; j < 32; j++)
		assert_ptr_equal(out[j], model[which[j]]);
}

static void the_index_follows_a_model_through_churn(void **state)
{
	(void)state;
	struct auction_table t;
	assert_int_equal(auction_table_create(&t, "ut_index", 64, READERS, 16, 0, SOCKET_ID_ANY),
			 0);
	unsigned int me = RACERS;
	rte_rcu_qsbr_thread_register(t.qsbr, me);
	rte_rcu_qsbr_thread_online(t.qsbr, me);
	memset(model, 0, sizeof(model));
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	unsigned int open = 0;
	for (unsigned long step = 0; step < 40000; step++) {
		unsigned int i = (unsigned int)prop_below(&rng, MODEL_IDS);
		if (!model[i]) {
			int rc = auction_open(&t, model_id(i), 1, 1, UINT64_MAX / 2);
			if (open == 64) {
				assert_int_equal(rc, -ENOSPC);
				continue;
			}
			if (rc != 0)
				prop_report("open", seed, step);
			assert_int_equal(rc, 0);
			model[i] = auction_lookup(&t, model_id(i));
			assert_non_null(model[i]);
			assert_true(model[i]->id == model_id(i));
			open++;
		} else {
			assert_int_equal(auction_close(&t, model[i]), 0);
			assert_int_equal(auction_remove(&t, model[i]), 0);
			model[i] = NULL;
			open--;
		}
		rte_rcu_qsbr_quiescent(t.qsbr, me);
		if (step % 97 == 0)
			index_matches_model(&t, &rng);
	}
	index_matches_model(&t, &rng);
	unsigned int seen = 0;
	auction_iterate(&t, count_one, &seen);
	assert_int_equal(seen, open);
	printf("index: %u open, %lu rebuilds\n", open, (unsigned long)t.rebuilds);
	rte_rcu_qsbr_thread_offline(t.qsbr, me);
	rte_rcu_qsbr_thread_unregister(t.qsbr, me);
	auction_table_destroy(&t);
}

/* A reader on another lcore looks ids up while this thread opens and
 * removes them: whatever it finds is the auction of the id it asked for
 * (a reused slot is never taken for the old id). */
static _Atomic bool churn_done;
static struct auction_table churn_table;

static int churn_reader(void *arg)
{
	(void)arg;
	unsigned long *wrong = calloc(1, sizeof(*wrong));
	struct rte_rcu_qsbr *qs = churn_table.qsbr;
	rte_rcu_qsbr_thread_register(qs, 0);
	rte_rcu_qsbr_thread_online(qs, 0);
	for (uint64_t n = 0; !atomic_load(&churn_done); n++) {
		uint64_t id = n % 48 + 1;
		struct auction *a = auction_lookup(&churn_table, id);
		if (a && a->id != id)
			(*wrong)++;
		rte_rcu_qsbr_quiescent(qs, 0);
	}
	rte_rcu_qsbr_thread_offline(qs, 0);
	rte_rcu_qsbr_thread_unregister(qs, 0);
	races[0].replies_inconsistent = *wrong;
	free(wrong);
	return 0;
}

static void a_reader_never_finds_another_ids_auction(void **state)
{
	(void)state;
	assert_int_equal(
	    auction_table_create(&churn_table, "ut_churn", 32, READERS, 16, 0, SOCKET_ID_ANY), 0);
	unsigned int me = RACERS;
	rte_rcu_qsbr_thread_register(churn_table.qsbr, me);
	rte_rcu_qsbr_thread_online(churn_table.qsbr, me);
	atomic_store(&churn_done, false);
	races[0].replies_inconsistent = 0;
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	assert_int_equal(rte_eal_remote_launch(churn_reader, NULL, lcore), 0);
	struct auction *live[48] = {0};
	struct prop_rng rng;
	prop_seed(&rng, prop_base_seed());
	unsigned int open = 0;
	for (unsigned long step = 0; step < 200000; step++) {
		unsigned int i = (unsigned int)prop_below(&rng, 48);
		if (!live[i] && open < 32) {
			int rc = auction_open(&churn_table, i + 1, 1, 1, UINT64_MAX / 2);
			/* Removed auctions still in their grace period (the
			 * reader lcore descheduled) hold the pool: try later. */
			if (rc == -ENOSPC)
				continue;
			if (rc != 0) {
				printf("open %u at step %lu: %d (open %u)\n", i + 1, step, rc,
				       open);
				atomic_store(&churn_done, true);
				rte_eal_mp_wait_lcore();
				fail();
			}
			live[i] = auction_lookup(&churn_table, i + 1);
			open++;
		} else if (live[i]) {
			auction_close(&churn_table, live[i]);
			assert_int_equal(auction_remove(&churn_table, live[i]), 0);
			live[i] = NULL;
			open--;
		}
		rte_rcu_qsbr_quiescent(churn_table.qsbr, me);
	}
	atomic_store(&churn_done, true);
	rte_eal_mp_wait_lcore();
	assert_int_equal(races[0].replies_inconsistent, 0);
	printf("churn: %lu rebuilds\n", (unsigned long)churn_table.rebuilds);
	/* The rebuild ran under the reader too. */
	assert_true(churn_table.rebuilds > 0);
	rte_rcu_qsbr_thread_offline(churn_table.qsbr, me);
	rte_rcu_qsbr_thread_unregister(churn_table.qsbr, me);
	auction_table_destroy(&churn_table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(auction_rules),
	    cmocka_unit_test(accepted_bids_form_one_order_under_a_race),
	    cmocka_unit_test(replaced_records_are_reclaimed),
	    cmocka_unit_test(a_stalled_reader_slows_acceptance_and_never_leaks),
	    cmocka_unit_test(no_stamp_reaches_the_limit),
	    cmocka_unit_test(bid_count_less_duplicates),
	    cmocka_unit_test(counter_slots_are_the_readers),
	    cmocka_unit_test(memory_per_auction),
	    cmocka_unit_test(readers_and_cluster_slots_are_apart),
	    cmocka_unit_test(the_index_follows_a_model_through_churn),
	    cmocka_unit_test(a_reader_never_finds_another_ids_auction),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
