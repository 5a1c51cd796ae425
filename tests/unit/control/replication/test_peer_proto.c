/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The peer wire format (control/replication/peer_proto.h): golden vectors
 * of each type both ways (the bytes come from tests/fuzz/make_peer_corpus.py,
 * an independent encoder over Python's BLAKE2b), every refusal reason,
 * encoder rules, and properties over seeded random messages: round trip,
 * every single-bit flip refused, every truncation refused, -ENOSPC at every
 * short buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "peer_proto.h"
#include "peer_gen.h"

#define PROP_CASES 2000
#define HLC	   ((UINT64_C(1700000000000) << 16) | 3)

static const struct cluster_key test_key = {.bytes = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
						      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
						      23, 24, 25, 26, 27, 28, 29, 30, 31, 32}};

/* clang-format off */
static const uint8_t golden_heartbeat[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x10, /* type */
	0x00, 0x50, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x01, /* sender */
	0x00, 0x02, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* origin_ns 1000 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xd0, /* receive_ns 2000 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0xb8, /* transmit_ns 3000 */
	0xac, 0x1f, 0xc4, 0xad, 0xd5, 0x20, 0x45, 0xdf, 0x8b, 0x0c, 0x5a, 0x36, 0xee, 0x3e, 0x29, 0x0a, /* tag */
};

/* The same from a node with --etcd: flags PEER_FLAG_FENCED. */
static const uint8_t golden_heartbeat_fenced[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x10, /* type */
	0x00, 0x50, /* length */
	0x00, 0x01, /* flags: FENCED */
	0x00, 0x01, /* sender */
	0x00, 0x02, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* origin_ns 1000 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xd0, /* receive_ns 2000 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0xb8, /* transmit_ns 3000 */
	0xce, 0xdc, 0xf4, 0x37, 0x1c, 0xf8, 0xc7, 0xfc, 0x66, 0x94, 0x17, 0xf9, 0x23, 0xed, 0xc6, 0x78, /* tag */
};

static const uint8_t golden_ack[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x11, /* type */
	0x00, 0x61, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x02, /* sender */
	0x00, 0x01, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* acked incarnation 9 */
	0x02, /* 2 ranges */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* first 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* last 3 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* first 5 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* last 5 */
	0xa6, 0x63, 0xbc, 0xea, 0x7f, 0x78, 0xac, 0x9c, 0xd5, 0xd6, 0x88, 0x91, 0x87, 0xb8, 0x8c, 0xd1, /* tag */
};

static const uint8_t golden_delta[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x12, /* type */
	0x00, 0xce, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x01, /* sender */
	0x00, 0x02, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x02, /* 2 entries */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* auction_id 42 */
	0x0f, /* parts: all */
	0x01, 0x8b, 0xcf, 0xe5, 0x67, 0xff, 0xff, 0xfe, /* definition hlc */
	0x00, 0x01, /* definition node */
	0x01, /* phase open */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, /* reserve 100 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, /* increment 10 */
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xee, 0x8f, 0xc0, /* close_at_ms */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x96, /* leader amount 150 */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x02, /* leader hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, /* leader bidder 77 */
	0x00, 0x01, /* leader node 1 */
	0x02, /* bid_count: 2 slots */
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* node 1: 3 */
	0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* node 3: 1 */
	0x01, /* viewers p: 1 slot */
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* node 1: 2 */
	0x01, /* viewers n: 1 slot */
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* node 2: 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, /* auction_id 43 */
	0x02, /* parts: leader */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf4, /* amount 500 */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x01, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4e, /* bidder 78 */
	0x00, 0x02, /* node 2 */
	0x7f, 0xe6, 0x24, 0x67, 0x6a, 0x29, 0x04, 0x4b, 0x8a, 0x2d, 0x20, 0xdf, 0x76, 0xfb, 0xec, 0x96, /* tag */
};

static const uint8_t golden_sync_request[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x13, /* type */
	0x00, 0x48, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x02, /* sender */
	0x00, 0x01, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, /* sync_id 0x1234 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* after 0 */
	0x62, 0x89, 0xf2, 0x6d, 0x7c, 0xab, 0x78, 0x65, 0x68, 0x4f, 0x04, 0x62, 0xa1, 0xd3, 0x9d, 0xa8, /* tag */
};

static const uint8_t golden_sync[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x14, /* type */
	0x00, 0x7e, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x01, /* sender */
	0x00, 0x02, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, /* sync_id 0x1234 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* after 0 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* next_after 0: last page */
	0x00, 0x01, /* 1 entry */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* auction_id 42 */
	0x01, /* parts: definition */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* definition hlc */
	0x00, 0x02, /* node 2 */
	0x02, /* phase closed */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, /* reserve 100 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, /* increment 10 */
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xee, 0x8f, 0xc0, /* close_at_ms */
	0xef, 0x2f, 0x70, 0xb1, 0x68, 0x5a, 0x8c, 0x8d, 0xd1, 0xd3, 0xdd, 0x00, 0x53, 0x6c, 0x4e, 0x61, /* tag */
};

static const uint8_t golden_delta_dups[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x12, /* type */
	0x00, 0x63, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x02, /* sender */
	0x00, 0x01, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x01, /* 1 entry */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* auction_id 42 */
	0x14, /* parts: bid_count, dups */
	0x02, /* bid_count: 2 slots */
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* node 1: 3 */
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* node 2: 2 */
	0x01, /* dups: 1 slot */
	0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* node 2: 1 */
	0xd4, 0xd5, 0xec, 0x87, 0xa1, 0xdd, 0xdb, 0x99, 0x8a, 0xfa, 0xe4, 0x3b, 0x76, 0x67, 0xf2, 0xbb, /* tag */
};

