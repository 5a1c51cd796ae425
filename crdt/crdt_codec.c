/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRDT codec (format in crdt_codec.h). Encoders size their output before
 * writing, so a too-small buffer is left as it was. Decoders fill a local
 * value and copy it out only once the whole body has passed its checks.
 */
#include "crdt_codec.h"

#include <errno.h>

#include "crdt_be.h"

#define HEADER_LEN 2

static uint8_t *put_header(uint8_t *p, enum crdt_tag tag)
{
	p = be_put_u8(p, CRDT_CODEC_VERSION);
	return be_put_u8(p, (uint8_t)tag);
}

static int get_header(struct be_reader *r, enum crdt_tag tag)
{
	uint8_t version, got;

	if (be_get_u8(r, &version) < 0)
		return -EMSGSIZE;
	if (version != CRDT_CODEC_VERSION)
		return -EPROTO;
	if (be_get_u8(r, &got) < 0)
		return -EMSGSIZE;
	return got == tag ? 0 : -EINVAL;
}

static size_t gcounter_body_len(const struct gcounter *g)
{
	size_t len = 1;

	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++)
		if (g->slot[r] != 0)
			len += 9;
	return len;
}

static uint8_t *put_gcounter_body(uint8_t *p, const struct gcounter *g)
{
	uint8_t *count = p++;
	uint8_t n = 0;

	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++) {
		if (g->slot[r] == 0)
			continue;
		p = be_put_u8(p, (uint8_t)r);
		p = be_put_u64(p, g->slot[r]);
		n++;
	}
	*count = n;
	return p;
}

/*
 * Exactly one encoding per state: zero slots omitted, replicas in strictly
 * increasing order. Anything else is refused, so that decode followed by
 * encode gives back the bytes decoded.
 */
static int get_gcounter_body(struct be_reader *r, struct gcounter *out)
{
	unsigned int next_replica = 0;
	uint8_t count;

	gcounter_init(out);
	if (be_get_u8(r, &count) < 0)
		return -EMSGSIZE;
	if (count > CRDT_MAX_REPLICAS)
		return -EINVAL;
	for (unsigned int i = 0; i < count; i++) {
		uint8_t replica;
		uint64_t value;

		if (be_get_u8(r, &replica) < 0)
			return -EMSGSIZE;
		if (replica >= CRDT_MAX_REPLICAS || replica < next_replica)
			return -EINVAL;
		if (be_get_u64(r, &value) < 0)
			return -EMSGSIZE;
		if (value == 0)
			return -EINVAL;
		out->slot[replica] = value;
		next_replica = replica + 1u;
	}
	return 0;
}

int gcounter_encode(const struct gcounter *g, uint8_t *buf, size_t cap)
{
	uint8_t *p;

	if (cap < HEADER_LEN + gcounter_body_len(g))
		return -ENOSPC;
	p = put_header(buf, CRDT_TAG_GCOUNTER);
	p = put_gcounter_body(p, g);
	return (int)(p - buf);
}

int gcounter_decode(const uint8_t *buf, size_t len, struct gcounter *out)
{
	struct be_reader r = {.buf = buf, .len = len};
	struct gcounter g;
	int rc;

	rc = get_header(&r, CRDT_TAG_GCOUNTER);
	if (rc == 0)
		rc = get_gcounter_body(&r, &g);
	if (rc < 0)
		return rc;
	*out = g;
	return (int)r.off;
}

int pncounter_encode(const struct pncounter *c, uint8_t *buf, size_t cap)
{
	uint8_t *p;

	if (cap < HEADER_LEN + gcounter_body_len(&c->p) + gcounter_body_len(&c->n))
		return -ENOSPC;
	p = put_header(buf, CRDT_TAG_PNCOUNTER);
	p = put_gcounter_body(p, &c->p);
	p = put_gcounter_body(p, &c->n);
	return (int)(p - buf);
}

int pncounter_decode(const uint8_t *buf, size_t len, struct pncounter *out)
{
	struct be_reader r = {.buf = buf, .len = len};
	struct pncounter c;
	int rc;

	rc = get_header(&r, CRDT_TAG_PNCOUNTER);
	if (rc == 0)
		rc = get_gcounter_body(&r, &c.p);
	if (rc == 0)
		rc = get_gcounter_body(&r, &c.n);
	if (rc < 0)
		return rc;
	*out = c;
	return (int)r.off;
}

int bidmax_encode(const struct bid *b, uint8_t *buf, size_t cap)
{
	uint8_t *p;

	if (cap < CRDT_BIDMAX_LEN)
		return -ENOSPC;
	p = put_header(buf, CRDT_TAG_BIDMAX);
	p = be_put_u64(p, b->amount);
	p = be_put_u64(p, b->hlc);
	p = be_put_u64(p, b->bidder);
	p = be_put_u16(p, b->node);
	return (int)(p - buf);
}

int bidmax_decode(const uint8_t *buf, size_t len, struct bid *out)
{
	struct be_reader r = {.buf = buf, .len = len};
	struct bid b;
	int rc;

	rc = get_header(&r, CRDT_TAG_BIDMAX);
	if (rc < 0)
		return rc;
	if (be_get_u64(&r, &b.amount) < 0 || be_get_u64(&r, &b.hlc) < 0 ||
	    be_get_u64(&r, &b.bidder) < 0 || be_get_u16(&r, &b.node) < 0)
		return -EMSGSIZE;
	/*
	 * Amount 0 means "no bid" (PROTOCOL.md: leading amount and bidder 0
	 * both mean none): only the all-zero empty register may say so, so a
	 * decoded register never shows a bidder, stamp or node without a bid.
	 */
	if (b.amount == 0 && (b.hlc != 0 || b.bidder != 0 || b.node != 0))
		return -EINVAL;
	/* No node accepts a bid above the protocol's bound: a register that
	 * holds one is corrupt or hostile, and merged it would win forever. */
	if (b.amount > BID_AMOUNT_MAX)
		return -EINVAL;
	*out = b;
	return (int)r.off;
}

int lww_encode(const struct lww *reg, uint8_t *buf, size_t cap)
{
	uint8_t *p;

	if (cap < CRDT_LWW_LEN)
		return -ENOSPC;
	p = put_header(buf, CRDT_TAG_LWW);
	p = be_put_u64(p, reg->hlc);
	p = be_put_u64(p, reg->value);
	p = be_put_u16(p, reg->node);
	return (int)(p - buf);
}

int lww_decode(const uint8_t *buf, size_t len, struct lww *out)
{
	struct be_reader r = {.buf = buf, .len = len};
	struct lww reg;
	int rc;

	rc = get_header(&r, CRDT_TAG_LWW);
	if (rc < 0)
		return rc;
	if (be_get_u64(&r, &reg.hlc) < 0 || be_get_u64(&r, &reg.value) < 0 ||
	    be_get_u16(&r, &reg.node) < 0)
		return -EMSGSIZE;
	*out = reg;
	return (int)r.off;
}
