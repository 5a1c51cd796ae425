/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Specific behaviour of each CRDT type: saturation, argument checks, the
 * bid order of PROTOCOL.md, the LWW tie-breaks and the per-worker counter.
 * The lattice laws themselves are in test_crdt_laws.c.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

#include <cmocka.h>

#include "bidmax.h"
#include "gcounter.h"
#include "lww.h"
#include "pncounter.h"

/* --- gcounter ---------------------------------------------------------------- */

static void test_gcounter_add_and_delta(void **state)
{
	struct gcounter g, delta;

	(void)state;
	gcounter_init(&g);
	gcounter_init(&delta);
	assert_int_equal(gcounter_value(&g), 0);
	assert_int_equal(gcounter_add(&g, 3, 5, &delta), 0);
	assert_int_equal(gcounter_add(&g, 3, 2, &delta), 0);
	assert_int_equal(gcounter_add(&g, 0, 1, NULL), 0);
	assert_int_equal(gcounter_add(&g, CRDT_MAX_REPLICAS - 1, 10, &delta), 0);
	assert_int_equal(gcounter_value(&g), 18);
	/* The delta group holds the touched slots' new values and nothing else. */
	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++) {
		uint64_t want = r == 3 ? 7 : r == CRDT_MAX_REPLICAS - 1 ? 10 : 0;

		assert_int_equal(delta.slot[r], want);
	}
}

static void test_gcounter_saturates(void **state)
{
	struct gcounter g, delta;

	(void)state;
	gcounter_init(&g);
	gcounter_init(&delta);
	assert_int_equal(gcounter_add(&g, 2, UINT64_MAX - 1, NULL), 0);
	assert_int_equal(gcounter_add(&g, 2, 1, NULL), 0); /* reaching the top is fine */
	assert_true(g.slot[2] == UINT64_MAX);
	assert_int_equal(gcounter_add(&g, 2, 0, NULL), 0);
	assert_int_equal(gcounter_add(&g, 2, 1, &delta), -ERANGE);
	assert_true(g.slot[2] == UINT64_MAX);
	assert_true(delta.slot[2] == UINT64_MAX);

	/* A jump past the top still moves the slot, and the delta says so. */
	gcounter_init(&delta);
	assert_int_equal(gcounter_add(&g, 4, 5, NULL), 0);
	assert_int_equal(gcounter_add(&g, 4, UINT64_MAX, &delta), -ERANGE);
	assert_true(g.slot[4] == UINT64_MAX);
	assert_true(delta.slot[4] == UINT64_MAX);
	assert_true(gcounter_value(&g) == UINT64_MAX);
}

static void test_gcounter_value_saturates(void **state)
{
	struct gcounter g;

	(void)state;
	gcounter_init(&g);
	/* No slot saturates, but their sum would wrap. */
	assert_int_equal(gcounter_add(&g, 0, UINT64_MAX / 2 + 1, NULL), 0);
	assert_int_equal(gcounter_add(&g, 1, UINT64_MAX / 2 + 1, NULL), 0);
	assert_true(gcounter_value(&g) == UINT64_MAX);
	gcounter_init(&g);
	assert_int_equal(gcounter_add(&g, 0, UINT64_MAX / 2, NULL), 0);
	assert_int_equal(gcounter_add(&g, 1, UINT64_MAX / 2, NULL), 0);
	assert_true(gcounter_value(&g) == UINT64_MAX - 1);
}

static void test_gcounter_replica_out_of_range(void **state)
{
	struct gcounter g, delta, g0, delta0;

	(void)state;
	gcounter_init(&g);
	gcounter_init(&delta);
	assert_int_equal(gcounter_add(&g, 1, 9, NULL), 0);
	g0 = g;
	delta0 = delta;
	assert_int_equal(gcounter_add(&g, CRDT_MAX_REPLICAS, 1, &delta), -EINVAL);
	assert_int_equal(gcounter_add(&g, UINT_MAX, 1, &delta), -EINVAL);
	assert_int_equal(gcounter_raise(&g, CRDT_MAX_REPLICAS, 1, &delta), -EINVAL);
	assert_int_equal(gcounter_raise(&g, UINT_MAX, 1, &delta), -EINVAL);
	assert_true(gcounter_equal(&g, &g0));
	assert_true(gcounter_equal(&delta, &delta0));
}

