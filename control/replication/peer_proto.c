/* SPDX-License-Identifier: BSD-3-Clause */
/* The peer wire format (peer_proto.h, docs/PEER_PROTOCOL.md). */
#include "peer_proto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

/* BLAKE2b's personalization: a tag made for this format and version can
 * never verify as a tag of anything else made with the same key. */
static const uint8_t PERSONAL[crypto_generichash_blake2b_PERSONALBYTES] = "bidplane-peer-v1";

_Static_assert(sizeof(PERSONAL) == 16, "BLAKE2b personalization is 16 bytes");
_Static_assert(PEER_TAG_LEN >= crypto_generichash_blake2b_BYTES_MIN, "tag length");
_Static_assert(CLUSTER_KEY_BYTES >= crypto_generichash_blake2b_KEYBYTES_MIN &&
		   CLUSTER_KEY_BYTES <= crypto_generichash_blake2b_KEYBYTES_MAX,
	       "key length");
_Static_assert(PEER_LEN_MAX <= UINT16_MAX, "length field");

static const char *const drop_names[PEER_DROP_COUNT] = {
#define PEER_DROP_NAME(id, name) [PEER_DROP_##id] = #name,
    PEER_FOREACH_DROP(PEER_DROP_NAME)
#undef PEER_DROP_NAME
};

const char *peer_drop_name(enum peer_drop d)
{
	return (unsigned int)d < PEER_DROP_COUNT ? drop_names[d] : "invalid";
}

/* ---- big-endian writer: callers size the output before writing ---- */

struct writer {
	uint8_t *p;
};

static void put_u8(struct writer *w, uint8_t v)
{
	*w->p++ = v;
}

static void put_u16(struct writer *w, uint16_t v)
{
	put_u8(w, (uint8_t)(v >> 8));
	put_u8(w, (uint8_t)v);
}

static void put_u32(struct writer *w, uint32_t v)
{
	put_u16(w, (uint16_t)(v >> 16));
	put_u16(w, (uint16_t)v);
}

static void put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

/* ---- bounds-checked reader: a failed read sets ok = 0 and reads 0 ---- */

struct reader {
	const uint8_t *buf;
	size_t len, off;
	int ok;
};

static int has(struct reader *r, size_t n)
{
	if (r->ok && r->len - r->off >= n)
		return 1;
	r->ok = 0;
	return 0;
}

static uint8_t get_u8(struct reader *r)
{
	return has(r, 1) ? r->buf[r->off++] : 0;
}

static uint16_t get_u16(struct reader *r)
{
	uint16_t hi = get_u8(r);
	return (uint16_t)(hi << 8 | get_u8(r));
}

static uint32_t get_u32(struct reader *r)
{
	uint32_t hi = get_u16(r);
	return hi << 16 | get_u16(r);
}

static uint64_t get_u64(struct reader *r)
{
	uint64_t hi = get_u32(r);
	return hi << 32 | get_u32(r);
}

/* ---- the rules, shared by encoders and the decoder ---- */

static int header_valid(const struct peer_header *h)
{
	return (h->flags & ~PEER_FLAGS_KNOWN) == 0 && h->sender != 0 && h->receiver != 0 &&
	       h->incarnation != 0 && h->seq != 0 && h->hlc != 0;
}

static int amount_valid(uint64_t a)
{
	return a >= 1 && a <= BID_AMOUNT_MAX;
}

static int definition_valid(const struct peer_definition *d)
{
	return d->hlc != 0 && d->node != 0 &&
	       (d->phase == PEER_PHASE_OPEN || d->phase == PEER_PHASE_CLOSED) &&
	       amount_valid(d->reserve) && amount_valid(d->increment);
}

static int leader_valid(const struct bid *b)
{
	return amount_valid(b->amount) && b->hlc != 0 && b->bidder != 0 && b->node != 0;
}

static int settlement_valid(const struct peer_settlement *s)
{
	const struct bid *w = &s->winner;
	int none = w->amount == 0 && w->hlc == 0 && w->bidder == 0 && w->node == 0;
	return s->fencing_token != 0 && s->settled_at_ms != 0 && (none || leader_valid(w));
}

