/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A poll-mode worker: one per worker lcore, owning RX and TX queue `queue`
 * of every port. Its loop: poll a burst from each port, run it through the
 * packet path, send its replies as one TX burst, send the control thread's
 * frames (buffered, drained on a TSC deadline), report an RCU quiescent
 * state, and back off when idle (pause, then short sleeps) so an
 * oversubscribed core stays usable.
 *
 * Threads: worker_create/destroy on the main thread before launch / after
 * join; worker_main runs on the worker's lcore; the statistics may be read
 * by any thread (struct worker_stats).
 */
#ifndef BIDPLANE_WORKER_H
#define BIDPLANE_WORKER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <rte_ethdev.h>

#include "admission.h"
#include "auction_bid.h"
#include "netpkt.h"
#include "node.h"
#include "proto.h"
#include "worker_wal.h"

#define WORKER_BURST	    32
#define EXCEPTION_RING_SIZE 1024
/* With peers: auctions a worker changed between two replication batches
 * (1 ms); past that the control thread rescans the table. */
#define WORKER_CHANGED_RING 65536
/* With peers: keys of the bids a worker accepted between two batches
 * (40 bytes each: 2.5 MiB per worker); a full ring loses keys, counted. */
#define WORKER_KEYS_RING 65536

enum reply_kind {
	REPLY_BID = 0,	 /* BID_REPLY */
	REPLY_STATE = 1, /* AUCTION_STATE */
	REPLY_KINDS
};

/* Written only by the owning worker (stat_add), read by anyone. The node
 * places it in the stats segment (control/stats_node.c), where bidstat
 * reads it with no copy in between. */
struct worker_stats {
	_Atomic uint64_t rx_packets;
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t tx_packets;
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t tx_dropped; /* TX queue full */
	_Atomic uint64_t pkt_drops[PKT_DROP_COUNT];
	_Atomic uint64_t proto_drops[BP_DROP_COUNT];
	_Atomic uint64_t multi_segment_drops;
	_Atomic uint64_t replies[REPLY_KINDS][BP_STATUS_COUNT];
	_Atomic uint64_t requests[BP_PEER_FIRST]; /* valid requests by type */
	_Atomic uint64_t replayed;
	_Atomic uint64_t conflicts;
	_Atomic uint64_t overload_shed;
	_Atomic uint64_t exceptions;	  /* ARP/ICMP handed to control */
	_Atomic uint64_t exception_drops; /* ring to control full */
	_Atomic uint64_t control_tx;	  /* frames sent for the control thread */
	_Atomic uint64_t busy_polls;
	_Atomic uint64_t idle_polls;
};

struct worker {
	alignas(64) struct node *node;
	unsigned int index;
	unsigned int lcore;
	uint16_t queue;

	struct hlc_clock clock;
	struct bid_ctx bids;
	uint64_t burst_tsc; /* the TSC when the burst being answered began */
	/* The worker's copy of node_state_ready, once it has acquired it:
	 * until then every request is NOT_SERVING and neither the tables nor
	 * the log producer (wal below) are touched. */
	bool state_ready;

	struct rte_ring *to_control;   /* exception frames, SPSC */
	struct rte_ring *from_control; /* frames to transmit, SPSC */
	struct rte_eth_dev_tx_buffer *txb[BP_MAX_PORTS];

	struct admission admission;
	struct worker_wal wal; /* the write-ahead log's producer (worker_wal.h) */

	/* Where the counters go: own_stats until the node gives the worker
	 * its block of the stats segment (before launch). */
	struct worker_stats *stats;
	alignas(64) struct worker_stats own_stats;
};

/* The size of each worker's retirement queue for the node's stall budget. */
static inline uint64_t worker_retire_capacity(const struct bp_config *cfg)
{
	return retire_capacity_for(cfg->stall_budget_ms);
}

/* Allocates and prepares worker `index` on `lcore`. NULL + errno on failure. */
struct worker *worker_create(struct node *n, unsigned int index, unsigned int lcore);
void worker_destroy(struct worker *w);

/* The lcore entry point (arg: struct worker *). Returns 0 at force_quit. */
int worker_main(void *arg);

#endif
