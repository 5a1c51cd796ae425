/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log in the node (docs/WAL.md "The node"), with
 * --durability async: recovery at start, the writer thread, and the
 * records of the control and service threads. The workers' records go
 * through dataplane/worker_wal.h.
 *
 * Producers: one per worker (0 .. nworkers-1), one for the control thread
 * (auction open, close, settlement) and one for the durable thread
 * (fencing epoch, HLC high-water mark; the main thread uses it before the
 * durable thread starts, as it does fencing_try and renew_ceiling).
 *
 * Threads: wal_node_start and wal_node_stop on the main thread (start:
 * inside control_start, while the workers answer NOT_SERVING `recovering`
 * and touch neither the tables nor their producers; stop: after they are
 * joined); wal_node_control_* on the control thread (flush and poll
 * only while it is offline); wal_node_service_* on the durable thread
 * and wal_node_tick on the service thread (or main before they start);
 * wal_node_stats and
 * wal_node_describe from any thread.
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
struct snapshot_node;

/* Control records a full ring could not take while the control thread was
 * an RCU reader (it never waits then): submitted in order by the next
 * wal_node_control_flush. 1024: a peer's merge message adopts or closes
 * far fewer auctions at once. */
#define WAL_CONTROL_BACKLOG 1024

struct wal_node {
	struct wal_writer *writer; /* NULL: --durability off */
	struct wal_producer *control, *service;
	struct wal_recovery recovery;
	uint64_t recovered_auctions, recovered_keys, recovered_bids;
	uint64_t orphan_bids; /* accepted bids of auctions never opened in the log */
	uint64_t hlc_logged;  /* the last HLC high-water mark logged (service) */
	bool failed_said;     /* wal_node_tick: the failure was logged */
	uint64_t next_resume_ms;
	_Atomic uint64_t control_lost;	      /* control records the ring could not take */
	_Atomic uint64_t recovery_peer_drops; /* peer frames dropped while recovering */
	struct snapshot_node *snap;	      /* bp-snap (snapshot_node.h); NULL: none */
	/* Control thread: the backlog, and the receipt of the latest control
	 * record submitted (what a bidctl open/close waits for). */
	struct wal_record backlog[WAL_CONTROL_BACKLOG];
	unsigned int backlog_head, backlog_tail;
	struct wal_receipt last_control;
	bool control_submitted;
	/* Service thread: stall detection (wal_node_tick). stalled_ms is read
	 * by bidctl status (wal_node_describe). */
	uint64_t stall_durable, stall_since_ms;
	_Atomic uint64_t stalled_ms; /* 0: not stalled; else since when (monotonic ms) */
	_Atomic uint64_t stall_lsn;  /* the last LSN handed over when it stalled */
	_Atomic uint64_t stalls;     /* times it was found stalled */
};

/* Replays the newest snapshot and the log after it into the node's state
 * (auction table, idempotency table, HLC), then creates and starts the
 * writer at the log's next LSN, gives each worker its producer, and starts
 * bp-snap (snapshot_node.h). Nothing with --durability off. 0, or a
 * negative errno with err naming the file, the offset and the fix. */
int wal_node_start(struct control *c, char *err, size_t errlen);

/* Stops bp-snap, commits what was handed over, stops the writer thread,
 * frees it. */
void wal_node_stop(struct control *c);

/* Control thread: records of the lifecycle. Each is handed to the writer
 * at once, never waiting while the control thread is online
 * (control_online: an RCU reader must not block); a full ring then keeps
 * it in the backlog, in order, for wal_node_control_flush. */
/* An auction's definition, logged before the auction is published. */
void wal_node_control_define(struct control *c, uint64_t id, uint64_t reserve, uint64_t increment,
			     uint64_t close_at_ms, uint64_t def_hlc, uint16_t def_node);
void wal_node_control_close(struct control *c, uint64_t id, uint64_t closed_at_ms);
void wal_node_control_settle(struct control *c, const struct auction *a);

/* Control thread: a WAL_DUP record (replicate_idem.h) straight to the
 * writer, never waiting and never into the backlog (its place among the
 * control records does not matter): 0 with *receipt, -EAGAIN (the ring is
 * full: again later) or -EIO (the writer failed: lost). */
int wal_node_control_dup(struct control *c, const struct wal_dup *d, struct wal_receipt *receipt);

/* Control thread: what became of a control record's receipt. */
enum wal_outcome wal_node_control_outcome(const struct control *c, const struct wal_receipt *r);

/* Control thread, offline, every loop: hands the backlog over (no wait). */
void wal_node_control_flush(struct control *c);

/* What a bidctl open/close waits for (--durability sync): every control
 * record handed over, or queued in the backlog, when it was marked. */
struct wal_control_mark {
	bool armed;		    /* false: nothing to wait for (not sync, or no record) */
	bool receipt_known;	    /* receipt below is the one to wait for */
	unsigned int backlog_end;   /* the backlog's tail at the mark */
	struct wal_receipt receipt; /* the last record submitted at or after the mark */
};

/* Control thread: marks the control records submitted so far. */
void wal_node_control_mark(struct control *c, struct wal_control_mark *m);

/* Control thread, never waits: whether the marked records are durable.
 * 0 (or at once when the mark is not armed); -EAGAIN not yet; -EIO when
 * the writer lost them (err: "done in memory, but its log record was
 * lost: " and the writer's message). The caller bounds the wait. */
int wal_node_control_poll(struct control *c, struct wal_control_mark *m, char *err, size_t errlen);

/* Any thread: the writer's failure, or that it is stalled, in words ("" when
 * neither), for bidctl status `wal.error`. */
void wal_node_describe(const struct control *c, char *buf, size_t len);

/* Service thread: the fencing epoch; the HLC high-water mark once the
 * ceiling has moved past the last one logged. */
void wal_node_service_epoch(struct control *c, uint64_t epoch);
void wal_node_service_hlc(struct control *c, uint64_t ceiling);

/* Service thread, every loop: a failed writer turns the node NOT_SERVING
 * (`wal`) with the writer's message; a resume is asked every second; the
 * node serves again once a probe worked. A writer whose durable LSN has
 * not moved for WAL_STALL_MS (5 s) while records wait (lsn > durable_lsn: a hung
 * pwritev or fdatasync) turns it NOT_SERVING `wal` too ("stalled"), until
 * the durable LSN moves. */
void wal_node_tick(struct control *c, uint64_t now_ms);

/* Whether the log cannot grow just now (docs/WAL.md "The reserve"): the
 * control thread then holds back closes and settlements, which would
 * only fill the log's reserve. Any thread. */
bool wal_node_full(const struct control *c);

/* The writer's counters (zeroes with --durability off). */
void wal_node_stats(const struct control *c, struct wal_writer_stats *s);

/* The workers' WAL counters, summed over every worker. Any thread. */
struct wal_node_worker_totals {
	uint64_t parked, lost_replies, ring_full, lagging, failed, replay_held, replay_lost;
};
void wal_node_worker_totals(const struct control *c, struct wal_node_worker_totals *t);

#endif
