/* SPDX-License-Identifier: BSD-3-Clause */
/* The node's stats segment (stats_node.h). */
#include "stats_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mempool.h>

#include "log.h"
#include "control.h"
#include "snapshot_node.h"
#include "stat.h"
#include "stats_writer.h"
#include "worker.h"

/* Entries besides the tracked auctions' (about 120 with 4 ports). */
#define BASE_ENTRIES 256
/* Entries of one tracked auction (struct stats_auction_slot). */
#define AUCTION_ENTRIES 4
/* Idempotency entries counted per refresh: the table is scanned a slice
 * at a time so a refresh stays short whatever --dedup-rate x --dedup-seconds. */
#define DEDUP_SCAN_SLICE (1u << 17)

static void put(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_relaxed);
}

/* Registration stops at the first failure; registered() reports it. */
struct reg {
	struct stats_writer *w;
	int rc;
};

static void worker_field(struct reg *r, const char *name, const char *labels, const char *help,
			 enum stats_kind kind, size_t offset)
{
	if (r->rc == 0)
		r->rc = stats_dir_add_worker_field(r->w, name, labels, help, kind, offset);
}

static void value(struct reg *r, const char *name, const char *labels, const char *help,
		  enum stats_kind kind, const _Atomic uint64_t *v)
{
	if (r->rc == 0)
		r->rc = stats_dir_add_value(r->w, name, labels, help, kind, v);
}

#define WFIELD(field) offsetof(struct worker_stats, field)

static void register_worker_counters(struct reg *r)
{
	char labels[STATS_FIELD_LABEL];
	worker_field(r, "rx_packets_total", "", "frames received", STATS_COUNTER,
		     WFIELD(rx_packets));
	worker_field(r, "rx_bytes_total", "", "bytes received", STATS_COUNTER, WFIELD(rx_bytes));
	worker_field(r, "tx_packets_total", "", "frames the ports accepted to send", STATS_COUNTER,
		     WFIELD(tx_packets));
	worker_field(r, "tx_bytes_total", "", "bytes sent", STATS_COUNTER, WFIELD(tx_bytes));
	worker_field(r, "tx_dropped_total", "", "replies dropped: TX queue full", STATS_COUNTER,
		     WFIELD(tx_dropped));
	for (unsigned int d = 1; d < PKT_DROP_COUNT; d++) {
		snprintf(labels, sizeof(labels), "layer=frame,reason=%s", pkt_drop_name(d));
		worker_field(r, "drops_total", labels, "frames dropped without a reply",
			     STATS_COUNTER, WFIELD(pkt_drops[d]));
	}
	for (unsigned int d = 1; d < BP_DROP_COUNT; d++) {
		snprintf(labels, sizeof(labels), "layer=request,reason=%s", bp_drop_name(d));
		worker_field(r, "drops_total", labels, "frames dropped without a reply",
			     STATS_COUNTER, WFIELD(proto_drops[d]));
	}
	worker_field(r, "drops_total", "layer=worker,reason=multi_segment",
		     "frames dropped without a reply", STATS_COUNTER, WFIELD(multi_segment_drops));
	worker_field(r, "drops_total", "layer=worker,reason=exception_ring_full",
		     "frames dropped without a reply", STATS_COUNTER, WFIELD(exception_drops));
	static const unsigned int request_types[] = {BP_BID, BP_QUERY, BP_WATCH, BP_UNWATCH};
	for (size_t i = 0; i < sizeof(request_types) / sizeof(request_types[0]); i++) {
		snprintf(labels, sizeof(labels), "type=%s", bp_type_name(request_types[i]));
		worker_field(r, "requests_total", labels, "valid requests by type", STATS_COUNTER,
			     WFIELD(requests[request_types[i]]));
	}
	for (unsigned int k = 0; k < REPLY_KINDS; k++)
		for (unsigned int st = 0; st < BP_STATUS_COUNT; st++) {
			snprintf(labels, sizeof(labels), "kind=%s,status=%s",
				 k == REPLY_BID ? "bid_reply" : "auction_state",
				 bp_status_name(st));
			worker_field(r, "replies_total", labels, "replies by kind and status",
				     STATS_COUNTER, WFIELD(replies[k][st]));
		}
	worker_field(r, "dedup_replayed_total", "", "retransmissions answered from memory",
		     STATS_COUNTER, WFIELD(replayed));
	worker_field(r, "dedup_conflicts_total", "", "request ids reused for another request",
		     STATS_COUNTER, WFIELD(conflicts));
	worker_field(r, "overload_shed_total", "", "requests shed with OVERLOADED", STATS_COUNTER,
		     WFIELD(overload_shed));
	worker_field(r, "exceptions_total", "direction=to_control",
		     "ARP/ICMP frames handed to the control thread", STATS_COUNTER,
		     WFIELD(exceptions));
	worker_field(r, "exceptions_total", "direction=from_control",
		     "frames the control thread answered, sent by the worker", STATS_COUNTER,
		     WFIELD(control_tx));
	worker_field(r, "polls_total", "result=busy", "RX polls that found frames", STATS_COUNTER,
		     WFIELD(busy_polls));
	worker_field(r, "polls_total", "result=idle", "RX polls that found none", STATS_COUNTER,
		     WFIELD(idle_polls));
}

