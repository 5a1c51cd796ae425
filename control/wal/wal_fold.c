/* SPDX-License-Identifier: BSD-3-Clause */
#include "wal_fold.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bidmax.h"
#include "hlc.h"
#include "proto.h"

#define FIRST_SLOTS 1024

struct fold_key {
	uint64_t at_ms; /* when it was answered (its stamp, else an upper bound) */
	struct wal_record rec;
	bool used;
};

struct wal_fold {
	struct wal_fold_auction *auctions;
	uint64_t amask, aused, max_auctions;
	struct fold_key *keys;
	uint64_t kmask, kused;
	uint64_t now_ms, window_ms;
	uint64_t key_bound_ms; /* loading: the last high-water mark, in ms */
	uint64_t epoch, hlc_high;
	const char *error;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

struct wal_fold *wal_fold_create(uint64_t max_auctions, uint64_t now_ms, uint64_t window_ms)
{
	struct wal_fold *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->auctions = calloc(FIRST_SLOTS, sizeof(*f->auctions));
	f->keys = calloc(FIRST_SLOTS, sizeof(*f->keys));
	if (!f->auctions || !f->keys) {
		wal_fold_destroy(f);
		return NULL;
	}
	f->amask = f->kmask = FIRST_SLOTS - 1;
	f->max_auctions = max_auctions;
	f->now_ms = now_ms;
	f->window_ms = window_ms;
	return f;
}

void wal_fold_destroy(struct wal_fold *f)
{
	if (!f)
		return;
	free(f->auctions);
	free(f->keys);
	free(f);
}

const char *wal_fold_error(const struct wal_fold *f)
{
	return f->error;
}

/* The auctions' table: open addressing by id, at most half full. */
static struct wal_fold_auction *auction_slot(struct wal_fold_auction *t, uint64_t mask, uint64_t id)
{
	for (uint64_t i = mix(id) & mask;; i = (i + 1) & mask)
		if (t[i].id == id || t[i].id == 0)
			return &t[i];
}

static bool grow_auctions(struct wal_fold *f)
{
	uint64_t mask = f->amask * 2 + 1;
	struct wal_fold_auction *t = calloc(mask + 1, sizeof(*t));
	if (!t)
		return false;
	for (uint64_t i = 0; i <= f->amask; i++)
		if (f->auctions[i].id)
			*auction_slot(t, mask, f->auctions[i].id) = f->auctions[i];
	free(f->auctions);
	f->auctions = t;
	f->amask = mask;
	return true;
}

static struct wal_fold_auction *auction_of(struct wal_fold *f, uint64_t id)
{
	struct wal_fold_auction *a = auction_slot(f->auctions, f->amask, id);
	if (a->id == id)
		return a;
	if (f->aused >= f->max_auctions) {
		f->error = "more auctions than --max-auctions: raise --max-auctions";
		return NULL;
	}
	if ((f->aused + 1) * 2 > f->amask + 1) {
		if (!grow_auctions(f)) {
			f->error = "out of memory for the auctions";
			return NULL;
		}
		a = auction_slot(f->auctions, f->amask, id);
	}
	f->aused++;
	a->id = id;
	a->state.auction_id = id;
	return a;
}

/* The keys' table: by (type, actor, request id), at most half full. */
static void key_of(const struct wal_record *r, uint64_t *actor, uint64_t *request)
{
	if (r->type == WAL_BID) {
		*actor = r->u.bid.bidder;
		*request = r->u.bid.request_id;
	} else if (r->type == WAL_DUP) {
		*actor = r->u.dup.bidder;
		*request = r->u.dup.request_id;
	} else {
		*actor = r->u.view.viewer;
		*request = r->u.view.request_id;
	}
}

static struct fold_key *key_slot(struct fold_key *t, uint64_t mask, const struct wal_record *r)
{
	uint64_t actor, request;
	key_of(r, &actor, &request);
	for (uint64_t i = mix(actor ^ mix(request ^ r->type)) & mask;; i = (i + 1) & mask) {
		if (!t[i].used)
			return &t[i];
		uint64_t a, q;
		key_of(&t[i].rec, &a, &q);
		if (t[i].rec.type == r->type && a == actor && q == request)
			return &t[i];
	}
}

static bool grow_keys(struct wal_fold *f)
{
	uint64_t mask = f->kmask * 2 + 1;
	struct fold_key *t = calloc(mask + 1, sizeof(*t));
	if (!t)
		return false;
	for (uint64_t i = 0; i <= f->kmask; i++)
		if (f->keys[i].used)
			*key_slot(t, mask, &f->keys[i].rec) = f->keys[i];
	free(f->keys);
	f->keys = t;
	f->kmask = mask;
	return true;
}

static uint64_t stamp_of(const struct wal_record *r)
{
	if (r->type == WAL_DUP)
		return r->u.dup.hlc;
	return r->type == WAL_BID ? r->u.bid.hlc : r->u.view.hlc;
}

/*
 * Holds r's key. True when its effect counts: the key is new, or the one
 * held was answered a whole window before this one (the node had forgotten
 * it and answered anew; both stamps known). `at_ms`: when r was answered.
 */
static bool hold_key(struct wal_fold *f, const struct wal_record *r, uint64_t at_ms)
{
	struct fold_key *k = key_slot(f->keys, f->kmask, r);
	if (k->used) {
		bool anew = stamp_of(r) && stamp_of(&k->rec) && at_ms >= k->at_ms + f->window_ms;
		if (anew) {
			k->rec = *r;
			k->at_ms = at_ms;
		}
		return anew;
	}
	if ((f->kused + 1) * 2 > f->kmask + 1) {
		if (!grow_keys(f)) {
			f->error = "out of memory for the idempotency keys";
			return false;
		}
		k = key_slot(f->keys, f->kmask, r);
	}
	f->kused++;
	*k = (struct fold_key){.at_ms = at_ms, .rec = *r, .used = true};
	k->rec.lsn = 0;
	return true;
}

static void raise_hlc(struct wal_fold *f, uint64_t hlc)
{
	if (hlc > f->hlc_high)
		f->hlc_high = hlc;
}

static void count_bid(struct wal_fold *f, const struct wal_bid *b)
{
	if (b->status != BP_ACCEPTED)
		return;
	struct wal_fold_auction *a = auction_of(f, b->auction_id);
	if (!a)
		return;
	struct bid bid = {.amount = b->amount, .hlc = b->hlc, .bidder = b->bidder, .node = b->node};
	struct bid lead = {.amount = a->state.lead_amount,
			   .hlc = a->state.lead_hlc,
			   .bidder = a->state.lead_bidder,
			   .node = a->state.lead_node};
	if (bid_cmp(&bid, &lead) > 0) {
		a->state.lead_amount = bid.amount;
		a->state.lead_hlc = bid.hlc;
		a->state.lead_bidder = bid.bidder;
		a->state.lead_node = bid.node;
	}
	a->state.bids++;
}

static void count_view(struct wal_fold *f, const struct wal_view *v)
{
	if (v->status != BP_ACCEPTED)
		return;
	struct wal_fold_auction *a = auction_of(f, v->auction_id);
	if (!a)
		return;
	if (v->request_type == BP_WATCH)
		a->state.viewers_up++;
	else
		a->state.viewers_down++;
}

/* The definition is a last-writer-wins register by (def_hlc, def_node). */
static void fold_open(struct wal_fold *f, const struct wal_auction_open *o)
{
	struct wal_fold_auction *a = auction_of(f, o->auction_id);
	if (!a || (a->defined && (o->def_hlc < a->def.def_hlc ||
				  (o->def_hlc == a->def.def_hlc && o->def_node < a->def.def_node))))
		return;
	a->defined = true;
	a->def = *o;
}

/* An auction's counts from a snapshot: they add to what the fold holds
 * (nothing, when the snapshot is loaded first). */
static void fold_state(struct wal_fold *f, const struct wal_auction_state *s)
{
	struct wal_fold_auction *a = auction_of(f, s->auction_id);
	if (!a)
		return;
	a->state.bids += s->bids;
	a->state.viewers_up += s->viewers_up;
	a->state.viewers_down += s->viewers_down;
	struct bid bid = {.amount = s->lead_amount,
			  .hlc = s->lead_hlc,
			  .bidder = s->lead_bidder,
			  .node = s->lead_node};
	struct bid lead = {.amount = a->state.lead_amount,
			   .hlc = a->state.lead_hlc,
			   .bidder = a->state.lead_bidder,
			   .node = a->state.lead_node};
	if (bid_cmp(&bid, &lead) > 0) {
		a->state.lead_amount = bid.amount;
		a->state.lead_hlc = bid.hlc;
		a->state.lead_bidder = bid.bidder;
		a->state.lead_node = bid.node;
	}
}

/* What every record does the same way in a snapshot and in the log. */
static void fold_common(struct wal_fold *f, const struct wal_record *r)
{
	struct wal_fold_auction *a;
	switch (r->type) {
	case WAL_AUCTION_OPEN:
		fold_open(f, &r->u.open);
		break;
	case WAL_AUCTION_CLOSE:
		if ((a = auction_of(f, r->u.close.auction_id)) && !a->closed) {
			a->closed = true;
			a->closed_at_ms = r->u.close.closed_at_ms;
		}
		break;
	case WAL_SETTLEMENT:
		if ((a = auction_of(f, r->u.settlement.auction_id))) {
			a->settled = true;
			a->settlement = r->u.settlement;
		}
		break;
	case WAL_FENCING_EPOCH:
		if (r->u.fencing_epoch > f->epoch)
			f->epoch = r->u.fencing_epoch;
		break;
	case WAL_HLC_HIGH:
		raise_hlc(f, r->u.hlc_high);
		break;
	default:
		break;
	}
}

/* A duplicate counted: once per key (its own namespace in the keys). */
static void count_dup(struct wal_fold *f, const struct wal_dup *d)
{
	struct wal_fold_auction *a = auction_of(f, d->auction_id);
	if (a)
		a->dups++;
}

int wal_fold_snapshot_record(const struct wal_record *r, void *fold)
{
	struct wal_fold *f = fold;
	struct wal_fold_auction *a;
	switch (r->type) {
	case WAL_DUP: /* counted in the snapshot's WAL_AUCTION_DUPS */
		hold_key(f, r, hlc_ms(r->u.dup.hlc));
		break;
	case WAL_AUCTION_DUPS:
		if ((a = auction_of(f, r->u.dups.auction_id)))
			a->dups += r->u.dups.dups;
		break;
	case WAL_BID:
	case WAL_VIEW: {
		/* A key without a stamp was answered by the time the
		 * high-water mark before it says (wal_fold_emit). */
		uint64_t hlc = stamp_of(r);
		uint64_t at = hlc ? hlc_ms(hlc) : f->key_bound_ms ? f->key_bound_ms : f->now_ms;
		hold_key(f, r, at);
		raise_hlc(f, hlc);
		break;
	}
	case WAL_AUCTION_STATE:
		fold_state(f, &r->u.state);
		break;
	case WAL_HLC_HIGH:
		f->key_bound_ms = hlc_ms(r->u.hlc_high);
		fold_common(f, r);
		break;
	default:
		fold_common(f, r);
		break;
	}
	return f->error ? -1 : 0;
}

int wal_fold_log_record(const struct wal_record *r, void *fold)
{
	struct wal_fold *f = fold;
	switch (r->type) {
	case WAL_BID:
	case WAL_VIEW: {
		/* Without a stamp, now is the latest it can have been answered. */
		uint64_t hlc = stamp_of(r);
		if (!hold_key(f, r, hlc ? hlc_ms(hlc) : f->now_ms))
			break;
		raise_hlc(f, hlc);
		if (r->type == WAL_BID)
			count_bid(f, &r->u.bid);
		else
			count_view(f, &r->u.view);
		break;
	}
	case WAL_DUP:
		if (hold_key(f, r, hlc_ms(r->u.dup.hlc)))
			count_dup(f, &r->u.dup);
		break;
	case WAL_AUCTION_STATE:
	case WAL_AUCTION_DUPS:
		break; /* snapshots only */
	default:
		fold_common(f, r);
		break;
	}
	return f->error ? -1 : 0;
}

static bool in_window(const struct wal_fold *f, const struct fold_key *k)
{
	return k->at_ms >= f->now_ms || f->now_ms - k->at_ms < f->window_ms;
}

static int emit_auction(struct wal_snapshot_out *s, const struct wal_fold_auction *a)
{
	int rc = 0;
	const struct wal_auction_state *st = &a->state;
	if (a->defined)
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_AUCTION_OPEN, .u.open = a->def});
	if (rc == 0 && (st->bids || st->viewers_up || st->viewers_down || st->lead_amount))
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_AUCTION_STATE, .u.state = *st});
	if (rc == 0 && a->dups)
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_AUCTION_DUPS, .u.dups = {a->id, a->dups}});
	if (rc == 0 && a->closed)
		rc = wal_snapshot_add(s, &(struct wal_record){.type = WAL_AUCTION_CLOSE,
							      .u.close = {a->id, a->closed_at_ms}});
	if (rc == 0 && a->settled)
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_SETTLEMENT, .u.settlement = a->settlement});
	return rc;
}

