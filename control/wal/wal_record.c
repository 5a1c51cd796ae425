/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_record.h"

#include <string.h>
#include <xxhash.h>

#include "wal_le.h"

#include "proto.h"

/* Body sizes by type: the fields of the structs in wal_record.h, packed. */
#define BODY_BID	44 /* 5 x u64, u16 node, u8 status, u8 zero */
#define BODY_VIEW	36 /* 4 x u64, u16 node, u8 request type, u8 status */
#define BODY_OPEN	42 /* 5 x u64, u16 def_node */
#define BODY_CLOSE	16
#define BODY_SETTLEMENT 50 /* 6 x u64, u16 node */
#define BODY_U64	8
#define BODY_STATE	58 /* 7 x u64, u16 lead_node */
#define BODY_DUP	50 /* 6 x u64, u16 other_node */
#define BODY_DUPS	16
_Static_assert(WAL_RECORD_LARGEST == WAL_HEADER_LEN + BODY_STATE,
	       "WAL_RECORD_LARGEST is the header and the largest body (BODY_STATE)");

static const uint16_t body_size[WAL_TYPE_LAST + 1] = {
    [WAL_BID] = BODY_BID,
    [WAL_VIEW] = BODY_VIEW,
    [WAL_AUCTION_OPEN] = BODY_OPEN,
    [WAL_AUCTION_CLOSE] = BODY_CLOSE,
    [WAL_SETTLEMENT] = BODY_SETTLEMENT,
    [WAL_FENCING_EPOCH] = BODY_U64,
    [WAL_HLC_HIGH] = BODY_U64,
    [WAL_SNAPSHOT_END] = BODY_U64,
    [WAL_AUCTION_STATE] = BODY_STATE,
    [WAL_DUP] = BODY_DUP,
    [WAL_AUCTION_DUPS] = BODY_DUPS,
};