static void test_gcounter_raise(void **state)
{
	struct gcounter g, delta;

	(void)state;
	gcounter_init(&g);
	gcounter_init(&delta);
	assert_int_equal(gcounter_raise(&g, 5, 100, &delta), 0);
	assert_int_equal(g.slot[5], 100);
	assert_int_equal(delta.slot[5], 100);
	/* Never lowers: a stale per-worker sum cannot undo counted increments. */
	gcounter_init(&delta);
	assert_int_equal(gcounter_raise(&g, 5, 40, &delta), 0);
	assert_int_equal(g.slot[5], 100);
	assert_int_equal(delta.slot[5], 100);
	assert_int_equal(gcounter_raise(&g, 5, UINT64_MAX, NULL), 0);
	assert_true(g.slot[5] == UINT64_MAX);
	assert_true(gcounter_value(&g) == UINT64_MAX);
}

static void test_gcounter_merge(void **state)
{
	struct gcounter a, b;

	(void)state;
	gcounter_init(&a);
	gcounter_init(&b);
	a.slot[0] = 7;
	a.slot[1] = 2;
	b.slot[1] = 5;
	b.slot[2] = UINT64_MAX;
	gcounter_merge(&a, &b);
	assert_int_equal(a.slot[0], 7);
	assert_int_equal(a.slot[1], 5);
	assert_true(a.slot[2] == UINT64_MAX);
	assert_int_equal(b.slot[0], 0); /* from is read only */
	assert_false(gcounter_equal(&a, &b));
	gcounter_merge(&b, &a);
	assert_true(gcounter_equal(&a, &b));
}

/* --- gcounter_workers -------------------------------------------------------- */

static void test_workers_add_sum(void **state)
{
	struct gcounter_workers gw;

	(void)state;
	gcounter_workers_init(&gw);
	assert_int_equal(gcounter_workers_sum(&gw), 0);
	assert_int_equal(gcounter_workers_add(&gw, 0, 3), 0);
	assert_int_equal(gcounter_workers_add(&gw, 0, 4), 0);
	assert_int_equal(gcounter_workers_add(&gw, CRDT_MAX_WORKERS - 1, 10), 0);
	assert_int_equal(gcounter_workers_sum(&gw), 17);
	assert_int_equal(gcounter_workers_add(&gw, CRDT_MAX_WORKERS, 1), -EINVAL);
	assert_int_equal(gcounter_workers_add(&gw, UINT_MAX, 1), -EINVAL);
	assert_int_equal(gcounter_workers_sum(&gw), 17);
}

static void test_workers_saturate(void **state)
{
	struct gcounter_workers gw;

	(void)state;
	gcounter_workers_init(&gw);
	assert_int_equal(gcounter_workers_add(&gw, 1, UINT64_MAX - 1), 0);
	assert_int_equal(gcounter_workers_add(&gw, 1, 2), -ERANGE);
	assert_true(atomic_load(&gw.w[1]) == UINT64_MAX);
	assert_true(gcounter_workers_sum(&gw) == UINT64_MAX);

	/* Two unsaturated workers whose sum would wrap. */
	gcounter_workers_init(&gw);
	assert_int_equal(gcounter_workers_add(&gw, 2, UINT64_MAX / 2 + 1), 0);
	assert_int_equal(gcounter_workers_add(&gw, 3, UINT64_MAX / 2 + 1), 0);
	assert_true(gcounter_workers_sum(&gw) == UINT64_MAX);
}

#define WRITERS	    4
#define WRITER_ADDS 100000

struct writer_arg {
	struct gcounter_workers *gw;
	unsigned int worker;
	atomic_int *running;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;

	for (unsigned int i = 0; i < WRITER_ADDS; i++)
		gcounter_workers_add(a->gw, a->worker, 1);
	atomic_fetch_sub(a->running, 1);
	return NULL;
}

