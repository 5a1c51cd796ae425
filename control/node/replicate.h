/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replication with the peers (CLUSTER.md, docs/PEER_PROTOCOL.md): the
 * control thread's part of a cluster node.
 *
 * - Workers hand the peer port's datagrams to the control thread over
 *   their exception rings, and note the auctions they change on their
 *   `changed` rings (auction_note_change). Outgoing messages leave as
 *   frames on a worker's outgoing ring, like ARP answers: the control
 *   thread owns no TX queue.
 * - Every REPL_BATCH_MS the control thread ships the auctions changed
 *   since the last batch as one DELTA stream to every peer (a hot auction
 *   costs one entry per batch, however many bids it took), keeps each
 *   message until the peer acknowledges it, and retransmits it under a new
 *   sequence number when its time comes (peer_link.h). A peer that falls
 *   further behind than the kept messages gets the full state instead,
 *   pushed page by page; a peer heard for the first time is asked for its.
 * - Received entries merge into the auction table: the leading bid by the
 *   max-register order (a compare-and-swap alongside the workers'), the
 *   counter slots by maximum, the definition as a last-writer-wins register
 *   (a closed phase always wins). Stamps pass the HLC drift guard first.
 * - Heartbeats give reachability and each peer's clock offset; a node off
 *   from at least half of the nodes it hears (itself counted) stops taking
 *   bids (NOT_SERVING, reason `clock`) until it is back in bound.
 *
 * Threads: everything here on the control thread, after replicate_init
 * (main thread, before the workers launch) and before replicate_fini.
 * replicate_peer_status may run on the control thread only too (bidctl's
 * requests are executed there).
 */
#ifndef BIDPLANE_REPLICATE_H
#define BIDPLANE_REPLICATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster_key.h"
#include "netpkt.h"
#include "peer_link.h"
#include "peer_pending.h"
#include "peer_replay.h"
#include "replicate_idem.h"
#include "replicate_rescan.h"
#include "retire.h"

struct control;
struct auction;
struct rte_mbuf;
struct rte_ring;

#define REPL_BATCH_MS  1    /* changes coalesce this long before they ship */
#define REPL_BATCH_MAX 4096 /* changed auctions per batch; the rest wait */
#define REPL_ARP_MS    500  /* asks again for a peer's MAC this often */
/* The wall clock moved this much against the monotonic one between two
 * ticks: a step (NTP slews far slower), the clock estimates start over. */
#define REPL_CLOCK_STEP_MS 50
#define REPL_RETRANSMITS   64 /* per peer per loop, at most */
/* Auctions a rescan (after a full `changed` ring) visits per loop, at most. */
#define REPL_RESCAN_STEP 4096
/* Pending auctions shipped per peer per loop, at most (the bound of the
 * drain's work: lookups and entries, whatever the table size). */
#define REPL_PENDING_BATCH_MAX REPL_BATCH_MAX
/* Frames of room kept in the outgoing ring for heartbeats, ACKs and
 * retransmissions: DELTAs and KEYS wait (pending, in the key log) when
 * there is no more, rather than be dropped there and sent again. */
#define REPL_TX_RESERVE 128
/* At start: a peer not heard within QUIET is taken as down; the start
 * ends at MAX whatever the peers do (a lossy link, a stuck sync). */
#define REPL_START_QUIET_MS 2000
#define REPL_START_MAX_MS   10000

/* Why a peer message was refused after it authenticated, beyond the
 * protocol's reasons (PEER_FOREACH_DROP): the node's own checks. */
#define REPL_FOREACH_DROP(X)                                                                       \
	X(CLOCK_AHEAD, clock_ahead)   /* its HLC is more than --max-drift-ms ahead */              \
	X(STAMP_AHEAD, stamp_ahead)   /* an entry's stamp is above the message's HLC */            \
	X(BACKPRESSURE, backpressure) /* no room to retire what it would replace: sent again */    \
	X(UNKNOWN_AUCTION, unknown_auction) /* an entry without definition, auction unknown */     \
	X(UNKNOWN_SLOT, unknown_slot)	    /* a counter slot of a node not in the cluster */      \
	X(SETTLEMENT_UNFENCED, settlement_unfenced) /* FINAL/SETTLEMENT across --etcd modes */

enum repl_drop {
#define REPL_DROP_ENUM(id, name) REPL_DROP_##id,
	REPL_FOREACH_DROP(REPL_DROP_ENUM)
#undef REPL_DROP_ENUM
	    REPL_DROP_COUNT
};

const char *repl_drop_name(unsigned int d);

/* Per peer, written by the control thread. */
struct repl_peer_stats {
	uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
	uint64_t entries_in, entries_out; /* auction entries merged / shipped */
	uint64_t tx_dropped;		  /* no MAC yet, no mbuf, or a full ring */
	uint64_t sync_pages_served;
	uint64_t syncs_pushed; /* full syncs pushed to it (a pending overflow, a restart) */
	uint64_t tx_held;      /* times the outgoing ring's little room held messages back */
	uint64_t drops[PEER_DROP_COUNT]; /* from this peer, after authentication */
	uint64_t repl_drops[REPL_DROP_COUNT];
};

struct repl_peer {
	uint16_t id;
	uint32_t ip; /* network order */
	uint16_t port;
	unsigned int slot; /* its counter slot in every auction (index + 1) */

	bool mac_known;
	uint8_t mac[6];
	unsigned int port_index; /* the node port it is reached on */
	uint64_t next_arp_ms;
	uint64_t next_heartbeat_ms;

	bool ack_owed; /* reliable messages received since the last ACK */
	bool heard;    /* an accepted message since this node started */
	/* Its settlement mode (PEER_FLAG_FENCED of its last accepted message). */
	bool mode_known;
	bool fenced;
	/* A SYNC_REQUEST that came before any other message of this life:
	 * answered once another one shows the peer is live (a request
	 * replayed after this node restarted gets nothing). */
	bool request_deferred;
	struct peer_sync_request deferred;
	bool want_state; /* its full state is still to be pulled */
	bool push_state; /* it needs our full state (it fell behind) */
	/* Flow control: auctions changed while its window was full, shipped
	 * when it opens; and the next record of the key log it gets. */
	struct peer_pending pending;
	uint64_t keys_next;
	uint64_t next_sync_id;

	/* Our full state being sent to it: the auction ids when it began,
	 * sorted, so that pages walk them in order. */
	uint64_t serving_sync_id;
	uint64_t *serving_ids;
	size_t serving_count;

	struct repl_peer_stats stats;
};

struct replicator {
	bool enabled; /* peers configured */
	struct cluster_key key;
	uint16_t self;
	uint64_t incarnation; /* the fencing epoch (0: not durable yet, nothing sent) */
	unsigned int npeers;
	struct repl_peer peer[PEER_MAX_NODES - 1];
	struct peer_link *links; /* links[i] is peer[i]'s (peer_link.h) */
	struct peer_replay replay;

	/* Counter slots in increasing node id: how entries list them. */
	unsigned int slot_order[PEER_MAX_NODES];
	uint16_t slot_node[PEER_MAX_NODES];

	struct rte_ring *changed; /* the control thread's own changes */
	_Atomic uint64_t changed_full;
	uint64_t own_full_seen;
	uint64_t *changed_full_seen; /* per worker: the rescan trigger */
	struct peer_entry *batch;    /* REPL_BATCH_MAX entries being shipped */
	struct retire_queue retired; /* leading bids replaced by merges */
	struct rte_mempool *bid_pool;
	struct bid *spare;

	uint64_t next_batch_ms;
	bool quarantined;
	/* Wall minus monotonic ms at the last tick (0: none yet): a change
	 * is a step of the wall clock (judge_clock_step). */
	int64_t wall_less_mono_ms;
	/* From start until every peer heard has given its full state and a
	 * clock estimate (or seems down): the node answers NOT_SERVING
	 * (`recovering`), and what peers hold of this node's own counter
	 * slots is what it counted before it restarted. */
	bool starting;
	uint64_t start_ms;

	struct repl_idem idem; /* idempotency across nodes (replicate_idem.h) */

	/* Not attributable to a peer: refused before the sender is known. */
	uint64_t drops[PEER_DROP_COUNT];
	uint64_t rescans;	   /* lost changes that (re)started the rescan */
	struct repl_rescan rescan; /* the walk that finds them (replicate_rescan.h) */
};

/* Internal to replicate*.c: one datagram to a peer; a reliable message
 * (kept until acknowledged); a SYNC_REQUEST. */
void repl_transmit(struct control *c, struct repl_peer *p, const uint8_t *msg, size_t len);
void repl_send_reliable(struct control *c, struct repl_peer *p, uint8_t type, const uint8_t *body,
			size_t body_len, uint64_t now_ms);
void repl_send_sync_request(struct control *c, struct repl_peer *p,
			    const struct peer_sync_request *req);
/* The peer with this node id, or NULL. */
struct repl_peer *repl_peer_by_id(struct replicator *r, uint16_t id);
struct peer_link *repl_link_of(struct control *c, struct repl_peer *p);
/* Whether a DELTA or KEYS may go to p now: more than REPL_TX_RESERVE free
 * frames in the outgoing ring that carries its traffic. A no is counted
 * (tx_held). */
bool repl_tx_room(struct control *c, struct repl_peer *p);
/* Replication lag towards peer i: the age of the oldest thing it has not
 * acknowledged, kept, pending or a key not yet shipped (0: caught up). */
uint64_t repl_peer_lag_ms(const struct control *c, unsigned int i, uint64_t now_ms);

/* A header that only lets a body be encoded once for every peer: each
 * gets the body under its own header (repl_send_reliable and
 * repl_send_once reseal it), so these fields never reach the wire. */
static inline struct peer_header repl_placeholder_header(const struct replicator *r, uint8_t type)
{
	return (struct peer_header){.type = type,
				    .sender = r->self,
				    .receiver = r->self,
				    .incarnation = 1,
				    .seq = 1,
				    .hlc = 1};
}

/* A DELTA or SYNC body sent once, not kept (a SYNC page asked for). */
void repl_send_once(struct control *c, struct repl_peer *p, uint8_t type, const uint8_t *body,
		    size_t body_len);

/* Loads the cluster key and sets up the peers; nothing when there are
 * none. 0, or -errno with err naming the fix. Main thread, before the
 * auctions of --open-range are opened (they are replicated too). */
int replicate_init(struct control *c, char *err, size_t errlen);
void replicate_fini(struct control *c);

/* A frame that classified as PKT_CLASS_PEER on port index `port`. The
 * caller frees it. */
void replicate_receive(struct control *c, struct rte_mbuf *m, const struct pkt_layout *lay,
		       unsigned int port);

/* An ARP request or reply, to learn where a peer is. */
void replicate_learn_arp(struct control *c, const uint8_t *frame, size_t len, unsigned int port);

/* Whether the start has ended (then the control thread opens the
 * --open-range auctions that no peer defined already). */
bool replicate_started(const struct control *c);

/* Every loop: ships the batch when due, retransmits, heartbeats, ACKs,
 * syncs, asks for peers' MACs, and judges the clock quarantine. now_ms,
 * here and in every replication call: node_mono_ms(), never the wall
 * clock (its steps would move the timers). */
void replicate_tick(struct control *c, uint64_t now_ms);

/* The control thread changed an auction's definition (open, close). */
void replicate_definition_changed(struct control *c, struct auction *a);

/* For bidctl status: peer i's view (i < npeers). */
struct repl_peer_view {
	uint16_t node_id;
	uint32_t ip; /* network order */
	uint16_t port;
	bool reachable;
	uint64_t last_heard_ms_ago; /* UINT64_MAX: never */
	uint64_t lag_ms;
	bool has_offset;
	int64_t clock_offset_ms;
};
unsigned int replicate_peers(const struct control *c, struct repl_peer_view *out, unsigned int cap,
			     uint64_t now_ms);

#endif
