/* SPDX-License-Identifier: BSD-3-Clause */
/* Replication with the peers: set-up, the batches, the link duties and
 * what arrives (replicate.h). */
#include "replicate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sodium.h>

#include "control.h"
#include "log.h"
#include "replicate_rescan.h"
#include "replicate_state.h"
#include "replicate_sync.h"
#include "stat.h"
#include "worker.h"

static const char *const drop_names[REPL_DROP_COUNT] = {
#define REPL_DROP_NAME(id, name) #name,
    REPL_FOREACH_DROP(REPL_DROP_NAME)
#undef REPL_DROP_NAME
};

const char *repl_drop_name(unsigned int d)
{
	return d < REPL_DROP_COUNT ? drop_names[d] : "invalid";
}

/* The node's wall clock (with --clock-offset-ms) in ns: heartbeats'. */
static uint64_t wall_ns(const struct node *n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns =
	    (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
	    atomic_load_explicit(&((struct node *)n)->clock_offset_ms, memory_order_relaxed) *
		1000000;
	return ns > 0 ? (uint64_t)ns : 1;
}

static int compare_slots(const void *a, const void *b, void *nodes)
{
	const uint16_t *id = nodes;
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;
	return (id[x] > id[y]) - (id[x] < id[y]);
}

/* Counter slots listed in increasing node id (how entries carry them). */
static void order_slots(struct replicator *r)
{
	uint16_t id[PEER_MAX_NODES];
	id[0] = r->self;
	for (unsigned int i = 0; i < r->npeers; i++)
		id[r->peer[i].slot] = r->peer[i].id;
	for (unsigned int i = 0; i <= r->npeers; i++)
		r->slot_order[i] = i;
	qsort_r(r->slot_order, r->npeers + 1, sizeof(r->slot_order[0]), compare_slots, id);
	for (unsigned int i = 0; i <= r->npeers; i++)
		r->slot_node[i] = id[r->slot_order[i]];
}

_Static_assert(PEER_LINK_WINDOW == 1024, "--peer-window's bound (config_options.c)");

/* Each peer's window (--peer-window) and pending set: one entry per
 * auction the table holds, up to PEER_PENDING_MAX. */
static int init_flow_control(struct control *c, char *err, size_t errlen)
{
	struct replicator *r = &c->repl;
	const struct bp_config *cfg = &c->node->cfg;
	uint32_t capacity =
	    cfg->max_auctions < PEER_PENDING_MAX ? cfg->max_auctions : PEER_PENDING_MAX;
	for (unsigned int i = 0; i < r->npeers; i++) {
		peer_link_set_window(&r->links[i], cfg->peer_window);
		int rc = peer_pending_init(&r->peer[i].pending, capacity);
		if (rc != 0) {
			snprintf(err, errlen,
				 "replication: no memory for peer %u's pending auctions (%" PRIu32
				 " x 24 bytes: lower --max-auctions)",
				 r->peer[i].id, capacity);
			return rc;
		}
	}
	return 0;
}

int replicate_init(struct control *c, char *err, size_t errlen)
{
	struct replicator *r = &c->repl;
	struct node *n = c->node;
	const struct bp_config *cfg = &n->cfg;
	memset(r, 0, sizeof(*r));
	if (cfg->npeers == 0)
		return 0;
	int rc = cluster_key_load(cfg->cluster_key_file, &r->key, err, errlen);
	if (rc != 0)
		return rc;
	r->self = cfg->node_id;
	r->npeers = cfg->npeers;
	r->links = calloc(r->npeers, sizeof(*r->links));
	r->changed_full_seen = calloc(n->nworkers, sizeof(*r->changed_full_seen));
	r->batch = calloc(REPL_BATCH_MAX, sizeof(*r->batch));
	if (!r->links || !r->changed_full_seen || !r->batch) {
		snprintf(err, errlen, "replication: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	peer_replay_init(&r->replay, r->self);
	for (unsigned int i = 0; i < r->npeers; i++) {
		struct repl_peer *p = &r->peer[i];
		const struct bp_peer *pc = &cfg->peers[i];
		*p =
		    (struct repl_peer){.id = pc->id, .ip = pc->ip, .port = pc->port, .slot = i + 1};
		p->want_state = true; /* what it holds from before we (re)started */
		peer_link_init(&r->links[i], pc->id);
		rc = peer_replay_add(&r->replay, pc->id, pc->ip, pc->port);
		if (rc != 0) {
			snprintf(err, errlen, "peer %u: %s", pc->id, strerror(-rc));
			goto fail;
		}
	}
	order_slots(r);
	rc = init_flow_control(c, err, errlen);
	if (rc != 0)
		goto fail;
	rc = repl_idem_init(c, err, errlen);
	if (rc != 0)
		goto fail;
	r->changed = rte_ring_create_elem("bp_chg_ctl", sizeof(uint64_t), WORKER_CHANGED_RING,
					  (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	r->bid_pool = n->auctions.bid_pool;
	if (!r->changed ||
	    retire_queue_init(&r->retired, node_merge_retire_capacity(cfg), r->bid_pool,
			      n->auctions.qsbr, (int)rte_socket_id()) != 0) {
		snprintf(err, errlen, "replication: out of DPDK memory");
		rc = -ENOMEM;
		goto fail;
	}
	r->enabled = true;
	r->starting = true;
	r->start_ms = node_mono_ms();
	node_not_serving(n, NOT_SERVING_RECOVERING, true);
	return 0;
fail:
	replicate_fini(c);
	return rc;
}

void replicate_fini(struct control *c)
{
	struct replicator *r = &c->repl;
	if (r->retired.recs)
		retire_queue_fini(&r->retired);
	if (r->spare)
		rte_mempool_put(r->bid_pool, r->spare);
	for (unsigned int i = 0; i < r->npeers; i++) {
		free(r->peer[i].serving_ids);
		peer_pending_fini(&r->peer[i].pending);
	}
	rte_ring_free(r->changed);
	free(r->links);
	free(r->changed_full_seen);
	free(r->batch);
	repl_idem_fini(c);
	sodium_memzero(&r->key, sizeof(r->key));
	memset(r, 0, sizeof(*r));
}

/* ---- sending ---- */

static struct peer_header header_for(const struct control *c, const struct repl_peer *p,
				     uint8_t type, uint64_t seq)
{
	const struct node *n = c->node;
	uint64_t hlc = hlc_domain_read(&n->hlc);
	uint64_t wall = hlc_make(node_now_ms(n), 0);
	return (struct peer_header){
	    .type = type,
	    .flags = c->etcd ? PEER_FLAG_FENCED : 0, /* our settlement mode */
	    .sender = c->repl.self,
	    .receiver = p->id,
	    .incarnation = c->repl.incarnation,
	    .seq = seq,
	    .hlc = hlc > wall ? hlc : wall,
	};
}

/* A frame of flen bytes (0: none was built) out of node port `port`, on
 * the outgoing ring of the worker that carries this peer's traffic (the
 * control thread owns no TX queue). false, and the mbuf freed, when it
 * cannot go. */
static bool send_frame(struct control *c, const struct repl_peer *p, struct rte_mbuf *m,
		       size_t flen, unsigned int port)
{
	struct node *n = c->node;
	struct worker *w = n->workers[(unsigned int)(p - c->repl.peer) % n->nworkers];
	if (flen == 0)
		goto drop;
	rte_pktmbuf_data_len(m) = (uint16_t)flen;
	rte_pktmbuf_pkt_len(m) = (uint32_t)flen;
	m->hash.usr = port;
	if (rte_ring_sp_enqueue(w->from_control, m) == 0)
		return true;
drop:
	rte_pktmbuf_free(m);
	return false;
}

bool repl_tx_room(struct control *c, struct repl_peer *p)
{
	struct node *n = c->node;
	struct worker *w = n->workers[(unsigned int)(p - c->repl.peer) % n->nworkers];
	if (rte_ring_free_count(w->from_control) > REPL_TX_RESERVE)
		return true;
	p->stats.tx_held++;
	return false;
}

/* One datagram to the peer, as a frame on a worker's outgoing ring. A
 * frame that cannot go (no MAC yet, no mbuf, ring full) is lost like any
 * datagram: what matters comes again. */
void repl_transmit(struct control *c, struct repl_peer *p, const uint8_t *msg, size_t len)
{
	struct node *n = c->node;
	struct rte_mbuf *m = p->mac_known ? rte_pktmbuf_alloc(n->pktmbuf_pool) : NULL;
	if (!m) {
		p->stats.tx_dropped++;
		return;
	}
	const struct pkt_filter *f = &n->filter[p->port_index];
	struct pkt_udp_spec spec = {
	    .src_ip = n->cfg.ip,
	    .dst_ip = p->ip,
	    .src_port = n->cfg.peer_port,
	    .dst_port = p->port,
	};
	memcpy(spec.src_mac, f->mac, 6);
	memcpy(spec.dst_mac, p->mac, 6);
	size_t flen = pkt_build_udp(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), &spec,
				    msg, (uint16_t)len);
	if (!send_frame(c, p, m, flen, p->port_index)) {
		p->stats.tx_dropped++;
		return;
	}
	p->stats.msgs_out++;
	p->stats.bytes_out += len;
}

struct peer_link *repl_link_of(struct control *c, struct repl_peer *p)
{
	return &c->repl.links[p - c->repl.peer];
}

static struct peer_link *link_of(struct control *c, struct repl_peer *p)
{
	return repl_link_of(c, p);
}

void repl_send_reliable(struct control *c, struct repl_peer *p, uint8_t type, const uint8_t *body,
			size_t body_len, uint64_t now_ms)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_link *l = link_of(c, p);
	uint64_t seq = peer_link_take_seq(l);
	struct peer_header h = header_for(c, p, type, seq);
	int len = peer_reseal(&h, body, body_len, &c->repl.key, msg, sizeof(msg));
	if (len < 0)
		return;
	if (peer_link_track(l, seq, type, body, body_len, now_ms) != 0) {
		/* More than the kept messages (the window and its headroom):
		 * only pushed SYNC pages can get here, the window holding back
		 * the rest. It gets the full state instead, which covers all
		 * of them. */
		peer_link_forget_outstanding(l);
		p->push_state = true;
	}
	repl_transmit(c, p, msg, (size_t)len);
}

void repl_send_once(struct control *c, struct repl_peer *p, uint8_t type, const uint8_t *body,
		    size_t body_len)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_header h = header_for(c, p, type, peer_link_take_seq(link_of(c, p)));
	int len = peer_reseal(&h, body, body_len, &c->repl.key, msg, sizeof(msg));
	if (len > 0)
		repl_transmit(c, p, msg, (size_t)len);
}

void repl_send_sync_request(struct control *c, struct repl_peer *p,
			    const struct peer_sync_request *req)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_header h =
	    header_for(c, p, PEER_SYNC_REQUEST, peer_link_take_seq(link_of(c, p)));
	int len = peer_encode_sync_request(&h, req, &c->repl.key, msg, sizeof(msg));
	if (len > 0)
		repl_transmit(c, p, msg, (size_t)len);
}

static void send_heartbeat(struct control *c, struct repl_peer *p)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_heartbeat hb;
	struct peer_link *l = link_of(c, p);
	peer_link_heartbeat_fill(l, wall_ns(c->node), &hb);
	struct peer_header h = header_for(c, p, PEER_HEARTBEAT, peer_link_take_seq(l));
	int len = peer_encode_heartbeat(&h, &hb, &c->repl.key, msg, sizeof(msg));
	if (len > 0)
		repl_transmit(c, p, msg, (size_t)len);
}

