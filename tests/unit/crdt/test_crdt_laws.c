/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lattice laws every CRDT type must obey, as seeded property tests.
 *
 * Each type is described once by a table of operations (struct crdt_type);
 * each law is written once against that table and run on every type, so a
 * new type gets every law by adding one table. With a v b the merge (join):
 *   commutative   a v b == b v a
 *   associative   (a v b) v c == a v (b v c)
 *   idempotent    a v a == a
 *   inflation     a mutation never moves a state down: before v after == after
 *   delta         the delta carries the whole mutation: before v delta == after
 *   convergence   deltas of a random multi-replica history, delivered to a
 *                 fresh replica in random order with duplicates, give the
 *                 join of the replicas' full states
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "crdt_gen.h"

#define PROP_CASES     10000
#define NO_FAILURE     (-1L)
#define MAX_REPLICAS   4
#define MAX_MUTATIONS  24
#define MAX_DELIVERIES (3 * MAX_MUTATIONS)

union crdt_state {
	struct gcounter g;
	struct pncounter pn;
	struct bid bid;
	struct lww lww;
};

struct crdt_type {
	const char *name;
	void (*init)(union crdt_state *s);
	void (*gen)(struct gen *g, union crdt_state *s);
	void (*merge)(union crdt_state *into, const union crdt_state *from);
	int (*equal)(const union crdt_state *a, const union crdt_state *b);
	/* One local mutation by `replica`; what it changed goes into delta,
	 * which the caller has initialised. */
	void (*mutate)(struct gen *g, union crdt_state *s, unsigned int replica,
		       union crdt_state *delta);
};

/* --- the four types ------------------------------------------------------ */

static void gc_init(union crdt_state *s)
{
	gcounter_init(&s->g);
}

static void gc_gen(struct gen *g, union crdt_state *s)
{
	gen_gcounter(g, &s->g);
}

static void gc_merge(union crdt_state *into, const union crdt_state *from)
{
	gcounter_merge(&into->g, &from->g);
}

static int gc_equal(const union crdt_state *a, const union crdt_state *b)
{
	return gcounter_equal(&a->g, &b->g);
}

static void gc_mutate(struct gen *g, union crdt_state *s, unsigned int replica,
		      union crdt_state *delta)
{
	int rc;

	if (prop_below(&g->rng, 4) == 0) {
		rc = gcounter_raise(&s->g, replica, gen_u64(g), &delta->g);
		assert_int_equal(rc, 0);
	} else {
		rc = gcounter_add(&s->g, replica, gen_u64(g), &delta->g);
		assert_true(rc == 0 || rc == -ERANGE);
	}
}

static void pn_init(union crdt_state *s)
{
	pncounter_init(&s->pn);
}

static void pn_gen(struct gen *g, union crdt_state *s)
{
	gen_pncounter(g, &s->pn);
}

static void pn_merge(union crdt_state *into, const union crdt_state *from)
{
	pncounter_merge(&into->pn, &from->pn);
}

static int pn_equal(const union crdt_state *a, const union crdt_state *b)
{
	return pncounter_equal(&a->pn, &b->pn);
}

static void pn_mutate(struct gen *g, union crdt_state *s, unsigned int replica,
		      union crdt_state *delta)
{
	int rc;

	if (prop_below(&g->rng, 2) == 0)
		rc = pncounter_inc(&s->pn, replica, gen_u64(g), &delta->pn);
	else
		rc = pncounter_dec(&s->pn, replica, gen_u64(g), &delta->pn);
	assert_true(rc == 0 || rc == -ERANGE);
}

static void bm_init(union crdt_state *s)
{
	bidmax_init(&s->bid);
}

static void bm_gen(struct gen *g, union crdt_state *s)
{
	gen_bid(g, &s->bid);
}

static void bm_merge(union crdt_state *into, const union crdt_state *from)
{
	bidmax_merge(&into->bid, &from->bid);
}

static int bm_equal(const union crdt_state *a, const union crdt_state *b)
{
	return bid_equal(&a->bid, &b->bid);
}

/* A node offers a bid; it replicates the bid only if the bid took the lead,
 * which also checks bidmax_merge's return value. */
static void bm_mutate(struct gen *g, union crdt_state *s, unsigned int replica,
		      union crdt_state *delta)
{
	struct bid offer = {
	    .amount = gen_u64(g),
	    .hlc = gen_u64(g),
	    .bidder = gen_u64(g),
	    .node = (uint16_t)replica,
	};