static const uint8_t golden_keys[] = {
	0xb1, 0xd5, /* magic */
	0x01, /* version */
	0x15, /* type */
	0x00, 0xb8, /* length */
	0x00, 0x00, /* flags */
	0x00, 0x01, /* sender */
	0x00, 0x02, /* receiver */
	0x00, 0x00, 0x00, 0x00, /* reserved */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* incarnation */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, /* seq */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x03, /* 3 records */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, /* bidder 77 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* request_id 5 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* auction_id 42 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x96, /* amount 150 */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x02, /* hlc */
	0x00, 0x01, /* node 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, /* bidder 77 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, /* request_id 6 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* auction_id 42 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, /* amount 160 */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x03, /* hlc */
	0x00, 0x01, /* node 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4e, /* bidder 78 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* request_id 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, /* auction_id 43 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf4, /* amount 500 */
	0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x01, /* hlc */
	0x00, 0x01, /* node 1 */
	0x66, 0xb2, 0xc3, 0x09, 0xbf, 0x90, 0x90, 0x7c, 0xcb, 0xc9, 0xab, 0x25, 0x52, 0x18, 0x5c, 0xfe, /* tag */
};

/* clang-format on */

static struct peer_header header(uint8_t type, uint16_t sender, uint16_t receiver,
				 uint64_t incarnation, uint64_t seq)
{
	return (struct peer_header){.type = type,
				    .sender = sender,
				    .receiver = receiver,
				    .incarnation = incarnation,
				    .seq = seq,
				    .hlc = HLC};
}

static const struct peer_definition def42 = {.hlc = HLC - 5,
					     .node = 1,
					     .phase = PEER_PHASE_OPEN,
					     .reserve = 100,
					     .increment = 10,
					     .close_at_ms = UINT64_C(1700000600000)};

static void golden_delta_entries(struct peer_entry e[2])
{
	memset(e, 0, 2 * sizeof(*e));
	e[0].auction_id = 42;
	e[0].parts =
	    PEER_PART_DEFINITION | PEER_PART_LEADER | PEER_PART_BID_COUNT | PEER_PART_VIEWERS;
	e[0].definition = def42;
	e[0].leader = (struct bid){.amount = 150, .hlc = HLC - 1, .bidder = 77, .node = 1};
	e[0].bid_count = (struct peer_counter){.count = 2, .node = {1, 3}, .value = {3, 1}};
	e[0].viewers_p = (struct peer_counter){.count = 1, .node = {1}, .value = {2}};
	e[0].viewers_n = (struct peer_counter){.count = 1, .node = {2}, .value = {1}};
	e[1].auction_id = 43;
	e[1].parts = PEER_PART_LEADER;
	e[1].leader = (struct bid){.amount = 500, .hlc = HLC - 2, .bidder = 78, .node = 2};
}

static void golden_sync_entry(struct peer_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->auction_id = 42;
	e->parts = PEER_PART_DEFINITION;
	e->definition = def42;
	e->definition.hlc = HLC;
	e->definition.node = 2;
	e->definition.phase = PEER_PHASE_CLOSED;
}

static void assert_header(const struct peer_message *m, const struct peer_header *want)
{
	assert_int_equal(m->h.type, want->type);
	assert_int_equal(m->h.sender, want->sender);
	assert_int_equal(m->h.receiver, want->receiver);
	assert_int_equal(m->h.incarnation, want->incarnation);
	assert_int_equal(m->h.seq, want->seq);
	assert_int_equal(m->h.hlc, want->hlc);
}

static void assert_entries_equal(const struct peer_entries *list, const struct peer_entry *want,
				 size_t n)
{
	struct peer_entry e;
	size_t off = 0;
	assert_int_equal(list->count, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(peer_entries_next(list, &off, &e), 1);
		assert_true(gen_entry_equal(&e, &want[i]));
	}
	assert_int_equal(peer_entries_next(list, &off, &e), 0);
}

static void decode_ok(const uint8_t *buf, size_t len, struct peer_message *m)
{
	enum peer_drop why = PEER_DROP_COUNT;
	assert_int_equal(peer_decode(buf, len, &test_key, m, &why), 0);
	assert_int_equal(why, PEER_DROP_NONE);
	assert_int_equal(m->length, len);
}

static void test_golden_heartbeat(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_HEARTBEAT, 1, 2, 7, 1);
	struct peer_heartbeat hb = {.origin_ns = 1000, .receive_ns = 2000, .transmit_ns = 3000};
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_heartbeat(&h, &hb, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_heartbeat));
	assert_memory_equal(buf, golden_heartbeat, sizeof(golden_heartbeat));
	struct peer_message m;
	decode_ok(golden_heartbeat, sizeof(golden_heartbeat), &m);
	assert_header(&m, &h);
	assert_memory_equal(&m.u.heartbeat, &hb, sizeof(hb));
}

/* The settlement mode travels in the header (LEADERSHIP.md "Mixed
 * clusters"): FENCED both ways; any other flag is refused by both sides. */
