/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Flow control (control/replication/peer_pending.h): the pending set
 * (coalescing, FIFO order, bound, the index under deletions against a
 * model) and the window decision; and the regression of issue 12's lag:
 * a receiver that acknowledges late fills the window, and what changes
 * meanwhile waits coalesced and ships when ACKs open it, with no full sync
 * (the old path forgot the kept messages and pushed the full state on every
 * overflow), every auction's last change reaching the receiver.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer_link.h"
#include "peer_pending.h"
#include "prop.h"

static struct peer_link link; /* about 1.6 MiB: never on the stack */
static struct peer_pending pending;

static const uint8_t body[3] = {1, 2, 3};

static int setup(void **state)
{
	(void)state;
	peer_link_init(&link, 2);
	return peer_pending_init(&pending, 64);
}

static int teardown(void **state)
{
	(void)state;
	peer_pending_fini(&pending);
	return 0;
}

static void test_init_bounds(void **state)
{
	(void)state;
	struct peer_pending s;
	assert_int_equal(peer_pending_init(&s, 0), -EINVAL);
	assert_int_equal(peer_pending_init(&s, PEER_PENDING_MAX + 1), -EINVAL);
	assert_int_equal(peer_pending_add(&s, 1, 0), -ENOSPC); /* a failed init holds nothing */
	assert_false(peer_pending_contains(&s, 1));
	assert_int_equal(peer_pending_init(&s, 1), 0);
	assert_int_equal(peer_pending_add(&s, 7, 0), 0);
	assert_int_equal(peer_pending_add(&s, 7, 0), 0);
	assert_int_equal(peer_pending_add(&s, 8, 0), -ENOSPC);
	peer_pending_fini(&s);
}

static void test_coalesced_in_order(void **state)
{
	(void)state;
	for (uint64_t id = 10; id < 20; id++)
		assert_int_equal(peer_pending_add(&pending, id, 100 + id), 0);
	/* Changed again while pending: one entry each, place and age kept. */
	for (uint64_t id = 19; id >= 10; id--)
		assert_int_equal(peer_pending_add(&pending, id, 500), 0);
	assert_int_equal(peer_pending_count(&pending), 10);
	assert_int_equal(pending.stats.added, 10);
	assert_int_equal(pending.stats.coalesced, 10);
	assert_int_equal(peer_pending_age_ms(&pending, 200), 90); /* id 10, added at 110 */
	assert_int_equal(peer_pending_age_ms(&pending, 100), 10); /* a step back: its size */
	uint64_t id, peeked;
	for (uint64_t want = 10; want < 20; want++) {
		assert_true(peer_pending_peek(&pending, &peeked));
		assert_true(peer_pending_pop(&pending, &id));
		assert_int_equal(id, want);
		assert_int_equal(peeked, want);
		assert_false(peer_pending_contains(&pending, want));
	}
	assert_false(peer_pending_pop(&pending, &id));
	assert_int_equal(peer_pending_age_ms(&pending, 1000), 0);
	assert_int_equal(pending.stats.shipped, 10);
	/* Taken out, it can be pending again. */
	assert_int_equal(peer_pending_add(&pending, 10, 0), 0);
	assert_int_equal(peer_pending_count(&pending), 1);
}

static void test_bounded(void **state)
{
	(void)state;
	for (uint64_t id = 1; id <= 64; id++)
		assert_int_equal(peer_pending_add(&pending, id * 1000003, 0), 0);
	assert_int_equal(peer_pending_add(&pending, 5, 0), -ENOSPC);
	assert_int_equal(peer_pending_add(&pending, 1000003, 0), 0); /* pending already */
	assert_false(peer_pending_contains(&pending, 5));
	peer_pending_clear(&pending);
	assert_int_equal(peer_pending_count(&pending), 0);
	for (uint64_t id = 1; id <= 64; id++)
		assert_false(peer_pending_contains(&pending, id * 1000003));
	assert_int_equal(peer_pending_add(&pending, 5, 0), 0);
}

/* Against a model, with ids that collide in the index (multiples of a
 * power of two, few distinct): every add, pop and contains agrees, so the
 * backward-shift deletion never loses or strands an id. */