/* One value of the control block: where it is and what it is called. */
struct node_value {
	const char *name;
	const char *labels;
	const char *help;
	enum stats_kind kind;
	size_t offset; /* in struct stats_node_block */
};

#define NV(name, labels, help, kind, field)                                                        \
	{                                                                                          \
		name, labels, help, kind, offsetof(struct stats_node_block, field)                 \
	}
#define AUCTIONS_HELP "auctions in the table"
#define EVENTS_HELP   "auction lifecycle events"
#define RECORDS_HELP  "leading-bid records"
#define DEDUP_HELP    "idempotency table entries (a scan a second)"
#define CONTROL_HELP  "answers of the control thread"
#define MBUFS_HELP    "packet buffers of the pool"
#define HEAP_HELP     "slow-path heap (jemalloc)"
/* The values are AUCTION_STATE's (enum bp_auction_phase). */
#define PHASE_HELP "1 open, 2 closed (the effective phase, as AUCTION_STATE shows it)"
_Static_assert(BP_PHASE_OPEN == 1 && BP_PHASE_CLOSED == 2, "PHASE_HELP names the values");
#define NOT_SERVING_HELP "1 while this reason stops bids (answered NOT_SERVING)"
#define TRACKED_HELP	 "auctions with entries of their own, or beyond --stats-auctions"

static const struct node_value node_values[] = {
    NV("start_time_seconds", "", "unix time the node started", STATS_GAUGE, start_time_seconds),
    NV("uptime_seconds", "", "seconds since the node started", STATS_GAUGE, uptime_seconds),
    NV("serving", "", "1 while bids are taken (fencing epoch and HLC ceiling durable)", STATS_GAUGE,
       serving),
    NV("fencing_epoch", "", "this run's fencing epoch", STATS_GAUGE, fencing_epoch),
    NV("fencing_failures_total", "", "failed attempts to persist the epoch", STATS_COUNTER,
       control.fencing_failures),
    NV("not_serving", "reason=fencing", NOT_SERVING_HELP, STATS_GAUGE, not_serving_fencing),
    NV("not_serving", "reason=clock", NOT_SERVING_HELP, STATS_GAUGE, not_serving_clock),
    NV("not_serving", "reason=hlc_ceiling", NOT_SERVING_HELP, STATS_GAUGE, not_serving_hlc_ceiling),
    NV("not_serving", "reason=peer_clock", NOT_SERVING_HELP, STATS_GAUGE, not_serving_peer_clock),
    NV("hlc_ceiling", "", "durable upper bound of every stamp (ms << 16 | logical)", STATS_GAUGE,
       hlc_ceiling),
    NV("hlc_ceiling_renewals_total", "", "HLC ceilings persisted", STATS_COUNTER,
       hlc_ceiling_renewals),
    NV("hlc_ceiling_failures_total", "", "failed writes of the HLC ceiling", STATS_COUNTER,
       hlc_ceiling_failures),
    NV("auctions", "phase=open", AUCTIONS_HELP, STATS_GAUGE, auctions_open),
    NV("auctions", "phase=closed", AUCTIONS_HELP, STATS_GAUGE, auctions_closed),
    NV("auction_events_total", "event=opened", EVENTS_HELP, STATS_COUNTER, control.auctions_opened),
    NV("auction_events_total", "event=closed", EVENTS_HELP, STATS_COUNTER, control.auctions_closed),
    NV("auction_events_total", "event=settled", EVENTS_HELP, STATS_COUNTER,
       control.auctions_settled),
    NV("auction_events_total", "event=removed", EVENTS_HELP, STATS_COUNTER,
       control.auctions_removed),
    NV("auction_adopt_failures_total", "", "peers' auctions not opened here (table full)",
       STATS_COUNTER, control.auctions_adopt_failed),
    NV("auction_table_capacity", "", "--max-auctions", STATS_GAUGE, auction_table_capacity),
    NV("bid_records", "state=free", RECORDS_HELP, STATS_GAUGE, bid_records_free),
    NV("bid_records", "state=capacity", RECORDS_HELP, STATS_GAUGE, bid_records_capacity),
    NV("dedup_entries", "state=used", DEDUP_HELP, STATS_GAUGE, dedup_used),
    NV("dedup_entries", "state=capacity", DEDUP_HELP, STATS_GAUGE, dedup_capacity),
    NV("dedup_window_full_total", "", "new ids shed OVERLOADED: bucket full inside the window",
       STATS_COUNTER, dedup_window_full),
    NV("hlc_now", "", "the node's hybrid logical clock (ms << 16 | logical)", STATS_GAUGE, hlc_now),
    NV("control_hlc_drift_refusals_total", "",
       "remote stamps the control thread refused: too far ahead", STATS_COUNTER,
       control_hlc_drift_refusals),
    NV("control_replies_total", "type=arp", CONTROL_HELP, STATS_COUNTER, control.arp_replies),
    NV("control_replies_total", "type=icmp", CONTROL_HELP, STATS_COUNTER, control.icmp_replies),
    NV("control_ignored_total", "", "exception frames not for this node", STATS_COUNTER,
       control.exceptions_ignored),
    NV("mbufs", "state=free", MBUFS_HELP, STATS_GAUGE, mbuf_free),
    NV("mbufs", "state=capacity", MBUFS_HELP, STATS_GAUGE, mbuf_capacity),
    NV("jemalloc_bytes", "state=allocated", HEAP_HELP, STATS_GAUGE, jemalloc_allocated),
    NV("jemalloc_bytes", "state=resident", HEAP_HELP, STATS_GAUGE, jemalloc_resident),
    NV("stats_auctions", "state=tracked", TRACKED_HELP, STATS_GAUGE, auctions_tracked),
    NV("stats_auctions", "state=untracked", TRACKED_HELP, STATS_GAUGE, auctions_untracked),
    NV("bid_duplicates_total", "",
       "accepted bids that repeat one another node accepted first: not in bid_count", STATS_COUNTER,
       bid_duplicates),
    NV("bid_keys_dropped_total", "",
       "bid keys forgotten before --dedup-seconds: the cluster key table was full", STATS_COUNTER,
       bid_keys_dropped),
};

