/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Auction lifecycle. Closing is two-step so settlement is final: the phase
 * turns CLOSED, then the control thread waits for an RCU grace period; after
 * it no worker can be in the middle of accepting a bid (a worker decides
 * and installs a bid between two quiescent reports), so the leading bid
 * read then is the winner.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>

#include "log.h"
#include "control.h"
#include "ctl.h"
#include "stat.h"
#include "replicate.h"
#include "stats_node.h"
#include "wal_node.h"

/* Settled auctions stay queryable this long, then leave the table. */
#define SETTLED_RETENTION_MS (10 * 60 * 1000)
/* Longest wait of bidctl close for its grace period. */
#define CLOSE_WAIT_MS 200
/* Most auctions handled per tick; the rest wait for the next tick. */
#define TICK_BATCH 4096

/* bidctl and the control protocol check the node's bounds. */
_Static_assert(CTL_DURATION_MAX_S == BP_DURATION_MAX_S, "one duration bound");
_Static_assert(CTL_AMOUNT_MAX == BID_AMOUNT_MAX, "one amount bound");

void lifecycle_due_at(struct control *c, uint64_t when_ms)
{
	if (when_ms < c->next_due_ms)
		c->next_due_ms = when_ms;
}

/* Its open record goes to the log before the auction is published (unless
 * auction_open would refuse it: no record of an auction never opened):
 * a worker that sees the auction hands over its bids' records after it,
 * and the writer commits a batch's control records with or before them
 * (wal_writer.c gather), so no durable ACCEPTED bid ever lacks its
 * auction's definition after a restart. */
static void log_definition(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
			   uint64_t close_at, uint64_t def_hlc, uint16_t def_node)
{
	const struct auction_table *t = &c->node->auctions;
	if (id == 0 || reserve == 0 || increment == 0 || reserve > BID_AMOUNT_MAX ||
	    increment > BID_AMOUNT_MAX || auction_lookup(t, id) ||
	    t->open + t->closed >= t->capacity)
		return;
	wal_node_control_define(c, id, reserve, increment, close_at, def_hlc, def_node);
}

/* A new auction in the table: counted, shown, due at its close time, and
 * its definition stamped (hlc, node) for the peers' last-writer-wins. */
static struct auction *opened(struct control *c, uint64_t id, uint64_t close_at, uint64_t def_hlc,
			      uint16_t def_node)
{
	struct auction *a = auction_lookup(&c->node->auctions, id);
	a->def_hlc = def_hlc;
	a->def_node = def_node;
	stat_inc(&c->stats->auctions_opened);
	stats_node_auction_opened(c, id);
	lifecycle_due_at(c, close_at);
	return a;
}

int lifecycle_open(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
		   uint64_t duration_s, char *err, size_t errlen)
{
	struct node *n = c->node;
	if (duration_s == 0 || duration_s > BP_DURATION_MAX_S) {
		snprintf(err, errlen, "duration %" PRIu64 " s is out of range 1..%u (10 years)",
			 duration_s, BP_DURATION_MAX_S);
		return -EINVAL;
	}
	uint64_t now = node_now_ms(n);
	/* The close time is an HLC millisecond: it must fit the stamp's 48 bits. */
	if (now > HLC_MAX_MS - duration_s * 1000) {
		snprintf(err, errlen,
			 "duration %" PRIu64 " s: the close time would not fit the HLC (the "
			 "wall clock reads %" PRIu64 " ms)",
			 duration_s, now);
		return -EINVAL;
	}
	uint64_t close_at = now + duration_s * 1000;
	uint64_t def_hlc = hlc_now(&c->clock);
	log_definition(c, id, reserve, increment, close_at, def_hlc, n->cfg.node_id);
	int rc = auction_open(&n->auctions, id, reserve, increment, close_at);
	switch (rc) {
	case 0:
		opened(c, id, close_at, def_hlc, n->cfg.node_id);
		replicate_definition_changed(c, auction_lookup(&n->auctions, id));
		return 0;
	case -EEXIST:
		snprintf(err, errlen, "auction %" PRIu64 " already exists", id);
		break;
	case -ENOSPC:
		snprintf(err, errlen, "auction table full (%u): raise --max-auctions",
			 n->auctions.capacity);
		break;
	case -EINVAL:
		snprintf(err, errlen, "auction id, reserve and increment must be >= 1");
		break;
	case -ERANGE:
		snprintf(err, errlen,
			 "reserve %" PRIu64 " and increment %" PRIu64 " must be 1..%" PRIu64
			 " (no bid can exceed %" PRIu64 ")",
			 reserve, increment, (uint64_t)BID_AMOUNT_MAX, (uint64_t)BID_AMOUNT_MAX);
		break;
	default:
		snprintf(err, errlen, "cannot open auction %" PRIu64 ": %s", id, strerror(-rc));
	}
	return rc;
}