static void test_index_against_model(void **state)
{
	(void)state;
	struct prop_rng rng;
	prop_seed(&rng, prop_base_seed());
	uint64_t fifo[64];
	unsigned int head = 0, n = 0;
	for (unsigned int step = 0; step < 200000; step++) {
		uint64_t id = (prop_below(&rng, 96) + 1) << 20;
		bool in = false;
		for (unsigned int i = 0; i < n; i++)
			in |= fifo[(head + i) % 64] == id;
		assert_int_equal(peer_pending_contains(&pending, id), in);
		if (prop_below(&rng, 2) == 0) {
			int rc = peer_pending_add(&pending, id, step);
			if (in) {
				assert_int_equal(rc, 0);
			} else if (n == 64) {
				assert_int_equal(rc, -ENOSPC);
			} else {
				assert_int_equal(rc, 0);
				fifo[(head + n++) % 64] = id;
			}
		} else {
			uint64_t got;
			assert_int_equal(peer_pending_pop(&pending, &got), n > 0);
			if (n > 0) {
				assert_int_equal(got, fifo[head]);
				head = (head + 1) % 64;
				n--;
			}
		}
		assert_int_equal(peer_pending_count(&pending), n);
	}
}

static struct peer_entry entry(uint64_t id)
{
	return (struct peer_entry){.auction_id = id};
}

static void test_window_decides(void **state)
{
	(void)state;
	peer_link_set_window(&link, 0);
	assert_int_equal(link.window, 1);
	peer_link_set_window(&link, PEER_LINK_WINDOW + 1);
	assert_int_equal(link.window, PEER_LINK_WINDOW);
	peer_link_set_window(&link, 4);
	struct peer_entry e[2] = {entry(1), entry(2)};
	for (uint64_t seq = 1; seq <= 4; seq++) {
		assert_int_equal(peer_flow_admit(&link, &pending, e, 2, 0), PEER_FLOW_SEND);
		assert_int_equal(peer_link_track(&link, seq, PEER_DELTA, body, 3, 0), 0);
	}
	/* Full: held, coalesced, never a full sync. */
	struct peer_entry f[2] = {entry(2), entry(3)};
	assert_int_equal(peer_flow_admit(&link, &pending, e, 2, 1), PEER_FLOW_HELD);
	assert_int_equal(peer_flow_admit(&link, &pending, f, 2, 2), PEER_FLOW_HELD);
	assert_int_equal(peer_pending_count(&pending), 3);
	/* The second is held behind the pending ids, without asking the window. */
	assert_int_equal(link.stats.window_full, 1);
	assert_false(peer_flow_may_drain(&link, &pending));
	assert_int_equal(link.stats.window_full, 1); /* a wait is not counted */
	/* An ACK opens it: pending ids drain first; a new DELTA waits behind
	 * them even with room, so it is held too. */
	struct peer_ack ack = {.incarnation = 1, .count = 1, .range = {{1, 2}}};
	assert_int_equal(peer_link_on_ack(&link, &ack, 5), 2);
	assert_true(peer_flow_may_drain(&link, &pending));
	struct peer_entry g = entry(9);
	assert_int_equal(peer_flow_admit(&link, &pending, &g, 1, 6), PEER_FLOW_HELD);
	uint64_t id;
	for (uint64_t want = 1; want <= 3; want++) {
		assert_true(peer_pending_pop(&pending, &id));
		assert_int_equal(id, want);
	}
	assert_true(peer_pending_pop(&pending, &id));
	assert_int_equal(id, 9);
	assert_int_equal(peer_flow_admit(&link, &pending, &g, 1, 7), PEER_FLOW_SEND);
	assert_int_equal(link.stats.outstanding_overflows, 0);
}

/* Held for the caller's own reason (its outgoing ring full), the window
 * open: pending all the same, and what follows waits behind them. */
static void test_held_with_the_window_open(void **state)
{
	(void)state;
	struct peer_entry e[2] = {entry(4), entry(5)};
	assert_int_equal(peer_flow_hold(&pending, e, 2, 0), PEER_FLOW_HELD);
	assert_int_equal(link.stats.window_full, 0);
	assert_true(peer_flow_may_drain(&link, &pending));
	assert_int_equal(peer_flow_admit(&link, &pending, e, 1, 1), PEER_FLOW_HELD);
	assert_int_equal(peer_pending_count(&pending), 2);
}

