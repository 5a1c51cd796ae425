/* SPDX-License-Identifier: BSD-3-Clause */
/* The per-packet path (packet_path.h). */
#include <string.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "auction_bid.h"
#include "dedup.h"
#include "fast_path.h"
#include "packet_path.h"
#include "park.h"
#include "stat.h"
#include "wall_cache.h"

/* The per-request stages, inlined into worker_process_burst whatever the
 * compiler's size estimate: each call and its prologue cost ~20
 * instructions per request, and a burst calls them for every frame. */
#define PATH_INLINE static inline __attribute__((always_inline))

static unsigned int hw_checksum_flags(const struct rte_mbuf *m)
{
	unsigned int f = 0;
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= PKT_HW_IP_CKSUM_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= PKT_HW_IP_CKSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= PKT_HW_L4_CKSUM_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= PKT_HW_L4_CKSUM_BAD;
	return f;
}

/* An answer under construction: one of the two reply layouts. */
struct answer {
	enum reply_kind kind;
	struct bp_bid_reply bid;
	struct bp_auction_state state;
};

static void answer_bid(struct answer *a, const struct bp_request *r, enum bp_status status)
{
	a->kind = REPLY_BID;
	a->bid = (struct bp_bid_reply){
	    .request_id = r->request_id,
	    .auction_id = r->auction_id,
	    .status = status,
	    .client_ts = r->client_ts,
	};
}

static void answer_state(struct answer *a, const struct bp_request *r, enum bp_status status)
{
	a->kind = REPLY_STATE;
	a->state = (struct bp_auction_state){
	    .request_id = r->request_id,
	    .auction_id = r->auction_id,
	    .status = status,
	};
}

static void answer_for_type(struct answer *a, const struct bp_request *r, enum bp_status status)
{
	if (r->type == BP_BID)
		answer_bid(a, r, status);
	else
		answer_state(a, r, status);
}

static void answer_set_status(struct answer *a, enum bp_status status)
{
	if (a->kind == REPLY_BID)
		a->bid.status = status;
	else
		a->state.status = status;
}

static void answer_set_replayed(struct answer *a)
{
	if (a->kind == REPLY_BID)
		a->bid.flags = BP_FLAG_REPLAYED;
	else
		a->state.flags = BP_FLAG_REPLAYED;
}

/*
 * The auction is read first, then the node's HLC, which issues no stamp: a
 * leader stamped by this node is covered by the domain reading (HLC G7), one
 * merged from a peer by the max, so node_hlc >= leading_hlc. The phase
 * follows node_hlc (auction_fill_state's close-time rule, applied here once
 * the time is known).
 */
static void fill_state(struct worker *w, const struct auction *a, struct answer *ans)
{
	struct bp_auction_state *s = &ans->state;
	if (!a) {
		s->node_hlc = hlc_domain_read(&w->node->hlc);
		s->status = BP_UNKNOWN_AUCTION;
		return;
	}
	auction_fill_state(&w->node->auctions, a, 0, s); /* 0: the phase as stored */
	hlc_t now = hlc_domain_read(&w->node->hlc);
	s->node_hlc = now > s->leading_hlc ? now : s->leading_hlc;
	if (s->phase == BP_PHASE_OPEN && hlc_ms(s->node_hlc) >= s->close_at_ms)
		s->phase = BP_PHASE_CLOSED;
}

/*
 * What differs between the requests that carry an idempotency key (BID,
 * WATCH, UNWATCH): what else a repeat must match, how a repeat is answered,
 * and how a new request is applied.
 */
struct keyed_request {
	enum dedup_kind kind;
	/* Besides the auction, what a repeat must carry to be the same request. */
	uint64_t (*detail)(const struct bp_request *r);
	/* Answers a repeat from memory; past is NULL for a CONFLICT. */
	void (*repeat)(struct worker *w, const struct bp_request *r, const struct auction *a,
		       const struct dedup_answer *past, struct answer *ans);
	/* Applies a new request; false when its answer is not to be
	 * remembered (OVERLOADED, NOT_SERVING), else *final is. */
	bool (*apply)(struct worker *w, const struct bp_request *r, struct auction *a,
		      struct answer *ans, struct dedup_answer *final);
};

/* The one idempotency skeleton: claim the key, answer a repeat from
 * memory, or apply the request and remember its answer. ans holds an
 * OVERLOADED answer of the request's type on entry. */
