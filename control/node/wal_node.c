/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log in the node (wal_node.h): replay at start into a
 * plain aggregate (no auction memory touched while reading the files),
 * then the aggregate into the auction table before any worker reads it
 * (they run, but answer NOT_SERVING until node_state_ready), so that no
 * leading-bid record is ever replaced (nothing to retire) and the
 * workers' counter slots are written before their owners use them. The
 * main thread is the tables' only writer meanwhile, and no RCU reader:
 * nothing is retired while no worker changes anything.
 */
#include "wal_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>

#include "control.h"
#include "log.h"
#include "replicate_idem.h"
#include "snapshot_node.h"
#include "stat.h"
#include "worker.h"

/* Per producer. A worker's 16 Ki slots of 128 bytes (2 MiB) hold 16 ms of
 * a million bids a second: far more than a group commit takes. The control
 * thread's hold an --open-range of 16 Ki auctions at once; past that it
 * waits for the writer (WAL_CONTROL_WAIT_US at most per record). */
#define WAL_WORKER_SLOTS    16384
#define WAL_CONTROL_SLOTS   16384
#define WAL_SERVICE_SLOTS   64
#define WAL_CONTROL_WAIT_US 100000
#define WAL_RESUME_EVERY_MS 1000
/* A writer whose durable LSN has not moved for this long while records
 * wait is stuck (a hung pwritev or fdatasync): NOT_SERVING `wal`. One
 * fdatasync takes 0.2-1 ms here (perf/README.md, "The WAL"), and parked
 * replies took ~120 ms (p50) under the full suite's load (docs/WAL.md).
 * 5 s is a hung disk, not a slow one: a false alarm turns a slow ACCEPTED
 * into NOT_SERVING, so the bound stays well past any commit seen on the
 * loaded shared VM, yet bids get a reason within seconds, not OVERLOADED
 * for ever. */
#define WAL_STALL_MS 5000

/* One auction as the log tells it. */
struct replayed_auction {
	uint64_t id; /* 0: an empty slot */
	bool defined, closed, settled;
	struct wal_auction_open def;
	uint64_t closed_at_ms;
	struct wal_settlement settlement;
	struct bid lead;
	uint64_t bids, viewers_up, viewers_down, dups;
};

#define REPLAY_BATCH 16 /* records applied together, their keys prefetched */

struct replay {
	struct control *c;
	struct replayed_auction *slots;
	uint64_t mask, used, limit;
	uint64_t hlc_high, epoch;
	uint64_t now_ms, now_tsc, tsc_per_ms, window_ms;
	uint64_t keys, bids;
	bool table_full;
	/* Records waiting for their keys' prefetch (replay_flush). */
	struct wal_record batch[REPLAY_BATCH];
	unsigned int nbatch;
	/* Serving ARP, ping and bidctl status about every millisecond. */
	uint32_t since_poll;
	uint64_t next_poll_tsc, poll_every_tsc;
};

#define REPLAY_POLL_RECORDS 1024 /* records between two looks at the clock */

static void replay_poll(struct replay *rp)
{
	if (++rp->since_poll < REPLAY_POLL_RECORDS)
		return;
	rp->since_poll = 0;
	uint64_t now = rte_rdtsc();
	if (now < rp->next_poll_tsc)
		return;
	/* The poll is brief and no RCU reader section is open across it. */
	control_recovery_poll(rp->c);
	rp->next_poll_tsc = now + rp->poll_every_tsc;
}

static struct replayed_auction *replayed(struct replay *rp, uint64_t id)
{
	uint64_t i = (id * UINT64_C(0x9E3779B97F4A7C15)) & rp->mask;
	for (;; i = (i + 1) & rp->mask) {
		struct replayed_auction *ra = &rp->slots[i];
		if (ra->id == id)
			return ra;
		if (ra->id == 0) {
			if (rp->used >= rp->limit) {
				rp->table_full = true;
				return NULL;
			}
			rp->used++;
			ra->id = id;
			return ra;
		}
	}
}

/*
 * Remembers a key's answer as the packet path would have, aged by its
 * stamp (a key older than the window is not kept). True when the key was
 * not known yet: its effect counts (a key replayed twice counts once).
 */
static uint64_t key_age_ms(const struct replay *rp, const struct dedup_answer *answer)
{
	uint64_t ms = answer->hlc ? hlc_ms(answer->hlc) : rp->now_ms;
	return rp->now_ms > ms ? rp->now_ms - ms : 0;
}

