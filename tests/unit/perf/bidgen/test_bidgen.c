/* SPDX-License-Identifier: BSD-3-Clause */
/* bidgen's pure parts: histogram, workload distribution, reply checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bidgen.h"
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

/* ---- options (options.c) ---- */

#define GEN_ARGS(...)	       ((char *[]){"bidgen", __VA_ARGS__, NULL})
#define GEN_NARGS(...)	       ((int)(sizeof((char *[]){"bidgen", __VA_ARGS__}) / sizeof(char *)))
#define GEN_PARSE(g, err, ...) gen_parse(g, err, GEN_NARGS(__VA_ARGS__), GEN_ARGS(__VA_ARGS__))

static int gen_parse(struct bidgen *g, char *err, int argc, char **argv)
{
	bidgen_defaults(g);
	err[0] = '\0';
	return bidgen_parse_args(argc, argv, g, err, 512);
}

static void options_parse_and_keep_the_defaults(void **s)
{
	(void)s;
	static struct bidgen g;
	char err[512];
	assert_int_equal(GEN_PARSE(&g, err, "--rate", "0", "--count", "7", "--zipf", "0.99",
				   "--dup-ratio", "0.5", "--watch-ratio", "0.5", "--auctions",
				   "3-9", "--dst-mac", "02:00:00:00:00:01", "--window", "1048576",
				   "--json", "/tmp/x.json", "--strict"),
			 0);
	assert_int_equal(g.rate, 0);
	assert_int_equal(g.count, 7);
	assert_true(g.wp.zipf_s == 0.99);
	assert_int_equal(g.wp.first_auction, 3);
	assert_int_equal(g.wp.last_auction, 9);
	assert_false(g.mac_auto);
	assert_int_equal(g.dst_mac[5], 1);
	assert_int_equal(g.window, 1048576);
	assert_true(g.strict);
	assert_int_equal(g.duration_s, 5);
	assert_int_equal(g.burst, 32);
}

/* Each refusal names the option, the value and the range, and carries no
 * "see --help" of its own (main adds the one hint). */