static inline void handle_keyed(struct worker *w, const struct keyed_request *k,
				const struct bp_request *r, uint64_t hash, struct auction *a,
				struct answer *ans)
{
	struct dedup_table *t = w->node->dedup;
	struct dedup_key key = {.actor = r->actor_id, .request_id = r->request_id, .kind = k->kind};
	struct dedup_claim claim;
	struct dedup_answer past;
	switch (dedup_claim(t, &key, hash, w->burst_tsc, &claim, &past)) {
	case DEDUP_BUSY:
		return;
	case DEDUP_DONE:
		if (past.auction_id != r->auction_id || past.detail != k->detail(r)) {
			k->repeat(w, r, a, NULL, ans);
			answer_set_status(ans, BP_CONFLICT);
			stat_inc(&w->stats->conflicts);
			return;
		}
		/* sync: not before its record is durable (an in-flight duplicate);
		 * never when it was lost (docs/WAL.md). */
		if (past.status == BP_ACCEPTED && !park_replay_durable(w->node, past.hlc)) {
			stat_inc(&w->wal.replay_held);
			return;
		}
		if (past.status == BP_ACCEPTED && park_replay_lost(w->node, &w->wal, past.hlc)) {
			stat_inc(&w->wal.replay_lost);
			answer_set_status(ans, BP_NOT_SERVING);
			return;
		}
		k->repeat(w, r, a, &past, ans);
		answer_set_status(ans, past.status);
		answer_set_replayed(ans);
		stat_inc(&w->stats->replayed);
		return;
	case DEDUP_NEW:
		break;
	}
	struct dedup_answer final;
	if (!k->apply(w, r, a, ans, &final)) {
		dedup_release(t, &claim);
		return;
	}
	dedup_finish(t, &claim, &final, w->burst_tsc);
}

static uint64_t bid_detail(const struct bp_request *r)
{
	return r->amount;
}

/* A repeated BID shows the current leader; a replay its original stamp. */
static void bid_repeat(struct worker *w, const struct bp_request *r, const struct auction *a,
		       const struct dedup_answer *past, struct answer *ans)
{
	(void)w;
	(void)r;
	if (a) {
		struct bid lead = auction_leading(a);
		ans->bid.leading_amount = lead.amount;
		ans->bid.leading_bidder = lead.bidder;
	}
	if (past)
		ans->bid.hlc = past->hlc;
}

PATH_INLINE bool bid_apply(struct worker *w, const struct bp_request *r, struct auction *a,
			   struct answer *ans, struct dedup_answer *final)
{
	struct bid_outcome out = {.status = worker_wal_admit(&w->wal, w->burst_tsc)};
	if (out.status != BP_ACCEPTED) { /* the log cannot take it: not remembered */
		answer_set_status(ans, out.status);
		return false;
	}
	out.status = BP_UNKNOWN_AUCTION;
	if (a)
		auction_place_bid(a, &w->bids, r->actor_id, r->amount, &out);
	/* Not final answers (PROTOCOL.md): a retry is judged anew, never
	 * REPLAYED (a NOT_SERVING at the HLC ceiling, e.g. after a pause). */
	if (out.status == BP_OVERLOADED || out.status == BP_NOT_SERVING)
		return false;
	*final = (struct dedup_answer){
	    .auction_id = r->auction_id, .detail = r->amount, .hlc = out.hlc, .status = out.status};
	ans->bid.status = out.status;
	ans->bid.hlc = out.hlc;
	ans->bid.leading_amount = out.leading.amount;
	ans->bid.leading_bidder = out.leading.bidder;
	if (worker_wal_on(&w->wal) &&
	    !worker_wal_bid(&w->wal, r, w->node->cfg.node_id, out.status, out.hlc, w->burst_tsc))
		ans->bid.status = BP_NOT_SERVING; /* never ACCEPTED without its record */
	/* With peers: the key goes to them, so that a retry accepted on
	 * another node counts once (a NULL check on a lone node). After its
	 * record: the control thread holds a key back until the log has what
	 * this thread submitted before it (replicate_idem.h). A bid whose
	 * record was lost is in memory all the same: its key goes too. */
	if (w->bids.keys && out.status == BP_ACCEPTED)
		bid_ctx_ship_key(&w->bids, r->auction_id, r->actor_id, r->request_id, r->amount,
				 out.hlc);
	return true;
}

static const struct keyed_request keyed_bid = {DEDUP_BID, bid_detail, bid_repeat, bid_apply};

static uint64_t view_detail(const struct bp_request *r)
{
	return r->type;
}

/* A replayed WATCH/UNWATCH shows the current state; a CONFLICT nothing. */
static void view_repeat(struct worker *w, const struct bp_request *r, const struct auction *a,
			const struct dedup_answer *past, struct answer *ans)
{
	(void)r;
	if (past)
		fill_state(w, a, ans);
}

