/* SPDX-License-Identifier: BSD-3-Clause */
/* The cluster's part of the stats segment (stats_peers.h). */
#include "stats_peers.h"

#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "peer_link.h"
#include "stats_writer.h"

static void put(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_relaxed);
}

uint32_t stats_peers_capacity(const struct bp_config *cfg)
{
	if (cfg->npeers == 0)
		return 0;
	return STATS_CLUSTER_ENTRIES + STATS_PEER_ENTRIES * cfg->npeers;
}

/* Registration stops at the first failure. */
struct peer_reg {
	struct stats_writer *w;
	uint16_t peer; /* 0: the drops of no known sender (peer="unknown") */
	int rc;
};

static void add(struct peer_reg *r, const char *name, const char *extra, const char *help,
		enum stats_kind kind, const _Atomic uint64_t *v)
{
	char labels[STATS_FIELD_LABEL];
	if (r->rc != 0)
		return;
	if (r->peer == 0)
		snprintf(labels, sizeof(labels), "peer=unknown%s%s", *extra ? "," : "", extra);
	else
		snprintf(labels, sizeof(labels), "peer=%u%s%s", r->peer, *extra ? "," : "", extra);
	r->rc = stats_dir_add_value(r->w, name, labels, help, kind, v);
}

#define MSGS_HELP  "peer messages sent (out) and accepted (in)"
#define BYTES_HELP "bytes of peer messages sent (out) and accepted (in)"
#define ENTRY_HELP "auction entries shipped (out) and merged (in)"
#define DROPS_HELP "peer messages refused, by reason"
#define CLOCK_HELP "the peer's clock offset (peer minus us): ahead or behind"

static void add_drops(struct peer_reg *r, const _Atomic uint64_t *drops)
{
	char reason[STATS_FIELD_LABEL];
	for (unsigned int d = PEER_DROP_NONE + 1; d < PEER_DROP_COUNT; d++) {
		snprintf(reason, sizeof(reason), "reason=%s", peer_drop_name(d));
		add(r, "peer_drops_total", reason, DROPS_HELP, STATS_COUNTER, &drops[d]);
	}
}

static void add_traffic(struct peer_reg *r, struct stats_peer_values *v)
{
	add(r, "peer_messages_total", "direction=in", MSGS_HELP, STATS_COUNTER, &v->msgs_in);
	add(r, "peer_messages_total", "direction=out", MSGS_HELP, STATS_COUNTER, &v->msgs_out);
	add(r, "peer_bytes_total", "direction=in", BYTES_HELP, STATS_COUNTER, &v->bytes_in);
	add(r, "peer_bytes_total", "direction=out", BYTES_HELP, STATS_COUNTER, &v->bytes_out);
	add(r, "peer_entries_total", "direction=in", ENTRY_HELP, STATS_COUNTER, &v->entries_in);
	add(r, "peer_entries_total", "direction=out", ENTRY_HELP, STATS_COUNTER, &v->entries_out);
	add(r, "peer_tx_dropped_total", "", "messages not sent: no MAC yet, no mbuf, ring full",
	    STATS_COUNTER, &v->tx_dropped);
}

static void add_reliability(struct peer_reg *r, struct stats_peer_values *v)
{
	add(r, "peer_deltas_pending", "", "messages sent, not yet acknowledged", STATS_GAUGE,
	    &v->deltas_pending);
	add(r, "peer_lag_ms", "", "age of the oldest unacknowledged message", STATS_GAUGE,
	    &v->lag_ms);
	add(r, "peer_retransmissions_total", "", "messages sent again, unacknowledged",
	    STATS_COUNTER, &v->retransmissions);
	add(r, "peer_acks_total", "", "acknowledgements received", STATS_COUNTER,
	    &v->acks_received);
	add(r, "peer_outstanding_overflows_total", "",
	    "more than the kept messages (window and headroom): full state sent instead",
	    STATS_COUNTER, &v->outstanding_overflows);
	add(r, "peer_rto_ms", "", "retransmission timeout (RFC 6298)", STATS_GAUGE, &v->rto_ms);
	add(r, "peer_full_syncs_total", "", "full states pulled from the peer, completed",
	    STATS_COUNTER, &v->full_syncs);
	add(r, "peer_sync_pages_served_total", "", "pages of our full state sent to the peer",
	    STATS_COUNTER, &v->sync_pages_served);
	add(r, "peer_sync_rerequests_total", "", "overdue sync pages asked for again",
	    STATS_COUNTER, &v->sync_rerequests);
}