static void test_golden_heartbeat_fenced(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_HEARTBEAT, 1, 2, 7, 1);
	h.flags = PEER_FLAG_FENCED;
	struct peer_heartbeat hb = {.origin_ns = 1000, .receive_ns = 2000, .transmit_ns = 3000};
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_heartbeat(&h, &hb, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_heartbeat_fenced));
	assert_memory_equal(buf, golden_heartbeat_fenced, sizeof(golden_heartbeat_fenced));
	struct peer_message m;
	decode_ok(golden_heartbeat_fenced, sizeof(golden_heartbeat_fenced), &m);
	assert_header(&m, &h);
	assert_int_equal(m.h.flags, PEER_FLAG_FENCED);
	decode_ok(golden_heartbeat, sizeof(golden_heartbeat), &m);
	assert_int_equal(m.h.flags, 0);
	h.flags = 0x0002;
	assert_int_equal(peer_encode_heartbeat(&h, &hb, &test_key, buf, sizeof(buf)), -EINVAL);
	h.flags = 0x8000;
	assert_int_equal(peer_encode_heartbeat(&h, &hb, &test_key, buf, sizeof(buf)), -EINVAL);
}

static void test_golden_ack(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_ACK, 2, 1, 9, 5);
	struct peer_ack ack = {.incarnation = 9, .count = 2, .range = {{1, 3}, {5, 5}}};
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_ack));
	assert_memory_equal(buf, golden_ack, sizeof(golden_ack));
	struct peer_message m;
	decode_ok(golden_ack, sizeof(golden_ack), &m);
	assert_header(&m, &h);
	assert_true(gen_ack_equal(&m.u.ack, &ack));
}

static void test_golden_delta(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_DELTA, 1, 2, 7, 2);
	struct peer_entry e[2];
	golden_delta_entries(e);
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_delta(&h, e, 2, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_delta));
	assert_memory_equal(buf, golden_delta, sizeof(golden_delta));
	assert_int_equal(peer_entry_len(&e[0]) + peer_entry_len(&e[1]) + 2 + PEER_LEN_MIN, n);
	struct peer_message m;
	decode_ok(golden_delta, sizeof(golden_delta), &m);
	assert_header(&m, &h);
	assert_entries_equal(&m.u.delta, e, 2);
}

static void test_golden_sync_request(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_SYNC_REQUEST, 2, 1, 9, 6);
	struct peer_sync_request q = {.sync_id = 0x1234, .after = 0};
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_sync_request(&h, &q, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_sync_request));
	assert_memory_equal(buf, golden_sync_request, sizeof(golden_sync_request));
	struct peer_message m;
	decode_ok(golden_sync_request, sizeof(golden_sync_request), &m);
	assert_header(&m, &h);
	assert_memory_equal(&m.u.sync_request, &q, sizeof(q));
}

static void test_golden_sync(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_SYNC, 1, 2, 7, 3);
	struct peer_sync page = {.sync_id = 0x1234, .after = 0, .next_after = 0};
	struct peer_entry e;
	golden_sync_entry(&e);
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_sync(&h, &page, &e, 1, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_sync));
	assert_memory_equal(buf, golden_sync, sizeof(golden_sync));
	struct peer_message m;
	decode_ok(golden_sync, sizeof(golden_sync), &m);
	assert_header(&m, &h);
	assert_int_equal(m.u.sync.sync_id, 0x1234);
	assert_int_equal(m.u.sync.after, 0);
	assert_int_equal(m.u.sync.next_after, 0);
	assert_entries_equal(&m.u.sync.entries, &e, 1);
}

/* ---- every refusal reason, on a copy of a golden message ---- */

static enum peer_drop decode_reason(const uint8_t *buf, size_t len)
{
	struct peer_message m;
	enum peer_drop why = PEER_DROP_NONE;
	assert_int_equal(peer_decode(buf, len, &test_key, &m, &why), -1);
	assert_int_not_equal(why, PEER_DROP_NONE);
	return why;
}

/* Sets byte off of a golden copy to v and re-tags it, so the change gets
 * past the MAC to the check behind it. */
static enum peer_drop retagged_reason(const uint8_t *golden, size_t len, size_t off, uint8_t v)
{
	uint8_t buf[PEER_LEN_MAX];
	memcpy(buf, golden, len);
	buf[off] = v;
	peer_tag(buf, len, &test_key);
	return decode_reason(buf, len);
}

/* The same with a big-endian u64 written at off. */
static enum peer_drop retagged_u64_reason(const uint8_t *golden, size_t len, size_t off, uint64_t v)
{
	uint8_t buf[PEER_LEN_MAX];
	memcpy(buf, golden, len);
	for (int i = 0; i < 8; i++)
		buf[off + (size_t)i] = (uint8_t)(v >> (56 - 8 * i));
	peer_tag(buf, len, &test_key);
	return decode_reason(buf, len);
}

static void golden_dups_entry(struct peer_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->auction_id = 42;
	e->parts = PEER_PART_BID_COUNT | PEER_PART_DUPS;
	e->bid_count = (struct peer_counter){.count = 2, .node = {1, 2}, .value = {3, 2}};
	e->dups = (struct peer_counter){.count = 1, .node = {2}, .value = {1}};
}

/* The DUPS part (bit 4): a G-Counter after the viewers. */
static void test_golden_delta_dups(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_DELTA, 2, 1, 9, 7);
	struct peer_entry e;
	golden_dups_entry(&e);
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_delta(&h, &e, 1, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_delta_dups));
	assert_memory_equal(buf, golden_delta_dups, sizeof(golden_delta_dups));
	struct peer_message m;
	decode_ok(golden_delta_dups, sizeof(golden_delta_dups), &m);
	assert_header(&m, &h);
	assert_entries_equal(&m.u.delta, &e, 1);
	/* An empty dups counter is not an encoding. */
	e.dups.count = 0;
	assert_int_equal(peer_encode_delta(&h, &e, 1, &test_key, buf, sizeof(buf)), -EINVAL);
	const size_t dups = PEER_HEADER_LEN + 2 + 9 + 21;
	assert_int_equal(retagged_reason(golden_delta_dups, sizeof(golden_delta_dups), dups, 0),
			 PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(golden_delta_dups, sizeof(golden_delta_dups), dups + 2, 0),
			 PEER_DROP_MALFORMED_BODY); /* node 0 */
}

