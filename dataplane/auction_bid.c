/* SPDX-License-Identifier: BSD-3-Clause */
#include "auction_bid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "stat.h"

/* Retired records a worker may hold before it must reclaim. Each accepted
 * bid retires one; a grace period lasts about one loop of every worker. */
#define RETIRED_QUEUE_SIZE  4096
#define RETIRED_RECLAIM_AT  256
#define RETIRED_RECLAIM_MAX 64

static void records_free(void *pool, void *elems, unsigned int n)
{
	struct bid **recs = elems;
	rte_mempool_put_bulk(pool, (void **)recs, n);
}

int bid_ctx_init(struct bid_ctx *c, const struct auction_table *t, struct hlc_clock *clock,
		 unsigned int worker, uint16_t node_id)
{
	char name[RTE_RCU_QSBR_DQ_NAMESIZE];
	snprintf(name, sizeof(name), "bp_retired_%u", worker);
	memset(c, 0, sizeof(*c));
	c->clock = clock;
	c->pool = t->bid_pool;
	c->worker = worker;
	c->node_id = node_id;
	struct rte_rcu_qsbr_dq_parameters p = {
	    .name = name,
	    .size = RETIRED_QUEUE_SIZE,
	    .esize = sizeof(struct bid *),
	    .trigger_reclaim_limit = RETIRED_RECLAIM_AT,
	    .max_reclaim_size = RETIRED_RECLAIM_MAX,
	    .free_fn = records_free,
	    .p = t->bid_pool,
	    .v = t->qsbr,
	};
	c->retired = rte_rcu_qsbr_dq_create(&p);
	return c->retired ? 0 : -rte_errno;
}

void bid_ctx_fini(struct bid_ctx *c)
{
	if (c->spare)
		rte_mempool_put(c->pool, c->spare);
	c->spare = NULL;
	if (c->retired)
		rte_rcu_qsbr_dq_delete(c->retired);
	c->retired = NULL;
}

void bid_ctx_reclaim(struct bid_ctx *c)
{
	unsigned int freed, pending, available;
	rte_rcu_qsbr_dq_reclaim(c->retired, RETIRED_RECLAIM_MAX, &freed, &pending, &available);
}

static inline uint64_t add_saturating(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void retire(struct bid_ctx *c, struct bid *old)
{
	if (rte_rcu_qsbr_dq_enqueue(c->retired, &old) != 0)
		stat_inc(&c->retire_failures);
}

void auction_place_bid(struct auction *a, struct bid_ctx *c, uint64_t bidder, uint64_t amount,
		       struct bid_outcome *out)
{
	struct bid *cur = atomic_load_explicit(&a->leading, memory_order_acquire);
	for (;;) {
		struct bid none = {0};
		const struct bid *lead = cur ? cur : &none;
		out->hlc = 0; /* only an accepted bid spends a stamp */
		out->leading = *lead;

		uint64_t floor = cur ? add_saturating(lead->amount, a->increment) : a->reserve;
		/* A bid that may win is judged by the stamp it would get, after
		 * the leader it is judged against, so stamps of accepted bids
		 * grow with their amounts (HLC G3); one that cannot, by the
		 * clock, which is never after that stamp. */
		hlc_t stamp =
		    amount >= floor ? hlc_candidate_after(c->clock, lead->hlc) : hlc_read(c->clock);
		if (atomic_load_explicit(&a->phase, memory_order_acquire) != BP_PHASE_OPEN ||
		    hlc_ms(stamp) >= a->close_at_ms) {
			out->status = BP_CLOSED;
			return;
		}
		if (amount < floor) {
			out->status = BP_TOO_LOW;
			return;
		}
		struct bid *rec = c->spare;
		if (!rec && rte_mempool_get(c->pool, (void **)&rec) != 0) {
			stat_inc(&c->record_shortage);
			out->status = BP_OVERLOADED;
			out->hlc = 0;
			return;
		}
		c->spare = rec;
		*rec = (struct bid){
		    .amount = amount, .hlc = stamp, .bidder = bidder, .node = c->node_id};
		/* Release: the record's fields are visible before the pointer.
		 * On failure cur is reloaded and the decision is made again. */
		if (atomic_compare_exchange_strong_explicit(
			&a->leading, &cur, rec, memory_order_acq_rel, memory_order_acquire)) {
			hlc_issue(c->clock, stamp);
			out->hlc = stamp;
			c->spare = NULL;
			gcounter_workers_add(&a->bids, c->worker, 1);
			if (cur)
				retire(c, cur);
			out->status = BP_ACCEPTED;
			out->leading = *rec;
			return;
		}
		stat_inc(&c->cas_retries);
	}
}

void auction_add_viewer(struct auction *a, const struct bid_ctx *c, int delta)
{
	if (delta > 0)
		gcounter_workers_add(&a->viewers_up, c->worker, 1);
	else
		gcounter_workers_add(&a->viewers_down, c->worker, 1);
}

void auction_fill_state(const struct auction *a, uint64_t now_ms, struct bp_auction_state *s)
{
	struct bid lead = auction_leading(a);
	uint64_t up = gcounter_workers_sum(&a->viewers_up);
	uint64_t down = gcounter_workers_sum(&a->viewers_down);
	s->phase = atomic_load_explicit(&a->phase, memory_order_acquire);
	if (s->phase == BP_PHASE_OPEN && now_ms >= a->close_at_ms)
		s->phase = BP_PHASE_CLOSED;
	s->leading_amount = lead.amount;
	s->leading_bidder = lead.bidder;
	s->leading_hlc = lead.hlc;
	s->bid_count = gcounter_workers_sum(&a->bids);
	s->viewers = up > down ? up - down : 0;
	s->close_at_ms = a->close_at_ms;
}