static int by_time(const void *a, const void *b)
{
	const struct fold_key *x = *(const struct fold_key *const *)a;
	const struct fold_key *y = *(const struct fold_key *const *)b;
	return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/*
 * The keys without a stamp (answers other than ACCEPTED), oldest first,
 * each time preceded by a high-water mark of when they were answered at
 * the latest, so that loading gives them back the same time: it never
 * grows from one snapshot to the next, and they leave with their window.
 * The marks are below the snapshot's first one, so replaying them as
 * maxima changes nothing.
 */
static int emit_stampless(struct wal_snapshot_out *s, const struct wal_fold *f)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i <= f->kmask; i++)
		n += f->keys[i].used && !stamp_of(&f->keys[i].rec) && in_window(f, &f->keys[i]);
	if (n == 0)
		return 0;
	const struct fold_key **v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (uint64_t i = 0; i <= f->kmask; i++)
		if (f->keys[i].used && !stamp_of(&f->keys[i].rec) && in_window(f, &f->keys[i]))
			v[n++] = &f->keys[i];
	qsort(v, n, sizeof(*v), by_time);
	int rc = 0;
	uint64_t marked = 0;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		if (v[i]->at_ms != marked && v[i]->at_ms) {
			marked = v[i]->at_ms;
			rc = wal_snapshot_add(
			    s, &(struct wal_record){.type = WAL_HLC_HIGH,
						    .u.hlc_high = hlc_make(marked, 0)});
		}
		if (rc == 0)
			rc = wal_snapshot_add(s, &v[i]->rec);
	}
	free(v);
	return rc;
}

