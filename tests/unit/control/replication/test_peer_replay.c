/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sender checks and the anti-replay window (control/replication/
 * peer_replay.h): each refusal reason, the window's edges, restarts
 * (incarnations), and a property: against a reference set of every accepted
 * (incarnation, seq), random reordered and duplicated deliveries are
 * accepted exactly when new and within the window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer_replay.h"
#include "prop.h"

#define SELF	 2
#define PEER	 1
#define PEER_IP	 0x010012c6u /* 198.18.0.1 as it lies in the packet */
#define PEER_UDP 7601

static struct peer_replay table;

static int setup(void **state)
{
	(void)state;
	peer_replay_init(&table, SELF);
	return peer_replay_add(&table, PEER, PEER_IP, PEER_UDP);
}

static struct peer_header from(uint16_t sender, uint64_t incarnation, uint64_t seq)
{
	return (struct peer_header){.type = PEER_HEARTBEAT,
				    .sender = sender,
				    .receiver = SELF,
				    .incarnation = incarnation,
				    .seq = seq,
				    .hlc = 1};
}

static enum peer_drop accept(uint64_t incarnation, uint64_t seq)
{
	struct peer_header h = from(PEER, incarnation, seq);
	return peer_replay_accept(&table, &h, PEER_IP, PEER_UDP);
}

static void test_add(void **state)
{
	(void)state;
	assert_int_equal(peer_replay_add(&table, 0, 1, 1), -EINVAL);
	assert_int_equal(peer_replay_add(&table, SELF, 1, 1), -EINVAL);
	assert_int_equal(peer_replay_add(&table, PEER, 1, 1), -EEXIST);
	for (uint16_t n = 3; n < 3 + PEER_MAX_NODES - 1; n++)
		assert_int_equal(peer_replay_add(&table, n, n, 7601), 0);
	assert_int_equal(peer_replay_add(&table, 999, 1, 1), -ENOSPC);
	assert_non_null(peer_replay_find(&table, 3));
	assert_null(peer_replay_find(&table, 999));
	/* The memory bound docs/PEER_PROTOCOL.md states. */
	assert_true(sizeof(struct peer_replay) <= 2500);
}

static void test_sender_checks(void **state)
{
	(void)state;
	struct peer_header h = from(9, 1, 1);
	assert_int_equal(peer_replay_accept(&table, &h, PEER_IP, PEER_UDP), PEER_DROP_UNKNOWN_NODE);
	h = from(PEER, 1, 1);
	assert_int_equal(peer_replay_accept(&table, &h, PEER_IP + 1, PEER_UDP),
			 PEER_DROP_WRONG_ADDRESS);
	assert_int_equal(peer_replay_accept(&table, &h, PEER_IP, PEER_UDP + 1),
			 PEER_DROP_WRONG_ADDRESS);
	h.receiver = 3;
	assert_int_equal(peer_replay_accept(&table, &h, PEER_IP, PEER_UDP),
			 PEER_DROP_WRONG_RECEIVER);
	/* None of the refusals above used up the sequence number. */
	assert_int_equal(accept(1, 1), PEER_DROP_NONE);
}

static void test_replay_and_window(void **state)
{
	(void)state;
	assert_int_equal(accept(5, 10), PEER_DROP_NONE);
	assert_int_equal(accept(5, 10), PEER_DROP_REPLAY);
	assert_int_equal(accept(5, 8), PEER_DROP_NONE); /* reordered: still new */
	assert_int_equal(accept(5, 8), PEER_DROP_REPLAY);
	assert_int_equal(accept(5, 9), PEER_DROP_NONE);
	/* Check alone changes nothing. */
	struct peer_header h = from(PEER, 5, 11);
	assert_int_equal(peer_replay_check(&table, &h, PEER_IP, PEER_UDP), PEER_DROP_NONE);
	assert_int_equal(peer_replay_check(&table, &h, PEER_IP, PEER_UDP), PEER_DROP_NONE);
	/* The window's lower edge. */
	uint64_t top = 10 + PEER_REPLAY_WINDOW;
	assert_int_equal(accept(5, top), PEER_DROP_NONE);
	assert_int_equal(accept(5, top - PEER_REPLAY_WINDOW), PEER_DROP_TOO_OLD);
	assert_int_equal(accept(5, top - PEER_REPLAY_WINDOW + 1), PEER_DROP_NONE);
	assert_int_equal(accept(5, top - PEER_REPLAY_WINDOW + 1), PEER_DROP_REPLAY);
	assert_int_equal(accept(5, 9), PEER_DROP_TOO_OLD);
	/* A jump beyond the whole window forgets everything below. */
	assert_int_equal(accept(5, top + 5 * PEER_REPLAY_WINDOW), PEER_DROP_NONE);
	assert_int_equal(accept(5, top + 5 * PEER_REPLAY_WINDOW - 1), PEER_DROP_NONE);
	assert_int_equal(accept(5, top), PEER_DROP_TOO_OLD);
	assert_int_equal(accept(5, UINT64_MAX), PEER_DROP_NONE);
	assert_int_equal(accept(5, UINT64_MAX), PEER_DROP_REPLAY);
}