/* Per-worker values the control thread copies (struct stats_worker_copies). */
static const struct node_value copied_values[] = {
    NV("cas_retries_total", "", "leading-bid compare-and-swap retries", STATS_COUNTER,
       workers.cas_retries),
    NV("bid_record_shortage_total", "", "bids answered OVERLOADED: no record", STATS_COUNTER,
       workers.record_shortage),
    NV("bid_retire_full_total", "", "bids answered OVERLOADED: a reader stalled grace periods",
       STATS_COUNTER, workers.retire_full),
    NV("hlc_ceiling_refusals_total", "", "bids answered NOT_SERVING: stamp at the HLC ceiling",
       STATS_COUNTER, workers.ceiling_refusals),
    NV("hlc_issued_total", "", "HLC stamps issued", STATS_COUNTER, workers.hlc_issued),
    NV("hlc_logical_overflows_total", "", "HLC carries into the physical part", STATS_COUNTER,
       workers.hlc_logical_overflows),
    NV("hlc_drift_refusals_total", "", "remote stamps refused: too far ahead", STATS_COUNTER,
       workers.hlc_drift_refusals),
    NV("bid_keys_ring_full_total", "", "accepted bids whose key was not shipped: key ring full",
       STATS_COUNTER, workers.keys_full),
};