static bool remember_key(struct replay *rp, uint8_t kind, uint64_t actor, uint64_t request_id,
			 const struct dedup_answer *answer, uint64_t hash)
{
	struct dedup_table *t = rp->c->node->dedup;
	struct dedup_key key = {.actor = actor, .request_id = request_id, .kind = kind};
	/* Out of the window: the table would forget it at once, so it is not
	 * asked at all (a claim and release cost a cache miss, and could not
	 * find it twice either). */
	uint64_t age = key_age_ms(rp, answer);
	if (age >= rp->window_ms)
		return true;
	struct dedup_claim claim;
	struct dedup_answer past;
	switch (dedup_claim(t, &key, hash, rp->now_tsc, &claim, &past)) {
	case DEDUP_DONE:
		return false;
	case DEDUP_BUSY:
		return true; /* no room: counted, not remembered */
	case DEDUP_NEW:
		break;
	}
	dedup_finish(t, &claim, answer, rp->now_tsc - age * rp->tsc_per_ms);
	rp->keys++;
	return true;
}

static void replay_bid(struct replay *rp, const struct wal_bid *b, uint64_t hash)
{
	struct dedup_answer answer = {
	    .auction_id = b->auction_id, .detail = b->amount, .hlc = b->hlc, .status = b->status};
	if (!remember_key(rp, DEDUP_BID, b->bidder, b->request_id, &answer, hash))
		return;
	if (b->status == BP_ACCEPTED) /* compared again with the peers' copies */
		repl_idem_restore_bid(rp->c, b, key_age_ms(rp, &answer));
	if (b->hlc > rp->hlc_high)
		rp->hlc_high = b->hlc;
	if (b->status != BP_ACCEPTED)
		return;
	struct replayed_auction *ra = replayed(rp, b->auction_id);
	if (!ra)
		return;
	struct bid bid = {.amount = b->amount, .hlc = b->hlc, .bidder = b->bidder, .node = b->node};
	if (bid_cmp(&bid, &ra->lead) > 0)
		ra->lead = bid;
	ra->bids++;
	rp->bids++;
}

static void replay_view(struct replay *rp, const struct wal_view *v, uint64_t hash)
{
	struct dedup_answer answer = {
	    .auction_id = v->auction_id, .detail = v->request_type, .status = v->status};
	if (!remember_key(rp, DEDUP_VIEW, v->viewer, v->request_id, &answer, hash) ||
	    v->status != BP_ACCEPTED)
		return;
	struct replayed_auction *ra = replayed(rp, v->auction_id);
	if (!ra)
		return;
	if (v->request_type == BP_WATCH)
		ra->viewers_up++;
	else
		ra->viewers_down++;
}

/* The definition is a last-writer-wins register by (def_hlc, def_node). */
static void replay_open(struct replay *rp, const struct wal_auction_open *o)
{
	struct replayed_auction *ra = replayed(rp, o->auction_id);
	if (!ra)
		return;
	if (ra->defined && (o->def_hlc < ra->def.def_hlc ||
			    (o->def_hlc == ra->def.def_hlc && o->def_node < ra->def.def_node)))
		return;
	ra->defined = true;
	ra->def = *o;
}

/* A duplicate this node counted (replicate_idem.h): counted again here
 * (from the log; a snapshot's are in its WAL_AUCTION_DUPS) when its bid
 * record came back and it is not counted yet, and inside the window its
 * key is known as counted, so that it is never counted twice. */
static void replay_dup(struct replay *rp, const struct wal_dup *d, bool count)
{
	struct dedup_answer stamp = {.hlc = d->hlc};
	bool counts = repl_idem_restore_dup(rp->c, d, key_age_ms(rp, &stamp));
	struct replayed_auction *ra = count && counts ? replayed(rp, d->auction_id) : NULL;
	if (ra)
		ra->dups++;
}

static void apply_record(struct replay *rp, const struct wal_record *r, uint64_t hash)
{
	struct replayed_auction *ra;
	switch (r->type) {
	case WAL_BID:
		replay_bid(rp, &r->u.bid, hash);
		break;
	case WAL_VIEW:
		replay_view(rp, &r->u.view, hash);
		break;
	case WAL_AUCTION_OPEN:
		replay_open(rp, &r->u.open);
		break;
	case WAL_AUCTION_CLOSE:
		if ((ra = replayed(rp, r->u.close.auction_id)) && !ra->closed) {
			ra->closed = true;
			ra->closed_at_ms = r->u.close.closed_at_ms;
		}
		break;
	case WAL_SETTLEMENT:
		if ((ra = replayed(rp, r->u.settlement.auction_id))) {
			ra->closed = ra->settled = true;
			ra->settlement = r->u.settlement;
		}
		break;
	case WAL_FENCING_EPOCH:
		if (r->u.fencing_epoch > rp->epoch)
			rp->epoch = r->u.fencing_epoch;
		break;
	case WAL_HLC_HIGH:
		if (r->u.hlc_high > rp->hlc_high)
			rp->hlc_high = r->u.hlc_high;
		break;
	case WAL_DUP:
		replay_dup(rp, &r->u.dup, true);
		break;
	default:
		break;
	}
}

