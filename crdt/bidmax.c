/* SPDX-License-Identifier: BSD-3-Clause */
#include "bidmax.h"

#include <string.h>

/* Three-way comparisons of one field: >0 when x wins over y. */
#define CMP_HIGHER_WINS(x, y) (((x) > (y)) - ((x) < (y)))
#define CMP_LOWER_WINS(x, y)  (((x) < (y)) - ((x) > (y)))

int bid_cmp(const struct bid *a, const struct bid *b)
{
	/*
	 * The empty register needs no case of its own: its amount 0 is below
	 * every bid's amount (>= 1).
	 */
	if (a->amount != b->amount)
		return CMP_HIGHER_WINS(a->amount, b->amount);
	if (a->hlc != b->hlc)
		return CMP_LOWER_WINS(a->hlc, b->hlc);
	if (a->node != b->node)
		return CMP_LOWER_WINS(a->node, b->node);
	return CMP_LOWER_WINS(a->bidder, b->bidder);
}

void bidmax_init(struct bid *reg)
{
	memset(reg, 0, sizeof(*reg));
}

int bidmax_merge(struct bid *reg, const struct bid *from)
{
	if (bid_cmp(from, reg) <= 0)
		return 0;
	*reg = *from;
	return 1;
}

/* Field by field, not through bid_cmp, so tests can hold one against the other. */
int bid_equal(const struct bid *a, const struct bid *b)
{
	return a->amount == b->amount && a->hlc == b->hlc && a->bidder == b->bidder &&
	       a->node == b->node;
}