static void note_settlement(struct control *c, const struct auction *a, uint64_t bids)
{
	struct settle_notes *sn = &c->settle_notes;
	uint64_t head = atomic_load_explicit(&sn->head, memory_order_relaxed);
	if (head - atomic_load_explicit(&sn->tail, memory_order_acquire) >= SETTLE_NOTES) {
		stat_inc(&sn->dropped);
		return;
	}
	sn->ring[head % SETTLE_NOTES] =
	    (struct settle_note){.id = a->id, .winner = a->winner, .bids = bids};
	atomic_store_explicit(&sn->head, head + 1, memory_order_release);
}

void settle_notes_log(struct control *c)
{
	struct settle_notes *sn = &c->settle_notes;
	uint64_t tail = atomic_load_explicit(&sn->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&sn->head, memory_order_acquire);
	for (; tail != head; tail++) {
		const struct settle_note *n = &sn->ring[tail % SETTLE_NOTES];
		uint64_t skipped = 0;
		/* Thousands of auctions may close at once: a line each, up to a
		 * rate; the rest are counted and said (bidctl shows each). */
		if (!log_allow(&sn->log_limit, node_now_ms(c->node), &skipped)) {
			atomic_store_explicit(&sn->tail, tail + 1, memory_order_release);
			continue;
		}
		if (skipped)
			BP_LOG(NOTICE, LIFECYCLE,
			       "%" PRIu64 " settlements not logged (more than %.0f a second)\n",
			       skipped, sn->log_limit.per_second);
		BP_LOG(INFO, LIFECYCLE,
		       "settled auction %" PRIu64 ": winner bidder %" PRIu64 " amount %" PRIu64
		       " hlc %" PRIu64 ".%u, %" PRIu64 " bids\n",
		       n->id, n->winner.bidder, n->winner.amount, hlc_ms(n->winner.hlc),
		       hlc_logical(n->winner.hlc), n->bids);
		atomic_store_explicit(&sn->tail, tail + 1, memory_order_release);
	}
}

/* The winner is read inside a read-side section: the leading record may
 * be retired by a worker at any time before the auction closed. */
static void settle(struct control *c, struct auction *a, uint64_t now_ms)
{
	/* With --etcd the leader settles, once every node's bids are merged
	 * (settlement.h): here the auction is only final on this node. */
	if (c->etcd) {
		settlement_final_here(c, a);
		return;
	}
	struct auction_view v;
	control_online(c);
	auction_view(&c->node->auctions, a, now_ms, &v);
	control_offline(c);
	lifecycle_settled(c, a, &v.leading, atomic_load(&c->node->fencing_epoch), now_ms);
}

void lifecycle_settled(struct control *c, struct auction *a, const struct bid *winner,
		       uint64_t fencing_token, uint64_t settled_at_ms)
{
	struct auction_view v;
	control_online(c);
	auction_view(&c->node->auctions, a, node_now_ms(c->node), &v);
	control_offline(c);
	a->winner = *winner;
	a->fencing_token = fencing_token;
	a->settled = true;
	a->settled_at_ms = settled_at_ms;
	wal_node_control_settle(c, a);
	stat_inc(&c->stats->auctions_settled);
	stats_node_auction_settled(c, a->id);
	note_settlement(c, a, v.bid_count);
	lifecycle_due_at(c, node_now_ms(c->node) + SETTLED_RETENTION_MS);
}

/* A closed auction settles on a later tick, once the grace period after
 * `token` has passed. An auction is in the ring at most once (closed, not
 * yet settled), so the ring of table capacity never overflows. */
static void queue_settling(struct control *c, struct auction *a, uint64_t token)
{
	c->settling[c->settling_head++ % c->settling_cap] = (struct settling){a, token};
}

/*
 * Waits up to CLOSE_WAIT_MS for a grace period after `token`: bidctl close
 * answers with the settlement when the workers pass one by then (they do
 * within microseconds unless one is stalled). A stalled reader must not
 * hold the control thread: past the bound the auction settles on a later
 * tick (settle_ready). The control thread is offline here.
 */