static void send_ack(struct control *c, struct repl_peer *p)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_ack ack;
	if (peer_replay_ack(&c->repl.replay, p->id, &ack) != 0 || ack.count == 0)
		return;
	struct peer_header h = header_for(c, p, PEER_ACK, peer_link_take_seq(link_of(c, p)));
	int len = peer_encode_ack(&h, &ack, &c->repl.key, msg, sizeof(msg));
	if (len > 0)
		repl_transmit(c, p, msg, (size_t)len);
	p->ack_owed = false;
}

static void send_arp_requests(struct control *c, struct repl_peer *p)
{
	struct node *n = c->node;
	for (unsigned int port = 0; port < n->nports; port++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(n->pktmbuf_pool);
		if (!m)
			return;
		size_t len =
		    pkt_build_arp_request(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m),
					  &n->filter[port], p->ip);
		send_frame(c, p, m, len, port);
	}
}

/* ---- the batch ---- */

static void note_changed(struct replicator *r, struct auction *a, uint8_t bits)
{
	auction_note_change(a, bits, r->changed, &r->changed_full);
}

void replicate_definition_changed(struct control *c, struct auction *a)
{
	if (c->repl.enabled && a)
		note_changed(&c->repl, a, AUCTION_DIRTY_DEFINITION);
}

