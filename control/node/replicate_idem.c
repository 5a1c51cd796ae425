/* SPDX-License-Identifier: BSD-3-Clause */
/* Idempotency across nodes: the keys of accepted bids, shipped and
 * compared (replicate_idem.h). */
#include "replicate_idem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sodium.h>

#include "control.h"
#include "replicate.h"
#include "wal_node.h"
#include "worker.h"

int repl_idem_init(struct control *c, char *err, size_t errlen)
{
	struct repl_idem *d = &c->repl.idem;
	const struct bp_config *cfg = &c->node->cfg;
	uint64_t capacity = (uint64_t)cfg->dedup_rate * cfg->dedup_seconds;
	if (capacity > REPL_KEYS_CAPACITY_MAX)
		capacity = REPL_KEYS_CAPACITY_MAX;
	uint64_t seed;
	randombytes_buf(&seed, sizeof(seed));
	int rc = repl_keys_init(&d->table, cfg->node_id, capacity,
				(uint64_t)cfg->dedup_seconds * 1000, seed);
	d->batch = calloc(REPL_KEYS_BATCH_MAX, sizeof(*d->batch));
	d->log = calloc(REPL_KEY_LOG, sizeof(*d->log));
	bool logged = cfg->durability != BP_DURABILITY_OFF;
	if (logged) {
		d->stage = calloc(REPL_KEY_STAGE, sizeof(*d->stage));
		d->dups = calloc(REPL_DUPS_PENDING, sizeof(*d->dups));
	}
	if (rc != 0 || !d->batch || !d->log || (logged && (!d->stage || !d->dups))) {
		snprintf(err, errlen,
			 "replication: no memory for the cluster's idempotency keys (%" PRIu64
			 " x 64 bytes: lower --dedup-rate or --dedup-seconds; and %zu bytes of "
			 "key log and its staging)",
			 capacity,
			 (size_t)REPL_KEY_LOG * sizeof(*d->log) +
			     (size_t)REPL_KEY_STAGE * sizeof(*d->stage));
		repl_idem_fini(c);
		return rc ? rc : -ENOMEM;
	}
	return 0;
}

void repl_idem_fini(struct control *c)
{
	struct repl_idem *d = &c->repl.idem;
	repl_keys_fini(&d->table);
	free(d->batch);
	free(d->log);
	free(d->stage);
	free(d->dups);
	memset(d, 0, sizeof(*d));
}

/* This node's copy of the bid under a key of auction_id is a duplicate:
 * one more in its own dups slot of the auction, shipped with the next
 * batch. */
static void count_duplicate(struct control *c, uint64_t auction_id)
{
	struct replicator *r = &c->repl;
	const struct auction_table *t = &c->node->auctions;
	control_online(c);
	struct auction *a = auction_lookup(t, auction_id);
	if (a) {
		atomic_fetch_add_explicit(auction_remote_slot(t, a, AUCTION_DUPS, 0), 1,
					  memory_order_relaxed);
		auction_note_change(a, AUCTION_DIRTY_DUPS, r->changed, &r->changed_full);
	} else {
		r->idem.stats.dups_unknown++;
	}
	control_offline(c);
}

/* With a log, the duplicate waits for its WAL_DUP record (apply_dups):
 * counted and shipped first, then lost with the node, it would be counted
 * a second time after the restart (the peers keep the count; the key
 * table would not know it was counted). A full queue leaves it counted
 * twice, never a bid counted too few times. */
static void duplicate_found(struct control *c, const struct peer_key *k)
{
	struct repl_idem *d = &c->repl.idem;
	if (!d->dups) {
		count_duplicate(c, k->auction_id);
		return;
	}
	struct wal_dup dup = {.auction_id = k->auction_id,
			      .bidder = k->bidder,
			      .request_id = k->request_id,
			      .amount = k->amount};
	uint64_t own, other;
	uint16_t other_node;
	if (d->dups_tail - d->dups_head >= REPL_DUPS_PENDING ||
	    !repl_keys_copies(&d->table, k->bidder, k->request_id, &own, &other, &other_node)) {
		d->stats.dups_unlogged++;
		return;
	}
	dup.hlc = own;
	dup.other_hlc = other;
	dup.other_node = other_node;
	d->dups[d->dups_tail++ % REPL_DUPS_PENDING] = (struct repl_dup_pending){.dup = dup};
}

