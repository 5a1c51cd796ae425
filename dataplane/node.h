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

#include "admission.h"
#include "auction.h"
#include "config.h"
#include "dedup.h"
#include "hlc.h"
#include "netpkt.h"

#define BP_MAX_PORTS	  ADMISSION_MAX_PORTS
#define BP_MAX_WORKERS	  CRDT_MAX_WORKERS /* per-worker CRDT slots */
#define BP_VERSION_STRING "0.1.0"

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

	/* false while the fencing epoch could not be persisted: every request
	 * is answered NOT_SERVING. Written by the control thread. */
	_Atomic bool serving;
	_Atomic uint64_t fencing_epoch; /* written by whichever thread persisted it */

	/* Set by SIGINT/SIGTERM; every loop checks it. */
	_Atomic bool force_quit;

	uint64_t tsc_hz;
	uint64_t start_tsc;
	uint64_t start_ms;
};

/* The qsbr reader id of the control thread (workers use 0..nworkers-1). */
static inline unsigned int node_control_reader(const struct node *n)
{
	return n->nworkers;
}

/* The qsbr reader id of DPDK's telemetry thread (control/telemetry.c). */
static inline unsigned int node_telemetry_reader(const struct node *n)
{
	return n->nworkers + 1;
}

/* Reader threads of the auction table: workers, control, telemetry. */
static inline unsigned int node_auction_readers(const struct node *n)
{
	return n->nworkers + 2;
}

#endif
