/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-packet path: L2-L4 checks, the v1 codec, idempotency, the
 * auction, and the reply written in place over the request. No locks, no
 * allocation, no logging: every outcome is a counter.
 */
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "auction_bid.h"
#include "dedup.h"
#include "stat.h"
#include "worker.h"

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

static void handle_bid(struct worker *w, const struct bp_request *r, uint64_t hash,
		       struct auction *a, struct answer *ans)
{
	struct node *n = w->node;
	struct dedup_key key = {
	    .actor = r->actor_id, .request_id = r->request_id, .kind = DEDUP_BID};
	struct dedup_claim claim;
	struct dedup_answer past;

	answer_bid(ans, r, BP_OVERLOADED);
	switch (dedup_claim(n->dedup, &key, hash, rte_rdtsc(), &claim, &past)) {
	case DEDUP_BUSY:
		return;
	case DEDUP_DONE: {
		if (a) {
			struct bid lead = auction_leading(a);
			ans->bid.leading_amount = lead.amount;
			ans->bid.leading_bidder = lead.bidder;
		}
		if (past.auction_id != r->auction_id || past.detail != r->amount) {
			ans->bid.status = BP_CONFLICT;
			stat_inc(&w->stats->conflicts);
			return;
		}
		ans->bid.status = past.status;
		ans->bid.hlc = past.hlc;
		ans->bid.flags = BP_FLAG_REPLAYED;
		stat_inc(&w->stats->replayed);
		return;
	}
	case DEDUP_NEW:
		break;
	}

	struct bid_outcome out = {.status = BP_UNKNOWN_AUCTION};
	if (a)
		auction_place_bid(a, &w->bids, r->actor_id, r->amount, &out);
	if (out.status == BP_OVERLOADED) {
		dedup_release(n->dedup, &claim);
		return;
	}
	struct dedup_answer final = {
	    .auction_id = r->auction_id, .detail = r->amount, .hlc = out.hlc, .status = out.status};
	dedup_finish(n->dedup, &claim, &final, rte_rdtsc());
	ans->bid.status = out.status;
	ans->bid.hlc = out.hlc;
	ans->bid.leading_amount = out.leading.amount;
	ans->bid.leading_bidder = out.leading.bidder;
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
	auction_fill_state(a, 0, s); /* 0: the phase as stored */
	hlc_t now = hlc_domain_read(&w->node->hlc);
	s->node_hlc = now > s->leading_hlc ? now : s->leading_hlc;
	if (s->phase == BP_PHASE_OPEN && hlc_ms(s->node_hlc) >= s->close_at_ms)
		s->phase = BP_PHASE_CLOSED;
}

static void handle_watch(struct worker *w, const struct bp_request *r, uint64_t hash,
			 struct auction *a, struct answer *ans)
{
	struct node *n = w->node;
	struct dedup_key key = {
	    .actor = r->actor_id, .request_id = r->request_id, .kind = DEDUP_VIEW};
	struct dedup_claim claim;
	struct dedup_answer past;

	answer_state(ans, r, BP_OVERLOADED);
	switch (dedup_claim(n->dedup, &key, hash, rte_rdtsc(), &claim, &past)) {
	case DEDUP_BUSY:
		return;
	case DEDUP_DONE: {
		if (past.auction_id != r->auction_id || past.detail != r->type) {
			ans->state.status = BP_CONFLICT;
			stat_inc(&w->stats->conflicts);
			return;
		}
		fill_state(w, a, ans);
		ans->state.status = past.status;
		ans->state.flags = BP_FLAG_REPLAYED;
		stat_inc(&w->stats->replayed);
		return;
	}
	case DEDUP_NEW:
		break;
	}
	ans->state.status = BP_ACCEPTED;
	if (a)
		auction_add_viewer(a, &w->bids, r->type == BP_WATCH ? 1 : -1);
	fill_state(w, a, ans);
	struct dedup_answer final = {
	    .auction_id = r->auction_id, .detail = r->type, .status = ans->state.status};
	dedup_finish(n->dedup, &claim, &final, rte_rdtsc());
}

static void handle_request(struct worker *w, const struct bp_request *r, uint64_t hash,
			   struct auction *a, bool shed, struct answer *ans)
{
	stat_inc(&w->stats->requests[r->type]);
	if (!node_serving(w->node)) {
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
static void prefetch_dedup(struct worker *w, struct rx_item *it)
{
	const struct bp_request *r = &it->p.req;
	if (r->type == BP_QUERY)
		return;
	struct dedup_key key = {.actor = r->actor_id,
				.request_id = r->request_id,
				.kind = r->type == BP_BID ? DEDUP_BID : DEDUP_VIEW};
	it->dedup_hash = dedup_hash(w->node->dedup, &key);
	dedup_prefetch(w->node->dedup, it->dedup_hash);
}

bool packet_parse(struct worker *w, unsigned int port_index, struct rte_mbuf *m, struct rx_item *it)
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
	switch (pkt_classify(frame, m->data_len, &w->node->filter[port_index], hw_checksum_flags(m),
			     &it->lay, &why)) {
	case PKT_CLASS_UDP:
		break;
	case PKT_CLASS_ARP:
	case PKT_CLASS_ICMP:
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

struct rte_mbuf *packet_answer(struct worker *w, unsigned int port_index, struct rx_item *it,
			       bool shed)
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

	/* The reply is longer than the request: grow the mbuf first. */
	uint16_t reply_len = ans.kind == REPLY_BID ? BP_LEN_BID_REPLY : BP_LEN_AUCTION_STATE;
	uint32_t need = (uint32_t)lay->payload_off + reply_len;
	if (need > m->data_len && !rte_pktmbuf_append(m, (uint16_t)(need - m->data_len))) {
		stat_inc(&st->multi_segment_drops);
		return drop(m);
	}
	uint8_t *payload = frame + lay->payload_off;
	if (it->p.verdict == BP_ANSWER)
		bp_write_error_reply(payload, &it->p);
	else if (ans.kind == REPLY_BID)
		bp_write_bid_reply(payload, &ans.bid);
	else
		bp_write_auction_state(payload, &ans.state);
	stat_inc(&st->replies[ans.kind][ans.kind == REPLY_BID ? ans.bid.status : ans.state.status]);

	size_t len = pkt_udp_reply_in_place(frame, lay, w->node->filter[port_index].mac, reply_len);
	rte_pktmbuf_data_len(m) = (uint16_t)len;
	rte_pktmbuf_pkt_len(m) = (uint32_t)len;
	m->ol_flags = 0;
	return m;
}