	if (offer.amount == 0)
		offer.amount = 1;
	if (bidmax_merge(&s->bid, &offer))
		delta->bid = offer;
}

static void lw_init(union crdt_state *s)
{
	lww_init(&s->lww);
}

static void lw_gen(struct gen *g, union crdt_state *s)
{
	gen_lww(g, &s->lww);
}

static void lw_merge(union crdt_state *into, const union crdt_state *from)
{
	lww_merge(&into->lww, &from->lww);
}

static int lw_equal(const union crdt_state *a, const union crdt_state *b)
{
	return lww_equal(&a->lww, &b->lww);
}

/* Stamps come from the palette too, so stale and equal stamps are common. */
static void lw_mutate(struct gen *g, union crdt_state *s, unsigned int replica,
		      union crdt_state *delta)
{
	lww_set(&s->lww, gen_u64(g), (uint16_t)replica, gen_u64(g), &delta->lww);
}

/* Not const: cmocka hands each test its type through a void *. */
#define CRDT_TYPE(type_name, prefix)                                                               \
	{                                                                                          \
		.name = type_name, .init = prefix##_init, .gen = prefix##_gen,                     \
		.merge = prefix##_merge, .equal = prefix##_equal, .mutate = prefix##_mutate,       \
	}
static struct crdt_type gcounter_type = CRDT_TYPE("gcounter", gc);
static struct crdt_type pncounter_type = CRDT_TYPE("pncounter", pn);
static struct crdt_type bidmax_type = CRDT_TYPE("bidmax", bm);
static struct crdt_type lww_type = CRDT_TYPE("lww", lw);

/* --- the laws: each returns the index of the first failing case ---------- */

static union crdt_state joined(const struct crdt_type *t, const union crdt_state *a,
			       const union crdt_state *b)
{
	union crdt_state out = *a;

	t->merge(&out, b);
	return out;
}

static long law_commutative(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state a, b, ab, ba;

		gen_case(g);
		t->gen(g, &a);
		t->gen(g, &b);
		ab = joined(t, &a, &b);
		ba = joined(t, &b, &a);
		if (!t->equal(&ab, &ba))
			return i;
	}
	return NO_FAILURE;
}

static long law_associative(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state a, b, c, ab_c, a_bc, ab, bc;

		gen_case(g);
		t->gen(g, &a);
		t->gen(g, &b);
		t->gen(g, &c);
		ab = joined(t, &a, &b);
		bc = joined(t, &b, &c);
		ab_c = joined(t, &ab, &c);
		a_bc = joined(t, &a, &bc);
		if (!t->equal(&ab_c, &a_bc))
			return i;
	}
	return NO_FAILURE;
}

static long law_idempotent(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state a, aa;

		gen_case(g);
		t->gen(g, &a);
		aa = joined(t, &a, &a);
		if (!t->equal(&aa, &a))
			return i;
	}
	return NO_FAILURE;
}

static long law_inflation(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state before, after, delta, check;

		gen_case(g);
		t->gen(g, &before);
		after = before;
		t->init(&delta);
		t->mutate(g, &after, gen_replica(g), &delta);
		check = joined(t, &before, &after);
		if (!t->equal(&check, &after))
			return i;
	}
	return NO_FAILURE;
}

static long law_delta(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state before, after, delta, check;

		gen_case(g);
		t->gen(g, &before);
		after = before;
		t->init(&delta);
		t->mutate(g, &after, gen_replica(g), &delta);
		check = joined(t, &before, &delta);
		if (!t->equal(&check, &after))
			return i;
	}
	return NO_FAILURE;
}