static const struct peer_key golden_key_records[3] = {
    {.bidder = 77, .request_id = 5, .auction_id = 42, .amount = 150, .hlc = HLC - 1, .node = 1},
    {.bidder = 77, .request_id = 6, .auction_id = 42, .amount = 160, .hlc = HLC, .node = 1},
    {.bidder = 78, .request_id = 1, .auction_id = 43, .amount = 500, .hlc = HLC - 2, .node = 1},
};

static void test_golden_keys(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_KEYS, 1, 2, 7, 4);
	uint8_t buf[PEER_LEN_MAX];
	int n = peer_encode_keys(&h, golden_key_records, 3, &test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_keys));
	assert_memory_equal(buf, golden_keys, sizeof(golden_keys));
	struct peer_message m;
	decode_ok(golden_keys, sizeof(golden_keys), &m);
	assert_header(&m, &h);
	assert_int_equal(m.u.keys.count, 3);
	for (unsigned int i = 0; i < 3; i++) {
		struct peer_key k;
		peer_keys_at(&m.u.keys, i, &k);
		assert_memory_equal(&k, &golden_key_records[i], sizeof(k));
	}
	/* A kept KEYS is resealed like a DELTA. */
	struct peer_header again = header(PEER_KEYS, 1, 2, 7, 9);
	n = peer_reseal(&again, golden_keys + PEER_HEADER_LEN, sizeof(golden_keys) - PEER_LEN_MIN,
			&test_key, buf, sizeof(buf));
	assert_int_equal(n, sizeof(golden_keys));
	decode_ok(buf, (size_t)n, &m);
	assert_int_equal(m.h.seq, 9);
}

/* Every KEYS rule, on the encoder and on the decoder (re-tagged golden). */
static void test_keys_rules(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_KEYS, 1, 2, 7, 4);
	static uint8_t buf[PEER_LEN_MAX];
	struct peer_key k[3];
	memcpy(k, golden_key_records, sizeof(k));
	assert_int_equal(peer_encode_keys(&h, k, 0, &test_key, buf, sizeof(buf)), -EINVAL);
	k[1] = k[0]; /* a repeated key */
	assert_int_equal(peer_encode_keys(&h, k, 3, &test_key, buf, sizeof(buf)), -EINVAL);
	memcpy(k, golden_key_records, sizeof(k));
	k[2].bidder = 76; /* out of order */
	assert_int_equal(peer_encode_keys(&h, k, 3, &test_key, buf, sizeof(buf)), -EINVAL);
	memcpy(k, golden_key_records, sizeof(k));
	k[0].amount = (uint64_t)BID_AMOUNT_MAX + 1;
	assert_int_equal(peer_encode_keys(&h, k, 3, &test_key, buf, sizeof(buf)), -EINVAL);
	k[0].amount = 150;
	k[0].node = 0;
	assert_int_equal(peer_encode_keys(&h, k, 3, &test_key, buf, sizeof(buf)), -EINVAL);
	/* PEER_KEYS_MAX records fit one datagram; one more does not. */
	static struct peer_key many[PEER_KEYS_MAX + 1];
	for (unsigned int i = 0; i <= PEER_KEYS_MAX; i++)
		many[i] = (struct peer_key){.bidder = 1,
					    .request_id = i + 1,
					    .auction_id = 1,
					    .amount = 1,
					    .hlc = 1,
					    .node = 1};
	int n = peer_encode_keys(&h, many, PEER_KEYS_MAX, &test_key, buf, sizeof(buf));
	assert_int_equal(n, PEER_LEN_MIN + 2 + PEER_KEYS_MAX * PEER_KEY_LEN);
	assert_true(n + PEER_KEY_LEN > PEER_LEN_MAX);
	assert_int_equal(peer_encode_keys(&h, many, PEER_KEYS_MAX + 1, &test_key, buf, sizeof(buf)),
			 -ENOSPC);
	/* The decoder: count 0, a zero field, order, a short body. */
	const uint8_t *g = golden_keys;
	size_t gl = sizeof(golden_keys);
	const size_t r0 = PEER_HEADER_LEN + 2, r1 = r0 + PEER_KEY_LEN;
	assert_int_equal(retagged_reason(g, gl, PEER_HEADER_LEN + 1, 0), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(g, gl, PEER_HEADER_LEN + 1, 2), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(g, gl, PEER_HEADER_LEN + 1, 4), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(g, gl, r0 + 7, 0), PEER_DROP_MALFORMED_BODY);	/* bidder */
	assert_int_equal(retagged_reason(g, gl, r0 + 15, 0), PEER_DROP_MALFORMED_BODY); /* req */
	assert_int_equal(retagged_reason(g, gl, r0 + 23, 0),
			 PEER_DROP_MALFORMED_BODY); /* auction */
	assert_int_equal(retagged_reason(g, gl, r0 + 31, 0), PEER_DROP_MALFORMED_BODY); /* amount */
	assert_int_equal(retagged_reason(g, gl, r0 + 24, 0x80), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_u64_reason(g, gl, r0 + 32, 0),
			 PEER_DROP_MALFORMED_BODY);					/* hlc */
	assert_int_equal(retagged_reason(g, gl, r0 + 41, 0), PEER_DROP_MALFORMED_BODY); /* node */
	assert_int_equal(retagged_reason(g, gl, r1 + 15, 5), PEER_DROP_MALFORMED_BODY); /* repeat */
	assert_int_equal(retagged_reason(g, gl, r1 + 15, 4), PEER_DROP_MALFORMED_BODY); /* order */
}

