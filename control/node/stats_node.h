/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's stats segment (stats_segment.h): each worker counts straight
 * into its own block of it (struct worker_stats); the control thread keeps
 * the node-wide values (auctions, tables, HLC, fencing, ports, memory) and
 * one slot per tracked auction, and the cluster's numbers (stats_peers.h),
 * refreshed every STATS_REFRESH_MS.
 *
 * Threads: all functions on the control thread (main lcore), stats_node_init
 * before the workers launch.
 */
#ifndef BIDPLANE_STATS_NODE_H
#define BIDPLANE_STATS_NODE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_writer.h"
#include "node.h"
#include "stats_peers.h"

#define STATS_REFRESH_MS 100

struct control;
struct stats_writer;

/* The slow path's counters. Each has one writer (the control thread, or
 * the service thread for fencing_failures); they live in the segment's
 * control block, where bidstat reads them. */
struct control_stats {
	_Atomic uint64_t arp_replies;
	_Atomic uint64_t icmp_replies;
	_Atomic uint64_t exceptions_ignored; /* not for us / not a request */
	_Atomic uint64_t auctions_opened;
	_Atomic uint64_t auctions_closed;
	_Atomic uint64_t auctions_settled;
	_Atomic uint64_t auctions_removed;
	_Atomic uint64_t fencing_failures;
	_Atomic uint64_t auctions_adopt_failed; /* a peer's auction did not fit here */
};

/* What the control thread publishes about one auction. */
struct stats_auction_slot {
	_Atomic uint64_t id; /* 0: free */
	_Atomic uint64_t phase;
	_Atomic uint64_t leading_amount;
	_Atomic uint64_t bids;
	_Atomic uint64_t viewers;
};

struct stats_port_values {
	_Atomic uint64_t rx_packets;
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t tx_packets;
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t rx_missed;
	_Atomic uint64_t rx_errors;
	_Atomic uint64_t tx_errors;
	_Atomic uint64_t rx_nombuf;
};

/* Per-worker values that live in structures the worker owns (its clock,
 * its bid context); the control thread copies them. */
struct stats_worker_copies {
	_Atomic uint64_t cas_retries[BP_MAX_WORKERS];
	_Atomic uint64_t record_shortage[BP_MAX_WORKERS];
	_Atomic uint64_t retire_full[BP_MAX_WORKERS];
	_Atomic uint64_t ceiling_refusals[BP_MAX_WORKERS];
	_Atomic uint64_t hlc_issued[BP_MAX_WORKERS];
	_Atomic uint64_t hlc_logical_overflows[BP_MAX_WORKERS];
	_Atomic uint64_t hlc_drift_refusals[BP_MAX_WORKERS];
	_Atomic uint64_t keys_full[BP_MAX_WORKERS];
};

/* Leadership (leader.h), copied from its published view every refresh;
 * the etcd ones registered only with --etcd. */
struct stats_leader_values {
	_Atomic uint64_t leader;
	_Atomic uint64_t fencing_token;
	_Atomic uint64_t etcd_reachable;
	_Atomic uint64_t etcd_latency_us;
	_Atomic uint64_t etcd_lease_left_ms;
	_Atomic uint64_t etcd_leader_node_id;
	_Atomic uint64_t etcd_requests;
	_Atomic uint64_t etcd_failures;
	_Atomic uint64_t leadership_changes;
	_Atomic uint64_t etcd_lease_grants;
	/* Fenced settlement (settlement.h). */
	_Atomic uint64_t fencing_rejections;
	_Atomic uint64_t settlements_pending;
	_Atomic uint64_t settlements_waiting_for_peer;
	_Atomic uint64_t settlements_waiting_for_etcd;
};

/* The control thread's block of the segment. */
/* The write-ahead log (docs/WAL.md "Observability"), copied by the
 * control thread from the writer's and the workers' counters. */
struct stats_wal_values {
	_Atomic uint64_t records, bytes, batches, fsyncs, segments, failures, lost;
	_Atomic uint64_t lsn, durable_lsn, not_serving, full, reserve_bytes;
	_Atomic uint64_t parked, lost_replies, refused_full, refused_lagging, replay_held;
	_Atomic uint64_t recovery_us, recovery_records;
	/* Snapshots (snapshot_node.h). */
	_Atomic uint64_t snapshots, snapshot_failures, snapshot_lsn, snapshot_age_s;
	_Atomic uint64_t snapshot_bytes, snapshot_records, snapshot_duration_us, snapshot_removed;
	_Atomic uint64_t fsync_us[WAL_LATENCY_BUCKETS];
};

struct stats_node_block {
	_Atomic uint64_t start_time_seconds;
	_Atomic uint64_t uptime_seconds;
	_Atomic uint64_t serving;
	_Atomic uint64_t fencing_epoch;
	_Atomic uint64_t not_serving_fencing;
	_Atomic uint64_t not_serving_clock;
	_Atomic uint64_t not_serving_hlc_ceiling;
	_Atomic uint64_t not_serving_peer_clock;
	_Atomic uint64_t hlc_ceiling;
	_Atomic uint64_t hlc_ceiling_renewals;
	_Atomic uint64_t hlc_ceiling_failures;
	_Atomic uint64_t auctions_open;
	_Atomic uint64_t auctions_closed;
	_Atomic uint64_t auction_table_capacity;
	_Atomic uint64_t bid_records_free;
	_Atomic uint64_t bid_records_capacity;
	_Atomic uint64_t dedup_used;
	_Atomic uint64_t dedup_capacity;
	_Atomic uint64_t dedup_window_full;
	_Atomic uint64_t hlc_now;
	_Atomic uint64_t control_hlc_drift_refusals;
	_Atomic uint64_t mbuf_free;
	_Atomic uint64_t mbuf_capacity;
	_Atomic uint64_t jemalloc_allocated;
	_Atomic uint64_t jemalloc_resident;
	_Atomic uint64_t auctions_tracked;
	_Atomic uint64_t auctions_untracked;
	_Atomic uint64_t bid_duplicates; /* replicate_idem.h */
	_Atomic uint64_t bid_keys_dropped;
	struct stats_leader_values leadership;
	struct control_stats control;
	struct stats_worker_copies workers;
	struct stats_port_values ports[BP_MAX_PORTS];
	struct stats_wal_values wal;
	struct stats_cluster_block cluster; /* entries only for cfg.npeers peers */
	struct stats_auction_slot slots[];  /* cfg.stats_auctions */
};

/* Creates and publishes the segment, gives every worker its block.
 * 0 or -errno with err set. */
int stats_node_init(struct control *c, char *err, size_t errlen);

/* Refreshes the control thread's values when STATS_REFRESH_MS passed. */
void stats_node_tick(struct control *c, uint64_t now_ms);

/* Auction lifecycle: an auction gets entries of its own while a slot is
 * free, and loses them when it settles. */
void stats_node_auction_opened(struct control *c, uint64_t id);
void stats_node_auction_settled(struct control *c, uint64_t id);

/* A last refresh (workers have stopped), then the segment says EXITED. */
void stats_node_fini(struct control *c);

#endif