static void test_overflow_is_the_last_resort(void **state)
{
	(void)state;
	peer_link_set_window(&link, 1);
	assert_int_equal(peer_link_track(&link, 1, PEER_DELTA, body, 3, 0), 0);
	struct peer_entry e[65];
	for (unsigned int i = 0; i < 65; i++)
		e[i] = entry(i + 1);
	assert_int_equal(peer_flow_admit(&link, &pending, e, 64, 0), PEER_FLOW_HELD);
	assert_int_equal(peer_flow_admit(&link, &pending, e, 64, 0), PEER_FLOW_HELD);
	assert_int_equal(pending.stats.overflows, 0);
	/* One auction more than the set holds: the full state instead. */
	assert_int_equal(peer_flow_admit(&link, &pending, e, 65, 0), PEER_FLOW_OVERFLOW);
	assert_int_equal(pending.stats.overflows, 1);
	assert_int_equal(peer_pending_count(&pending), 0);
}

/*
 * Issue 12's lag, simulated: 2,000 auctions, 200 changes every millisecond
 * for 5 s (20 entries per DELTA: 10 DELTAs a millisecond), a receiver that
 * acks everything received only every 150 ms (CPU-starved: 1,500 DELTAs
 * between two ACKs), the default window. The old path overflowed its 256
 * kept messages 26 ms after every ACK and pushed a full sync each time. Now: no overflow, no full
 * sync, and once the receiver acks, every auction's last version has reached it.
 */
#define SIM_AUCTIONS 2000
#define SIM_PER_MS   200
#define SIM_PER_MSG  20
static uint64_t version[SIM_AUCTIONS + 1];  /* sender's, per auction */
static uint64_t received[SIM_AUCTIONS + 1]; /* the receiver's merge (max) */

static void send_delta(uint64_t *seq, const struct peer_entry *e, unsigned int n, uint64_t now)
{
	(*seq)++;
	assert_int_equal(peer_link_track(&link, *seq, PEER_DELTA, body, 3, now), 0);
	/* Delivered at once (the link is not lossy here): a state is merged
	 * by maximum, as the receiver merges entries. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t a = e[i].auction_id;
		if (version[a] > received[a])
			received[a] = version[a];
	}
}

static void test_late_acks_need_no_full_sync(void **state)
{
	(void)state;
	struct prop_rng rng;
	prop_seed(&rng, prop_base_seed() + 1);
	peer_pending_fini(&pending);
	assert_int_equal(peer_pending_init(&pending, SIM_AUCTIONS), 0);
	memset(version, 0, sizeof(version));
	memset(received, 0, sizeof(received));
	uint64_t seq = 0, acked = 0, syncs = 0, held = 0;
	for (uint64_t now = 1; now <= 6000; now++) {
		if (now % 150 == 0 && seq > acked) { /* the late ACK: all received */
			struct peer_ack ack = {
			    .incarnation = 1, .count = 1, .range = {{acked + 1, seq}}};
			peer_link_on_ack(&link, &ack, now);
			acked = seq;
		}
		/* Drain what waited, as replicate.c does before a new batch. */
		while (peer_flow_may_drain(&link, &pending)) {
			struct peer_entry e[SIM_PER_MSG];
			unsigned int n = 0;
			uint64_t id;
			while (n < SIM_PER_MSG && peer_pending_pop(&pending, &id))
				e[n++] = entry(id);
			send_delta(&seq, e, n, now);
		}
		if (now > 5000)
			continue; /* the last second: no changes, only ACKs */
		struct peer_entry e[SIM_PER_MS];
		for (unsigned int i = 0; i < SIM_PER_MS; i++) {
			uint64_t a = prop_below(&rng, SIM_AUCTIONS) + 1;
			version[a]++;
			e[i] = entry(a);
		}
		for (unsigned int first = 0; first < SIM_PER_MS; first += SIM_PER_MSG) {
			switch (peer_flow_admit(&link, &pending, e + first, SIM_PER_MSG, now)) {
			case PEER_FLOW_SEND:
				send_delta(&seq, e + first, SIM_PER_MSG, now);
				break;
			case PEER_FLOW_HELD:
				held++;
				break;
			case PEER_FLOW_OVERFLOW:
				syncs++;
				break;
			}
		}
	}
	assert_true(held > 0); /* the premise: the window did fill */
	assert_int_equal(syncs, 0);
	assert_int_equal(link.stats.outstanding_overflows, 0);
	assert_int_equal(peer_pending_count(&pending), 0);
	assert_true(pending.stats.shipped > 0);
	assert_true(pending.stats.coalesced > 0);
	for (unsigned int a = 1; a <= SIM_AUCTIONS; a++)
		assert_int_equal(received[a], version[a]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_coalesced_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_against_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window_decides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_with_the_window_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overflow_is_the_last_resort, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_late_acks_need_no_full_sync, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