static bool view_apply(struct worker *w, const struct bp_request *r, struct auction *a,
		       struct answer *ans, struct dedup_answer *final)
{
	enum bp_status admit = worker_wal_admit(&w->wal, w->burst_tsc);
	if (admit != BP_ACCEPTED) {
		answer_set_status(ans, admit);
		return false;
	}
	if (a)
		auction_add_viewer(a, &w->bids, r->type == BP_WATCH ? 1 : -1);
	ans->state.status = BP_ACCEPTED;
	fill_state(w, a, ans); /* UNKNOWN_AUCTION when there is none */
	*final = (struct dedup_answer){
	    .auction_id = r->auction_id, .detail = r->type, .status = ans->state.status};
	if (worker_wal_on(&w->wal) &&
	    !worker_wal_view(&w->wal, r, w->node->cfg.node_id, ans->state.status, 0, w->burst_tsc))
		ans->state.status = BP_NOT_SERVING;
	return true;
}

static const struct keyed_request keyed_view = {DEDUP_VIEW, view_detail, view_repeat, view_apply};

static void handle_bid(struct worker *w, const struct bp_request *r, uint64_t hash,
		       struct auction *a, struct answer *ans)
{
	answer_bid(ans, r, BP_OVERLOADED);
	handle_keyed(w, &keyed_bid, r, hash, a, ans);
}

static void handle_watch(struct worker *w, const struct bp_request *r, uint64_t hash,
			 struct auction *a, struct answer *ans)
{
	answer_state(ans, r, BP_OVERLOADED);
	handle_keyed(w, &keyed_view, r, hash, a, ans);
}

PATH_INLINE void handle_request(struct worker *w, const struct bp_request *r, uint64_t hash,
				struct auction *a, bool shed, struct answer *ans)
{
	stat_inc(&w->stats->requests[r->type]);
	/* Recovering: the tables are partial and the log not ours yet. */
	if (unlikely(!w->state_ready) || !node_serving(w->node)) {
		answer_for_type(ans, r, BP_NOT_SERVING);
		return;
	}
	if (shed) {
		stat_inc(&w->stats->overload_shed);
		answer_for_type(ans, r, BP_OVERLOADED);
		return;
	}
	switch (r->type) {
	case BP_BID:
		handle_bid(w, r, hash, a, ans);
		break;
	case BP_QUERY:
		answer_state(ans, r, BP_ACCEPTED);
		fill_state(w, a, ans);
		break;
	default: /* WATCH, UNWATCH: the parser admits no other type */
		handle_watch(w, r, hash, a, ans);
		break;
	}
}

/* Hands an ARP or ICMP frame to the control thread. */
static struct rte_mbuf *to_control(struct worker *w, struct rte_mbuf *m)
{
	if (rte_ring_sp_enqueue(w->to_control, m) != 0) {
		stat_inc(&w->stats->exception_drops);
		rte_pktmbuf_free(m);
	} else {
		stat_inc(&w->stats->exceptions);
	}
	return NULL;
}

static struct rte_mbuf *drop(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
	return NULL;
}

/* Hashes the key once, for the prefetch now and the claim later. */
PATH_INLINE void prefetch_dedup(struct worker *w, struct rx_item *it)
{
	const struct bp_request *r = &it->p.req;
	if (r->type == BP_QUERY || unlikely(!w->state_ready))
		return; /* recovering: the table is not to be read */
	struct dedup_key key = {.actor = r->actor_id,
				.request_id = r->request_id,
				.kind = r->type == BP_BID ? DEDUP_BID : DEDUP_VIEW};
	it->dedup_hash = dedup_hash(w->node->dedup, &key);
	dedup_prefetch(w->node->dedup, it->dedup_hash);
}

/* false when the frame was consumed (dropped or handed to control). */
PATH_INLINE bool packet_parse(struct worker *w, unsigned int port_index, struct rte_mbuf *m,
			      struct rx_item *it)
{
	struct worker_stats *st = w->stats;
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	enum pkt_drop why;

	it->m = m;
	it->auction = NULL;
	stat_inc(&st->rx_packets);
	stat_add(&st->rx_bytes, m->pkt_len);
	if (unlikely(m->nb_segs != 1)) {
		stat_inc(&st->multi_segment_drops);
		drop(m);
		return false;
	}
	const struct pkt_filter *f = &w->node->filter[port_index];
	unsigned int hw = hw_checksum_flags(m);
	/* A plain BID or QUERY: checked at fixed offsets in one pass. */
	if (likely(fast_parse_request(frame, m->data_len, f, hw, &it->lay, &it->p))) {
		if (it->p.req.type == BP_BID)
			prefetch_dedup(w, it);
		return true;
	}
	switch (pkt_classify(frame, m->data_len, f, hw, &it->lay, &why)) {
	case PKT_CLASS_UDP:
		break;
	case PKT_CLASS_ARP:
	case PKT_CLASS_ICMP:
	case PKT_CLASS_PEER:
		to_control(w, m);
		return false;
	default:
		stat_inc(&st->pkt_drops[why]);
		drop(m);
		return false;
	}
	bp_parse_request(frame + it->lay.payload_off, it->lay.payload_len, &it->p);
	if (it->p.verdict == BP_NO_REPLY) {
		stat_inc(&st->proto_drops[it->p.drop]);
		drop(m);
		return false;
	}
	if (it->p.verdict == BP_VALID)
		prefetch_dedup(w, it);
	return true;
}

