/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sender checks and the anti-replay window (control/replication/
 * peer_replay.h): each refusal reason, the window's edges, restarts
 * (incarnations), and a property: against a reference set of every accepted
 * (incarnation, seq), random reordered and duplicated deliveries are
 * accepted exactly when new and within the window. The ACK read off the
 * window (peer_replay_ack): its shape, the run below the window, the 32
 * newest ranges, and a property against the same reference (never names a
 * seq not accepted, names every accepted one it can, always encodes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

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
	assert_true(sizeof(struct peer_replay) <= 2600);
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

static const struct cluster_key ack_key = {.bytes = {7}};

/* Whether ack is what peer_encode_ack takes (and so what a peer decodes). */
static void assert_encodes(const struct peer_ack *ack)
{
	struct peer_header h = from(SELF, 3, 1);
	h.type = PEER_ACK;
	h.receiver = PEER;
	uint8_t buf[PEER_LEN_MAX];
	assert_true(peer_encode_ack(&h, ack, &ack_key, buf, sizeof(buf)) > 0);
}

static bool covered(const struct peer_ack *ack, uint64_t seq)
{
	for (unsigned int i = 0; i < ack->count; i++)
		if (ack->range[i].first <= seq && seq <= ack->range[i].last)
			return true;
	return false;
}

static void test_ack_shape(void **state)
{
	(void)state;
	struct peer_ack ack;
	assert_int_equal(peer_replay_ack(&table, 9, &ack), -ENOENT);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 0); /* nothing accepted: nothing to say */
	assert_int_equal(ack.incarnation, 0);
	for (uint64_t s = 1; s <= 5; s++)
		assert_int_equal(accept(4, s), PEER_DROP_NONE);
	assert_int_equal(accept(4, 7), PEER_DROP_NONE);
	assert_int_equal(accept(4, 9), PEER_DROP_NONE);
	assert_int_equal(accept(4, 10), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.incarnation, 4);
	assert_int_equal(ack.count, 3);
	assert_int_equal(ack.range[0].first, 1);
	assert_int_equal(ack.range[0].last, 5);
	assert_int_equal(ack.range[1].first, 7);
	assert_int_equal(ack.range[1].last, 7);
	assert_int_equal(ack.range[2].first, 9);
	assert_int_equal(ack.range[2].last, 10);
	assert_encodes(&ack);
	/* A restart of the peer: only its new life's seqs are acknowledged. */
	assert_int_equal(accept(5, 2), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.incarnation, 5);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, 2);
	assert_int_equal(ack.range[0].last, 2);
}

/* A peer that sends more than a window between two of our ACKs still gets
 * one range covering everything: the run that slid below the window. */
static void test_ack_run_below_window(void **state)
{
	(void)state;
	struct peer_ack ack;
	for (uint64_t s = 1; s <= 3 * PEER_REPLAY_WINDOW; s++)
		assert_int_equal(accept(1, s), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, 1);
	assert_int_equal(ack.range[0].last, 3 * PEER_REPLAY_WINDOW);
	/* A hole: the run restarts after it once the hole leaves the window. */
	uint64_t hole = 3 * PEER_REPLAY_WINDOW + 1;
	for (uint64_t s = hole + 1; s <= hole + 2 * PEER_REPLAY_WINDOW; s++)
		assert_int_equal(accept(1, s), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, hole + 1);
	assert_int_equal(ack.range[0].last, hole + 2 * PEER_REPLAY_WINDOW);
	/* The run and the window apart: the window's lowest seq is missing. */
	uint64_t top = hole + 2 * PEER_REPLAY_WINDOW;
	assert_int_equal(accept(1, top + 2), PEER_DROP_NONE); /* top + 1 lost */
	for (uint64_t s = top + 3; s <= top + PEER_REPLAY_WINDOW; s++)
		assert_int_equal(accept(1, s), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 2);
	assert_int_equal(ack.range[0].first, hole + 1);
	assert_int_equal(ack.range[0].last, top);
	assert_int_equal(ack.range[1].first, top + 2);
	assert_int_equal(ack.range[1].last, top + PEER_REPLAY_WINDOW);
	assert_encodes(&ack);
	/* Once the hole leaves the window, the run before it is no longer named. */
	assert_int_equal(accept(1, top + PEER_REPLAY_WINDOW + 1), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, top + 2);
	top += PEER_REPLAY_WINDOW + 1;
	/* A jump past a whole window: nothing below the new window is known. */
	uint64_t far = top + 10 * PEER_REPLAY_WINDOW;
	assert_int_equal(accept(1, far), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, far);
	assert_int_equal(ack.range[0].last, far);
	assert_int_equal(accept(1, UINT64_MAX), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, 1);
	assert_true(ack.range[0].first == UINT64_MAX && ack.range[0].last == UINT64_MAX);
	/* A restart of the peer after a long run: the run is of its old life. */
	for (uint64_t s = 5; s <= 2 * PEER_REPLAY_WINDOW; s++)
		assert_int_equal(accept(2, s), PEER_DROP_NONE);
	for (uint64_t s = 1; s <= 3; s++)
		assert_int_equal(accept(3, s), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.incarnation, 3);
	assert_int_equal(ack.count, 1);
	assert_int_equal(ack.range[0].first, 1);
	assert_int_equal(ack.range[0].last, 3);
	assert_encodes(&ack);
}