static bool grace_passed_within(struct control *c, uint64_t token)
{
	struct rte_rcu_qsbr *qs = c->node->auctions.qsbr;
	for (unsigned int waited = 0; waited < CLOSE_WAIT_MS * 10; waited++) {
		if (rte_rcu_qsbr_check(qs, token, false) == 1)
			return true;
		if (atomic_load_explicit(&c->node->force_quit, memory_order_relaxed))
			break;
		rte_delay_us_sleep(100);
	}
	return false;
}

int lifecycle_close(struct control *c, uint64_t id, char *err, size_t errlen)
{
	struct node *n = c->node;
	struct auction *a = auction_lookup(&n->auctions, id);
	if (!a) {
		snprintf(err, errlen, "no auction %" PRIu64, id);
		return -ENOENT;
	}
	if (auction_close(&n->auctions, a) != 0) {
		snprintf(err, errlen, "auction %" PRIu64 " is already closed", id);
		return -EALREADY;
	}
	stat_inc(&c->stats->auctions_closed);
	wal_node_control_close(c, id, node_now_ms(n));
	/* A new definition (closed) that wins over the open one on every peer. */
	a->def_hlc = hlc_now(&c->clock);
	a->def_node = n->cfg.node_id;
	replicate_definition_changed(c, a);
	uint64_t token = rte_rcu_qsbr_start(n->auctions.qsbr);
	uint64_t now = node_now_ms(n);
	if (grace_passed_within(c, token))
		settle(c, a, node_now_ms(n));
	else
		queue_settling(c, a, token);
	lifecycle_due_at(c, now + SETTLED_RETENTION_MS);
	return 0;
}

void lifecycle_close_replicated(struct control *c, struct auction *a)
{
	struct node *n = c->node;
	if (auction_close(&n->auctions, a) != 0)
		return;
	stat_inc(&c->stats->auctions_closed);
	wal_node_control_close(c, a->id, node_now_ms(n));
	queue_settling(c, a, rte_rcu_qsbr_start(n->auctions.qsbr));
	lifecycle_due_at(c, node_now_ms(n) + SETTLED_RETENTION_MS);
}

struct auction *lifecycle_adopt(struct control *c, uint64_t id, const struct peer_definition *d)
{
	struct node *n = c->node;
	uint64_t now = node_now_ms(n);
	/* Long settled and removed here: history, not an auction to revive. */
	if (d->phase == PEER_PHASE_CLOSED && d->close_at_ms + SETTLED_RETENTION_MS <= now)
		return NULL;
	if (d->close_at_ms > HLC_MAX_MS)
		return NULL;
	log_definition(c, id, d->reserve, d->increment, d->close_at_ms, d->hlc, d->node);
	int rc = auction_open(&n->auctions, id, d->reserve, d->increment, d->close_at_ms);
	if (rc != 0) {
		stat_inc(&c->stats->auctions_adopt_failed);
		return NULL;
	}
	struct auction *a = opened(c, id, d->close_at_ms, d->hlc, d->node);
	if (d->phase == PEER_PHASE_CLOSED)
		lifecycle_close_replicated(c, a);
	return a;
}

int lifecycle_restore(struct control *c, uint64_t id, const struct lifecycle_restored *how,
		      struct auction **out)
{
	struct node *n = c->node;
	uint64_t now = node_now_ms(n);
	*out = NULL;
	/* Long settled: it would leave the table on the first tick. */
	if (how->settled && how->settled_at_ms + SETTLED_RETENTION_MS <= now)
		return 0;
	int rc = auction_open(&n->auctions, id, how->reserve, how->increment, how->close_at_ms);
	if (rc != 0)
		return rc;
	struct auction *a = auction_lookup(&n->auctions, id);
	a->def_hlc = how->def_hlc;
	a->def_node = how->def_node;
	stat_inc(&c->stats->auctions_opened);
	stats_node_auction_opened(c, id);
	lifecycle_due_at(c, how->close_at_ms);
	*out = a;
	if (!how->closed)
		return 0;
	auction_close(&n->auctions, a);
	stat_inc(&c->stats->auctions_closed);
	if (how->settled) {
		a->winner = how->winner;
		a->settled = true;
		a->settled_at_ms = how->settled_at_ms;
		a->fencing_token = how->fencing_token;
		stat_inc(&c->stats->auctions_settled);
		stats_node_auction_settled(c, id);
		lifecycle_due_at(c, how->settled_at_ms + SETTLED_RETENTION_MS);
	} else {
		/* Closed before the crash, never settled: settles on a tick (no
		 * worker can bid on it: none answers before the state is
		 * published). */
		queue_settling(c, a, rte_rcu_qsbr_start(n->auctions.qsbr));
		lifecycle_due_at(c, now + SETTLED_RETENTION_MS);
	}
	return 0;
}

