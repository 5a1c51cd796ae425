/* SPDX-License-Identifier: BSD-3-Clause */
/* bidgen's pure parts: histogram, workload distribution, reply checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "histogram.h"
#include "proto.h"
#include "tracker.h"
#include "workload.h"

static void histogram_percentiles_are_close_upper_bounds(void **s)
{
	(void)s;
	static struct histogram h;
	hist_init(&h);
	assert_int_equal(hist_percentile(&h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v);
	uint64_t p50 = hist_percentile(&h, 50), p99 = hist_percentile(&h, 99);
	assert_true(p50 >= 50000 && p50 <= 50000 * 1.032);
	assert_true(p99 >= 99000 && p99 <= 99000 * 1.032);
	assert_int_equal(hist_percentile(&h, 100), 100000);
	assert_int_equal(h.max, 100000);
	hist_init(&h);
	for (uint64_t v = 0; v < 64; v++)
		hist_record(&h, v); /* exact below 64 */
	assert_int_equal(hist_percentile(&h, 50), 31);
	hist_record(&h, UINT64_MAX);
	assert_int_equal(hist_percentile(&h, 100), UINT64_MAX);
}

static void workload_is_deterministic_and_zipf_is_skewed(void **s)
{
	(void)s;
	struct workload_params p = {
	    .first_auction = 1, .last_auction = 1000, .bidders = 10, .zipf_s = 0.99, .seed = 42};
	struct workload a, b;
	assert_int_equal(workload_init(&a, &p), 0);
	assert_int_equal(workload_init(&b, &p), 0);
	unsigned int first = 0, in_range = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t x = workload_auction(&a);
		assert_int_equal(x, workload_auction(&b));
		first += x == 1;
		in_range += x >= 1 && x <= 1000;
	}
	assert_int_equal(in_range, 100000);
	/* zipf(0.99) over 1000 items: item 1 has about 13% of the mass */
	assert_true(first > 10000 && first < 16000);
	workload_fini(&a);
	workload_fini(&b);
	p.zipf_s = 0;
	assert_int_equal(workload_init(&a, &p), 0);
	first = 0;
	for (int i = 0; i < 100000; i++)
		first += workload_auction(&a) == 1;
	assert_true(first < 300); /* uniform: about 100 */
	workload_fini(&a);
	p.dup_ratio = 0.7;
	p.bad_ratio = 0.5;
	assert_int_equal(workload_init(&a, &p), -EINVAL);
}

static void workload_mix_follows_the_ratios(void **s)
{
	(void)s;
	struct workload_params p = {.first_auction = 1,
				    .last_auction = 10,
				    .bidders = 10,
				    .dup_ratio = 0.1,
				    .query_ratio = 0.2,
				    .bad_ratio = 0.1,
				    .seed = 7};
	struct workload w;
	assert_int_equal(workload_init(&w, &p), 0);
	unsigned int kinds[KIND_COUNT] = {0};
	for (int i = 0; i < 100000; i++)
		kinds[workload_next_kind(&w)]++;
	assert_true(kinds[KIND_DUP] > 9000 && kinds[KIND_DUP] < 11000);
	assert_true(kinds[KIND_QUERY] > 19000 && kinds[KIND_QUERY] < 21000);
	assert_true(kinds[KIND_BID] > 59000 && kinds[KIND_BID] < 61000);
	assert_int_equal(kinds[KIND_WATCH], 0);
	unsigned int bad = 0;
	for (int k = KIND_BAD_MAGIC; k < KIND_COUNT; k++)
		bad += kinds[k];
	assert_true(bad > 9000 && bad < 11000);
	workload_fini(&w);
}

static size_t reply(uint8_t *out, uint64_t rid, uint64_t auction, uint8_t status, uint64_t hlc,
		    uint64_t amount, uint64_t bidder, uint64_t cts, uint16_t flags)
{
	struct bp_bid_reply r = {.flags = flags,
				 .request_id = rid,
				 .auction_id = auction,
				 .status = status,
				 .leading_amount = amount,
				 .leading_bidder = bidder,
				 .hlc = hlc,
				 .client_ts = cts};
	return bp_write_bid_reply(out, &r);
}

static struct sent *bid_sent(struct tracker *t, uint64_t seq, uint64_t auction, uint64_t amount)
{
	struct sent *s = tracker_new(t, seq, KIND_BID, 1000 + seq);
	s->auction = auction;
	s->amount = amount;
	s->bidder = 9;
	return s;
}

