/* SPDX-License-Identifier: BSD-3-Clause */
/* The record codec (control/wal/wal_record.h): round trips of every type,
 * every header check and every field bound refused, no read past the
 * buffer (every prefix decoded from an exact-size heap copy, under ASan in
 * the sanitizer build). */
#include "wal_test.h"

#include "prop.h"

static uint64_t in_range(struct prop_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + prop_below(r, hi - lo + 1 ? hi - lo + 1 : UINT64_MAX);
}

/* A random valid record of each type. */
static struct wal_record random_record(struct prop_rng *r, uint8_t type)
{
	static const uint8_t bid_status[] = {BP_ACCEPTED, BP_TOO_LOW, BP_CLOSED,
					     BP_UNKNOWN_AUCTION};
	struct wal_record x = {.type = type};
	switch (type) {
	case WAL_BID:
		x.u.bid =
		    (struct wal_bid){in_range(r, 1, UINT64_MAX),  in_range(r, 1, UINT64_MAX),
				     in_range(r, 1, UINT64_MAX),  in_range(r, 1, BP_AMOUNT_MAX),
				     in_range(r, 1, UINT64_MAX),  (uint16_t)in_range(r, 1, 65535),
				     bid_status[prop_below(r, 4)]};
		break;
	case WAL_VIEW:
		x.u.view = (struct wal_view){in_range(r, 1, UINT64_MAX),
					     in_range(r, 1, UINT64_MAX),
					     in_range(r, 1, UINT64_MAX),
					     prop_next(r),
					     (uint16_t)in_range(r, 1, 65535),
					     prop_below(r, 2) ? BP_WATCH : BP_UNWATCH,
					     prop_below(r, 2) ? BP_ACCEPTED : BP_UNKNOWN_AUCTION};
		break;
	case WAL_AUCTION_OPEN:
		x.u.open = (struct wal_auction_open){
		    in_range(r, 1, UINT64_MAX),	   in_range(r, 1, BP_AMOUNT_MAX),
		    in_range(r, 1, BP_AMOUNT_MAX), prop_next(r),
		    in_range(r, 1, UINT64_MAX),	   (uint16_t)in_range(r, 1, 65535)};
		break;
	case WAL_AUCTION_CLOSE:
		x.u.close = (struct wal_auction_close){in_range(r, 1, UINT64_MAX), prop_next(r)};
		break;
	case WAL_SETTLEMENT:
		x.u.settlement = (struct wal_settlement){in_range(r, 1, UINT64_MAX),
							 in_range(r, 1, BP_AMOUNT_MAX),
							 in_range(r, 1, UINT64_MAX),
							 in_range(r, 1, UINT64_MAX),
							 prop_next(r),
							 prop_next(r),
							 (uint16_t)in_range(r, 1, 65535)};
		break;
	case WAL_AUCTION_STATE:
		x.u.state = (struct wal_auction_state){in_range(r, 1, UINT64_MAX),
						       prop_next(r),
						       prop_next(r),
						       prop_next(r),
						       in_range(r, 1, BP_AMOUNT_MAX),
						       in_range(r, 1, UINT64_MAX),
						       in_range(r, 1, UINT64_MAX),
						       (uint16_t)in_range(r, 1, 65535)};
		if (prop_below(r, 4) == 0) /* no leading bid */
			x.u.state.lead_amount = x.u.state.lead_hlc = x.u.state.lead_bidder =
			    x.u.state.lead_node = 0;
		break;
	case WAL_DUP: {
		uint64_t hlc = in_range(r, 2, UINT64_MAX);
		x.u.dup = (struct wal_dup){in_range(r, 1, UINT64_MAX),
					   in_range(r, 1, UINT64_MAX),
					   in_range(r, 1, UINT64_MAX),
					   in_range(r, 1, BP_AMOUNT_MAX),
					   hlc,
					   in_range(r, 1, hlc),
					   (uint16_t)in_range(r, 1, 65535)};
		break;
	}
	case WAL_AUCTION_DUPS:
		x.u.dups = (struct wal_auction_dups){in_range(r, 1, UINT64_MAX),
						     in_range(r, 1, UINT64_MAX)};
		break;
	default:
		x.u.fencing_epoch = in_range(r, 1, UINT64_MAX);
		break;
	}
	return x;
}

