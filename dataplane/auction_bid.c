/* SPDX-License-Identifier: BSD-3-Clause */
#include "auction_bid.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "stat.h"

int bid_ctx_init(struct bid_ctx *c, const struct auction_table *t, struct hlc_clock *clock,
		 unsigned int worker, uint16_t node_id, uint64_t retire_capacity)
{
	memset(c, 0, sizeof(*c));
	/* An auction has counter slots for the table's readers only. */
	if (worker >= t->nreaders)
		return -EINVAL;
	c->clock = clock;
	c->pool = t->bid_pool;
	c->worker = worker;
	c->node_id = node_id;
	return retire_queue_init(&c->retired, retire_capacity, t->bid_pool, t->qsbr,
				 (int)rte_socket_id());
}

void bid_ctx_fini(struct bid_ctx *c)
{
	if (c->spare)
		rte_mempool_put(c->pool, c->spare);
	c->spare = NULL;
	retire_queue_fini(&c->retired);
}

/* Room to retire the record a new leader would replace, reclaiming first
 * when the queue is full. */
static bool can_retire(struct bid_ctx *c)
{
	if (retire_has_room(&c->retired))
		return true;
	retire_reclaim(&c->retired);
	return retire_has_room(&c->retired);
}

static inline uint64_t add_saturating(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* One more in this worker's own slot (single writer: a relaxed load and
 * store, no locked instruction), saturating like a G-Counter's slot. */
static inline void count_one(struct auction *a, enum auction_counter k, unsigned int worker)
{
	_Atomic uint64_t *s = auction_worker_slot(a, k, worker);
	uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
	atomic_store_explicit(s, add_saturating(v, 1), memory_order_relaxed);
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

		uint64_t floor =
		    cur ? add_saturating(lead->amount,
					 atomic_load_explicit(&a->increment, memory_order_relaxed))
			: atomic_load_explicit(&a->reserve, memory_order_relaxed);
		/* A bid that may win is judged by the stamp it would get, after
		 * the leader it is judged against, so stamps of accepted bids
		 * grow with their amounts (HLC G3); one that cannot, by the
		 * clock, which is never after that stamp. */
		hlc_t stamp =
		    amount >= floor ? hlc_candidate_after(c->clock, lead->hlc) : hlc_read(c->clock);
		if (atomic_load_explicit(&a->phase, memory_order_acquire) != BP_PHASE_OPEN ||
		    hlc_ms(stamp) >= atomic_load_explicit(&a->close_at_ms, memory_order_relaxed)) {
			out->status = BP_CLOSED;
			return;
		}
		if (amount < floor) {
			out->status = BP_TOO_LOW;
			return;
		}
		/* A stamp at or above the durable HLC ceiling could be issued
		 * again after a crash (HLC G8): not serving until it is renewed. */
		if (!hlc_within_limit(c->clock, stamp)) {
			stat_inc(&c->ceiling_refusals);
			out->status = BP_NOT_SERVING;
			return;
		}
		if (cur && !can_retire(c)) {
			stat_inc(&c->retire_full);
			out->status = BP_OVERLOADED;
			out->hlc = 0;
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
			count_one(a, AUCTION_BIDS, c->worker);
			if (cur)
				retire_push(&c->retired, cur);
			out->status = BP_ACCEPTED;
			out->leading = *rec;
			auction_note_change(a, AUCTION_DIRTY_LEADER | AUCTION_DIRTY_BIDS,
					    c->changed, &c->changed_full);
			return;
		}
		stat_inc(&c->cas_retries);
	}
}

void auction_add_viewer(struct auction *a, struct bid_ctx *c, int delta)
{
	if (delta > 0)
		count_one(a, AUCTION_VIEWERS_UP, c->worker);
	else
		count_one(a, AUCTION_VIEWERS_DOWN, c->worker);
	auction_note_change(a, AUCTION_DIRTY_VIEWERS, c->changed, &c->changed_full);
}

void bid_ctx_ship_key(struct bid_ctx *c, struct bid_key *k)
{
	if (rte_ring_sp_enqueue_elem(c->keys, k, sizeof(*k)) != 0)
		stat_inc(&c->keys_full);
}

void auction_note_change(struct auction *a, uint8_t bits, struct rte_ring *changed,
			 _Atomic uint64_t *full)
{
	if (!changed)
		return;
	if (atomic_fetch_or_explicit(&a->dirty, bits, memory_order_seq_cst) != 0)
		return; /* queued already, not yet shipped */
	if (rte_ring_sp_enqueue_elem(changed, &a->id, sizeof(a->id)) != 0)
		stat_inc(full);
}

void auction_view(const struct auction_table *t, const struct auction *a, uint64_t now_ms,
		  struct auction_view *v)
{
	uint64_t up = add_saturating(auction_worker_sum(t, a, AUCTION_VIEWERS_UP),
				     auction_remote_sum(t, a, AUCTION_VIEWERS_UP));
	uint64_t down = add_saturating(auction_worker_sum(t, a, AUCTION_VIEWERS_DOWN),
				       auction_remote_sum(t, a, AUCTION_VIEWERS_DOWN));
	v->id = a->id;
	v->reserve = atomic_load_explicit(&a->reserve, memory_order_relaxed);
	v->increment = atomic_load_explicit(&a->increment, memory_order_relaxed);
	v->close_at_ms = atomic_load_explicit(&a->close_at_ms, memory_order_relaxed);
	v->phase = atomic_load_explicit(&a->phase, memory_order_acquire);
	if (v->phase == BP_PHASE_OPEN && now_ms >= v->close_at_ms)
		v->phase = BP_PHASE_CLOSED;
	v->leading = auction_leading(a);
	/* A bid accepted on two nodes (a retry on another node) counts once
	 * as soon as one of them has counted its copy as a duplicate. */
	uint64_t bids = add_saturating(auction_worker_sum(t, a, AUCTION_BIDS),
				       auction_remote_sum(t, a, AUCTION_BIDS));
	uint64_t dups = auction_remote_sum(t, a, AUCTION_DUPS);
	v->bid_count = bids > dups ? bids - dups : 0;
	v->viewers = up > down ? up - down : 0;
}

void auction_fill_state(const struct auction_table *t, const struct auction *a, uint64_t now_ms,
			struct bp_auction_state *s)
{
	struct auction_view v;
	auction_view(t, a, now_ms, &v);
	s->phase = v.phase;
	s->leading_amount = v.leading.amount;
	s->leading_bidder = v.leading.bidder;
	s->leading_hlc = v.leading.hlc;
	s->bid_count = v.bid_count;
	s->viewers = v.viewers;
	s->close_at_ms = v.close_at_ms;
}
