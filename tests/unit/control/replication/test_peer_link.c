/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One peer's link state (control/replication/peer_link.h): kept messages and
 * their bounds, ACKs, the RTO (RFC 6298, Karn, clamp, doubling), lag,
 * reachability, incarnations, NTP heartbeats and the clock filter, the clock
 * quarantine rule, sync paging; and a property: over a simulated lossy,
 * reordering, duplicating link (ACKs from peer_replay_ack, encoded and
 * decoded), every message sent is eventually acknowledged, no ACK frees a
 * message that was not received, and no sequence number is reused.
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

#include "peer_link.h"
#include "peer_replay.h"
#include "prop.h"

#define SELF 1
#define PEER 2
#define MS   1000000ull /* ns */

/* About 370 KiB each: never on the stack. */
static struct peer_link link_a, link_b;
static struct peer_link cluster[4][4];

static const uint8_t body[3] = {1, 2, 3};

static int setup(void **state)
{
	(void)state;
	peer_link_init(&link_a, PEER);
	peer_link_init(&link_b, SELF);
	return 0;
}

static int track(struct peer_link *l, uint64_t seq, uint64_t now_ms)
{
	return peer_link_track(l, seq, PEER_DELTA, body, sizeof(body), now_ms);
}

static struct peer_ack ack_of(uint64_t incarnation, unsigned int n, const uint64_t *first_last)
{
	struct peer_ack a = {.incarnation = incarnation, .count = (uint8_t)n};
	for (unsigned int i = 0; i < n; i++)
		a.range[i] = (struct peer_range){first_last[2 * i], first_last[2 * i + 1]};
	return a;
}

static void test_seq(void **state)
{
	(void)state;
	for (uint64_t want = 1; want <= 1000; want++)
		assert_int_equal(peer_link_take_seq(&link_a), want);
	assert_int_equal(link_a.node, PEER);
}

static void test_track_bounds(void **state)
{
	(void)state;
	uint8_t big[PEER_BODY_MAX + 1] = {0};
	assert_int_equal(peer_link_track(&link_a, 1, PEER_HEARTBEAT, body, 3, 0), -EINVAL);
	assert_int_equal(peer_link_track(&link_a, 1, PEER_ACK, body, 3, 0), -EINVAL);
	assert_int_equal(peer_link_track(&link_a, 0, PEER_DELTA, body, 3, 0), -EINVAL);
	assert_int_equal(peer_link_track(&link_a, 1, PEER_DELTA, big, sizeof(big), 0), -EINVAL);
	assert_int_equal(peer_link_track(&link_a, 1, PEER_DELTA, NULL, 3, 0), -EINVAL);
	assert_int_equal(peer_link_outstanding(&link_a), 0);
	assert_int_equal(peer_link_track(&link_a, 1, PEER_SYNC, big, PEER_BODY_MAX, 0), 0);
	for (uint64_t s = 2; s <= PEER_LINK_OUTSTANDING; s++)
		assert_int_equal(track(&link_a, s, s), 0);
	assert_int_equal(peer_link_outstanding(&link_a), PEER_LINK_OUTSTANDING);
	assert_int_equal(track(&link_a, 999, 999), -ENOSPC);
	assert_int_equal(track(&link_a, 1000, 1000), -ENOSPC);
	assert_int_equal(link_a.stats.outstanding_overflows, 2);
	assert_int_equal(link_a.stats.tracked, PEER_LINK_OUTSTANDING);
	/* Oldest first, bodies as given. */
	const struct peer_link_msg *m = peer_link_outstanding_at(&link_a, 0);
	assert_int_equal(m->seq, 1);
	assert_int_equal(m->type, PEER_SYNC);
	assert_int_equal(m->body_len, PEER_BODY_MAX);
	m = peer_link_outstanding_at(&link_a, 1);
	assert_int_equal(m->seq, 2);
	assert_int_equal(m->body_len, 3);
	assert_memory_equal(m->body, body, 3);
	assert_null(peer_link_outstanding_at(&link_a, PEER_LINK_OUTSTANDING));
	/* The caller's fallback: forget, full sync, and keep going. */
	peer_link_forget_outstanding(&link_a);
	assert_int_equal(peer_link_outstanding(&link_a), 0);
	assert_int_equal(peer_link_lag_ms(&link_a, 5000), 0);
	assert_null(peer_link_next_due(&link_a, 1000000));
	for (uint64_t s = 1; s <= PEER_LINK_OUTSTANDING; s++)
		assert_int_equal(track(&link_a, 1000 + s, 2000), 0);
	assert_int_equal(track(&link_a, 5000, 2000), -ENOSPC);
}

static void test_ack_frees_covered(void **state)
{
	(void)state;
	for (uint64_t s = 1; s <= 10; s++)
		assert_int_equal(track(&link_a, s, 100), 0);
	const uint64_t r[] = {1, 3, 5, 5, 8, 10};
	struct peer_ack a = ack_of(1, 3, r);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 150), 7);
	assert_int_equal(peer_link_outstanding(&link_a), 3);
	assert_int_equal(peer_link_outstanding_at(&link_a, 0)->seq, 4);
	assert_int_equal(peer_link_outstanding_at(&link_a, 1)->seq, 6);
	assert_int_equal(peer_link_outstanding_at(&link_a, 2)->seq, 7);
	/* A repeated ACK frees nothing more. */
	assert_int_equal(peer_link_on_ack(&link_a, &a, 160), 0);
	assert_int_equal(link_a.stats.acks_received, 2);
	assert_int_equal(link_a.stats.acked, 7);
	/* The lost ones come due after the RTO, oldest first. */
	uint64_t rto = peer_link_rto_ms(&link_a);
	assert_null(peer_link_next_due(&link_a, 100 + rto - 1));
	struct peer_link_msg *m = peer_link_next_due(&link_a, 100 + rto);
	assert_non_null(m);
	assert_int_equal(m->seq, 4);
	/* Slots freed are reused: tracking again works, in order. */
	assert_int_equal(track(&link_a, 11, 200), 0);
	assert_int_equal(peer_link_outstanding_at(&link_a, 3)->seq, 11);
	/* An empty ACK frees nothing. */
	struct peer_ack empty = {.incarnation = 1};
	assert_int_equal(peer_link_on_ack(&link_a, &empty, 300), 0);
	assert_int_equal(peer_link_outstanding(&link_a), 4);
}

