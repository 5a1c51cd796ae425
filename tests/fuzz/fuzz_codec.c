/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the message parser and the L2-L4 classifier on any
 * bytes, with consistency checks that trap on the first disagreement:
 * an answer must parse back as a reply, a valid request must re-encode to
 * the same bytes, and a classified frame's reply must classify back.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netpkt.h"
#include "proto.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static void check_message(const uint8_t *data, size_t size)
{
	struct bp_parse p;
	uint8_t out[BP_LEN_MAX];
	bp_parse_request(data, size, &p);
	switch (p.verdict) {
	case BP_ANSWER: {
		size_t n = bp_write_error_reply(out, &p);
		if (p.reply_type == BP_BID_REPLY) {
			struct bp_bid_reply r;
			CHECK(n == BP_LEN_BID_REPLY && bp_parse_bid_reply(out, n, &r) == 0);
			CHECK(r.status == p.status && r.request_id == p.req.request_id);
		} else {
			struct bp_auction_state s;
			CHECK(n == BP_LEN_AUCTION_STATE && bp_parse_auction_state(out, n, &s) == 0);
			CHECK(s.status == p.status && s.auction_id == p.req.auction_id);
		}
		break;
	}
	case BP_VALID: {
		size_t n = p.req.type == BP_BID	    ? bp_write_bid(out, &p.req)
			   : p.req.type == BP_QUERY ? bp_write_query(out, &p.req)
						    : bp_write_watch(out, &p.req);
		CHECK(n == size && memcmp(out, data, size) == 0);
		break;
	}
	case BP_NO_REPLY:
		CHECK(p.drop != BP_DROP_NONE);
		break;
	}
	struct bp_bid_reply br;
	struct bp_auction_state st;
	bp_parse_bid_reply(data, size, &br);
	bp_parse_auction_state(data, size, &st);
}

static void check_frame(const uint8_t *data, size_t size)
{
	static const struct pkt_filter f = {
	    .mac = {0x02, 0, 0, 0, 0, 0x02}, .ip = 0x020012c6 /* 198.18.0.2 */, .udp_port = 7600};
	uint8_t frame[2048];
	if (size > sizeof(frame) - BP_LEN_MAX)
		return;
	memcpy(frame, data, size);
	struct pkt_layout l;
	enum pkt_drop why;
	switch (pkt_classify(frame, size, &f, 0, &l, &why)) {
	case PKT_CLASS_UDP: {
		CHECK((size_t)l.payload_off + l.payload_len <= size);
		check_message(frame + l.payload_off, l.payload_len);
		size_t n = pkt_udp_reply_in_place(frame, &l, f.mac, BP_LEN_BID_REPLY);
		struct pkt_filter peer = {.udp_port = 0};
		memcpy(peer.mac, frame, 6);
		memcpy(&peer.ip, frame + l.l3_off + 16, 4);
		peer.udp_port = (uint16_t)(frame[l.l4_off + 2] << 8 | frame[l.l4_off + 3]);
		struct pkt_layout back;
		CHECK(pkt_classify(frame, n, &peer, 0, &back, &why) == PKT_CLASS_UDP ||
		      why == PKT_DROP_DST_MAC || why == PKT_DROP_DST_IP);
		break;
	}
	case PKT_CLASS_ARP:
		pkt_arp_reply_in_place(frame, size, &f);
		break;
	case PKT_CLASS_ICMP:
		pkt_icmp_echo_reply_in_place(frame, size, &l, f.mac);
		break;
	case PKT_CLASS_DROP:
		CHECK(why != PKT_DROP_NONE && why < PKT_DROP_COUNT);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_message(data, size);
	check_frame(data, size);
	return 0;
}
