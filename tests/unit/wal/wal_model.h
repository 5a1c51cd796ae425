/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small model of the node's state for the WAL tests: what replaying
 * records builds (auctions, leading bids, counters, idempotency keys, the
 * fencing epoch and the HLC high-water mark), random logs over a few ids so
 * that keys repeat, the state as snapshot records, and "extends": every
 * fact of one state holds in the other, which a longer replay must keep.
 * A key's first answer wins, as in the dedup table; everything else
 * commutes (max, counts, flags), so a snapshot plus any later records gives
 * the same state as the whole log.
 * Threads: one.
 */
#ifndef BIDPLANE_TESTS_WAL_MODEL_H
#define BIDPLANE_TESTS_WAL_MODEL_H

#include "prop.h"
#include "wal_test.h"
#include "wal_snapshot.h"

#define M_AUCTIONS 6
#define M_KEYS	   2048

struct m_auction {
	bool open, closed, settled;
	uint64_t reserve, lead, lead_hlc, bids, up, down, settled_amount;
};

struct m_key {
	uint8_t kind; /* WAL_BID, WAL_VIEW */
	uint64_t actor, request, auction, detail, hlc;
	uint8_t status;
};

struct model {
	struct m_auction a[M_AUCTIONS + 1];
	struct m_key keys[M_KEYS];
	unsigned int nkeys;
	uint64_t epoch, hlc_high, applied;
};