static void test_refusals(void **state)
{
	(void)state;
	const uint8_t *g = golden_heartbeat;
	size_t len = sizeof(golden_heartbeat);
	uint8_t buf[PEER_LEN_MAX + 8];

	assert_int_equal(decode_reason(g, PEER_LEN_MIN - 1), PEER_DROP_SHORT);
	assert_int_equal(decode_reason(g, 0), PEER_DROP_SHORT);
	assert_int_equal(retagged_reason(g, len, 0, 0xB2), PEER_DROP_BAD_MAGIC);
	assert_int_equal(retagged_reason(g, len, 2, 2), PEER_DROP_BAD_VERSION);
	assert_int_equal(retagged_reason(g, len, 5, (uint8_t)(len + 1)), PEER_DROP_BAD_LENGTH);
	/* A datagram longer than its length field. */
	memcpy(buf, g, len);
	buf[len] = 0;
	assert_int_equal(decode_reason(buf, len + 1), PEER_DROP_BAD_LENGTH);
	/* A length field above PEER_LEN_MAX that matches the datagram. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, g, 40);
	buf[4] = (uint8_t)((PEER_LEN_MAX + 8) >> 8);
	buf[5] = (uint8_t)(PEER_LEN_MAX + 8);
	peer_tag(buf, PEER_LEN_MAX + 8, &test_key);
	assert_int_equal(decode_reason(buf, PEER_LEN_MAX + 8), PEER_DROP_BAD_LENGTH);
	/* The right bytes under another key. */
	struct cluster_key other = test_key;
	other.bytes[31] ^= 1;
	struct peer_message m;
	enum peer_drop why;
	assert_int_equal(peer_decode(g, len, &other, &m, &why), -1);
	assert_int_equal(why, PEER_DROP_BAD_MAC);
	memcpy(buf, g, len);
	buf[len - 1] ^= 0x80;
	assert_int_equal(decode_reason(buf, len), PEER_DROP_BAD_MAC);
	/* Header fields that must be zero or non-zero. */
	assert_int_equal(retagged_reason(g, len, 7, 2), PEER_DROP_BAD_HEADER);	/* unknown flag */
	assert_int_equal(retagged_reason(g, len, 6, 1), PEER_DROP_BAD_HEADER);	/* unknown flag */
	assert_int_equal(retagged_reason(g, len, 13, 1), PEER_DROP_BAD_HEADER); /* reserved */
	assert_int_equal(retagged_reason(g, len, 9, 0), PEER_DROP_BAD_HEADER);	/* sender 0 */
	assert_int_equal(retagged_reason(g, len, 11, 0), PEER_DROP_BAD_HEADER); /* receiver 0 */
	assert_int_equal(retagged_reason(g, len, 23, 0), PEER_DROP_BAD_HEADER); /* incarnation */
	assert_int_equal(retagged_reason(g, len, 31, 0), PEER_DROP_BAD_HEADER); /* seq 0 */
	assert_int_equal(retagged_reason(g, len, 3, 0x1F), PEER_DROP_UNKNOWN_TYPE);
	assert_int_equal(retagged_reason(g, len, 3, 0x01), PEER_DROP_UNKNOWN_TYPE);
	/* A heartbeat whose body is an ACK's length: the type decides. */
	assert_int_equal(retagged_reason(g, len, 3, PEER_ACK), PEER_DROP_MALFORMED_BODY);
	/* transmit_ns 0 */
	memcpy(buf, g, len);
	memset(buf + 56, 0, 8);
	peer_tag(buf, len, &test_key);
	assert_int_equal(decode_reason(buf, len), PEER_DROP_MALFORMED_BODY);
}