/* A ring was full: whatever is still marked gets queued again. */
static void requeue_marked(void *item, void *arg)
{
	struct replicator *r = arg;
	struct auction *a = item;
	uint8_t bits = atomic_exchange(&a->dirty, 0);
	if (bits)
		note_changed(r, a, bits);
}

/* replicate_rescan.h's iterate, over the auction table's index. */
static int iterate_table(void *table, uint32_t *next, void **item)
{
	struct auction *a;
	if (auction_table_next(table, next, &a) < 0)
		return -1;
	*item = a;
	return 0;
}

/* A lost change (a full ring) starts a rescan; every loop walks
 * REPL_RESCAN_STEP auctions of it at most (replicate_rescan.h). */
static void rescan_if_lost(struct control *c)
{
	struct replicator *r = &c->repl;
	struct node *n = c->node;
	bool lost = stat_read(&r->changed_full) != r->own_full_seen;
	for (unsigned int i = 0; i < n->nworkers; i++) {
		uint64_t full = stat_read(&n->workers[i]->bids.changed_full);
		lost |= full != r->changed_full_seen[i];
		r->changed_full_seen[i] = full;
	}
	/* An index rebuild moves every auction (auction_table_next); every
	 * insert counts too (lifecycle.c's `opened`), which costs a restart
	 * now and then but keeps the circle's proof independent of the
	 * index's probing. */
	uint64_t inserts = stat_read(&c->stats->auctions_opened) + n->auctions.rebuilds;
	if (lost) {
		r->own_full_seen = stat_read(&r->changed_full);
		r->rescans++;
		repl_rescan_start(&r->rescan, inserts);
	}
	repl_rescan_step(&r->rescan, inserts, REPL_RESCAN_STEP, iterate_table, &n->auctions,
			 requeue_marked, r);
}

