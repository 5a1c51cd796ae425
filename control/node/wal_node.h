/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log in the node (docs/WAL.md "The node"), with
 * --durability async: recovery at start, the writer thread, and the
 * records of the control and service threads. The workers' records go
 * through dataplane/worker_wal.h.
 *
 * Producers: one per worker (0 .. nworkers-1), one for the control thread
 * (auction open, close, settlement) and one for the service thread
 * (fencing epoch, HLC high-water mark; the main thread uses it before the
 * service thread starts, as it does fencing_try and renew_ceiling).
 *
 * Threads: wal_node_start and wal_node_stop on the main thread (start:
 * inside control_init, before the workers launch; stop: after they are
 * joined); wal_node_control_* on the control thread; wal_node_service_* and
 * wal_node_tick on the service thread (or main before it starts);
 * wal_node_stats from any thread.
 */
#ifndef BIDPLANE_WAL_NODE_H
#define BIDPLANE_WAL_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_recover.h"
#include "wal_writer.h"

struct control;
struct auction;

struct wal_node {
	struct wal_writer *writer; /* NULL: --durability off */
	struct wal_producer *control, *service;
	struct wal_recovery recovery;
	uint64_t recovered_auctions, recovered_keys, recovered_bids;
	uint64_t hlc_logged; /* the last HLC high-water mark logged (service) */
	bool failed_said;    /* control: the failure was logged */
	uint64_t next_resume_ms;
	_Atomic uint64_t control_lost; /* control records the ring could not take */
};

/* Replays the log into the node's state (auction table, idempotency table,
 * HLC), then creates and starts the writer at the log's next LSN and gives
 * each worker its producer. Nothing with --durability off. 0, or a
 * negative errno with err naming the file, the offset and the fix. */
int wal_node_start(struct control *c, char *err, size_t errlen);

/* Commits what was handed over, stops the writer thread, frees it. */
void wal_node_stop(struct control *c);

/* Control thread: records of the lifecycle. */
void wal_node_control_open(struct control *c, const struct auction *a);
void wal_node_control_close(struct control *c, uint64_t id, uint64_t closed_at_ms);
void wal_node_control_settle(struct control *c, const struct auction *a);

/* Service thread: the fencing epoch; the HLC high-water mark once the
 * ceiling has moved past the last one logged. */
void wal_node_service_epoch(struct control *c, uint64_t epoch);
void wal_node_service_hlc(struct control *c, uint64_t ceiling);

/* Service thread, every loop: a failed writer turns the node NOT_SERVING
 * (`wal`) with the writer's message; a resume is asked every second; the
 * node serves again once a probe worked. */
void wal_node_tick(struct control *c, uint64_t now_ms);

/* The writer's counters (zeroes with --durability off). */
void wal_node_stats(const struct control *c, struct wal_writer_stats *s);

/* The workers' WAL counters, summed over every worker. Any thread. */
struct wal_node_worker_totals {
	uint64_t parked, lost_replies, ring_full, lagging, failed, replay_held, replay_lost;
};
void wal_node_worker_totals(const struct control *c, struct wal_node_worker_totals *t);

#endif