static void test_rto(void **state)
{
	(void)state;
	assert_int_equal(peer_link_rto_ms(&link_a), PEER_RTO_INITIAL_MS);
	/* First sample R = 100: srtt 100, rttvar 50, rto = 100 + 4 * 50. */
	assert_int_equal(track(&link_a, 1, 1000), 0);
	const uint64_t r1[] = {1, 1};
	struct peer_ack a = ack_of(1, 1, r1);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 1100), 1);
	assert_int_equal(peer_link_rto_ms(&link_a), 300);
	/* Second sample 100: rttvar 3/4 * 50 = 37.5, rto = 100 + 150. */
	assert_int_equal(track(&link_a, 2, 2000), 0);
	const uint64_t r2[] = {2, 2};
	a = ack_of(1, 1, r2);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 2100), 1);
	assert_int_equal(peer_link_rto_ms(&link_a), 250);

	/* Karn: a retransmitted message's ACK gives no sample, however late. */
	assert_int_equal(track(&link_a, 3, 3000), 0);
	struct peer_link_msg *m = peer_link_next_due(&link_a, 3250);
	assert_non_null(m);
	peer_link_resent(&link_a, m, 4, 3250);
	assert_int_equal(m->tries, 2);
	assert_int_equal(link_a.stats.retransmissions, 1);
	const uint64_t r4[] = {4, 4};
	a = ack_of(1, 1, r4);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 3990), 1);
	assert_int_equal(peer_link_rto_ms(&link_a), 250);

	/* One ACK freeing several: each once-sent one is a sample, oldest first
	 * (190 then 100): srtt 111.25 then 109.84, rttvar 50.6 then 40.8. */
	assert_int_equal(track(&link_a, 5, 5000), 0);
	assert_int_equal(track(&link_a, 6, 5090), 0);
	const uint64_t r56[] = {5, 6};
	a = ack_of(1, 1, r56);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 5190), 2);
	assert_int_equal(peer_link_rto_ms(&link_a), 273);

	/* Clamp from below: tiny RTTs (a LAN) give PEER_RTO_MIN_MS. */
	for (uint64_t s = 10; s < 60; s++) {
		assert_int_equal(track(&link_a, s, 10000 + s), 0);
		const uint64_t rs[] = {s, s};
		a = ack_of(1, 1, rs);
		assert_int_equal(peer_link_on_ack(&link_a, &a, 10000 + s + 1), 1);
	}
	assert_int_equal(peer_link_rto_ms(&link_a), PEER_RTO_MIN_MS);
	/* Clamp from above. */
	assert_int_equal(track(&link_a, 100, 20000), 0);
	const uint64_t r100[] = {100, 100};
	a = ack_of(1, 1, r100);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 29000), 1);
	assert_int_equal(peer_link_rto_ms(&link_a), PEER_RTO_MAX_MS);
}

/* The wait doubles per try: rto, 2 rto, 4 rto ... capped at PEER_RTO_MAX_MS. */
static void test_backoff(void **state)
{
	(void)state;
	/* rto 300 (one sample of 100, as in test_rto). */
	assert_int_equal(track(&link_a, 1, 0), 0);
	const uint64_t r1[] = {1, 1};
	struct peer_ack a = ack_of(1, 1, r1);
	peer_link_on_ack(&link_a, &a, 100);
	assert_int_equal(peer_link_rto_ms(&link_a), 300);

	assert_int_equal(track(&link_a, 2, 1000), 0);
	const uint64_t waits[] = {300, 600, 1000, 1000, 1000};
	uint64_t t = 1000;
	for (unsigned int i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		assert_null(peer_link_next_due(&link_a, t + waits[i] - 1));
		struct peer_link_msg *m = peer_link_next_due(&link_a, t + waits[i]);
		assert_non_null(m);
		t += waits[i];
		peer_link_resent(&link_a, m, 100 + i, t);
		assert_int_equal(m->seq, 100 + i);
		assert_int_equal(m->sent_ms, t);
		assert_int_equal(m->first_sent_ms, 1000);
	}
	/* Lag counts from the first transmission, retransmissions or not. */
	assert_int_equal(peer_link_lag_ms(&link_a, t + 5), t + 5 - 1000);
	/* A resend of a message that is not this link's is ignored. */
	struct peer_link_msg stray = {0};
	peer_link_resent(&link_a, &stray, 7, t);
	assert_int_equal(stray.tries, 0);
	/* The oldest due goes first, even when a newer one is due too. */
	assert_int_equal(track(&link_a, 200, t), 0);
	struct peer_link_msg *m = peer_link_next_due(&link_a, t + 5000);
	assert_int_equal(m->first_sent_ms, 1000);
}

/* A peer that acknowledges late (its queue holds what was sent) gets one
 * probe per timeout, not everything again; once an ACK names a later seq,
 * what it left out is a loss and goes at its time. */