static void shuffle(struct gen *g, unsigned int *v, unsigned int n)
{
	for (unsigned int i = n; i > 1; i--) {
		unsigned int j = (unsigned int)prop_below(&g->rng, i);
		unsigned int tmp = v[i - 1];

		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

static long law_convergence(const struct crdt_type *t, struct gen *g)
{
	for (long i = 0; i < PROP_CASES; i++) {
		union crdt_state replica[MAX_REPLICAS], delta[MAX_MUTATIONS];
		union crdt_state expected, fresh;
		unsigned int order[MAX_DELIVERIES];
		unsigned int n_replicas = 2 + (unsigned int)prop_below(&g->rng, MAX_REPLICAS - 1);
		unsigned int n_steps = 1 + (unsigned int)prop_below(&g->rng, MAX_MUTATIONS);
		unsigned int n_deltas = 0, n_deliveries = 0;

		gen_case(g);
		for (unsigned int r = 0; r < n_replicas; r++)
			t->init(&replica[r]);
		for (unsigned int s = 0; s < n_steps; s++) {
			unsigned int r = (unsigned int)prop_below(&g->rng, n_replicas);

			/* Now and then a replica takes another's full state: later
			 * mutations then build on what it learned. */
			if (prop_below(&g->rng, 6) == 0) {
				t->merge(&replica[r], &replica[prop_below(&g->rng, n_replicas)]);
				continue;
			}
			t->init(&delta[n_deltas]);
			/* The last replica takes the highest index, to reach the top slot. */
			t->mutate(g, &replica[r], r == n_replicas - 1 ? CRDT_MAX_REPLICAS - 1 : r,
				  &delta[n_deltas]);
			n_deltas++;
		}

		for (unsigned int d = 0; d < n_deltas; d++) {
			unsigned int copies = prop_below(&g->rng, 3) == 0 ? 3 : 1;

			for (unsigned int c = 0; c < copies; c++)
				order[n_deliveries++] = d;
		}
		shuffle(g, order, n_deliveries);

		t->init(&fresh);
		for (unsigned int d = 0; d < n_deliveries; d++)
			t->merge(&fresh, &delta[order[d]]);
		t->init(&expected);
		for (unsigned int r = 0; r < n_replicas; r++)
			t->merge(&expected, &replica[r]);
		if (!t->equal(&fresh, &expected))
			return i;
	}
	return NO_FAILURE;
}

/* --- running the laws ------------------------------------------------------ */

typedef long (*law_fn)(const struct crdt_type *t, struct gen *g);

static void check_law(void **state, const char *law, law_fn fn)
{
	const struct crdt_type *t = *state;
	char name[64];
	struct gen g;
	long failed;

	snprintf(name, sizeof(name), "%s %s", t->name, law);
	gen_seed(&g, name);
	failed = fn(t, &g);
	if (failed != NO_FAILURE) {
		prop_report(name, prop_base_seed(), (unsigned long)failed);
		fail_msg("%s: law broken at case %ld", name, failed);
	}
}

static void test_commutative(void **state)
{
	check_law(state, "commutative", law_commutative);
}

static void test_associative(void **state)
{
	check_law(state, "associative", law_associative);
}

static void test_idempotent(void **state)
{
	check_law(state, "idempotent", law_idempotent);
}

static void test_inflation(void **state)
{
	check_law(state, "inflation", law_inflation);
}

static void test_delta(void **state)
{
	check_law(state, "delta", law_delta);
}

static void test_convergence(void **state)
{
	check_law(state, "convergence", law_convergence);
}

/* bidmax's join is only as good as bid_cmp: it must be a total order that
 * agrees with bid_equal, and bidmax_merge must pick its maximum. */
static void test_bid_order_total(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "bid order total");
	for (unsigned long i = 0; i < PROP_CASES; i++) {
		struct bid a, b, c, reg;
		int ab, ba, bc, ac, changed;
		int ok;

		gen_case(&g);
		gen_bid(&g, &a);
		gen_bid(&g, &b);
		gen_bid(&g, &c);
		ab = bid_cmp(&a, &b);
		ba = bid_cmp(&b, &a);
		bc = bid_cmp(&b, &c);
		ac = bid_cmp(&a, &c);
		reg = b;
		changed = bidmax_merge(&reg, &a);
		ok = (ab > 0) == (ba < 0) && (ab == 0) == (ba == 0) &&
		     (ab == 0) == bid_equal(&a, &b);
		ok = ok && !(ab > 0 && bc > 0 && ac <= 0);
		ok = ok && changed == (ab > 0) && bid_equal(&reg, ab > 0 ? &a : &b);
		if (!ok) {
			prop_report("bid order total", prop_base_seed(), i);
			fail_msg("bid_cmp is not a total order at case %lu", i);
		}
	}
}

#define LAW_TEST(type, law)                                                                        \
	{                                                                                          \
		.name = #type " " #law, .test_func = test_##law, .initial_state = &type##_type     \
	}
#define ALL_LAWS(type)                                                                             \
	LAW_TEST(type, commutative), LAW_TEST(type, associative), LAW_TEST(type, idempotent),      \
	    LAW_TEST(type, inflation), LAW_TEST(type, delta), LAW_TEST(type, convergence)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ALL_LAWS(gcounter),
	    ALL_LAWS(pncounter),
	    ALL_LAWS(bidmax),
	    ALL_LAWS(lww),
	    cmocka_unit_test(test_bid_order_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
