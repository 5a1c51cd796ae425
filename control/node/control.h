/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's slow path, in three threads (docs/DESIGN.md, "Threads"):
 *
 * - The control thread (main lcore) does the fast duties: ARP/ICMP answers
 *   for frames the workers hand over, the auction lifecycle (open, close at
 *   close time, settle once no worker can still accept a bid), the control
 *   commands the service thread hands it, and the stats refresh. It never
 *   does I/O; the one wait is bidctl close's, at most 200 ms for a grace
 *   period (past that the auction settles on a later tick). It is an RCU
 *   reader of the auction table (id node_control_reader()) only inside
 *   control_online() .. control_offline() sections that copy what they
 *   need and do nothing else: log lines are written after the section.
 * - The service thread (a DPDK control thread, service.c) does the slow
 *   duties: the control socket's clients and the settlement log. It
 *   is never an RCU reader: a request that needs the auction table goes to the control thread
 *   through a one-slot mailbox, and the service thread waits for the
 *   answer without holding anything. It never waits on the disk.
 * - The durable thread (bp-durable, a DPDK control thread, service.c)
 *   persists the fencing epoch and the HLC ceiling (fsync): a disk that
 *   stops answering stops bids at the durable ceiling, not bidctl.
 *
 * Threads: functions here on the control thread unless said otherwise.
 */
#ifndef BIDPLANE_CONTROL_H
#define BIDPLANE_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auction_bid.h"
#include "hlc_ceiling.h"
#include "leader.h"
#include "settlement.h"
#include "log.h"
#include "stats_node.h"
#include "node.h"
#include "peer_proto.h"
#include "rcu_section.h"
#include "replicate.h"
#include "wal_node.h"

struct ctl_server;
struct ctl_handlers;
struct stats_writer;
struct stats_node_block;

/* One control-socket request handed from the service thread to the
 * control thread (service.c). */
enum mailbox_state {
	MAILBOX_EMPTY = 0,
	MAILBOX_POSTED, /* by the service thread */
	MAILBOX_TAKEN,	/* the control thread is executing it, or its answer
			 * waits for durability (durable below) */
	MAILBOX_DONE,	/* the answer is in out[0..len) */
};

/* --durability sync: a bidctl open or close is answered once its log
 * records are durable. The control thread does not wait for them: the
 * request stays TAKEN, its "ok" answer written, and every loop polls the
 * mark (ctl_glue_durable_poll) until they are durable (DONE with that
 * answer), lost or late (DONE with the error instead). */
struct mailbox_durable {
	bool waiting;
	struct wal_control_mark mark;
	uint64_t deadline_tsc;
};

struct mailbox {
	_Atomic int state; /* enum mailbox_state */
	const char *line;
	char *out;
	size_t cap;
	size_t len;
	struct mailbox_durable durable; /* control thread only */
};

/* Settlements the control thread made, for the service thread to log: the
 * control thread never writes a log line itself (a full stderr pipe would
 * block it). Single producer (control), single consumer (service). */
#define SETTLE_NOTES 1024
struct settle_note {
	uint64_t id;
	struct bid winner;
	uint64_t bids;
};
struct settle_notes {
	_Atomic uint64_t head; /* written by the control thread */
	_Atomic uint64_t tail; /* written by the service thread */
	_Atomic uint64_t dropped;
	struct log_limit log_limit; /* service thread */
	struct settle_note ring[SETTLE_NOTES];
};

/* A closed auction waiting for its grace period before settlement. */
struct settling {
	struct auction *a;
	uint64_t token;
};

struct control {
	struct node *node;
	struct hlc_ceiling ceiling; /* renewed by the durable thread */
	uint64_t previous_ceiling;  /* the last life's; the wall clock must pass it */
	bool behind_previous;	    /* it has not yet (NOT_SERVING clock) */
	bool hlc_ahead;		    /* the HLC runs ahead of the wall clock (clock_guard) */
	struct settling *settling;  /* ring of settling_cap entries */
	uint64_t settling_head, settling_tail;
	uint32_t settling_cap;
	struct settle_notes settle_notes;
	struct ctl_server *ctl;
	struct ctl_handlers *handlers; /* executed on the control thread */
	struct mailbox mailbox;
	pthread_t service;
	bool service_started;
	pthread_t durable; /* the HLC ceiling and the fencing epoch (service.c) */
	bool durable_started;
	struct hlc_clock clock;
	uint64_t next_tick_ms;
	/* Earliest close or removal time among the auctions: the lifecycle
	 * scans the table only once it is reached, not on every tick. */
	uint64_t next_due_ms;
	/* Where the slow path counts: own_stats until the stats segment
	 * exists, then its control block (no copies, as for the workers). */
	struct control_stats *stats;
	struct control_stats own_stats;

	/* The stats segment (stats_node.c). */
	struct stats_writer *segment;
	struct stats_node_block *stats_block;
	uint64_t next_stats_ms;
	uint64_t dedup_scan_pos;
	uint64_t dedup_scan_used;
	struct rcu_section rcu; /* control_online / control_offline */

	struct replicator repl; /* replicate.h; disabled on a lone node */
	/* With --etcd: leadership (leader.h, its own thread). */
	struct leader leader;
	bool etcd;
	struct settlement_counts settlements; /* settlement.c, with --etcd */
	bool range_pending;		      /* --open-range waits for the cluster start */
	struct wal_node wal;		      /* the write-ahead log (wal_node.h) */
};