/* The key of a bid or view record still inside the window: its hash, its
 * bucket prefetched. 0 for the others (not looked up). */
static uint64_t prefetch_key(const struct replay *rp, const struct wal_record *r)
{
	struct dedup_key key;
	struct dedup_answer answer = {0};
	if (r->type == WAL_BID) {
		key = (struct dedup_key){r->u.bid.bidder, r->u.bid.request_id, DEDUP_BID};
		answer.hlc = r->u.bid.hlc;
	} else if (r->type == WAL_VIEW) {
		key = (struct dedup_key){r->u.view.viewer, r->u.view.request_id, DEDUP_VIEW};
	} else {
		return 0;
	}
	if (key_age_ms(rp, &answer) >= rp->window_ms)
		return 0;
	struct dedup_table *t = rp->c->node->dedup;
	uint64_t hash = dedup_hash(t, &key);
	dedup_prefetch(t, hash);
	return hash;
}

/* Applies the batch in LSN order, every key's bucket prefetched first: the
 * idempotency table's random cache lines are what recovery waits for. */
static void replay_flush(struct replay *rp)
{
	uint64_t hash[REPLAY_BATCH];
	for (unsigned int i = 0; i < rp->nbatch; i++)
		hash[i] = prefetch_key(rp, &rp->batch[i]);
	for (unsigned int i = 0; i < rp->nbatch; i++)
		apply_record(rp, &rp->batch[i], hash[i]);
	rp->nbatch = 0;
}

static int replay_record(const struct wal_record *r, void *arg)
{
	struct replay *rp = arg;
	replay_poll(rp);
	rp->batch[rp->nbatch++] = *r;
	if (rp->nbatch == REPLAY_BATCH)
		replay_flush(rp);
	return rp->table_full ? -1 : 0;
}

/* An auction's counts and leading bid from a snapshot (wal_fold.h). */
static void replay_state(struct replay *rp, const struct wal_auction_state *st)
{
	struct replayed_auction *ra = replayed(rp, st->auction_id);
	if (!ra)
		return;
	struct bid lead = {.amount = st->lead_amount,
			   .hlc = st->lead_hlc,
			   .bidder = st->lead_bidder,
			   .node = st->lead_node};
	if (bid_cmp(&lead, &ra->lead) > 0)
		ra->lead = lead;
	ra->bids += st->bids;
	ra->viewers_up += st->viewers_up;
	ra->viewers_down += st->viewers_down;
	rp->bids += st->bids;
	if (st->lead_hlc > rp->hlc_high)
		rp->hlc_high = st->lead_hlc;
}

/* A snapshot's key, remembered at once (not batched: a snapshot holds
 * few keys beside its log, and they all come before the log's). */
static bool remember_snapshot_key(struct replay *rp, uint8_t kind, uint64_t actor,
				  uint64_t request_id, const struct dedup_answer *answer)
{
	struct dedup_key key = {.actor = actor, .request_id = request_id, .kind = kind};
	return remember_key(rp, kind, actor, request_id, answer,
			    dedup_hash(rp->c->node->dedup, &key));
}

/* A snapshot's records: its bids and views are keys only (what they
 * counted is in its WAL_AUCTION_STATE records), the rest as in the log. */
static int replay_snapshot_record(const struct wal_record *r, void *arg)
{
	struct replay *rp = arg;
	replay_poll(rp);
	switch (r->type) {
	case WAL_BID: {
		const struct wal_bid *b = &r->u.bid;
		struct dedup_answer answer = {.auction_id = b->auction_id,
					      .detail = b->amount,
					      .hlc = b->hlc,
					      .status = b->status};
		if (remember_snapshot_key(rp, DEDUP_BID, b->bidder, b->request_id, &answer) &&
		    b->status == BP_ACCEPTED)
			repl_idem_restore_bid(rp->c, b, key_age_ms(rp, &answer));
		if (b->hlc > rp->hlc_high)
			rp->hlc_high = b->hlc;
		return 0;
	}
	case WAL_DUP:
		replay_dup(rp, &r->u.dup, false);
		return 0;
	case WAL_AUCTION_DUPS: {
		struct replayed_auction *ra = replayed(rp, r->u.dups.auction_id);
		if (ra)
			ra->dups += r->u.dups.dups;
		return rp->table_full ? -1 : 0;
	}
	case WAL_VIEW: {
		const struct wal_view *v = &r->u.view;
		struct dedup_answer answer = {
		    .auction_id = v->auction_id, .detail = v->request_type, .status = v->status};
		remember_snapshot_key(rp, DEDUP_VIEW, v->viewer, v->request_id, &answer);
		return 0;
	}
	case WAL_AUCTION_STATE:
		replay_state(rp, &r->u.state);
		return rp->table_full ? -1 : 0;
	default:
		return replay_record(r, arg);
	}
}