static int counter_valid(const struct peer_counter *c)
{
	if (c->count > PEER_MAX_NODES)
		return 0;
	for (unsigned int i = 0; i < c->count; i++)
		if (c->node[i] == 0 || c->value[i] == 0 || (i > 0 && c->node[i] <= c->node[i - 1]))
			return 0;
	return 1;
}

static int entry_valid(const struct peer_entry *e)
{
	if (e->auction_id == 0 || e->parts == 0 || (e->parts & ~PEER_PARTS_ALL))
		return 0;
	if ((e->parts & PEER_PART_DEFINITION) && !definition_valid(&e->definition))
		return 0;
	if ((e->parts & PEER_PART_LEADER) && !leader_valid(&e->leader))
		return 0;
	if ((e->parts & PEER_PART_BID_COUNT) &&
	    (!counter_valid(&e->bid_count) || e->bid_count.count == 0))
		return 0;
	if ((e->parts & PEER_PART_VIEWERS) &&
	    (!counter_valid(&e->viewers_p) || !counter_valid(&e->viewers_n) ||
	     e->viewers_p.count + e->viewers_n.count == 0))
		return 0;
	if ((e->parts & PEER_PART_DUPS) && (!counter_valid(&e->dups) || e->dups.count == 0))
		return 0;
	if ((e->parts & PEER_PART_SETTLEMENT) && !settlement_valid(&e->settlement))
		return 0;
	return 1;
}

static int key_valid(const struct peer_key *k)
{
	return k->bidder != 0 && k->request_id != 0 && k->auction_id != 0 &&
	       amount_valid(k->amount) && k->hlc != 0 && k->node != 0;
}

/* Strictly increasing (bidder, request_id): one encoding per set of keys. */
static int key_after(const struct peer_key *k, const struct peer_key *prev)
{
	return k->bidder > prev->bidder ||
	       (k->bidder == prev->bidder && k->request_id > prev->request_id);
}

static int ack_valid(const struct peer_ack *a)
{
	if (a->incarnation == 0 || a->count > PEER_ACK_MAX_RANGES)
		return 0;
	for (unsigned int i = 0; i < a->count; i++) {
		const struct peer_range *r = &a->range[i];
		if (r->first == 0 || r->first > r->last)
			return 0;
		/* Not overlapping nor adjacent: one set, one encoding. A range
		 * ending at the last sequence number has no successor. */
		if (i > 0 &&
		    (a->range[i - 1].last == UINT64_MAX || r->first <= a->range[i - 1].last + 1))
			return 0;
	}
	return 1;
}

/* ---- entries ---- */

static size_t counter_len(const struct peer_counter *c)
{
	return 1 + 10 * (size_t)c->count;
}

size_t peer_entry_len(const struct peer_entry *e)
{
	if (!entry_valid(e))
		return 0;
	size_t n = 9;
	if (e->parts & PEER_PART_DEFINITION)
		n += 35;
	if (e->parts & PEER_PART_LEADER)
		n += 26;
	if (e->parts & PEER_PART_BID_COUNT)
		n += counter_len(&e->bid_count);
	if (e->parts & PEER_PART_VIEWERS)
		n += counter_len(&e->viewers_p) + counter_len(&e->viewers_n);
	if (e->parts & PEER_PART_DUPS)
		n += counter_len(&e->dups);
	if (e->parts & PEER_PART_SETTLEMENT)
		n += 42;
	return n;
}

static void put_counter(struct writer *w, const struct peer_counter *c)
{
	put_u8(w, c->count);
	for (unsigned int i = 0; i < c->count; i++) {
		put_u16(w, c->node[i]);
		put_u64(w, c->value[i]);
	}
}