static void test_late_peer_gets_a_probe(void **state)
{
	(void)state;
	for (uint64_t s = 1; s <= 10; s++)
		assert_int_equal(track(&link_a, s, 0), 0);
	uint64_t rto = peer_link_rto_ms(&link_a);
	struct peer_link_msg *m = peer_link_next_due(&link_a, rto);
	assert_non_null(m);
	assert_int_equal(m->seq, 1);
	peer_link_resent(&link_a, m, 11, rto);
	/* Messages 2-10 are as late as the first was, but nothing says lost. */
	assert_null(peer_link_next_due(&link_a, rto));
	assert_null(peer_link_next_due(&link_a, rto + 1));
	/* The probe's ACK alone: 2-10 were passed over, lost. */
	const uint64_t r[] = {11, 11};
	struct peer_ack a = ack_of(1, 1, r);
	assert_int_equal(peer_link_on_ack(&link_a, &a, rto + 2), 1);
	m = peer_link_next_due(&link_a, rto + 2);
	assert_non_null(m);
	assert_int_equal(m->seq, 2);
	peer_link_resent(&link_a, m, 12, rto + 2);
	m = peer_link_next_due(&link_a, rto + 2);
	assert_non_null(m);
	assert_int_equal(m->seq, 3);
	/* A newer message than the ACK's top is not a hole: only its time and
	 * being the oldest would send it. */
	assert_int_equal(track(&link_a, 20, rto + 2), 0);
	struct peer_link_msg *x;
	while ((x = peer_link_next_due(&link_a, 5 * rto)) != NULL) {
		assert_int_not_equal(x->seq, 20);
		peer_link_resent(&link_a, x, 100 + x->seq, 5 * rto);
	}
	assert_int_equal(link_a.stats.retransmissions, 2 + 9); /* 1 and 2; then 2-10 */
}

static void test_clock_step_back(void **state)
{
	(void)state;
	assert_int_equal(track(&link_a, 1, 100000), 0);
	peer_link_heard(&link_a, 100000);
	assert_true(peer_link_reachable(&link_a, 100500));
	/* The wall clock steps back 10 s: the message does not freeze for 10 s,
	 * and the silent peer is not shown reachable for 10 s either. */
	assert_non_null(peer_link_next_due(&link_a, 90000));
	assert_false(peer_link_reachable(&link_a, 90000));
	assert_int_equal(peer_link_lag_ms(&link_a, 90000), 10000);
	peer_link_heard(&link_a, 90000);
	assert_true(peer_link_reachable(&link_a, 90100));
	/* No RTT sample from an ACK "before" the send. */
	const uint64_t r1[] = {1, 1};
	struct peer_ack a = ack_of(1, 1, r1);
	assert_int_equal(peer_link_on_ack(&link_a, &a, 90000), 1);
	assert_int_equal(peer_link_rto_ms(&link_a), PEER_RTO_INITIAL_MS);
}

static void test_reachability(void **state)
{
	(void)state;
	assert_false(peer_link_reachable(&link_a, 0));
	assert_int_equal(peer_link_last_heard_ms_ago(&link_a, 12345), UINT64_MAX);
	peer_link_heard(&link_a, 1000);
	assert_int_equal(peer_link_last_heard_ms_ago(&link_a, 1250), 250);
	assert_true(peer_link_reachable(&link_a, 1000 + PEER_UNREACHABLE_MS - 1));
	assert_false(peer_link_reachable(&link_a, 1000 + PEER_UNREACHABLE_MS));
	peer_link_heard(&link_a, 5000);
	assert_true(peer_link_reachable(&link_a, 5100));
}

/* One heartbeat from `from` to `to`, sent at the sender's time t_ns and
 * received at the receiver's time t_ns + offset + delay (offset: receiver's
 * clock minus sender's). Returns the receiver's receive time. */
static uint64_t heartbeat(struct peer_link *from, struct peer_link *to, uint64_t t_ns,
			  int64_t offset_ns, uint64_t delay_ns)
{
	struct peer_heartbeat hb;
	peer_link_heartbeat_fill(from, t_ns, &hb);
	assert_int_equal(hb.transmit_ns, t_ns);
	uint64_t t4 = (uint64_t)((int64_t)t_ns + offset_ns) + delay_ns;
	peer_link_heartbeat_received(to, &hb, t4);
	return t4;
}

/* A round: A sends, B answers `hold` later; A's sample has offset off +
 * (d1 - d2) / 2 and round trip d1 + d2. Returns A's receive time. */
static uint64_t round_trip(uint64_t a_ns, int64_t off, uint64_t d1, uint64_t hold, uint64_t d2)
{
	uint64_t b_rx = heartbeat(&link_a, &link_b, a_ns, off, d1);
	return heartbeat(&link_b, &link_a, b_rx + hold, -off, d2);
}

static void test_heartbeat_offset(void **state)
{
	(void)state;
	int64_t offset_ms;
	uint64_t rtt_us;
	assert_false(peer_link_clock_offset(&link_a, &offset_ms, &rtt_us));
	/* B's clock is 250 ms ahead of A's. Delays asymmetric, in ms: the
	 * sample with the smallest round trip (3 + 1) wins: 250 + (3 - 1) / 2. */
	const int64_t off = 250 * (int64_t)MS;
	const uint64_t d[][2] = {{20, 5}, {9, 30}, {3, 1}, {40, 2}, {7, 7}};
	uint64_t t = 1700000000000ull * MS;
	/* The very first heartbeat echoes nothing (origin 0): no sample, and not
	 * counted as unmatched. */
	heartbeat(&link_b, &link_a, t, -off, 1 * MS);
	assert_false(peer_link_clock_offset(&link_a, NULL, NULL));
	assert_int_equal(link_a.stats.heartbeats_unmatched, 0);
	for (unsigned int i = 0; i < 5; i++) {
		t = round_trip(t + 200 * MS, off, d[i][0] * MS, 50 * MS, d[i][1] * MS);
		assert_true(peer_link_clock_offset(&link_a, &offset_ms, &rtt_us));
	}
	assert_int_equal(offset_ms, 251);
	assert_int_equal(rtt_us, 4000);
	/* B sees A 250 ms behind, from its own samples (B -> A -> B). */
	assert_true(peer_link_clock_offset(&link_b, &offset_ms, &rtt_us));
	assert_true(offset_ms <= -240 && offset_ms >= -260);
	/* The filter holds PEER_CLOCK_SAMPLES: the best one ages out. */
	for (unsigned int i = 0; i < PEER_CLOCK_SAMPLES; i++)
		t = round_trip(t + 200 * MS, off, 10 * MS, 50 * MS, 6 * MS);
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, &rtt_us));
	assert_int_equal(offset_ms, 252);
	assert_int_equal(rtt_us, 16000);
	/* Rounding to ms: sub-ms offsets, both signs. */
	peer_link_init(&link_a, PEER);
	peer_link_init(&link_b, SELF);
	round_trip(t, -(int64_t)(1500 * 1000), 0, 0, 0); /* -1.5 ms */
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
	assert_int_equal(offset_ms, -2);
	round_trip(t + 1000 * MS, -(int64_t)(1400 * 1000), 0, 0, 0);
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
	assert_int_equal(offset_ms, -1);
}