static int by_auction_id(const void *a, const void *b)
{
	const struct peer_entry *x = a, *y = b;
	return (x->auction_id > y->auction_id) - (x->auction_id < y->auction_id);
}

/* Takes up to `room` ids from a ring, turning each still-marked auction
 * into an entry (the mark is cleared before the auction is read). */
static unsigned int drain_ring(struct control *c, struct rte_ring *ring, unsigned int have)
{
	struct replicator *r = &c->repl;
	uint64_t ids[256];
	while (have < REPL_BATCH_MAX) {
		unsigned int want = REPL_BATCH_MAX - have;
		unsigned int got = rte_ring_sc_dequeue_burst_elem(ring, ids, sizeof(ids[0]),
								  want < 256 ? want : 256, NULL);
		if (got == 0)
			break;
		for (unsigned int i = 0; i < got; i++) {
			struct auction *a = auction_lookup(&c->node->auctions, ids[i]);
			if (!a || atomic_exchange(&a->dirty, 0) == 0)
				continue;
			repl_entry_of(c, a, false, &r->batch[have++]);
		}
	}
	return have;
}

/* One DELTA of entries e[0, n) (sorted, distinct ids) to peer p, kept;
 * or, its window being full, its ids pending (peer_flow_admit). */
static void offer_delta(struct control *c, struct repl_peer *p, const struct peer_entry *e,
			unsigned int n, const uint8_t *body, size_t body_len, uint64_t now_ms)
{
	enum peer_flow flow = repl_tx_room(c, p)
				  ? peer_flow_admit(link_of(c, p), &p->pending, e, n, now_ms)
				  : peer_flow_hold(&p->pending, e, n, now_ms);
	switch (flow) {
	case PEER_FLOW_SEND:
		repl_send_reliable(c, p, PEER_DELTA, body, body_len, now_ms);
		p->stats.entries_out += n;
		break;
	case PEER_FLOW_HELD:
		break;
	case PEER_FLOW_OVERFLOW: /* the last resort: the full state */
		p->push_state = true;
		break;
	}
}

/* Sends entries[0, n) (sorted, distinct ids) to every peer as DELTAs of
 * one datagram each, encoded once. */
static void ship_entries(struct control *c, const struct peer_entry *e, unsigned int n,
			 uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	uint8_t msg[PEER_LEN_MAX];
	unsigned int first = 0;
	while (first < n) {
		size_t used = 2;
		unsigned int end = first;
		while (end < n && used + peer_entry_len(&e[end]) <= PEER_BODY_MAX)
			used += peer_entry_len(&e[end++]);
		struct peer_header h = repl_placeholder_header(r, PEER_DELTA);
		int len = peer_encode_delta(&h, e + first, end - first, &r->key, msg, sizeof(msg));
		if (len > 0)
			for (unsigned int i = 0; i < r->npeers; i++)
				offer_delta(c, &r->peer[i], e + first, end - first,
					    msg + PEER_HEADER_LEN, (size_t)len - PEER_LEN_MIN,
					    now_ms);
		first = end;
	}
}

/* Takes pending auctions of p (at most *budget, counted down) into
 * entries as they are now, as many as one DELTA holds; an auction removed
 * since is skipped (each node removes a closed auction itself). */
static unsigned int take_pending(struct control *c, struct repl_peer *p, struct peer_entry *e,
				 unsigned int *budget)
{
	size_t used = 2;
	unsigned int k = 0;
	uint64_t id;
	control_online(c);
	while (*budget > 0 && k < PEER_MAX_ENTRIES && peer_pending_peek(&p->pending, &id)) {
		struct auction *a = auction_lookup(&c->node->auctions, id);
		if (a) {
			repl_entry_of(c, a, false, &e[k]);
			if (used + peer_entry_len(&e[k]) > PEER_BODY_MAX)
				break; /* the next DELTA's first */
			used += peer_entry_len(&e[k++]);
		}
		peer_pending_pop(&p->pending, &id);
		(*budget)--;
	}
	control_offline(c);
	return k;
}

/* Ships p's pending auctions, oldest first, while its window is open: at
 * most REPL_PENDING_BATCH_MAX per loop. */