static void test_ack_newest_ranges(void **state)
{
	(void)state;
	struct peer_ack ack;
	for (uint64_t s = 1; s <= 199; s += 2)
		assert_int_equal(accept(1, s), PEER_DROP_NONE);
	assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
	assert_int_equal(ack.count, PEER_ACK_MAX_RANGES);
	for (unsigned int i = 0; i < PEER_ACK_MAX_RANGES; i++) {
		uint64_t want = 199 - 2 * (PEER_ACK_MAX_RANGES - 1 - i);
		assert_int_equal(ack.range[i].first, want);
		assert_int_equal(ack.range[i].last, want);
	}
	assert_encodes(&ack);
}

/* Property: for random loss and reordering, the ACK never names a seq that
 * was not accepted, names every accepted seq of the window when it has room,
 * and always encodes. */
static void test_prop_ack(void **state)
{
	(void)state;
	enum { SPAN = 8 * PEER_REPLAY_WINDOW, CASES = 300 };
	static unsigned char accepted[SPAN + 1];
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed ^ 0xac4);
	unsigned long full = 0, roomy = 0;
	for (unsigned long c = 0; c < CASES; c++) {
		setup(NULL);
		memset(accepted, 0, sizeof(accepted));
		static const uint64_t loss_per_mille[] = {0, 2, 20, 200};
		uint64_t loss = loss_per_mille[prop_below(&r, 4)];
		uint64_t n = 1 + prop_below(&r, SPAN), top = 0;
		for (uint64_t s = 1; s <= n; s++) {
			/* Each seq lost or delivered; now and then an older one
			 * arrives late (a retransmitted hole, or a duplicate). */
			uint64_t seq[2] = {
			    s, s > 40 && prop_below(&r, 8) == 0 ? s - prop_below(&r, 40) : 0};
			for (int j = 0; j < 2; j++) {
				if (seq[j] == 0 || prop_below(&r, 1000) < loss)
					continue;
				if (accept(1, seq[j]) == PEER_DROP_NONE) {
					accepted[seq[j]] = 1;
					if (seq[j] > top)
						top = seq[j];
				}
			}
		}
		struct peer_ack ack;
		assert_int_equal(peer_replay_ack(&table, PEER, &ack), 0);
		if (top == 0) {
			assert_int_equal(ack.count, 0);
			continue;
		}
		assert_encodes(&ack);
		for (unsigned int i = 0; i < ack.count; i++)
			for (uint64_t s = ack.range[i].first; s <= ack.range[i].last; s++) {
				if (!accepted[s])
					prop_report("ack names only accepted seqs", seed, c);
				assert_true(accepted[s]);
			}
		assert_int_equal(ack.range[ack.count - 1].last, top);
		if (ack.count == PEER_ACK_MAX_RANGES) {
			full++;
			continue;
		}
		roomy++;
		uint64_t low = top > PEER_REPLAY_WINDOW ? top - PEER_REPLAY_WINDOW + 1 : 1;
		for (uint64_t s = low; s <= top; s++) {
			if (accepted[s] && !covered(&ack, s))
				prop_report("ack names every accepted seq of the window", seed, c);
			assert_true(!accepted[s] || covered(&ack, s));
		}
		/* Below the window: the accepted run touching it is named whole. */
		for (uint64_t s = low - 1; s >= 1 && accepted[s] && low > 1; s--)
			assert_true(covered(&ack, s));
	}
	assert_true(full > 10 && roomy > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_add, setup),
	    cmocka_unit_test_setup(test_sender_checks, setup),
	    cmocka_unit_test_setup(test_replay_and_window, setup),
	    cmocka_unit_test_setup(test_incarnations, setup),
	    cmocka_unit_test(test_prop_window),
	    cmocka_unit_test_setup(test_ack_shape, setup),
	    cmocka_unit_test_setup(test_ack_run_below_window, setup),
	    cmocka_unit_test_setup(test_ack_newest_ranges, setup),
	    cmocka_unit_test(test_prop_ack),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
