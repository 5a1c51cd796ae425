/* SPDX-License-Identifier: BSD-3-Clause */
/* One test per rule of PROTOCOL.md v1 (docs/PROTOCOL.md), named after it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proto.h"

static size_t make_bid(uint8_t *b, uint64_t rid, uint64_t auc, uint64_t bidder, uint64_t amount)
{
	struct bp_request r = {.request_id = rid,
			       .auction_id = auc,
			       .actor_id = bidder,
			       .amount = amount,
			       .client_ts = 0x5555};
	return bp_write_bid(b, &r);
}

/* The request types and the reply type that answers each. */
static const struct {
	uint8_t type;
	uint8_t reply;
} request_types[] = {{BP_BID, BP_BID_REPLY},
		     {BP_QUERY, BP_AUCTION_STATE},
		     {BP_WATCH, BP_AUCTION_STATE},
		     {BP_UNWATCH, BP_AUCTION_STATE}};
#define REQUEST_TYPES (sizeof(request_types) / sizeof(request_types[0]))

/* A valid request of `type` with every field non-zero. */
static size_t write_valid(uint8_t *b, uint8_t type)
{
	struct bp_request r = {
	    .type = type, .request_id = 1, .auction_id = 2, .actor_id = 3, .amount = 4};
	if (type == BP_BID)
		return bp_write_bid(b, &r);
	if (type == BP_QUERY)
		return bp_write_query(b, &r);
	return bp_write_watch(b, &r);
}

static struct bp_parse parse(const uint8_t *b, size_t len)
{
	struct bp_parse p;
	bp_parse_request(b, len, &p);
	return p;
}

static void expect_answer(const uint8_t *b, size_t len, enum bp_status st, uint8_t reply_type)
{
	struct bp_parse p = parse(b, len);
	assert_int_equal(p.verdict, BP_ANSWER);
	assert_int_equal(p.status, st);
	assert_int_equal(p.reply_type, reply_type);
}

static void expect_no_reply(const uint8_t *b, size_t len, enum bp_drop why)
{
	struct bp_parse p = parse(b, len);
	assert_int_equal(p.verdict, BP_NO_REPLY);
	assert_int_equal(p.drop, why);
}

static void datagram_shorter_than_header_gets_no_reply(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 1, 1, 1, 1);
	for (size_t len = 0; len < 8; len++)
		expect_no_reply(b, len, BP_DROP_SHORT);
}

static void wrong_magic_gets_no_reply(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 1, 1, 1, 1);
	b[1] ^= 1;
	expect_no_reply(b, BP_LEN_BID, BP_DROP_BAD_MAGIC);
}

static void other_version_gets_unsupported_version_with_fields_copied(void **s)
{
	(void)s;
	uint8_t b[64], out[BP_LEN_MAX];
	make_bid(b, 0x11, 0x22, 0x33, 0x44);
	b[2] = 2;
	expect_answer(b, BP_LEN_BID, BP_UNSUPPORTED_VERSION, BP_BID_REPLY);
	struct bp_parse p = parse(b, BP_LEN_BID);
	assert_int_equal(bp_write_error_reply(out, &p), BP_LEN_BID_REPLY);
	struct bp_bid_reply r;
	assert_int_equal(bp_parse_bid_reply(out, BP_LEN_BID_REPLY, &r), 0);
	assert_int_equal(r.status, BP_UNSUPPORTED_VERSION);
	assert_int_equal(r.request_id, 0x11);
	assert_int_equal(r.auction_id, 0x22);
	assert_int_equal(r.client_ts, 0x5555);
}

static void other_version_short_datagram_copies_only_whole_fields(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 0x11, 0x22, 0x33, 0x44);
	b[2] = 0;
	struct bp_parse p = parse(b, 20); /* request_id whole, auction_id cut */
	assert_int_equal(p.verdict, BP_ANSWER);
	assert_int_equal(p.status, BP_UNSUPPORTED_VERSION);
	assert_int_equal(p.req.request_id, 0x11);
	assert_int_equal(p.req.auction_id, 0);
	assert_int_equal(p.req.client_ts, 0);
}

static void other_version_long_datagram_copies_only_the_types_fields(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 0x11, 0x22, 0x33, 0x44); /* bytes 24-47 hold BID fields */
	b[2] = 2;
	b[3] = BP_QUERY;
	struct bp_parse p = parse(b, BP_LEN_BID);
	assert_int_equal(p.verdict, BP_ANSWER);
	assert_int_equal(p.status, BP_UNSUPPORTED_VERSION);
	assert_int_equal(p.reply_type, BP_AUCTION_STATE);
	assert_int_equal(p.req.request_id, 0x11);
	assert_int_equal(p.req.auction_id, 0x22);
	assert_int_equal(p.req.actor_id, 0); /* a QUERY has no field at 24 */
	assert_int_equal(p.req.amount, 0);
	assert_int_equal(p.req.client_ts, 0);
}