/* A count from before the restart. With peers it is this node's cluster
 * slot 0, the base under its workers' sum that merge_counter
 * (replicate_state.c) raises to what a peer still holds of this node from
 * before the restart: kept there, a peer's higher value replaces it; put in
 * a worker's slot, it was counted a second time on top of that value
 * (every bid of the previous lives twice). A lone node has no cluster
 * slots: worker 0's then. */
static void restore_count(const struct auction_table *t, struct auction *a, enum auction_counter k,
			  uint64_t n)
{
	_Atomic uint64_t *slot =
	    t->remote_slots ? auction_remote_slot(t, a, k, 0) : auction_worker_slot(a, k, 0);
	uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
	atomic_store_explicit(slot, v > UINT64_MAX - n ? UINT64_MAX : v + n, memory_order_relaxed);
}

/* The leading bid as its own record from the table's pool: no worker
 * reads the table yet (node_state_ready), so it is stored, not swapped. */
static int install_leader(struct auction_table *t, struct auction *a, const struct bid *lead)
{
	struct bid *rec;
	if (lead->amount == 0)
		return 0;
	if (rte_mempool_get(t->bid_pool, (void **)&rec) != 0)
		return -ENOMEM;
	*rec = *lead;
	atomic_store_explicit(&a->leading, rec, memory_order_release);
	return 0;
}

