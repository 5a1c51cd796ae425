/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cluster's part of the stats segment (docs/STATS.md, "Peers"): one
 * block of values per configured peer, copied from the replicator
 * (replicate.h: struct repl_peer_stats, struct peer_link), the drops
 * refused before their sender was known, and the clock quarantine. A lone
 * node registers none of these entries.
 *
 * Values are unsigned: the peer's clock offset (peer minus us, signed) is
 * kept as two gauges, ahead and behind, one of them 0, plus whether it is
 * known at all.
 *
 * Threads: the control thread only (it owns the replicator and writes the
 * segment's control block).
 */
#ifndef BIDPLANE_STATS_PEERS_H
#define BIDPLANE_STATS_PEERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "peer_proto.h"
#include "replicate.h"

struct control;

/* Directory entries one peer takes (stats_peers_register; checked there). */
#define STATS_PEER_ENTRIES 64
/* Entries of the cluster besides the peers' own. */
#define STATS_CLUSTER_ENTRIES 24

struct stats_peer_values {
	_Atomic uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
	_Atomic uint64_t entries_in, entries_out;
	_Atomic uint64_t deltas_pending;
	_Atomic uint64_t lag_ms;
	_Atomic uint64_t retransmissions;
	_Atomic uint64_t acks_received;
	_Atomic uint64_t outstanding_overflows;
	_Atomic uint64_t window_full;
	_Atomic uint64_t pending_auctions, pending_shipped, pending_coalesced, pending_overflows;
	_Atomic uint64_t syncs_pushed;
	_Atomic uint64_t tx_held;
	_Atomic uint64_t keys_behind;
	_Atomic uint64_t full_syncs;
	_Atomic uint64_t sync_pages_served;
	_Atomic uint64_t sync_rerequests;
	_Atomic uint64_t tx_dropped;
	_Atomic uint64_t reachable;
	_Atomic uint64_t clock_offset_known;
	_Atomic uint64_t clock_ahead_ms;  /* the peer's clock ahead of ours (offset > 0) */
	_Atomic uint64_t clock_behind_ms; /* behind ours (offset < 0) */
	_Atomic uint64_t rtt_us;	  /* the clock estimate's heartbeat round trip */
	_Atomic uint64_t rto_ms;
	_Atomic uint64_t drops[PEER_DROP_COUNT]; /* [PEER_DROP_NONE] unused */
	_Atomic uint64_t repl_drops[REPL_DROP_COUNT];
};

struct stats_cluster_block {
	_Atomic uint64_t clock_quarantined;
	_Atomic uint64_t keys_overrun;	/* own keys overwritten in the log before a peer got them */
	_Atomic uint64_t keys_restored; /* own keys put back from the log at start */
	_Atomic uint64_t dups_unlogged; /* duplicates left counted twice: no WAL_DUP */
	_Atomic uint64_t unknown_drops[PEER_DROP_COUNT]; /* sender not known yet */
	struct stats_peer_values peer[BP_MAX_PEERS];
};

struct stats_writer;

/* Directory entries the cluster needs for cfg (0 on a lone node). */
uint32_t stats_peers_capacity(const struct bp_config *cfg);

/* Names the values of cfg's peers (label peer="<node id>"), in b, in the
 * open directory (between stats_dir_begin and stats_dir_end). Nothing on a
 * lone node. 0 or the first failure's -errno. */
int stats_peers_register(struct stats_writer *w, struct stats_cluster_block *b,
			 const struct bp_config *cfg);

/* Copies the replicator's numbers (c->repl) into b (nothing while it is
 * not set up). */
void stats_peers_refresh(struct stats_cluster_block *b, const struct control *c, uint64_t now_ms);

#endif