static void put_entry(struct writer *w, const struct peer_entry *e)
{
	put_u64(w, e->auction_id);
	put_u8(w, e->parts);
	if (e->parts & PEER_PART_DEFINITION) {
		const struct peer_definition *d = &e->definition;
		put_u64(w, d->hlc);
		put_u16(w, d->node);
		put_u8(w, d->phase);
		put_u64(w, d->reserve);
		put_u64(w, d->increment);
		put_u64(w, d->close_at_ms);
	}
	if (e->parts & PEER_PART_LEADER) {
		put_u64(w, e->leader.amount);
		put_u64(w, e->leader.hlc);
		put_u64(w, e->leader.bidder);
		put_u16(w, e->leader.node);
	}
	if (e->parts & PEER_PART_BID_COUNT)
		put_counter(w, &e->bid_count);
	if (e->parts & PEER_PART_VIEWERS) {
		put_counter(w, &e->viewers_p);
		put_counter(w, &e->viewers_n);
	}
	if (e->parts & PEER_PART_DUPS)
		put_counter(w, &e->dups);
	if (e->parts & PEER_PART_SETTLEMENT) {
		const struct peer_settlement *s = &e->settlement;
		put_u64(w, s->winner.amount);
		put_u64(w, s->winner.hlc);
		put_u64(w, s->winner.bidder);
		put_u16(w, s->winner.node);
		put_u64(w, s->fencing_token);
		put_u64(w, s->settled_at_ms);
	}
}

static void get_counter(struct reader *r, struct peer_counter *c)
{
	uint8_t n = get_u8(r);
	if (n > PEER_MAX_NODES) {
		r->ok = 0;
		return;
	}
	c->count = n;
	for (unsigned int i = 0; i < n; i++) {
		c->node[i] = get_u16(r);
		c->value[i] = get_u64(r);
	}
}

/* Reads one entry; the caller checks r->ok and entry_valid. */
static void get_entry(struct reader *r, struct peer_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->auction_id = get_u64(r);
	e->parts = get_u8(r);
	if (e->parts & PEER_PART_DEFINITION) {
		struct peer_definition *d = &e->definition;
		d->hlc = get_u64(r);
		d->node = get_u16(r);
		d->phase = get_u8(r);
		d->reserve = get_u64(r);
		d->increment = get_u64(r);
		d->close_at_ms = get_u64(r);
	}
	if (e->parts & PEER_PART_LEADER) {
		e->leader.amount = get_u64(r);
		e->leader.hlc = get_u64(r);
		e->leader.bidder = get_u64(r);
		e->leader.node = get_u16(r);
	}
	if (e->parts & PEER_PART_BID_COUNT)
		get_counter(r, &e->bid_count);
	if (e->parts & PEER_PART_VIEWERS) {
		get_counter(r, &e->viewers_p);
		get_counter(r, &e->viewers_n);
	}
	if (e->parts & PEER_PART_DUPS)
		get_counter(r, &e->dups);
	if (e->parts & PEER_PART_SETTLEMENT) {
		struct peer_settlement *s = &e->settlement;
		s->winner.amount = get_u64(r);
		s->winner.hlc = get_u64(r);
		s->winner.bidder = get_u64(r);
		s->winner.node = get_u16(r);
		s->fencing_token = get_u64(r);
		s->settled_at_ms = get_u64(r);
	}
}

/* Length of n entries, or 0 when one breaks a rule or ids do not increase
 * strictly from above `after`. */
static size_t entries_len(const struct peer_entry *e, size_t n, uint64_t after)
{
	size_t total = 0;
	uint64_t prev = after;
	for (size_t i = 0; i < n; i++) {
		size_t len = peer_entry_len(&e[i]);
		if (len == 0 || e[i].auction_id <= prev)
			return 0;
		prev = e[i].auction_id;
		total += len;
	}
	return total;
}

/* Validates `count` entries from r's position; returns 0 or -1. */
static int check_entries(struct reader *r, uint16_t count, uint64_t after, struct peer_entries *out)
{
	struct peer_entry e;
	uint64_t prev = after;
	size_t start = r->off;
	for (unsigned int i = 0; i < count; i++) {
		get_entry(r, &e);
		if (!r->ok || !entry_valid(&e) || e.auction_id <= prev)
			return -1;
		prev = e.auction_id;
	}
	out->buf = r->buf + start;
	out->len = r->off - start;
	out->count = count;
	return 0;
}