static int restore_auction(struct control *c, const struct replayed_auction *ra)
{
	struct auction_table *t = &c->node->auctions;
	struct bid winner = {0};
	if (ra->settled && ra->settlement.amount)
		winner = (struct bid){.amount = ra->settlement.amount,
				      .hlc = ra->settlement.hlc,
				      .bidder = ra->settlement.bidder,
				      .node = ra->settlement.node};
	struct lifecycle_restored how = {.reserve = ra->def.reserve,
					 .increment = ra->def.increment,
					 .close_at_ms = ra->def.close_at_ms,
					 .def_hlc = ra->def.def_hlc,
					 .def_node = ra->def.def_node,
					 .closed = ra->closed,
					 .settled = ra->settled,
					 .winner = winner,
					 .settled_at_ms = ra->settlement.settled_at_ms,
					 .fencing_token = ra->settlement.fencing_token};
	struct auction *a = NULL;
	int rc = lifecycle_restore(c, ra->id, &how, &a);
	if (rc != 0 || !a)
		return rc;
	rc = install_leader(t, a, &ra->lead);
	if (rc != 0)
		return rc;
	/* No worker reads the table before the state is published
	 * (node_state_ready), and no peer is heard before it either (a
	 * G-counter's sum is all that is read). */
	restore_count(t, a, AUCTION_BIDS, ra->bids);
	restore_count(t, a, AUCTION_VIEWERS_UP, ra->viewers_up);
	restore_count(t, a, AUCTION_VIEWERS_DOWN, ra->viewers_down);
	/* Dups live in the cluster's slot 0 only (a lone node counts none). */
	if (t->remote_slots && ra->dups)
		restore_count(t, a, AUCTION_DUPS, ra->dups);
	return 0;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static int replay_into_node(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	struct wal_node *wn = &c->wal;
	struct replay rp = {.c = c,
			    .limit = n->cfg.max_auctions,
			    .now_ms = node_now_ms(n),
			    .now_tsc = rte_rdtsc(),
			    .tsc_per_ms = n->tsc_hz / 1000,
			    .window_ms = (uint64_t)n->cfg.dedup_seconds * 1000,
			    .poll_every_tsc = n->tsc_hz / 1000};
	rp.mask = pow2_at_least((uint64_t)n->cfg.max_auctions * 2) - 1;
	rp.slots = calloc(rp.mask + 1, sizeof(*rp.slots));
	if (!rp.slots) {
		snprintf(err, errlen, "recovery: no memory for %u auctions", n->cfg.max_auctions);
		return -ENOMEM;
	}
	int rc = wal_recover(n->cfg.state_dir, replay_snapshot_record, replay_record, &rp,
			     &wn->recovery, err, errlen);
	if (rc == 0)
		replay_flush(&rp); /* the last records */
	if (rp.table_full) {
		snprintf(err, errlen,
			 "%s/wal holds more auctions than --max-auctions %u: raise --max-auctions",
			 n->cfg.state_dir, n->cfg.max_auctions);
		rc = -ENOSPC;
	}
	uint64_t orphans = 0;
	for (uint64_t i = 0; rc == 0 && i <= rp.mask; i++) {
		const struct replayed_auction *ra = &rp.slots[i];
		if (ra->id == 0)
			continue;
		if (!ra->defined) { /* bids of an auction never opened here: keys only */
			orphans += ra->bids;
			continue;
		}
		rc = restore_auction(c, ra);
		if (rc != 0)
			snprintf(err, errlen, "recovery: cannot restore auction %" PRIu64 ": %s",
				 ra->id, strerror(-rc));
		else
			wn->recovered_auctions++;
	}
	free(rp.slots);
	if (rc != 0)
		return rc;
	/* The whole of it: the files, the keys and the auctions restored. */
	wn->recovery.elapsed_ns = (rte_rdtsc() - rp.now_tsc) * 1000000000 / n->tsc_hz;
	/* Stamps after the restart above every stamp before (the ceiling file
	 * says the same; the log is the second witness). */
	if (rp.hlc_high)
		hlc_domain_raise_floor(&n->hlc, rp.hlc_high);
	/* Never silent: an open record commits with or before its bids'
	 * (gather), so this is an older log or a peer's auction not adopted. */
	if (orphans)
		BP_LOG(WARNING, CONTROL,
		       "recovery: %" PRIu64 " accepted bids in %s/wal belong to auctions the log "
		       "never opened: their keys are kept, the bids not restored (the peers "
		       "hold them if they were replicated)\n",
		       orphans, n->cfg.state_dir);
	wn->orphan_bids = orphans;
	wn->recovered_keys = rp.keys;
	wn->recovered_bids = rp.bids;
	wn->hlc_logged = rp.hlc_high;
	BP_LOG(INFO, CONTROL,
	       "recovered %s/wal in %.3f s: %" PRIu64 " records (%" PRIu64 " segments, %" PRIu64
	       " bytes, snapshot at LSN %" PRIu64 "), %" PRIu64 " auctions, %" PRIu64
	       " accepted bids, %" PRIu64 " keys in their window, %" PRIu64
	       " peer datagrams dropped meanwhile%s%s\n",
	       n->cfg.state_dir, (double)wn->recovery.elapsed_ns / 1e9, wn->recovery.records,
	       wn->recovery.segments, wn->recovery.log_bytes, wn->recovery.snapshot_lsn,
	       wn->recovered_auctions, rp.bids, rp.keys, stat_read(&wn->recovery_peer_drops),
	       wn->recovery.cut_bytes ? "; cut a torn tail off " : "",
	       wn->recovery.cut_bytes ? wn->recovery.cut_file : "");
	return 0;
}

static int start_writer(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	struct wal_node *wn = &c->wal;
	/* Rings are per producer; the workers' are the large ones. */
	struct wal_writer_config wc = {.state_dir = n->cfg.state_dir,
				       .first_lsn = wn->recovery.next_lsn,
				       .producers = n->nworkers + 2,
				       /* control and service: an open before its bids */
				       .urgent_from = n->nworkers,
				       .ring_slots = WAL_WORKER_SLOTS,
				       .segment_bytes = (uint64_t)n->cfg.wal_segment_mb << 20};
	/* A full disk stops admits before a write can fail (docs/WAL.md
	 * "The reserve"): 4 MiB with one worker, 1.3 MiB more per worker. */
	wc.reserve_bytes = wal_writer_reserve_bound(wc.producers, wc.ring_slots);
	/* Zero-filled segments: shorter fdatasyncs on a journaling file
	 * system (docs/WAL.md "Zero-filled segments"). */
	wc.zero_fill = true;
	wn->writer = wal_writer_create(&wc, err, errlen);
	if (!wn->writer)
		return -EIO;
	int rc = wal_writer_start(wn->writer);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the log writer: %s", strerror(-rc));
		wal_writer_destroy(wn->writer);
		wn->writer = NULL;
		return rc;
	}
	for (unsigned int i = 0; i < n->nworkers; i++) {
		struct worker_wal *l = &n->workers[i]->wal;
		l->producer = wal_writer_producer(wn->writer, i);
		l->window_tsc = n->cfg.durability == BP_DURABILITY_ASYNC
				    ? (uint64_t)n->cfg.async_window_ms * (n->tsc_hz / 1000)
				    : 0;
		l->sync = n->cfg.durability == BP_DURABILITY_SYNC;
		atomic_store(&l->pending_hlc, UINT64_MAX);
		atomic_store(&l->lost_lo, UINT64_MAX);
		atomic_store(&l->lost_hi, 0);
	}
	wn->control = wal_writer_producer(wn->writer, n->nworkers);
	wn->service = wal_writer_producer(wn->writer, n->nworkers + 1);
	return 0;
}

