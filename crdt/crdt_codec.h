/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compact, versioned binary encoding of CRDT states and deltas (a delta is a
 * state, so one format serves both). Big-endian throughout.
 *
 *   byte 0      format version (CRDT_CODEC_VERSION)
 *   byte 1      type tag (enum crdt_tag)
 *   then        the type's body:
 *     gcounter  u8 count, then count x (u8 replica, u64 value), replicas
 *               strictly increasing, values non-zero (zero slots omitted)
 *     pncounter gcounter body of p, then gcounter body of n
 *     bidmax    u64 amount, u64 hlc, u64 bidder, u16 node
 *     lww       u64 hlc, u64 value, u16 node
 *
 * Encoders return the number of bytes written, or -ENOSPC when cap is too
 * small (and then write nothing). Decoders return the number of bytes
 * consumed, or a negative errno and leave *out untouched: -EPROTO bad
 * version, -EINVAL wrong tag or bad body (count above CRDT_MAX_REPLICAS,
 * replica out of range, replicas not increasing, zero slot, a bidmax of
 * amount 0 that is not the all-zero empty register, a bidmax amount above
 * BID_AMOUNT_MAX), -EMSGSIZE truncated.
 * The first offending byte decides the error, so a valid encoding cut short
 * is always -EMSGSIZE. Every state has exactly one encoding, and decode
 * accepts only that one. Trailing bytes are the caller's (decode reports how
 * much it used). Decoders never read beyond len.
 */
#ifndef BIDPLANE_CRDT_CODEC_H
#define BIDPLANE_CRDT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "bidmax.h"
#include "gcounter.h"
#include "lww.h"
#include "pncounter.h"

#define CRDT_CODEC_VERSION 1

enum crdt_tag {
	CRDT_TAG_GCOUNTER = 1,
	CRDT_TAG_PNCOUNTER = 2,
	CRDT_TAG_BIDMAX = 3,
	CRDT_TAG_LWW = 4,
};

/* Largest encoding of each type. */
#define CRDT_GCOUNTER_MAX_LEN  (2 + 1 + 9 * CRDT_MAX_REPLICAS)
#define CRDT_PNCOUNTER_MAX_LEN (2 + 2 * (1 + 9 * CRDT_MAX_REPLICAS))
#define CRDT_BIDMAX_LEN	       (2 + 26)
#define CRDT_LWW_LEN	       (2 + 18)

int gcounter_encode(const struct gcounter *g, uint8_t *buf, size_t cap);
int gcounter_decode(const uint8_t *buf, size_t len, struct gcounter *out);
int pncounter_encode(const struct pncounter *c, uint8_t *buf, size_t cap);
int pncounter_decode(const uint8_t *buf, size_t len, struct pncounter *out);
int bidmax_encode(const struct bid *b, uint8_t *buf, size_t cap);
int bidmax_decode(const uint8_t *buf, size_t len, struct bid *out);
int lww_encode(const struct lww *r, uint8_t *buf, size_t cap);
int lww_decode(const uint8_t *buf, size_t len, struct lww *out);

#endif
