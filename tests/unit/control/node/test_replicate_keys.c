/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cluster's idempotency keys (control/node/replicate_keys.h): which
 * copy of a bid accepted on two nodes is the duplicate, that only its
 * owner counts it and only once (repeats, any order), that the nodes of a
 * cluster together count each extra copy exactly once, eviction by age,
 * the bound, and the index after many evictions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replicate_keys.h"

#define WINDOW_MS 10000

static struct peer_key copy(uint64_t request_id, uint64_t hlc, uint16_t node)
{
	return (struct peer_key){.bidder = 77,
				 .request_id = request_id,
				 .auction_id = 42,
				 .amount = 150,
				 .hlc = hlc,
				 .node = node};
}

static void init(struct repl_keys *t, uint16_t self, uint64_t capacity)
{
	assert_int_equal(repl_keys_init(t, self, capacity, WINDOW_MS, 0x1234), 0);
}

static void test_init_rules(void **state)
{
	(void)state;
	struct repl_keys t;
	assert_int_equal(repl_keys_init(&t, 0, 10, WINDOW_MS, 1), -EINVAL);
	assert_int_equal(repl_keys_init(&t, 1, 0, WINDOW_MS, 1), -EINVAL);
	assert_int_equal(repl_keys_init(&t, 1, 10, 0, 1), -EINVAL);
	assert_int_equal(repl_keys_init(&t, 1, (uint64_t)REPL_KEYS_CAPACITY_MAX + 1, WINDOW_MS, 1),
			 -EINVAL);
	init(&t, 1, 1);
	repl_keys_fini(&t);
}

/* One copy is no duplicate, whoever holds it. */
static void test_single_copies(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 2, 16);
	struct peer_key own = copy(1, 100, 2), remote = copy(2, 100, 1);
	assert_false(repl_keys_note(&t, &own, 0));
	assert_false(repl_keys_note(&t, &remote, 0));
	assert_false(repl_keys_note(&t, &own, 1)); /* repeats */
	assert_false(repl_keys_note(&t, &remote, 1));
	assert_int_equal(repl_keys_count(&t), 2);
	assert_int_equal(t.stats.duplicates, 0);
	repl_keys_fini(&t);
}

/* The later copy is the duplicate: its owner counts it once, whatever the
 * order the copies arrive in and however often they repeat. */
static void test_later_own_copy_counts_once(void **state)
{
	(void)state;
	struct repl_keys t;
	struct peer_key own = copy(1, 200, 2), remote = copy(1, 100, 1);
	/* Own first. */
	init(&t, 2, 16);
	assert_false(repl_keys_note(&t, &own, 0));
	assert_true(repl_keys_note(&t, &remote, 1));
	for (int i = 0; i < 5; i++) {
		assert_false(repl_keys_note(&t, &remote, 2));
		assert_false(repl_keys_note(&t, &own, 2));
	}
	assert_int_equal(t.stats.duplicates, 1);
	repl_keys_fini(&t);
	/* Remote first. */
	init(&t, 2, 16);
	assert_false(repl_keys_note(&t, &remote, 0));
	assert_true(repl_keys_note(&t, &own, 1));
	assert_false(repl_keys_note(&t, &remote, 2));
	assert_false(repl_keys_note(&t, &own, 2));
	assert_int_equal(t.stats.duplicates, 1);
	repl_keys_fini(&t);
}

/* The earlier copy is not the duplicate: its node counts nothing. */
static void test_earlier_own_copy_counts_nothing(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 1, 16);
	struct peer_key own = copy(1, 100, 1), remote = copy(1, 200, 2);
	assert_false(repl_keys_note(&t, &own, 0));
	assert_false(repl_keys_note(&t, &remote, 0));
	assert_false(repl_keys_note(&t, &remote, 0));
	repl_keys_fini(&t);
	init(&t, 1, 16);
	assert_false(repl_keys_note(&t, &remote, 0));
	assert_false(repl_keys_note(&t, &own, 0));
	assert_int_equal(t.stats.duplicates, 0);
	repl_keys_fini(&t);
}