int wal_node_start(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	if (n->cfg.durability == BP_DURABILITY_OFF)
		return 0;
	/* The workers run but do not read the tables (node_state_ready):
	 * this thread is their only writer until control_start publishes. */
	int rc = replay_into_node(c, err, errlen);
	if (rc == 0)
		rc = start_writer(c, err, errlen);
	if (rc == 0)
		rc = snapshot_node_start(c, err, errlen);
	return rc;
}

void wal_node_stop(struct control *c)
{
	struct wal_node *wn = &c->wal;
	if (!wn->writer)
		return;
	snapshot_node_stop(c); /* it reads the durable LSN */
	wal_writer_stop(wn->writer);
	for (unsigned int i = 0; c->node && i < c->node->nworkers; i++)
		if (c->node->workers[i])
			c->node->workers[i]->wal.producer = NULL;
	wal_writer_destroy(wn->writer);
	wn->writer = NULL;
}

/* The service thread's records are few and it is never an RCU reader: a
 * full ring waits for the writer (bounded), and one that still cannot go
 * is counted. */
static void submit_waiting(struct wal_node *wn, struct wal_producer *p, const struct wal_record *r)
{
	struct wal_receipt receipt;
	for (unsigned int waited = 0; waited <= WAL_CONTROL_WAIT_US; waited += 50) {
		int rc = wal_submit_record(p, r, &receipt);
		if (rc == 0)
			return;
		if (rc != -EAGAIN)
			break;
		rte_delay_us_sleep(50);
	}
	stat_inc(&wn->control_lost);
}

/* One control record to the writer now: 0, -EAGAIN (ring full) or -EIO
 * (the writer failed: the record is lost, as every other then). */
static int control_submit(struct wal_node *wn, const struct wal_record *r)
{
	struct wal_receipt receipt;
	int rc = wal_submit_record(wn->control, r, &receipt);
	if (rc == 0) {
		wn->last_control = receipt;
		wn->control_submitted = true;
	} else if (rc != -EAGAIN) {
		stat_inc(&wn->control_lost);
	}
	return rc;
}

void wal_node_control_flush(struct control *c)
{
	struct wal_node *wn = &c->wal;
	while (wn->backlog_head != wn->backlog_tail &&
	       control_submit(wn, &wn->backlog[wn->backlog_head % WAL_CONTROL_BACKLOG]) != -EAGAIN)
		wn->backlog_head++;
}

/* The control thread's records keep their order: behind a backlog, or
 * into it when the ring is full. Off RCU it waits for room (bounded, as
 * before); online it never waits. */
static void control_record(struct control *c, const struct wal_record *r)
{
	struct wal_node *wn = &c->wal;
	/* Off RCU the wait covers the backlog too: once one record had to
	 * wait there, every later one would otherwise skip the wait and go
	 * to the backlog, and past its 1024 be lost (an --open-range of 50 000
	 * under load lost 32 025 opens so). */
	for (unsigned int waited = 0;; waited += 50) {
		wal_node_control_flush(c);
		if (wn->backlog_head == wn->backlog_tail && control_submit(wn, r) != -EAGAIN)
			return;
		if (c->rcu.depth > 0 || waited >= WAL_CONTROL_WAIT_US)
			break;
		rte_delay_us_sleep(50);
	}
	if (wn->backlog_tail - wn->backlog_head >= WAL_CONTROL_BACKLOG) {
		stat_inc(&wn->control_lost);
		return;
	}
	wn->backlog[wn->backlog_tail++ % WAL_CONTROL_BACKLOG] = *r;
}

void wal_node_control_mark(struct control *c, struct wal_control_mark *m)
{
	struct wal_node *wn = &c->wal;
	*m = (struct wal_control_mark){
	    .armed = wn->writer && c->node->cfg.durability == BP_DURABILITY_SYNC &&
		     (wn->control_submitted || wn->backlog_head != wn->backlog_tail),
	    .receipt_known = wn->backlog_head == wn->backlog_tail,
	    .backlog_end = wn->backlog_tail,
	    .receipt = wn->last_control,
	};
}

