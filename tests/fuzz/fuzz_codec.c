/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the message parser and the L2-L4 classifier on any
 * bytes, with consistency checks that trap on the first disagreement:
 * an answer must parse back as the reply it promised, a valid request must
 * re-encode to the same bytes, a reply must re-encode to the same bytes up
 * to its reserved bytes, and every reply frame the node would send (UDP,
 * ARP, ICMP echo) must classify as valid at the host it goes to.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fast_path.h"
#include "netpkt.h"
#include "proto.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static const struct pkt_filter node = {
    .mac = {0x02, 0, 0, 0, 0, 0x02}, .ip = 0x020012c6 /* 198.18.0.2 */, .udp_port = 7600};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_answer(const struct bp_parse *p)
{
	uint8_t out[BP_LEN_MAX];
	size_t n = bp_write_error_reply(out, p);
	CHECK(p->reply_type == bp_reply_type(p->req.type));
	CHECK(p->status == BP_MALFORMED || p->status == BP_UNSUPPORTED_VERSION);
	if (p->reply_type == BP_BID_REPLY) {
		struct bp_bid_reply r;
		CHECK(n == BP_LEN_BID_REPLY && bp_parse_bid_reply(out, n, &r) == 0);
		CHECK(r.status == p->status && r.flags == 0 && r.request_id == p->req.request_id &&
		      r.auction_id == p->req.auction_id && r.client_ts == p->req.client_ts);
		CHECK(r.leading_amount == 0 && r.leading_bidder == 0 && r.hlc == 0);
	} else {
		struct bp_auction_state s;
		CHECK(n == BP_LEN_AUCTION_STATE && bp_parse_auction_state(out, n, &s) == 0);
		CHECK(s.status == p->status && s.flags == 0 && s.request_id == p->req.request_id &&
		      s.auction_id == p->req.auction_id && s.phase == BP_PHASE_UNKNOWN);
		CHECK(s.leading_amount == 0 && s.bid_count == 0 && s.node_hlc == 0);
	}
}

static void check_request(const uint8_t *data, size_t size)
{
	struct bp_parse p;
	uint8_t out[BP_LEN_MAX];
	bp_parse_request(data, size, &p);
	switch (p.verdict) {
	case BP_ANSWER:
		check_answer(&p);
		break;
	case BP_VALID: {
		size_t n = p.req.type == BP_BID	    ? bp_write_bid(out, &p.req)
			   : p.req.type == BP_QUERY ? bp_write_query(out, &p.req)
						    : bp_write_watch(out, &p.req);
		CHECK(n == size && memcmp(out, data, size) == 0);
		break;
	}
	case BP_NO_REPLY:
		CHECK(p.drop != BP_DROP_NONE && p.drop < BP_DROP_COUNT);
		break;
	}
}

/* Replies the parsers accept re-encode to the input, reserved bytes zeroed. */
static void check_replies(const uint8_t *data, size_t size)
{
	uint8_t want[BP_LEN_MAX], out[BP_LEN_MAX];
	struct bp_bid_reply br;
	if (bp_parse_bid_reply(data, size, &br) == 0) {
		memcpy(want, data, size);
		memset(want + 25, 0, 7);
		CHECK(bp_write_bid_reply(out, &br) == size && memcmp(out, want, size) == 0);
	}
	struct bp_auction_state st;
	if (bp_parse_auction_state(data, size, &st) == 0) {
		memcpy(want, data, size);
		memset(want + 26, 0, 6);
		CHECK(bp_write_auction_state(out, &st) == size && memcmp(out, want, size) == 0);
	}
}

/* The host a reply frame goes to, as a filter: its destination addresses. */
static struct pkt_filter destination_of(const uint8_t *frame, const struct pkt_layout *l)
{
	struct pkt_filter to = {.udp_port = 0};
	memcpy(to.mac, frame, 6);
	memcpy(&to.ip, frame + l->l3_off + 16, 4);
	return to;
}

static void check_udp_reply(uint8_t *frame, const struct pkt_layout *l)
{
	struct bp_bid_reply r = {.request_id = 1, .auction_id = 2, .hlc = 3};
	bp_write_bid_reply(frame + l->payload_off, &r);
	size_t n = pkt_udp_reply_in_place(frame, l, node.mac, BP_LEN_BID_REPLY);
	struct pkt_filter to = destination_of(frame, l);
	to.udp_port = be16(frame + l->l4_off + 2);
	struct pkt_layout back;
	enum pkt_drop why;
	CHECK(pkt_classify(frame, n, &to, 0, &back, &why) == PKT_CLASS_UDP);
	CHECK(back.payload_off == l->payload_off && back.payload_len == BP_LEN_BID_REPLY);
	CHECK(back.has_vlan == l->has_vlan && back.vlan_tci == l->vlan_tci);
	CHECK(memcmp(frame + 6, node.mac, 6) == 0 &&
	      memcmp(frame + l->l3_off + 12, &node.ip, 4) == 0);
	CHECK(be16(frame + l->l4_off) == node.udp_port);
	struct bp_bid_reply echo;
	CHECK(bp_parse_bid_reply(frame + back.payload_off, back.payload_len, &echo) == 0);
	CHECK(echo.request_id == 1 && echo.auction_id == 2 && echo.hlc == 3);
}