static void other_version_of_unknown_type_gets_no_reply(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 1, 1, 1, 1);
	b[2] = 9;
	b[3] = 0x42;
	expect_no_reply(b, BP_LEN_BID, BP_DROP_UNKNOWN_TYPE);
}

static void unknown_type_gets_no_reply(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 1, 1, 1, 1);
	for (unsigned int t = 0; t < 256; t++) {
		/* Requests are known; reply and node types have their own rules. */
		if (bp_reply_type((uint8_t)t) != 0 || t == BP_BID_REPLY || t == BP_AUCTION_STATE ||
		    (t >= BP_PEER_FIRST && t <= BP_PEER_LAST))
			continue;
		b[3] = (uint8_t)t;
		expect_no_reply(b, BP_LEN_BID, BP_DROP_UNKNOWN_TYPE);
	}
}

static void reserved_node_types_are_never_accepted_from_clients(void **s)
{
	(void)s;
	uint8_t b[64];
	make_bid(b, 1, 1, 1, 1);
	for (unsigned int t = BP_PEER_FIRST; t <= BP_PEER_LAST; t++) {
		b[3] = (uint8_t)t;
		expect_no_reply(b, BP_LEN_BID, BP_DROP_PEER_TYPE);
	}
}

static void reply_types_sent_to_the_node_get_no_reply(void **s)
{
	(void)s;
	uint8_t b[BP_LEN_MAX];
	struct bp_bid_reply r = {.request_id = 1, .auction_id = 1};
	bp_write_bid_reply(b, &r);
	expect_no_reply(b, BP_LEN_BID_REPLY, BP_DROP_REPLY_TYPE);
	struct bp_auction_state st = {.request_id = 1, .auction_id = 1};
	bp_write_auction_state(b, &st);
	expect_no_reply(b, BP_LEN_AUCTION_STATE, BP_DROP_REPLY_TYPE);
}

static void wrong_datagram_length_is_malformed_for_every_type(void **s)
{
	(void)s;
	uint8_t b[128] = {0};
	for (size_t i = 0; i < REQUEST_TYPES; i++) {
		size_t valid_len = write_valid(b, request_types[i].type);
		for (size_t len = 8; len < 100; len++) {
			if (len == valid_len)
				continue;
			b[4] = (uint8_t)(len >> 8);
			b[5] = (uint8_t)len; /* length field agrees: the size is wrong */
			expect_answer(b, len, BP_MALFORMED, request_types[i].reply);
		}
	}
}

static void length_field_must_equal_datagram_length(void **s)
{
	(void)s;
	uint8_t b[BP_LEN_MAX];
	for (size_t i = 0; i < REQUEST_TYPES; i++) {
		size_t len = write_valid(b, request_types[i].type);
		for (unsigned int field = 0; field <= BP_LEN_MAX; field++) {
			if (field == len)
				continue;
			b[4] = (uint8_t)(field >> 8);
			b[5] = (uint8_t)field;
			expect_answer(b, len, BP_MALFORMED, request_types[i].reply);
		}
	}
}

static void request_flags_must_be_zero(void **s)
{
	(void)s;
	uint8_t b[BP_LEN_MAX];
	for (size_t i = 0; i < REQUEST_TYPES; i++) {
		size_t len = write_valid(b, request_types[i].type);
		for (int bit = 0; bit < 16; bit++) {
			uint16_t flags = (uint16_t)(1u << bit); /* REPLAYED too */
			b[6] = (uint8_t)(flags >> 8);
			b[7] = (uint8_t)flags;
			expect_answer(b, len, BP_MALFORMED, request_types[i].reply);
		}
	}
}

static void bid_request_id_must_be_nonzero(void **s)
{
	(void)s;
	uint8_t b[64];
	expect_answer(b, make_bid(b, 0, 1, 1, 1), BP_MALFORMED, BP_BID_REPLY);
}

static void bid_auction_id_must_be_nonzero(void **s)
{
	(void)s;
	uint8_t b[64];
	expect_answer(b, make_bid(b, 1, 0, 1, 1), BP_MALFORMED, BP_BID_REPLY);
}

static void bid_bidder_id_must_be_nonzero(void **s)
{
	(void)s;
	uint8_t b[64];
	expect_answer(b, make_bid(b, 1, 1, 0, 1), BP_MALFORMED, BP_BID_REPLY);
}