static void test_incarnations(void **state)
{
	(void)state;
	assert_int_equal(accept(5, 100), PEER_DROP_NONE);
	/* The peer restarted: a higher incarnation starts from sequence 1. */
	assert_int_equal(accept(6, 1), PEER_DROP_NONE);
	assert_int_equal(accept(6, 1), PEER_DROP_REPLAY);
	assert_int_equal(accept(6, 2), PEER_DROP_NONE);
	/* The old incarnation's messages are refused, new or not. */
	assert_int_equal(accept(5, 101), PEER_DROP_STALE_INCARNATION);
	assert_int_equal(accept(5, 100), PEER_DROP_STALE_INCARNATION);
	assert_int_equal(peer_replay_find(&table, PEER)->incarnation, 6);
}

/* Property: the window agrees with a reference list of every accepted
 * sequence, for deliveries mostly just ahead of the top (new or duplicate),
 * often behind it (reordered, near and beyond the window's edge), and
 * sometimes far ahead (a burst lost). */
static uint64_t next_delivery(struct prop_rng *r, uint64_t top)
{
	uint64_t pick = prop_below(r, 64), s;
	if (pick < 40)
		s = top + prop_below(r, 8);
	else if (pick < 63)
		s = top - prop_below(r, PEER_REPLAY_WINDOW + 64);
	else
		s = top + prop_below(r, 3 * PEER_REPLAY_WINDOW);
	return s;
}

static void test_prop_window(void **state)
{
	(void)state;
	enum { SPAN = 1 << 20, DELIVERIES = 30000 };
	static unsigned char seen[SPAN];
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed);
	for (int round = 0; round < 5; round++) {
		setup(NULL);
		memset(seen, 0, sizeof(seen));
		uint64_t top = 0, base = prop_below(&r, 1000000);
		unsigned long counts[PEER_DROP_COUNT] = {0};
		for (unsigned long i = 0; i < DELIVERIES; i++) {
			uint64_t s = next_delivery(&r, top);
			if (s < 1 || s >= SPAN) /* wrapped below 1, or past the reference */
				continue;
			enum peer_drop want = s > top			      ? PEER_DROP_NONE
					      : top - s >= PEER_REPLAY_WINDOW ? PEER_DROP_TOO_OLD
					      : seen[s]			      ? PEER_DROP_REPLAY
									      : PEER_DROP_NONE;
			enum peer_drop got = accept(7, base + s);
			if (got != want)
				prop_report("window matches the reference", seed, i);
			assert_int_equal(got, want);
			counts[got]++;
			if (got == PEER_DROP_NONE) {
				seen[s] = 1;
				if (s > top)
					top = s;
			}
		}
		/* Every outcome happened, so the property judged each of them. */
		assert_true(counts[PEER_DROP_NONE] > 1000 && counts[PEER_DROP_REPLAY] > 1000 &&
			    counts[PEER_DROP_TOO_OLD] > 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_add, setup),
	    cmocka_unit_test_setup(test_sender_checks, setup),
	    cmocka_unit_test_setup(test_replay_and_window, setup),
	    cmocka_unit_test_setup(test_incarnations, setup),
	    cmocka_unit_test(test_prop_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