static void check_arp_reply(uint8_t *frame, size_t size, const struct pkt_layout *l)
{
	size_t n = pkt_arp_reply_in_place(frame, size, &node);
	if (n == 0)
		return;
	const uint8_t *arp = frame + l->l3_off;
	struct pkt_filter to = {.udp_port = 0};
	memcpy(to.mac, arp + 18, 6);
	memcpy(&to.ip, arp + 24, 4);
	struct pkt_layout back;
	enum pkt_drop why;
	CHECK(n == (size_t)l->l3_off + PKT_ARP_LEN);
	CHECK(pkt_classify(frame, n, &to, 0, &back, &why) == PKT_CLASS_ARP);
	CHECK(be16(arp + 6) == 2 && memcmp(arp + 8, node.mac, 6) == 0 &&
	      memcmp(arp + 14, &node.ip, 4) == 0 && memcmp(frame, to.mac, 6) == 0);
}

static void check_icmp_reply(uint8_t *frame, size_t size, const struct pkt_layout *l)
{
	size_t n = pkt_icmp_echo_reply_in_place(frame, size, l, node.mac);
	if (n == 0)
		return;
	struct pkt_filter to = destination_of(frame, l);
	struct pkt_layout back;
	enum pkt_drop why;
	CHECK(pkt_classify(frame, n, &to, 0, &back, &why) == PKT_CLASS_ICMP);
	const uint8_t *icmp = frame + back.l4_off;
	CHECK(icmp[0] == 0 && icmp[1] == 0);
	CHECK(pkt_csum_fold(pkt_csum_partial(icmp, n - back.l4_off, 0)) == 0);
}

/* The fast path takes only what the general path makes BP_VALID, and
 * decides it the same (fast_path.h). */
static void check_fast_path(const uint8_t *frame, size_t size)
{
	struct pkt_layout fl, gl;
	struct bp_parse fp, gp;
	enum pkt_drop why;
	if (!fast_parse_request(frame, size, &node, 0, &fl, &fp))
		return;
	CHECK(pkt_classify(frame, size, &node, 0, &gl, &why) == PKT_CLASS_UDP);
	bp_parse_request(frame + gl.payload_off, gl.payload_len, &gp);
	CHECK(gp.verdict == BP_VALID && fp.verdict == BP_VALID);
	CHECK(fl.l3_off == gl.l3_off && fl.l4_off == gl.l4_off &&
	      fl.payload_off == gl.payload_off && fl.payload_len == gl.payload_len &&
	      fl.has_vlan == gl.has_vlan && fl.vlan_tci == gl.vlan_tci);
	CHECK(fp.req.type == gp.req.type && fp.req.version == gp.req.version &&
	      fp.req.length == gp.req.length && fp.req.flags == gp.req.flags &&
	      fp.req.request_id == gp.req.request_id && fp.req.auction_id == gp.req.auction_id &&
	      fp.req.actor_id == gp.req.actor_id && fp.req.amount == gp.req.amount &&
	      fp.req.client_ts == gp.req.client_ts);
}

static void check_frame(const uint8_t *data, size_t size)
{
	uint8_t frame[2048];
	if (size > sizeof(frame) - BP_LEN_MAX)
		return;
	memcpy(frame, data, size);
	struct pkt_layout l;
	enum pkt_drop why;
	check_fast_path(frame, size);
	switch (pkt_classify(frame, size, &node, 0, &l, &why)) {
	case PKT_CLASS_UDP:
		CHECK((size_t)l.payload_off + l.payload_len <= size);
		check_request(frame + l.payload_off, l.payload_len);
		check_udp_reply(frame, &l);
		break;
	case PKT_CLASS_ARP:
		check_arp_reply(frame, size, &l);
		break;
	case PKT_CLASS_ICMP:
		check_icmp_reply(frame, size, &l);
		break;
	case PKT_CLASS_PEER: /* for the control thread: only its bounds here */
		CHECK((size_t)l.payload_off + l.payload_len <= size);
		break;
	case PKT_CLASS_DROP:
		CHECK(why != PKT_DROP_NONE && why < PKT_DROP_COUNT);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_replies(data, size);
	check_frame(data, size);
	return 0;
}