static void bid_amount_must_be_at_least_one(void **s)
{
	(void)s;
	uint8_t b[64];
	expect_answer(b, make_bid(b, 1, 1, 1, 0), BP_MALFORMED, BP_BID_REPLY);
}

static void bid_amount_above_2_63_minus_1_is_malformed(void **s)
{
	(void)s;
	uint8_t b[64];
	expect_answer(b, make_bid(b, 1, 1, 1, UINT64_C(1) << 63), BP_MALFORMED, BP_BID_REPLY);
	expect_answer(b, make_bid(b, 1, 1, 1, UINT64_MAX), BP_MALFORMED, BP_BID_REPLY);
}

static void bid_amount_of_2_63_minus_1_is_valid(void **s)
{
	(void)s;
	uint8_t b[64];
	struct bp_parse p = parse(b, make_bid(b, 1, 1, 1, INT64_MAX));
	assert_int_equal(p.verdict, BP_VALID);
	assert_int_equal(p.req.amount, INT64_MAX);
}

static void valid_bid_is_parsed_field_by_field(void **s)
{
	(void)s;
	uint8_t b[64];
	struct bp_parse p = parse(b, make_bid(b, 7, 8, 9, 10));
	assert_int_equal(p.verdict, BP_VALID);
	assert_int_equal(p.req.type, BP_BID);
	assert_int_equal(p.req.request_id, 7);
	assert_int_equal(p.req.auction_id, 8);
	assert_int_equal(p.req.actor_id, 9);
	assert_int_equal(p.req.amount, 10);
	assert_int_equal(p.req.client_ts, 0x5555);
}

static void query_needs_an_auction_but_request_id_may_be_zero(void **s)
{
	(void)s;
	uint8_t b[64];
	struct bp_request r = {.request_id = 0, .auction_id = 5};
	struct bp_parse p = parse(b, bp_write_query(b, &r));
	assert_int_equal(p.verdict, BP_VALID);
	r.auction_id = 0;
	expect_answer(b, bp_write_query(b, &r), BP_MALFORMED, BP_AUCTION_STATE);
}

static void watch_fields_must_be_nonzero(void **s)
{
	(void)s;
	uint8_t b[64];
	for (int type = BP_WATCH; type <= BP_UNWATCH; type++) {
		struct bp_request ok = {
		    .type = (uint8_t)type, .request_id = 1, .auction_id = 2, .actor_id = 3};
		assert_int_equal(parse(b, bp_write_watch(b, &ok)).verdict, BP_VALID);
		assert_int_equal(parse(b, bp_write_watch(b, &ok)).req.type, type);
		for (int f = 0; f < 3; f++) {
			struct bp_request r = ok;
			if (f == 0)
				r.request_id = 0;
			if (f == 1)
				r.auction_id = 0;
			if (f == 2)
				r.actor_id = 0;
			expect_answer(b, bp_write_watch(b, &r), BP_MALFORMED, BP_AUCTION_STATE);
		}
	}
}

static void malformed_reply_copies_fields_present_and_zeroes_the_rest(void **s)
{
	(void)s;
	uint8_t b[64], out[BP_LEN_MAX];
	make_bid(b, 0xAA, 0xBB, 0xCC, 0xDD);
	b[4] = 0;
	b[5] = 40; /* a BID cut to 40 bytes, length field agreeing */
	struct bp_parse p = parse(b, 40);
	assert_int_equal(p.status, BP_MALFORMED);
	bp_write_error_reply(out, &p);
	struct bp_bid_reply r;
	assert_int_equal(bp_parse_bid_reply(out, BP_LEN_BID_REPLY, &r), 0);
	assert_int_equal(r.request_id, 0xAA);
	assert_int_equal(r.auction_id, 0xBB);
	assert_int_equal(r.client_ts, 0); /* offset 40 is not in the datagram */
	assert_int_equal(r.hlc, 0);
	assert_int_equal(r.leading_amount, 0);
	for (int i = 25; i < 32; i++)
		assert_int_equal(out[i], 0);
}

static void malformed_long_datagram_copies_the_types_fields(void **s)
{
	(void)s;
	uint8_t b[64] = {0}, out[BP_LEN_MAX];
	make_bid(b, 0xAA, 0xBB, 0xCC, 0xDD);
	b[5] = 56; /* a BID with 8 extra bytes, length field agreeing */
	memset(b + BP_LEN_BID, 0xEE, 8);
	struct bp_parse p = parse(b, 56);
	assert_int_equal(p.status, BP_MALFORMED);
	assert_int_equal(p.req.actor_id, 0xCC);
	assert_int_equal(p.req.amount, 0xDD);
	assert_int_equal(bp_write_error_reply(out, &p), BP_LEN_BID_REPLY);
	struct bp_bid_reply r;
	assert_int_equal(bp_parse_bid_reply(out, BP_LEN_BID_REPLY, &r), 0);
	assert_int_equal(r.request_id, 0xAA);
	assert_int_equal(r.auction_id, 0xBB);
	assert_int_equal(r.client_ts, 0x5555);
}

