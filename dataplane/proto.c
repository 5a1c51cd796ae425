/* SPDX-License-Identifier: BSD-3-Clause */
#include "proto.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

/* Field offsets shared by every request layout. */
#define OFF_REQUEST_ID 8
#define OFF_AUCTION_ID 16
#define OFF_ACTOR_ID   24 /* bidder_id, viewer_id */
#define OFF_AMOUNT     32
#define OFF_CLIENT_TS  40

static size_t request_length(uint8_t type)
{
	switch (type) {
	case BP_BID:
		return BP_LEN_BID;
	case BP_QUERY:
		return BP_LEN_QUERY;
	case BP_WATCH:
	case BP_UNWATCH:
		return BP_LEN_WATCH;
	default:
		return 0;
	}
}

uint8_t bp_reply_type(uint8_t request_type)
{
	switch (request_type) {
	case BP_BID:
		return BP_BID_REPLY;
	case BP_QUERY:
	case BP_WATCH:
	case BP_UNWATCH:
		return BP_AUCTION_STATE;
	default:
		return 0;
	}
}

/* A field is copied only when the datagram holds all of it. */
static uint64_t field(const uint8_t *buf, size_t len, size_t off)
{
	return len >= off + 8 ? get_be64(buf + off) : 0;
}

/*
 * The request's fields, as far as its type has them and len holds them.
 * Bytes beyond the type's layout are never read: its last field ends at the
 * type's length.
 */
static void copy_fields(const uint8_t *buf, size_t len, struct bp_request *r)
{
	r->request_id = field(buf, len, OFF_REQUEST_ID);
	r->auction_id = field(buf, len, OFF_AUCTION_ID);
	if (r->type == BP_QUERY)
		return;
	r->actor_id = field(buf, len, OFF_ACTOR_ID);
	if (r->type != BP_BID)
		return;
	r->amount = field(buf, len, OFF_AMOUNT);
	r->client_ts = field(buf, len, OFF_CLIENT_TS);
}

static void no_reply(struct bp_parse *out, enum bp_drop why)
{
	out->verdict = BP_NO_REPLY;
	out->drop = why;
}

static void answer(struct bp_parse *out, enum bp_status status)
{
	out->verdict = BP_ANSWER;
	out->status = status;
	out->reply_type = bp_reply_type(out->req.type);
}

static int fields_valid(const struct bp_request *r)
{
	if (r->auction_id == 0)
		return 0;
	switch (r->type) {
	case BP_BID:
		return r->request_id != 0 && r->actor_id != 0 && r->amount >= 1 &&
		       r->amount <= BP_AMOUNT_MAX;
	case BP_QUERY:
		return 1; /* request_id is not an idempotency key: 0 is allowed */
	default:
		return r->request_id != 0 && r->actor_id != 0;
	}
}

void bp_parse_request(const uint8_t *buf, size_t len, struct bp_parse *out)
{
	memset(out, 0, sizeof(*out));
	if (len < BP_HEADER_LEN)
		return no_reply(out, BP_DROP_SHORT);
	if (get_be16(buf) != BP_MAGIC)
		return no_reply(out, BP_DROP_BAD_MAGIC);

	struct bp_request *r = &out->req;
	r->version = buf[2];
	r->type = buf[3];
	r->length = get_be16(buf + 4);
	r->flags = get_be16(buf + 6);
	if (r->type >= BP_PEER_FIRST && r->type <= BP_PEER_LAST)
		return no_reply(out, BP_DROP_PEER_TYPE);
	if (r->type == BP_BID_REPLY || r->type == BP_AUCTION_STATE)
		return no_reply(out, BP_DROP_REPLY_TYPE);
	if (request_length(r->type) == 0)
		return no_reply(out, BP_DROP_UNKNOWN_TYPE);

	copy_fields(buf, len, r);
	if (r->version != BP_VERSION)
		return answer(out, BP_UNSUPPORTED_VERSION);
	if (len != request_length(r->type) || r->length != len || r->flags != 0 || !fields_valid(r))
		return answer(out, BP_MALFORMED);
	out->verdict = BP_VALID;
}

static void put_header(uint8_t *out, uint8_t type, uint16_t length, uint16_t flags)
{
	put_be16(out, BP_MAGIC);
	out[2] = BP_VERSION;
	out[3] = type;
	put_be16(out + 4, length);
	put_be16(out + 6, flags);
}

size_t bp_write_bid_reply(uint8_t *out, const struct bp_bid_reply *r)
{
	put_header(out, BP_BID_REPLY, BP_LEN_BID_REPLY, r->flags);
	put_be64(out + 8, r->request_id);
	put_be64(out + 16, r->auction_id);
	out[24] = r->status;
	memset(out + 25, 0, 7);
	put_be64(out + 32, r->leading_amount);
	put_be64(out + 40, r->leading_bidder);
	put_be64(out + 48, r->hlc);
	put_be64(out + 56, r->client_ts);
	return BP_LEN_BID_REPLY;
}