static void assert_same(const struct wal_record *a, const struct wal_record *b)
{
	assert_int_equal(a->type, b->type);
	assert_true(a->lsn == b->lsn);
	switch (a->type) {
	case WAL_BID:
		assert_memory_equal(&a->u.bid, &b->u.bid, offsetof(struct wal_bid, status) + 1);
		break;
	case WAL_VIEW:
		assert_memory_equal(&a->u.view, &b->u.view, offsetof(struct wal_view, status) + 1);
		break;
	case WAL_AUCTION_OPEN:
		assert_memory_equal(&a->u.open, &b->u.open,
				    offsetof(struct wal_auction_open, def_node) + 2);
		break;
	case WAL_AUCTION_CLOSE:
		assert_memory_equal(&a->u.close, &b->u.close, sizeof(a->u.close));
		break;
	case WAL_SETTLEMENT:
		assert_memory_equal(&a->u.settlement, &b->u.settlement,
				    offsetof(struct wal_settlement, node) + 2);
		break;
	case WAL_DUP:
		assert_memory_equal(&a->u.dup, &b->u.dup, offsetof(struct wal_dup, other_node) + 2);
		break;
	case WAL_AUCTION_DUPS:
		assert_memory_equal(&a->u.dups, &b->u.dups, sizeof(a->u.dups));
		break;
	case WAL_AUCTION_STATE:
		assert_memory_equal(&a->u.state, &b->u.state,
				    offsetof(struct wal_auction_state, lead_node) + 2);
		break;
	default:
		assert_true(a->u.fencing_epoch == b->u.fencing_epoch);
		break;
	}
}

static void every_type_round_trips(void **state)
{
	(void)state;
	uint64_t seed = prop_base_seed();
	struct prop_rng r;
	prop_seed(&r, seed);
	for (unsigned long i = 0; i < 20000; i++) {
		uint8_t type = (uint8_t)(1 + i % WAL_TYPE_LAST);
		struct wal_record x = random_record(&r, type);
		uint8_t buf[WAL_RECORD_MAX];
		size_t len = wal_encode(buf, sizeof(buf), &x);
		if (len != wal_record_size(type))
			prop_report("encode", seed, i);
		assert_int_equal(len, wal_record_size(type));
		x.lsn = in_range(&r, 1, UINT64_MAX);
		wal_seal(buf, len, x.lsn);
		struct wal_record y;
		size_t used = 0;
		const char *why = NULL;
		enum wal_error e = wal_decode(buf, len, &y, &used, &why);
		if (e != WAL_OK)
			prop_report("round trip", seed, i);
		assert_int_equal(e, WAL_OK);
		assert_int_equal(used, len);
		assert_same(&x, &y);
	}
}

