/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounded rescan after a lost change (control/node/replicate_rescan.h)
 * over a fake table with rte_hash_iterate's contract: at most `max`
 * auctions per step; every one visited within one circle; a new loss
 * restarts the circle at the cursor; an insert that moves an auction from
 * ahead of the cursor to behind it (a cuckoo displacement) still gets that
 * auction visited.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replicate_rescan.h"

#define SLOTS 1000

struct item {
	unsigned int visits;
};

static struct item items[SLOTS];
static struct item *slot[SLOTS];

static int iterate(void *table, uint32_t *next, void **out)
{
	(void)table;
	for (uint32_t i = *next; i < SLOTS; i++)
		if (slot[i]) {
			*out = slot[i];
			*next = i + 1;
			return 0;
		}
	*next = SLOTS;
	return -1;
}

static void visit(void *item, void *arg)
{
	(void)arg;
	((struct item *)item)->visits++;
}

/* Every third slot empty: 667 auctions. */
static unsigned int fill(void)
{
	unsigned int n = 0;
	memset(items, 0, sizeof(items));
	for (unsigned int i = 0; i < SLOTS; i++) {
		slot[i] = i % 3 == 2 ? NULL : &items[i];
		n += slot[i] != NULL;
	}
	return n;
}

static void test_bounded_and_complete(void **state)
{
	(void)state;
	struct repl_rescan s = {0};
	unsigned int n = fill(), total = 0, steps = 0;
	repl_rescan_start(&s, 0);
	while (repl_rescan_active(&s)) {
		unsigned int got = repl_rescan_step(&s, 0, 64, iterate, NULL, visit, NULL);
		assert_true(got <= 64);
		total += got;
		steps++;
		assert_true(steps <= n / 64 + 2);
	}
	assert_int_equal(total, n);
	for (unsigned int i = 0; i < SLOTS; i++)
		if (slot[i])
			assert_int_equal(items[i].visits, 1);
	/* Done: nothing more until the next loss. */
	assert_int_equal(repl_rescan_step(&s, 0, 64, iterate, NULL, visit, NULL), 0);
	assert_int_equal(s.visited, n);
}

static void test_a_new_loss_restarts_at_the_cursor(void **state)
{
	(void)state;
	struct repl_rescan s = {0};
	fill();
	repl_rescan_start(&s, 0);
	for (int i = 0; i < 3; i++)
		repl_rescan_step(&s, 0, 100, iterate, NULL, visit, NULL);
	uint32_t at = s.next;
	memset(items, 0, sizeof(items));
	repl_rescan_start(&s, 0); /* lost again: a whole circle from here */
	assert_int_equal(s.stop, at);
	while (repl_rescan_active(&s))
		repl_rescan_step(&s, 0, 100, iterate, NULL, visit, NULL);
	for (unsigned int i = 0; i < SLOTS; i++)
		if (slot[i])
			assert_true(items[i].visits >= 1);
	assert_int_equal(s.circles, 2);
}

static void test_an_insert_moving_an_auction_behind_the_cursor(void **state)
{
	(void)state;
	struct repl_rescan s = {0};
	fill();
	repl_rescan_start(&s, 7);
	repl_rescan_step(&s, 7, 100, iterate, NULL, visit, NULL);
	uint32_t at = s.next;
	/* An insert displaces the auction of slot 900 (not visited yet) into
	 * the empty slot 2, behind the cursor. */
	assert_null(slot[2]);
	assert_int_equal(items[900].visits, 0);
	slot[2] = slot[900];
	slot[900] = NULL;
	while (repl_rescan_active(&s))
		repl_rescan_step(&s, 8, 100, iterate, NULL, visit, NULL);
	assert_int_equal(items[900].visits, 1);
	assert_int_equal(s.circles, 2);
	assert_true(at > 2);
}

static void test_empty_table(void **state)
{
	(void)state;
	struct repl_rescan s = {0};
	memset(slot, 0, sizeof(slot));
	repl_rescan_start(&s, 0);
	assert_int_equal(repl_rescan_step(&s, 0, 64, iterate, NULL, visit, NULL), 0);
	assert_false(repl_rescan_active(&s));
	/* A cursor left past the end (the table shrank) ends too. */
	fill();
	s.next = SLOTS + 5;
	repl_rescan_start(&s, 0);
	unsigned int total = 0;
	while (repl_rescan_active(&s))
		total += repl_rescan_step(&s, 0, 64, iterate, NULL, visit, NULL);
	assert_int_equal(total, 667);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounded_and_complete),
	    cmocka_unit_test(test_a_new_loss_restarts_at_the_cursor),
	    cmocka_unit_test(test_an_insert_moving_an_auction_behind_the_cursor),
	    cmocka_unit_test(test_empty_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