static void note(struct control *c, const struct peer_key *k, uint64_t now_ms)
{
	if (repl_keys_note(&c->repl.idem.table, k, now_ms))
		duplicate_found(c, k);
}

/* The duplicates waiting: their records handed to the log in order (a
 * full ring: next loop), then counted from the oldest once durable. A
 * lost record (the writer failed) leaves its duplicate counted twice. */
static void apply_dups(struct control *c)
{
	struct repl_idem *d = &c->repl.idem;
	for (uint64_t i = d->dups_head; i < d->dups_tail; i++) {
		struct repl_dup_pending *p = &d->dups[i % REPL_DUPS_PENDING];
		if (p->submitted)
			continue;
		int rc = wal_node_control_dup(c, &p->dup, &p->receipt);
		if (rc == -EAGAIN)
			break;
		p->submitted = true;
		if (rc != 0)
			p->receipt.gen = UINT64_MAX; /* never the writer's: LOST */
	}
	while (d->dups_head < d->dups_tail) {
		struct repl_dup_pending *p = &d->dups[d->dups_head % REPL_DUPS_PENDING];
		enum wal_outcome o =
		    p->submitted ? wal_node_control_outcome(c, &p->receipt) : WAL_PENDING;
		if (o == WAL_PENDING)
			break;
		if (o == WAL_DURABLE)
			count_duplicate(c, p->dup.auction_id);
		else
			d->stats.dups_unlogged++;
		d->dups_head++;
	}
}

static int by_key(const void *a, const void *b)
{
	const struct peer_key *x = a, *y = b;
	if (x->bidder != y->bidder)
		return x->bidder < y->bidder ? -1 : 1;
	return (x->request_id > y->request_id) - (x->request_id < y->request_id);
}

static struct peer_key own_key(const struct control *c, const struct bid_key *b)
{
	return (struct peer_key){.bidder = b->bidder,
				 .request_id = b->request_id,
				 .auction_id = b->auction_id,
				 .amount = b->amount,
				 .hlc = b->hlc,
				 .node = c->repl.self};
}

/* Without a log: a worker's keys straight into the batch. */
static unsigned int drain_keys(struct control *c, struct rte_ring *ring, unsigned int have)
{
	struct repl_idem *d = &c->repl.idem;
	struct bid_key recs[64];
	while (have < REPL_KEYS_BATCH_MAX) {
		unsigned int want = REPL_KEYS_BATCH_MAX - have;
		unsigned int got = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(recs[0]),
								  want < 64 ? want : 64, NULL);
		if (got == 0)
			break;
		for (unsigned int i = 0; i < got; i++)
			d->batch[have++] = own_key(c, &recs[i]);
	}
	return have;
}

/* With a log: worker w's keys into the stage, with a mark of its log
 * producer taken after they were dequeued. A worker logs a bid before it
 * hands its key over (packet_path.c), so the mark covers their records. */
static void stage_keys(struct control *c, unsigned int w)
{
	struct repl_idem *d = &c->repl.idem;
	struct worker *wk = c->node->workers[w];
	struct bid_key recs[64];
	for (;;) {
		uint64_t room = REPL_KEY_STAGE - (d->stage_tail - d->stage_head);
		unsigned int got =
		    rte_ring_sc_dequeue_burst_elem(wk->bids.keys, recs, sizeof(recs[0]),
						   room < 64 ? (unsigned int)room : 64, NULL);
		if (got == 0)
			return;
		struct wal_receipt mark = {0};
		if (wk->wal.producer)
			wal_producer_mark(wk->wal.producer, &mark);
		for (unsigned int i = 0; i < got; i++)
			d->stage[d->stage_tail++ % REPL_KEY_STAGE] = (struct repl_key_staged){
			    .key = own_key(c, &recs[i]), .receipt = mark, .worker = (uint16_t)w};
	}
}