/* A step of this node's wall clock: the filter starts over, so the first
 * round trip after the step is the estimate (not the best of the samples
 * taken before it), and a heartbeat timed before the step yields none. */
static void test_clock_reset_after_a_step(void **state)
{
	(void)state;
	int64_t offset_ms;
	uint64_t t = 1700000000000ull * MS;
	heartbeat(&link_b, &link_a, t, 0, 1 * MS);
	for (unsigned int i = 0; i < PEER_CLOCK_SAMPLES; i++)
		t = round_trip(t + 200 * MS, 0, 1 * MS, 50 * MS, 1 * MS);
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
	assert_int_equal(offset_ms, 0);
	/* A's heartbeat leaves, then A's clock jumps 10 s ahead: B now looks
	 * 10 s behind. The answer to the heartbeat sent before the step
	 * matches nothing. */
	struct peer_heartbeat before, answer;
	peer_link_heartbeat_fill(&link_a, t + 200 * MS, &before);
	peer_link_clock_reset(&link_a);
	assert_false(peer_link_clock_offset(&link_a, NULL, NULL));
	/* The first fill after the step echoes nothing of before it. */
	struct peer_heartbeat next;
	const uint64_t jump = 10000 * MS;
	peer_link_heartbeat_fill(&link_a, t + jump + 200 * MS, &next);
	assert_int_equal(next.origin_ns, 0);
	assert_int_equal(next.receive_ns, 0);
	peer_link_heartbeat_received(&link_b, &before, t + 201 * MS);
	peer_link_heartbeat_fill(&link_b, t + 250 * MS, &answer);
	peer_link_heartbeat_received(&link_a, &answer, t + jump + 251 * MS);
	assert_false(peer_link_clock_offset(&link_a, NULL, NULL));
	assert_int_equal(link_a.stats.heartbeats_unmatched, 1);
	/* One round trip after the step gives the new offset. */
	round_trip(t + jump + 600 * MS, -(int64_t)jump, 1 * MS, 50 * MS, 1 * MS);
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
	assert_int_equal(offset_ms, -10000);
}

/* Until a kept message gives a round trip, the heartbeats' sets the RTO:
 * a start does not wait out the one-second initial RTO (a sync request
 * lost at start is asked again within a few round trips). */
static void test_heartbeat_seeds_the_rto(void **state)
{
	(void)state;
	uint64_t t = 1700000000000ull * MS;
	struct peer_heartbeat mine, theirs;
	assert_int_equal(peer_link_rto_ms(&link_a), PEER_RTO_INITIAL_MS);
	peer_link_heartbeat_fill(&link_a, t, &mine);
	peer_link_heartbeat_received(&link_b, &mine, t + 1 * MS);
	peer_link_heartbeat_fill(&link_b, t + 2 * MS, &theirs);
	peer_link_heartbeat_received(&link_a, &theirs, t + 3 * MS); /* round trip 2 ms */
	assert_true(peer_link_rto_ms(&link_a) < 100);
	assert_true(peer_link_rto_ms(&link_a) >= PEER_RTO_MIN_MS);
}

static void test_heartbeat_replay_and_forgery(void **state)
{
	(void)state;
	uint64_t t = 1700000000000ull * MS;
	struct peer_heartbeat mine, theirs;
	peer_link_heartbeat_fill(&link_a, t, &mine);
	/* B answers A's heartbeat. */
	peer_link_heartbeat_received(&link_b, &mine, t + 5 * MS);
	peer_link_heartbeat_fill(&link_b, t + 6 * MS, &theirs);
	assert_int_equal(theirs.origin_ns, t);
	assert_int_equal(theirs.receive_ns, t + 5 * MS);
	peer_link_heartbeat_received(&link_a, &theirs, t + 11 * MS);
	assert_int_equal(link_a.samples, 1);
	/* The same heartbeat again (replayed after a restart of the window):
	 * its origin was used up, so no second sample, however it would look. */
	peer_link_heartbeat_received(&link_a, &theirs, t + 12 * MS);
	assert_int_equal(link_a.samples, 1);
	assert_int_equal(link_a.stats.heartbeats_unmatched, 1);
	/* A forged-old (or made-up) origin: never sent by A. */
	struct peer_heartbeat forged = {
	    .origin_ns = t - 200 * MS, .receive_ns = t - 100 * MS, .transmit_ns = t - 100 * MS};
	peer_link_heartbeat_received(&link_a, &forged, t + 13 * MS);
	assert_int_equal(link_a.samples, 1);
	assert_int_equal(link_a.stats.heartbeats_unmatched, 2);
	/* Origin 0 ("not heard you yet"): no sample, not unmatched. */
	struct peer_heartbeat none = {.transmit_ns = t};
	peer_link_heartbeat_received(&link_a, &none, t + 14 * MS);
	assert_int_equal(link_a.samples, 1);
	assert_int_equal(link_a.stats.heartbeats_unmatched, 2);
	/* A fill at time 0 is never remembered, so an origin 0 never matches. */
	struct peer_heartbeat zero;
	peer_link_heartbeat_fill(&link_a, 0, &zero);
	peer_link_heartbeat_received(&link_a, &none, t + 15 * MS);
	assert_int_equal(link_a.samples, 1);
	/* Inconsistent times for a genuine origin: negative round trip, or the
	 * peer's transmit before its receive. */
	struct peer_heartbeat sent;
	peer_link_heartbeat_fill(&link_a, t + 20 * MS, &sent);
	struct peer_heartbeat bad = {.origin_ns = t + 20 * MS,
				     .receive_ns = t + 20 * MS,
				     .transmit_ns = t + 90 * MS}; /* held 70 ms, back after 10 */
	peer_link_heartbeat_received(&link_a, &bad, t + 30 * MS);
	peer_link_heartbeat_fill(&link_a, t + 40 * MS, &sent);
	bad = (struct peer_heartbeat){t + 40 * MS, t + 50 * MS, t + 45 * MS};
	peer_link_heartbeat_received(&link_a, &bad, t + 60 * MS);
	peer_link_heartbeat_fill(&link_a, t + 70 * MS, &sent);
	peer_link_heartbeat_received(&link_a, &(struct peer_heartbeat){t + 70 * MS, 1, 2}, t);
	assert_int_equal(link_a.samples, 1);
	assert_int_equal(link_a.stats.heartbeats_inconsistent, 3);
	/* The next fill echoes the last heartbeat heard, whatever it yielded. */
	peer_link_heartbeat_fill(&link_a, t + 80 * MS, &sent);
	assert_int_equal(sent.origin_ns, 2);
	assert_int_equal(sent.receive_ns, t);
	/* Extreme clocks: the offset saturates instead of overflowing. */
	peer_link_heartbeat_fill(&link_a, UINT64_MAX - 10, &sent);
	peer_link_heartbeat_received(&link_a, &(struct peer_heartbeat){UINT64_MAX - 10, 1, 1},
				     UINT64_MAX);
	int64_t offset_ms;
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
}

