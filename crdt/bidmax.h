/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bid max-register: holds the leading bid of an auction.
 *
 * Order (PROTOCOL.md "Auction rules"): a bid is greater when its amount is
 * higher; on equal amounts, when its HLC stamp is earlier; then when its node
 * id is lower; then (only to make the order total over arbitrary input) when
 * its bidder id is lower. The empty register (amount 0) is below every bid.
 * Merge keeps the greater bid, so every replica converges on one winner.
 */
#ifndef BIDPLANE_BIDMAX_H
#define BIDPLANE_BIDMAX_H

#include <stdint.h>

/* The largest amount a bid, a reserve or an increment may have
 * (PROTOCOL.md: 1 <= amount <= 2^63-1): amounts stay exact as signed
 * 64-bit numbers in every client language, and reserve + increment
 * arithmetic on them cannot wrap. */
#define BID_AMOUNT_MAX INT64_MAX

struct bid {
	uint64_t amount; /* 0: no bid, else 1..BID_AMOUNT_MAX */
	uint64_t hlc;
	uint64_t bidder;
	uint16_t node;
};

/* <0, 0, >0 as a is below, equal to, above b under the order above. */
int bid_cmp(const struct bid *a, const struct bid *b);

void bidmax_init(struct bid *reg);
/* reg := max(reg, from). Returns 1 if reg changed, else 0. */
int bidmax_merge(struct bid *reg, const struct bid *from);
int bid_equal(const struct bid *a, const struct bid *b);

#endif
