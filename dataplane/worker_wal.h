/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker's side of the write-ahead log (docs/WAL.md "The node"): every
 * BID, WATCH and UNWATCH whose answer is remembered becomes one record,
 * encoded straight into this worker's SPSC ring of the log writer
 * (wal_submit_record), never blocking.
 *
 * Order on the packet path: worker_wal_admit before the request changes
 * memory, worker_wal_log after. Admit refuses when the writer has failed
 * or the log cannot grow (NOT_SERVING: the disk is the problem, the node
 * says so; a full log still writes what was admitted before, into its
 * reserve, so a full disk loses nothing), when the ring
 * is full or, with --durability async, when the oldest record not yet
 * durable is older than --async-window-ms (OVERLOADED: the log is behind,
 * a retry soon succeeds; it is not remembered). Because admit saw a free
 * slot and only the writer frees slots, the submit after the change cannot
 * find the ring full; it fails only if the writer failed in between
 * (worker_wal_log returns false: the answer becomes NOT_SERVING, while the
 * change stays in memory and in the idempotency table; an ACCEPTED bid's
 * stamp joins the worker's lost range, so its retry is never REPLAYED
 * ACCEPTED: docs/WAL.md "What a lost record's key answers").
 *
 * Threads: the owning worker only; the counters may be read by any thread.
 */
#ifndef BIDPLANE_WORKER_WAL_H
#define BIDPLANE_WORKER_WAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "wal_record.h"
#include "wal_writer.h"

/* --durability sync: replies of ACCEPTED bids parked until durable
 * (dataplane/park.h). A reply waits for the commit under way and its own:
 * up to two fdatasyncs, 1-8 ms each on this VM's disk (perf/README.md
 * "Full load"). 8192 per worker holds 500k ACCEPTED/s of one worker
 * through two 8 ms commits; 4096 ran out at full load (ring_full). */
#define WORKER_PARK_MAX 8192

struct rte_mbuf;
struct parked_reply {
	struct rte_mbuf *m;
	struct wal_receipt receipt;
	uint64_t hlc;
	uint16_t port;
	bool decided; /* durable or lost: only waiting for room in the TX queue */
};

struct worker_wal {
	struct wal_producer *producer; /* NULL: --durability off */
	uint64_t window_tsc;	       /* async: --async-window-ms in TSC ticks */
	bool sync;		       /* --durability sync: park ACCEPTED replies */
	/* sync: the request being answered submitted an ACCEPTED bid with
	 * this receipt and stamp; the reply point parks it (park.h). */
	bool park_next;
	struct wal_receipt next_receipt;
	uint64_t next_hlc;
	/* The parked replies, oldest first (a producer's records become
	 * durable in order). */
	struct parked_reply park[WORKER_PARK_MAX];
	uint64_t park_head, park_tail;
	/* TSC since when the TX queue has refused released replies (0: it
	 * takes them); past PARK_TX_WAIT_US they are dropped (park.c). */
	uint64_t tx_full_since;
	/* The stamp of this worker's oldest ACCEPTED bid not known durable
	 * (UINT64_MAX: none), for the other workers' replays (park.h). */
	_Atomic uint64_t pending_hlc;
	/* The stamps of this worker's ACCEPTED bids whose records were lost
	 * (the writer failed before they were durable), lowest and highest:
	 * their keys stay remembered as ACCEPTED in memory, so a replay of a
	 * stamp in [lost_lo, lost_hi] is answered NOT_SERVING, never REPLAYED
	 * ACCEPTED (park.h). lost_lo UINT64_MAX: none. Stored hi then lo,
	 * before the key's answer or the worker's pending_hlc moves past it. */
	_Atomic uint64_t lost_lo, lost_hi;
	_Atomic uint64_t parked, released, lost_replies, replay_held, replay_lost;
	/* The oldest record this worker submitted that was not durable when
	 * last looked at (async window). */
	bool tracking;
	struct wal_receipt oldest;
	uint64_t oldest_tsc;
	/* Counters, written by the worker only. */
	_Atomic uint64_t records;     /* handed over */
	_Atomic uint64_t ring_full;   /* refused: ring full (OVERLOADED) */
	_Atomic uint64_t lagging;     /* refused: async window passed (OVERLOADED) */
	_Atomic uint64_t failed;      /* refused: writer failed or full (NOT_SERVING) */
	_Atomic uint64_t lost_answer; /* changed memory, then the writer failed */
};

/* An ACCEPTED bid stamped `hlc` lost its record: widens lost_lo..lost_hi.
 * The owning worker only. */
void worker_wal_note_lost(struct worker_wal *l, uint64_t hlc);

/* BP_ACCEPTED: go on and change memory; else the status to answer
 * (BP_OVERLOADED or BP_NOT_SERVING), counted. now_tsc: the burst's TSC. */
enum bp_status worker_wal_admit(struct worker_wal *l, uint64_t now_tsc);

/* Hands one record over (after an admit that said BP_ACCEPTED), *receipt
 * its receipt (may be NULL); false when the writer failed in between
 * (answer NOT_SERVING). */
bool worker_wal_log(struct worker_wal *l, const struct wal_record *rec, uint64_t now_tsc,
		    struct wal_receipt *receipt);

/* The records of an answered BID (with its receipt: may be NULL) and
 * WATCH/UNWATCH (docs/WAL.md "Bodies"); an answer the log does not
 * remember (NOT_SERVING from the HLC ceiling) is not logged and returns
 * true. */
bool worker_wal_bid(struct worker_wal *l, const struct bp_request *r, uint16_t node, uint8_t status,
		    uint64_t hlc, uint64_t now_tsc, struct wal_receipt *receipt);
bool worker_wal_view(struct worker_wal *l, const struct bp_request *r, uint16_t node,
		     uint8_t status, uint64_t hlc, uint64_t now_tsc);

static inline bool worker_wal_on(const struct worker_wal *l)
{
	return l->producer != NULL;
}

#endif