static void tracker_accepts_right_replies_and_counts_wrong_ones(void **s)
{
	(void)s;
	static struct tracker t;
	uint8_t b[BP_LEN_MAX];
	assert_int_equal(tracker_init(&t, 1024, 1024), 0);
	bid_sent(&t, 1, 5, 100);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 1, 5, BP_ACCEPTED, 10, 100, 9, 1001, 0), 2000);
	assert_int_equal(tracker_mismatches(&t), 0);
	assert_int_equal(t.latency.count, 1);
	/* a replay of it must repeat status and hlc */
	t.slots[1].extra_sent = 2;
	tracker_on_reply(&t, b, (uint16_t)reply(b, 1, 5, BP_ACCEPTED, 10, 100, 9, 1001, 1), 2100);
	assert_int_equal(tracker_mismatches(&t), 0);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 1, 5, BP_ACCEPTED, 11, 100, 9, 1001, 1), 2100);
	assert_int_equal(t.mismatches[MISMATCH_REPLAY], 1);
	/* untracked id, echo broken, wrong type */
	tracker_on_reply(&t, b, (uint16_t)reply(b, 77, 5, BP_ACCEPTED, 1, 1, 1, 0, 0), 2200);
	assert_int_equal(t.mismatches[MISMATCH_UNTRACKED], 1);
	bid_sent(&t, 2, 5, 110);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 2, 6, BP_ACCEPTED, 12, 110, 9, 1002, 0), 2300);
	assert_int_equal(t.mismatches[MISMATCH_ECHO], 1);
	tracker_new(&t, 3, KIND_QUERY, 1003)->auction = 5;
	tracker_on_reply(&t, b, (uint16_t)reply(b, 3, 5, BP_ACCEPTED, 0, 0, 0, 0, 0), 2400);
	assert_int_equal(t.mismatches[MISMATCH_WRONG_TYPE], 1);
	/* a malformed variant must get MALFORMED; bad magic none at all */
	tracker_new(&t, 4, KIND_BAD_ZERO, 1004);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 4, 0, BP_TOO_LOW, 0, 0, 0, 0, 0), 2500);
	assert_int_equal(t.mismatches[MISMATCH_STATUS], 1);
	tracker_new(&t, 5, KIND_BAD_MAGIC, 1005);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 5, 0, BP_MALFORMED, 0, 0, 0, 0, 0), 2600);
	assert_int_equal(t.mismatches[MISMATCH_UNEXPECTED], 1);
	/* only ACCEPTED carries a stamp */
	bid_sent(&t, 6, 5, 90);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 6, 5, BP_TOO_LOW, 13, 110, 9, 1006, 0), 2700);
	assert_int_equal(t.mismatches[MISMATCH_STAMP], 1);
	bid_sent(&t, 7, 5, 200);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 7, 5, BP_ACCEPTED, 0, 200, 9, 1007, 0), 2800);
	assert_int_equal(t.mismatches[MISMATCH_STAMP], 2);
	bid_sent(&t, 8, 5, 90);
	tracker_on_reply(&t, b, (uint16_t)reply(b, 8, 5, BP_TOO_LOW, 0, 200, 9, 1008, 0), 2900);
	assert_int_equal(t.mismatches[MISMATCH_STAMP], 2);
	tracker_fini(&t);
}

static void order_check_finds_a_lower_later_bid(void **s)
{
	(void)s;
	static struct tracker t;
	uint8_t b[BP_LEN_MAX];
	assert_int_equal(tracker_init(&t, 1024, 1024), 0);
	uint64_t amounts[] = {100, 120, 110}; /* the third is later by HLC but lower */
	for (uint64_t i = 0; i < 3; i++) {
		bid_sent(&t, i + 1, 7, amounts[i]);
		tracker_on_reply(&t, b,
				 (uint16_t)reply(b, i + 1, 7, BP_ACCEPTED, 100 + i, amounts[i], 9,
						 1000 + i + 1, 0),
				 5000);
	}
	tracker_check_order(&t);
	assert_int_equal(t.mismatches[MISMATCH_ORDER], 1);
	tracker_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(histogram_percentiles_are_close_upper_bounds),
	    cmocka_unit_test(workload_is_deterministic_and_zipf_is_skewed),
	    cmocka_unit_test(workload_mix_follows_the_ratios),
	    cmocka_unit_test(tracker_accepts_right_replies_and_counts_wrong_ones),
	    cmocka_unit_test(order_check_finds_a_lower_later_bid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