int peer_entries_next(const struct peer_entries *list, size_t *off, struct peer_entry *e)
{
	if (*off >= list->len)
		return 0;
	struct reader r = {.buf = list->buf, .len = list->len, .off = *off, .ok = 1};
	get_entry(&r, e);
	*off = r.off;
	return r.ok;
}

/* ---- framing and the tag ---- */

void peer_tag(uint8_t *buf, size_t len, const struct cluster_key *key)
{
	crypto_generichash_blake2b_salt_personal(buf + len - PEER_TAG_LEN, PEER_TAG_LEN, buf,
						 len - PEER_TAG_LEN, key->bytes, sizeof(key->bytes),
						 NULL, PERSONAL);
}

static int tag_valid(const uint8_t *buf, size_t len, const struct cluster_key *key)
{
	uint8_t want[PEER_TAG_LEN];
	crypto_generichash_blake2b_salt_personal(want, sizeof(want), buf, len - PEER_TAG_LEN,
						 key->bytes, sizeof(key->bytes), NULL, PERSONAL);
	int ok = crypto_verify_16(want, buf + len - PEER_TAG_LEN) == 0;
	sodium_memzero(want, sizeof(want));
	return ok;
}

/* Checks the header and the room for a body of body_len; writes the header
 * and returns the message length, or a negative errno. */
static int begin(const struct peer_header *h, uint8_t type, size_t body_len, uint8_t *buf,
		 size_t cap, struct writer *w)
{
	if (!header_valid(h))
		return -EINVAL;
	size_t len = PEER_LEN_MIN + body_len;
	if (len > PEER_LEN_MAX || len > cap)
		return -ENOSPC;
	w->p = buf;
	put_u16(w, PEER_MAGIC);
	put_u8(w, PEER_VERSION);
	put_u8(w, type);
	put_u16(w, (uint16_t)len);
	put_u16(w, h->flags);
	put_u16(w, h->sender);
	put_u16(w, h->receiver);
	put_u32(w, 0);
	put_u64(w, h->incarnation);
	put_u64(w, h->seq);
	put_u64(w, h->hlc);
	return (int)len;
}

static int finish(uint8_t *buf, int len, const struct cluster_key *key)
{
	peer_tag(buf, (size_t)len, key);
	return len;
}

int peer_reseal(const struct peer_header *h, const uint8_t *body, size_t body_len,
		const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	if (h->type != PEER_DELTA && h->type != PEER_SYNC && h->type != PEER_KEYS)
		return -EINVAL;
	struct writer w;
	int len = begin(h, h->type, body_len, buf, cap, &w);
	if (len < 0)
		return len;
	memmove(w.p, body, body_len);
	return finish(buf, len, key);
}

int peer_encode_heartbeat(const struct peer_header *h, const struct peer_heartbeat *hb,
			  const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	struct writer w;
	if (hb->transmit_ns == 0)
		return -EINVAL;
	int len = begin(h, PEER_HEARTBEAT, 24, buf, cap, &w);
	if (len < 0)
		return len;
	put_u64(&w, hb->origin_ns);
	put_u64(&w, hb->receive_ns);
	put_u64(&w, hb->transmit_ns);
	return finish(buf, len, key);
}

int peer_encode_ack(const struct peer_header *h, const struct peer_ack *ack,
		    const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	struct writer w;
	if (!ack_valid(ack))
		return -EINVAL;
	int len = begin(h, PEER_ACK, 9 + 16 * (size_t)ack->count, buf, cap, &w);
	if (len < 0)
		return len;
	put_u64(&w, ack->incarnation);
	put_u8(&w, ack->count);
	for (unsigned int i = 0; i < ack->count; i++) {
		put_u64(&w, ack->range[i].first);
		put_u64(&w, ack->range[i].last);
	}
	return finish(buf, len, key);
}