int wal_fold_emit(struct wal_snapshot_out *s, void *fold)
{
	struct wal_fold *f = fold;
	int rc = 0;
	if (f->epoch)
		rc = wal_snapshot_add(s, &(struct wal_record){.type = WAL_FENCING_EPOCH,
							      .u.fencing_epoch = f->epoch});
	/* At least now: every key's time is at most this. */
	uint64_t high = f->hlc_high > hlc_make(f->now_ms, 0) ? f->hlc_high : hlc_make(f->now_ms, 0);
	if (rc == 0 && high)
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_HLC_HIGH, .u.hlc_high = high});
	for (uint64_t i = 0; rc == 0 && i <= f->amask; i++)
		if (f->auctions[i].id)
			rc = emit_auction(s, &f->auctions[i]);
	for (uint64_t i = 0; rc == 0 && i <= f->kmask; i++)
		if (f->keys[i].used && stamp_of(&f->keys[i].rec) && in_window(f, &f->keys[i]))
			rc = wal_snapshot_add(s, &f->keys[i].rec);
	if (rc == 0)
		rc = emit_stampless(s, f);
	return rc;
}

void wal_fold_totals(const struct wal_fold *f, struct wal_fold_totals *t)
{
	*t = (struct wal_fold_totals){
	    .auctions = f->aused, .keys = f->kused, .epoch = f->epoch, .hlc_high = f->hlc_high};
	for (uint64_t i = 0; i <= f->kmask; i++)
		if (f->keys[i].used && in_window(f, &f->keys[i]))
			t->keys_in_window++;
}

bool wal_fold_auction(const struct wal_fold *f, uint64_t id, struct wal_fold_auction *out)
{
	const struct wal_fold_auction *a = auction_slot(f->auctions, f->amask, id);
	if (id == 0 || a->id != id)
		return false;
	*out = *a;
	return true;
}