static void drain_pending(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	static struct peer_entry e[PEER_MAX_ENTRIES]; /* control thread only */
	struct replicator *r = &c->repl;
	uint8_t msg[PEER_LEN_MAX];
	unsigned int budget = REPL_PENDING_BATCH_MAX;
	while (budget > 0 && peer_flow_may_drain(link_of(c, p), &p->pending) &&
	       repl_tx_room(c, p)) {
		unsigned int k = take_pending(c, p, e, &budget);
		if (k == 0)
			continue;
		qsort(e, k, sizeof(e[0]), by_auction_id);
		struct peer_header h = repl_placeholder_header(r, PEER_DELTA);
		int len = peer_encode_delta(&h, e, k, &r->key, msg, sizeof(msg));
		if (len <= 0) { /* not expected: keep them pending, try next loop */
			for (unsigned int i = 0; i < k; i++)
				peer_pending_add(&p->pending, e[i].auction_id, now_ms);
			return;
		}
		repl_send_reliable(c, p, PEER_DELTA, msg + PEER_HEADER_LEN,
				   (size_t)len - PEER_LEN_MIN, now_ms);
		p->stats.entries_out += k;
	}
}

static void ship_batch(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	struct node *n = c->node;
	unsigned int count = 0;
	control_online(c);
	rescan_if_lost(c);
	count = drain_ring(c, r->changed, count);
	for (unsigned int i = 0; i < n->nworkers; i++)
		count = drain_ring(c, n->workers[i]->bids.changed, count);
	control_offline(c);
	if (count == 0)
		return;
	qsort(r->batch, count, sizeof(r->batch[0]), by_auction_id);
	/* An id queued twice (changed again after its first entry was
	 * made): the later entry is the newer state. */
	unsigned int kept = 0;
	for (unsigned int i = 0; i < count; i++) {
		if (kept && r->batch[kept - 1].auction_id == r->batch[i].auction_id)
			kept--;
		if (kept != i)
			r->batch[kept] = r->batch[i];
		kept++;
	}
	ship_entries(c, r->batch, kept, now_ms);
}

/* ---- every loop ---- */

static void retransmit_due(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	uint8_t msg[PEER_LEN_MAX];
	struct peer_link *l = link_of(c, p);
	for (unsigned int i = 0; i < REPL_RETRANSMITS; i++) {
		struct peer_link_msg *m = peer_link_next_due(l, now_ms);
		if (!m)
			return;
		uint64_t seq = peer_link_take_seq(l);
		struct peer_header h = header_for(c, p, m->type, seq);
		int len = peer_reseal(&h, m->body, m->body_len, &c->repl.key, msg, sizeof(msg));
		peer_link_resent(l, m, seq, now_ms);
		if (len > 0)
			repl_transmit(c, p, msg, (size_t)len);
	}
}

static void pull_state(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	struct peer_link *l = link_of(c, p);
	struct peer_sync_request req;
	if (p->want_state && !peer_link_syncing(l) && peer_link_reachable(l, now_ms)) {
		peer_link_sync_begin(l, p->next_sync_id++, now_ms, &req);
		repl_send_sync_request(c, p, &req);
		p->want_state = false;
	} else if (peer_link_sync_due(l, now_ms, &req)) {
		repl_send_sync_request(c, p, &req);
		peer_link_sync_resent(l, now_ms);
	}
}

/* Samples timed on the wall clock before a step are no estimate of the
 * offset after it (peer_link_clock_reset). */
static void judge_clock_step(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	int64_t less = (int64_t)node_now_ms(c->node) - (int64_t)now_ms;
	int64_t moved = less - r->wall_less_mono_ms;
	bool first = r->wall_less_mono_ms == 0;
	r->wall_less_mono_ms = less;
	if (first || (moved < REPL_CLOCK_STEP_MS && moved > -REPL_CLOCK_STEP_MS))
		return;
	for (unsigned int i = 0; i < r->npeers; i++)
		peer_link_clock_reset(&r->links[i]);
	BP_LOG(NOTICE, CONTROL,
	       "the wall clock stepped by %" PRId64 " ms: the peers' clock offsets are measured "
	       "again\n",
	       moved);
}

static void judge_clock(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	struct node *n = c->node;
	bool off = peer_clock_quarantined(r->links, r->npeers, now_ms, n->cfg.max_drift_ms);
	if (off == r->quarantined)
		return;
	r->quarantined = off;
	node_not_serving(n, NOT_SERVING_PEER_CLOCK, off);
	if (off)
		BP_LOG(WARNING, CONTROL,
		       "this node's clock is off by more than %" PRIu64
		       " ms (--max-drift-ms) from at least half of the nodes it hears: not "
		       "taking bids until it is back in bound (bidctl status shows each "
		       "peer's clock_offset_ms)\n",
		       n->cfg.max_drift_ms);
	else
		BP_LOG(NOTICE, CONTROL, "clock back in bound with the peers: taking bids again\n");
}