size_t bp_write_auction_state(uint8_t *out, const struct bp_auction_state *s)
{
	put_header(out, BP_AUCTION_STATE, BP_LEN_AUCTION_STATE, s->flags);
	put_be64(out + 8, s->request_id);
	put_be64(out + 16, s->auction_id);
	out[24] = s->status;
	out[25] = s->phase;
	memset(out + 26, 0, 6);
	put_be64(out + 32, s->leading_amount);
	put_be64(out + 40, s->leading_bidder);
	put_be64(out + 48, s->leading_hlc);
	put_be64(out + 56, s->bid_count);
	put_be64(out + 64, s->viewers);
	put_be64(out + 72, s->close_at_ms);
	put_be64(out + 80, s->node_hlc);
	return BP_LEN_AUCTION_STATE;
}

size_t bp_write_error_reply(uint8_t *out, const struct bp_parse *p)
{
	if (p->verdict != BP_ANSWER)
		return 0;
	if (p->reply_type == BP_BID_REPLY) {
		struct bp_bid_reply r = {.request_id = p->req.request_id,
					 .auction_id = p->req.auction_id,
					 .status = p->status,
					 .client_ts = p->req.client_ts};
		return bp_write_bid_reply(out, &r);
	}
	struct bp_auction_state s = {
	    .request_id = p->req.request_id, .auction_id = p->req.auction_id, .status = p->status};
	return bp_write_auction_state(out, &s);
}

static size_t write_request(uint8_t *out, const struct bp_request *r, uint8_t type)
{
	size_t len = request_length(type);
	put_header(out, type, (uint16_t)len, 0);
	put_be64(out + OFF_REQUEST_ID, r->request_id);
	put_be64(out + OFF_AUCTION_ID, r->auction_id);
	if (type == BP_QUERY)
		return len;
	put_be64(out + OFF_ACTOR_ID, r->actor_id);
	if (type != BP_BID)
		return len;
	put_be64(out + OFF_AMOUNT, r->amount);
	put_be64(out + OFF_CLIENT_TS, r->client_ts);
	return len;
}

size_t bp_write_bid(uint8_t *out, const struct bp_request *r)
{
	return write_request(out, r, BP_BID);
}

size_t bp_write_query(uint8_t *out, const struct bp_request *r)
{
	return write_request(out, r, BP_QUERY);
}

size_t bp_write_watch(uint8_t *out, const struct bp_request *r)
{
	return write_request(out, r, r->type == BP_UNWATCH ? BP_UNWATCH : BP_WATCH);
}

static int reply_header_ok(const uint8_t *buf, size_t len, uint8_t type, size_t want)
{
	return len == want && get_be16(buf) == BP_MAGIC && buf[2] == BP_VERSION && buf[3] == type &&
	       get_be16(buf + 4) == want;
}

int bp_parse_bid_reply(const uint8_t *buf, size_t len, struct bp_bid_reply *out)
{
	if (!reply_header_ok(buf, len, BP_BID_REPLY, BP_LEN_BID_REPLY))
		return -EBADMSG;
	out->flags = get_be16(buf + 6);
	out->request_id = get_be64(buf + 8);
	out->auction_id = get_be64(buf + 16);
	out->status = buf[24];
	out->leading_amount = get_be64(buf + 32);
	out->leading_bidder = get_be64(buf + 40);
	out->hlc = get_be64(buf + 48);
	out->client_ts = get_be64(buf + 56);
	return 0;
}

int bp_parse_auction_state(const uint8_t *buf, size_t len, struct bp_auction_state *out)
{
	if (!reply_header_ok(buf, len, BP_AUCTION_STATE, BP_LEN_AUCTION_STATE))
		return -EBADMSG;
	out->flags = get_be16(buf + 6);
	out->request_id = get_be64(buf + 8);
	out->auction_id = get_be64(buf + 16);
	out->status = buf[24];
	out->phase = buf[25];
	out->leading_amount = get_be64(buf + 32);
	out->leading_bidder = get_be64(buf + 40);
	out->leading_hlc = get_be64(buf + 48);
	out->bid_count = get_be64(buf + 56);
	out->viewers = get_be64(buf + 64);
	out->close_at_ms = get_be64(buf + 72);
	out->node_hlc = get_be64(buf + 80);
	return 0;
}

#define NAME_OF(id, name) #name,

const char *bp_status_name(unsigned int status)
{
	static const char *const names[BP_STATUS_COUNT] = {BP_FOREACH_STATUS(NAME_OF)};
	return status < BP_STATUS_COUNT ? names[status] : "invalid";
}

const char *bp_phase_name(unsigned int phase)
{
	static const char *const names[BP_PHASE_COUNT] = {BP_FOREACH_PHASE(NAME_OF)};
	return phase < BP_PHASE_COUNT ? names[phase] : "invalid";
}

const char *bp_drop_name(unsigned int drop)
{
	static const char *const names[BP_DROP_COUNT] = {BP_FOREACH_DROP(NAME_OF)};
	return drop < BP_DROP_COUNT ? names[drop] : "invalid";
}

const char *bp_type_name(unsigned int type)
{
	switch (type) {
	case BP_BID:
		return "bid";
	case BP_BID_REPLY:
		return "bid_reply";
	case BP_QUERY:
		return "query";
	case BP_AUCTION_STATE:
		return "auction_state";
	case BP_WATCH:
		return "watch";
	case BP_UNWATCH:
		return "unwatch";
	default:
		return "unknown";
	}
}