/* The staged keys whose bid records are durable, oldest first, into the
 * batch. A lost record (the writer failed) releases its key too: the bid
 * is in memory and counted, so its key must be compared. */
static unsigned int release_staged(struct control *c)
{
	struct repl_idem *d = &c->repl.idem;
	unsigned int have = 0;
	while (d->stage_head < d->stage_tail && have < REPL_KEYS_BATCH_MAX) {
		const struct repl_key_staged *k = &d->stage[d->stage_head % REPL_KEY_STAGE];
		const struct wal_producer *p = c->node->workers[k->worker]->wal.producer;
		if (p && wal_outcome(p, &k->receipt) == WAL_PENDING)
			break;
		d->batch[have++] = k->key;
		d->stage_head++;
	}
	return have;
}

/* Sorted keys, one record per key (a key accepted twice here within one
 * batch: the first copy, as the table keeps it). */
static unsigned int sort_unique(struct peer_key *k, unsigned int n)
{
	qsort(k, n, sizeof(*k), by_key);
	unsigned int kept = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (kept && by_key(&k[kept - 1], &k[i]) == 0)
			continue;
		k[kept++] = k[i];
	}
	return kept;
}

static uint64_t log_oldest(const struct repl_idem *d)
{
	return d->log_next > REPL_KEY_LOG ? d->log_next - REPL_KEY_LOG : 0;
}

static void log_keys(struct repl_idem *d, const struct peer_key *k, unsigned int n, uint64_t now_ms)
{
	for (unsigned int i = 0; i < n; i++)
		d->log[d->log_next++ % REPL_KEY_LOG] =
		    (struct repl_key_log_rec){.key = k[i], .at_ms = now_ms};
}

/* Up to PEER_KEYS_MAX log records from p's place into out, sorted and
 * unique (a KEYS' order; records of two batches may interleave); returns
 * how many records it consumed (*n: how many to send). */
static unsigned int take_keys(struct repl_idem *d, const struct repl_peer *p, struct peer_key *out,
			      unsigned int *n)
{
	uint64_t avail = d->log_next - p->keys_next;
	unsigned int take = avail < PEER_KEYS_MAX ? (unsigned int)avail : PEER_KEYS_MAX;
	for (unsigned int i = 0; i < take; i++)
		out[i] = d->log[(p->keys_next + i) % REPL_KEY_LOG].key;
	*n = sort_unique(out, take);
	return take;
}

/* Ships p its keys from its place in the log while its window is open,
 * REPL_KEYS_BATCH_MAX at most per loop. */
static void ship_keys_to(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	struct repl_idem *d = &r->idem;
	struct peer_key k[PEER_KEYS_MAX];
	uint8_t msg[PEER_LEN_MAX];
	if (p->keys_next < log_oldest(d)) { /* overwritten before it got them */
		d->stats.keys_overrun += log_oldest(d) - p->keys_next;
		p->keys_next = log_oldest(d);
	}
	unsigned int budget = REPL_KEYS_BATCH_MAX;
	while (p->keys_next < d->log_next && budget > 0 &&
	       peer_link_window_open(repl_link_of(c, p)) && repl_tx_room(c, p)) {
		unsigned int n, took = take_keys(d, p, k, &n);
		p->keys_next += took;
		budget = budget > took ? budget - took : 0;
		struct peer_header h = repl_placeholder_header(r, PEER_KEYS);
		int len = peer_encode_keys(&h, k, n, &r->key, msg, sizeof(msg));
		if (len <= 0)
			continue;
		repl_send_reliable(c, p, PEER_KEYS, msg + PEER_HEADER_LEN,
				   (size_t)len - PEER_LEN_MIN, now_ms);
		d->stats.keys_out += n;
	}
}

void repl_idem_ship(struct control *c, uint64_t now_ms)
{
	struct repl_idem *d = &c->repl.idem;
	struct node *n = c->node;
	unsigned int count = 0;
	for (unsigned int i = 0; i < n->nworkers; i++) {
		if (!n->workers[i]->bids.keys)
			continue;
		if (d->stage)
			stage_keys(c, i);
		else
			count = drain_keys(c, n->workers[i]->bids.keys, count);
	}
	if (d->stage)
		count = release_staged(c);
	count = sort_unique(d->batch, count);
	for (unsigned int i = 0; i < count; i++)
		note(c, &d->batch[i], now_ms);
	log_keys(d, d->batch, count, now_ms);
	if (d->dups)
		apply_dups(c);
	/* Every loop, new keys or not: a window may have opened. */
	for (unsigned int i = 0; i < c->repl.npeers; i++)
		ship_keys_to(c, &c->repl.peer[i], now_ms);
}