struct due {
	uint64_t now_ms;
	uint64_t next_ms; /* the earliest time something is due after now */
	bool truncated;	  /* a batch filled up: look again next tick */
	unsigned int nclose, nremove;
	struct auction *close[TICK_BATCH];
	struct auction *remove[TICK_BATCH];
};

static int collect_due(struct auction *a, void *arg)
{
	struct due *d = arg;
	uint8_t phase = atomic_load_explicit(&a->phase, memory_order_relaxed);
	uint64_t when = UINT64_MAX;
	if (phase == BP_PHASE_OPEN)
		when = a->close_at_ms;
	else if (phase == BP_PHASE_CLOSED && a->settled)
		when = a->settled_at_ms + SETTLED_RETENTION_MS;
	if (when > d->now_ms) {
		if (when < d->next_ms)
			d->next_ms = when;
		return 0;
	}
	if (phase == BP_PHASE_OPEN && d->nclose < TICK_BATCH)
		d->close[d->nclose++] = a;
	else if (phase == BP_PHASE_CLOSED && d->nremove < TICK_BATCH)
		d->remove[d->nremove++] = a;
	else
		d->truncated = true;
	return 0;
}

int lifecycle_init(struct control *c)
{
	c->settling_cap = c->node->auctions.capacity;
	c->settling = calloc(c->settling_cap, sizeof(*c->settling));
	if (!c->settling)
		return -ENOMEM;
	return settlement_init(c);
}

void lifecycle_fini(struct control *c)
{
	settlement_fini(c);
	free(c->settling);
	c->settling = NULL;
}

/* Settles the closed auctions whose grace period has passed, oldest first
 * (later entries have later tokens). */
static void settle_ready(struct control *c, uint64_t now_ms)
{
	struct rte_rcu_qsbr *qs = c->node->auctions.qsbr;
	while (c->settling_tail != c->settling_head) {
		struct settling *s = &c->settling[c->settling_tail % c->settling_cap];
		if (rte_rcu_qsbr_check(qs, s->token, false) != 1)
			return;
		settle(c, s->a, now_ms);
		c->settling_tail++;
	}
}

void lifecycle_tick(struct control *c, uint64_t now_ms)
{
	static struct due d; /* large; the control thread is the only user */
	struct node *n = c->node;
	/* A full log (docs/WAL.md "The reserve"): closes and settlements wait,
	 * so that they do not use up the reserve (4096 closes a tick, then
	 * their settlements; review 5 lost 3544 of them to ENOSPC). The
	 * workers refuse bids past close_at by its time meanwhile. */
	if (wal_node_full(c))
		return;
	settle_ready(c, now_ms);
	settlement_tick(c, now_ms);
	if (now_ms < c->next_due_ms)
		return; /* nothing to close or remove yet: no scan */
	d.now_ms = now_ms;
	d.next_ms = UINT64_MAX;
	d.truncated = false;
	d.nclose = d.nremove = 0;
	auction_iterate(&n->auctions, collect_due, &d);
	/* Settled auctions become due for removal after their retention. */
	c->next_due_ms = d.truncated ? now_ms : d.next_ms;
	if (d.nclose && now_ms + SETTLED_RETENTION_MS < c->next_due_ms)
		c->next_due_ms = now_ms + SETTLED_RETENTION_MS;

	for (unsigned int i = 0; i < d.nclose; i++) {
		auction_close(&n->auctions, d.close[i]);
		stat_inc(&c->stats->auctions_closed);
		wal_node_control_close(c, d.close[i]->id, now_ms);
	}
	/* Settled once every worker that may have been placing a bid has
	 * passed a quiescent state: a later tick, without waiting here. An
	 * auction is in the ring at most once (closed, not yet settled), so
	 * the ring of table capacity never overflows. */
	if (d.nclose) {
		uint64_t token = rte_rcu_qsbr_start(n->auctions.qsbr);
		for (unsigned int i = 0; i < d.nclose; i++)
			queue_settling(c, d.close[i], token);
		settle_ready(c, now_ms);
	}
	for (unsigned int i = 0; i < d.nremove; i++)
		if (auction_remove(&n->auctions, d.remove[i]) == 0)
			stat_inc(&c->stats->auctions_removed);
}