#define WAL_HELP "the write-ahead log (docs/WAL.md)"
static const struct node_value wal_values[] = {
    NV("wal_records_total", "", "records written and committed", STATS_COUNTER, wal.records),
    NV("wal_bytes_total", "", "bytes of records written", STATS_COUNTER, wal.bytes),
    NV("wal_batches_total", "", "group commits", STATS_COUNTER, wal.batches),
    NV("wal_fsyncs_total", "", "fdatasync calls", STATS_COUNTER, wal.fsyncs),
    NV("wal_segments_total", "", "segments created", STATS_COUNTER, wal.segments),
    NV("wal_failures_total", "", "write or fsync failures (sticky until a probe works)",
       STATS_COUNTER, wal.failures),
    NV("wal_lost_records_total", "", "records dropped by failures (never acknowledged)",
       STATS_COUNTER, wal.lost),
    NV("wal_full_total", "", "times the log could not keep its reserve (a full disk: bids refused)",
       STATS_COUNTER, wal.full),
    NV("wal_reserve_bytes", "", "space allocated past the last record for records in flight",
       STATS_GAUGE, wal.reserve_bytes),
    NV("wal_lsn", "", "the last LSN handed out", STATS_GAUGE, wal.lsn),
    NV("wal_durable_lsn", "", "the last LSN on disk", STATS_GAUGE, wal.durable_lsn),
    NV("not_serving", "reason=wal", NOT_SERVING_HELP, STATS_GAUGE, wal.not_serving),
    NV("wal_parked_total", "", "ACCEPTED replies parked until durable (sync)", STATS_COUNTER,
       wal.parked),
    NV("wal_lost_replies_total", "", "parked replies sent as NOT_SERVING: record lost",
       STATS_COUNTER, wal.lost_replies),
    NV("wal_refused_total", "reason=ring_full", "requests answered OVERLOADED by the log",
       STATS_COUNTER, wal.refused_full),
    NV("wal_refused_total", "reason=async_window", "requests answered OVERLOADED by the log",
       STATS_COUNTER, wal.refused_lagging),
    NV("wal_replays_held_total", "", "retransmissions held until their record is durable",
       STATS_COUNTER, wal.replay_held),
    NV("wal_recovery_time_us", "", "how long the replay at start took, in microseconds",
       STATS_GAUGE, wal.recovery_us),
    NV("wal_recovery_records", "", "records replayed at start", STATS_GAUGE, wal.recovery_records),
    NV("wal_snapshots_total", "", "snapshots written", STATS_COUNTER, wal.snapshots),
    NV("wal_snapshot_failures_total", "",
       "snapshots that failed (the last snapshot and the log kept; tried again)", STATS_COUNTER,
       wal.snapshot_failures),
    NV("wal_snapshot_lsn", "", "the newest snapshot's LSN (0: none)", STATS_GAUGE,
       wal.snapshot_lsn),
    NV("wal_snapshot_age_seconds", "", "how old the newest snapshot is (0: none)", STATS_GAUGE,
       wal.snapshot_age_s),
    NV("wal_snapshot_bytes", "", "the newest snapshot's size", STATS_GAUGE, wal.snapshot_bytes),
    NV("wal_snapshot_records", "", "the newest snapshot's records", STATS_GAUGE,
       wal.snapshot_records),
    NV("wal_snapshot_duration_us", "", "how long the last snapshot took to fold and write",
       STATS_GAUGE, wal.snapshot_duration_us),
    NV("wal_snapshot_removed_segments_total", "", "segments deleted after a snapshot",
       STATS_COUNTER, wal.snapshot_removed),
};

static void register_wal(struct reg *r, struct stats_node_block *b)
{
	const uint8_t *base = (const uint8_t *)b;
	for (size_t i = 0; i < sizeof(wal_values) / sizeof(wal_values[0]); i++) {
		const struct node_value *v = &wal_values[i];
		value(r, v->name, v->labels, v->help, v->kind,
		      (const _Atomic uint64_t *)(base + v->offset));
	}
	char labels[STATS_FIELD_LABEL];
	for (unsigned int k = 0; k < WAL_LATENCY_BUCKETS; k++) {
		/* Bucket 0: < 1 us; bucket k: [2^(k-1), 2^k) us (wal_writer.h). */
		snprintf(labels, sizeof(labels), "below_us=%llu", 1ull << k);
		value(r, "wal_fsync_latency_total", labels,
		      "fdatasync calls by latency bucket (a log2 histogram, not cumulative)",
		      STATS_COUNTER, &b->wal.fsync_us[k]);
	}
}

static void refresh_wal(struct control *c, struct stats_wal_values *v)
{
	struct node *n = c->node;
	struct wal_writer_stats ws;
	wal_node_stats(c, &ws);
	put(&v->records, ws.records);
	put(&v->bytes, ws.bytes);
	put(&v->batches, ws.batches);
	put(&v->fsyncs, ws.fsyncs);
	put(&v->segments, ws.segments);
	put(&v->failures, ws.failures);
	put(&v->lost, ws.lost);
	put(&v->full, ws.full);
	put(&v->reserve_bytes, ws.reserve_bytes);
	put(&v->lsn, ws.lsn);
	put(&v->durable_lsn, ws.durable_lsn);
	put(&v->not_serving, !!(atomic_load(&n->not_serving) & NOT_SERVING_WAL));
	for (unsigned int k = 0; k < WAL_LATENCY_BUCKETS; k++)
		put(&v->fsync_us[k], ws.fsync_us[k]);
	struct wal_node_worker_totals wt;
	wal_node_worker_totals(c, &wt);
	put(&v->parked, wt.parked);
	put(&v->lost_replies, wt.lost_replies);
	put(&v->refused_full, wt.ring_full);
	put(&v->refused_lagging, wt.lagging);
	put(&v->replay_held, wt.replay_held);
	put(&v->recovery_us, c->wal.recovery.elapsed_ns / 1000);
	put(&v->recovery_records, c->wal.recovery.records);
	struct snapshot_node_stats ss;
	snapshot_node_stats(c, &ss);
	uint64_t now = node_now_ms(n);
	put(&v->snapshots, ss.snapshots);
	put(&v->snapshot_failures, ss.failures);
	put(&v->snapshot_lsn, ss.lsn);
	put(&v->snapshot_age_s, ss.at_ms && now > ss.at_ms ? (now - ss.at_ms) / 1000 : 0);
	put(&v->snapshot_bytes, ss.bytes);
	put(&v->snapshot_records, ss.records);
	put(&v->snapshot_duration_us, ss.duration_us);
	put(&v->snapshot_removed, ss.removed_segments);
}