static void test_new_incarnation(void **state)
{
	(void)state;
	assert_int_equal(peer_link_incarnation(&link_a), 0);
	uint64_t t = 1700000000000ull * MS;
	round_trip(t, 100 * (int64_t)MS, MS, MS, MS);
	for (uint64_t s = 1; s <= 5; s++)
		assert_int_equal(track(&link_a, s, 10), 0);
	peer_link_new_incarnation(&link_a, 3);
	assert_int_equal(peer_link_incarnation(&link_a), 3);
	assert_int_equal(peer_link_outstanding(&link_a), 0); /* first seen counts */
	for (uint64_t s = 6; s <= 8; s++)
		assert_int_equal(track(&link_a, s, 20), 0);
	/* Not a restart: the same or an older incarnation changes nothing. */
	peer_link_new_incarnation(&link_a, 3);
	peer_link_new_incarnation(&link_a, 2);
	assert_int_equal(peer_link_incarnation(&link_a), 3);
	assert_int_equal(peer_link_outstanding(&link_a), 3);
	/* A restart: kept messages go, the clock estimate stays, and the next
	 * heartbeat echoes nothing of the previous life. */
	peer_link_new_incarnation(&link_a, 4);
	assert_int_equal(peer_link_outstanding(&link_a), 0);
	int64_t offset_ms;
	assert_true(peer_link_clock_offset(&link_a, &offset_ms, NULL));
	assert_int_equal(offset_ms, 100);
	struct peer_heartbeat hb;
	peer_link_heartbeat_fill(&link_a, t + 1000 * MS, &hb);
	assert_int_equal(hb.origin_ns, 0);
	assert_int_equal(hb.receive_ns, 0);
	/* Sequence numbers go on: ours are per our incarnation, never reused. */
	uint64_t before = peer_link_take_seq(&link_a);
	assert_int_equal(peer_link_take_seq(&link_a), before + 1);
	/* The kept slots are all usable again. */
	for (uint64_t s = 1; s <= PEER_LINK_OUTSTANDING; s++)
		assert_int_equal(track(&link_a, 100 + s, 30), 0);
}

/* ---- the quarantine rule ---- */

/* Makes l reachable at now_ms with a clock estimate of offset_ms. */
static void give_offset(struct peer_link *l, uint16_t node, int64_t offset_ms, uint64_t now_ms)
{
	peer_link_init(l, node);
	peer_link_heard(l, now_ms);
	uint64_t t1 = 1700000000000ull * MS;
	struct peer_heartbeat mine;
	peer_link_heartbeat_fill(l, t1, &mine);
	uint64_t peer_time = (uint64_t)((int64_t)(t1 + MS) + offset_ms * (int64_t)MS);
	struct peer_heartbeat theirs = {t1, peer_time, peer_time};
	peer_link_heartbeat_received(l, &theirs, t1 + 2 * MS);
	int64_t got;
	assert_true(peer_link_clock_offset(l, &got, NULL));
	assert_int_equal(got, offset_ms);
}

/* Node i of n, clocks in ms: its links to every other node. */
static bool quarantined(const int64_t *clock_ms, unsigned int n, unsigned int i)
{
	unsigned int k = 0;
	for (unsigned int j = 0; j < n; j++)
		if (j != i)
			give_offset(&cluster[i][k++], (uint16_t)(j + 1), clock_ms[j] - clock_ms[i],
				    5000);
	return peer_clock_quarantined(cluster[i], k, 5100, 500);
}