bool replicate_started(const struct control *c)
{
	return !c->repl.starting;
}

/* This node's first sync id in this life: its node id, its incarnation
 * (16 bits of it) and a 32-bit count. */
static uint64_t sync_id_base(uint16_t self, uint64_t incarnation)
{
	return (uint64_t)self << 48 | (incarnation & 0xffff) << 32 | 1;
}

/* A peer is done with at start when it gave its full state and a clock
 * estimate, or was not heard at all within the quiet time. */
static bool start_done(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	if (now_ms >= r->start_ms + REPL_START_MAX_MS)
		return true;
	for (unsigned int i = 0; i < r->npeers; i++) {
		const struct peer_link *l = &r->links[i];
		int64_t offset;
		uint64_t rtt;
		if (!r->peer[i].heard) {
			if (now_ms < r->start_ms + REPL_START_QUIET_MS)
				return false;
			continue;
		}
		if (peer_link_full_syncs(l) == 0 || !peer_link_clock_offset(l, &offset, &rtt))
			return false;
	}
	return true;
}

static void end_start(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	if (!r->starting || !start_done(c, now_ms))
		return;
	r->starting = false;
	node_not_serving(c->node, NOT_SERVING_RECOVERING, false);
	unsigned int synced = 0;
	for (unsigned int i = 0; i < r->npeers; i++)
		synced += peer_link_full_syncs(&r->links[i]) > 0;
	BP_LOG(INFO, CONTROL, "state from %u of %u peers after %" PRIu64 " ms: taking bids\n",
	       synced, r->npeers, now_ms - r->start_ms);
}

void replicate_tick(struct control *c, uint64_t now_ms)
{
	struct replicator *r = &c->repl;
	if (!r->enabled)
		return;
	if (r->incarnation == 0) {
		/* The fencing epoch grows at every start: the incarnation. No
		 * message leaves before it is durable. */
		r->incarnation = atomic_load(&c->node->fencing_epoch);
		if (r->incarnation == 0)
			return;
		/* Sync ids new in every life: a peer ignores a pushed first
		 * page whose id is that of the sync it completed last. */
		for (unsigned int i = 0; i < r->npeers; i++)
			r->peer[i].next_sync_id = sync_id_base(r->self, r->incarnation);
	}
	judge_clock_step(c, now_ms);
	retire_reclaim(&r->retired);
	if (now_ms >= r->next_batch_ms) {
		/* Keys first: a duplicate they reveal is counted once its
		 * WAL_DUP record is durable (replicate_idem.h), and ships in
		 * the batch after. Then what waited for a window: older, it
		 * goes first. */
		repl_idem_ship(c, now_ms);
		for (unsigned int i = 0; i < r->npeers; i++)
			drain_pending(c, &r->peer[i], now_ms);
		ship_batch(c, now_ms);
		r->next_batch_ms = now_ms + REPL_BATCH_MS;
	}
	for (unsigned int i = 0; i < r->npeers; i++) {
		struct repl_peer *p = &r->peer[i];
		if (!p->mac_known && now_ms >= p->next_arp_ms) {
			send_arp_requests(c, p);
			p->next_arp_ms = now_ms + REPL_ARP_MS;
		}
		if (now_ms >= p->next_heartbeat_ms) {
			send_heartbeat(c, p);
			p->next_heartbeat_ms = now_ms + PEER_HEARTBEAT_MS;
		}
		retransmit_due(c, p, now_ms);
		if (p->ack_owed)
			send_ack(c, p);
		pull_state(c, p, now_ms);
		if (p->push_state && peer_link_reachable(&r->links[i], now_ms)) {
			/* Its pages are read as they go: they cover whatever
			 * was pending. */
			peer_pending_clear(&p->pending);
			repl_sync_push(c, p, now_ms);
			repl_idem_resend(c, p, now_ms);
			p->stats.syncs_pushed++;
			p->push_state = false;
		}
	}
	judge_clock(c, now_ms);
	end_start(c, now_ms);
}

/* ---- receiving ---- */

struct repl_peer *repl_peer_by_id(struct replicator *r, uint16_t id)
{
	for (unsigned int i = 0; i < r->npeers; i++)
		if (r->peer[i].id == id)
			return &r->peer[i];
	return NULL;
}

void replicate_learn_arp(struct control *c, const uint8_t *frame, size_t len, unsigned int port)
{
	struct replicator *r = &c->repl;
	uint8_t mac[6];
	uint32_t ip;
	if (!r->enabled || !pkt_arp_sender(frame, len, &c->node->filter[port], mac, &ip))
		return;
	for (unsigned int i = 0; i < r->npeers; i++) {
		struct repl_peer *p = &r->peer[i];
		if (p->ip != ip)
			continue;
		memcpy(p->mac, mac, 6);
		p->mac_known = true;
		p->port_index = port;
	}
}