/* Equal stamps: the lower node id is the earlier copy (the leader order). */
static void test_equal_stamps_lower_node_first(void **state)
{
	(void)state;
	struct repl_keys a, b;
	init(&a, 1, 16);
	init(&b, 2, 16);
	struct peer_key on1 = copy(1, 100, 1), on2 = copy(1, 100, 2);
	assert_false(repl_keys_note(&a, &on1, 0));
	assert_false(repl_keys_note(&a, &on2, 0));
	assert_false(repl_keys_note(&b, &on2, 0));
	assert_true(repl_keys_note(&b, &on1, 0));
	repl_keys_fini(&a);
	repl_keys_fini(&b);
}

/* Three nodes each accepted the key: together they count 2 duplicates (one
 * each for the two later copies), so bids - dups counts the bid once. All
 * orders of arrival, every message repeated. */
static void test_three_copies_cluster_counts_each_extra_once(void **state)
{
	(void)state;
	const struct peer_key c[3] = {copy(9, 300, 1), copy(9, 100, 2), copy(9, 200, 3)};
	static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
					 {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
	for (int o = 0; o < 6; o++) {
		uint64_t dups[3] = {0};
		for (uint16_t node = 1; node <= 3; node++) {
			struct repl_keys t;
			init(&t, node, 16);
			for (int rep = 0; rep < 2; rep++)
				for (int i = 0; i < 3; i++)
					dups[node - 1] += repl_keys_note(&t, &c[orders[o][i]], 0);
			repl_keys_fini(&t);
		}
		assert_int_equal(dups[0], 1); /* hlc 300: a duplicate */
		assert_int_equal(dups[1], 0); /* hlc 100: the first copy */
		assert_int_equal(dups[2], 1); /* hlc 200: a duplicate */
	}
}

/* The same key with another auction or amount is another bid. */
static void test_conflicting_copy_counts_nothing(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 2, 16);
	struct peer_key own = copy(1, 200, 2), other = copy(1, 100, 1);
	other.amount = 151;
	assert_false(repl_keys_note(&t, &own, 0));
	assert_false(repl_keys_note(&t, &other, 0));
	other.amount = 150;
	other.auction_id = 43;
	assert_false(repl_keys_note(&t, &other, 0));
	assert_int_equal(t.stats.conflicts, 2);
	assert_int_equal(t.stats.duplicates, 0);
	repl_keys_fini(&t);
}

/* A key is forgotten once it is window_ms old: a copy after that counts
 * nothing (a partition longer than the window leaves the duplicate). */
static void test_eviction_by_age(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 2, 16);
	struct peer_key own = copy(1, 200, 2), remote = copy(1, 100, 1);
	struct peer_key young = copy(2, 200, 2), young_remote = copy(2, 100, 1);
	assert_false(repl_keys_note(&t, &own, 0));
	assert_false(repl_keys_note(&t, &young, 5000));
	assert_false(repl_keys_note(&t, &remote, WINDOW_MS)); /* own was forgotten */
	assert_int_equal(t.stats.evicted_age, 1);
	assert_true(repl_keys_note(&t, &young_remote, WINDOW_MS + 4999));
	assert_int_equal(repl_keys_count(&t), 2); /* young, and remote's new entry */
	repl_keys_fini(&t);
}

/* Full: the oldest key goes, counted; the table never holds more. */
static void test_bound_drops_oldest(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 2, 4);
	for (uint64_t r = 1; r <= 5; r++) {
		struct peer_key own = copy(r, 200, 2);
		assert_false(repl_keys_note(&t, &own, 0));
	}
	assert_int_equal(repl_keys_count(&t), 4);
	assert_int_equal(t.stats.evicted_full, 1);
	struct peer_key first = copy(1, 100, 1), second = copy(2, 100, 1);
	assert_false(repl_keys_note(&t, &first, 0)); /* forgotten: pushes out key 2 */
	assert_int_equal(t.stats.evicted_full, 2);
	assert_false(repl_keys_note(&t, &second, 0));
	struct peer_key fifth = copy(5, 100, 1);
	assert_true(repl_keys_note(&t, &fifth, 0));
	assert_int_equal(repl_keys_count(&t), 4);
	repl_keys_fini(&t);
}

/* Many keys through a small table: after every eviction the index still
 * finds exactly the keys held (the last CAP noted). */
static struct peer_key many_key(uint64_t r, uint64_t hlc, uint16_t node)
{
	struct peer_key k = copy(r * 7919 % 100003 + 1, hlc, node); /* distinct for r < 100003 */
	k.bidder = r % 13 + 1;
	return k;
}