static void sizes_are_bounded_and_little_endian(void **state)
{
	(void)state;
	for (uint8_t t = 1; t <= WAL_TYPE_LAST; t++) {
		assert_true(wal_record_size(t) >= WAL_RECORD_MIN);
		assert_true(wal_record_size(t) <= WAL_RECORD_MAX);
	}
	assert_int_equal(wal_record_size(0), 0);
	assert_int_equal(wal_record_size(WAL_TYPE_LAST + 1), 0);
	struct wal_record x = {.type = WAL_FENCING_EPOCH, .u.fencing_epoch = 0x0102030405060708};
	uint8_t buf[WAL_RECORD_MAX];
	size_t len = wal_encode(buf, sizeof(buf), &x);
	wal_seal(buf, len, 0x1112131415161718);
	const uint8_t lsn_le[8] = {0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11};
	const uint8_t epoch_le[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	assert_memory_equal(buf + 16, lsn_le, 8);
	assert_memory_equal(buf + 24, epoch_le, 8);
	assert_int_equal(buf[8], len);
	assert_int_equal(buf[12], WAL_RECORD_VERSION);
	assert_int_equal(buf[13], WAL_FENCING_EPOCH);
	assert_int_equal(wal_encode(buf, len - 1, &x), 0); /* no room */
}

/* A record with one field out of range is refused by the encoder and, sealed
 * anyway (the body patched after a valid encode), by the decoder. */
struct bad_field {
	const char *name;
	uint8_t type;
	void (*spoil)(struct wal_record *r);
	const char *why_has; /* text the decoder's reason must contain */
};

#define SPOIL(fn, stmt)                                                                            \
	static void fn(struct wal_record *r)                                                       \
	{                                                                                          \
		stmt;                                                                              \
	}
SPOIL(bid_auction0, r->u.bid.auction_id = 0)
SPOIL(bid_bidder0, r->u.bid.bidder = 0)
SPOIL(bid_request0, r->u.bid.request_id = 0)
SPOIL(bid_amount0, r->u.bid.amount = 0)
SPOIL(bid_amount_big, r->u.bid.amount = (uint64_t)BP_AMOUNT_MAX + 1)
SPOIL(bid_node0, r->u.bid.node = 0)
SPOIL(bid_status_overloaded, r->u.bid.status = BP_OVERLOADED)
SPOIL(bid_status_big, r->u.bid.status = 200)
SPOIL(bid_accepted_hlc0, (r->u.bid.status = BP_ACCEPTED, r->u.bid.hlc = 0))
SPOIL(view_auction0, r->u.view.auction_id = 0)
SPOIL(view_viewer0, r->u.view.viewer = 0)
SPOIL(view_request0, r->u.view.request_id = 0)
SPOIL(view_node0, r->u.view.node = 0)
SPOIL(view_type_bid, r->u.view.request_type = BP_BID)
SPOIL(view_status_too_low, r->u.view.status = BP_TOO_LOW)
SPOIL(open_auction0, r->u.open.auction_id = 0)
SPOIL(open_reserve0, r->u.open.reserve = 0)
SPOIL(open_reserve_big, r->u.open.reserve = (uint64_t)BP_AMOUNT_MAX + 1)
SPOIL(open_increment0, r->u.open.increment = 0)
SPOIL(open_increment_big, r->u.open.increment = UINT64_MAX)
SPOIL(open_stamp_half, r->u.open.def_node = 0)
SPOIL(close_auction0, r->u.close.auction_id = 0)
SPOIL(settle_auction0, r->u.settlement.auction_id = 0)
SPOIL(settle_amount_big, r->u.settlement.amount = (uint64_t)BP_AMOUNT_MAX + 1)
SPOIL(settle_bidder0, r->u.settlement.bidder = 0)
SPOIL(settle_none_with_bidder, r->u.settlement.amount = 0)
SPOIL(epoch0, r->u.fencing_epoch = 0)
SPOIL(hlc0, r->u.hlc_high = 0)
SPOIL(state_auction0, r->u.state.auction_id = 0)
SPOIL(state_amount_big, r->u.state.lead_amount = (uint64_t)BP_AMOUNT_MAX + 1)
SPOIL(state_lead_bidder0, (r->u.state.lead_amount = 5, r->u.state.lead_hlc = 1,
			   r->u.state.lead_node = 1, r->u.state.lead_bidder = 0))
SPOIL(state_none_with_node, (r->u.state.lead_amount = 0, r->u.state.lead_hlc = 0,
			     r->u.state.lead_bidder = 0, r->u.state.lead_node = 1))
SPOIL(dup_bidder0, r->u.dup.bidder = 0)
SPOIL(dup_amount0, r->u.dup.amount = 0)
SPOIL(dup_other_node0, r->u.dup.other_node = 0)
SPOIL(dup_other_later, (r->u.dup.other_hlc = r->u.dup.hlc, r->u.dup.hlc -= 1))
SPOIL(dups_auction0, r->u.dups.auction_id = 0)
SPOIL(dups_zero, r->u.dups.dups = 0)

static const struct bad_field bad_fields[] = {
    {"bid.auction_id", WAL_BID, bid_auction0, "bid.auction_id"},
    {"bid.bidder", WAL_BID, bid_bidder0, "bid.bidder"},
    {"bid.request_id", WAL_BID, bid_request0, "bid.request_id"},
    {"bid.amount 0", WAL_BID, bid_amount0, "bid.amount"},
    {"bid.amount 2^63", WAL_BID, bid_amount_big, "bid.amount"},
    {"bid.node", WAL_BID, bid_node0, "bid.node"},
    {"bid.status overloaded", WAL_BID, bid_status_overloaded, "bid.status"},
    {"bid.status 200", WAL_BID, bid_status_big, "bid.status"},
    {"bid.hlc", WAL_BID, bid_accepted_hlc0, "bid.hlc"},
    {"view.auction_id", WAL_VIEW, view_auction0, "view.auction_id"},
    {"view.viewer", WAL_VIEW, view_viewer0, "view.viewer"},
    {"view.request_id", WAL_VIEW, view_request0, "view.request_id"},
    {"view.node", WAL_VIEW, view_node0, "view.node"},
    {"view.request_type", WAL_VIEW, view_type_bid, "view.request_type"},
    {"view.status", WAL_VIEW, view_status_too_low, "view.status"},
    {"open.auction_id", WAL_AUCTION_OPEN, open_auction0, "open.auction_id"},
    {"open.reserve 0", WAL_AUCTION_OPEN, open_reserve0, "open.reserve"},
    {"open.reserve 2^63", WAL_AUCTION_OPEN, open_reserve_big, "open.reserve"},
    {"open.increment 0", WAL_AUCTION_OPEN, open_increment0, "open.increment"},
    {"open.increment max", WAL_AUCTION_OPEN, open_increment_big, "open.increment"},
    {"open.def_node", WAL_AUCTION_OPEN, open_stamp_half, "open.def_hlc"},
    {"close.auction_id", WAL_AUCTION_CLOSE, close_auction0, "close.auction_id"},
    {"settlement.auction_id", WAL_SETTLEMENT, settle_auction0, "settlement.auction_id"},
    {"settlement.amount", WAL_SETTLEMENT, settle_amount_big, "settlement.amount"},
    {"settlement.bidder", WAL_SETTLEMENT, settle_bidder0, "settlement with a winner"},
    {"settlement none", WAL_SETTLEMENT, settle_none_with_bidder, "names a bidder"},
    {"fencing_epoch", WAL_FENCING_EPOCH, epoch0, "fencing_epoch"},
    {"hlc_high", WAL_HLC_HIGH, hlc0, "hlc_high"},
    {"state.auction_id", WAL_AUCTION_STATE, state_auction0, "state.auction_id"},
    {"state.lead_amount", WAL_AUCTION_STATE, state_amount_big, "state.lead_amount"},
    {"state.lead_bidder", WAL_AUCTION_STATE, state_lead_bidder0, "with a leading bid"},
    {"state none", WAL_AUCTION_STATE, state_none_with_node, "without a leading bid"},
    {"dup.bidder", WAL_DUP, dup_bidder0, "dup.auction_id, bidder"},
    {"dup.amount", WAL_DUP, dup_amount0, "dup.amount"},
    {"dup.other_node", WAL_DUP, dup_other_node0, "other_node"},
    {"dup.other_hlc later", WAL_DUP, dup_other_later, "the other copy is the earlier"},
    {"dups.auction_id", WAL_AUCTION_DUPS, dups_auction0, "dups.auction_id"},
    {"dups.dups", WAL_AUCTION_DUPS, dups_zero, "dups.dups"},
};

/* Encodes r past the encoder's check: a valid record of its type, then the
 * spoiled field's bytes copied in from an encode of r into a raw body. */
static size_t encode_unchecked(uint8_t *buf, const struct wal_record *r)
{
	/* The codec's byte layout is what docs/WAL.md gives; rebuild it here. */
	size_t len = wal_record_size(r->type);
	memset(buf, 0, len);
	buf[8] = (uint8_t)len;
	buf[12] = WAL_RECORD_VERSION;
	buf[13] = r->type;
	uint8_t *b = buf + WAL_HEADER_LEN;
#define P64(off, v)                                                                                \
	for (int i_ = 0; i_ < 8; i_++)                                                             \
		b[(off) + i_] = (uint8_t)((uint64_t)(v) >> (8 * i_));
#define P16(off, v) (b[(off)] = (uint8_t)(v), b[(off) + 1] = (uint8_t)((v) >> 8))
	switch (r->type) {
	case WAL_BID:
		P64(0, r->u.bid.auction_id);
		P64(8, r->u.bid.bidder);
		P64(16, r->u.bid.request_id);
		P64(24, r->u.bid.amount);
		P64(32, r->u.bid.hlc);
		P16(40, r->u.bid.node);
		b[42] = r->u.bid.status;
		break;
	case WAL_VIEW:
		P64(0, r->u.view.auction_id);
		P64(8, r->u.view.viewer);
		P64(16, r->u.view.request_id);
		P64(24, r->u.view.hlc);
		P16(32, r->u.view.node);
		b[34] = r->u.view.request_type;
		b[35] = r->u.view.status;
		break;
	case WAL_AUCTION_OPEN:
		P64(0, r->u.open.auction_id);
		P64(8, r->u.open.reserve);
		P64(16, r->u.open.increment);
		P64(24, r->u.open.close_at_ms);
		P64(32, r->u.open.def_hlc);
		P16(40, r->u.open.def_node);
		break;
	case WAL_AUCTION_CLOSE:
		P64(0, r->u.close.auction_id);
		P64(8, r->u.close.closed_at_ms);
		break;
	case WAL_SETTLEMENT:
		P64(0, r->u.settlement.auction_id);
		P64(8, r->u.settlement.amount);
		P64(16, r->u.settlement.bidder);
		P64(24, r->u.settlement.hlc);
		P64(32, r->u.settlement.fencing_token);
		P64(40, r->u.settlement.settled_at_ms);
		P16(48, r->u.settlement.node);
		break;
	case WAL_AUCTION_STATE:
		P64(0, r->u.state.auction_id);
		P64(8, r->u.state.bids);
		P64(16, r->u.state.viewers_up);
		P64(24, r->u.state.viewers_down);
		P64(32, r->u.state.lead_amount);
		P64(40, r->u.state.lead_hlc);
		P64(48, r->u.state.lead_bidder);
		P16(56, r->u.state.lead_node);
		break;
	case WAL_DUP:
		P64(0, r->u.dup.auction_id);
		P64(8, r->u.dup.bidder);
		P64(16, r->u.dup.request_id);
		P64(24, r->u.dup.amount);
		P64(32, r->u.dup.hlc);
		P64(40, r->u.dup.other_hlc);
		P16(48, r->u.dup.other_node);
		break;
	case WAL_AUCTION_DUPS:
		P64(0, r->u.dups.auction_id);
		P64(8, r->u.dups.dups);
		break;
	default:
		P64(0, r->u.fencing_epoch);
		break;
	}
#undef P64
#undef P16
	return len;
}

static void every_field_bound_is_refused(void **state)
{
	(void)state;
	struct prop_rng r;
	prop_seed(&r, 42);
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		const struct bad_field *f = &bad_fields[i];
		struct wal_record x = random_record(&r, f->type);
		uint8_t buf[WAL_RECORD_MAX];
		/* The unchecked encoder agrees with the codec on a valid record. */
		uint8_t ref[WAL_RECORD_MAX];
		size_t len = wal_encode(ref, sizeof(ref), &x);
		assert_int_equal(encode_unchecked(buf, &x), len);
		assert_memory_equal(buf, ref, len);
		f->spoil(&x);
		const char *why = NULL;
		assert_int_equal(wal_record_check(&x, &why), WAL_ERR_FIELD);
		assert_int_equal(wal_encode(buf, sizeof(buf), &x), 0);
		len = encode_unchecked(buf, &x);
		wal_seal(buf, len, 9);
		struct wal_record y;
		size_t used;
		why = NULL;
		enum wal_error e = wal_decode(buf, len, &y, &used, &why);
		if (e != WAL_ERR_FIELD || !why || !strstr(why, f->why_has))
			fprintf(stderr, "%s: got %s (%s)\n", f->name, wal_error_name(e),
				why ? why : "-");
		assert_int_equal(e, WAL_ERR_FIELD);
		assert_non_null(strstr(why, f->why_has));
	}
}