static void test_quarantine(void **state)
{
	(void)state;
	/* Two nodes that disagree: nobody can tell which is right, both stop. */
	const int64_t two[] = {0, 800};
	assert_true(quarantined(two, 2, 0));
	assert_true(quarantined(two, 2, 1));
	const int64_t two_ok[] = {0, 500}; /* exactly the bound: in bound */
	assert_false(quarantined(two_ok, 2, 0));
	assert_false(quarantined(two_ok, 2, 1));
	/* Three nodes, one bad clock: only it stops (off from 2 of 3; the good
	 * ones are off from 1 of 3). Either direction. */
	const int64_t three[] = {0, 30, -900};
	assert_false(quarantined(three, 3, 0));
	assert_false(quarantined(three, 3, 1));
	assert_true(quarantined(three, 3, 2));
	const int64_t three_ahead[] = {0, 2000, 10};
	assert_false(quarantined(three_ahead, 3, 0));
	assert_true(quarantined(three_ahead, 3, 1));
	assert_false(quarantined(three_ahead, 3, 2));
	/* Four nodes, one bad: only it. Two bad (agreeing with each other): a
	 * 2-2 split, every node off from half the cluster: all stop. */
	const int64_t four[] = {0, 10, 20, 3000};
	for (unsigned int i = 0; i < 3; i++)
		assert_false(quarantined(four, 4, i));
	assert_true(quarantined(four, 4, 3));
	const int64_t four_split[] = {0, 10, 3000, 3010};
	for (unsigned int i = 0; i < 4; i++)
		assert_true(quarantined(four_split, 4, i));
	/* Unreachable peers do not count: two bad ones gone silent leave one
	 * good reachable peer (m = 1, k = 0). */
	struct peer_link *v = cluster[0];
	give_offset(&v[0], 2, 2000, 1000);
	give_offset(&v[1], 3, 2000, 1000);
	give_offset(&v[2], 4, 10, 5000);
	assert_false(peer_clock_quarantined(v, 3, 5100, 500));
	assert_true(peer_clock_quarantined(v, 3, 1100, 500)); /* while they were heard */
	/* Reachable but no estimate: not counted either; none at all: false. */
	peer_link_init(&v[0], 2);
	peer_link_init(&v[1], 3);
	peer_link_heard(&v[0], 5000);
	peer_link_heard(&v[1], 5000);
	assert_false(peer_clock_quarantined(v, 2, 5100, 500));
	give_offset(&v[2], 4, -2000, 5000);
	assert_true(peer_clock_quarantined(v, 3, 5100, 500)); /* m = 1, k = 1 */
	assert_false(peer_clock_quarantined(v, 0, 5100, 500));
	assert_false(peer_clock_quarantined(NULL, 0, 5100, 500));
}

/* ---- sync paging ---- */

static struct peer_sync page(uint64_t id, uint64_t after, uint64_t next_after)
{
	return (struct peer_sync){.sync_id = id, .after = after, .next_after = next_after};
}

static void test_sync_walk(void **state)
{
	(void)state;
	struct peer_sync_request req = {0}, next = {0};
	assert_false(peer_link_syncing(&link_a));
	peer_link_sync_begin(&link_a, 77, 1000, &req);
	assert_true(peer_link_syncing(&link_a));
	assert_int_equal(req.sync_id, 77);
	assert_int_equal(req.after, 0);
	struct peer_sync p = page(77, 0, 100);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1010, &next), 1);
	assert_int_equal(next.sync_id, 77);
	assert_int_equal(next.after, 100);
	/* Out of order: a page for another `after`, or another sync, is ignored
	 * and changes nothing. */
	p = page(77, 250, 400);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1015, &next), -1);
	p = page(77, 0, 100); /* a duplicate of the first page (re-requested) */
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1015, &next), -1);
	p = page(78, 100, 250);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1015, &next), -1);
	p = page(77, 100, 100); /* next_after must move on */
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1015, &next), -1);
	assert_int_equal(link_a.stats.sync_pages_ignored, 4);
	p = page(77, 100, 250);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1020, &next), 1);
	assert_int_equal(next.after, 250);
	p = page(77, 250, 0);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1030, &next), 0);
	assert_false(peer_link_syncing(&link_a));
	assert_int_equal(peer_link_full_syncs(&link_a), 1);
	/* Done: late pages of it start nothing, not even its first. */
	p = page(77, 250, 0);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1040, &next), -1);
	p = page(77, 0, 100);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1040, &next), -1);
	assert_false(peer_link_syncing(&link_a));
	assert_false(peer_link_sync_due(&link_a, 100000, &req));
	assert_int_equal(peer_link_full_syncs(&link_a), 1);
	/* A restart of the pull goes back to the start. */
	peer_link_sync_begin(&link_a, 79, 2000, &req);
	p = page(79, 0, 0); /* one page holds everything */
	assert_int_equal(peer_link_sync_page(&link_a, &p, 2001, &next), 0);
	assert_int_equal(peer_link_full_syncs(&link_a), 2);
}

static void test_sync_timeout(void **state)
{
	(void)state;
	struct peer_sync_request req = {0}, next = {0};
	uint64_t timeout = PEER_SYNC_TIMEOUT_RTOS * peer_link_rto_ms(&link_a);
	peer_link_sync_begin(&link_a, 5, 1000, &req);
	assert_false(peer_link_sync_due(&link_a, 1000 + timeout - 1, &req));
	memset(&req, 0, sizeof(req));
	assert_true(peer_link_sync_due(&link_a, 1000 + timeout, &req));
	assert_int_equal(req.sync_id, 5);
	assert_int_equal(req.after, 0);
	peer_link_sync_resent(&link_a, 1000 + timeout);
	assert_int_equal(link_a.stats.sync_rerequests, 1);
	assert_false(peer_link_sync_due(&link_a, 1000 + 2 * timeout - 1, &req));
	/* A page received restarts the clock for the next one. */
	struct peer_sync p = page(5, 0, 42);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 1000 + timeout + 10, &next), 1);
	assert_false(peer_link_sync_due(&link_a, 1000 + 2 * timeout + 9, &req));
	assert_true(peer_link_sync_due(&link_a, 1000 + 2 * timeout + 10, &req));
	assert_int_equal(req.after, 42);
	/* It follows the RTO the link measured. */
	assert_int_equal(track(&link_a, 1, 50000), 0);
	const uint64_t r1[] = {1, 1};
	struct peer_ack a = ack_of(1, 1, r1);
	peer_link_on_ack(&link_a, &a, 50100); /* rto 300 */
	peer_link_sync_resent(&link_a, 60000);
	assert_false(peer_link_sync_due(&link_a, 61199, &req));
	assert_true(peer_link_sync_due(&link_a, 61200, &req));
}