static void register_node_values(struct reg *r, struct stats_node_block *b, unsigned int nw)
{
	register_wal(r, b);
	const uint8_t *base = (const uint8_t *)b;
	for (size_t i = 0; i < sizeof(node_values) / sizeof(node_values[0]); i++) {
		const struct node_value *v = &node_values[i];
		value(r, v->name, v->labels, v->help, v->kind,
		      (const _Atomic uint64_t *)(base + v->offset));
	}
	for (size_t i = 0; i < sizeof(copied_values) / sizeof(copied_values[0]); i++) {
		const struct node_value *v = &copied_values[i];
		if (r->rc == 0)
			r->rc = stats_dir_add_vector(r->w, v->name, v->labels, v->help, v->kind,
						     (const _Atomic uint64_t *)(base + v->offset),
						     nw, sizeof(uint64_t));
	}
}

#define LV(name, help, kind, field) NV(name, "", help, kind, leadership.field)
static const struct node_value leader_values[] = {
    LV("leader", "1 while this node leads (without --etcd: a lone node leads itself)", STATS_GAUGE,
       leader),
    LV("fencing_token", "the leader's token (etcd election key revision; else the epoch)",
       STATS_GAUGE, fencing_token),
};
static const struct node_value etcd_values[] = {
    LV("etcd_reachable", "1 while the last request to etcd got an answer", STATS_GAUGE,
       etcd_reachable),
    LV("etcd_latency_us", "latency of the last answered etcd request", STATS_GAUGE,
       etcd_latency_us),
    LV("etcd_lease_left_ms", "until the lease ends on this node's clock (a leader steps down)",
       STATS_GAUGE, etcd_lease_left_ms),
    LV("etcd_leader_node_id", "the election's leader as etcd last said (0: none known)",
       STATS_GAUGE, etcd_leader_node_id),
    LV("etcd_requests_total", "requests to etcd", STATS_COUNTER, etcd_requests),
    LV("etcd_failures_total", "requests to etcd that failed (unreachable, timeout, refused)",
       STATS_COUNTER, etcd_failures),
    LV("leadership_changes_total", "times this node became or stopped being the leader",
       STATS_COUNTER, leadership_changes),
    LV("etcd_lease_grants_total", "etcd leases this node took (each a new campaign)", STATS_COUNTER,
       etcd_lease_grants),
    LV("fencing_rejections_total", "settlement txns etcd refused for our fencing token",
       STATS_COUNTER, fencing_rejections),
    LV("settlements_pending", "auctions closed here and not settled yet", STATS_GAUGE,
       settlements_pending),
    LV("settlements_waiting_for_peer", "of them: a peer's final leading bid is missing",
       STATS_GAUGE, settlements_waiting_for_peer),
    LV("settlements_waiting_for_etcd", "of them: etcd does not answer", STATS_GAUGE,
       settlements_waiting_for_etcd),
};

static void register_table(struct reg *r, struct stats_node_block *b, const struct node_value *t,
			   size_t n)
{
	const uint8_t *base = (const uint8_t *)b;
	for (size_t i = 0; i < n; i++)
		value(r, t[i].name, t[i].labels, t[i].help, t[i].kind,
		      (const _Atomic uint64_t *)(base + t[i].offset));
}

static void register_leadership(struct reg *r, struct stats_node_block *b,
				const struct bp_config *cfg)
{
	register_table(r, b, leader_values, sizeof(leader_values) / sizeof(leader_values[0]));
	if (cfg->etcd[0])
		register_table(r, b, etcd_values, sizeof(etcd_values) / sizeof(etcd_values[0]));
}

static void refresh_leadership(struct control *c)
{
	struct stats_leader_values *s = &c->stats_block->leadership;
	struct leader_view v;
	control_leadership(c, &v);
	put(&s->leader, v.leader);
	put(&s->fencing_token, v.token);
	put(&s->etcd_reachable, v.reachable);
	put(&s->etcd_latency_us, v.latency_us);
	put(&s->etcd_lease_left_ms, v.lease_left_ms);
	put(&s->etcd_leader_node_id, v.leader_node_id);
	put(&s->etcd_requests, v.requests);
	put(&s->etcd_failures, v.failures);
	put(&s->leadership_changes, v.changes);
	put(&s->etcd_lease_grants, v.lease_grants);
	put(&s->fencing_rejections, v.fencing_rejections);
	put(&s->settlements_pending, c->settlements.pending);
	put(&s->settlements_waiting_for_peer, c->settlements.waiting_for_peer);
	put(&s->settlements_waiting_for_etcd, c->settlements.waiting_for_etcd);
}