/* Merges a DELTA's or SYNC page's entries, after the drift guard. Returns
 * false (the message refused, its seq not spent) when it must come
 * again or never count. */
static bool entries_acceptable(struct control *c, struct repl_peer *p,
			       const struct peer_message *msg, const struct peer_entries *list)
{
	/* A stamp too far ahead moves nothing: refused before anything is
	 * observed or merged (CLUSTER.md promise 4). And the clock moves only
	 * for a message that passes every check (it is observed last). */
	if (!hlc_within_drift(&c->node->hlc, msg->h.hlc)) {
		p->stats.repl_drops[REPL_DROP_CLOCK_AHEAD]++;
		return false;
	}
	struct peer_entry e;
	size_t off = 0;
	while (peer_entries_next(list, &off, &e))
		if (!repl_entry_stamps_valid(&e, msg->h.hlc)) {
			p->stats.repl_drops[REPL_DROP_STAMP_AHEAD]++;
			return false;
		}
	if (!repl_merge_room(c, list->count)) {
		p->stats.repl_drops[REPL_DROP_BACKPRESSURE]++;
		return false;
	}
	if (hlc_observe(&c->clock, msg->h.hlc) != 0) { /* the wall clock stepped back */
		p->stats.repl_drops[REPL_DROP_CLOCK_AHEAD]++;
		return false;
	}
	return true;
}

static void merge_entries(struct control *c, struct repl_peer *p, const struct peer_entries *list)
{
	struct peer_entry e;
	size_t off = 0;
	/* Not one read-side section for the batch: an entry may adopt, close
	 * or settle an auction, which logs and hands records to the WAL;
	 * repl_merge_entry is online only while it reads a leading record. */
	while (peer_entries_next(list, &off, &e))
		repl_merge_entry(c, p, &e);
	retire_seal(&c->repl.retired);
}

static void on_sync_page(struct control *c, struct repl_peer *p, const struct peer_sync *page,
			 uint64_t now_ms)
{
	struct peer_sync_request next;
	int rc = peer_link_sync_page(link_of(c, p), page, now_ms, &next);
	if (rc < 0)
		return;
	merge_entries(c, p, &page->entries);
	if (rc == 1)
		repl_send_sync_request(c, p, &next);
}

/* What an accepted message does. */
static void dispatch(struct control *c, struct repl_peer *p, const struct peer_message *msg,
		     uint64_t t4_ns, uint64_t now_ms)
{
	struct peer_link *l = link_of(c, p);
	if (msg->h.type == PEER_SYNC_REQUEST) {
		/* Only from a peer heard before in this life by another
		 * message: a request captured and replayed after this node
		 * restarted (its anti-replay window is new) gets nothing. */
		if (p->heard) {
			repl_sync_serve(c, p, &msg->u.sync_request, now_ms);
		} else {
			p->deferred = msg->u.sync_request;
			p->request_deferred = true;
		}
		return;
	}
	p->heard = true;
	if (p->request_deferred) {
		p->request_deferred = false;
		repl_sync_serve(c, p, &p->deferred, now_ms);
	}
	switch (msg->h.type) {
	case PEER_HEARTBEAT:
		peer_link_heartbeat_received(l, &msg->u.heartbeat, t4_ns);
		break;
	case PEER_ACK:
		if (msg->u.ack.incarnation == c->repl.incarnation)
			peer_link_on_ack(l, &msg->u.ack, now_ms);
		break;
	case PEER_DELTA:
		merge_entries(c, p, &msg->u.delta);
		p->ack_owed = true;
		break;
	case PEER_SYNC:
		on_sync_page(c, p, &msg->u.sync, now_ms);
		p->ack_owed = true; /* a pushed page is kept until acknowledged */
		break;
	case PEER_KEYS:
		repl_idem_receive(c, p, &msg->u.keys, msg->h.hlc, now_ms);
		p->ack_owed = true;
		break;
	}
}

/* The peer's settlement mode, as its last authentic message says. A mode
 * other than ours is said loudly, once per change: the two nodes then
 * refuse each other's FINAL and SETTLEMENT parts (settle_rule.h), so the
 * fenced side's auctions wait for that peer (docs/LEADERSHIP.md "Mixed
 * clusters"). */
