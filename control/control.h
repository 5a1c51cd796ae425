/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread (main lcore, slow path): auction lifecycle (open,
 * close at close time, settle once no worker can still accept a bid),
 * ARP/ICMP answers for frames the workers hand over, the fencing epoch,
 * the control socket, and the exit summary.
 *
 * Threads: everything here runs on the main lcore only. It is an RCU
 * reader of the auction table (id node_control_reader()).
 */
#ifndef BIDPLANE_CONTROL_H
#define BIDPLANE_CONTROL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "auction_bid.h"
#include "node.h"

struct ctl_server;
struct ctl_handlers;
struct stats_writer;
struct stats_node_block;

struct control_stats {
	_Atomic uint64_t arp_replies;
	_Atomic uint64_t icmp_replies;
	_Atomic uint64_t exceptions_ignored; /* not for us / not a request */
	_Atomic uint64_t auctions_opened;
	_Atomic uint64_t auctions_closed;
	_Atomic uint64_t auctions_settled;
	_Atomic uint64_t auctions_removed;
	_Atomic uint64_t fencing_failures;
};

struct control {
	struct node *node;
	struct ctl_server *ctl;
	struct hlc_clock clock;
	uint64_t next_tick_ms;
	/* Earliest close or removal time among the auctions: the lifecycle
	 * scans the table only once it is reached, not on every tick. */
	uint64_t next_due_ms;
	uint64_t next_fencing_retry_ms;
	struct control_stats stats;

	/* The stats segment (stats_node.c). */
	struct stats_writer *segment;
	struct stats_node_block *stats_block;
	uint64_t next_stats_ms;
	uint64_t dedup_scan_pos;
	uint64_t dedup_scan_used;
};

/* Registers as RCU reader, persists the fencing epoch, opens the control
 * socket and the --open-range auctions. 0, or -errno with err set. */
int control_init(struct control *c, struct node *n, char *err, size_t errlen);

/* Runs until n->force_quit. */
void control_run(struct control *c);
void control_fini(struct control *c);

/* Lifecycle (lifecycle.c). */
int lifecycle_open(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
		   uint64_t duration_s, char *err, size_t errlen);
int lifecycle_close(struct control *c, uint64_t id, char *err, size_t errlen);
/* Closes due auctions, settles them after a grace period, removes old
 * settled ones. */
void lifecycle_tick(struct control *c, uint64_t now_ms);

/* ARP and ICMP frames from the workers (exception.c). */
void exceptions_serve(struct control *c);

/* The control socket's handlers (ctl_glue.c). */
void ctl_glue_handlers(struct control *c, struct ctl_handlers *h);

/* One-screen summary of the run (summary.c). */
void control_print_summary(const struct control *c, FILE *out);

#endif
