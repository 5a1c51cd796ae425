/* SPDX-License-Identifier: BSD-3-Clause */
/* Fenced settlement with --etcd (settlement.h). */
#include "settlement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "leader.h"
#include "replicate.h"
#include "settle_rule.h"
#include "settle_walk.h"
#include "stat.h"
#include "stats_node.h"

/* Auctions final here, not settled yet: a list of table capacity (an
 * auction is in it once). Ids, looked up at each visit: the walk is
 * bounded, so an auction settled (by a peer's entry) may be removed from
 * the table, its memory reused, before the walk comes back to it. */
struct awaiting {
	uint64_t *a; /* auction ids */
	uint32_t count, cap;
	struct settle_walk walk;
	/* The pass in progress: what settlement_counts will say at its end. */
	struct settlement_counts pass;
};
static struct awaiting aw; /* the control thread's */

/* Auctions looked at per control loop: a few microseconds, so that a
 * million auctions waiting (a peer down over a burst of closes) never
 * stall the loop; a pass over them takes len / SETTLE_STEP loops. */
#define SETTLE_STEP 256

int settlement_init(struct control *c)
{
	aw.cap = c->node->auctions.capacity;
	aw.count = 0;
	aw.walk = (struct settle_walk){0};
	aw.pass = (struct settlement_counts){0};
	aw.a = calloc(aw.cap, sizeof(*aw.a));
	return aw.a ? 0 : -ENOMEM;
}

void settlement_fini(struct control *c)
{
	(void)c;
	free(aw.a);
	aw.a = NULL;
}

void settlement_final_here(struct control *c, struct auction *a)
{
	if (a->final_here)
		return;
	a->final_here = true;
	replicate_definition_changed(c, a); /* ships the FINAL part */
	if (!a->settled && aw.count < aw.cap)
		aw.a[aw.count++] = a->id;
}

static void record(struct control *c, struct auction *a, const struct leader_record *r)
{
	struct bid w = {
	    .amount = r->amount, .hlc = r->hlc, .bidder = r->bidder, .node = r->node_id};
	lifecycle_settled(c, a, &w, r->fencing_token, r->settled_at_ms);
	replicate_definition_changed(c, a); /* ships the SETTLEMENT part */
}

void settlement_merge_peer(struct control *c, struct repl_peer *p, struct auction *a,
			   const struct peer_entry *e)
{
	if (!(e->parts & (PEER_PART_FINAL | PEER_PART_SETTLEMENT)))
		return;
	enum settle_peer_part rule = settle_peer_rule(c->etcd, p->fenced);
	if (rule == SETTLE_PART_REFUSE)
		p->stats.repl_drops[REPL_DROP_SETTLEMENT_UNFENCED]++;
	if (rule != SETTLE_PART_HONOUR)
		return;
	unsigned int i = (unsigned int)(p - c->repl.peer);
	if ((e->parts & PEER_PART_FINAL) && (e->parts & PEER_PART_DEFINITION) &&
	    e->definition.phase == PEER_PHASE_CLOSED && i < 32)
		a->final_peers |= 1u << i;
	if ((e->parts & PEER_PART_SETTLEMENT) && !a->settled) {
		const struct peer_settlement *s = &e->settlement;
		struct leader_record r = {.amount = s->winner.amount,
					  .bidder = s->winner.bidder,
					  .hlc = s->winner.hlc,
					  .node_id = s->winner.node,
					  .fencing_token = s->fencing_token,
					  .settled_at_ms = s->settled_at_ms};
		record(c, a, &r);
	}
}

static void take_answers(struct control *c)
{
	struct leader_settle_job j;
	while (leader_settle_answer(&c->leader, &j)) {
		struct auction *a = auction_lookup(&c->node->auctions, j.auction);
		if (!a)
			continue;
		a->settle_in_flight = false;
		if ((j.outcome == LEADER_SETTLED || j.outcome == LEADER_ADOPTED) && !a->settled)
			record(c, a, &j.rec);
	}
}

/* The merged leading bid: read inside a read-side section (a worker may
 * have retired an older record; none can replace it any more). */
static void hand_over(struct control *c, struct auction *a, uint64_t now_ms)
{
	struct auction_view v;
	control_online(c);
	auction_view(&c->node->auctions, a, now_ms, &v);
	control_offline(c);
	struct leader_settle_job j = {.auction = a->id,
				      .rec = {.amount = v.leading.amount,
					      .bidder = v.leading.bidder,
					      .hlc = v.leading.hlc,
					      .node_id = v.leading.node,
					      .settled_at_ms = now_ms}};
	if (leader_settle_submit(&c->leader, &j) == 0)
		a->settle_in_flight = true;
}

/* What one tick looks at, gathered once per tick. */
struct tick {
	struct control *c;
	uint64_t now_ms;
	uint32_t all; /* every configured peer's bit */
	struct leader_view lv;
};

/* The node id of the first configured peer whose final report is missing. */
static uint16_t first_missing_peer(const struct control *c, uint32_t all, uint32_t final)
{
	uint32_t missing = all & ~final;
	for (unsigned int i = 0; i < c->repl.npeers && i < 32; i++)
		if (missing & (1u << i))
			return c->repl.peer[i].id;
	return 0;
}

static void note_wait(struct settlement_counts *n, uint64_t auction, uint16_t peer)
{
	if (n->nwaits < SETTLEMENT_WAITS_SHOWN)
		n->waits[n->nwaits++] = (struct settlement_wait){.auction = auction, .peer = peer};
}

/* One awaiting auction: whether it stays in the list. Gone from the
 * table: it was settled and removed. */
static bool visit(uint64_t id, void *arg)
{
	struct tick *t = arg;
	struct auction *a = auction_lookup(&t->c->node->auctions, id);
	if (!a)
		return false;
	struct settle_facts f = {.settled = a->settled,
				 .final_here = a->final_here,
				 .peers_all = t->all,
				 .peers_final = a->final_peers,
				 .leader = t->lv.leader,
				 .etcd_reachable = t->lv.reachable,
				 .in_flight = a->settle_in_flight};
	enum settle_wait w = settle_rule(&f);
	if (w == SETTLE_DONE)
		return false;
	struct settlement_counts *n = &aw.pass;
	n->pending++;
	if (w == SETTLE_WAIT_PEER) {
		n->waiting_for_peer++;
		note_wait(n, a->id, first_missing_peer(t->c, t->all, a->final_peers));
	} else if (w == SETTLE_WAIT_ETCD) {
		n->waiting_for_etcd++;
		note_wait(n, a->id, 0);
	} else if (w == SETTLE_READY) {
		hand_over(t->c, a, t->now_ms);
	}
	return true;
}

void settlement_tick(struct control *c, uint64_t now_ms)
{
	if (!c->etcd)
		return;
	take_answers(c);
	struct tick t = {.c = c,
			 .now_ms = now_ms,
			 .all = c->repl.npeers >= 32 ? UINT32_MAX : (1u << c->repl.npeers) - 1};
	leader_read(&c->leader, &t.lv);
	/* A bounded step; the counts shown are those of the last whole pass. */
	if (settle_walk_step(&aw.walk, aw.a, &aw.count, SETTLE_STEP, visit, &t)) {
		c->settlements = aw.pass;
		aw.pass = (struct settlement_counts){0};
	}
	c->settlements.done = stat_read(&c->stats->auctions_settled);
}