static void put_entries(struct writer *w, const struct peer_entry *e, size_t n)
{
	put_u16(w, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		put_entry(w, &e[i]);
}

int peer_encode_delta(const struct peer_header *h, const struct peer_entry *e, size_t n,
		      const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	struct writer w;
	size_t body = entries_len(e, n, 0);
	if (n == 0 || body == 0)
		return -EINVAL;
	if (n > PEER_MAX_ENTRIES)
		return -ENOSPC;
	int len = begin(h, PEER_DELTA, 2 + body, buf, cap, &w);
	if (len < 0)
		return len;
	put_entries(&w, e, n);
	return finish(buf, len, key);
}

int peer_encode_sync_request(const struct peer_header *h, const struct peer_sync_request *req,
			     const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	struct writer w;
	if (req->sync_id == 0)
		return -EINVAL;
	int len = begin(h, PEER_SYNC_REQUEST, 16, buf, cap, &w);
	if (len < 0)
		return len;
	put_u64(&w, req->sync_id);
	put_u64(&w, req->after);
	return finish(buf, len, key);
}

static int sync_page_valid(const struct peer_sync *page)
{
	return page->sync_id != 0 && (page->next_after == 0 || page->next_after > page->after);
}

int peer_encode_sync(const struct peer_header *h, const struct peer_sync *page,
		     const struct peer_entry *e, size_t n, const struct cluster_key *key,
		     uint8_t *buf, size_t cap)
{
	struct writer w;
	size_t body = entries_len(e, n, page->after);
	if (!sync_page_valid(page) || (n > 0 && body == 0))
		return -EINVAL;
	if (n > PEER_MAX_ENTRIES)
		return -ENOSPC;
	int len = begin(h, PEER_SYNC, 24 + 2 + body, buf, cap, &w);
	if (len < 0)
		return len;
	put_u64(&w, page->sync_id);
	put_u64(&w, page->after);
	put_u64(&w, page->next_after);
	put_entries(&w, e, n);
	return finish(buf, len, key);
}

static void put_key(struct writer *w, const struct peer_key *k)
{
	put_u64(w, k->bidder);
	put_u64(w, k->request_id);
	put_u64(w, k->auction_id);
	put_u64(w, k->amount);
	put_u64(w, k->hlc);
	put_u16(w, k->node);
}

static void get_key(struct reader *r, struct peer_key *k)
{
	k->bidder = get_u64(r);
	k->request_id = get_u64(r);
	k->auction_id = get_u64(r);
	k->amount = get_u64(r);
	k->hlc = get_u64(r);
	k->node = get_u16(r);
}

int peer_encode_keys(const struct peer_header *h, const struct peer_key *k, size_t n,
		     const struct cluster_key *key, uint8_t *buf, size_t cap)
{
	struct writer w;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!key_valid(&k[i]) || (i > 0 && !key_after(&k[i], &k[i - 1])))
			return -EINVAL;
	if (n > PEER_KEYS_MAX)
		return -ENOSPC;
	int len = begin(h, PEER_KEYS, 2 + PEER_KEY_LEN * n, buf, cap, &w);
	if (len < 0)
		return len;
	put_u16(&w, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		put_key(&w, &k[i]);
	return finish(buf, len, key);
}

void peer_keys_at(const struct peer_keys *keys, unsigned int i, struct peer_key *out)
{
	struct reader r = {.buf = keys->buf,
			   .len = (size_t)keys->count * PEER_KEY_LEN,
			   .off = (size_t)i * PEER_KEY_LEN,
			   .ok = 1};
	memset(out, 0, sizeof(*out));
	if (i < keys->count)
		get_key(&r, out);
}

/* ---- decoding ---- */

static enum peer_drop check_framing(const uint8_t *buf, size_t len)
{
	if (len < PEER_LEN_MIN)
		return PEER_DROP_SHORT;
	if ((buf[0] << 8 | buf[1]) != PEER_MAGIC)
		return PEER_DROP_BAD_MAGIC;
	if (buf[2] != PEER_VERSION)
		return PEER_DROP_BAD_VERSION;
	size_t length = (size_t)(buf[4] << 8 | buf[5]);
	if (length != len || length > PEER_LEN_MAX)
		return PEER_DROP_BAD_LENGTH;
	return PEER_DROP_NONE;
}

static enum peer_drop read_header(struct reader *r, struct peer_message *m)
{
	r->off = 3;
	m->h.type = get_u8(r);
	m->length = get_u16(r);
	m->h.flags = get_u16(r);
	m->h.sender = get_u16(r);
	m->h.receiver = get_u16(r);
	uint32_t reserved = get_u32(r);
	m->h.incarnation = get_u64(r);
	m->h.seq = get_u64(r);
	m->h.hlc = get_u64(r);
	if (reserved != 0 || !header_valid(&m->h))
		return PEER_DROP_BAD_HEADER;
	return PEER_DROP_NONE;
}

static int read_heartbeat(struct reader *r, struct peer_heartbeat *hb)
{
	hb->origin_ns = get_u64(r);
	hb->receive_ns = get_u64(r);
	hb->transmit_ns = get_u64(r);
	return r->ok && hb->transmit_ns != 0 ? 0 : -1;
}

static int read_ack(struct reader *r, struct peer_ack *a)
{
	a->incarnation = get_u64(r);
	a->count = get_u8(r);
	if (a->count > PEER_ACK_MAX_RANGES)
		return -1;
	for (unsigned int i = 0; i < a->count; i++) {
		a->range[i].first = get_u64(r);
		a->range[i].last = get_u64(r);
	}
	return r->ok && ack_valid(a) ? 0 : -1;
}

static int read_delta(struct reader *r, struct peer_entries *out)
{
	uint16_t count = get_u16(r);
	if (!r->ok || count == 0)
		return -1;
	return check_entries(r, count, 0, out);
}

static int read_sync_request(struct reader *r, struct peer_sync_request *q)
{
	q->sync_id = get_u64(r);
	q->after = get_u64(r);
	return r->ok && q->sync_id != 0 ? 0 : -1;
}

static int read_sync(struct reader *r, struct peer_sync *s)
{
	s->sync_id = get_u64(r);
	s->after = get_u64(r);
	s->next_after = get_u64(r);
	uint16_t count = get_u16(r);
	if (!r->ok || !sync_page_valid(s))
		return -1;
	return check_entries(r, count, s->after, &s->entries);
}

static int read_keys(struct reader *r, struct peer_keys *out)
{
	struct peer_key k, prev = {0};
	uint16_t count = get_u16(r);
	if (!r->ok || count == 0 || count > PEER_KEYS_MAX)
		return -1;
	out->buf = r->buf + r->off;
	out->count = count;
	for (unsigned int i = 0; i < count; i++) {
		get_key(r, &k);
		if (!r->ok || !key_valid(&k) || (i > 0 && !key_after(&k, &prev)))
			return -1;
		prev = k;
	}
	return 0;
}

static int read_body(struct reader *r, struct peer_message *m, enum peer_drop *reason)
{
	int rc;
	switch (m->h.type) {
	case PEER_HEARTBEAT:
		rc = read_heartbeat(r, &m->u.heartbeat);
		break;
	case PEER_ACK:
		rc = read_ack(r, &m->u.ack);
		break;
	case PEER_DELTA:
		rc = read_delta(r, &m->u.delta);
		break;
	case PEER_SYNC_REQUEST:
		rc = read_sync_request(r, &m->u.sync_request);
		break;
	case PEER_SYNC:
		rc = read_sync(r, &m->u.sync);
		break;
	case PEER_KEYS:
		rc = read_keys(r, &m->u.keys);
		break;
	default:
		*reason = PEER_DROP_UNKNOWN_TYPE;
		return -1;
	}
	/* The body must fill the message exactly: one encoding per message. */
	if (rc < 0 || r->off != r->len) {
		*reason = PEER_DROP_MALFORMED_BODY;
		return -1;
	}
	return 0;
}

int peer_decode(const uint8_t *buf, size_t len, const struct cluster_key *key,
		struct peer_message *out, enum peer_drop *reason)
{
	*reason = check_framing(buf, len);
	if (*reason != PEER_DROP_NONE)
		return -1;
	if (!tag_valid(buf, len, key)) {
		*reason = PEER_DROP_BAD_MAC;
		return -1;
	}
	struct reader r = {.buf = buf, .len = len - PEER_TAG_LEN, .off = 0, .ok = 1};
	memset(out, 0, sizeof(*out));
	*reason = read_header(&r, out);
	if (*reason != PEER_DROP_NONE)
		return -1;
	return read_body(&r, out, reason);
}