static void options_refuse_with_option_value_and_range(void **s)
{
	(void)s;
	static struct bidgen g;
	char err[512];
	static const char *const cases[][3] = {
	    /* non-finite floats passed before: strtod reads them */
	    {"--zipf", "nan", "0..10"},
	    {"--zipf", "inf", "0..10"},
	    {"--zipf", "-1", "0..10"},
	    {"--zipf", "11", "0..10"},
	    {"--zipf", "", "0..10"},
	    {"--dup-ratio", "nan", "0..1"},
	    {"--query-ratio", "1.5", "0..1"},
	    {"--watch-ratio", "1e999", "0..1"},
	    /* 0 silently meant "for --duration" */
	    {"--count", "0", "1..18446744073709551615; leave --count out"},
	    {"--rate", "100000001", "0..100000000"},
	    {"--rate", "-1", "0..100000000"},
	    {"--duration", "0", "1..86400"},
	    {"--burst", "257", "1..256"},
	    {"--flows", "0", "1..60000"},
	    {"--timeout", "600001", "0..600000"},
	    {"--window", "1048577", "0..1048576"},
	    {"--dst-port", "65536", "1..65535"},
	    {"--bidders", "0", "1..18446744073709551615"},
	    {"--seed", "18446744073709551616", "0..18446744073709551615"},
	    {"--auctions", "0-5", "1..18446744073709551615"},
	    {"--auctions", "5-1", "FIRST must not exceed LAST"},
	    {"--auctions", "1-16777217", "at most 16777216"},
	    {"--auctions", "-5-3", "expected FIRST-LAST"},
	    {"--dst-ip", "1.2.3", "not an IPv4 address"},
	    {"--dst-mac", "02:00:00:00:00:01:ff", "not a MAC address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {"bidgen", (char *)cases[i][0], (char *)cases[i][1], NULL};
		assert_int_equal(gen_parse(&g, err, 3, argv), -1);
		char head[64];
		snprintf(head, sizeof(head), "%s '%s': ", cases[i][0], cases[i][1]);
		if (strncmp(err, head, strlen(head)) != 0 || !strstr(err, cases[i][2]))
			fail_msg("%s %s: '%s' lacks '%s' or '%s'", cases[i][0], cases[i][1], err,
				 head, cases[i][2]);
		assert_null(strstr(err, "help"));
	}
	assert_int_equal(GEN_PARSE(&g, err, "--dup-ratio", "0.6", "--bad-ratio", "0.6"), -1);
	assert_non_null(strstr(err, "add up to 1.2: together at most 1"));
	assert_int_equal(GEN_PARSE(&g, err, "--frob"), -1);
	assert_string_equal(err, "unknown option '--frob'");
	assert_int_equal(GEN_PARSE(&g, err, "--rate"), -1);
	assert_string_equal(err, "option '--rate' needs a value");
	assert_int_equal(GEN_PARSE(&g, err, "--zipf=nan"), -1);
	assert_non_null(strstr(err, "--zipf 'nan': not a finite number"));
}

/* --json to a path it cannot write used to run, print perror and exit 0. */
static void json_path_it_cannot_write_fails(void **s)
{
	(void)s;
	static struct bidgen g;
	char err[512];
	bidgen_defaults(&g);
	g.json_path = "/nonexistent-dir/gen.json";
	assert_int_equal(bidgen_open_json(&g, err, sizeof(err)), -1);
	assert_string_equal(err, "--json /nonexistent-dir/gen.json: cannot write it: No such file "
				 "or directory (errno 2)");
	/* Written at the end: report() fails too, not only at start. */
	g.tsc_hz = 1000000000;
	assert_int_equal(tracker_init(&g.tr, 1024, 16), 0);
	g.echo = true; /* no order check needed */
	assert_int_equal(report(&g), 1);
	g.json_path = "/dev/full"; /* ENOSPC on the flush */
	assert_int_equal(bidgen_open_json(&g, err, sizeof(err)), 0);
	assert_int_equal(report(&g), 1);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/bidgen-test-%d.json", (int)getpid());
	g.json_path = path;
	assert_int_equal(bidgen_open_json(&g, err, sizeof(err)), 0);
	assert_int_equal(report(&g), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char head[32] = "";
	assert_non_null(fgets(head, sizeof(head), f));
	assert_string_equal(head, "{\n");
	fclose(f);
	unlink(path);
	tracker_fini(&g.tr);
}

/* --strict passed when every reply was UNKNOWN_AUCTION or NOT_SERVING. */
static void strict_fails_when_no_reply_shows_an_open_auction(void **s)
{
	(void)s;
	static struct bidgen g;
	char why[512];
	uint8_t b[BP_LEN_MAX];
	bidgen_defaults(&g);
	assert_int_equal(tracker_init(&g.tr, 1024, 1024), 0);
	for (uint64_t i = 1; i <= 10; i++) {
		bid_sent(&g.tr, i, 5, 100 + i);
		tracker_on_reply(&g.tr, b,
				 (uint16_t)reply(b, i, 5,
						 i % 2 ? BP_UNKNOWN_AUCTION : BP_NOT_SERVING, i, 0,
						 0, 1000 + i, 0),
				 2000);
	}
	g.sent = 10;
	assert_int_equal(tracker_mismatches(&g.tr), 0);
	assert_int_equal(bidgen_lost(&g), 0);
	assert_int_equal(bidgen_strict_verdict(&g, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "UNKNOWN_AUCTION 5, NOT_SERVING 5"));
	assert_non_null(strstr(why, "open --auctions 1-1000 on the node"));
	/* One accepted bid: the auctions are open, the node serves. */
	bid_sent(&g.tr, 11, 5, 500);
	tracker_on_reply(&g.tr, b, (uint16_t)reply(b, 11, 5, BP_ACCEPTED, 20, 500, 9, 1011, 0),
			 2000);
	g.sent = 11;
	assert_int_equal(bidgen_strict_verdict(&g, why, sizeof(why)), 0);
	tracker_fini(&g.tr);
}

/* Frames the TX ring refused were counted as sent, then as lost, and
 * failed --strict on bidgen's own backpressure. */
static void unsent_frames_are_not_lost(void **s)
{
	(void)s;
	static struct bidgen g;
	char why[512];
	uint8_t b[BP_LEN_MAX];
	bidgen_defaults(&g);
	assert_int_equal(tracker_init(&g.tr, 1024, 1024), 0);
	uint64_t expects[10];
	for (uint64_t i = 1; i <= 10; i++) {
		uint64_t before = g.tr.expected_replies;
		bid_sent(&g.tr, i, 5, 100 + i);
		expects[i - 1] = g.tr.expected_replies - before;
	}
	tracker_new(&g.tr, 11, KIND_BAD_MAGIC, 1011); /* expects none */
	expects[0] = 0;
	/* frames 7..10 and the bad-magic one did not go out */
	uint64_t unsent[5] = {expects[6], expects[7], expects[8], expects[9], 0};
	tracker_unsend(&g.tr, unsent, 5);
	assert_int_equal(g.tr.expected_replies, 6);
	for (uint64_t i = 1; i <= 6; i++)
		tracker_on_reply(&g.tr, b,
				 (uint16_t)reply(b, i, 5, BP_ACCEPTED, i, 100 + i, 9, 1000 + i, 0),
				 2000);
	g.sent = 6;
	g.tx_failed = 5;
	assert_int_equal(bidgen_lost(&g), 0);
	assert_int_equal(bidgen_strict_verdict(&g, why, sizeof(why)), 0);
	tracker_fini(&g.tr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(histogram_percentiles_are_close_upper_bounds),
	    cmocka_unit_test(workload_is_deterministic_and_zipf_is_skewed),
	    cmocka_unit_test(workload_mix_follows_the_ratios),
	    cmocka_unit_test(tracker_accepts_right_replies_and_counts_wrong_ones),
	    cmocka_unit_test(order_check_finds_a_lower_later_bid),
	    cmocka_unit_test(options_parse_and_keep_the_defaults),
	    cmocka_unit_test(options_refuse_with_option_value_and_range),
	    cmocka_unit_test(json_path_it_cannot_write_fails),
	    cmocka_unit_test(strict_fails_when_no_reply_shows_an_open_auction),
	    cmocka_unit_test(unsent_frames_are_not_lost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