/* Body rules, each on a golden message with one byte changed and re-tagged. */
static void test_malformed_bodies(void **state)
{
	(void)state;
	const uint8_t *d = golden_delta;
	size_t dl = sizeof(golden_delta);
	const size_t e0 = PEER_HEADER_LEN + 2; /* the first entry */
	const size_t def = e0 + 9, lead = def + 35, cnt = lead + 26;
	assert_int_equal(retagged_reason(d, dl, PEER_HEADER_LEN + 1, 0), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(d, dl, PEER_HEADER_LEN + 1, 3), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(d, dl, e0 + 7, 0), PEER_DROP_MALFORMED_BODY);	/* id 0 */
	assert_int_equal(retagged_reason(d, dl, e0 + 7, 43), PEER_DROP_MALFORMED_BODY); /* order */
	assert_int_equal(retagged_reason(d, dl, e0 + 8, 0x3f), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(d, dl, e0 + 8, 0), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(d, dl, def + 10, 3), PEER_DROP_MALFORMED_BODY); /* phase */
	assert_int_equal(retagged_reason(d, dl, def + 18, 0),
			 PEER_DROP_MALFORMED_BODY); /* reserve */
	assert_int_equal(retagged_reason(d, dl, def + 11, 0x80), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(d, dl, lead + 7, 0),
			 PEER_DROP_MALFORMED_BODY); /* amount */
	assert_int_equal(retagged_reason(d, dl, lead + 25, 0), PEER_DROP_MALFORMED_BODY); /* node */
	assert_int_equal(retagged_reason(d, dl, cnt, 17), PEER_DROP_MALFORMED_BODY);	 /* count */
	assert_int_equal(retagged_reason(d, dl, cnt + 12, 1), PEER_DROP_MALFORMED_BODY); /* order */
	assert_int_equal(retagged_reason(d, dl, cnt + 10, 0), PEER_DROP_MALFORMED_BODY); /* value */
	const uint8_t *a = golden_ack;
	size_t al = sizeof(golden_ack);
	const size_t r0 = PEER_HEADER_LEN + 9;
	assert_int_equal(retagged_reason(a, al, r0 + 23, 4),
			 PEER_DROP_MALFORMED_BODY); /* adjacent */
	assert_int_equal(retagged_reason(a, al, r0 + 7, 4),
			 PEER_DROP_MALFORMED_BODY); /* first>last */
	assert_int_equal(retagged_reason(a, al, r0 + 7, 0), PEER_DROP_MALFORMED_BODY); /* first 0 */
	assert_int_equal(retagged_reason(a, al, PEER_HEADER_LEN + 8, 3), PEER_DROP_MALFORMED_BODY);
	assert_int_equal(retagged_reason(a, al, PEER_HEADER_LEN + 7, 0), PEER_DROP_MALFORMED_BODY);
	const uint8_t *s = golden_sync;
	size_t sl = sizeof(golden_sync);
	const size_t sync_id = PEER_HEADER_LEN, after = sync_id + 8, next = after + 8;
	assert_int_equal(retagged_u64_reason(s, sl, sync_id, 0), PEER_DROP_MALFORMED_BODY);
	/* The page's entry (42) is not above `after`. */
	assert_int_equal(retagged_u64_reason(s, sl, after, 42), PEER_DROP_MALFORMED_BODY);
	/* next_after must be 0 or above `after` (after 10, next_after 5). */
	uint8_t page[sizeof(golden_sync)];
	memcpy(page, s, sl);
	page[after + 7] = 10;
	page[next + 7] = 5;
	peer_tag(page, sl, &test_key);
	assert_int_equal(decode_reason(page, sl), PEER_DROP_MALFORMED_BODY);
	page[next + 7] = 11;
	peer_tag(page, sl, &test_key);
	decode_ok(page, sl, &(struct peer_message){0});
	const uint8_t *q = golden_sync_request;
	assert_int_equal(retagged_u64_reason(q, sizeof(golden_sync_request), sync_id, 0),
			 PEER_DROP_MALFORMED_BODY);
}

static void test_drop_names(void **state)
{
	(void)state;
	assert_string_equal(peer_drop_name(PEER_DROP_NONE), "none");
	assert_string_equal(peer_drop_name(PEER_DROP_BAD_MAC), "bad_mac");
	assert_string_equal(peer_drop_name(PEER_DROP_TOO_OLD), "too_old");
	assert_string_equal(peer_drop_name(PEER_DROP_COUNT), "invalid");
	for (int d = 0; d < PEER_DROP_COUNT; d++) {
		assert_non_null(peer_drop_name(d));
		for (int o = 0; o < d; o++)
			assert_string_not_equal(peer_drop_name(d), peer_drop_name(o));
	}
}

/* ---- encoder rules ---- */