static void register_ports(struct reg *r, struct stats_node_block *b, const struct node *n)
{
	char labels[STATS_FIELD_LABEL];
	for (unsigned int p = 0; p < n->nports; p++) {
		struct stats_port_values *v = &b->ports[p];
		snprintf(labels, sizeof(labels), "port=%u", n->port_ids[p]);
		value(r, "port_rx_packets_total", labels, "port: frames received", STATS_COUNTER,
		      &v->rx_packets);
		value(r, "port_rx_bytes_total", labels, "port: bytes received", STATS_COUNTER,
		      &v->rx_bytes);
		value(r, "port_tx_packets_total", labels, "port: frames sent", STATS_COUNTER,
		      &v->tx_packets);
		value(r, "port_tx_bytes_total", labels, "port: bytes sent", STATS_COUNTER,
		      &v->tx_bytes);
		value(r, "port_rx_missed_total", labels, "port: frames lost, RX queue full",
		      STATS_COUNTER, &v->rx_missed);
		value(r, "port_rx_errors_total", labels, "port: bad frames", STATS_COUNTER,
		      &v->rx_errors);
		value(r, "port_tx_errors_total", labels, "port: failed sends", STATS_COUNTER,
		      &v->tx_errors);
		value(r, "port_rx_nombuf_total", labels, "port: no mbuf for a frame", STATS_COUNTER,
		      &v->rx_nombuf);
	}
}

static char *config_text(const struct bp_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	bp_config_dump(f, cfg);
	fclose(f);
	return text;
}

int stats_node_init(struct control *c, char *err, size_t errlen)
{
	struct node *n = c->node;
	const struct bp_config *cfg = &n->cfg;
	char *config = config_text(cfg);
	struct stats_identity id = {
	    .name = cfg->stats_name,
	    .group = strcmp(cfg->stats_group, "none") == 0 ? NULL : cfg->stats_group,
	    .node_version = BP_NODE_VERSION,
	    .config = config,
	    .nworkers = n->nworkers,
	    .dir_capacity =
		BASE_ENTRIES + AUCTION_ENTRIES * cfg->stats_auctions + stats_peers_capacity(cfg),
	    .worker_block = sizeof(struct worker_stats),
	    .control_block = sizeof(struct stats_node_block) +
			     cfg->stats_auctions * sizeof(struct stats_auction_slot),
	};
	int rc = stats_writer_create(&c->segment, &id, err, errlen);
	free(config);
	if (rc != 0)
		return rc;
	if (*stats_writer_note(c->segment))
		BP_LOG(WARNING, STATS, "%s\n", stats_writer_note(c->segment));
	c->stats_block = stats_writer_control_block(c->segment);
	/* From now on the slow path counts in the segment. The service
	 * thread has not started yet: nobody else writes these. */
	c->stats_block->control = *c->stats;
	c->stats = &c->stats_block->control;
	for (unsigned int i = 0; i < n->nworkers; i++)
		n->workers[i]->stats = stats_writer_worker_block(c->segment, i);

	struct reg r = {c->segment, 0};
	stats_dir_begin(c->segment);
	register_worker_counters(&r);
	register_node_values(&r, c->stats_block, n->nworkers);
	register_ports(&r, c->stats_block, n);
	register_leadership(&r, c->stats_block, cfg);
	if (r.rc == 0)
		r.rc = stats_peers_register(c->segment, &c->stats_block->cluster, cfg);
	stats_dir_end(c->segment);
	if (r.rc != 0) {
		snprintf(err, errlen, "stats directory: %s (a bug: %s)", strerror(-r.rc),
			 r.rc == -ENOSPC ? "raise BASE_ENTRIES or STATS_PEER_ENTRIES"
					 : "an entry's name, labels or help text is too long "
					   "(stats_segment.h STATS_FIELD_*) or not valid");
		return r.rc;
	}
	put(&c->stats_block->start_time_seconds, n->start_ms / 1000);
	stats_node_tick(c, node_now_ms(n));
	rc = stats_writer_publish(c->segment, err, errlen);
	if (rc == 0)
		BP_LOG(INFO, STATS, "stats: %s%s%s (bidstat %s)\n", STATS_SHM_DIR "/",
		       cfg->stats_name, STATS_SUFFIX, cfg->stats_name);
	return rc;
}

