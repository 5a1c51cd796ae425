/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounded walk of the auctions awaiting settlement
 * (control/node/settle_walk.h): at most max items per step; each pass
 * visits every item once, none twice, even while items are dropped
 * (swapped with the last) or appended; a dropped item is gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "settle_walk.h"

#define N 10000

static uint64_t list[N + 100];
static unsigned int seen[N + 100];

struct probe {
	unsigned int visits;
	uint64_t drop_every; /* drop items whose value is a multiple of it (0: none) */
	uint32_t *count;
	int append; /* items to append during the pass */
};

static bool visit(uint64_t item, void *arg)
{
	struct probe *p = arg;
	uint64_t v = item;
	seen[v]++;
	p->visits++;
	if (p->append > 0) {
		list[(*p->count)++] = N + (uint64_t)--p->append;
	}
	return !(p->drop_every && v % p->drop_every == 0);
}

static uint32_t fill(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		list[i] = i;
	memset(seen, 0, sizeof(seen));
	return n;
}

/* A pass: the steps it takes, each bounded. */
static unsigned int one_pass(struct settle_walk *w, uint32_t *count, unsigned int max,
			     struct probe *p)
{
	unsigned int steps = 0;
	for (;;) {
		unsigned int before = p->visits;
		bool ended = settle_walk_step(w, list, count, max, visit, p);
		assert_true(p->visits - before <= max);
		steps++;
		if (ended)
			return steps;
		assert_true(steps < 1000);
	}
}

static void each_step_is_bounded_and_a_pass_visits_each_once(void **state)
{
	(void)state;
	uint32_t count = fill(N);
	struct settle_walk w = {0};
	struct probe p = {.count = &count};
	assert_int_equal(one_pass(&w, &count, 256, &p), (N + 255) / 256);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(count, N);
	assert_int_equal(w.passes, 1);
	assert_int_equal(w.next, 0);
}

static void drops_skip_none_and_visit_none_twice(void **state)
{
	(void)state;
	uint32_t count = fill(N);
	struct settle_walk w = {0};
	struct probe p = {.count = &count, .drop_every = 3};
	one_pass(&w, &count, 100, &p);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(count, N - (N + 2) / 3);
	/* The next pass sees exactly the kept ones. */
	memset(seen, 0, sizeof(seen));
	p.drop_every = 0;
	one_pass(&w, &count, 100, &p);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(seen[i], i % 3 ? 1 : 0);
}

static void appended_items_are_visited_in_the_pass(void **state)
{
	(void)state;
	uint32_t count = fill(N);
	struct settle_walk w = {0};
	struct probe p = {.count = &count, .append = 50};
	one_pass(&w, &count, 256, &p);
	for (uint32_t i = 0; i < N + 50; i++)
		assert_int_equal(seen[i], 1);
}

static void an_empty_list_ends_a_pass_at_once(void **state)
{
	(void)state;
	uint32_t count = 0;
	struct settle_walk w = {0};
	struct probe p = {.count = &count};
	assert_true(settle_walk_step(&w, list, &count, 256, visit, &p));
	assert_int_equal(p.visits, 0);
	assert_int_equal(w.passes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(each_step_is_bounded_and_a_pass_visits_each_once),
	    cmocka_unit_test(drops_skip_none_and_visit_none_twice),
	    cmocka_unit_test(appended_items_are_visited_in_the_pass),
	    cmocka_unit_test(an_empty_list_ends_a_pass_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