static inline struct m_key *m_find(struct model *m, uint8_t kind, uint64_t actor, uint64_t req)
{
	for (unsigned int i = 0; i < m->nkeys; i++)
		if (m->keys[i].kind == kind && m->keys[i].actor == actor &&
		    m->keys[i].request == req)
			return &m->keys[i];
	return NULL;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline void m_apply(struct model *m, const struct wal_record *r)
{
	m->applied++;
	switch (r->type) {
	case WAL_BID: {
		const struct wal_bid *b = &r->u.bid;
		if (m_find(m, WAL_BID, b->bidder, b->request_id) || m->nkeys == M_KEYS)
			return;
		m->keys[m->nkeys++] = (struct m_key){
		    WAL_BID, b->bidder, b->request_id, b->auction_id, b->amount, b->hlc, b->status};
		if (b->status == BP_ACCEPTED && b->auction_id <= M_AUCTIONS) {
			struct m_auction *a = &m->a[b->auction_id];
			if (b->amount > a->lead) {
				a->lead = b->amount;
				a->lead_hlc = b->hlc;
			}
			a->bids++;
		}
		return;
	}
	case WAL_VIEW: {
		const struct wal_view *v = &r->u.view;
		if (m_find(m, WAL_VIEW, v->viewer, v->request_id) || m->nkeys == M_KEYS)
			return;
		m->keys[m->nkeys++] =
		    (struct m_key){WAL_VIEW,	    v->viewer, v->request_id, v->auction_id,
				   v->request_type, v->hlc,    v->status};
		if (v->status == BP_ACCEPTED && v->auction_id <= M_AUCTIONS) {
			if (v->request_type == BP_WATCH)
				m->a[v->auction_id].up++;
			else
				m->a[v->auction_id].down++;
		}
		return;
	}
	case WAL_AUCTION_OPEN:
		m->a[r->u.open.auction_id].open = true;
		m->a[r->u.open.auction_id].reserve = r->u.open.reserve;
		return;
	case WAL_AUCTION_CLOSE:
		m->a[r->u.close.auction_id].closed = true;
		return;
	case WAL_SETTLEMENT:
		m->a[r->u.settlement.auction_id].settled = true;
		m->a[r->u.settlement.auction_id].settled_amount = r->u.settlement.amount;
		return;
	case WAL_FENCING_EPOCH:
		m->epoch = max_u64(m->epoch, r->u.fencing_epoch);
		return;
	case WAL_HLC_HIGH:
		m->hlc_high = max_u64(m->hlc_high, r->u.hlc_high);
		return;
	default:
		return;
	}
}

/* Whether every fact of `small` holds in `big`. */
static inline bool m_extends(const struct model *big, struct model *small)
{
	for (int i = 1; i <= M_AUCTIONS; i++) {
		const struct m_auction *s = &small->a[i], *b = &big->a[i];
		if ((s->open && (!b->open || b->reserve != s->reserve)) ||
		    (s->closed && !b->closed) ||
		    (s->settled && (!b->settled || b->settled_amount != s->settled_amount)) ||
		    s->lead > b->lead || s->bids > b->bids || s->up > b->up || s->down > b->down)
			return false;
	}
	for (unsigned int i = 0; i < small->nkeys; i++) {
		const struct m_key *k = &small->keys[i];
		const struct m_key *o = m_find((struct model *)big, k->kind, k->actor, k->request);
		if (!o || o->status != k->status || o->hlc != k->hlc || o->auction != k->auction ||
		    o->detail != k->detail)
			return false;
	}
	return small->epoch <= big->epoch && small->hlc_high <= big->hlc_high;
}

static inline bool m_equal(const struct model *a, struct model *b)
{
	return m_extends(a, b) && m_extends(b, (struct model *)a) && a->nkeys == b->nkeys;
}

/* A random record over few ids (keys repeat; each auction opens once). */
static inline struct wal_record m_random(struct prop_rng *r, struct model *opened, uint64_t *hlc)
{
	static const uint8_t bid_status[] = {BP_ACCEPTED, BP_ACCEPTED, BP_TOO_LOW, BP_CLOSED,
					     BP_UNKNOWN_AUCTION};
	uint64_t auction = 1 + prop_below(r, M_AUCTIONS);
	*hlc += 1 + prop_below(r, 5);
	switch (prop_below(r, 12)) {
	case 0:
		if (!opened->a[auction].open) {
			opened->a[auction].open = true;
			return (struct wal_record){.type = WAL_AUCTION_OPEN,
						   .u.open = {auction, 1 + prop_below(r, 100),
							      1 + prop_below(r, 9), 0, 0, 0}};
		}
		/* fall through */
	case 1:
		return (struct wal_record){.type = WAL_AUCTION_CLOSE, .u.close = {auction, *hlc}};
	case 2:
		return (struct wal_record){.type = WAL_SETTLEMENT,
					   .u.settlement = {auction, 0, 0, 0, 7, *hlc, 0}};
	case 3:
		return (struct wal_record){.type = WAL_FENCING_EPOCH,
					   .u.fencing_epoch = 1 + prop_below(r, 50)};
	case 4:
		return (struct wal_record){.type = WAL_HLC_HIGH, .u.hlc_high = *hlc + 1000};
	case 5:
	case 6:
		return (struct wal_record){
		    .type = WAL_VIEW,
		    .u.view = {auction, 1 + prop_below(r, 4), 1 + prop_below(r, 30), 0, 1,
			       prop_below(r, 2) ? BP_WATCH : BP_UNWATCH,
			       prop_below(r, 4) ? BP_ACCEPTED : BP_UNKNOWN_AUCTION}};
	default:
		return make_bid(auction, 1 + prop_below(r, 5), 1 + prop_below(r, 40),
				1 + prop_below(r, 1000), *hlc, bid_status[prop_below(r, 5)]);
	}
}

/* The state as records: what a snapshot of the node would hold. */
static inline int m_serialize(struct wal_snapshot_out *s, void *arg)
{
	const struct model *m = arg;
	int rc = 0;
	for (uint64_t i = 1; rc == 0 && i <= M_AUCTIONS; i++) {
		const struct m_auction *a = &m->a[i];
		if (a->open)
			rc = wal_snapshot_add(
			    s, &(struct wal_record){.type = WAL_AUCTION_OPEN,
						    .u.open = {i, a->reserve, 1, 0, 0, 0}});
		if (rc == 0 && a->closed)
			rc = wal_snapshot_add(
			    s, &(struct wal_record){.type = WAL_AUCTION_CLOSE, .u.close = {i, 1}});
		if (rc == 0 && a->settled)
			rc = wal_snapshot_add(
			    s, &(struct wal_record){
				   .type = WAL_SETTLEMENT,
				   .u.settlement = {i, a->settled_amount, 0, 0, 7, 1, 0}});
	}
	for (unsigned int i = 0; rc == 0 && i < m->nkeys; i++) {
		const struct m_key *k = &m->keys[i];
		struct wal_record r;
		if (k->kind == WAL_BID)
			r = make_bid(k->auction, k->actor, k->request, k->detail, k->hlc,
				     k->status);
		else
			r = (struct wal_record){.type = WAL_VIEW,
						.u.view = {k->auction, k->actor, k->request, k->hlc,
							   1, (uint8_t)k->detail, k->status}};
		rc = wal_snapshot_add(s, &r);
	}
	if (rc == 0 && m->epoch)
		rc = wal_snapshot_add(s, &(struct wal_record){.type = WAL_FENCING_EPOCH,
							      .u.fencing_epoch = m->epoch});
	if (rc == 0 && m->hlc_high)
		rc = wal_snapshot_add(
		    s, &(struct wal_record){.type = WAL_HLC_HIGH, .u.hlc_high = m->hlc_high});
	return rc;
}

static inline int m_apply_cb(const struct wal_record *r, void *arg)
{
	m_apply(arg, r);
	return 0;
}

#endif