static void test_index_after_many_evictions(void **state)
{
	(void)state;
	enum { CAP = 1000, KEYS = 20000 };
	struct repl_keys t;
	init(&t, 2, CAP);
	for (uint64_t r = 1; r <= KEYS; r++) {
		struct peer_key own = many_key(r, 200, 2);
		assert_false(repl_keys_note(&t, &own, r / 100));
	}
	assert_int_equal(repl_keys_count(&t), CAP);
	assert_int_equal(t.stats.evicted_full, KEYS - CAP);
	/* The held ones first: finding them inserts nothing. */
	for (uint64_t r = KEYS - CAP + 1; r <= KEYS; r++) {
		struct peer_key remote = many_key(r, 100, 1);
		assert_true(repl_keys_note(&t, &remote, KEYS / 100));
	}
	assert_int_equal(repl_keys_count(&t), CAP);
	assert_int_equal(t.stats.duplicates, CAP);
	/* The forgotten ones are new keys now. */
	for (uint64_t r = 1; r <= KEYS - CAP; r++) {
		struct peer_key remote = many_key(r, 100, 1);
		assert_false(repl_keys_note(&t, &remote, KEYS / 100));
	}
	assert_int_equal(t.stats.duplicates, CAP);
	repl_keys_fini(&t);
}

/* After a restart (docs/WAL.md "Duplicates across nodes"): an own copy
 * restored from the log is compared again with a peer's copy that
 * arrives later, and counted when it is the later; a copy the log says
 * was counted is never counted again, however often the peer's copy
 * comes back. The restored copies count nothing themselves. */
static void test_restored_copies(void **state)
{
	(void)state;
	struct repl_keys t;
	init(&t, 2, 16);
	struct peer_key own = copy(1, 200, 2), earlier = copy(1, 100, 1);
	repl_keys_restore(&t, &own, 5, false);
	assert_true(repl_keys_note(&t, &earlier, 50));
	assert_false(repl_keys_note(&t, &earlier, 51));
	uint64_t own_hlc, other_hlc;
	uint16_t other_node;
	assert_true(repl_keys_copies(&t, 77, 1, &own_hlc, &other_hlc, &other_node));
	assert_true(own_hlc == 200 && other_hlc == 100 && other_node == 1);

	/* Counted before the restart: both copies restored from its record. */
	struct peer_key own2 = copy(2, 300, 2), earlier2 = copy(2, 250, 3);
	repl_keys_restore(&t, &earlier2, 5, false);
	repl_keys_restore(&t, &own2, 5, true);
	assert_false(repl_keys_note(&t, &earlier2, 60));
	assert_false(repl_keys_note(&t, &own2, 61));

	/* Restored, counted, in the other order of the two records. */
	struct peer_key own3 = copy(3, 300, 2), earlier3 = copy(3, 250, 3);
	repl_keys_restore(&t, &own3, 5, true);
	repl_keys_restore(&t, &own3, 6, false); /* its bid record */
	assert_false(repl_keys_note(&t, &earlier3, 62));

	/* A restored own copy that is the earlier counts nothing here. */
	struct peer_key own4 = copy(4, 100, 2), later4 = copy(4, 200, 1);
	repl_keys_restore(&t, &own4, 5, false);
	assert_false(repl_keys_note(&t, &later4, 63));
	assert_int_equal(t.stats.duplicates, 1);
	/* Restored keys age like the others: from when they were accepted. */
	struct peer_key other = copy(9, 1, 1);
	assert_false(repl_keys_note(&t, &other, 5 + WINDOW_MS));
	assert_false(repl_keys_copies(&t, 77, 1, &own_hlc, &other_hlc, &other_node));
	repl_keys_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_rules),
	    cmocka_unit_test(test_single_copies),
	    cmocka_unit_test(test_later_own_copy_counts_once),
	    cmocka_unit_test(test_earlier_own_copy_counts_nothing),
	    cmocka_unit_test(test_equal_stamps_lower_node_first),
	    cmocka_unit_test(test_three_copies_cluster_counts_each_extra_once),
	    cmocka_unit_test(test_conflicting_copy_counts_nothing),
	    cmocka_unit_test(test_eviction_by_age),
	    cmocka_unit_test(test_bound_drops_oldest),
	    cmocka_unit_test(test_index_after_many_evictions),
	    cmocka_unit_test(test_restored_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