const char *wal_error_name(enum wal_error e)
{
	static const char *const names[] = {
	    [WAL_OK] = "ok",
	    [WAL_ERR_SHORT] = "short header",
	    [WAL_ERR_LENGTH] = "length out of bounds",
	    [WAL_ERR_TRUNCATED] = "truncated record",
	    [WAL_ERR_CHECKSUM] = "checksum mismatch",
	    [WAL_ERR_VERSION] = "unknown version",
	    [WAL_ERR_RESERVED] = "reserved bits set",
	    [WAL_ERR_TYPE] = "unknown type",
	    [WAL_ERR_BODY] = "body size wrong for the type",
	    [WAL_ERR_FIELD] = "field out of range",
	    [WAL_ERR_LSN] = "lsn 0",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "unknown error";
}

size_t wal_record_size(uint8_t type)
{
	if (type == 0 || type > WAL_TYPE_LAST)
		return 0;
	return WAL_HEADER_LEN + body_size[type];
}

uint32_t wal_peek_length(const uint8_t *buf)
{
	return wal_get32(buf + 8);
}

static int amount_ok(uint64_t a)
{
	return a >= 1 && a <= BP_AMOUNT_MAX;
}

static enum wal_error bad(const char **why, const char *text)
{
	if (why)
		*why = text;
	return WAL_ERR_FIELD;
}

static enum wal_error check_bid(const struct wal_bid *b, const char **why)
{
	if (b->auction_id == 0)
		return bad(why, "bid.auction_id is 0 (must be non-zero)");
	if (b->bidder == 0)
		return bad(why, "bid.bidder is 0 (must be non-zero)");
	if (b->request_id == 0)
		return bad(why, "bid.request_id is 0 (must be non-zero)");
	if (!amount_ok(b->amount))
		return bad(why, "bid.amount outside 1..2^63-1");
	if (b->node == 0)
		return bad(why, "bid.node is 0 (node ids are 1..65535)");
	if (b->status != BP_ACCEPTED && b->status != BP_TOO_LOW && b->status != BP_CLOSED &&
	    b->status != BP_UNKNOWN_AUCTION)
		return bad(why, "bid.status is not accepted, too_low, closed or unknown_auction");
	if (b->status == BP_ACCEPTED && b->hlc == 0)
		return bad(why, "bid.hlc is 0 in an accepted bid");
	return WAL_OK;
}

static enum wal_error check_view(const struct wal_view *v, const char **why)
{
	if (v->auction_id == 0)
		return bad(why, "view.auction_id is 0 (must be non-zero)");
	if (v->viewer == 0)
		return bad(why, "view.viewer is 0 (must be non-zero)");
	if (v->request_id == 0)
		return bad(why, "view.request_id is 0 (must be non-zero)");
	if (v->node == 0)
		return bad(why, "view.node is 0 (node ids are 1..65535)");
	if (v->request_type != BP_WATCH && v->request_type != BP_UNWATCH)
		return bad(why, "view.request_type is not WATCH (5) or UNWATCH (6)");
	if (v->status != BP_ACCEPTED && v->status != BP_UNKNOWN_AUCTION)
		return bad(why, "view.status is not accepted or unknown_auction");
	return WAL_OK;
}

static enum wal_error check_open(const struct wal_auction_open *o, const char **why)
{
	if (o->auction_id == 0)
		return bad(why, "open.auction_id is 0 (must be non-zero)");
	if (!amount_ok(o->reserve))
		return bad(why, "open.reserve outside 1..2^63-1");
	if (!amount_ok(o->increment))
		return bad(why, "open.increment outside 1..2^63-1");
	if ((o->def_hlc == 0) != (o->def_node == 0))
		return bad(why, "open.def_hlc and open.def_node must be both 0 or both set");
	return WAL_OK;
}

static enum wal_error check_settlement(const struct wal_settlement *s, const char **why)
{
	if (s->auction_id == 0)
		return bad(why, "settlement.auction_id is 0 (must be non-zero)");
	if (s->amount == 0) {
		if (s->bidder != 0 || s->hlc != 0 || s->node != 0)
			return bad(why, "settlement without a winner (amount 0) names a bidder");
		return WAL_OK;
	}
	if (!amount_ok(s->amount))
		return bad(why, "settlement.amount outside 0..2^63-1");
	if (s->bidder == 0 || s->hlc == 0 || s->node == 0)
		return bad(why, "settlement with a winner needs bidder, hlc and node non-zero");
	return WAL_OK;
}

static enum wal_error check_state(const struct wal_auction_state *s, const char **why)
{
	if (s->auction_id == 0)
		return bad(why, "state.auction_id is 0 (must be non-zero)");
	if (s->lead_amount != 0 && !amount_ok(s->lead_amount))
		return bad(why, "state.lead_amount outside 0..2^63-1");
	if (s->lead_amount == 0 && (s->lead_hlc || s->lead_bidder || s->lead_node))
		return bad(why, "state without a leading bid needs lead hlc, bidder and node 0");
	if (s->lead_amount != 0 && (s->lead_hlc == 0 || s->lead_bidder == 0 || s->lead_node == 0))
		return bad(why,
			   "state with a leading bid needs lead hlc, bidder and node non-zero");
	return WAL_OK;
}

static enum wal_error check_dup(const struct wal_dup *d, const char **why)
{
	if (d->auction_id == 0 || d->bidder == 0 || d->request_id == 0)
		return bad(why, "dup.auction_id, bidder and request_id must be non-zero");
	if (!amount_ok(d->amount))
		return bad(why, "dup.amount outside 1..2^63-1");
	if (d->hlc == 0 || d->other_hlc == 0 || d->other_node == 0)
		return bad(why, "dup.hlc, other_hlc and other_node must be non-zero");
	if (d->other_hlc > d->hlc)
		return bad(why, "dup.other_hlc is after dup.hlc (the other copy is the earlier)");
	return WAL_OK;
}

enum wal_error wal_record_check(const struct wal_record *r, const char **why)
{
	switch (r->type) {
	case WAL_BID:
		return check_bid(&r->u.bid, why);
	case WAL_VIEW:
		return check_view(&r->u.view, why);
	case WAL_AUCTION_OPEN:
		return check_open(&r->u.open, why);
	case WAL_AUCTION_CLOSE:
		return r->u.close.auction_id ? WAL_OK
					     : bad(why, "close.auction_id is 0 (must be non-zero)");
	case WAL_SETTLEMENT:
		return check_settlement(&r->u.settlement, why);
	case WAL_FENCING_EPOCH:
		return r->u.fencing_epoch ? WAL_OK
					  : bad(why, "fencing_epoch is 0 (epochs start at 1)");
	case WAL_HLC_HIGH:
		return r->u.hlc_high ? WAL_OK : bad(why, "hlc_high is 0 (must be non-zero)");
	case WAL_SNAPSHOT_END:
		return WAL_OK;
	case WAL_AUCTION_STATE:
		return check_state(&r->u.state, why);
	case WAL_DUP:
		return check_dup(&r->u.dup, why);
	case WAL_AUCTION_DUPS:
		return r->u.dups.auction_id && r->u.dups.dups
			   ? WAL_OK
			   : bad(why, "dups.auction_id and dups.dups must be non-zero");
	default:
		if (why)
			*why = "type is not 1..11 (enum wal_type)";
		return WAL_ERR_TYPE;
	}
}

static void encode_body(uint8_t *b, const struct wal_record *r)
{
	switch (r->type) {
	case WAL_BID: {
		const struct wal_bid *x = &r->u.bid;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->bidder);
		wal_put64(b + 16, x->request_id);
		wal_put64(b + 24, x->amount);
		wal_put64(b + 32, x->hlc);
		wal_put16(b + 40, x->node);
		b[42] = x->status;
		b[43] = 0;
		break;
	}
	case WAL_VIEW: {
		const struct wal_view *x = &r->u.view;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->viewer);
		wal_put64(b + 16, x->request_id);
		wal_put64(b + 24, x->hlc);
		wal_put16(b + 32, x->node);
		b[34] = x->request_type;
		b[35] = x->status;
		break;
	}
	case WAL_AUCTION_OPEN: {
		const struct wal_auction_open *x = &r->u.open;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->reserve);
		wal_put64(b + 16, x->increment);
		wal_put64(b + 24, x->close_at_ms);
		wal_put64(b + 32, x->def_hlc);
		wal_put16(b + 40, x->def_node);
		break;
	}
	case WAL_AUCTION_CLOSE:
		wal_put64(b, r->u.close.auction_id);
		wal_put64(b + 8, r->u.close.closed_at_ms);
		break;
	case WAL_SETTLEMENT: {
		const struct wal_settlement *x = &r->u.settlement;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->amount);
		wal_put64(b + 16, x->bidder);
		wal_put64(b + 24, x->hlc);
		wal_put64(b + 32, x->fencing_token);
		wal_put64(b + 40, x->settled_at_ms);
		wal_put16(b + 48, x->node);
		break;
	}
	case WAL_AUCTION_STATE: {
		const struct wal_auction_state *x = &r->u.state;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->bids);
		wal_put64(b + 16, x->viewers_up);
		wal_put64(b + 24, x->viewers_down);
		wal_put64(b + 32, x->lead_amount);
		wal_put64(b + 40, x->lead_hlc);
		wal_put64(b + 48, x->lead_bidder);
		wal_put16(b + 56, x->lead_node);
		break;
	}
	case WAL_DUP: {
		const struct wal_dup *x = &r->u.dup;
		wal_put64(b, x->auction_id);
		wal_put64(b + 8, x->bidder);
		wal_put64(b + 16, x->request_id);
		wal_put64(b + 24, x->amount);
		wal_put64(b + 32, x->hlc);
		wal_put64(b + 40, x->other_hlc);
		wal_put16(b + 48, x->other_node);
		break;
	}
	case WAL_AUCTION_DUPS:
		wal_put64(b, r->u.dups.auction_id);
		wal_put64(b + 8, r->u.dups.dups);
		break;
	default: /* the three single-u64 bodies share their slot in the union */
		wal_put64(b, r->u.fencing_epoch);
		break;
	}
}

