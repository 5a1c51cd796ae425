/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Golden byte vectors for every message type, written out by hand from
 * PROTOCOL.md's tables (not produced by the code under test), checked both
 * ways: writer output equals the bytes, parser of the bytes equals the struct.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "proto.h"

#define RID 0x0102030405060708ull
#define AUC 0x1112131415161718ull
#define ACT 0x2122232425262728ull
#define AMT 0x0031323334353637ull
#define CTS 0x4142434445464748ull

static const uint8_t bid_bytes[BP_LEN_BID] = {
    0xB1, 0xD5, 0x01, 0x01, 0x00, 0x30, 0x00, 0x00, /* header */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* request_id */
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* auction_id */
    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* bidder_id */
    0x00, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, /* amount */
    0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, /* client_ts */
};

static const uint8_t bid_reply_bytes[BP_LEN_BID_REPLY] = {
    0xB1, 0xD5, 0x01, 0x02, 0x00, 0x40, 0x00, 0x01, /* header, REPLAYED */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* request_id */
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* auction_id */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* status TOO_LOW, reserved */
    0x00, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, /* leading_amount */
    0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, /* leading_bidder */
    0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, /* hlc */
    0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, /* client_ts */
};

static const uint8_t query_bytes[BP_LEN_QUERY] = {
    0xB1, 0xD5, 0x01, 0x03, 0x00, 0x18, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
};

static const uint8_t state_bytes[BP_LEN_AUCTION_STATE] = {
    0xB1, 0xD5, 0x01, 0x04, 0x00, 0x58, 0x00, 0x00, /* header */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* request_id */
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* auction_id */
    0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* status 3, state closed */
    0x00, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, /* leading_amount */
    0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, /* leading_bidder */
    0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, /* leading_hlc */
    0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, /* bid_count */
    0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, /* viewers */
    0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, /* close_at_ms */
    0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, /* node_hlc */
};

static const uint8_t watch_bytes[BP_LEN_WATCH] = {
    0xB1, 0xD5, 0x01, 0x05, 0x00, 0x20, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
};

static void bid_golden(void **s)
{
	(void)s;
	uint8_t out[BP_LEN_MAX];
	struct bp_request r = {
	    .request_id = RID, .auction_id = AUC, .actor_id = ACT, .amount = AMT, .client_ts = CTS};
	assert_int_equal(bp_write_bid(out, &r), sizeof(bid_bytes));
	assert_memory_equal(out, bid_bytes, sizeof(bid_bytes));
	struct bp_parse p;
	bp_parse_request(bid_bytes, sizeof(bid_bytes), &p);
	assert_int_equal(p.verdict, BP_VALID);
	assert_true(p.req.request_id == RID && p.req.auction_id == AUC && p.req.actor_id == ACT &&
		    p.req.amount == AMT && p.req.client_ts == CTS);
}

static void bid_reply_golden(void **s)
{
	(void)s;
	uint8_t out[BP_LEN_MAX];
	struct bp_bid_reply r = {.flags = BP_FLAG_REPLAYED,
				 .request_id = RID,
				 .auction_id = AUC,
				 .status = BP_TOO_LOW,
				 .leading_amount = 0x0051525354555657ull,
				 .leading_bidder = 0x6162636465666768ull,
				 .hlc = 0x7172737475767778ull,
				 .client_ts = CTS};
	assert_int_equal(bp_write_bid_reply(out, &r), sizeof(bid_reply_bytes));
	assert_memory_equal(out, bid_reply_bytes, sizeof(bid_reply_bytes));
	struct bp_bid_reply back;
	assert_int_equal(bp_parse_bid_reply(bid_reply_bytes, sizeof(bid_reply_bytes), &back), 0);
	assert_true(back.flags == r.flags && back.request_id == RID && back.status == BP_TOO_LOW &&
		    back.leading_amount == r.leading_amount && back.hlc == r.hlc &&
		    back.client_ts == CTS && back.leading_bidder == r.leading_bidder);
}

static void query_golden(void **s)
{
	(void)s;
	uint8_t out[BP_LEN_MAX];
	struct bp_request r = {.request_id = RID, .auction_id = AUC};
	assert_int_equal(bp_write_query(out, &r), sizeof(query_bytes));
	assert_memory_equal(out, query_bytes, sizeof(query_bytes));
	struct bp_parse p;
	bp_parse_request(query_bytes, sizeof(query_bytes), &p);
	assert_int_equal(p.verdict, BP_VALID);
	assert_true(p.req.type == BP_QUERY && p.req.request_id == RID && p.req.auction_id == AUC);
}

static void auction_state_golden(void **s)
{
	(void)s;
	uint8_t out[BP_LEN_MAX];
	struct bp_auction_state st = {.request_id = RID,
				      .auction_id = AUC,
				      .status = 3,
				      .phase = BP_PHASE_CLOSED,
				      .leading_amount = 0x0051525354555657ull,
				      .leading_bidder = 0x6162636465666768ull,
				      .leading_hlc = 0x7172737475767778ull,
				      .bid_count = 0x8182838485868788ull,
				      .viewers = 0x9192939495969798ull,
				      .close_at_ms = 0xA1A2A3A4A5A6A7A8ull,
				      .node_hlc = 0xB1B2B3B4B5B6B7B8ull};
	assert_int_equal(bp_write_auction_state(out, &st), sizeof(state_bytes));
	assert_memory_equal(out, state_bytes, sizeof(state_bytes));
	struct bp_auction_state back;
	memset(&back, 0, sizeof(back));
	assert_int_equal(bp_parse_auction_state(state_bytes, sizeof(state_bytes), &back), 0);
	assert_true(back.request_id == RID && back.status == 3 && back.phase == 2 &&
		    back.bid_count == st.bid_count && back.node_hlc == st.node_hlc &&
		    back.close_at_ms == st.close_at_ms && back.viewers == st.viewers);
}

static void watch_and_unwatch_golden(void **s)
{
	(void)s;
	uint8_t out[BP_LEN_MAX], unwatch[BP_LEN_WATCH];
	struct bp_request r = {
	    .type = BP_WATCH, .request_id = RID, .auction_id = AUC, .actor_id = ACT};
	assert_int_equal(bp_write_watch(out, &r), sizeof(watch_bytes));
	assert_memory_equal(out, watch_bytes, sizeof(watch_bytes));
	memcpy(unwatch, watch_bytes, sizeof(unwatch));
	unwatch[3] = 0x06;
	r.type = BP_UNWATCH;
	bp_write_watch(out, &r);
	assert_memory_equal(out, unwatch, sizeof(unwatch));
	struct bp_parse p;
	bp_parse_request(unwatch, sizeof(unwatch), &p);
	assert_true(p.verdict == BP_VALID && p.req.type == BP_UNWATCH && p.req.actor_id == ACT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bid_golden),
	    cmocka_unit_test(bid_reply_golden),
	    cmocka_unit_test(query_golden),
	    cmocka_unit_test(auction_state_golden),
	    cmocka_unit_test(watch_and_unwatch_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