static void error_reply_of_query_is_an_auction_state(void **s)
{
	(void)s;
	uint8_t b[64], out[BP_LEN_MAX];
	struct bp_request r = {.request_id = 9, .auction_id = 0};
	struct bp_parse p = parse(b, bp_write_query(b, &r));
	assert_int_equal(bp_write_error_reply(out, &p), BP_LEN_AUCTION_STATE);
	struct bp_auction_state st;
	assert_int_equal(bp_parse_auction_state(out, BP_LEN_AUCTION_STATE, &st), 0);
	assert_int_equal(st.status, BP_MALFORMED);
	assert_int_equal(st.phase, BP_PHASE_UNKNOWN);
	assert_int_equal(st.request_id, 9);
	p.verdict = BP_VALID;
	assert_int_equal(bp_write_error_reply(out, &p), 0);
}

static void reply_parsers_reject_anything_but_an_exact_reply(void **s)
{
	(void)s;
	uint8_t b[BP_LEN_MAX];
	struct bp_bid_reply r = {.request_id = 1};
	struct bp_bid_reply out;
	bp_write_bid_reply(b, &r);
	assert_int_equal(bp_parse_bid_reply(b, BP_LEN_BID_REPLY - 1, &out), -EBADMSG);
	b[2] = 2;
	assert_int_equal(bp_parse_bid_reply(b, BP_LEN_BID_REPLY, &out), -EBADMSG);
	struct bp_auction_state st;
	assert_int_equal(bp_parse_auction_state(b, BP_LEN_AUCTION_STATE, &st), -EBADMSG);
}

static void names_are_stable(void **s)
{
	(void)s;
	assert_string_equal(bp_status_name(BP_ACCEPTED), "accepted");
	assert_string_equal(bp_status_name(BP_CONFLICT), "conflict");
	assert_string_equal(bp_status_name(99), "invalid");
	assert_string_equal(bp_drop_name(BP_DROP_PEER_TYPE), "peer_type");
	assert_string_equal(bp_type_name(BP_UNWATCH), "unwatch");
	assert_int_equal(bp_reply_type(BP_WATCH), BP_AUCTION_STATE);
	assert_int_equal(bp_reply_type(0x42), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(datagram_shorter_than_header_gets_no_reply),
	    cmocka_unit_test(wrong_magic_gets_no_reply),
	    cmocka_unit_test(other_version_gets_unsupported_version_with_fields_copied),
	    cmocka_unit_test(other_version_short_datagram_copies_only_whole_fields),
	    cmocka_unit_test(other_version_long_datagram_copies_only_the_types_fields),
	    cmocka_unit_test(other_version_of_unknown_type_gets_no_reply),
	    cmocka_unit_test(unknown_type_gets_no_reply),
	    cmocka_unit_test(reserved_node_types_are_never_accepted_from_clients),
	    cmocka_unit_test(reply_types_sent_to_the_node_get_no_reply),
	    cmocka_unit_test(wrong_datagram_length_is_malformed_for_every_type),
	    cmocka_unit_test(length_field_must_equal_datagram_length),
	    cmocka_unit_test(request_flags_must_be_zero),
	    cmocka_unit_test(bid_request_id_must_be_nonzero),
	    cmocka_unit_test(bid_auction_id_must_be_nonzero),
	    cmocka_unit_test(bid_bidder_id_must_be_nonzero),
	    cmocka_unit_test(bid_amount_must_be_at_least_one),
	    cmocka_unit_test(bid_amount_above_2_63_minus_1_is_malformed),
	    cmocka_unit_test(bid_amount_of_2_63_minus_1_is_valid),
	    cmocka_unit_test(valid_bid_is_parsed_field_by_field),
	    cmocka_unit_test(query_needs_an_auction_but_request_id_may_be_zero),
	    cmocka_unit_test(watch_fields_must_be_nonzero),
	    cmocka_unit_test(malformed_reply_copies_fields_present_and_zeroes_the_rest),
	    cmocka_unit_test(malformed_long_datagram_copies_the_types_fields),
	    cmocka_unit_test(error_reply_of_query_is_an_auction_state),
	    cmocka_unit_test(reply_parsers_reject_anything_but_an_exact_reply),
	    cmocka_unit_test(names_are_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