static void refresh_workers(struct stats_worker_copies *out, const struct node *n)
{
	for (unsigned int i = 0; i < n->nworkers; i++) {
		const struct worker *w = n->workers[i];
		put(&out->cas_retries[i], stat_read(&w->bids.cas_retries));
		put(&out->record_shortage[i], stat_read(&w->bids.record_shortage));
		put(&out->retire_full[i], stat_read(&w->bids.retire_full));
		put(&out->ceiling_refusals[i], stat_read(&w->bids.ceiling_refusals));
		put(&out->hlc_issued[i], stat_read(&w->clock.issued));
		put(&out->hlc_logical_overflows[i], stat_read(&w->clock.logical_overflows));
		put(&out->hlc_drift_refusals[i], stat_read(&w->clock.drift_refusals));
		put(&out->keys_full[i], stat_read(&w->bids.keys_full));
	}
}

static void refresh_ports(struct stats_node_block *b, const struct node *n)
{
	for (unsigned int p = 0; p < n->nports; p++) {
		struct rte_eth_stats s;
		if (rte_eth_stats_get(n->port_ids[p], &s) != 0)
			continue;
		struct stats_port_values *v = &b->ports[p];
		put(&v->rx_packets, s.ipackets);
		put(&v->rx_bytes, s.ibytes);
		put(&v->tx_packets, s.opackets);
		put(&v->tx_bytes, s.obytes);
		put(&v->rx_missed, s.imissed);
		put(&v->rx_errors, s.ierrors);
		put(&v->tx_errors, s.oerrors);
		put(&v->rx_nombuf, s.rx_nombuf);
	}
}

static void refresh_memory(struct stats_node_block *b, const struct node *n)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch), allocated = 0, resident = 0, sz = sizeof(size_t);
	/* jemalloc's statistics are as of the last epoch advance. */
	mallctl("epoch", &epoch, &len, &epoch, len);
	if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
		put(&b->jemalloc_allocated, allocated);
	if (mallctl("stats.resident", &resident, &sz, NULL, 0) == 0)
		put(&b->jemalloc_resident, resident);
	put(&b->mbuf_free, rte_mempool_avail_count(n->pktmbuf_pool));
	put(&b->mbuf_capacity, n->pktmbuf_pool->size);
	put(&b->bid_records_free, rte_mempool_avail_count(n->auctions.bid_pool));
	put(&b->bid_records_capacity, n->auctions.bid_pool->size);
}

/* One slice of the idempotency table per refresh; the gauge moves once a
 * whole pass is counted. */
static void refresh_dedup(struct control *c)
{
	const struct dedup_table *t = c->node->dedup;
	uint64_t cap = dedup_capacity(t);
	c->dedup_scan_used += dedup_count_used(t, c->dedup_scan_pos, DEDUP_SCAN_SLICE);
	c->dedup_scan_pos += DEDUP_SCAN_SLICE;
	if (c->dedup_scan_pos >= cap) {
		put(&c->stats_block->dedup_used, c->dedup_scan_used);
		c->dedup_scan_pos = 0;
		c->dedup_scan_used = 0;
	}
	put(&c->stats_block->dedup_capacity, cap);
	put(&c->stats_block->dedup_window_full, dedup_window_full(t));
}

/* The tracked auctions' values, and how many auctions are (not) tracked:
 * every auction not yet settled either has a slot or has none. */
static void refresh_auction_slots(struct control *c, uint64_t now_ms)
{
	struct stats_node_block *b = c->stats_block;
	uint64_t tracked = 0;
	control_online(c); /* the leading records are read */
	for (uint32_t i = 0; i < c->node->cfg.stats_auctions; i++) {
		struct stats_auction_slot *s = &b->slots[i];
		uint64_t id = atomic_load_explicit(&s->id, memory_order_relaxed);
		tracked += id != 0;
		const struct auction *a = id ? auction_lookup(&c->node->auctions, id) : NULL;
		if (!a)
			continue;
		struct auction_view v;
		auction_view(&c->node->auctions, a, now_ms, &v);
		put(&s->phase, v.phase);
		put(&s->leading_amount, v.leading.amount);
		put(&s->bids, v.bid_count);
		put(&s->viewers, v.viewers);
	}
	control_offline(c);
	uint64_t unsettled =
	    stat_read(&c->stats->auctions_opened) - stat_read(&c->stats->auctions_settled);
	put(&b->auctions_tracked, tracked);
	put(&b->auctions_untracked, unsettled > tracked ? unsettled - tracked : 0);
}

