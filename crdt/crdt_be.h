/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Big-endian byte access for the CRDT codec (internal to crdt/).
 *
 * Writers trust the caller to have checked the room (encoders size their
 * output before writing anything). Readers check it themselves: a reader
 * never reads past its length and reports -EMSGSIZE instead.
 */
#ifndef BIDPLANE_CRDT_BE_H
#define BIDPLANE_CRDT_BE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

static inline uint8_t *be_put_u8(uint8_t *p, uint8_t v)
{
	p[0] = v;
	return p + 1;
}

static inline uint8_t *be_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* Spelled out byte by byte: compilers fuse this into one store (and a load
 * below) with a byte swap, without any alignment or endianness assumption. */
static inline uint8_t *be_put_u64(uint8_t *p, uint64_t v)
{
	p[0] = (uint8_t)(v >> 56);
	p[1] = (uint8_t)(v >> 48);
	p[2] = (uint8_t)(v >> 40);
	p[3] = (uint8_t)(v >> 32);
	p[4] = (uint8_t)(v >> 24);
	p[5] = (uint8_t)(v >> 16);
	p[6] = (uint8_t)(v >> 8);
	p[7] = (uint8_t)v;
	return p + 8;
}

/* A bounds-checked read position in a byte string. */
struct be_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

/* Whether n more bytes can be read. */
static inline int be_reader_has(const struct be_reader *r, size_t n)
{
	return r->len - r->off >= n;
}

static inline int be_get_u8(struct be_reader *r, uint8_t *v)
{
	if (!be_reader_has(r, 1))
		return -EMSGSIZE;
	*v = r->buf[r->off++];
	return 0;
}

static inline int be_get_u16(struct be_reader *r, uint16_t *v)
{
	if (!be_reader_has(r, 2))
		return -EMSGSIZE;
	*v = (uint16_t)((unsigned int)r->buf[r->off] << 8 | r->buf[r->off + 1]);
	r->off += 2;
	return 0;
}

static inline int be_get_u64(struct be_reader *r, uint64_t *v)
{
	const uint8_t *p = r->buf + r->off;

	if (!be_reader_has(r, 8))
		return -EMSGSIZE;
	*v = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
	     (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	     (uint64_t)p[6] << 8 | (uint64_t)p[7];
	r->off += 8;
	return 0;
}

#endif
