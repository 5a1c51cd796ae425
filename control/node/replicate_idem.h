/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Idempotency across nodes (issue 12; docs/PROTOCOL.md "Retries on another
 * node", docs/PEER_PROTOCOL.md KEYS): the control thread's part.
 *
 * Every batch it drains the keys of the bids its workers accepted (their
 * `keys` rings), notes them in the key table (replicate_keys.h), appends
 * them to the key log and ships the log to every peer as KEYS, kept and
 * retransmitted like DELTAs. Each peer has its own place in the log (flow
 * control): with its window full, its keys wait there and go once the
 * window opens. The log holds the newest REPL_KEY_LOG own keys (56 bytes
 * each: 7 MiB); a peer further behind skips the overwritten ones (counted
 * as keys_overrun: a duplicate among them may stay counted). The keys
 * peers ship are noted too. When the table finds this node's copy of a bid
 * to be the later of two (a client retried on another node before the
 * first copy replicated), the node adds 1 to its own slot of the auction's
 * dups counter and marks the auction changed, so the dups part ships like
 * bid_count and every node shows the bid counted once.
 *
 * Threads: the control thread only, after repl_idem_init (main thread,
 * from replicate_init) and before repl_idem_fini.
 */
#ifndef BIDPLANE_REPLICATE_IDEM_H
#define BIDPLANE_REPLICATE_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_proto.h"
#include "replicate_keys.h"
#include "wal_record.h"
#include "wal_writer.h"

struct control;
struct repl_peer;

/* Keys shipped per batch at most; the rest wait in the rings. Also the
 * most shipped to one peer from the log per loop. */
#define REPL_KEYS_BATCH_MAX 4096
#define REPL_KEY_LOG	    (UINT32_C(1) << 17) /* own keys kept to ship (a power of two) */
/* Own keys drained from the workers whose bid records are not durable
 * yet (a power of two; 64 B each: 4 MiB): a million bids a second for
 * 65 ms of commit latency. Past it the keys wait in the workers' rings. */
#define REPL_KEY_STAGE (UINT32_C(1) << 16)
/* Duplicates counted whose WAL_DUP record is not durable yet (a power
 * of two). A duplicate is a client's retry on another node: rare. */
#define REPL_DUPS_PENDING 4096

struct repl_idem_stats {
	uint64_t keys_out;	/* own keys shipped, counted per peer */
	uint64_t keys_in;	/* peers' keys noted */
	uint64_t keys_refused;	/* a peer's record not of its own node, or stamped ahead */
	uint64_t dups_unknown;	/* a duplicate of an auction no longer here */
	uint64_t keys_resent;	/* own keys shipped again to a peer after a full sync */
	uint64_t keys_overrun;	/* own keys overwritten in the log before a peer got them */
	uint64_t keys_restored; /* own keys restored from the log at start */
	uint64_t dups_unlogged; /* duplicates left counted twice: their WAL_DUP record was lost */
};

struct repl_key_log_rec {
	struct peer_key key;
	uint64_t at_ms; /* when it was logged: a peer's lag */
};

/* An own key waiting for its bid record: durable once `receipt` is (a
 * mark of its worker's log producer taken after the key was drained). */
struct repl_key_staged {
	struct peer_key key;
	struct wal_receipt receipt;
	uint16_t worker;
};

/* A duplicate counted, waiting for its WAL_DUP record to be durable
 * before its count is applied (and so shipped). */
struct repl_dup_pending {
	struct wal_dup dup;
	struct wal_receipt receipt;
	bool submitted;
};

struct repl_idem {
	struct repl_keys table;
	/* With a log: own keys go to the table and the peers only once their
	 * bid records are durable, and a duplicate counts only once its
	 * WAL_DUP record is, so that what a restart recovers never holds less
	 * than what the peers were told (docs/WAL.md "Duplicates across
	 * nodes"). */
	struct repl_key_staged *stage; /* REPL_KEY_STAGE; NULL without a log */
	uint64_t stage_head, stage_tail;
	struct repl_dup_pending *dups; /* REPL_DUPS_PENDING; NULL without a log */
	uint64_t dups_head, dups_tail;
	struct peer_key *batch; /* REPL_KEYS_BATCH_MAX (>= REPL_KEYS_RESEND_MAX) */
	/* The key log: record i (0, 1, ... never reused) at i % REPL_KEY_LOG;
	 * the newest REPL_KEY_LOG of them are held, below log_next. */
	struct repl_key_log_rec *log;
	uint64_t log_next;
	struct repl_idem_stats stats;
};

/* Sizes the table from --dedup-rate x --dedup-seconds. 0, or -errno with
 * err naming the fix. */
int repl_idem_init(struct control *c, char *err, size_t errlen);
void repl_idem_fini(struct control *c);

/* Drains the workers' key rings, notes and logs the keys whose bid
 * records are durable, applies the duplicates whose WAL_DUP records are,
 * and ships every peer its keys from its place in the log while its
 * window is open. */
void repl_idem_ship(struct control *c, uint64_t now_ms);

/*
 * Recovery (main thread, before the control thread runs; wal_node.c): an
 * own accepted bid record (node: this node's) or a WAL_DUP record, still
 * inside the window, aged age_ms. Own copies also go back into the key
 * log, so that every peer gets them again.
 */
void repl_idem_restore_bid(struct control *c, const struct wal_bid *b, uint64_t age_ms);
void repl_idem_restore_dup(struct control *c, const struct wal_dup *d, uint64_t age_ms);

/*
 * Peer p gets a full sync (it restarted, or it fell behind the pending
 * set; its kept messages, KEYS among them, may be forgotten): this node's
 * keys go to it again, from the oldest the log holds, through its window
 * (older ones are not compared there again: a duplicate among them may
 * stay counted).
 */
void repl_idem_resend(struct control *c, struct repl_peer *p, uint64_t now_ms);

/* Own keys in the log not yet shipped to p, and the age of the oldest of
 * them (0: none). */
uint64_t repl_idem_keys_behind(const struct control *c, const struct repl_peer *p);
uint64_t repl_idem_keys_age_ms(const struct control *c, const struct repl_peer *p, uint64_t now_ms);

/* Whether a KEYS from peer p may count: its HLC passes the drift guard
 * (a stamp too far ahead moves nothing, CLUSTER.md promise 4; counted as
 * clock_ahead, and the message is refused unacknowledged). */
bool repl_idem_acceptable(struct control *c, struct repl_peer *p, uint64_t msg_hlc);

/* The records of an accepted KEYS from peer p (msg_hlc: its header's). */
void repl_idem_receive(struct control *c, struct repl_peer *p, const struct peer_keys *keys,
		       uint64_t msg_hlc, uint64_t now_ms);

#endif