static void add_flow_control(struct peer_reg *r, struct stats_peer_values *v)
{
	add(r, "peer_window_full_total", "", "times its full window held messages back",
	    STATS_COUNTER, &v->window_full);
	add(r, "peer_pending_auctions", "", "auctions changed while its window was full, to ship",
	    STATS_GAUGE, &v->pending_auctions);
	add(r, "peer_pending_shipped_total", "", "pending auctions shipped once the window opened",
	    STATS_COUNTER, &v->pending_shipped);
	add(r, "peer_pending_coalesced_total", "", "changes to an auction pending already",
	    STATS_COUNTER, &v->pending_coalesced);
	add(r, "peer_pending_overflows_total", "", "pending auctions full: full state sent instead",
	    STATS_COUNTER, &v->pending_overflows);
	add(r, "peer_syncs_pushed_total", "", "full states pushed to the peer (any reason)",
	    STATS_COUNTER, &v->syncs_pushed);
	add(r, "peer_keys_behind", "", "own idempotency keys logged, not yet shipped to it",
	    STATS_GAUGE, &v->keys_behind);
	add(r, "peer_tx_held_total", "", "times a nearly full outgoing ring held messages back",
	    STATS_COUNTER, &v->tx_held);
}

static void add_health(struct peer_reg *r, struct stats_peer_values *v)
{
	add(r, "peer_reachable", "", "1 while the peer was heard in the last second", STATS_GAUGE,
	    &v->reachable);
	add(r, "peer_clock_offset_known", "", "1 once heartbeats gave a clock offset", STATS_GAUGE,
	    &v->clock_offset_known);
	add(r, "peer_clock_offset_ms", "sign=ahead", CLOCK_HELP, STATS_GAUGE, &v->clock_ahead_ms);
	add(r, "peer_clock_offset_ms", "sign=behind", CLOCK_HELP, STATS_GAUGE, &v->clock_behind_ms);
	add(r, "peer_rtt_us", "", "heartbeat round trip of the clock estimate", STATS_GAUGE,
	    &v->rtt_us);
}

static void add_peer(struct peer_reg *r, struct stats_peer_values *v)
{
	char reason[STATS_FIELD_LABEL];
	add_traffic(r, v);
	add_reliability(r, v);
	add_flow_control(r, v);
	add_health(r, v);
	add_drops(r, v->drops);
	for (unsigned int d = 0; d < REPL_DROP_COUNT; d++) {
		snprintf(reason, sizeof(reason), "reason=%s", repl_drop_name(d));
		add(r, "peer_drops_total", reason, DROPS_HELP, STATS_COUNTER, &v->repl_drops[d]);
	}
}

int stats_peers_register(struct stats_writer *w, struct stats_cluster_block *b,
			 const struct bp_config *cfg)
{
	if (cfg->npeers == 0)
		return 0;
	uint32_t before = stats_dir_count(w);
	int rc = stats_dir_add_value(w, "clock_quarantined", "",
				     "1 while our clock is off from half the peers heard",
				     STATS_GAUGE, &b->clock_quarantined);
	if (rc == 0)
		rc = stats_dir_add_value(
		    w, "peer_keys_overrun_total", "",
		    "own keys overwritten in the key log before a peer got them", STATS_COUNTER,
		    &b->keys_overrun);
	if (rc == 0)
		rc = stats_dir_add_value(w, "peer_keys_restored_total", "",
					 "own keys of the window put back from the log at start",
					 STATS_COUNTER, &b->keys_restored);
	if (rc == 0)
		rc = stats_dir_add_value(
		    w, "peer_dups_unlogged_total", "",
		    "duplicates left counted twice: their WAL_DUP record was lost or not queued",
		    STATS_COUNTER, &b->dups_unlogged);
	struct peer_reg r = {w, 0, rc};
	add_drops(&r, b->unknown_drops);
	if (r.rc == 0 && stats_dir_count(w) - before > STATS_CLUSTER_ENTRIES)
		r.rc = -ENOSPC; /* a bug: raise STATS_CLUSTER_ENTRIES */
	for (unsigned int i = 0; i < cfg->npeers && i < BP_MAX_PEERS && r.rc == 0; i++) {
		before = stats_dir_count(w);
		r.peer = cfg->peers[i].id;
		add_peer(&r, &b->peer[i]);
		if (r.rc == 0 && stats_dir_count(w) - before > STATS_PEER_ENTRIES)
			r.rc = -ENOSPC; /* a bug: raise STATS_PEER_ENTRIES */
	}
	return r.rc;
}

