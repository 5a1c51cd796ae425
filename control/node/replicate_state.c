/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Between an auction of the table and a peer entry (docs/PEER_PROTOCOL.md,
 * "Entries"): what this node ships of an auction, and how what a peer
 * shipped merges in. Every function here runs on the control thread.
 * repl_entry_of runs inside control_online() .. control_offline() (the
 * caller's): the leading record it reads stays valid there.
 * repl_merge_entry goes online itself, only while it reads and replaces
 * the leading record: the rest of a merge may log and hand records to the
 * WAL, which no RCU reader may do. The auctions and the index need no
 * read-side section on this thread: it is the only one that removes or
 * rebuilds them.
 */
#include <rte_mempool.h>

#include "control.h"
#include "replicate_state.h"
#include "stat.h"

static uint64_t own_count(const struct auction_table *t, const struct auction *a,
			  enum auction_counter k)
{
	if (k >= AUCTION_WORKER_COUNTERS)
		return 0; /* dups: counted in slot 0 itself (replicate_idem.c) */
	return auction_worker_sum(t, a, k);
}

static uint64_t add_saturating(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The value of counter slot `slot` as the cluster should see it: for this
 * node (slot 0) its workers' sum on top of what it counted before a
 * restart; for a peer what it last told us. */
static uint64_t slot_value(const struct control *c, struct auction *a, enum auction_counter k,
			   unsigned int slot)
{
	const struct auction_table *t = &c->node->auctions;
	uint64_t v = atomic_load_explicit(auction_remote_slot(t, a, k, slot), memory_order_relaxed);
	return slot == 0 ? add_saturating(v, own_count(t, a, k)) : v;
}

/* A counter's slots in increasing node id, zero slots left out; only this
 * node's unless `full`. */
static void counter_of(const struct control *c, struct auction *a, enum auction_counter k,
		       bool full, struct peer_counter *out)
{
	const struct replicator *r = &c->repl;
	out->count = 0;
	for (unsigned int i = 0; i <= r->npeers; i++) {
		unsigned int slot = r->slot_order[i];
		if (!full && slot != 0)
			continue;
		uint64_t v = slot_value(c, a, k, slot);
		if (v == 0)
			continue;
		out->node[out->count] = r->slot_node[i];
		out->value[out->count] = v;
		out->count++;
	}
}

void repl_entry_of(const struct control *c, struct auction *a, bool full, struct peer_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->auction_id = a->id;
	/* The definition always: an entry that arrives before the auction's
	 * opening (reordered, or after a loss) still creates it. */
	e->parts = PEER_PART_DEFINITION;
	uint8_t phase = atomic_load_explicit(&a->phase, memory_order_acquire);
	e->definition = (struct peer_definition){
	    .hlc = a->def_hlc,
	    .node = a->def_node,
	    .phase = phase == BP_PHASE_OPEN ? PEER_PHASE_OPEN : PEER_PHASE_CLOSED,
	    .reserve = atomic_load_explicit(&a->reserve, memory_order_relaxed),
	    .increment = atomic_load_explicit(&a->increment, memory_order_relaxed),
	    .close_at_ms = atomic_load_explicit(&a->close_at_ms, memory_order_relaxed),
	};
	e->leader = auction_leading(a);
	if (e->leader.amount)
		e->parts |= PEER_PART_LEADER;
	counter_of(c, a, AUCTION_BIDS, full, &e->bid_count);
	if (e->bid_count.count)
		e->parts |= PEER_PART_BID_COUNT;
	counter_of(c, a, AUCTION_VIEWERS_UP, full, &e->viewers_p);
	counter_of(c, a, AUCTION_VIEWERS_DOWN, full, &e->viewers_n);
	if (e->viewers_p.count || e->viewers_n.count)
		e->parts |= PEER_PART_VIEWERS;
	counter_of(c, a, AUCTION_DUPS, full, &e->dups);
	if (e->dups.count)
		e->parts |= PEER_PART_DUPS;
	/* Fenced settlement (settlement.h): only with --etcd; without it
	 * every node settles on its own, as a lone node does. */
	if (c->etcd && a->final_here && phase != BP_PHASE_OPEN)
		e->parts |= PEER_PART_FINAL;
	if (c->etcd && a->settled && a->fencing_token) {
		e->parts |= PEER_PART_SETTLEMENT;
		e->settlement = (struct peer_settlement){.winner = a->winner,
							 .fencing_token = a->fencing_token,
							 .settled_at_ms = a->settled_at_ms};
	}
}

bool repl_merge_room(struct control *c, unsigned int entries)
{
	struct replicator *r = &c->repl;
	if (retire_pending(&r->retired) + entries > r->retired.mask + 1) {
		retire_reclaim(&r->retired);
		if (retire_pending(&r->retired) + entries > r->retired.mask + 1)
			return false;
	}
	return rte_mempool_avail_count(r->bid_pool) >= entries + 1;
}

/* The leading bid by the max-register order, alongside the workers' CAS:
 * a worker that loses the race judges its bid again against this one. */
static void merge_leader(struct control *c, struct auction *a, const struct bid *b)
{
	struct replicator *r = &c->repl;
	struct bid *cur = atomic_load_explicit(&a->leading, memory_order_acquire);
	for (;;) {
		if (cur && bid_cmp(b, cur) <= 0)
			return;
		struct bid *rec = r->spare;
		if (!rec && rte_mempool_get(r->bid_pool, (void **)&rec) != 0)
			return; /* repl_merge_room said there was one */
		r->spare = rec;
		*rec = *b;
		if (atomic_compare_exchange_strong_explicit(
			&a->leading, &cur, rec, memory_order_acq_rel, memory_order_acquire)) {
			r->spare = NULL;
			if (cur)
				retire_push(&r->retired, cur);
			return;
		}
	}
}

static int slot_of(struct replicator *r, uint16_t node)
{
	if (node == r->self)
		return 0;
	const struct repl_peer *p = repl_peer_by_id(r, node);
	return p ? (int)p->slot : -1;
}

/*
 * Slots merge by maximum. This node's own slot, as peers hold it, is what
 * it counted before it restarted (its workers start again from zero): it
 * becomes the base under the workers' sum. A value up to what this node
 * publishes now (base + workers' sum, which only grows) may be an echo of
 * this life: ignored. One above it can only be from before the restart,
 * whenever it comes (a peer cut off during the start is heard later):
 * the base then, or this node and its peers would disagree for ever.
 */
static void merge_counter(struct control *c, struct repl_peer *p, struct auction *a,
			  enum auction_counter k, const struct peer_counter *in)
{
	const struct auction_table *t = &c->node->auctions;
	for (unsigned int i = 0; i < in->count; i++) {
		int slot = slot_of(&c->repl, in->node[i]);
		if (slot < 0) {
			p->stats.repl_drops[REPL_DROP_UNKNOWN_SLOT]++;
			continue;
		}
		_Atomic uint64_t *s = auction_remote_slot(t, a, k, (unsigned int)slot);
		uint64_t have = atomic_load_explicit(s, memory_order_relaxed);
		uint64_t want = in->value[i];
		if (want <= (slot == 0 ? slot_value(c, a, k, 0) : have))
			continue;
		atomic_store_explicit(s, want, memory_order_relaxed);
		/* What this node publishes rose: every peer must get it (one
		 * that missed this node's last deltas before the restart
		 * holds less, and would for ever). */
		if (slot == 0)
			auction_note_change(a,
					    k == AUCTION_BIDS	? AUCTION_DIRTY_BIDS
					    : k == AUCTION_DUPS ? AUCTION_DIRTY_DUPS
								: AUCTION_DIRTY_VIEWERS,
					    c->repl.changed, &c->repl.changed_full);
	}
}

static bool definition_later(const struct peer_definition *d, const struct auction *a)
{
	return d->hlc > a->def_hlc || (d->hlc == a->def_hlc && d->node > a->def_node);
}

/* The definition is a last-writer-wins register by (hlc, node); a closed
 * phase wins whatever its stamp (closing is final). */
static void merge_definition(struct control *c, struct auction *a, const struct peer_definition *d)
{
	if (definition_later(d, a)) {
		atomic_store_explicit(&a->reserve, d->reserve, memory_order_relaxed);
		atomic_store_explicit(&a->increment, d->increment, memory_order_relaxed);
		atomic_store_explicit(&a->close_at_ms, d->close_at_ms, memory_order_relaxed);
		a->def_hlc = d->hlc;
		a->def_node = d->node;
		lifecycle_due_at(c, d->close_at_ms);
	}
	if (d->phase == PEER_PHASE_CLOSED &&
	    atomic_load_explicit(&a->phase, memory_order_relaxed) == BP_PHASE_OPEN)
		lifecycle_close_replicated(c, a);
}

/* Whether every stamp the entry carries is at most the message's HLC (the
 * sender's clock when it sent: no stamp it holds can be later). */
bool repl_entry_stamps_valid(const struct peer_entry *e, uint64_t msg_hlc)
{
	if ((e->parts & PEER_PART_DEFINITION) && e->definition.hlc > msg_hlc)
		return false;
	if ((e->parts & PEER_PART_LEADER) && e->leader.hlc > msg_hlc)
		return false;
	return true;
}

void repl_merge_entry(struct control *c, struct repl_peer *p, const struct peer_entry *e)
{
	struct auction *a = auction_lookup(&c->node->auctions, e->auction_id);
	if (!a) {
		if (!(e->parts & PEER_PART_DEFINITION)) {
			p->stats.repl_drops[REPL_DROP_UNKNOWN_AUCTION]++;
			return;
		}
		a = lifecycle_adopt(c, e->auction_id, &e->definition);
		if (!a)
			return;
	} else if (e->parts & PEER_PART_DEFINITION) {
		merge_definition(c, a, &e->definition);
	}
	if (e->parts & PEER_PART_LEADER) {
		control_online(c);
		merge_leader(c, a, &e->leader);
		control_offline(c);
	}
	if (e->parts & PEER_PART_BID_COUNT)
		merge_counter(c, p, a, AUCTION_BIDS, &e->bid_count);
	if (e->parts & PEER_PART_VIEWERS) {
		merge_counter(c, p, a, AUCTION_VIEWERS_UP, &e->viewers_p);
		merge_counter(c, p, a, AUCTION_VIEWERS_DOWN, &e->viewers_n);
	}
	if (e->parts & PEER_PART_DUPS)
		merge_counter(c, p, a, AUCTION_DUPS, &e->dups);
	/* After the leader part: a FINAL bit stands for a merged bid. */
	settlement_merge_peer(c, p, a, e);
	p->stats.entries_in++;
}