/* A valid sealed record of `type` in buf; its length. */
static size_t sealed(uint8_t *buf, uint8_t type)
{
	struct prop_rng r;
	prop_seed(&r, type);
	struct wal_record x = random_record(&r, type);
	size_t len = wal_encode(buf, WAL_RECORD_MAX, &x);
	wal_seal(buf, len, 77);
	return len;
}

static enum wal_error decode_resealed(uint8_t *buf, size_t len)
{
	uint64_t lsn = 0;
	for (int i = 7; i >= 0; i--)
		lsn = lsn << 8 | buf[16 + i];
	wal_seal(buf, len, lsn);
	struct wal_record y;
	size_t used;
	const char *why = NULL;
	enum wal_error e = wal_decode(buf, len, &y, &used, &why);
	if (e != WAL_OK)
		assert_non_null(why);
	return e;
}

static void every_header_check_refuses(void **state)
{
	(void)state;
	uint8_t buf[2 * WAL_RECORD_MAX];
	struct wal_record y;
	size_t used;
	const char *why;
	size_t len = sealed(buf, WAL_BID);
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_OK);
	assert_int_equal(wal_decode(buf, WAL_HEADER_LEN - 1, &y, &used, &why), WAL_ERR_SHORT);
	assert_int_equal(wal_decode(buf, len - 1, &y, &used, &why), WAL_ERR_TRUNCATED);

	buf[8] = WAL_RECORD_MIN - 1;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_LENGTH);
	len = sealed(buf, WAL_BID);
	buf[8] = 0;
	buf[9] = 1; /* 256 */
	assert_int_equal(wal_decode(buf, sizeof(buf), &y, &used, &why), WAL_ERR_LENGTH);

	len = sealed(buf, WAL_BID);
	buf[30] ^= 0x40;
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_ERR_CHECKSUM);
	buf[30] ^= 0x40;
	buf[3] ^= 1; /* the checksum itself */
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_ERR_CHECKSUM);

	len = sealed(buf, WAL_BID);
	buf[12] = 3;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_VERSION);
	buf[12] = 0;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_VERSION);
	/* Version 1 (before batch marks) is read, its bytes 14..15 zero. */
	len = sealed(buf, WAL_BID);
	buf[12] = 1;
	assert_int_equal(decode_resealed(buf, len), WAL_OK);
	buf[15] = 1;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_RESERVED);
	buf[15] = 0;
	buf[14] = 1;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_RESERVED);
	/* Version 2: any batch field, decoded. */
	len = sealed(buf, WAL_BID);
	wal_seal_batch(buf, len, 9, 300, true);
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_OK);
	assert_int_equal(y.version, 2);
	assert_int_equal(y.batch, 300 | WAL_BATCH_END);
	assert_int_equal(y.lsn, 9);
	wal_seal_batch(buf, len, 9, 7, false);
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_OK);
	assert_int_equal(y.batch, 7);
	len = sealed(buf, WAL_BID);
	buf[13] = 0;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_TYPE);
	buf[13] = WAL_TYPE_LAST + 1;
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_TYPE);
	buf[13] = WAL_VIEW; /* a bid's size under another type */
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_BODY);
	len = sealed(buf, WAL_BID);
	buf[WAL_HEADER_LEN + 43] = 1; /* the bid's pad byte */
	assert_int_equal(decode_resealed(buf, len), WAL_ERR_FIELD);
	len = sealed(buf, WAL_BID);
	wal_seal(buf, len, 0);
	assert_int_equal(wal_decode(buf, len, &y, &used, &why), WAL_ERR_LSN);
	for (int e = WAL_OK; e <= WAL_ERR_LSN; e++)
		assert_string_not_equal(wal_error_name((enum wal_error)e), "unknown error");
}

/* Every prefix of every type from an exact-size heap buffer: an error, no
 * read past the end (ASan). */
static void prefixes_never_read_past_the_buffer(void **state)
{
	(void)state;
	for (uint8_t t = 1; t <= WAL_TYPE_LAST; t++) {
		uint8_t full[WAL_RECORD_MAX];
		size_t len = sealed(full, t);
		for (size_t n = 0; n < len; n++) {
			uint8_t *b = malloc(n ? n : 1);
			memcpy(b, full, n);
			struct wal_record y;
			size_t used;
			const char *why;
			enum wal_error e = wal_decode(b, n, &y, &used, &why);
			assert_true(e == WAL_ERR_SHORT || e == WAL_ERR_TRUNCATED);
			free(b);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_type_round_trips),
	    cmocka_unit_test(sizes_are_bounded_and_little_endian),
	    cmocka_unit_test(every_field_bound_is_refused),
	    cmocka_unit_test(every_header_check_refuses),
	    cmocka_unit_test(prefixes_never_read_past_the_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