static void test_sync_pushed(void **state)
{
	(void)state;
	struct peer_sync_request req = {0}, next = {0};
	/* Not a first page, or no sync id: nothing starts. */
	struct peer_sync p = page(9, 10, 20);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 100, &next), -1);
	p = page(0, 0, 20);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 100, &next), -1);
	assert_false(peer_link_syncing(&link_a));
	/* The peer pushes a sync (it dropped deltas we never acknowledged). */
	p = page(9, 0, 20);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 100, &next), 1);
	assert_true(peer_link_syncing(&link_a));
	assert_int_equal(next.sync_id, 9);
	assert_int_equal(next.after, 20);
	assert_false(peer_link_sync_due(&link_a, 100 + 4 * PEER_RTO_INITIAL_MS - 1, &req));
	assert_true(peer_link_sync_due(&link_a, 100 + 4 * PEER_RTO_INITIAL_MS, &req));
	assert_int_equal(req.after, 20);
	/* A push while a pull is under way replaces it: the pull may be past the
	 * auctions whose deltas the peer dropped. */
	peer_link_sync_begin(&link_a, 30, 200, &req);
	p = page(30, 0, 50);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 210, &next), 1);
	p = page(31, 0, 5);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 220, &next), 1);
	assert_int_equal(next.sync_id, 31);
	assert_int_equal(next.after, 5);
	p = page(30, 50, 0); /* the replaced pull's pages are ignored now */
	assert_int_equal(peer_link_sync_page(&link_a, &p, 230, &next), -1);
	p = page(31, 5, 0);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 240, &next), 0);
	assert_int_equal(peer_link_full_syncs(&link_a), 1);
	/* A pushed single-page sync completes at once. */
	p = page(32, 0, 0);
	assert_int_equal(peer_link_sync_page(&link_a, &p, 250, &next), 0);
	assert_int_equal(peer_link_full_syncs(&link_a), 2);
	assert_false(peer_link_syncing(&link_a));
}

/* ---- a lossy link, end to end ---- */

#define SIM_MSGS      3000
#define SIM_MAX_STEPS 600000 /* ms of simulated time */
#define SIM_FLIGHT    4096
#define SIM_SEQS      (1u << 20)

struct packet {
	uint64_t at;  /* delivery time, ms */
	uint64_t seq; /* data: its seq; 0: an ACK */
	uint32_t id;  /* data: the message id it carries (UINT32_MAX: a heartbeat) */
	uint8_t ack[PEER_LEN_MAX];
	int ack_len;
};

static struct packet flight[SIM_FLIGHT];
static unsigned int in_flight;
static unsigned char accepted_seq[SIM_SEQS];
static unsigned char received_id[SIM_MSGS];
static struct peer_replay receiver;
static const struct cluster_key sim_key = {.bytes = {9, 8, 7}};

struct channel {
	struct prop_rng *r;
	uint64_t loss, dup, max_delay; /* per mille, per mille, ms */
};

static void transmit(const struct channel *c, uint64_t now, const struct packet *p)
{
	if (prop_below(c->r, 1000) < c->loss)
		return;
	for (int copies = prop_below(c->r, 1000) < c->dup ? 2 : 1; copies > 0; copies--) {
		assert_true(in_flight < SIM_FLIGHT);
		flight[in_flight] = *p;
		flight[in_flight].at = now + 1 + prop_below(c->r, c->max_delay);
		in_flight++;
	}
}

static void send_data(const struct channel *c, uint64_t now, uint64_t seq, uint32_t id)
{
	assert_true(seq < SIM_SEQS);
	struct packet p = {.seq = seq, .id = id};
	transmit(c, now, &p);
}

/* The receiver's ACK, as the wire carries it. */
static void send_ack(const struct channel *c, uint64_t now)
{
	struct peer_ack ack;
	assert_int_equal(peer_replay_ack(&receiver, SELF, &ack), 0);
	if (ack.count == 0)
		return;
	struct peer_header h = {.type = PEER_ACK,
				.sender = PEER,
				.receiver = SELF,
				.incarnation = 1,
				.seq = 1,
				.hlc = 1};
	struct packet p = {0};
	p.ack_len = peer_encode_ack(&h, &ack, &sim_key, p.ack, sizeof(p.ack));
	assert_true(p.ack_len > 0);
	transmit(c, now, &p);
}

static void deliver_data(const struct packet *p)
{
	struct peer_header h = {.type = PEER_DELTA,
				.sender = SELF,
				.receiver = PEER,
				.incarnation = 1,
				.seq = p->seq,
				.hlc = 1};
	if (peer_replay_accept(&receiver, &h, 1, 7601) != PEER_DROP_NONE)
		return;
	accepted_seq[p->seq] = 1;
	if (p->id != UINT32_MAX)
		received_id[p->id] = 1;
}

static bool covers(const struct peer_ack *ack, uint64_t seq)
{
	for (unsigned int i = 0; i < ack->count; i++)
		if (ack->range[i].first <= seq && seq <= ack->range[i].last)
			return true;
	return false;
}

static void deliver_ack(struct peer_link *l, const struct packet *p, uint64_t now)
{
	struct peer_message msg;
	enum peer_drop why;
	assert_int_equal(peer_decode(p->ack, (size_t)p->ack_len, &sim_key, &msg, &why), 0);
	const struct peer_ack *ack = &msg.u.ack;
	unsigned int want = 0;
	for (size_t i = 0; i < peer_link_outstanding(l); i++) {
		uint64_t seq = peer_link_outstanding_at(l, i)->seq;
		if (covers(ack, seq)) {
			assert_true(accepted_seq[seq]); /* never frees what was not received */
			want++;
		}
	}
	assert_int_equal(peer_link_on_ack(l, ack, now), want);
	/* Everything it covers is freed; the rest stays (and comes due). */
	for (size_t i = 0; i < peer_link_outstanding(l); i++)
		assert_false(covers(ack, peer_link_outstanding_at(l, i)->seq));
}

/* An ACK straight from the receiver (no wire): it frees every kept message
 * the receiver accepted, as long as the ACK has room to name it all. */