void repl_idem_resend(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	struct repl_idem *d = &c->repl.idem;
	uint64_t from = log_oldest(d);
	if (p->keys_next > from)
		d->stats.keys_resent += p->keys_next - from;
	p->keys_next = from;
	ship_keys_to(c, p, now_ms);
}

uint64_t repl_idem_keys_behind(const struct control *c, const struct repl_peer *p)
{
	const struct repl_idem *d = &c->repl.idem;
	return d->log_next > p->keys_next ? d->log_next - p->keys_next : 0;
}

uint64_t repl_idem_keys_age_ms(const struct control *c, const struct repl_peer *p, uint64_t now_ms)
{
	const struct repl_idem *d = &c->repl.idem;
	if (repl_idem_keys_behind(c, p) == 0 || !d->log)
		return 0;
	uint64_t from = p->keys_next > log_oldest(d) ? p->keys_next : log_oldest(d);
	uint64_t then = d->log[from % REPL_KEY_LOG].at_ms;
	return now_ms >= then ? now_ms - then : then - now_ms;
}

bool repl_idem_acceptable(struct control *c, struct repl_peer *p, uint64_t msg_hlc)
{
	if (hlc_observe(&c->clock, msg_hlc) == 0)
		return true;
	p->stats.repl_drops[REPL_DROP_CLOCK_AHEAD]++;
	return false;
}

void repl_idem_receive(struct control *c, struct repl_peer *p, const struct peer_keys *keys,
		       uint64_t msg_hlc, uint64_t now_ms)
{
	struct repl_idem *d = &c->repl.idem;
	for (unsigned int i = 0; i < keys->count; i++) {
		struct peer_key k;
		peer_keys_at(keys, i, &k);
		/* A peer speaks for its own copies only, stamped before it
		 * sent them: anything else could make another node's copy
		 * look later than it is. */
		if (k.node != p->id || k.hlc > msg_hlc) {
			d->stats.keys_refused++;
			continue;
		}
		d->stats.keys_in++;
		note(c, &k, now_ms);
	}
}

/* A restored key's place on the table's (monotonic) clock. */
static uint64_t noted_at(uint64_t age_ms)
{
	uint64_t now = node_mono_ms();
	return now > age_ms ? now - age_ms : 0;
}

void repl_idem_restore_bid(struct control *c, const struct wal_bid *b, uint64_t age_ms)
{
	struct repl_idem *d = &c->repl.idem;
	if (!d->log || age_ms >= d->table.window_ms || b->node != c->repl.self)
		return;
	struct peer_key k = {.bidder = b->bidder,
			     .request_id = b->request_id,
			     .auction_id = b->auction_id,
			     .amount = b->amount,
			     .hlc = b->hlc,
			     .node = b->node};
	repl_keys_restore(&d->table, &k, noted_at(age_ms), false);
	log_keys(d, &k, 1, node_mono_ms());
	d->stats.keys_restored++;
}

void repl_idem_restore_dup(struct control *c, const struct wal_dup *dup, uint64_t age_ms)
{
	struct repl_idem *d = &c->repl.idem;
	if (!d->log || age_ms >= d->table.window_ms)
		return;
	struct peer_key own = {.bidder = dup->bidder,
			       .request_id = dup->request_id,
			       .auction_id = dup->auction_id,
			       .amount = dup->amount,
			       .hlc = dup->hlc,
			       .node = c->repl.self};
	struct peer_key other = own;
	other.hlc = dup->other_hlc;
	other.node = dup->other_node;
	uint64_t at = noted_at(age_ms);
	repl_keys_restore(&d->table, &other, at, false);
	repl_keys_restore(&d->table, &own, at, true);
}