/* Returns the mbuf to send on `port_index`, or NULL (then it was freed). */
PATH_INLINE struct rte_mbuf *packet_answer(struct worker *w, unsigned int port_index,
					   struct rx_item *it, bool shed)
{
	struct worker_stats *st = w->stats;
	struct rte_mbuf *m = it->m;
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const struct pkt_layout *lay = &it->lay;
	struct answer ans;

	if (it->p.verdict == BP_ANSWER)
		answer_for_type(&ans, &it->p.req, it->p.status);
	else
		handle_request(w, &it->p.req, it->dedup_hash, it->auction, shed, &ans);

	/* The reply is longer than the request: it must fit the one segment
	 * (packet_parse let no other through); its lengths are set below. */
	uint16_t reply_len = ans.kind == REPLY_BID ? BP_LEN_BID_REPLY : BP_LEN_AUCTION_STATE;
	uint32_t need = (uint32_t)lay->payload_off + reply_len;
	if (unlikely(need > (uint32_t)m->buf_len - m->data_off)) {
		stat_inc(&st->multi_segment_drops);
		return drop(m);
	}
	const uint8_t *mac = w->node->filter[port_index].mac;
	uint8_t *payload = frame + lay->payload_off;
	size_t len;
	if (it->p.verdict == BP_ANSWER) {
		bp_write_error_reply(payload, &it->p);
		len = pkt_udp_reply_in_place(frame, lay, mac, reply_len);
	} else if (ans.kind == REPLY_BID) {
		len = pkt_bid_reply_in_place(frame, lay, mac, &ans.bid); /* written and summed */
	} else {
		bp_write_auction_state(payload, &ans.state);
		len = pkt_udp_reply_in_place(frame, lay, mac, reply_len);
	}
	stat_inc(&st->replies[ans.kind][ans.kind == REPLY_BID ? ans.bid.status : ans.state.status]);

	rte_pktmbuf_data_len(m) = (uint16_t)len;
	rte_pktmbuf_pkt_len(m) = (uint32_t)len;
	m->ol_flags = 0;
	return m;
}

_Static_assert(WORKER_BURST <= AUCTION_LOOKUP_BULK_MAX, "a burst is looked up at once");

/* Never inlined, also with link-time optimisation: one call per burst
 * costs nothing, and it stays the unit that callgrind counts
 * (--toggle-collect=worker_process_burst, perf/README.md). */
__attribute__((noinline)) uint16_t worker_process_burst(struct worker *w, unsigned int p,
							struct rte_mbuf **pkts, uint16_t nb_rx,
							struct rte_mbuf **replies)
{
	/* One clock reading for the burst: its stamps' wall clock and the
	 * idempotency table's ages (answers live seconds; a burst, microseconds). */
	w->burst_tsc = wall_cache_begin();
	/* Stage 1: parse the burst; prefetch idempotency buckets. */
	struct rx_item items[WORKER_BURST];
	const uint64_t *ids[WORKER_BURST];
	struct auction *found[WORKER_BURST];
	uint16_t n = 0, nids = 0, which[WORKER_BURST], nrep = 0;
	for (uint16_t i = 0; i < nb_rx; i++) {
		if (i + 1 < nb_rx)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!packet_parse(w, p, pkts[i], &items[n]))
			continue;
		if (packet_needs_auction(&items[n])) {
			ids[nids] = &items[n].p.req.auction_id;
			which[nids++] = n;
		}
		n++;
	}
	/* Stage 2: every auction of the burst in one lookup (none while
	 * recovering: the table has a writer then, and it answers nothing). */
	if (likely(w->state_ready)) {
		auction_lookup_bulk(&w->node->auctions, ids, nids, found);
		for (uint16_t k = 0; k < nids; k++)
			items[which[k]].auction = found[k];
	}
	/* Stage 3: apply and answer. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *reply =
		    packet_answer(w, p, &items[i], admission_should_shed(&w->admission, p, n, i));
		if (!park_reply(w, p, reply) && reply) /* sync: an ACCEPTED reply waits */
			replies[nrep++] = reply;
	}
	/* The records this burst replaced share one grace period. */
	bid_ctx_end_burst(&w->bids);
	wall_cache_end();
	return nrep;
}