/* The inverse of encode_body; returns WAL_ERR_FIELD for a non-zero pad. */
static enum wal_error decode_body(const uint8_t *b, struct wal_record *r, const char **why)
{
	switch (r->type) {
	case WAL_BID: {
		struct wal_bid *x = &r->u.bid;
		x->auction_id = wal_get64(b);
		x->bidder = wal_get64(b + 8);
		x->request_id = wal_get64(b + 16);
		x->amount = wal_get64(b + 24);
		x->hlc = wal_get64(b + 32);
		x->node = wal_get16(b + 40);
		x->status = b[42];
		if (b[43] != 0)
			return bad(why, "bid: padding byte 43 of the body is not 0");
		break;
	}
	case WAL_VIEW: {
		struct wal_view *x = &r->u.view;
		x->auction_id = wal_get64(b);
		x->viewer = wal_get64(b + 8);
		x->request_id = wal_get64(b + 16);
		x->hlc = wal_get64(b + 24);
		x->node = wal_get16(b + 32);
		x->request_type = b[34];
		x->status = b[35];
		break;
	}
	case WAL_AUCTION_OPEN: {
		struct wal_auction_open *x = &r->u.open;
		x->auction_id = wal_get64(b);
		x->reserve = wal_get64(b + 8);
		x->increment = wal_get64(b + 16);
		x->close_at_ms = wal_get64(b + 24);
		x->def_hlc = wal_get64(b + 32);
		x->def_node = wal_get16(b + 40);
		break;
	}
	case WAL_AUCTION_CLOSE:
		r->u.close.auction_id = wal_get64(b);
		r->u.close.closed_at_ms = wal_get64(b + 8);
		break;
	case WAL_SETTLEMENT: {
		struct wal_settlement *x = &r->u.settlement;
		x->auction_id = wal_get64(b);
		x->amount = wal_get64(b + 8);
		x->bidder = wal_get64(b + 16);
		x->hlc = wal_get64(b + 24);
		x->fencing_token = wal_get64(b + 32);
		x->settled_at_ms = wal_get64(b + 40);
		x->node = wal_get16(b + 48);
		break;
	}
	case WAL_AUCTION_STATE: {
		struct wal_auction_state *x = &r->u.state;
		x->auction_id = wal_get64(b);
		x->bids = wal_get64(b + 8);
		x->viewers_up = wal_get64(b + 16);
		x->viewers_down = wal_get64(b + 24);
		x->lead_amount = wal_get64(b + 32);
		x->lead_hlc = wal_get64(b + 40);
		x->lead_bidder = wal_get64(b + 48);
		x->lead_node = wal_get16(b + 56);
		break;
	}
	case WAL_DUP: {
		struct wal_dup *x = &r->u.dup;
		x->auction_id = wal_get64(b);
		x->bidder = wal_get64(b + 8);
		x->request_id = wal_get64(b + 16);
		x->amount = wal_get64(b + 24);
		x->hlc = wal_get64(b + 32);
		x->other_hlc = wal_get64(b + 40);
		x->other_node = wal_get16(b + 48);
		break;
	}
	case WAL_AUCTION_DUPS:
		r->u.dups.auction_id = wal_get64(b);
		r->u.dups.dups = wal_get64(b + 8);
		break;
	default:
		r->u.fencing_epoch = wal_get64(b);
		break;
	}
	return WAL_OK;
}