static void note_mode(struct control *c, struct repl_peer *p, bool fenced)
{
	bool ours = c->etcd;
	if (p->mode_known && p->fenced == fenced)
		return;
	p->mode_known = true;
	p->fenced = fenced;
	if (fenced != ours)
		BP_LOG(WARNING, CONTROL,
		       "peer %u runs %s --etcd and this node %s: neither takes the other's "
		       "settlements (settlement_unfenced); start every node of a cluster with "
		       "the same --etcd\n",
		       p->id, fenced ? "with" : "without", ours ? "with it" : "without it");
}

void replicate_receive(struct control *c, struct rte_mbuf *m, const struct pkt_layout *lay,
		       unsigned int port)
{
	struct replicator *r = &c->repl;
	if (!r->enabled || r->incarnation == 0)
		return;
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *payload = frame + lay->payload_off;
	uint32_t src_ip;
	memcpy(&src_ip, frame + lay->l3_off + 12, 4);
	uint16_t src_port = (uint16_t)(frame[lay->l4_off] << 8 | frame[lay->l4_off + 1]);
	uint64_t t4 = wall_ns(c->node);
	uint64_t now_ms = node_mono_ms(); /* timers and last heard: monotonic */

	struct peer_message msg;
	enum peer_drop why;
	if (peer_decode(payload, lay->payload_len, &r->key, &msg, &why) != 0) {
		r->drops[why]++;
		return;
	}
	struct repl_peer *p = repl_peer_by_id(r, msg.h.sender);
	why = peer_replay_check(&r->replay, &msg.h, src_ip, src_port);
	if (why != PEER_DROP_NONE) {
		if (p)
			p->stats.drops[why]++;
		else
			r->drops[why]++;
		return;
	}
	if ((msg.h.type == PEER_DELTA && !entries_acceptable(c, p, &msg, &msg.u.delta)) ||
	    (msg.h.type == PEER_SYNC && !entries_acceptable(c, p, &msg, &msg.u.sync.entries)) ||
	    (msg.h.type == PEER_KEYS && !repl_idem_acceptable(c, p, msg.h.hlc)))
		return;
	peer_replay_commit(&r->replay, &msg.h);
	struct peer_link *l = link_of(c, p);
	if (msg.h.incarnation > peer_link_incarnation(l)) {
		/* It restarted, or is heard for the first time: what was kept
		 * may have reached a life that is gone, so it is forgotten and
		 * the full state covers it. Pushed: a peer that did not restart
		 * (this node did, and sent before it heard it) asks for none.
		 * Also when this node restarted and hears the peer first in
		 * this life: its log gave back bids answered before the kill
		 * whose deltas died with the process, and no delta will carry
		 * them unless their auctions change again. */
		bool restarted = c->repl.incarnation > 1 && peer_link_incarnation(l) == 0;
		if (peer_link_outstanding(l) > 0 || peer_pending_count(&p->pending) > 0 ||
		    restarted)
			p->push_state = true;
		repl_idem_rewind(c, p); /* its key table starts again */
		peer_link_new_incarnation(l, msg.h.incarnation);
	}
	peer_link_heard(l, now_ms);
	/* Authentic: where it is (a MAC that changed, a port). */
	memcpy(p->mac, frame + 6, 6);
	p->mac_known = true;
	p->port_index = port;
	p->stats.msgs_in++;
	p->stats.bytes_in += lay->payload_len;
	note_mode(c, p, (msg.h.flags & PEER_FLAG_FENCED) != 0);
	dispatch(c, p, &msg, t4, now_ms);
}

uint64_t repl_peer_lag_ms(const struct control *c, unsigned int i, uint64_t now_ms)
{
	const struct replicator *r = &c->repl;
	uint64_t kept = peer_link_lag_ms(&r->links[i], now_ms);
	uint64_t pending = peer_pending_age_ms(&r->peer[i].pending, now_ms);
	uint64_t keys = repl_idem_keys_age_ms(c, &r->peer[i], now_ms);
	uint64_t lag = kept > pending ? kept : pending;
	return lag > keys ? lag : keys;
}

unsigned int replicate_peers(const struct control *c, struct repl_peer_view *out, unsigned int cap,
			     uint64_t now_ms)
{
	const struct replicator *r = &c->repl;
	unsigned int n = r->npeers < cap ? r->npeers : cap;
	for (unsigned int i = 0; i < n; i++) {
		const struct repl_peer *p = &r->peer[i];
		const struct peer_link *l = &r->links[i];
		uint64_t rtt_us;
		out[i] = (struct repl_peer_view){
		    .node_id = p->id,
		    .ip = p->ip,
		    .port = p->port,
		    .reachable = peer_link_reachable(l, now_ms),
		    .last_heard_ms_ago = peer_link_last_heard_ms_ago(l, now_ms),
		    .lag_ms = repl_peer_lag_ms(c, i, now_ms),
		};
		out[i].has_offset = peer_link_clock_offset(l, &out[i].clock_offset_ms, &rtt_us);
	}
	return n;
}