static void check_direct_ack(struct peer_link *l, uint64_t now)
{
	struct peer_ack ack;
	assert_int_equal(peer_replay_ack(&receiver, SELF, &ack), 0);
	if (ack.count == 0 || ack.count == PEER_ACK_MAX_RANGES)
		return;
	uint64_t top = ack.range[ack.count - 1].last;
	uint64_t low = top > PEER_REPLAY_WINDOW ? top - PEER_REPLAY_WINDOW + 1 : 1;
	peer_link_on_ack(l, &ack, now);
	for (size_t i = 0; i < peer_link_outstanding(l); i++) {
		uint64_t seq = peer_link_outstanding_at(l, i)->seq;
		assert_false(seq >= low && seq <= top && accepted_seq[seq]);
	}
}

static uint64_t sender_seq(struct peer_link *l, uint64_t *last)
{
	uint64_t seq = peer_link_take_seq(l);
	assert_true(seq > *last); /* never reused */
	*last = seq;
	return seq;
}

/* Runs one simulated link to the end (all sent, all acknowledged). */
static void simulate(struct prop_rng *r, uint64_t loss, uint64_t dup, uint64_t max_delay)
{
	struct channel c = {.r = r, .loss = loss, .dup = dup, .max_delay = max_delay};
	struct peer_link *l = &link_a;
	peer_link_init(l, PEER);
	peer_replay_init(&receiver, PEER);
	assert_int_equal(peer_replay_add(&receiver, SELF, 1, 7601), 0);
	in_flight = 0;
	memset(accepted_seq, 0, sizeof(accepted_seq));
	memset(received_id, 0, sizeof(received_id));
	uint32_t next_id = 0;
	uint64_t last_seq = 0, now;
	for (now = 0; now < SIM_MAX_STEPS; now++) {
		/* The sender: new messages in bursts, keeping room in its buffer;
		 * heartbeats use seqs too (never tracked). */
		unsigned int burst = (unsigned int)prop_below(r, 4);
		while (burst-- > 0 && next_id < SIM_MSGS && peer_link_outstanding(l) < 200) {
			uint64_t seq = sender_seq(l, &last_seq);
			uint8_t b[4];
			memcpy(b, &next_id, sizeof(b));
			assert_int_equal(peer_link_track(l, seq, PEER_DELTA, b, sizeof(b), now), 0);
			send_data(&c, now, seq, next_id++);
		}
		if (now % PEER_HEARTBEAT_MS == 0)
			send_data(&c, now, sender_seq(l, &last_seq), UINT32_MAX);
		struct peer_link_msg *m;
		while ((m = peer_link_next_due(l, now)) != NULL) {
			uint32_t id;
			memcpy(&id, m->body, sizeof(id));
			uint64_t seq = sender_seq(l, &last_seq);
			send_data(&c, now, seq, id);
			peer_link_resent(l, m, seq, now);
		}
		/* The wire. */
		for (unsigned int i = 0; i < in_flight;) {
			if (flight[i].at > now) {
				i++;
				continue;
			}
			struct packet p = flight[i];
			flight[i] = flight[--in_flight];
			if (p.seq)
				deliver_data(&p);
			else
				deliver_ack(l, &p, now);
		}
		/* The receiver acknowledges every few ms, repeating itself. */
		if (now % 5 == 0)
			send_ack(&c, now);
		if (now % 97 == 0)
			check_direct_ack(l, now);
		if (next_id == SIM_MSGS && peer_link_outstanding(l) == 0)
			break;
	}
	assert_true(now < SIM_MAX_STEPS); /* it converged within the bound */
	assert_int_equal(peer_link_outstanding(l), 0);
	for (uint32_t id = 0; id < SIM_MSGS; id++)
		assert_true(received_id[id]); /* everything freed had been received */
	assert_int_equal(l->stats.tracked, SIM_MSGS);
	assert_int_equal(l->stats.acked, SIM_MSGS);
}

static void test_prop_lossy_link(void **state)
{
	(void)state;
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed ^ 0x11c);
	uint64_t retransmitted = 0;
	for (unsigned long c = 0; c < 24; c++) {
		static const uint64_t loss[] = {0, 10, 100, 300};
		uint64_t l = loss[c % 4], dup = prop_below(&r, 50), delay = 1 + prop_below(&r, 60);
		simulate(&r, l, dup, delay);
		if (l >= 100)
			assert_true(link_a.stats.retransmissions > 0);
		retransmitted += link_a.stats.retransmissions;
		/* Without loss, retransmissions are the RTO's misjudgements of
		 * jitter: few of them (a third of all messages when only one
		 * sample per ACK was taken). */
		if (l == 0 && link_a.stats.retransmissions > SIM_MSGS / 10)
			prop_report("few spurious retransmissions", seed, c);
		if (l == 0)
			assert_true(link_a.stats.retransmissions <= SIM_MSGS / 10);
	}
	assert_true(retransmitted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_seq, setup),
	    cmocka_unit_test_setup(test_track_bounds, setup),
	    cmocka_unit_test_setup(test_ack_frees_covered, setup),
	    cmocka_unit_test_setup(test_rto, setup),
	    cmocka_unit_test_setup(test_backoff, setup),
	    cmocka_unit_test_setup(test_late_peer_gets_a_probe, setup),
	    cmocka_unit_test_setup(test_clock_step_back, setup),
	    cmocka_unit_test_setup(test_reachability, setup),
	    cmocka_unit_test_setup(test_heartbeat_offset, setup),
	    cmocka_unit_test_setup(test_clock_reset_after_a_step, setup),
	    cmocka_unit_test_setup(test_heartbeat_replay_and_forgery, setup),
	    cmocka_unit_test_setup(test_heartbeat_seeds_the_rto, setup),
	    cmocka_unit_test_setup(test_new_incarnation, setup),
	    cmocka_unit_test(test_quarantine),
	    cmocka_unit_test_setup(test_sync_walk, setup),
	    cmocka_unit_test_setup(test_sync_timeout, setup),
	    cmocka_unit_test_setup(test_sync_pushed, setup),
	    cmocka_unit_test(test_prop_lossy_link),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