int wal_node_control_poll(struct control *c, struct wal_control_mark *m, char *err, size_t errlen)
{
	struct wal_node *wn = &c->wal;
	if (!m->armed)
		return 0;
	if (!m->receipt_known) {
		wal_node_control_flush(c);
		/* Still queued (the indexes wrap: compare their distance). */
		if ((int)(m->backlog_end - wn->backlog_head) > 0)
			return -EAGAIN;
		/* Handed over since: the latest receipt covers it (a later
		 * record's durability implies its own, tickets are in order). */
		m->receipt = wn->last_control;
		m->receipt_known = true;
	}
	enum wal_outcome o = wal_outcome(wn->control, &m->receipt);
	if (o == WAL_DURABLE)
		return 0;
	if (o == WAL_LOST || wal_writer_error(wn->writer)) {
		char why[400];
		wal_writer_describe(wn->writer, why, sizeof(why));
		snprintf(err, errlen, "done in memory, but its log record was lost: %s", why);
		return -EIO;
	}
	return -EAGAIN;
}

int wal_node_control_dup(struct control *c, const struct wal_dup *d, struct wal_receipt *receipt)
{
	struct wal_node *wn = &c->wal;
	struct wal_record r = {.type = WAL_DUP, .u.dup = *d};
	int rc = wal_submit_record(wn->control, &r, receipt);
	if (rc != 0 && rc != -EAGAIN)
		stat_inc(&wn->control_lost);
	return rc;
}

enum wal_outcome wal_node_control_outcome(const struct control *c, const struct wal_receipt *r)
{
	return wal_outcome(c->wal.control, r);
}

void wal_node_control_define(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
			     uint64_t close_at_ms, uint64_t def_hlc, uint16_t def_node)
{
	if (!c->wal.writer)
		return;
	struct wal_record r = {.type = WAL_AUCTION_OPEN,
			       .u.open = {.auction_id = id,
					  .reserve = reserve,
					  .increment = increment,
					  .close_at_ms = close_at_ms,
					  .def_hlc = def_hlc,
					  .def_node = def_hlc ? def_node : 0}};
	if (r.u.open.def_node == 0)
		r.u.open.def_hlc = 0;
	control_record(c, &r);
}

void wal_node_control_close(struct control *c, uint64_t id, uint64_t closed_at_ms)
{
	if (!c->wal.writer)
		return;
	struct wal_record r = {.type = WAL_AUCTION_CLOSE,
			       .u.close = {.auction_id = id, .closed_at_ms = closed_at_ms}};
	control_record(c, &r);
}

void wal_node_control_settle(struct control *c, const struct auction *a)
{
	if (!c->wal.writer)
		return;
	struct wal_record r = {.type = WAL_SETTLEMENT,
			       .u.settlement = {.auction_id = a->id,
						.fencing_token = a->fencing_token,
						.settled_at_ms = a->settled_at_ms}};
	if (a->winner.amount) {
		r.u.settlement.amount = a->winner.amount;
		r.u.settlement.bidder = a->winner.bidder;
		r.u.settlement.hlc = a->winner.hlc;
		r.u.settlement.node = a->winner.node;
	}
	control_record(c, &r);
}

void wal_node_service_epoch(struct control *c, uint64_t epoch)
{
	if (!c->wal.writer || epoch == 0)
		return;
	struct wal_record r = {.type = WAL_FENCING_EPOCH, .u.fencing_epoch = epoch};
	submit_waiting(&c->wal, c->wal.service, &r);
}

void wal_node_service_hlc(struct control *c, uint64_t ceiling)
{
	if (!c->wal.writer || ceiling <= c->wal.hlc_logged)
		return;
	struct wal_record r = {.type = WAL_HLC_HIGH, .u.hlc_high = ceiling};
	submit_waiting(&c->wal, c->wal.service, &r);
	c->wal.hlc_logged = ceiling;
}

/* A durable LSN that does not move while records wait: the writer is stuck
 * (WAL_STALL_MS). A failed writer is the failure's business. */