/* Locks the state dir, loads the HLC ceiling, opens the control socket
 * (answering `status` only until control_start is done), the stats
 * segment and replication. The node is NOT_SERVING `recovering` from here
 * until control_start has recovered the log. 0, or -errno with err set
 * (and everything undone). Main thread, before the workers launch. */
int control_init(struct control *c, struct node *n, char *err, size_t errlen);

/* Main thread, with the workers running (they answer NOT_SERVING until
 * node_state_ready): replays the log into the auction and idempotency
 * tables as their only writer (serving ARP, ping and bidctl status
 * meanwhile, control_recovery_poll), starts the log writer, opens the
 * --open-range auctions, publishes the state to the workers, then
 * persists the next fencing epoch (so a start that fails bumps none; the
 * node serves once it is durable, the durable thread retrying until it
 * is) and starts the durable and service threads. 0, or -errno with err set: the
 * caller stops the workers, then calls control_fini. */
int control_start(struct control *c, char *err, size_t errlen);

/* Main thread, inside control_start's recovery, every millisecond or so:
 * ARP and ICMP answers, peer frames dropped and counted, bidctl status. */
void control_recovery_poll(struct control *c);

/* Runs until n->force_quit. */
void control_run(struct control *c);
/* Stops and joins the service and durable threads, closes the socket. */
void control_fini(struct control *c);

/* An RCU read-side section of the control thread: the auction records
 * read between the two calls stay valid. Keep it to copying. A pair
 * inside another is harmless (rcu_section.h): the outer one holds. */
void control_online(struct control *c);
void control_offline(struct control *c);

/* Service thread: logs the settlements noted since the last call. */
void settle_notes_log(struct control *c);

/* The service and durable threads (service.c): started together, main
 * thread; stopped together once force_quit is set. */
int service_start(struct control *c, char *err, size_t errlen);
void service_stop(struct control *c);
/* Control thread: executes a request the service thread posted, if any,
 * or finishes the one whose answer waits for durability. Never waits. */
void mailbox_serve(struct control *c);
/* Control thread, once its loop has ended: a request still waiting for
 * durability is answered (with an error unless durable by now), so that
 * the service thread, which waits for that answer, can stop. */
void mailbox_abandon(struct control *c);
/* Keeps the HLC ceiling a lease ahead of the clock and lets stamps go up to
 * the durable one (HLC G8); says once when it cannot, and once when it can
 * again. Durable thread, or the main thread before it starts (blocks:
 * fsync). */
void renew_ceiling(struct control *c);

/* One attempt to persist the next fencing epoch; on success the fencing
 * reason to refuse bids is cleared. Main thread at start, then the durable
 * thread (never both: the durable thread starts after the first). */
void fencing_try(struct control *c);

/* Lifecycle (lifecycle.c). */
int lifecycle_open(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
		   uint64_t duration_s, char *err, size_t errlen);
int lifecycle_close(struct control *c, uint64_t id, char *err, size_t errlen);
/* Something is due at when_ms (a close): the next tick scans by then. */
void lifecycle_due_at(struct control *c, uint64_t when_ms);
/* A peer closed the auction: closed here too, settled on a later tick. */
void lifecycle_close_replicated(struct control *c, struct auction *a);
/* A peer defined an auction this node does not have: opens it as defined
 * (closed ones too, unless long past). NULL when it cannot (table full,
 * counted in auctions_adopt_failed) or need not. */
struct auction *lifecycle_adopt(struct control *c, uint64_t id, const struct peer_definition *d);
/* An auction as the write-ahead log recovered it (wal_node.c), before
 * the workers run: opened, closed and settled as it was. *out is NULL when
 * it is long settled (not restored). 0 or auction_open's errors. */
struct lifecycle_restored {
	uint64_t reserve, increment, close_at_ms, def_hlc;
	uint16_t def_node;
	bool closed, settled;
	struct bid winner;
	uint64_t settled_at_ms;
	uint64_t fencing_token; /* the settlement's */
};
int lifecycle_restore(struct control *c, uint64_t id, const struct lifecycle_restored *how,
		      struct auction **out);

/* Records a settlement (the local one, etcd's, or a peer's copy of it):
 * counted, logged, shown. */
void lifecycle_settled(struct control *c, struct auction *a, const struct bid *winner,
		       uint64_t fencing_token, uint64_t settled_at_ms);
/* Closes due auctions, settles them once their grace period has passed
 * (a later tick: never waits), removes old settled ones. */
void lifecycle_tick(struct control *c, uint64_t now_ms);
int lifecycle_init(struct control *c);
void lifecycle_fini(struct control *c);

/* ARP and ICMP frames from the workers (exception.c). */
void exceptions_serve(struct control *c);

/* The control socket's handlers (ctl_glue.c). open and close, with
 * --durability sync, arm c->mailbox.durable instead of waiting. */
void ctl_glue_handlers(struct control *c, struct ctl_handlers *h);
/* Control thread, never waits: whether the records an open or close
 * armed are durable. 0 yes; -EAGAIN not yet; -EIO lost or -ETIMEDOUT
 * after CTL_DURABLE_WAIT_MS, with err the answer's reason. */
int ctl_glue_durable_poll(struct control *c, char *err, size_t errlen);

/*
 * Leadership as bidctl and the stats show it (any thread): with --etcd,
 * the leader thread's view; without, a lone node is its own leader, its
 * token the local fencing epoch (while that epoch is durable).
 */
void control_leadership(struct control *c, struct leader_view *v);

/* One-screen summary of the run (summary.c). */
void control_print_summary(const struct control *c, FILE *out);

#endif
