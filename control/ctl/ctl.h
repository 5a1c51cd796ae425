/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a unix stream socket the node listens on
 * (--control-socket) and bidctl talks to. One request per connection.
 *
 * Request: one line, at most CTL_LINE_MAX bytes, words separated by spaces:
 *   <format> <command> [args...]\n
 *   format  = "text" | "json"
 *   command = open <auction_id> <reserve> <increment> <duration_s>
 *           | close <auction_id>
 *           | query <auction_id>
 *           | list [<from> [<limit>]]
 *           | status
 *           | clock-offset <ms>
 *           | lease-guard <on>
 * Every argument is an unsigned decimal number in its range, except ms:
 *   auction_id, from      1..2^64-1
 *   reserve, increment    1..CTL_AMOUNT_MAX (2^63-1: no bid can exceed it)
 *   duration_s            1..CTL_DURATION_MAX_S (10 years)
 *   limit                 1..CTL_LIST_LIMIT_MAX (default CTL_LIST_LIMIT_MAX)
 *   ms                    a decimal number, '-' allowed, in
 *                         -CTL_CLOCK_OFFSET_MAX_MS..CTL_CLOCK_OFFSET_MAX_MS
 *   on                    0 or 1
 * clock-offset is fault injection only: it sets the shift of the node's
 * wall clock (--clock-offset-ms of a running node), so that tests can make
 * its clock jump forward or back; the answer gives the new and old offset.
 * lease-guard is fault injection only too (bidctl lease-guard on|off): with
 * 0 a leader ignores its own lease deadline (and etcd's word that its lease
 * is gone) until etcd refuses a settlement txn for its fencing token, a
 * zombie leader for tests (leader.h); 1 restores the guard. The answer says
 * whether the guard is on now and was before. Refused without --etcd.
 * list answers a page: the auctions with id >= from (default 1), the
 * lowest ids first, at most limit of them, and the id to ask from next
 * (none when the page holds the last auction).
 * Response: a first line "ok" or "error <message>", then the body in the
 * requested format (text: human lines; json: one JSON object; for errors
 * json bodies are {"error":"<message>"}), then the server closes. An
 * answer never is "ok" with a cut body: one that does not fit the
 * server's buffer is answered "error" instead.
 * docs/CONTROL.md documents the same with examples.
 *
 * Threads: the server runs on one thread (the node's service thread);
 * ctl_server_poll is non-blocking and bounded per client. The handlers run
 * wherever the executor runs them: by default ctl_execute on the server's
 * thread; the node sets an executor that runs them on its control thread.
 */
#ifndef BIDPLANE_CTL_H
#define BIDPLANE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_LINE_MAX 512

/* The bounds above; the node's own (BID_AMOUNT_MAX, BP_DURATION_MAX_S)
 * are the same, checked where both are seen (control/lifecycle.c). */
#define CTL_AMOUNT_MAX	   UINT64_C(9223372036854775807)
#define CTL_DURATION_MAX_S UINT64_C(315360000)
/* A page of the longest JSON auctions (~420 bytes) fits the server's
 * 1 MiB answer with room to spare. */
#define CTL_LIST_LIMIT_MAX 1000
/* clock-offset's bound: a day either way is more than any clock fault a
 * test needs, and keeps the shifted clock far from 0 and from HLC_MAX_MS. */
#define CTL_CLOCK_OFFSET_MAX_MS INT64_C(86400000)

struct ctl_auction {
	uint64_t id;
	uint64_t reserve;
	uint64_t increment;
	uint64_t close_at_ms;
	int phase; /* enum bp_auction_phase: 1 open, 2 closed */
	uint64_t leading_amount;
	uint64_t leading_bidder;
	uint64_t leading_hlc;
	uint64_t bid_count;
	uint64_t viewers;
	bool settled; /* closed, and the winner below is final */
	uint64_t settled_at_ms;
	/* The settlement (CLUSTER.md's `settlement`, the same on every node),
	 * when settled: the winning bid (0s: none) and the fencing token it
	 * was written with (the local epoch without --etcd). */
	uint64_t settlement_amount;
	uint64_t settlement_bidder;
	uint64_t settlement_hlc;
	uint16_t settlement_node_id;
	uint64_t settlement_fencing_token;
};

/* Waiting settlements named by status (the counts give them all). */
#define CTL_MAX_WAITS 16

/* A peer as bidctl status shows it (CLUSTER.md's names). */
#define CTL_MAX_PEERS 15
struct ctl_peer {
	uint16_t node_id;
	uint32_t ip; /* network order */
	uint16_t port;
	bool reachable;
	uint64_t last_heard_ms_ago; /* UINT64_MAX: never heard */
	uint64_t lag_ms;
	bool has_clock_offset;
	int64_t clock_offset_ms;
};

struct ctl_status {
	uint16_t node_id;
	const char *version;
	uint64_t hlc;
	uint64_t fencing_epoch;
	bool serving;
	/* NULL while serving, else one word: fencing, clock, hlc_ceiling. */
	const char *not_serving_reason;
	unsigned int workers;
	uint64_t uptime_s;
	uint64_t auctions_open;
	uint64_t auctions_closed;
	uint64_t auctions_settled;
	/* The shift of this node's wall clock (--clock-offset-ms or
	 * clock-offset): fault injection. Not the peers' clock_offset_ms. */
	int64_t injected_clock_offset_ms;
	/* lease-guard 0 (fault injection): the leader ignores its deadline. */
	bool injected_lease_guard_off;
	unsigned int npeers;
	struct ctl_peer peers[CTL_MAX_PEERS];
	/* Leadership (CLUSTER.md): without --etcd a lone node is its own
	 * leader, its token the fencing epoch; fencing_token 0 unless leader. */
	bool leader;
	uint64_t fencing_token;
	bool etcd; /* --etcd given: the fields below say how it goes */
	bool etcd_reachable;
	uint64_t etcd_latency_us;
	uint64_t etcd_lease_left_ms;
	uint16_t etcd_leader_node_id; /* 0: no leader known */
	/* The write-ahead log: --durability (off, async, sync), the last LSN
	 * handed out and the last durable one; wal_error: "" or the writer's
	 * failure, with its fix. */
	const char *durability;
	uint64_t wal_lsn, wal_durable_lsn;
	bool wal_full;		    /* the log cannot keep its reserve: bids refused */
	uint64_t wal_reserve_bytes; /* allocated past the last record */
	char wal_error[256];
	/* Snapshots (docs/WAL.md "Snapshots in the node"): the newest one's
	 * LSN (0: none), age (-1: none), size, records, how long it took;
	 * written and failed since start. */
	uint64_t snapshot_lsn;
	int64_t snapshot_age_s;
	uint64_t snapshot_bytes, snapshot_records, snapshot_duration_ms;
	uint64_t snapshots, snapshot_failures;
	uint64_t fencing_rejections; /* settlement txns refused for our token */
	/* `settlements` (with --etcd; without, pending is 0): settled here,
	 * closed but not settled, and of those the ones that wait for a
	 * peer's final bid or for etcd. */
	uint64_t settlements_done;
	uint64_t settlements_pending;
	uint64_t settlements_waiting_for_peer;
	uint64_t settlements_waiting_for_etcd;
	/* The first of the waiting auctions, and what each waits for: a
	 * peer's final report (peer_node_id) or etcd (peer_node_id 0). */
	unsigned int nwaits;
	struct ctl_wait {
		uint64_t auction;
		uint16_t peer_node_id;
	} waits[CTL_MAX_WAITS];
};

typedef void (*ctl_emit_fn)(void *arg, const struct ctl_auction *a);
/* Whether the auction with this id would be kept by the page being built:
 * the node describes (and emits) only those, so that a page costs little
 * more than a walk over the ids however large the table is. */
typedef bool (*ctl_wants_fn)(void *arg, uint64_t id);

/*
 * What the node provides. Each returns 0, or a negative errno with a
 * one-line reason in err (sent to the client as "error <reason>").
 */
struct ctl_handlers {
	int (*open)(void *ctx, uint64_t id, uint64_t reserve, uint64_t increment,
		    uint64_t duration_s, char *err, size_t errlen);
	int (*close)(void *ctx, uint64_t id, char *err, size_t errlen);
	int (*query)(void *ctx, uint64_t id, struct ctl_auction *out, char *err, size_t errlen);
	int (*list)(void *ctx, ctl_wants_fn wants, ctl_emit_fn emit, void *arg, char *err,
		    size_t errlen);
	int (*status)(void *ctx, struct ctl_status *out, char *err, size_t errlen);
	/* Sets the injected clock offset to ms (already in bounds) and says
	 * what it was. NULL: the node has no such fault (answered as an error). */
	int (*clock_offset)(void *ctx, int64_t ms, int64_t *previous, char *err, size_t errlen);
	/* Turns the leader's lease guard on or off (fault injection) and says
	 * whether it was on. NULL: answered as an error. */
	int (*lease_guard)(void *ctx, bool on, bool *was_on, char *err, size_t errlen);
	void *ctx;
};

struct ctl_server;

/* Creates the directory if needed, removes a stale socket, listens.
 * Returns NULL with err set (naming the path and the fix) on failure. */
struct ctl_server *ctl_server_open(const char *path, const struct ctl_handlers *h, char *err,
				   size_t errlen);

/* Serves what is waiting, without blocking; a client that sends nothing
 * within a short bound is dropped. Returns the requests served. */
int ctl_server_poll(struct ctl_server *s);

/* Waits up to timeout_ms for a client to connect (poll on the socket). */
void ctl_server_wait(struct ctl_server *s, int timeout_ms);

/* Runs each request line through fn instead of ctl_execute(handlers, ...):
 * fn returns the response length written into out (at most cap bytes). */
typedef size_t (*ctl_executor_fn)(void *ctx, const char *line, char *out, size_t cap);
void ctl_server_set_executor(struct ctl_server *s, ctl_executor_fn fn, void *ctx);

/* Stops listening and unlinks the socket. */
void ctl_server_close(struct ctl_server *s);

/*
 * Executes one request line against the handlers and writes the response
 * (status line + body) into out. Exposed for unit tests; the server uses it.
 * Returns the response length. An answer too long for cap is replaced by
 * an error saying so; when even that does not fit, it ends with "...\n".
 */
size_t ctl_execute(const struct ctl_handlers *h, const char *line, char *out, size_t cap);

/*
 * The error answer to a request line, in the format the line names (text
 * when it names none): "error <message>" and the body, as ctl_execute
 * answers a handler's failure. For an answer the node decides later (a
 * bidctl open whose log record turned out lost). Any thread. Returns the
 * response length.
 */
size_t ctl_execute_error(const char *line, const char *message, char *out, size_t cap);

#endif