size_t wal_encode(uint8_t *out, size_t cap, const struct wal_record *r)
{
	size_t len = wal_record_size(r->type);
	if (len == 0 || len > cap || wal_record_check(r, NULL) != WAL_OK)
		return 0;
	memset(out, 0, WAL_HEADER_LEN);
	wal_put32(out + 8, (uint32_t)len);
	out[12] = WAL_RECORD_VERSION;
	out[13] = r->type;
	wal_put64(out + 16, r->lsn);
	encode_body(out + WAL_HEADER_LEN, r);
	return len;
}

static uint64_t checksum_of(const uint8_t *rec, size_t len)
{
	return XXH3_64bits(rec + 8, len - 8);
}

void wal_seal(uint8_t *rec, size_t len, uint64_t lsn)
{
	wal_put64(rec + 16, lsn);
	wal_put64(rec, checksum_of(rec, len));
}

void wal_seal_batch(uint8_t *rec, size_t len, uint64_t lsn, unsigned int pos, bool last)
{
	wal_put16(rec + 14, (uint16_t)((pos & WAL_BATCH_POS_MASK) | (last ? WAL_BATCH_END : 0)));
	wal_seal(rec, len, lsn);
}

static enum wal_error fail(const char **why, enum wal_error e, const char *text)
{
	if (why)
		*why = text;
	return e;
}

enum wal_error wal_decode(const uint8_t *buf, size_t len, struct wal_record *out, size_t *used,
			  const char **why)
{
	if (len < WAL_HEADER_LEN)
		return fail(why, WAL_ERR_SHORT, "fewer than 24 bytes: no whole header");
	uint32_t rlen = wal_get32(buf + 8);
	if (rlen < WAL_RECORD_MIN || rlen > WAL_RECORD_MAX)
		return fail(why, WAL_ERR_LENGTH, "length field outside 24..128");
	if (rlen > len)
		return fail(why, WAL_ERR_TRUNCATED,
			    "the length field runs past the end of the data");
	if (wal_get64(buf) != checksum_of(buf, rlen))
		return fail(why, WAL_ERR_CHECKSUM, "XXH3 checksum does not match the record");
	if (buf[12] != 1 && buf[12] != 2)
		return fail(why, WAL_ERR_VERSION, "version is not 1 or 2");
	if (buf[12] == 1 && wal_get16(buf + 14) != 0)
		return fail(why, WAL_ERR_RESERVED,
			    "version 1 record: reserved header bytes 14..15 are not 0");
	uint8_t type = buf[13];
	if (wal_record_size(type) == 0)
		return fail(why, WAL_ERR_TYPE, "type is not 1..8 (enum wal_type)");
	if (wal_record_size(type) != rlen)
		return fail(why, WAL_ERR_BODY, "length does not match the type's body size");
	struct wal_record r = {.type = type,
			       .version = buf[12],
			       .batch = wal_get16(buf + 14),
			       .lsn = wal_get64(buf + 16)};
	if (r.lsn == 0)
		return fail(why, WAL_ERR_LSN, "lsn is 0 (sealed records have lsn >= 1)");
	enum wal_error e = decode_body(buf + WAL_HEADER_LEN, &r, why);
	if (e == WAL_OK)
		e = wal_record_check(&r, why);
	if (e != WAL_OK)
		return e;
	*out = r;
	*used = rlen;
	return WAL_OK;
}