/*
 * Workers add concurrently while this thread sums: no increment is lost and
 * the observed sum never goes down. Whatever the interleaving, the outcome
 * is the same, so the test does not depend on timing.
 */
static void test_workers_concurrent(void **state)
{
	static struct gcounter_workers gw;
	pthread_t tid[WRITERS];
	struct writer_arg arg[WRITERS];
	atomic_int running = WRITERS;
	uint64_t last = 0;
	int monotonic = 1;

	(void)state;
	gcounter_workers_init(&gw);
	for (unsigned int i = 0; i < WRITERS; i++) {
		/* Spread over the table, including the last slot. */
		arg[i] =
		    (struct writer_arg){&gw, i * (CRDT_MAX_WORKERS - 1) / (WRITERS - 1), &running};
		assert_int_equal(pthread_create(&tid[i], NULL, writer, &arg[i]), 0);
	}
	while (atomic_load(&running) > 0) {
		uint64_t now = gcounter_workers_sum(&gw);

		monotonic &= now >= last;
		last = now;
	}
	for (unsigned int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	assert_true(monotonic);
	assert_int_equal(gcounter_workers_sum(&gw), (uint64_t)WRITERS * WRITER_ADDS);
}

/* --- pncounter --------------------------------------------------------------- */

static void test_pncounter_value(void **state)
{
	struct pncounter c, delta;

	(void)state;
	pncounter_init(&c);
	pncounter_init(&delta);
	assert_int_equal(pncounter_inc(&c, 1, 3, NULL), 0);
	assert_int_equal(pncounter_dec(&c, 2, 5, &delta), 0);
	assert_int_equal(pncounter_value(&c), -2);
	assert_int_equal(pncounter_value_floor0(&c), 0);
	/* A decrement's delta touches the n half only. */
	assert_int_equal(gcounter_value(&delta.p), 0);
	assert_int_equal(delta.n.slot[2], 5);
	assert_int_equal(pncounter_inc(&c, 1, 10, &delta), 0);
	assert_int_equal(delta.p.slot[1], 13);
	assert_int_equal(pncounter_value(&c), 8);
	assert_int_equal(pncounter_value_floor0(&c), 8);
	assert_int_equal(pncounter_inc(&c, CRDT_MAX_REPLICAS, 1, NULL), -EINVAL);
	assert_int_equal(pncounter_dec(&c, CRDT_MAX_REPLICAS, 1, NULL), -EINVAL);
	assert_int_equal(pncounter_value(&c), 8);
}

static void test_pncounter_clamps(void **state)
{
	struct pncounter c;

	(void)state;
	pncounter_init(&c);
	assert_int_equal(pncounter_inc(&c, 0, UINT64_MAX, NULL), 0);
	assert_true(pncounter_value(&c) == INT64_MAX);
	assert_true(pncounter_value_floor0(&c) == (uint64_t)INT64_MAX);

	pncounter_init(&c);
	assert_int_equal(pncounter_dec(&c, 0, UINT64_MAX, NULL), 0);
	assert_true(pncounter_value(&c) == INT64_MIN);
	assert_int_equal(pncounter_value_floor0(&c), 0);

	/* The exact edges of the int64 range. */
	pncounter_init(&c);
	assert_int_equal(pncounter_dec(&c, 0, (uint64_t)INT64_MAX + 1, NULL), 0);
	assert_true(pncounter_value(&c) == INT64_MIN);
	pncounter_init(&c);
	assert_int_equal(pncounter_dec(&c, 0, (uint64_t)INT64_MAX, NULL), 0);
	assert_true(pncounter_value(&c) == -INT64_MAX);
	pncounter_init(&c);
	assert_int_equal(pncounter_inc(&c, 0, (uint64_t)INT64_MAX + 1, NULL), 0);
	assert_int_equal(pncounter_dec(&c, 1, 1, NULL), 0);
	assert_true(pncounter_value(&c) == INT64_MAX);
}

static void test_pncounter_saturates(void **state)
{
	struct pncounter c, delta;

	(void)state;
	pncounter_init(&c);
	pncounter_init(&delta);
	assert_int_equal(pncounter_dec(&c, 7, UINT64_MAX, NULL), 0);
	assert_int_equal(pncounter_dec(&c, 7, 1, &delta), -ERANGE);
	assert_true(c.n.slot[7] == UINT64_MAX);
	assert_true(delta.n.slot[7] == UINT64_MAX);
	assert_int_equal(pncounter_inc(&c, 7, UINT64_MAX, NULL), 0);
	assert_int_equal(pncounter_inc(&c, 7, 1, NULL), -ERANGE);
	assert_int_equal(pncounter_value(&c), 0);
}

static void test_pncounter_merge(void **state)
{
	struct pncounter a, b;

	(void)state;
	pncounter_init(&a);
	pncounter_init(&b);
	/* Viewers: node 0 saw 3 watches, node 1 saw 2 unwatches. */
	assert_int_equal(pncounter_inc(&a, 0, 3, NULL), 0);
	assert_int_equal(pncounter_dec(&b, 1, 2, NULL), 0);
	pncounter_merge(&a, &b);
	assert_int_equal(pncounter_value(&a), 1);
	assert_false(pncounter_equal(&a, &b));
	pncounter_merge(&b, &a);
	assert_true(pncounter_equal(&a, &b));
}

/* --- bid order --------------------------------------------------------------- */

static const struct bid empty_bid;

static void test_bid_higher_amount_wins(void **state)
{
	struct bid lo = {.amount = 100, .hlc = 1, .bidder = 1, .node = 0};
	struct bid hi = {.amount = 101, .hlc = 999, .bidder = 9, .node = 9};

	(void)state;
	assert_true(bid_cmp(&hi, &lo) > 0);
	assert_true(bid_cmp(&lo, &hi) < 0);
}

static void test_bid_equal_amount_earlier_hlc_wins(void **state)
{
	struct bid early = {.amount = 100, .hlc = 5, .bidder = 9, .node = 9};
	struct bid late = {.amount = 100, .hlc = 6, .bidder = 1, .node = 0};

	(void)state;
	assert_true(bid_cmp(&early, &late) > 0);
	assert_true(bid_cmp(&late, &early) < 0);
}

static void test_bid_then_lower_node_wins(void **state)
{
	struct bid n1 = {.amount = 100, .hlc = 5, .bidder = 9, .node = 1};
	struct bid n2 = {.amount = 100, .hlc = 5, .bidder = 1, .node = 2};

	(void)state;
	assert_true(bid_cmp(&n1, &n2) > 0);
	assert_true(bid_cmp(&n2, &n1) < 0);
}

static void test_bid_then_lower_bidder_wins(void **state)
{
	struct bid b1 = {.amount = 100, .hlc = 5, .bidder = 1, .node = 3};
	struct bid b2 = {.amount = 100, .hlc = 5, .bidder = 2, .node = 3};
	struct bid same = b1;

	(void)state;
	assert_true(bid_cmp(&b1, &b2) > 0);
	assert_true(bid_cmp(&b2, &b1) < 0);
	assert_int_equal(bid_cmp(&b1, &same), 0);
	assert_true(bid_equal(&b1, &same));
	assert_false(bid_equal(&b1, &b2));
}

static void test_bid_empty_below_all(void **state)
{
	struct bid reg;
	/* The weakest possible bid: lowest amount, latest stamp, highest ids. */
	struct bid weakest = {
	    .amount = 1, .hlc = UINT64_MAX, .bidder = UINT64_MAX, .node = UINT16_MAX};

	(void)state;
	bidmax_init(&reg);
	assert_true(bid_equal(&reg, &empty_bid));
	assert_true(bid_cmp(&weakest, &reg) > 0);
	assert_true(bid_cmp(&reg, &weakest) < 0);
	assert_int_equal(bid_cmp(&reg, &empty_bid), 0);
}

static void test_bidmax_merge_return(void **state)
{
	struct bid reg;
	struct bid first = {.amount = 50, .hlc = 10, .bidder = 7, .node = 1};
	struct bid higher = {.amount = 60, .hlc = 20, .bidder = 8, .node = 2};
	struct bid tie_later = {.amount = 60, .hlc = 21, .bidder = 1, .node = 0};

	(void)state;
	bidmax_init(&reg);
	assert_int_equal(bidmax_merge(&reg, &first), 1);
	assert_true(bid_equal(&reg, &first));
	assert_int_equal(bidmax_merge(&reg, &first), 0); /* the same bid again */
	assert_int_equal(bidmax_merge(&reg, &empty_bid), 0);
	assert_int_equal(bidmax_merge(&reg, &higher), 1);
	assert_true(bid_equal(&reg, &higher));
	assert_int_equal(bidmax_merge(&reg, &first), 0); /* lower */
	assert_int_equal(bidmax_merge(&reg, &tie_later), 0);
	assert_true(bid_equal(&reg, &higher));
}

/* --- lww --------------------------------------------------------------------- */

static void test_lww_later_stamp_wins(void **state)
{
	struct lww r, delta;

	(void)state;
	lww_init(&r);
	assert_int_equal(r.hlc, 0);
	lww_set(&r, 10, 2, 111, &delta);
	assert_int_equal(r.value, 111);
	assert_true(lww_equal(&r, &delta));
	lww_set(&r, 11, 1, 222, NULL);
	assert_int_equal(r.value, 222);
	assert_int_equal(r.node, 1);
}

static void test_lww_tie_breaks(void **state)
{
	struct lww a = {.hlc = 10, .value = 5, .node = 1};
	struct lww b = {.hlc = 10, .value = 1, .node = 2};
	struct lww c = {.hlc = 10, .value = 6, .node = 2};
	struct lww r;

	(void)state;
	/* Equal stamps: the higher node wins, whatever the values. */
	r = a;
	lww_merge(&r, &b);
	assert_true(lww_equal(&r, &b));
	r = b;
	lww_merge(&r, &a);
	assert_true(lww_equal(&r, &b));
	/* Equal stamps and nodes: the higher value wins. */
	r = b;
	lww_merge(&r, &c);
	assert_true(lww_equal(&r, &c));
	r = c;
	lww_merge(&r, &b);
	assert_true(lww_equal(&r, &c));
	assert_false(lww_equal(&b, &c));
}

static void test_lww_stale_set_ignored(void **state)
{
	struct lww r, delta;
	struct lww want = {.hlc = 20, .value = 7, .node = 3};

	(void)state;
	lww_init(&r);
	lww_set(&r, 20, 3, 7, NULL);
	/* A stale stamp never moves the register back; its delta is harmless. */
	lww_set(&r, 19, 9, 8, &delta);
	assert_true(lww_equal(&r, &want));
	assert_int_equal(delta.hlc, 19);
	lww_merge(&r, &delta);
	assert_true(lww_equal(&r, &want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gcounter_add_and_delta),
	    cmocka_unit_test(test_gcounter_saturates),
	    cmocka_unit_test(test_gcounter_value_saturates),
	    cmocka_unit_test(test_gcounter_replica_out_of_range),
	    cmocka_unit_test(test_gcounter_raise),
	    cmocka_unit_test(test_gcounter_merge),
	    cmocka_unit_test(test_workers_add_sum),
	    cmocka_unit_test(test_workers_saturate),
	    cmocka_unit_test(test_workers_concurrent),
	    cmocka_unit_test(test_pncounter_value),
	    cmocka_unit_test(test_pncounter_clamps),
	    cmocka_unit_test(test_pncounter_saturates),
	    cmocka_unit_test(test_pncounter_merge),
	    cmocka_unit_test(test_bid_higher_amount_wins),
	    cmocka_unit_test(test_bid_equal_amount_earlier_hlc_wins),
	    cmocka_unit_test(test_bid_then_lower_node_wins),
	    cmocka_unit_test(test_bid_then_lower_bidder_wins),
	    cmocka_unit_test(test_bid_empty_below_all),
	    cmocka_unit_test(test_bidmax_merge_return),
	    cmocka_unit_test(test_lww_later_stamp_wins),
	    cmocka_unit_test(test_lww_tie_breaks),
	    cmocka_unit_test(test_lww_stale_set_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