static void refresh_clock(struct stats_peer_values *v, const struct peer_link *l)
{
	int64_t offset_ms = 0;
	uint64_t rtt_us = 0;
	bool known = peer_link_clock_offset(l, &offset_ms, &rtt_us);
	put(&v->clock_offset_known, known);
	put(&v->clock_ahead_ms, known && offset_ms > 0 ? (uint64_t)offset_ms : 0);
	/* -(offset + 1) + 1: no overflow at INT64_MIN. */
	put(&v->clock_behind_ms, known && offset_ms < 0 ? (uint64_t)(-(offset_ms + 1)) + 1 : 0);
	put(&v->rtt_us, known ? rtt_us : 0);
}

static void refresh_flow_control(struct stats_peer_values *v, const struct repl_peer *p,
				 const struct peer_link *l)
{
	put(&v->window_full, l->stats.window_full);
	put(&v->pending_auctions, peer_pending_count(&p->pending));
	put(&v->pending_shipped, p->pending.stats.shipped);
	put(&v->pending_coalesced, p->pending.stats.coalesced);
	put(&v->pending_overflows, p->pending.stats.overflows);
	put(&v->syncs_pushed, p->stats.syncs_pushed);
	put(&v->tx_held, p->stats.tx_held);
}

static void refresh_peer(struct stats_peer_values *v, const struct repl_peer *p,
			 const struct peer_link *l, uint64_t now_ms)
{
	const struct repl_peer_stats *s = &p->stats;
	put(&v->msgs_in, s->msgs_in);
	put(&v->msgs_out, s->msgs_out);
	put(&v->bytes_in, s->bytes_in);
	put(&v->bytes_out, s->bytes_out);
	put(&v->entries_in, s->entries_in);
	put(&v->entries_out, s->entries_out);
	put(&v->tx_dropped, s->tx_dropped);
	put(&v->sync_pages_served, s->sync_pages_served);
	for (unsigned int d = 0; d < PEER_DROP_COUNT; d++)
		put(&v->drops[d], s->drops[d]);
	for (unsigned int d = 0; d < REPL_DROP_COUNT; d++)
		put(&v->repl_drops[d], s->repl_drops[d]);
	put(&v->deltas_pending, peer_link_outstanding(l));
	refresh_flow_control(v, p, l);
	put(&v->retransmissions, l->stats.retransmissions);
	put(&v->acks_received, l->stats.acks_received);
	put(&v->outstanding_overflows, l->stats.outstanding_overflows);
	put(&v->rto_ms, peer_link_rto_ms(l));
	put(&v->full_syncs, peer_link_full_syncs(l));
	put(&v->sync_rerequests, l->stats.sync_rerequests);
	put(&v->reachable, peer_link_reachable(l, now_ms));
	refresh_clock(v, l);
}

void stats_peers_refresh(struct stats_cluster_block *b, const struct control *c, uint64_t now_ms)
{
	const struct replicator *r = &c->repl;
	if (!r->enabled || !r->links)
		return;
	put(&b->clock_quarantined, r->quarantined);
	put(&b->keys_overrun, r->idem.stats.keys_overrun);
	put(&b->keys_restored, r->idem.stats.keys_restored);
	put(&b->dups_unlogged, r->idem.stats.dups_unlogged);
	for (unsigned int d = 0; d < PEER_DROP_COUNT; d++)
		put(&b->unknown_drops[d], r->drops[d]);
	for (unsigned int i = 0; i < r->npeers && i < BP_MAX_PEERS; i++) {
		refresh_peer(&b->peer[i], &r->peer[i], &r->links[i], now_ms);
		/* Kept, pending and keys not yet shipped: what bidctl shows. */
		put(&b->peer[i].lag_ms, repl_peer_lag_ms(c, i, now_ms));
		put(&b->peer[i].keys_behind, repl_idem_keys_behind(c, &r->peer[i]));
	}
}
