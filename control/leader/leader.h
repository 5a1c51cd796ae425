/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Leadership through etcd (docs/LEADERSHIP.md). A thread of its own
 * (`bp-leader`): grants a lease of --lease-ttl seconds, refreshes it every
 * TTL/3, and campaigns for /<cluster-name>/leader with this node's id as
 * the value. Once elected, the fencing token is the creation revision of
 * our election key (the campaign's LeaderKey rev): it only grows from one
 * leader to the next, unlike lease ids.
 *
 * The leader stops being leader on its own clock (CLOCK_BOOTTIME: it runs
 * on while the process is stopped or the host suspended) at
 *   start of the last successful grant or keepalive + TTL - LEADER_MARGIN_MS,
 * whether etcd answers or not: etcd's lease cannot have expired before
 * then (the request left before etcd refreshed it). A leadership lapsed
 * that way, a lease etcd no longer has, or another key leading the
 * election, drops the lease: a new lease and a new campaign, so a new
 * token. The settlement txn (leader_settle_txn) compares the token in
 * etcd: timing alone is not what makes settlement safe.
 *
 * The thread is never an RCU reader and may block on HTTP (each request
 * bounded by its timeouts). What it learns is published under a sequence
 * lock: leader_read from any thread never blocks and never sees a torn
 * view. leader_read computes `leader` at the time of the read, from the
 * published deadline, so a reader never trusts a leadership whose
 * deadline has passed even while the thread has not run (SIGSTOP).
 *
 * Fault injection (never in production): with the lease guard off
 * (leader_set_lease_guard, `bidctl lease-guard off`) a leader ignores its
 * own deadline, and etcd's word that its lease or key is gone, until etcd
 * refuses one of its settlement txns for the token: a zombie that does
 * not know it has been deposed, so that tests can show the token check
 * alone refuses its writes. The normal path reads the flag only once a
 * deadline has passed.
 *
 * Threads: leader_start / leader_stop on the main thread (once each);
 * leader_read and leader_set_lease_guard from any thread;
 * leader_settle_txn from one thread that may block (not the control
 * thread, not a worker).
 */
#ifndef BIDPLANE_LEADER_H
#define BIDPLANE_LEADER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd_client.h"

/*
 * Between the end of our leadership on our clock and the earliest end of
 * the lease in etcd: covers a clock rate difference (NTP slews at most
 * 500 ppm: 30 ms over a 60 s lease) and the time between a reader seeing
 * `leader` and acting on it (a preempted thread on a loaded host, hundreds
 * of ms). The settlement txn stays the guarantee beyond that.
 */
#define LEADER_MARGIN_MS 500
/* Connect and total timeouts of one request to one endpoint. */
#define LEADER_CONNECT_TIMEOUT_MS 250
/* The total: TTL/4 (a keepalive retried once still lands in the lease),
 * at most this. */
#define LEADER_TIMEOUT_MAX_MS 2000

enum leader_log_level { LEADER_LOG_ERR, LEADER_LOG_WARNING, LEADER_LOG_INFO };

/* A settlement record: CLUSTER.md's `settlement` object, and the JSON
 * value of /<cluster-name>/settled/<auction>. No bid: amount, bidder, hlc
 * and node_id 0. */
struct leader_record {
	uint64_t amount;
	uint64_t bidder;
	uint64_t hlc;
	uint16_t node_id; /* the node that accepted the winning bid */
	uint64_t fencing_token;
	uint64_t settled_at_ms;
};

enum leader_settle_outcome {
	LEADER_SETTLED,	      /* our txn wrote rec (its fencing_token: ours) */
	LEADER_ADOPTED,	      /* etcd had a settlement: rec is etcd's */
	LEADER_REFUSED_TOKEN, /* our token is no longer current: stepped down */
	LEADER_NOT_LEADER,    /* not leader by our own clock: nothing sent */
	LEADER_ETCD_DOWN,     /* etcd could not be asked: try again later */
};

/* A settlement handed to the leader thread and its answer. */
struct leader_settle_job {
	uint64_t auction;
	struct leader_record rec; /* in: the winner and settled_at_ms; out: what is settled */
	enum leader_settle_outcome outcome;
};

/* Jobs in flight at most (each queue). */
#define LEADER_SETTLE_QUEUE 1024
/* Single producer, single consumer. */
struct leader_settle_ring {
	_Atomic uint64_t head;
	_Atomic uint64_t tail;
	struct leader_settle_job job[LEADER_SETTLE_QUEUE];
};

struct leader_options {
	const char *etcd; /* --etcd */
	const char *cluster_name;
	unsigned int lease_ttl_s;
	uint16_t node_id;
	/* Called on the leader thread for what changes (elected, stepped
	 * down, etcd lost or back): a few lines, never one per request. */
	void (*log)(enum leader_log_level level, const char *line);
};

/* What leader_read gives. */
struct leader_view {
	bool leader;		     /* elected and within our own deadline */
	uint64_t token;		     /* the fencing token; 0 unless leader */
	bool reachable;		     /* the last request got an answer */
	uint64_t latency_us;	     /* of the last answered request */
	uint64_t lease_left_ms;	     /* to our deadline (0: no lease) */
	uint16_t leader_node_id;     /* the election's leader as etcd last said; 0: none/unknown */
	uint64_t requests;	     /* to etcd, by the leader thread and the settlement */
	uint64_t failures;	     /* of them */
	uint64_t changes;	     /* times this node became or stopped being leader */
	uint64_t lease_grants;	     /* leases this node took */
	uint64_t fencing_rejections; /* settlement txns refused for the token */
};

struct leader {
	struct leader_options opt;
	char election[ETCD_KEY_MAX]; /* /<cluster-name>/leader */
	char settled_prefix[ETCD_KEY_MAX];
	pthread_t thread;
	bool started;
	_Atomic bool stop;

	/* Published by the thread (sequence lock: odd while writing). */
	_Atomic uint64_t seq;
	_Atomic bool pub_elected;
	_Atomic uint64_t pub_token;
	_Atomic uint64_t pub_deadline_ms; /* CLOCK_BOOTTIME ms; 0: no lease */
	_Atomic bool pub_reachable;
	_Atomic uint64_t pub_latency_us;
	_Atomic uint64_t pub_leader_node_id;
	_Atomic uint64_t changes;
	_Atomic uint64_t lease_grants;
	_Atomic uint64_t fencing_rejections;
	/* Fault injection: the lease guard is off (leader_set_lease_guard). */
	_Atomic bool lease_guard_off;

	struct etcd_client client; /* the thread's */
	/* The settlement's (leader_settle_txn): its own handle, held by one
	 * settlement at a time. */
	pthread_mutex_t settle_lock;
	struct etcd_client settle_client;
	/* The key we were elected with, written by the thread, read by the
	 * settlement: a lock of its own, never held across a request, so a
	 * slow settlement never delays a keepalive. */
	pthread_mutex_t key_lock;
	char election_key[ETCD_KEY_MAX];
	uint64_t election_token; /* its creation revision, set with it */

	/* Fenced settlement: jobs from the control thread to this thread,
	 * answers back (leader_settle_submit / leader_settle_answer). */
	struct leader_settle_ring jobs;
	struct leader_settle_ring answers;
};

/* The thread's clock: CLOCK_BOOTTIME in ms. */
uint64_t leader_clock_ms(void);

/* Starts the thread. 0, or -errno with err naming the problem. */
int leader_start(struct leader *l, const struct leader_options *opt, char *err, size_t errlen);
/* Stops the thread (within one request's timeouts) and, if it can, revokes
 * our lease so that another node is elected at once. */
void leader_stop(struct leader *l);

void leader_read(struct leader *l, struct leader_view *v);

/* Fault injection only (tests, chaos): on false, the leader believes it
 * leads until a settlement txn is refused for its token (see above); on
 * true, the normal guard again. Returns whether the guard was on. Any
 * thread. */
bool leader_set_lease_guard(struct leader *l, bool on);
/* Whether the guard is off. Any thread. */
bool leader_lease_guard_off(const struct leader *l);

/*
 * The next step's settlement: writes `record` at
 * /<cluster-name>/settled/<auction> in one txn that succeeds only if our
 * election key still has the creation revision of our token and no
 * settlement exists. Returns 1 when written, 0 when refused (not leader by
 * our own clock, the token no longer current: counted in
 * fencing_rejections; or a settlement exists: *existing true), -errno with
 * err when etcd could not be asked.
 */
int leader_settle_txn(struct leader *l, uint64_t auction, const void *record, size_t len,
		      bool *existing, char *err, size_t errlen);

/*
 * Fenced settlement through the leader thread (it may block on HTTP, the
 * control thread may not). Submit: the thread fills in our token, writes
 * the record with leader_settle_txn and answers: SETTLED, ADOPTED (etcd's
 * record read back), REFUSED_TOKEN (counted in fencing_rejections; the
 * thread gives its lease up: it steps down), NOT_LEADER or ETCD_DOWN.
 * Control thread only (one producer of jobs, one consumer of answers).
 * submit: 0, or -ENOSPC when LEADER_SETTLE_QUEUE jobs wait (try later).
 * answer: true when one was taken.
 */
int leader_settle_submit(struct leader *l, const struct leader_settle_job *job);
bool leader_settle_answer(struct leader *l, struct leader_settle_job *out);

/* The record as JSON (its etcd value), and back: 0, or -EINVAL when it is
 * no record (a field missing or out of range). Any thread. */
int leader_record_format(const struct leader_record *r, char *buf, size_t cap);
int leader_record_parse(const char *json, size_t len, struct leader_record *out);

#endif