static void refresh(struct control *c, uint64_t now_ms)
{
	struct node *n = c->node;
	struct stats_node_block *b = c->stats_block;
	put(&b->uptime_seconds, (now_ms - n->start_ms) / 1000);
	put(&b->serving, node_serving(n));
	uint32_t why = atomic_load(&n->not_serving);
	put(&b->not_serving_fencing, !!(why & NOT_SERVING_FENCING));
	put(&b->not_serving_clock, !!(why & NOT_SERVING_CLOCK));
	put(&b->not_serving_hlc_ceiling, !!(why & NOT_SERVING_HLC_CEILING));
	put(&b->not_serving_peer_clock, !!(why & NOT_SERVING_PEER_CLOCK));
	put(&b->hlc_ceiling, atomic_load(&c->ceiling.published));
	put(&b->hlc_ceiling_renewals, atomic_load(&c->ceiling.renewals));
	put(&b->hlc_ceiling_failures, atomic_load(&c->ceiling.failures));
	put(&b->fencing_epoch, n->fencing_epoch);
	refresh_leadership(c);
	put(&b->auctions_open, n->auctions.open);
	put(&b->auctions_closed, n->auctions.closed);
	put(&b->auction_table_capacity, n->auctions.capacity);
	put(&b->hlc_now, hlc_domain_read(&n->hlc));
	put(&b->control_hlc_drift_refusals, stat_read(&c->clock.drift_refusals));
	put(&b->bid_duplicates, c->repl.idem.table.stats.duplicates);
	put(&b->bid_keys_dropped, c->repl.idem.table.stats.evicted_full);
	refresh_workers(&b->workers, n);
	refresh_wal(c, &b->wal);
	refresh_ports(b, n);
	refresh_memory(b, n);
	refresh_dedup(c);
	refresh_auction_slots(c, now_ms);
	stats_peers_refresh(&b->cluster, c, node_mono_ms()); /* replication's clock */
	stats_writer_heartbeat(c->segment, now_ms);
}

void stats_node_tick(struct control *c, uint64_t now_ms)
{
	if (!c->segment || now_ms < c->next_stats_ms)
		return;
	refresh(c, now_ms);
	c->next_stats_ms = now_ms + STATS_REFRESH_MS;
}

static void slot_entries(struct control *c, struct stats_auction_slot *s, uint64_t id)
{
	char labels[STATS_FIELD_LABEL];
	struct reg r = {c->segment, 0};
	snprintf(labels, sizeof(labels), "auction=%" PRIu64, id);
	value(&r, "auction_phase", labels, PHASE_HELP, STATS_GAUGE, &s->phase);
	value(&r, "auction_leading_amount", labels, "the leading bid's amount", STATS_GAUGE,
	      &s->leading_amount);
	value(&r, "auction_bids_total", labels, "bids accepted", STATS_COUNTER, &s->bids);
	value(&r, "auction_viewers", labels, "watching clients", STATS_GAUGE, &s->viewers);
	if (r.rc != 0)
		BP_LOG(ERR, STATS, "stats: auction %" PRIu64 " entries: %s\n", id, strerror(-r.rc));
}

/* The slot holding auction `id` (0: a free slot), or NULL. */
static struct stats_auction_slot *find_slot(struct control *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->node->cfg.stats_auctions; i++)
		if (atomic_load_explicit(&c->stats_block->slots[i].id, memory_order_relaxed) == id)
			return &c->stats_block->slots[i];
	return NULL;
}

void stats_node_auction_opened(struct control *c, uint64_t id)
{
	struct stats_auction_slot *s = c->segment ? find_slot(c, 0) : NULL;
	if (!s)
		return; /* untracked: counted at the next refresh */
	stats_dir_begin(c->segment);
	put(&s->id, id);
	put(&s->phase, BP_PHASE_OPEN);
	put(&s->leading_amount, 0);
	put(&s->bids, 0);
	put(&s->viewers, 0);
	slot_entries(c, s, id);
	stats_dir_end(c->segment);
}

void stats_node_auction_settled(struct control *c, uint64_t id)
{
	struct stats_auction_slot *s = c->segment ? find_slot(c, id) : NULL;
	if (!s)
		return;
	stats_dir_begin(c->segment);
	stats_dir_remove_values(c->segment, s, sizeof(*s));
	put(&s->id, 0);
	stats_dir_end(c->segment);
}

void stats_node_fini(struct control *c)
{
	if (!c->segment)
		return;
	refresh(c, node_now_ms(c->node));
	/* The summary and teardown may still read the counters: give the
	 * workers (stopped by now) a private copy before the unmap. */
	for (unsigned int i = 0; i < c->node->nworkers; i++) {
		struct worker *w = c->node->workers[i];
		memcpy(&w->own_stats, w->stats, sizeof(w->own_stats));
		w->stats = &w->own_stats;
	}
	stats_writer_close(c->segment, node_now_ms(c->node));
	c->segment = NULL;
	c->stats_block = NULL;
}