static void test_encoder_refusals(void **state)
{
	(void)state;
	uint8_t buf[PEER_LEN_MAX];
	struct peer_heartbeat hb = {.transmit_ns = 1};
	struct peer_header h = header(PEER_HEARTBEAT, 1, 2, 7, 1);
	struct peer_header bad = h;
	bad.sender = 0;
	assert_int_equal(peer_encode_heartbeat(&bad, &hb, &test_key, buf, sizeof(buf)), -EINVAL);
	bad = h;
	bad.hlc = 0;
	assert_int_equal(peer_encode_heartbeat(&bad, &hb, &test_key, buf, sizeof(buf)), -EINVAL);
	hb.transmit_ns = 0;
	assert_int_equal(peer_encode_heartbeat(&h, &hb, &test_key, buf, sizeof(buf)), -EINVAL);

	struct peer_ack ack = {.incarnation = 1, .count = 2, .range = {{1, 3}, {4, 9}}};
	assert_int_equal(peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf)), -EINVAL);
	ack.count = PEER_ACK_MAX_RANGES + 1;
	assert_int_equal(peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf)), -EINVAL);

	struct peer_entry e[2];
	golden_delta_entries(e);
	assert_int_equal(peer_encode_delta(&h, e, 0, &test_key, buf, sizeof(buf)), -EINVAL);
	e[1].auction_id = 42; /* not increasing */
	assert_int_equal(peer_encode_delta(&h, e, 2, &test_key, buf, sizeof(buf)), -EINVAL);
	golden_delta_entries(e);
	e[0].viewers_p.count = 0;
	e[0].viewers_n.count = 0; /* a viewers part with nothing in it */
	assert_int_equal(peer_encode_delta(&h, e, 2, &test_key, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(peer_entry_len(&e[0]), 0);

	struct peer_sync page = {.sync_id = 1, .after = 50, .next_after = 50};
	assert_int_equal(peer_encode_sync(&h, &page, NULL, 0, &test_key, buf, sizeof(buf)),
			 -EINVAL);
	page.next_after = 0;
	golden_delta_entries(e); /* ids 42, 43: not above 50 */
	assert_int_equal(peer_encode_sync(&h, &page, e, 2, &test_key, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(peer_encode_sync(&h, &page, NULL, 0, &test_key, buf, sizeof(buf)),
			 PEER_LEN_MIN + 26);
	struct peer_sync_request q = {.sync_id = 0};
	assert_int_equal(peer_encode_sync_request(&h, &q, &test_key, buf, sizeof(buf)), -EINVAL);
}

/* Fenced settlement's parts: FINAL (no bytes) and SETTLEMENT (42) round
 * trip; a settlement without a token, or with half a winner, is refused. */
static void test_final_and_settlement_parts(void **state)
{
	(void)state;
	static uint8_t buf[2048];
	struct peer_header h = header(PEER_DELTA, 1, 2, 7, 1);
	struct peer_entry e = {.auction_id = 42,
			       .parts =
				   PEER_PART_DEFINITION | PEER_PART_FINAL | PEER_PART_SETTLEMENT,
			       .definition = def42};
	e.settlement =
	    (struct peer_settlement){.winner = {.amount = 250, .hlc = 3, .bidder = 9, .node = 2},
				     .fencing_token = 15,
				     .settled_at_ms = 1700000060000ull};
	assert_int_equal(peer_entry_len(&e), 9 + 35 + 42);
	int len = peer_encode_delta(&h, &e, 1, &test_key, buf, sizeof(buf));
	assert_true(len > 0);
	struct peer_message m;
	enum peer_drop why;
	assert_int_equal(peer_decode(buf, (size_t)len, &test_key, &m, &why), 0);
	size_t off = 0;
	struct peer_entry back;
	assert_int_equal(peer_entries_next(&m.u.delta, &off, &back), 1);
	assert_int_equal(back.parts, e.parts);
	assert_memory_equal(&back.settlement, &e.settlement, sizeof(e.settlement));
	/* No bid: a winner of zeros is a settlement. */
	e.settlement.winner = (struct bid){0};
	assert_int_equal(peer_entry_len(&e), 9 + 35 + 42);
	e.settlement.winner.amount = 5; /* half a winner */
	assert_int_equal(peer_entry_len(&e), 0);
	e.settlement.winner = (struct bid){0};
	e.settlement.fencing_token = 0;
	assert_int_equal(peer_entry_len(&e), 0);
	/* Bit 7 is still no part. */
	e.settlement.fencing_token = 15;
	e.parts |= 0x80;
	assert_int_equal(peer_entry_len(&e), 0);
}

/* A batch larger than one datagram is -ENOSPC, whatever the buffer. */
static void test_delta_too_big(void **state)
{
	(void)state;
	static struct peer_entry e[8];
	static uint8_t buf[8192];
	struct peer_header h = header(PEER_DELTA, 1, 2, 7, 1);
	for (int i = 0; i < 8; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].auction_id = (uint64_t)i + 1;
		e[i].parts = PEER_PARTS_ALL;
		e[i].definition = def42;
		e[i].leader = (struct bid){.amount = 1, .hlc = 1, .bidder = 1, .node = 1};
		e[i].bid_count.count = PEER_MAX_NODES;
		for (int s = 0; s < PEER_MAX_NODES; s++) {
			e[i].bid_count.node[s] = (uint16_t)(s + 1);
			e[i].bid_count.value[s] = 1;
		}
		e[i].viewers_p = (struct peer_counter){.count = 1, .node = {1}, .value = {1}};
		e[i].dups = (struct peer_counter){.count = 1, .node = {1}, .value = {1}};
		e[i].settlement = (struct peer_settlement){
		    .winner = e[i].leader, .fencing_token = 9, .settled_at_ms = 1};
	}
	size_t one = peer_entry_len(&e[0]), fit = (PEER_BODY_MAX - 2) / one;
	assert_true(fit < 8);
	assert_true(peer_encode_delta(&h, e, fit, &test_key, buf, sizeof(buf)) > 0);
	assert_int_equal(peer_encode_delta(&h, e, fit + 1, &test_key, buf, sizeof(buf)), -ENOSPC);
}

/* PEER_MAX_ENTRIES of the smallest entries fit one DELTA; one more does not. */
static void test_delta_smallest_entries(void **state)
{
	(void)state;
	static struct peer_entry e[PEER_MAX_ENTRIES + 1];
	static uint8_t buf[PEER_LEN_MAX];
	struct peer_header h = header(PEER_DELTA, 1, 2, 7, 1);
	for (size_t i = 0; i <= PEER_MAX_ENTRIES; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].auction_id = i + 1;
		e[i].parts = PEER_PART_BID_COUNT;
		e[i].bid_count = (struct peer_counter){.count = 1, .node = {1}, .value = {1}};
		assert_int_equal(peer_entry_len(&e[i]), PEER_ENTRY_MIN_LEN);
	}
	int n = peer_encode_delta(&h, e, PEER_MAX_ENTRIES, &test_key, buf, sizeof(buf));
	assert_int_equal(n, PEER_LEN_MIN + 2 + PEER_MAX_ENTRIES * PEER_ENTRY_MIN_LEN);
	assert_true(n <= PEER_LEN_MAX && n + PEER_ENTRY_MIN_LEN > PEER_LEN_MAX);
	struct peer_message m;
	decode_ok(buf, (size_t)n, &m);
	assert_entries_equal(&m.u.delta, e, PEER_MAX_ENTRIES);
	assert_int_equal(
	    peer_encode_delta(&h, e, PEER_MAX_ENTRIES + 1, &test_key, buf, sizeof(buf)), -ENOSPC);
}

/* ---- properties over seeded random messages ---- */

static void reencode_equals(const uint8_t *buf, size_t len)
{
	struct peer_message d;
	static struct gen_message back;
	static uint8_t again[PEER_LEN_MAX];
	decode_ok(buf, len, &d);
	assert_int_equal(gen_from_decoded(&d, &back), 0);
	assert_int_equal(gen_encode(&back, &test_key, again, sizeof(again)), len);
	assert_memory_equal(again, buf, len);
}

static void test_prop_round_trip(void **state)
{
	(void)state;
	static struct gen_message m;
	static uint8_t buf[PEER_LEN_MAX];
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed);
	unsigned int types[0x20] = {0};
	for (unsigned long i = 0; i < PROP_CASES; i++) {
		gen_message(&r, &m);
		int n = gen_encode(&m, &test_key, buf, sizeof(buf));
		if (n <= 0)
			prop_report("encode valid", seed, i);
		assert_true(n >= PEER_LEN_MIN && n <= PEER_LEN_MAX);
		struct peer_message d;
		decode_ok(buf, (size_t)n, &d);
		assert_header(&d, &m.h);
		static struct gen_message back;
		assert_int_equal(gen_from_decoded(&d, &back), 0);
		assert_int_equal(back.n, m.n);
		for (size_t k = 0; k < m.n; k++) {
			if (!gen_entry_equal(&back.e[k], &m.e[k]))
				prop_report("round trip entries", seed, i);
			assert_true(gen_entry_equal(&back.e[k], &m.e[k]));
		}
		reencode_equals(buf, (size_t)n);
		types[m.h.type]++;
	}
	for (int t = PEER_HEARTBEAT; t <= PEER_SYNC; t++)
		assert_true(types[t] > 0);
}

