/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-packet path: L2-L4 checks, the v1 codec, idempotency, the
 * auction, and the reply written in place over the request. No locks, no
 * allocation, no logging: every outcome is a counter.
 *
 * Threads: a worker's own thread (or the packet-path benchmark's), with the
 * worker online as an RCU reader.
 */
#ifndef BIDPLANE_PACKET_PATH_H
#define BIDPLANE_PACKET_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include "worker.h"

/*
 * The packet path (packet_path.c), in stages over a burst so that the
 * cache misses of different packets overlap (static, inlined into
 * worker_process_burst):
 *   packet_parse   L2-L4 and the codec; drops or hands to control what is
 *                  not a request, prefetches the request's idempotency bucket;
 *   (the worker)   looks up the auctions of the whole burst at once;
 *   packet_answer  applies the request and writes the reply in place.
 */
struct rx_item {
	struct rte_mbuf *m;
	struct pkt_layout lay;
	struct bp_parse p;
	struct auction *auction; /* from the bulk lookup; NULL: unknown */
	uint64_t dedup_hash;	 /* dedup_hash of the request's key (not QUERY) */
};

/* The three stages over one received burst (at most WORKER_BURST frames)
 * from port `port_index`; the replies to send are put in `replies`.
 * Returns their number. Used by the loop, and by perf/bench_packet_path. */
uint16_t worker_process_burst(struct worker *w, unsigned int port_index, struct rte_mbuf **pkts,
			      uint16_t nb_rx, struct rte_mbuf **replies);

/* Whether the item is a valid request whose auction must be looked up. */
static inline bool packet_needs_auction(const struct rx_item *it)
{
	return it->p.verdict == BP_VALID;
}

#endif