static void watch_stall(struct control *c, bool failed, uint64_t now_ms)
{
	struct wal_node *wn = &c->wal;
	struct wal_writer_stats ws;
	wal_writer_stats(wn->writer, &ws);
	bool waiting = !failed && ws.lsn > ws.durable_lsn;
	/* The first look starts the clock: since_ms 0 would make a first
	 * commit still under way at start "stalled for 5 s" at once. */
	if (!waiting || ws.durable_lsn != wn->stall_durable || wn->stall_since_ms == 0) {
		wn->stall_durable = ws.durable_lsn;
		wn->stall_since_ms = now_ms;
		if (atomic_load_explicit(&wn->stalled_ms, memory_order_relaxed)) {
			atomic_store_explicit(&wn->stalled_ms, 0, memory_order_relaxed);
			node_not_serving(c->node, NOT_SERVING_WAL_STALLED, false);
			if (!failed) /* else the failure is what the log says next */
				BP_LOG(NOTICE, SERVICE,
				       "the write-ahead log moves again (durable LSN %" PRIu64
				       ")\n",
				       ws.durable_lsn);
		}
		return;
	}
	if (now_ms - wn->stall_since_ms < WAL_STALL_MS ||
	    atomic_load_explicit(&wn->stalled_ms, memory_order_relaxed))
		return;
	atomic_store_explicit(&wn->stall_lsn, ws.lsn, memory_order_relaxed);
	/* Never 0, which says "not stalled": the NOT_SERVING would stay. */
	atomic_store_explicit(&wn->stalled_ms, wn->stall_since_ms ? wn->stall_since_ms : 1,
			      memory_order_relaxed);
	node_not_serving(c->node, NOT_SERVING_WAL_STALLED, true);
	stat_inc(&wn->stalls);
	BP_LOG(ERR, SERVICE,
	       "not serving: the write-ahead log is stalled: LSN %" PRIu64
	       " handed over, durable LSN %" PRIu64 " has not moved for %d ms (a hung write or "
	       "fdatasync): check the disk (dmesg)\n",
	       ws.lsn, ws.durable_lsn, WAL_STALL_MS);
}

bool wal_node_full(const struct control *c)
{
	return c->wal.writer && wal_writer_full(c->wal.writer);
}

void wal_node_tick(struct control *c, uint64_t now_ms)
{
	struct wal_node *wn = &c->wal;
	struct node *n = c->node;
	if (!wn->writer)
		return;
	bool failed = wal_writer_error(wn->writer) != 0;
	/* Full: the workers refuse already; this says why. The writer tries
	 * its reserve again by itself, no resume is asked. */
	bool full = !failed && wal_writer_full(wn->writer);
	bool said = atomic_load(&n->not_serving) & NOT_SERVING_WAL;
	/* A full log that then fails (e.g. ENOSPC past the reserve) is already
	 * NOT_SERVING: its failure, records lost, is said all the same. */
	if ((failed || full) && (!said || (failed && !wn->failed_said))) {
		char why[512];
		wal_writer_describe(wn->writer, why, sizeof(why));
		node_not_serving(n, NOT_SERVING_WAL, true);
		BP_LOG(ERR, SERVICE, "not serving: %s: %s\n",
		       failed ? "the write-ahead log failed" : "the write-ahead log is full", why);
		wn->failed_said = failed;
		wn->next_resume_ms = now_ms + WAL_RESUME_EVERY_MS;
	} else if (failed && now_ms >= wn->next_resume_ms) {
		wal_writer_resume(wn->writer); /* the writer probes the disk */
		wn->next_resume_ms = now_ms + WAL_RESUME_EVERY_MS;
	} else if (!failed && !full && said) {
		node_not_serving(n, NOT_SERVING_WAL, false);
		BP_LOG(NOTICE, SERVICE, "the write-ahead log works again: serving\n");
	}
	if (!failed)
		wn->failed_said = false;
	watch_stall(c, failed, now_ms);
}

void wal_node_describe(const struct control *c, char *buf, size_t len)
{
	const struct wal_node *wn = &c->wal;
	buf[0] = '\0';
	if (!wn->writer)
		return;
	wal_writer_describe(wn->writer, buf, len);
	uint64_t since = atomic_load_explicit(&wn->stalled_ms, memory_order_relaxed);
	if (buf[0] == '\0' && since)
		snprintf(buf, len,
			 "the log writer is stalled: LSN %" PRIu64
			 " handed over, durable LSN %" PRIu64 " has not moved for %" PRIu64
			 " ms (a hung write or fdatasync): check the disk (dmesg)",
			 atomic_load_explicit(&wn->stall_lsn, memory_order_relaxed),
			 wal_durable_lsn(wn->writer), node_mono_ms() - since);
}

void wal_node_stats(const struct control *c, struct wal_writer_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (c->wal.writer)
		wal_writer_stats(c->wal.writer, s);
}

void wal_node_worker_totals(const struct control *c, struct wal_node_worker_totals *t)
{
	const struct node *n = c->node;
	*t = (struct wal_node_worker_totals){0};
	for (unsigned int w = 0; w < n->nworkers; w++) {
		const struct worker_wal *l = &n->workers[w]->wal;
		t->parked += stat_read(&l->parked);
		t->lost_replies += stat_read(&l->lost_replies);
		t->ring_full += stat_read(&l->ring_full);
		t->lagging += stat_read(&l->lagging);
		t->failed += stat_read(&l->failed);
		t->replay_held += stat_read(&l->replay_held);
		t->replay_lost += stat_read(&l->replay_lost);
	}
}