/* Which reason a single-bit flip at byte off must give. */
static enum peer_drop flip_reason(size_t off)
{
	if (off < 2)
		return PEER_DROP_BAD_MAGIC;
	if (off == 2)
		return PEER_DROP_BAD_VERSION;
	if (off == 4 || off == 5)
		return PEER_DROP_BAD_LENGTH;
	return PEER_DROP_BAD_MAC;
}

static void test_prop_bit_flips_refused(void **state)
{
	(void)state;
	static struct gen_message m;
	static uint8_t buf[PEER_LEN_MAX];
	uint64_t seed = prop_base_seed() + 1;
	struct prop_rng r;
	prop_seed(&r, seed);
	for (unsigned long i = 0; i < PROP_CASES / 20; i++) {
		gen_message(&r, &m);
		int n = gen_encode(&m, &test_key, buf, sizeof(buf));
		assert_true(n > 0);
		for (size_t bit = 0; bit < 8 * (size_t)n; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			enum peer_drop why = decode_reason(buf, (size_t)n);
			if (why != flip_reason(bit / 8))
				prop_report("bit flip refused", seed, i);
			assert_int_equal(why, flip_reason(bit / 8));
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		decode_ok(buf, (size_t)n, &(struct peer_message){0});
	}
}

static void test_prop_truncations_refused(void **state)
{
	(void)state;
	static struct gen_message m;
	static uint8_t buf[PEER_LEN_MAX];
	uint64_t seed = prop_base_seed() + 2;
	struct prop_rng r;
	prop_seed(&r, seed);
	for (unsigned long i = 0; i < PROP_CASES / 10; i++) {
		gen_message(&r, &m);
		int n = gen_encode(&m, &test_key, buf, sizeof(buf));
		assert_true(n > 0);
		for (size_t len = 0; len < (size_t)n; len++) {
			enum peer_drop want =
			    len < PEER_LEN_MIN ? PEER_DROP_SHORT : PEER_DROP_BAD_LENGTH;
			assert_int_equal(decode_reason(buf, len), want);
			/* Every buffer too small for the message is -ENOSPC. */
			assert_int_equal(gen_encode(&m, &test_key, buf, len), -ENOSPC);
		}
	}
}

/* Ranges are sorted, apart and non-adjacent: one set of sequence numbers,
 * one encoding; a range that ends at the last number has no successor
 * (last + 1 would wrap). */
static void test_ack_ranges_after_the_last_number_are_refused(void **state)
{
	(void)state;
	struct peer_header h = header(PEER_ACK, 2, 1, 9, 5);
	struct peer_ack ack = {.incarnation = 3, .count = 2};
	ack.range[0] = (struct peer_range){1, UINT64_MAX};
	ack.range[1] = (struct peer_range){2, 3};
	uint8_t buf[PEER_LEN_MAX];
	assert_true(peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf)) < 0);
	ack.range[0] = (struct peer_range){1, UINT64_MAX - 1};
	ack.range[1] = (struct peer_range){UINT64_MAX, UINT64_MAX};
	assert_true(peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf)) < 0); /* adjacent */
	ack.count = 1;
	ack.range[0] = (struct peer_range){5, UINT64_MAX};
	assert_true(peer_encode_ack(&h, &ack, &test_key, buf, sizeof(buf)) > 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_heartbeat),
	    cmocka_unit_test(test_golden_heartbeat_fenced),
	    cmocka_unit_test(test_golden_ack),
	    cmocka_unit_test(test_ack_ranges_after_the_last_number_are_refused),
	    cmocka_unit_test(test_golden_delta),
	    cmocka_unit_test(test_golden_sync_request),
	    cmocka_unit_test(test_golden_sync),
	    cmocka_unit_test(test_golden_delta_dups),
	    cmocka_unit_test(test_golden_keys),
	    cmocka_unit_test(test_keys_rules),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_malformed_bodies),
	    cmocka_unit_test(test_drop_names),
	    cmocka_unit_test(test_encoder_refusals),
	    cmocka_unit_test(test_delta_too_big),
	    cmocka_unit_test(test_final_and_settlement_parts),
	    cmocka_unit_test(test_delta_smallest_entries),
	    cmocka_unit_test(test_prop_round_trip),
	    cmocka_unit_test(test_prop_bit_flips_refused),
	    cmocka_unit_test(test_prop_truncations_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
