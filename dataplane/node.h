/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node: what the workers and the control thread share. Built by main
 * before workers launch; afterwards workers only read it, except through
 * the atomics and lock-free structures named below.
 */
#ifndef BIDPLANE_NODE_H
#define BIDPLANE_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "admission.h"
#include "auction.h"
#include "config.h"
#include "crdt_common.h"
#include "defaults.h"
#include "dedup.h"
#include "hlc.h"
#include "netpkt.h"
#include "retire.h"
#include "wall_cache.h"

#define BP_MAX_PORTS   ADMISSION_MAX_PORTS
#define BP_MAX_WORKERS CRDT_MAX_WORKERS /* per-worker CRDT slots */

struct worker;
struct rte_mempool;

struct node {
	struct bp_config cfg;

	uint16_t nports;
	uint16_t port_ids[BP_MAX_PORTS];
	struct pkt_filter filter[BP_MAX_PORTS]; /* per port: its MAC, our IP/port */
	struct rte_mempool *pktmbuf_pool;

	unsigned int nworkers;
	struct worker *workers[BP_MAX_WORKERS];

	struct auction_table auctions;
	struct dedup_table *dedup;
	struct hlc_domain hlc;

	/* Why every request is answered NOT_SERVING (enum not_serving_reason;
	 * 0: serving). Each reason is set and cleared by one thread. */
	_Atomic uint32_t not_serving;
	_Atomic uint64_t fencing_epoch; /* written by whichever thread persisted it */

	/* False while the main thread recovers the log into the auction and
	 * idempotency tables (it is their only writer then): workers answer
	 * every request NOT_SERVING and touch neither table, nor the log.
	 * Turned true once, with a release store after everything recovery
	 * wrote and the log writer's producers; a worker acquires it
	 * (node_state_ready) before it reads any of that. */
	_Atomic bool state_ready;

	/* Set by SIGINT/SIGTERM; every loop checks it. */
	_Atomic bool force_quit;

	/* --clock-offset-ms, read by the HLC's wall clock (node_wall_ms); an
	 * atomic so that a fault-injection tool may move it while running. */
	_Atomic int64_t clock_offset_ms;

	uint64_t tsc_hz;
	uint64_t start_tsc;
	uint64_t start_ms;
};

enum not_serving_reason {
	NOT_SERVING_FENCING = 1u << 0,	   /* epoch not durable yet (service thread) */
	NOT_SERVING_CLOCK = 1u << 1,	   /* wall clock behind the last life's stamps or the HLC */
	NOT_SERVING_HLC_CEILING = 1u << 2, /* no durable HLC ceiling ahead (control) */
	NOT_SERVING_PEER_CLOCK = 1u << 3,  /* clock off from the peers' (control) */
	NOT_SERVING_RECOVERING = 1u << 4,  /* state still coming from the peers (control) */
	NOT_SERVING_WAL_REPLAY = 1u << 5,  /* the log being replayed at start (main) */
	NOT_SERVING_WAL = 1u << 6,	   /* the log writer failed: the disk (control) */
	NOT_SERVING_WAL_STALLED = 1u << 7, /* the log writer stuck in a write (service) */
};

static inline bool node_serving(const struct node *n)
{
	return atomic_load_explicit(&((struct node *)n)->not_serving, memory_order_relaxed) == 0;
}

static inline void node_not_serving(struct node *n, uint32_t reason, bool on)
{
	if (on)
		atomic_fetch_or_explicit(&n->not_serving, reason, memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&n->not_serving, ~reason, memory_order_relaxed);
}

/* Whether recovery is over (see state_ready): an acquire load, so that
 * what recovery wrote is visible to the caller once it returns true. */
static inline bool node_state_ready(const struct node *n)
{
	return atomic_load_explicit(&((struct node *)n)->state_ready, memory_order_acquire);
}

/* One word for the first reason set (bidctl's not_serving_reason), or NULL. */
static inline const char *node_not_serving_word(uint32_t reasons)
{
	/* First: while the log is replayed, the other reasons (fencing, the
	 * ceiling) are not judged yet. */
	if (reasons & NOT_SERVING_WAL_REPLAY)
		return "recovering";
	if (reasons & NOT_SERVING_FENCING)
		return "fencing";
	if (reasons & (NOT_SERVING_CLOCK | NOT_SERVING_PEER_CLOCK))
		return "clock";
	if (reasons & NOT_SERVING_HLC_CEILING)
		return "hlc_ceiling";
	if (reasons & (NOT_SERVING_RECOVERING | NOT_SERVING_WAL_REPLAY))
		return "recovering";
	if (reasons & (NOT_SERVING_WAL | NOT_SERVING_WAL_STALLED))
		return "wal";
	return NULL;
}

/* CLOCK_REALTIME shifted by the node's clock offset, in Unix ms: the
 * wall clock of the node's HLC domain (arg: the node). A worker inside a
 * burst reads the burst's time (wall_cache.h), any other thread the clock. */
static inline uint64_t node_wall_ms(void *arg)
{
	const struct node *n = arg;
	uint64_t real = wall_cache_ms ? wall_cache_ms : hlc_wall_realtime(NULL);
	int64_t off =
	    atomic_load_explicit(&((struct node *)n)->clock_offset_ms, memory_order_relaxed);
	if (off < 0 && (uint64_t)-off > real)
		return 0;
	return real + (uint64_t)off;
}

/* The node's wall clock in Unix ms (the HLC domain's, offset included):
 * the one clock the slow path reads the time of day from. */
static inline uint64_t node_now_ms(const struct node *n)
{
	return n->hlc.wall(n->hlc.wall_arg);
}

/* CLOCK_MONOTONIC in ms: the clock every timer and "last heard" of the
 * replication runs on (batches, heartbeats, RTO, reachability, sync
 * deadlines), so that a step of the wall clock (NTP, --clock-offset-ms)
 * neither stalls them nor makes every peer look unheard. Never a stamp
 * or a time of day. Any thread. */
static inline uint64_t node_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Cluster counter slots per auction counter: this node's (slot 0) and one
 * per peer in --peer order (slot i+1); none on a lone node. */
static inline unsigned int node_counter_slots(const struct bp_config *cfg)
{
	return cfg->npeers ? cfg->npeers + 1 : 0;
}

/* Replaced leading-bid records the control thread's merges of peers' bids
 * may hold back at once (its retirement queue; none on a lone node). */
static inline uint64_t node_merge_retire_capacity(const struct bp_config *cfg)
{
	return cfg->npeers ? retire_capacity_for(cfg->stall_budget_ms) : 0;
}

/* The qsbr reader id of the control thread (workers use 0..nworkers-1). */
static inline unsigned int node_control_reader(const struct node *n)
{
	return n->nworkers;
}

/* The qsbr reader id of DPDK's telemetry thread (control/node/telemetry.c). */
static inline unsigned int node_telemetry_reader(const struct node *n)
{
	return n->nworkers + 1;
}

/* The qsbr reader id the reader-stall test hook holds (telemetry.c). */
static inline unsigned int node_stall_hook_reader(const struct node *n)
{
	return n->nworkers + 2;
}

/* Reader ids of the auction table: workers, control, telemetry, hook. */
static inline unsigned int node_auction_readers(const struct node *n)
{
	return n->nworkers + 3;
}

#endif
